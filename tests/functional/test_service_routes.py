"""Health, providers, and the API's one error path."""

from __future__ import annotations

from chalicelib.providers import registry
from tests.functional.conftest import call


def test_readiness_checks_every_dependency(client):
    status, headers, body = call(client, "GET", "/health/ready", principal="arn:aws:iam::123456789012:role/ops")
    assert status == 200, body
    assert body["checks"] == {"table": "ok", "bucket": "ok", "topic": "ok", "secrets": "ok",
                              "event_bus": "ok"}


def test_liveness_is_public_and_calls_no_dependency(client, monkeypatch):
    """GET /health is the one route without IAM: an anonymous caller must not make certgate call
    DynamoDB, S3, SNS, EventBridge and Secrets Manager (4+ AWS calls per request before)."""
    from chalicelib import bootstrap

    def no_checks():
        raise AssertionError("liveness pinged a dependency")

    monkeypatch.setattr(bootstrap, "health_checks", no_checks)
    status, _, body = call(client, "GET", "/health")
    assert status == 200 and body == {"status": "ok", "stage": body["stage"]}


def test_readiness_reports_a_dependency_down_as_503(client, monkeypatch):
    from chalicelib import bootstrap
    from chalicelib.core.errors import DependencyFailed

    def down() -> None:
        raise DependencyFailed("dynamodb", "unreachable")

    healthy = bootstrap.health_checks
    monkeypatch.setattr(bootstrap, "health_checks", lambda: {**healthy(), "table": down})
    status, headers, body = call(client, "GET", "/health/ready", principal="arn:aws:iam::123456789012:role/ops")
    assert status == 503 and headers["content-type"] == "application/problem+json"
    assert body["checks"]["table"].startswith("error") and headers["retry-after"] == "10"


def test_providers_lists_capabilities_without_secrets(client):
    status, _, body = call(client, "GET", "/providers")
    assert status == 200
    names = [p["name"] for p in body["items"]]
    assert names == list(registry.names()) and names[:3] == ["tinycert", "resello", "digicert"]
    assert all(p["configured"] for p in body["items"])
    text = str(body)
    for secret in ("local-tinycert-api-key", "local-resello-api-key", "local-digicert-devkey", "passphrase"):
        assert secret not in text
    tiny = body["items"][0]["capabilities"]
    assert tiny["generates_key"] is True and tiny["accepts_csr"] is False


def test_unknown_route_is_404_problem(client):
    status, headers, body = call(client, "GET", "/no/such/route")
    assert status == 404
    assert headers["content-type"] == "application/problem+json"
    assert body["code"] == "not_found" and body["status"] == 404


def test_wrong_method_is_405_problem(client):
    status, headers, body = call(client, "PUT", "/health")
    assert status == 405
    assert headers["content-type"] == "application/problem+json"
    assert "GET" in headers["allow"]


def test_malformed_json_is_400_problem(client):
    status, headers, body = call(client, "POST", "/certificates", b'{"provider": ')
    assert status == 400 and body["code"] == "malformed_json"
    assert headers["content-type"] == "application/problem+json"


def test_non_utf8_body_is_400(client):
    status, _, body = call(client, "POST", "/certificates", b'{"provider": "\xff\xfe"}')
    assert status == 400 and body["code"] == "malformed_json"


def test_deep_json_is_400(client):
    deep = b"[" * 5000 + b"]" * 5000
    status, _, body = call(client, "POST", "/certificates", deep)
    assert status == 400


def test_oversized_body_is_413(client):
    status, _, body = call(client, "POST", "/certificates", b'{"x": "' + b"a" * 300_000 + b'"}')
    assert status == 413 and body["code"] == "payload_too_large"
