"""Strict input at the edge: what a lenient parser would silently reinterpret is refused, naming
what was wrong."""

from __future__ import annotations

import uuid

import pytest

from tests.functional.conftest import call


def _me() -> str:
    return f"arn:aws:iam::123456789012:user/t-{uuid.uuid4().hex[:6]}"


def _issued(client, me: str) -> str:
    st, _, body = call(client, "POST", "/certificates", {"provider": "tinycert",
                       "common_name": f"s{uuid.uuid4().hex[:10]}.example.com"}, principal=me)
    assert st == 201 and body["status"] == "issued", body
    return str(body["id"])


def test_a_key_given_twice_is_a_400_naming_it(client, world):
    raw = b'{"provider": "tinycert", "common_name": "a.example.com", "common_name": "b.example.com"}'
    st, _, prob = call(client, "POST", "/certificates", raw, principal=_me())
    assert st == 400 and prob["code"] == "duplicate_json_key" and "common_name" in prob["detail"]
    nested = b'{"provider": "tinycert", "common_name": "a.example.com", "sans": [{"type": "dns", "type": "ip"}]}'
    st, _, prob = call(client, "POST", "/certificates", nested, principal=_me())
    assert st == 400 and prob["code"] == "duplicate_json_key" and "'type'" in prob["detail"]


@pytest.mark.parametrize("body", [b"[]", b"[{}]", b'"revoke"', b"42", b"null", b"true"])
def test_a_body_that_is_not_an_object_is_refused_naming_body(client, world, body):
    me = _me()
    cid = _issued(client, me)
    for path in (f"/certificates/{cid}/revoke", "/certificates"):
        st, _, prob = call(client, "POST", path, body, principal=me)
        assert st == 422 and [e["field"] for e in prob["errors"]] == ["body"], (path, body, prob)
    st, _, cert = call(client, "GET", f"/certificates/{cid}", principal=me)
    assert cert["status"] == "issued"  # `[]` was not read as "revoke with the defaults"


def test_an_empty_format_is_refused_not_served_as_pem(client, world):
    me = _me()
    cid = _issued(client, me)
    st, _, prob = call(client, "GET", f"/certificates/{cid}/download?format=", principal=me)
    assert st == 422 and [e["field"] for e in prob["errors"]] == ["format"]
    st, _, _ = call(client, "GET", f"/certificates/{cid}/download?format=pem", principal=me)
    assert st == 200


@pytest.mark.parametrize("accept, served", [
    ("*/*;q=0", False),
    ("application/pkix-cert;q=0", False),
    ("application/*;q=0, text/plain", False),
    ("*/*;q=0.001", True),
    ("application/pkix-cert", True),
    ("text/html, application/pkix-cert;q=0.5", True),
    ("application/pkix-cert;q=0, application/octet-stream", True),
    ("*/*;q=bogus", False),
])
def test_binary_downloads_follow_accept_qualities(client, world, accept, served):
    me = _me()
    cid = _issued(client, me)
    st, headers, got = call(client, "GET", f"/certificates/{cid}/download?format=der", principal=me,
                          headers={"Accept": accept})
    assert (st == 200) is served and (st == 406) is not served, (accept, st, got)
    if served:
        assert headers["content-type"] == "application/pkix-cert"


@pytest.mark.parametrize("base_url", ["not a url", "ftp://sim.example/api", "https://", "https://host:99999/",
                                      "https://user:pw@host/api"])
def test_a_secret_with_an_unusable_base_url_is_a_503_before_anything_is_written(client, world, base_url):
    import json

    from chalicelib import bootstrap
    from chalicelib.config import settings

    sm = world.aws("secretsmanager")
    name = settings().secret_name("resello")
    good = sm.get_secret_value(SecretId=name)["SecretString"]
    me = _me()
    try:
        sm.put_secret_value(SecretId=name, SecretString=json.dumps({**json.loads(good), "base_url": base_url}))
        bootstrap.reset()
        st, _, prob = call(client, "POST", "/certificates", {"provider": "resello",
                           "common_name": f"s{uuid.uuid4().hex[:10]}.example.com"}, principal=me)
        assert st == 503 and prob["code"] == "provider_not_configured", prob
        assert base_url not in json.dumps(prob) or base_url == "https://"  # never the value (it may hold a credential)
        st, _, listing = call(client, "GET", "/certificates", principal=me)
        assert listing["items"] == []  # no intent left behind
    finally:
        sm.put_secret_value(SecretId=name, SecretString=good)
        bootstrap.reset()


def test_a_missing_bucket_on_order_is_a_503_that_names_the_recorded_certificate(client, world, monkeypatch):
    from chalicelib import bootstrap

    me = _me()
    monkeypatch.setattr(bootstrap.service().artifacts, "bucket", f"missing-{uuid.uuid4().hex[:8]}")
    try:
        st, headers, prob = call(client, "POST", "/certificates", {"provider": "tinycert",
                                 "common_name": f"s{uuid.uuid4().hex[:10]}.example.com"}, principal=me)
    finally:
        monkeypatch.undo()
    assert st == 503 and prob["code"] == "dependency_unavailable" and "bucket" in prob["detail"], prob
    cid = prob["certificate_id"]
    assert headers["location"] == f"/certificates/{cid}" and prob["certificate_status"] == "pending"
    st, _, cert = call(client, "GET", f"/certificates/{cid}", principal=me)
    assert st == 200 and cert["id"] == cid  # the caller follows it; nothing was lost
