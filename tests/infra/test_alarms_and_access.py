"""The packaged template's alarms, dashboard and API resource policy (issue 19 items 4 and 5), held
against the code: every alarm and dashboard metric is one chalicelib/observability.py METRICS
lists, with exactly the dimensions the code gives it (a CloudWatch metric is its name and its whole
dimension set: one dimension off and an alarm watches nothing, silently), and each is emitted by a
count() call in chalicelib/; the policy lets other accounts in only when a parameter says so."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from chalicelib import observability
from chalicelib.providers import registry
from chalicelib.service import fleet
from infra import build
from tests.infra.test_template import STAGE, of_type, referenced, statements
from tests.metric_calls import emitted_names

pytestmark = pytest.mark.slow

CONFIG = json.loads((build.CHALICE_DIR / "config.json").read_text(encoding="utf-8"))
STAGE_ENV = CONFIG["stages"][STAGE]["environment_variables"]
NAMESPACE = STAGE_ENV["POWERTOOLS_METRICS_NAMESPACE"]
SERVICE = STAGE_ENV["POWERTOOLS_SERVICE_NAME"]
# The issue's alarms, by the metric each watches: a certificate within 7 days of expiry without a
# successor, a backlog older than one sweep interval, the outbox older than 15 minutes, provider
# errors above a threshold; and DCV automation failures.
ISSUE_ALARMED = {"ExpiringWithoutSuccessor", "SweepBacklogAge", "OutboxAge", "ProviderFailures",
                 "DcvAutomationFailures"}
# The issue's metrics, all on the dashboard.
ISSUE_METRICS = ISSUE_ALARMED | {"FleetMinDaysToExpiry", "RenewalWindowNotRenewing", "SweepBacklog",
                                 "ProviderErrors", "ProviderThrottles"}
# The sweeps that report a backlog (service/sweeps.py run_sweep, backlog_peek > 0).
BACKLOG_SWEEPS = {"poll_pending", "renew_expiring"}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return build.package(STAGE, tmp_path_factory.mktemp("package") / STAGE).template


@pytest.fixture(scope="module")
def resources(template: dict[str, Any]) -> dict[str, Any]:
    return template["Resources"]


def watched(alarm: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(namespace, metric, dimensions) of each metric an alarm watches: its own, or those of its
    metric math."""
    if "MetricName" in alarm:
        return [(alarm["Namespace"], alarm["MetricName"], {d["Name"]: d["Value"] for d in alarm["Dimensions"]})]
    return [(m["MetricStat"]["Metric"]["Namespace"], m["MetricStat"]["Metric"]["MetricName"],
             {d["Name"]: d["Value"] for d in m["MetricStat"]["Metric"]["Dimensions"]})
            for m in alarm["Metrics"] if "MetricStat" in m]


def certgate_alarms(resources: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: a["Properties"] for name, a in of_type(resources, "AWS::CloudWatch::Alarm").items()
            if any(ns == NAMESPACE for ns, _, _ in watched(a["Properties"]))}


def metric_of(alarm: dict[str, Any]) -> str:
    (name,) = {m for _, m, _ in watched(alarm)}
    return name


def dimensions(alarm: dict[str, Any]) -> dict[str, Any]:
    (dims,) = [d for _, _, d in watched(alarm)]
    return dims


def expected_dimensions(metric: str) -> set[str]:
    return {observability.STAGE_DIMENSION, observability.SERVICE_DIMENSION,
            *observability.METRICS[metric].dimensions}


# -- alarms ---------------------------------------------------------------------------------------------
def test_every_certgate_alarm_watches_a_catalogued_metric_with_its_exact_dimensions(resources: dict[str, Any]) -> None:
    alarms = certgate_alarms(resources)
    assert len(alarms) >= 8
    for name, alarm in alarms.items():
        for namespace, metric, dims in watched(alarm):
            assert namespace == NAMESPACE, name
            assert metric in observability.METRICS, f"{name}: {metric} is not a metric certgate emits"
            assert set(dims) == expected_dimensions(metric), name
            assert dims["stage"] == {"Ref": "Stage"} and dims["service"] == SERVICE, name
        assert {referenced(a) for a in alarm["AlarmActions"]} == {"AlarmTopic"}, name


def test_a_metric_math_alarm_adds_up_every_metric_it_reads(resources: dict[str, Any]) -> None:
    for name, alarm in certgate_alarms(resources).items():
        if "Metrics" not in alarm:
            continue
        ids = {m["Id"] for m in alarm["Metrics"] if "MetricStat" in m}
        (expression,) = [m["Expression"] for m in alarm["Metrics"] if m.get("ReturnData")]
        assert set(re.findall(r"\w+", expression)) - {"SUM"} == ids, name


def test_every_alarmed_metric_is_emitted_by_the_code(resources: dict[str, Any]) -> None:
    emitted = emitted_names()
    for name, alarm in certgate_alarms(resources).items():
        assert {m for _, m, _ in watched(alarm)} <= emitted, name


def test_the_issues_alarms_and_metrics_exist_and_the_code_emits_them(resources: dict[str, Any]) -> None:
    alarmed = {m for a in certgate_alarms(resources).values() for _, m, _ in watched(a)}
    assert ISSUE_ALARMED <= alarmed
    assert ISSUE_METRICS <= set(observability.METRICS)
    assert ISSUE_METRICS - emitted_names() == set(), "an issue metric no code emits"


def test_per_provider_alarms_cover_every_provider(template: dict[str, Any], resources: dict[str, Any]) -> None:
    alarms = certgate_alarms(resources).values()
    failures = [a for a in alarms if "MetricName" in a and a["MetricName"] == "ProviderFailures"]
    assert sorted(dimensions(a)["provider"] for a in failures) == sorted(registry.names())
    assert all(a["Threshold"] == {"Ref": "ProviderErrorThreshold"} for a in failures)
    param = template["Parameters"]["ProviderErrorThreshold"]
    assert param["Type"] == "Number" and param["Default"] >= 1
    (dcv,) = [a for a in alarms if {m for _, m, _ in watched(a)} == {"DcvAutomationFailures"}]
    assert sorted(d["provider"] for _, _, d in watched(dcv)) == sorted(registry.names())


def schedule_seconds(resources: dict[str, Any]) -> dict[str, int]:
    """The schedule of each job (app.py's @app.schedule, as packaged): job name -> interval (s)."""
    units = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600}
    out = {}
    for fn in of_type(resources, "AWS::Serverless::Function").values():
        for event in fn["Properties"].get("Events", {}).values():
            m = re.fullmatch(r"rate\((\d+) (\w+)\)", event["Properties"]["Schedule"])
            assert m, event
            out[fn["Properties"]["Handler"].split(".")[-1]] = int(m[1]) * units[m[2]]
    return out


def test_a_backlog_alarm_per_sweep_at_one_interval_of_its_schedule(resources: dict[str, Any]) -> None:
    intervals = schedule_seconds(resources)
    alarms = [a for a in certgate_alarms(resources).values() if a.get("MetricName") == "SweepBacklogAge"]
    assert {dimensions(a)["job"] for a in alarms} == BACKLOG_SWEEPS
    for alarm in alarms:
        assert alarm["Threshold"] == intervals[dimensions(alarm)["job"]], alarm["AlarmName"]
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold" and alarm["Statistic"] == "Maximum"


def test_the_outbox_and_expiry_alarms(resources: dict[str, Any]) -> None:
    by_metric = {a["MetricName"]: a for a in certgate_alarms(resources).values() if "MetricName" in a}
    outbox = by_metric["OutboxAge"]
    assert outbox["Threshold"] == 15 * 60 and outbox["ComparisonOperator"] == "GreaterThanThreshold"
    expiring = by_metric["ExpiringWithoutSuccessor"]
    assert expiring["Threshold"] == 1 and expiring["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert fleet.ALARM_DAYS == 7  # the metric counts certificates within 7 days of expiry
    # Measured once per renew_expiring run (15 minutes): the alarm's period holds a run.
    assert expiring["Period"] >= schedule_seconds(resources)["renew_expiring"]


# -- the dashboard --------------------------------------------------------------------------------------
def dashboard(template: dict[str, Any]) -> tuple[dict[str, Any], set[str]]:
    """The dashboard body with its ${...} substituted, and the names it substitutes."""
    body = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    names = set(re.findall(r"\$\{([^}]+)\}", body))
    values = {"Stage": STAGE, "AWS::Region": "us-east-1", "ProviderErrorThreshold": "10"}
    text = re.sub(r"\$\{([^}]+)\}", lambda m: values.get(m[1], f"arn:{m[1]}"), body)
    return json.loads(text), names


def test_the_dashboard_is_valid_json_whose_substitutions_exist(template: dict[str, Any]) -> None:
    _, names = dashboard(template)
    for name in names:
        base = name.split(".")[0]
        assert base.startswith("AWS::") or base in template["Resources"] or base in template["Parameters"], name


def test_the_dashboard_shows_the_issues_metrics_as_the_code_emits_them(template: dict[str, Any]) -> None:
    body, _ = dashboard(template)
    shown: set[str] = set()
    for widget in body["widgets"]:
        for line in widget["properties"].get("metrics", []):
            if isinstance(line[0], dict) and "SEARCH(" not in line[0]["expression"]:
                # Metric math over the widget's other lines: every id it names is one of them.
                ids = {x["id"] for ln in widget["properties"]["metrics"] for x in ln if isinstance(x, dict)}
                assert set(re.findall(r"\b[a-z]\w*\b", line[0]["expression"])) - {"FILL"} <= ids, line
                continue
            if isinstance(line[0], dict):  # a SEARCH expression: its schema must be the metric's dimensions
                m = re.search(r"\{([^}]+)\} MetricName=\\?\"(\w+)\\?\"", line[0]["expression"])
                assert m, line
                namespace, *dims = m[1].split(",")
                assert namespace == NAMESPACE and set(dims) == expected_dimensions(m[2]), line
                shown.add(m[2])
                continue
            namespace, metric, *rest = line
            pairs = [x for x in rest if not isinstance(x, dict)]
            dims = dict(zip(pairs[::2], pairs[1::2], strict=True))
            assert namespace == NAMESPACE and metric in observability.METRICS, line
            assert set(dims) == expected_dimensions(metric), line
            assert dims["stage"] == STAGE and dims["service"] == SERVICE, line
            shown.add(metric)
    assert ISSUE_METRICS <= shown


def test_the_dashboard_lists_every_alarm(template: dict[str, Any], resources: dict[str, Any]) -> None:
    body, _ = dashboard(template)
    (widget,) = [w for w in body["widgets"] if w["type"] == "alarm"]
    listed = {a.removeprefix("arn:").removesuffix(".Arn") for a in widget["properties"]["alarms"]}
    assert listed == set(of_type(resources, "AWS::CloudWatch::Alarm"))


# -- the API resource policy ------------------------------------------------------------------------------
NO_VALUE = object()


def resolve(value: Any, params: dict[str, Any], conditions: dict[str, Any]) -> Any:
    """`value` as CloudFormation would deploy it for `params`: Fn::If decided, AWS::NoValue dropped,
    Ref of a parameter replaced (other intrinsics kept)."""
    if isinstance(value, list):
        items = [resolve(v, params, conditions) for v in value]
        return [v for v in items if v is not NO_VALUE]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Fn::If"}:
        cond, yes, no = value["Fn::If"]
        return resolve(yes if condition(cond, params, conditions) else no, params, conditions)
    if set(value) == {"Ref"}:
        if value["Ref"] == "AWS::NoValue":
            return NO_VALUE
        return params.get(value["Ref"], value)
    out = {k: resolve(v, params, conditions) for k, v in value.items()}
    return {k: v for k, v in out.items() if v is not NO_VALUE}


def condition(name_or_expr: Any, params: dict[str, Any], conditions: dict[str, Any]) -> bool:
    expr = conditions[name_or_expr] if isinstance(name_or_expr, str) else name_or_expr
    (fn, arg), = expr.items()
    if fn == "Condition":
        return condition(arg, params, conditions)
    if fn == "Fn::Not":
        return not condition(arg[0], params, conditions)
    if fn == "Fn::Or":
        return any(condition(a, params, conditions) for a in arg)
    if fn == "Fn::And":
        return all(condition(a, params, conditions) for a in arg)
    if fn == "Fn::Equals":
        return value_of(arg[0], params) == value_of(arg[1], params)
    raise AssertionError(f"condition function {fn} not understood")


def value_of(expr: Any, params: dict[str, Any]) -> Any:
    if isinstance(expr, dict) and set(expr) == {"Ref"}:
        return params[expr["Ref"]]
    if isinstance(expr, dict) and set(expr) == {"Fn::Join"}:
        sep, items = expr["Fn::Join"]
        return sep.join(value_of(items, params))
    return expr


def deployed_policy(template: dict[str, Any], **overrides: Any) -> dict[str, Any] | None:
    params = {name: p.get("Default") for name, p in template["Parameters"].items()}
    params["AllowedAccountIds"] = [a.strip() for a in str(params["AllowedAccountIds"]).split(",")]  # CommaDelimitedList
    params.update(overrides)
    body = resolve(template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"], params, template["Conditions"])
    return body.get("x-amazon-apigateway-policy")


def test_by_default_the_api_has_no_resource_policy_this_account_only(template: dict[str, Any]) -> None:
    assert deployed_policy(template) is None
    # What Chalice declares is untouched: every route but /health still needs SigV4 (test_template.py).
    assert template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]["paths"]


def opens_to_everyone(st: dict[str, Any]) -> bool:
    return st["Principal"] in ("*", {"AWS": "*"})


def test_allowed_accounts_may_invoke_and_health_stays_unsigned(template: dict[str, Any]) -> None:
    accounts = ["111111111111", "222222222222"]
    policy = deployed_policy(template, AllowedAccountIds=accounts)
    assert policy is not None
    by_sid = {st["Sid"]: st for st in statements(policy)}
    assert set(by_sid) == {"HealthIsUnsigned", "ThisAccount", "AllowedAccounts"}
    assert by_sid["AllowedAccounts"]["Principal"] == {"AWS": accounts}
    assert by_sid["AllowedAccounts"]["Resource"] == "execute-api:/*"
    assert by_sid["ThisAccount"]["Principal"] == {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}}
    # Once a policy exists, an unsigned request is refused unless a statement allows it: /health only.
    assert by_sid["HealthIsUnsigned"]["Resource"] == "execute-api:/*/GET/health"


def test_an_organization_may_invoke_through_principal_org_id(template: dict[str, Any]) -> None:
    policy = deployed_policy(template, AllowedOrganizationId="o-a1b2c3d4e5")
    assert policy is not None
    by_sid = {st["Sid"]: st for st in statements(policy)}
    assert set(by_sid) == {"HealthIsUnsigned", "ThisAccount", "AllowedOrganization"}
    org = by_sid["AllowedOrganization"]
    assert org["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}}
    both = deployed_policy(template, AllowedOrganizationId="o-a1b2c3d4e5", AllowedAccountIds=["111111111111"])
    assert both is not None and {st["Sid"] for st in statements(both)} >= {"AllowedAccounts", "AllowedOrganization"}


@pytest.mark.parametrize("overrides", [{"AllowedAccountIds": ["111111111111"]},
                                       {"AllowedOrganizationId": "o-a1b2c3d4e5"}])
def test_no_statement_opens_the_api_to_everyone(template: dict[str, Any], overrides: dict[str, Any]) -> None:
    policy = deployed_policy(template, **overrides)
    assert policy is not None
    for st in statements(policy):
        assert st["Effect"] == "Allow" and st["Action"] == "execute-api:Invoke"
        if opens_to_everyone(st):
            assert st["Resource"] == "execute-api:/*/GET/health" or "aws:PrincipalOrgID" in json.dumps(
                st.get("Condition")), st["Sid"]


def test_the_organization_parameter_takes_an_organization_id_or_nothing(template: dict[str, Any]) -> None:
    pattern = template["Parameters"]["AllowedOrganizationId"]["AllowedPattern"]
    assert re.fullmatch(pattern, "o-a1b2c3d4e5") and re.fullmatch(pattern, "")
    assert not re.fullmatch(pattern, "123456789012") and not re.fullmatch(pattern, "*")


def test_a_changed_policy_reaches_the_deployed_stage(template: dict[str, Any]) -> None:
    # SAM names the deployment after the unresolved definition: without AlwaysDeploy, changing a
    # parameter would leave the stage on the old policy.
    assert template["Resources"]["RestAPI"]["Properties"]["AlwaysDeploy"] is True


def test_docs_list_every_alarm(resources: dict[str, Any]) -> None:
    text = (build.ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    prefix = "certgate-${Stage}-"
    for name, alarm in of_type(resources, "AWS::CloudWatch::Alarm").items():
        suffix = alarm["Properties"]["AlarmName"]["Fn::Sub"].removeprefix(prefix)
        assert f"`{suffix}`" in text or f"`-{suffix}`" in text, name
