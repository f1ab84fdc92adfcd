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
    arn = "arn:aws:sts::123456789012:assumed-role/app/session"
    assert principal_of({}, {"identity": {"userArn": arn}}, cfg) == arn
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
