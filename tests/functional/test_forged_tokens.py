"""Pagination tokens are readable by their holder, so what they carry is untrusted input: a token
whose owner hash is right but whose start key was rewritten is a 400, never a 500."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid

import pytest

from tests.functional.conftest import call


def _forge(owner: str, key: object) -> str:
    payload = {"k": key, "o": hashlib.sha256(owner.encode()).hexdigest()[:16]}
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def _token_of(client, path: str, me: str) -> str:
    st, _, page = call(client, "GET", path, principal=me)
    assert st == 200 and page["next_token"], page
    return str(page["next_token"])


def _decoded(token: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))["k"]


FORGERIES = {
    "number instead of a string": lambda k: {**k, "created_at": {"N": "1"}},
    "an attribute too many": lambda k: {**k, "extra": {"S": "x"}},
    "an attribute missing": lambda k: {n: v for n, v in k.items() if n != "sk"},
    "not a typed value": lambda k: {**k, "pk": "CERT#x"},
    "empty string": lambda k: {**k, "created_at": {"S": ""}},
    "another owner's key": lambda k: {**k, "owner": {"S": "arn:aws:iam::123456789012:user/victim"}},
    "a list": lambda k: [k],
}


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
def test_a_rewritten_list_token_is_a_400(client, world, forgery):
    me = f"arn:aws:iam::123456789012:user/t-{uuid.uuid4().hex[:6]}"
    for _ in range(2):
        st, _, _ = call(client, "POST", "/certificates", {"provider": "tinycert",
                        "common_name": f"f{uuid.uuid4().hex[:10]}.example.com"}, principal=me)
        assert st in (200, 201, 202)
    key = _decoded(_token_of(client, "/certificates?limit=1", me))
    st, _, prob = call(client, "GET", f"/certificates?limit=1&next_token={_forge(me, FORGERIES[forgery](key))}",
                       principal=me)
    assert st == 400 and prob["code"] == "invalid_next_token", (st, prob)


@pytest.mark.parametrize("forgery", ["number instead of a string", "an attribute too many", "not a typed value",
                                     "another certificate's events"])
def test_a_rewritten_event_token_is_a_400(client, world, forgery):
    me = f"arn:aws:iam::123456789012:user/t-{uuid.uuid4().hex[:6]}"
    st, _, body = call(client, "POST", "/certificates", {"provider": "tinycert",
                       "common_name": f"f{uuid.uuid4().hex[:10]}.example.com"}, principal=me)
    assert st in (200, 201, 202)
    path = f"/certificates/{body['id']}/events"
    key = _decoded(_token_of(client, f"{path}?limit=1", me))
    forged = (lambda k: {**k, "pk": {"S": "CERT#crt_someone_else"}}) if forgery == "another certificate's events" \
        else FORGERIES[forgery]
    st, _, prob = call(client, "GET", f"{path}?limit=1&next_token={_forge(me + body['id'], forged(key))}",
                       principal=me)
    assert st == 400 and prob["code"] == "invalid_next_token", (st, prob)
