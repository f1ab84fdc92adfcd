"""Generated bad input over every route: never a 5xx, every 4xx an application/problem+json that
names what is wrong. Hand-picked nasties first, then hypothesis-generated requests (>= 1,000)."""

from __future__ import annotations

import json
import urllib.parse
import uuid
from collections import Counter
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulators.ca import build_csr, generate_key
from tests.functional.conftest import call
from tests.functional.test_lifecycle import cn, order

TALLY: Counter[str] = Counter()
OWNER = "bad-input-owner"

ID_ROUTES = [
    ("GET", "/certificates/{id}"), ("DELETE", "/certificates/{id}"), ("POST", "/certificates/{id}/refresh"),
    ("POST", "/certificates/{id}/reissue"), ("POST", "/certificates/{id}/renew"),
    ("POST", "/certificates/{id}/revoke"), ("POST", "/certificates/{id}/validate"),
    ("GET", "/certificates/{id}/validation"), ("GET", "/certificates/{id}/download"),
    ("POST", "/certificates/{id}/download"), ("GET", "/certificates/{id}/events"),
    ("GET", "/providers/tinycert/authorities/{id}"), ("GET", "/imports/{id}"),
]
# DELETE of an authority is probed only with ids that cannot exist (a generated "2" would really
# delete a CA the other tests order from).
NEVER_IDS = ("crt_" + "0" * 32, "../../etc/passwd", "x" * 500, "%00", "crt_' OR 1=1", "999999999")
BODY_ROUTES = [("POST", "/certificates"), ("POST", "/providers/tinycert/authorities"), ("POST", "/imports")]
QUERY_ROUTES = ["/certificates", "/certificates/{id}/download", "/certificates/{id}/events"]


def check(status: int, headers: dict[str, str], body: Any, what: str) -> None:
    TALLY["requests"] += 1
    TALLY[f"{status // 100}xx"] += 1
    assert status < 500, f"{what}: {status} {body}"
    if status >= 400:
        assert headers.get("content-type") == "application/problem+json", (what, status, headers)
        assert isinstance(body, dict) and body.get("status") == status and body.get("code"), (what, body)
        if status == 422:
            assert body.get("errors") and all(e.get("field") for e in body["errors"]), (what, body)


def send(client: Any, method: str, path: str, raw: bytes | None, principal: str = OWNER,
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], Any]:
    status, hdrs, body = call(client, method, path, raw if raw is not None else None, principal, headers)
    check(status, hdrs, body, f"{method} {path} {raw[:80] if raw else raw!r}")
    return status, hdrs, body


@pytest.fixture(scope="module")
def someone_elses(client_module: Any) -> str:
    return order(client_module, {"provider": "tinycert", "common_name": cn()}, "someone-else")[2]["id"]


@pytest.fixture(scope="module")
def mine(client_module: Any) -> str:
    return order(client_module, {"provider": "tinycert", "common_name": cn()}, OWNER)[2]["id"]


@pytest.fixture(scope="module")
def client_module(world: Any) -> Any:
    from chalice.test import Client

    from app import app

    with Client(app, stage_name="test") as c:
        yield c


def _csr(key: Any, name: str) -> str:
    return build_csr(key, name, [("dns", name)]).public_bytes(serialization.Encoding.PEM).decode()


def _forged_csr(name: str) -> str:
    pem = _csr(generate_key("ec"), name)
    der = bytearray(x509_der(pem))
    der[-5] ^= 0x55  # flip bits inside the signature
    import base64

    body = base64.encodebytes(bytes(der)).decode()
    return "-----BEGIN CERTIFICATE REQUEST-----\n" + body + "-----END CERTIFICATE REQUEST-----\n"


def x509_der(pem: str) -> bytes:
    from cryptography import x509

    return x509.load_pem_x509_csr(pem.encode()).public_bytes(serialization.Encoding.DER)


def _p192_csr(name: str) -> str:
    key = ec.generate_private_key(ec.SECP192R1())
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    req = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])).sign(key, hashes.SHA256())
    return req.public_bytes(serialization.Encoding.PEM).decode()


def test_hand_picked_nasties(client_module, someone_elses, mine):
    c = client_module
    name = cn()
    nasty_bodies: list[bytes] = [
        b'{"provider": "digicert", "common_name": "' + b"a" * 300_000 + b'"}',  # oversized
        b"[" * 10_000 + b"]" * 10_000,  # deep
        b'{"a":' * 100 + b"1" + b"}" * 100,  # deep object
        b'{"provider": "\xff\xfe\xfa"}',  # not UTF-8
        b"\x00\x01\x02garbage",
        b"null", b"[]", b'"string"', b"12", b"{",
        json.dumps({"provider": "digicert", "common_name": name,
                    "csr": "-----BEGIN CERTIFICATE REQUEST-----\n" + "A" * 40_000 + "\n-----END CERTIFICATE REQUEST-----"}).encode(),
        json.dumps({"provider": "digicert", "common_name": name, "csr": _forged_csr(name)}).encode(),
        json.dumps({"provider": "digicert", "common_name": name, "csr": _csr(generate_key("rsa", 1024), name)}).encode(),
        json.dumps({"provider": "digicert", "common_name": name, "csr": _p192_csr(name)}).encode(),
        json.dumps({"provider": "digicert", "common_name": "*.*.example.com"}).encode(),
        json.dumps({"provider": "digicert", "common_name": "www.*.example.com"}).encode(),
        json.dumps({"provider": "digicert", "common_name": "*"}).encode(),
        json.dumps({"provider": "digicert", "common_name": "*.com"}).encode(),
        json.dumps({"provider": "digicert", "common_name": "pаypal.com"}).encode(),  # Cyrillic а
        json.dumps({"provider": "digicert", "common_name": "xn--pypal-4ve.com"}).encode(),
        json.dumps({"provider": "resello", "common_name": name, "sans": [{"type": "dns", "value": "ex\u0430mple.com"}]}).encode(),
        json.dumps({"provider": "resello", "common_name": name, "sans": "example.com"}).encode(),
        json.dumps({"provider": "resello", "common_name": name, "key": {"type": "rsa", "size": 1024}}).encode(),
        json.dumps({"provider": "resello", "common_name": name, "key": {"type": "ec", "size": 192}}).encode(),
        json.dumps({"provider": "resello", "common_name": name, "validity_days": -1}).encode(),
        json.dumps({"provider": "resello", "common_name": name, "validity_days": True}).encode(),
        json.dumps({"provider": "resello", "common_name": name, "provider_options": {"plan": "x"}}).encode(),
        json.dumps({"provider": "resello", "common_name": name, "organization": {"country": "ZZ"}}).encode(),
        json.dumps({"provider": "tinycert", "common_name": name, "dcv_method": "dns"}).encode(),
        json.dumps({"provider": "tinycert", "common_name": name, "client_reference": "x\n\r"}).encode(),
    ]
    for raw in nasty_bodies:
        status, _, _ = send(c, "POST", "/certificates", raw)
        assert 400 <= status < 500
    send(c, "POST", "/certificates", b'{"provider":"tinycert","common_name":"a.example.com"}',
         headers={"Content-Type": "text/plain"})
    send(c, "POST", "/certificates", b'{"provider":"tinycert","common_name":"a.example.com"}',
         headers={"Idempotency-Key": "bad key with spaces"})
    for method, template in [*ID_ROUTES, ("DELETE", "/providers/tinycert/authorities/{id}")]:
        for ident in (someone_elses, *NEVER_IDS):
            path = template.replace("{id}", urllib.parse.quote(ident, safe=""))
            status, _, body = send(c, method, path, b"{}" if method == "POST" else None)
            # Deleting a CA is for administrators: anyone else is refused before the id is looked at.
            refused = (404, 405, 422, 400, 403) if "authorities" in template and method == "DELETE" else \
                (404, 405, 422, 400)
            assert status in refused, (method, path, status, body)
            assert someone_elses not in json.dumps(body.get("errors", "")) if isinstance(body, dict) else True
    for q in ("limit=0", "limit=abc", "limit=100000", "status=nope", "expires_before=yesterday",
              "next_token=%7B%7D", "provider=aws", "unknown=1"):
        send(c, "GET", "/certificates?" + q, None)
    for q in ("format=exe", "format=pkcs12", "revision=-1", "revision=abc", "revision=99"):
        send(c, "GET", f"/certificates/{mine}/download?" + q, None)
    send(c, "POST", f"/certificates/{mine}/download", json.dumps({"passphrase": "short"}).encode())
    send(c, "POST", f"/certificates/{mine}/download", json.dumps({"passphrase": "x" * 5000}).encode())
    send(c, "POST", f"/certificates/{mine}/revoke", json.dumps({"reason": "because"}).encode())


json_scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70),
                         st.floats(allow_nan=False), st.text(max_size=50))
json_values = st.recursive(json_scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                                  st.dictionaries(st.text(max_size=10), inner,
                                                                                  max_size=4)), max_leaves=12)
field_values = st.one_of(json_values, st.sampled_from(["tinycert", "resello", "digicert", "dv", "ov", "ev", "private",
                                                       "dns", "email", "file", "*.example.com", "a..b",
                                                       "xn--80ak6aa92e.com", "1.2.3.4", "-bad-.com", ""]))
order_keys = st.sampled_from(["provider", "product", "common_name", "sans", "csr", "key", "validity_days",
                              "dcv_method", "organization", "approver", "auto_renew", "client_reference",
                              "provider_options", "surprise", "filters", "country", "organization_id"])
bodies = st.one_of(
    st.dictionaries(order_keys, field_values, max_size=6).map(lambda d: json.dumps(d).encode()),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=200),
)
idents = st.one_of(st.text(min_size=1, max_size=40), st.from_regex(r"crt_[0-9a-f]{32}", fullmatch=True),
                   st.integers(min_value=0, max_value=10**12).map(str))


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(route=st.sampled_from(BODY_ROUTES), raw=bodies)
def test_generated_bodies(client_module, route, raw):
    method, path = route
    if path == "/certificates" and b'"provider"' in raw and b'"common_name"' in raw:
        # a generated body that happens to be valid places a real order: fine, but keep them rare
        pass
    send(client_module, method, path, raw, principal=f"gen-{uuid.uuid4().hex[:6]}")


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(route=st.sampled_from(ID_ROUTES), ident=idents, raw=st.one_of(st.none(), bodies))
def test_generated_ids_and_bodies(client_module, route, ident, raw):
    method, template = route
    path = template.replace("{id}", urllib.parse.quote(ident, safe="") or "x")
    send(client_module, method, path, raw if method in ("POST",) else None)


@settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck))
@given(template=st.sampled_from(QUERY_ROUTES),
       query=st.dictionaries(st.sampled_from(["limit", "status", "provider", "common_name", "expires_before",
                                              "next_token", "format", "revision", "zzz"]),
                             st.text(max_size=30), max_size=4))
def test_generated_queries(client_module, mine, template, query):
    path = template.replace("{id}", mine) + "?" + urllib.parse.urlencode(query)
    send(client_module, "GET", path, None)


def test_zz_totals():
    print(f"\nbad input: {dict(TALLY)}")
    assert TALLY["requests"] >= 1000
    assert TALLY["5xx"] == 0
