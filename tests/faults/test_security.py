"""Security promises of design.md section 6, each with a test that can fail."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from chalicelib.config import Settings
from chalicelib.core.errors import BadRequest, Unauthorized
from chalicelib.http.auth import principal_of
from simulators import defaults
from tests.functional.conftest import call
from tests.functional.test_jobs import drain
from tests.functional.test_lifecycle import cn, csr_for, order

SECRETS = [defaults.TINYCERT_API_KEY, defaults.TINYCERT_PASSPHRASE, defaults.RESELLO_API_KEY,
           defaults.DIGICERT_API_KEY]


def _settings(stage: str, **env: str) -> Settings:
    return Settings.from_env({"CERTGATE_STAGE": stage, **env})


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_local_principal_header_is_refused_outside_local(stage):
    with pytest.raises(BadRequest) as err:
        principal_of({"X-Certgate-Principal": "admin"}, {"identity": {"userArn": "arn:aws:iam::1:user/a"}},
                     _settings(stage))
    assert err.value.code == "principal_header_refused"


def test_deployed_stage_uses_the_iam_identity_and_requires_one():
    cfg = _settings("prod")
    user = "arn:aws:iam::123456789012:user/ci"
    assert principal_of({}, {"identity": {"userArn": user}}, cfg) == user
    with pytest.raises(Unauthorized):
        principal_of({}, {"identity": {}}, cfg)


def test_local_stage_takes_the_header_or_local_dev():
    cfg = _settings("local")
    assert principal_of({"X-Certgate-Principal": "alice"}, {}, cfg) == "alice"
    assert principal_of({}, {}, cfg) == "local-dev"
    with pytest.raises(BadRequest):
        principal_of({"X-Certgate-Principal": "bad principal\n"}, {}, cfg)


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_tls_verification_cannot_be_switched_off_outside_local(stage):
    from chalicelib import bootstrap as registry
    from chalicelib.providers.http import ProviderHttp

    cfg = _settings(stage, CERTGATE_TLS_VERIFY="false")
    assert cfg.tls_verify is True
    http = ProviderHttp("digicert", "https://example.invalid", settings=registry.http_settings(cfg))
    assert http.session.verify is True


def test_every_provider_call_has_a_timeout():
    from chalicelib import bootstrap as registry

    st = registry.http_settings(_settings("prod"))
    assert 0 < st.connect_timeout <= 10 and 0 < st.read_timeout <= 60 and st.max_attempts <= 5


def test_no_secret_or_key_leaks_into_logs_errors_events_or_s3(client, world, capfd):
    sqs, sns = world.aws("sqs"), world.aws("sns")
    url = sqs.create_queue(QueueName="sec-" + uuid.uuid4().hex[:8])["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=world.env["CERTGATE_TOPIC_ARN"], Protocol="sqs", Endpoint=arn)
    me = f"sec-{uuid.uuid4().hex[:6]}"
    passphrase = "p12-" + uuid.uuid4().hex
    seen_bodies: list[Any] = []

    name = cn()
    for body in ({"provider": "tinycert", "common_name": cn()},
                 {"provider": "resello", "common_name": cn()},
                 {"provider": "digicert", "common_name": name, "csr": csr_for(name)}):
        seen_bodies.append(order(client, body, me)[2])
    for p in ("resello", "digicert"):
        world.advance(p)
    ids = [b["id"] for b in seen_bodies]
    for cid in ids:
        seen_bodies.append(call(client, "POST", f"/certificates/{cid}/refresh", principal=me)[2])
        seen_bodies.append(call(client, "GET", f"/certificates/{cid}/events", principal=me)[2])
    st, _, p12 = call(client, "POST", f"/certificates/{ids[0]}/download", {"passphrase": passphrase}, me)
    assert st == 200
    # failures too: a provider down, a bad request, a wrong passphrase length
    world.faults("digicert", error_rate=1.0, error_status=503)
    seen_bodies.append(order(client, {"provider": "digicert", "common_name": name, "csr": csr_for(name)}, me)[2])
    world.clear_faults()
    seen_bodies.append(call(client, "POST", f"/certificates/{ids[0]}/download", {"passphrase": "short"}, me)[2])
    seen_bodies.append(call(client, "GET", "/providers", principal=me)[2])

    out, err = capfd.readouterr()
    messages = drain(world, url)
    s3 = world.aws("s3")
    metadata = []
    for cid in ids:
        for obj in s3.list_objects_v2(Bucket=world.env["CERTGATE_BUCKET"], Prefix=f"certificates/{cid}/")["Contents"]:
            if obj["Key"].endswith("metadata.json"):
                metadata.append(s3.get_object(Bucket=world.env["CERTGATE_BUCKET"], Key=obj["Key"])["Body"].read().decode())
    haystacks = {"logs": out + err, "responses": json.dumps(seen_bodies), "events": json.dumps(messages),
                 "s3 metadata": "\n".join(metadata)}
    assert metadata and messages, "the scan must have something to scan"
    for where, text in haystacks.items():
        for secret in [*SECRETS, passphrase]:
            assert secret not in text, f"{secret[:6]}... leaked into {where}"
        assert "PRIVATE KEY" not in text, f"a private key leaked into {where}"
        assert "sealed_key" not in text, f"the sealed private key leaked into {where}"


def test_sessions_of_one_role_are_one_owner_and_other_roles_are_not():
    """An assumed-role ARN names its session; the owner is the role, so a new session (a new
    Lambda container, a rotated instance profile) still sees what the last one ordered."""
    cfg = _settings("prod")
    owners = {principal_of({}, {"identity": {"userArn": f"arn:aws:sts::123456789012:assumed-role/{role}/{s}"}}, cfg)
              for role, s in (("app", "i-0abc"), ("app", "i-0def"), ("app", "botocore-session-1"))}
    assert owners == {"arn:aws:iam::123456789012:role/app"}
    other = principal_of({}, {"identity": {"userArn": "arn:aws:sts::123456789012:assumed-role/app2/i-0abc"}}, cfg)
    other_account = principal_of({}, {"identity": {"userArn": "arn:aws:sts::210987654321:assumed-role/app/x"}}, cfg)
    assert len({*owners, other, other_account}) == 3


def test_a_configured_team_shares_one_owner_and_outsiders_stay_apart():
    groups = '{"payments": ["arn:aws:iam::123456789012:role/pay-api", "arn:aws:iam::123456789012:user/alice"]}'
    cfg = _settings("prod", CERTGATE_PRINCIPAL_GROUPS=groups)

    def owner(arn: str) -> str:
        return principal_of({}, {"identity": {"userArn": arn}}, cfg)

    assert owner("arn:aws:sts::123456789012:assumed-role/pay-api/s1") == "group:payments"
    assert owner("arn:aws:iam::123456789012:user/alice") == "group:payments"
    assert owner("arn:aws:iam::123456789012:user/mallory") == "arn:aws:iam::123456789012:user/mallory"


@pytest.mark.parametrize("raw", ['["a"]', '{"bad name": ["x"]}', '{"t": "not-a-list"}', "{nope",
                                 '{"a": ["arn:aws:iam::1:user/x"], "b": ["arn:aws:iam::1:user/x"]}'])
def test_a_malformed_group_mapping_is_a_configuration_error(raw):
    from chalicelib.core.errors import ConfigError

    with pytest.raises(ConfigError):
        _settings("prod", CERTGATE_PRINCIPAL_GROUPS=raw)


def test_admins_are_matched_by_their_stable_principal():
    cfg = _settings("prod", CERTGATE_ADMIN_PRINCIPALS="arn:aws:sts::123456789012:assumed-role/ops/old-session")
    assert cfg.policy.admin_principals == ("arn:aws:iam::123456789012:role/ops",)
