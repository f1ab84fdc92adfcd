"""The deployable template: `chalice package --stage dev` merged with infra/resources.yaml (built once per
module by infra.build), checked by cfn-lint and checkov and against the app's own contracts: Chalice's
role policy survives the merge, the environment names the created resources, the policy is least
privilege and covers what the code calls, the table is chalicelib.schema's, storage is private and
encrypted, alarms watch every function, and the Lambda package stays within its budget.

cfn-lint/checkov come from .venv-tools (`bash infra/tools.sh`); without them these checks are skipped
locally and fail in CI (CI set)."""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore import xform_name

from chalicelib.adapters.dynamodb import schema
from chalicelib.providers import registry
from infra import build, check

pytestmark = pytest.mark.slow

STAGE = "dev"
ROOT = build.ROOT

# Resource type each service's actions may target, and the env var naming that resource.
SERVICE_RESOURCE_TYPES = {
    "dynamodb": "AWS::DynamoDB::Table",
    "s3": "AWS::S3::Bucket",
    "sns": "AWS::SNS::Topic",
    "events": "AWS::Events::EventBus",
    "secretsmanager": "AWS::SecretsManager::Secret",
    "kms": "AWS::KMS::Key",
    "logs": "AWS::Logs::LogGroup",
}
ENV_RESOURCE_TYPES = {
    "CERTGATE_TABLE": "AWS::DynamoDB::Table",
    "CERTGATE_BUCKET": "AWS::S3::Bucket",
    "CERTGATE_TOPIC_ARN": "AWS::SNS::Topic",
    "CERTGATE_EVENT_BUS": "AWS::Events::EventBus",
    "CERTGATE_KMS_KEY_ID": "AWS::KMS::Key",
    **{f"CERTGATE_SECRET_{p.upper()}": "AWS::SecretsManager::Secret" for p in registry.names()},
}
# Actions IAM cannot scope to a resource: the only ones allowed on "*".
NO_RESOURCE_LEVEL = {"xray:PutTraceSegments", "xray:PutTelemetryRecords", "acm:ListCertificates"}
# What the Lambda platform itself needs (logs to the function log group, X-Ray segments), not the code.
PLATFORM_ACTIONS = {"logs:CreateLogStream", "logs:PutLogEvents"} | NO_RESOURCE_LEVEL
# Where the code's AWS operations are found, and names there that are not AWS calls.
AWS_SERVICES = ("dynamodb", "s3", "sns", "events", "secretsmanager", "kms", "acm", "route53")
# Resources the code creates at run time, not the template: the ARN pattern a statement may name instead.
RUNTIME_RESOURCES = {"acm": {"Fn::Sub": "arn:${AWS::Partition}:acm:*:${AWS::AccountId}:certificate/*"}}
# Route 53 (service/dns_validation.py): the hosted zones of the DnsZoneIds parameter, one ARN each, and
# the changes certgate made in them (GetChange has no other resource).
ZONE_ARNS = {"Fn::Split": [",", {"Fn::Sub": ["arn:${AWS::Partition}:route53:::hostedzone/${Zones}", {
    "Zones": {"Fn::Join": [",arn:aws:route53:::hostedzone/", {"Ref": "DnsZoneIds"}]}}]}]}
CHANGE_ARNS = [{"Fn::Sub": "arn:${AWS::Partition}:route53:::change/*"}]
NOT_AWS_CALLS = {
    "encrypt": "AESGCM.encrypt in chalicelib/keys.py (KMS only wraps the data key)",
    "sign": "private-key signing in chalicelib/csr.py",
    "list_certificates": "Provider.list_certificates (a provider's listing for imports); ACM's is counted "
                         "from adapters/acm.py below",
    "list_imports": "CertificateStore/inventory.list_imports (GET /imports: certgate's import jobs), not DynamoDB's",
}
# IAM actions an API operation needs when they differ from service:OperationName.
OPERATION_ACTIONS = {
    "s3:HeadBucket": {"s3:ListBucket"},
    # A transaction is authorised per item: the store writes Put, Update, Delete and ConditionCheck items.
    "dynamodb:TransactWriteItems": {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
                                    "dynamodb:ConditionCheckItem"},
}


# -- fixtures and helpers ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> build.Package:
    return build.package(STAGE, tmp_path_factory.mktemp("package") / STAGE)


@pytest.fixture(scope="module")
def resources(packaged: build.Package) -> dict[str, Any]:
    return packaged.template["Resources"]


@pytest.fixture(scope="module")
def packaged_prod(tmp_path_factory: pytest.TempPathFactory) -> build.Package:
    # Built too because stages differ (pinned Stage, policy file, config): linted, not re-checked in depth.
    return build.package("prod", tmp_path_factory.mktemp("package") / "prod")


def require_tools() -> None:
    missing = check.missing_tools()
    if missing:
        message = f"{', '.join(missing)} not installed: run `bash infra/tools.sh` (make tools)"
        if os.environ.get("CI"):
            pytest.fail(message + " — CI must run the template checks")
        pytest.skip(message)


def of_type(resources: dict[str, Any], type_: str) -> dict[str, Any]:
    return {name: res for name, res in resources.items() if res.get("Type") == type_}


def referenced(value: Any) -> str | None:
    """The resource a Ref/GetAtt/Fn::Sub (of one ${Name} or ${Name.Attr}) points at, else None."""
    if not isinstance(value, dict) or len(value) != 1:
        return None
    (fn, arg), = value.items()
    if fn == "Ref" and isinstance(arg, str):
        return arg
    if fn == "Fn::GetAtt" and isinstance(arg, list):
        return str(arg[0])
    if fn == "Fn::Sub" and isinstance(arg, str):
        names = {m.split(".")[0] for m in re.findall(r"\$\{([^}!]+)\}", arg) if not m.startswith("AWS::")}
        return names.pop() if len(names) == 1 else None
    return None


def resolve_sub(value: Any, stage: str) -> Any:
    """A Fn::Sub whose only variable is ${Stage}, resolved; anything else unchanged."""
    if isinstance(value, dict) and set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str):
        return value["Fn::Sub"].replace("${Stage}", stage)
    return value


def sam_merge(global_value: Any, local_value: Any) -> Any:
    """SAM's Globals rule: maps merge recursively and the function's own value wins."""
    if isinstance(global_value, dict) and isinstance(local_value, dict):
        merged = dict(global_value)
        for key, value in local_value.items():
            merged[key] = sam_merge(global_value[key], value) if key in global_value else value
        return merged
    return local_value


def effective_function(template: dict[str, Any], name: str) -> dict[str, Any]:
    props = template["Resources"][name]["Properties"]
    return sam_merge(template.get("Globals", {}).get("Function", {}), props)


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from as_list(document["Statement"])


# -- the tools ------------------------------------------------------------------------------------------
def test_cfn_lint_passes(packaged: build.Package) -> None:
    require_tools()
    result = check.run_cfn_lint(packaged.template_path)
    assert result.ok, result.output


def test_cfn_lint_passes_for_prod(packaged_prod: build.Package) -> None:
    require_tools()
    assert packaged_prod.template["Parameters"]["Stage"]["AllowedValues"] == ["prod"]
    assert build.role_problems(packaged_prod.template, "prod") == []
    result = check.run_cfn_lint(packaged_prod.template_path)
    assert result.ok, result.output


def test_checkov_passes(packaged: build.Package) -> None:
    require_tools()
    result = check.run_checkov(packaged.template_path)
    assert result.ok, result.output


def test_every_iam_action_exists(packaged: build.Package) -> None:
    require_tools()
    result = check.run_iam_actions(packaged.template)
    assert result.ok, result.output


def test_iam_action_check_catches_a_misspelt_action(packaged: build.Package) -> None:
    require_tools()
    broken = copy.deepcopy(packaged.template)
    role = next(iter(of_type(broken["Resources"], "AWS::IAM::Role").values()))
    role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"][0]["Action"] = ["dynamodb:GetItm"]
    result = check.run_iam_actions(broken)
    assert not result.ok and "dynamodb:GetItm" in result.output


# -- the merge keeps Chalice's roles --------------------------------------------------------------------
def test_every_function_keeps_chalice_role_and_policy(packaged: build.Package, resources: dict[str, Any]) -> None:
    functions = of_type(resources, "AWS::Serverless::Function")
    assert {"APIHandler", "PollPending", "Reconcile", "RenewExpiring", "SyncInventory"} <= set(functions)
    assert build.role_problems(packaged.template, STAGE) == []
    for role in of_type(resources, "AWS::IAM::Role").values():
        assert role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"], "an empty policy"


def test_role_check_catches_a_clobbered_policy_list(packaged: build.Package) -> None:
    broken = copy.deepcopy(packaged.template)
    role = next(iter(of_type(broken["Resources"], "AWS::IAM::Role").values()))
    role["Properties"]["Policies"] = [{"PolicyName": "Other", "PolicyDocument": {"Statement": []}}]
    assert build.role_problems(broken, STAGE)


def test_stage_parameter_is_pinned(packaged: build.Package) -> None:
    param = packaged.template["Parameters"]["Stage"]
    assert param["AllowedValues"] == [STAGE] and param["Default"] == STAGE
    with pytest.raises(build.BuildError):
        build.merge_template("staging")


# -- environment ----------------------------------------------------------------------------------------
def test_environment_names_the_created_resources(packaged: build.Package, resources: dict[str, Any]) -> None:
    for name in of_type(resources, "AWS::Serverless::Function"):
        env = effective_function(packaged.template, name)["Environment"]["Variables"]
        assert env["CERTGATE_STAGE"] == STAGE
        for var, type_ in ENV_RESOURCE_TYPES.items():
            target = referenced(env.get(var))
            assert target is not None, f"{name}: {var}={env.get(var)!r} does not reference a resource"
            assert resources[target]["Type"] == type_, f"{name}: {var} points at {target}"
    for provider in registry.names():
        env = effective_function(packaged.template, "APIHandler")["Environment"]["Variables"]
        secret = resources[referenced(env[f"CERTGATE_SECRET_{provider.upper()}"])]
        # The naming convention of design.md section 7, in every stage.
        assert resolve_sub(secret["Properties"]["Name"], STAGE) == f"certgate/{STAGE}/{provider}"
        assert secret["Properties"]["SecretString"] == "{}", "a placeholder only: credentials never in templates"


def test_functions_encrypt_environment_and_log_to_the_stage_group(packaged: build.Package,
                                                                  resources: dict[str, Any]) -> None:
    for name in of_type(resources, "AWS::Serverless::Function"):
        fn = effective_function(packaged.template, name)
        assert resources[referenced(fn["KmsKeyArn"])]["Type"] == "AWS::KMS::Key"
        group = resources[referenced(fn["LoggingConfig"]["LogGroup"])]
        assert group["Type"] == "AWS::Logs::LogGroup"
        assert group["Properties"]["RetentionInDays"] and group["Properties"]["KmsKeyId"]
        assert fn["Tracing"] == "Active"


def test_memory_sizes_are_the_measured_choice(packaged: build.Package, resources: dict[str, Any]) -> None:
    """bench/lambda_memory.py: at 128 MB (the default) the slowest RSA-4096 key generation takes
    ~31 s, past API Gateway's 29 s; 512 MB keeps it under a third of that. The scheduled jobs
    (300 s timeout, mostly waiting on providers) take 256 MB."""
    sizes = {name: effective_function(packaged.template, name).get("MemorySize")
             for name in of_type(resources, "AWS::Serverless::Function")}
    assert sizes["APIHandler"] == 512, sizes
    jobs = {n: s for n, s in sizes.items() if n != "APIHandler" and n.lower().replace("_", "") in
            {"pollpending", "reconcile", "renewexpiring", "syncinventory"}}
    assert set(jobs.values()) == {256} and len(jobs) == 4, sizes


# -- IAM: least privilege, and enough for what the code calls ----------------------------------------
def policy_for(stage: str) -> dict[str, Any]:
    return build.policy_document(stage)


@pytest.mark.parametrize("stage", build.STAGES)
def test_policy_is_least_privilege(stage: str, resources: dict[str, Any]) -> None:
    for st in statements(policy_for(stage)):
        assert st["Effect"] == "Allow" and "NotAction" not in st and "NotResource" not in st
        actions = as_list(st["Action"])
        assert all("*" not in a for a in actions), f"wildcard action in {st.get('Sid')}"
        targets = as_list(st["Resource"])
        if "*" in targets:
            assert set(actions) <= NO_RESOURCE_LEVEL, f"{st.get('Sid')}: '*' for scopable actions {actions}"
            continue
        services = {a.split(":")[0] for a in actions}
        assert len(services) == 1, f"{st.get('Sid')} mixes services {services}"
        service = services.pop()
        if service in RUNTIME_RESOURCES:  # ACM certificates imported by service/delivery.py
            assert targets == [RUNTIME_RESOURCES[service]], st
            continue
        if service == "route53":
            assert (st["Resource"] == ZONE_ARNS) != (targets == CHANGE_ARNS), st
            if "route53:ChangeResourceRecordSets" in actions:
                # Validation records only: TXT _dnsauth.* or a CNAME named by DigiCert's 32-character
                # random value, created/replaced or deleted, never other names or record types.
                assert actions == ["route53:ChangeResourceRecordSets"], st
                equal, like = st["Condition"]["ForAllValues:StringEquals"], st["Condition"]["ForAllValues:StringLike"]
                assert equal["route53:ChangeResourceRecordSetsActions"] == ["UPSERT", "DELETE"], st
                assert (equal["route53:ChangeResourceRecordSetsRecordTypes"],
                        like["route53:ChangeResourceRecordSetsNormalizedRecordNames"]) in (
                    (["TXT"], ["_dnsauth.*"]), (["CNAME"], ["?" * 32 + ".*"])), st
            continue
        for target in targets:
            name = referenced(target)
            assert name in resources, f"{st.get('Sid')}: {target!r} is not one of this template's resources"
            assert resources[name]["Type"] == SERVICE_RESOURCE_TYPES[service], f"{st.get('Sid')}: {name}"
        if service == "s3" and {"s3:GetObject", "s3:PutObject"} & set(actions):
            # Objects only under the artifacts prefix of design.md section 5.
            assert all(t["Fn::Sub"].endswith("/certificates/*") for t in targets), st


def granted_actions(stage: str) -> set[str]:
    return {a for st in statements(policy_for(stage)) for a in as_list(st["Action"])}


def code_actions() -> set[str]:
    """IAM actions the code under chalicelib/ needs: AWS operation names called there (as methods or as
    names passed to a client helper), plus what happens implicitly (Powertools reads secrets; S3 and
    SNS encrypt with the stage's KMS key)."""
    session = botocore.session.get_session()
    operations: dict[str, set[str]] = {}
    for service in AWS_SERVICES:
        for op in session.get_service_model(service).operation_names:
            operations.setdefault(xform_name(op), set()).add(f"{service}:{op}")
    source = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "chalicelib").rglob("*.py"))
    called = set(re.findall(r"\.(\w+)\(", source)) | set(re.findall(r"[\"'](\w+)[\"']", source))
    needed: set[str] = set()
    for name in sorted(called & set(operations) - set(NOT_AWS_CALLS)):
        for action in operations[name]:
            needed |= OPERATION_ACTIONS.get(action, {action})
    if "SecretsProvider" in source:
        needed.add("secretsmanager:GetSecretValue")
    if '"list_certificates"' in (ROOT / "chalicelib" / "adapters" / "acm.py").read_text(encoding="utf-8"):
        needed.add("acm:ListCertificates")  # the orphan-ARN lookup (service/delivery.py)
    needed |= {"kms:GenerateDataKey", "kms:Decrypt"}  # SSE-KMS writes/reads and the KMS-encrypted topic
    return needed


@pytest.mark.parametrize("stage", build.STAGES)
def test_policy_grants_what_the_code_calls_and_no_more(stage: str) -> None:
    needed, granted = code_actions(), granted_actions(stage)
    assert needed - granted == set(), "the code calls AWS operations the role may not"
    assert granted - needed - PLATFORM_ACTIONS == set(), "the role may do what no code calls"


# -- storage --------------------------------------------------------------------------------------------
def test_table_matches_chalicelib_schema(resources: dict[str, Any]) -> None:
    (name, table), = of_type(resources, "AWS::DynamoDB::Table").items()
    props = table["Properties"]
    want = schema.table_definition(f"certgate-{STAGE}")
    assert resolve_sub(props["TableName"], STAGE) == want["TableName"]
    assert props["BillingMode"] == want["BillingMode"]
    assert props["KeySchema"] == want["KeySchema"]
    assert sorted(props["AttributeDefinitions"], key=str) == sorted(want["AttributeDefinitions"], key=str)
    by_name = {g["IndexName"]: g for g in props["GlobalSecondaryIndexes"]}
    assert by_name == {g["IndexName"]: g for g in want["GlobalSecondaryIndexes"]}
    assert props["TimeToLiveSpecification"] == {"AttributeName": schema.TTL_ATTRIBUTE, "Enabled": True}
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    sse = props["SSESpecification"]
    assert sse["SSEEnabled"] is True and resources[referenced(sse["KMSMasterKeyId"])]["Type"] == "AWS::KMS::Key"
    assert table["DeletionPolicy"] == "Retain" and table["UpdateReplacePolicy"] == "Retain"


def test_bucket_is_private_versioned_and_kms_encrypted(resources: dict[str, Any]) -> None:
    (name, bucket), = of_type(resources, "AWS::S3::Bucket").items()
    props = bucket["Properties"]
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True, "RestrictPublicBuckets": True}
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    default = rule["ServerSideEncryptionByDefault"]
    assert default["SSEAlgorithm"] == "aws:kms"
    assert resources[referenced(default["KMSMasterKeyID"])]["Type"] == "AWS::KMS::Key"
    policies = [p for p in of_type(resources, "AWS::S3::BucketPolicy").values()
                if referenced(p["Properties"]["Bucket"]) == name]
    denies_plain_http = [st for p in policies for st in statements(p["Properties"]["PolicyDocument"])
                         if st["Effect"] == "Deny" and "aws:SecureTransport" in json.dumps(st.get("Condition"))]
    assert denies_plain_http, "the bucket must refuse requests without TLS"


def test_topics_and_key(resources: dict[str, Any]) -> None:
    topics = of_type(resources, "AWS::SNS::Topic")
    assert topics
    for name, topic in topics.items():
        assert resources[referenced(topic["Properties"]["KmsMasterKeyId"])]["Type"] == "AWS::KMS::Key", name
    (key,) = of_type(resources, "AWS::KMS::Key").values()
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["DeletionPolicy"] == "Retain", "deleting the key would make every sealed private key unreadable"


# -- observability --------------------------------------------------------------------------------------
def test_function_errors_alarm_watches_every_function(resources: dict[str, Any]) -> None:
    alarm = resources["FunctionErrorsAlarm"]["Properties"]
    watched = {referenced(d["Value"]) for m in alarm["Metrics"] if "MetricStat" in m
               for d in m["MetricStat"]["Metric"]["Dimensions"]}
    assert watched == set(of_type(resources, "AWS::Serverless::Function"))
    ids = {m["Id"] for m in alarm["Metrics"] if "MetricStat" in m}
    (expression,) = [m["Expression"] for m in alarm["Metrics"] if m.get("ReturnData")]
    assert set(re.findall(r"\w+", expression)) - {"SUM"} == ids


def test_api_alarm_watches_the_deployed_api(resources: dict[str, Any]) -> None:
    config = json.loads((ROOT / ".chalice" / "config.json").read_text(encoding="utf-8"))
    alarm = resources["ApiServerErrorsAlarm"]["Properties"]
    dims = {d["Name"]: d["Value"] for d in alarm["Dimensions"]}
    assert dims["ApiName"] == resources["RestAPI"]["Properties"]["Name"]
    assert dims["Stage"] == config["api_gateway_stage"]
    assert alarm["MetricName"] == "5XXError"


def test_alarms_notify_the_alarm_topic(resources: dict[str, Any]) -> None:
    alarms = of_type(resources, "AWS::CloudWatch::Alarm")
    assert len(alarms) >= 2
    for name, alarm in alarms.items():
        targets = {referenced(a) for a in alarm["Properties"]["AlarmActions"]}
        assert targets == {"AlarmTopic"}, name


# -- the API and the package ----------------------------------------------------------------------------
def route_operations() -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """(path, method) of the routes the blueprints declare, and of the 404/405 fallbacks
    chalicelib.http.fallbacks adds."""
    from app import app as chalice_app
    from chalicelib.http import fallbacks as fallback_routes

    declared: set[tuple[str, str]] = set()
    fallbacks: set[tuple[str, str]] = set()
    for path, methods in chalice_app.routes.items():
        for method, entry in methods.items():
            is_fallback = getattr(entry.view_function, "__module__", None) == fallback_routes.__name__
            (fallbacks if is_fallback else declared).add((path, method.lower()))
    return declared, fallbacks


def unsigned_operations(resources: dict[str, Any]) -> set[tuple[str, str]]:
    """(path, method) operations of the deployed API definition that do not require SigV4."""
    swagger = resources["RestAPI"]["Properties"]["DefinitionBody"]
    assert swagger["securityDefinitions"]["sigv4"]["x-amazon-apigateway-authtype"] == "awsSigv4"
    return {(path, method) for path, ops in swagger["paths"].items() for method, op in ops.items()
            if isinstance(op, dict) and {"sigv4": []} not in op.get("security", [])}


def test_every_declared_route_but_health_requires_iam_auth(resources: dict[str, Any]) -> None:
    declared, _ = route_operations()
    assert ("/certificates", "post") in declared
    assert unsigned_operations(resources) & declared == {("/health", "get")}


def test_fallback_routes_require_iam_auth(resources: dict[str, Any]) -> None:
    # Otherwise anyone on the internet invokes the Lambda (and learns which paths exist) unsigned.
    _, fallbacks = route_operations()
    assert fallbacks
    assert unsigned_operations(resources) & fallbacks == set()


def test_deployment_package_is_within_budget(packaged: build.Package) -> None:
    size = packaged.zip_bytes
    assert 0 < size < build.MAX_ZIP_BYTES, f"deployment.zip is {size / 1e6:.1f} MB"


def test_package_does_not_vendor_what_lambda_provides(packaged: build.Package) -> None:
    import zipfile

    with zipfile.ZipFile(packaged.zip_path) as zf:
        top = {Path(n).parts[0] for n in zf.namelist()}
    assert {"app.py", "chalicelib"} <= top
    assert not top & {"boto3", "botocore", "pip", "setuptools"}, "vendored packages the runtime provides"


def test_strip_runtime_provided_keeps_everything_else(tmp_path: Path) -> None:
    import stat
    import zipfile

    zip_path = tmp_path / "deployment.zip"
    members = {"app.py": b"app", "chalicelib/api.py": b"api", "botocore/__init__.py": b"b",
               "botocore-1.40.0.dist-info/METADATA": b"m", "boto3/session.py": b"s",
               "s3transfer-0.14.0.dist-info/RECORD": b"r", "botocore_extras/x.py": b"kept: another package",
               "jmespath-1.1.0.data/x": b"j"}
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFREG | 0o755) << 16
            zf.writestr(info, data)
    assert build.strip_runtime_provided(zip_path) == {"boto3", "botocore", "s3transfer"}
    with zipfile.ZipFile(zip_path) as zf:
        kept = {i.filename: (zf.read(i), i.external_attr >> 16) for i in zf.infolist()}
    assert set(kept) == {"app.py", "chalicelib/api.py", "botocore_extras/x.py", "jmespath-1.1.0.data/x"}
    assert kept["app.py"] == (b"app", stat.S_IFREG | 0o755)
