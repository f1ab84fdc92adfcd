"""TinyCertProvider: the pure parts first (no network), then the adapter against the simulator
over real HTTP (every method, error classes, fault modes, no duplicate on an ambiguous create)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import io
import json
import logging
import subprocess
import time
import urllib.parse
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.core.errors import (
    AuthenticationFailed,
    FieldError,
    ProviderConflict,
    ProviderNotConfigured,
    ProviderNotFound,
    ProviderProtocolError,
    ProviderRejected,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    UnsupportedOperation,
)
from chalicelib.core.model import Organization, San, Status
from chalicelib.core.provider import OrderRequest
from chalicelib.providers.http import HttpSettings
from chalicelib.providers.tinycert import (
    CAPABILITIES,
    TinyCertProvider,
    php_query,
    san_params,
    signed_body,
)
from simulators import defaults
from simulators.base import SimServer
from simulators.ca import SimCA, generate_key
from simulators.tinycert import TinyCertSim, expected_digest

SECRET = defaults.secret_payloads()["tinycert"]
FAST = HttpSettings(read_timeout=2.0, backoff_base=0.01, max_attempts=3)
order_status = TinyCertProvider.status_of
parse_error = TinyCertProvider(SECRET).parse_error


def offline_provider(**overrides: Any) -> TinyCertProvider:
    # Port 9 (discard) on localhost: any accidental network use fails loudly.
    return TinyCertProvider({**SECRET, "base_url": "http://127.0.0.1:9/api/v1", **overrides}, FAST)


def fake_response(status: int, body: Any, headers: dict[str, str] | None = None) -> requests.Response:
    r = requests.Response()
    r.status_code = status
    r._content = body if isinstance(body, bytes) else json.dumps(body).encode()
    r.headers.update(headers or {})
    return r


def order(cn: str = "www.example.com", *sans: San, ref: str = "cert-1", **kw: Any) -> OrderRequest:
    return OrderRequest(client_reference=ref, common_name=cn, product=kw.pop("product", "private"),
                        sans=sans or (San("dns", cn),), **kw)


# == pure parts ==================================================================================

@pytest.mark.parametrize(("raw", "status"), [
    ("good", Status.ISSUED), ("hold", Status.ISSUED), ("revoked", Status.REVOKED), ("expired", Status.EXPIRED),
    (" GOOD ", Status.ISSUED), ("Revoked", Status.REVOKED),
])
def test_status_map(raw: str, status: Status) -> None:
    assert order_status(raw) is status and TinyCertProvider.recognizes(raw)


@pytest.mark.parametrize("raw", ["suspended", "", None, "obsolete"])
def test_unknown_status_stays_pending_unrecognized_and_is_logged(raw: str | None,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    # `obsolete` is not a status of ours: get_order follows it to the reissue (tested below).
    with caplog.at_level(logging.WARNING):
        assert order_status(raw) is Status.PENDING
    assert not TinyCertProvider.recognizes(raw)
    assert any(getattr(r, "raw_status", "x") == raw for r in caplog.records)


TWELVE = [{"DNS": f"h{i}.example.com"} for i in range(12)]


def test_php_query_sorts_top_level_keys_by_bytes_and_sans_by_index() -> None:
    params = {"token": "t", "O": "ACME, Inc.", "L": "a~b c", "SANs": TWELVE, "ca_id": "7", "CN": "h0.example.com",
              "digest": "ignored"}
    query = php_query(params)
    sans = "&".join(f"SANs%5B{i}%5D%5BDNS%5D=h{i}.example.com" for i in range(12))
    assert query == f"CN=h0.example.com&L=a%7Eb+c&O=ACME%2C+Inc.&{sans}&ca_id=7&token=t"
    assert query.index("SANs%5B2%5D") < query.index("SANs%5B10%5D")  # not a byte sort of the flat names


def test_signed_body_is_the_php_string_plus_its_digest() -> None:
    params = {"email": "me@example.com", "passphrase": "my passphrase"}
    body = signed_body(params, "key").decode()
    query = php_query(params)
    assert body == f"{query}&digest={hmac.new(b'key', query.encode(), hashlib.sha256).hexdigest()}"
    assert dict(urllib.parse.parse_qsl(body)) == {**params, "digest": body.rsplit("=", 1)[1]}


TOP_KEY = st.text(st.characters(blacklist_characters="[]", blacklist_categories=("Cs",)), min_size=1, max_size=12)
VALUE = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(TOP_KEY.filter(lambda k: k not in ("digest", "SANs")), VALUE, max_size=6),
       st.lists(st.sampled_from(["DNS", "IP", "email", "URI"]).flatmap(
           lambda kind: VALUE.map(lambda v: {kind: v})), max_size=14),
       st.text(min_size=1, max_size=16))
def test_signature_agrees_with_the_simulators_independent_digest(params: dict[str, str],
                                                                  sans: list[dict[str, str]], key: str) -> None:
    """The simulator parses the body as PHP does and rebuilds the string with its own encoder."""
    body = signed_body({**params, "SANs": sans} if sans else params, key).decode()
    pairs = urllib.parse.parse_qsl(body, keep_blank_values=True)
    assert pairs[-1][0] == "digest"
    assert pairs[-1][1] == expected_digest(pairs[:-1], key)


def test_san_params_use_the_documented_names() -> None:
    sans = (San("dns", "a.example.com"), San("ip", "10.0.0.1"), San("email", "x@example.com"),
            San("uri", "https://example.com/"))
    assert san_params(sans) == [{"DNS": "a.example.com"}, {"IP": "10.0.0.1"}, {"email": "x@example.com"},
                                {"URI": "https://example.com/"}]
    with pytest.raises(ProviderRejected) as info:
        san_params((San("dns", "a"), San("upn", "x")))
    assert info.value.field_errors[0].field == "sans[1].type"


def test_new_cert_params_from_a_full_request_need_no_network() -> None:
    p = offline_provider()
    req = order("www.example.com", San("dns", "www.example.com"), San("ip", "::1"),
                organization=Organization(name="ACME", country="US", state="IL", locality="Chicago", unit="IT"))
    assert p.new_cert_params(req, "7") == {
        "ca_id": "7", "CN": "www.example.com", "C": "US", "O": "ACME", "ST": "IL", "L": "Chicago",
        "OU": "IT " + p.mark_for(req), "SANs": [{"DNS": "www.example.com"}, {"IP": "::1"}]}
    assert p.http.calls == 0  # nothing was sent


@pytest.mark.parametrize(("kw", "field"), [
    ({"product": "dv"}, "product"),
    ({"csr_pem": "-----BEGIN CERTIFICATE REQUEST-----"}, "csr"),
    ({"validity_days": 397}, "validity_days"),
])
def test_orders_tinycert_cannot_take_are_rejected_before_any_call(kw: dict[str, Any], field: str) -> None:
    with pytest.raises(ProviderRejected) as info:
        offline_provider().submit_order(order(organization=Organization(name="A", country="US"), **kw))
    assert [e.field for e in info.value.field_errors] == [field]


@pytest.mark.parametrize(("status", "body", "cls", "provider_code"), [
    (403, {"code": "InvalidToken", "text": "expired"}, AuthenticationFailed, "InvalidToken"),
    (403, {"code": "SessionError", "text": "x"}, AuthenticationFailed, "SessionError"),
    (403, {"code": "SignatureFailure", "text": "x"}, AuthenticationFailed, "SignatureFailure"),
    (403, {"code": "PassphraseFailure", "text": "x"}, AuthenticationFailed, "PassphraseFailure"),
    (403, {"code": "ApiKeyMismatch", "text": "x"}, AuthenticationFailed, "ApiKeyMismatch"),
    (403, {"code": "AccountNotFound", "text": "x"}, AuthenticationFailed, "AccountNotFound"),
    (403, {"code": "AccessDenied", "text": "not yours"}, AuthenticationFailed, "AccessDenied"),
    (400, {"code": "InputFailure", "text": "Invalid value for parameter 'C'"}, ProviderRejected, "InputFailure"),
    (400, {"code": "MissingParameter", "text": "Missing parameter 'CN'"}, ProviderRejected, "MissingParameter"),
    (404, {"code": "NotFound", "text": "no such certificate"}, ProviderNotFound, "NotFound"),
    (400, {"code": "NotLatest", "text": "obsolete"}, ProviderConflict, "NotLatest"),
    (400, {"code": "StatusDisallowed", "text": "expired"}, ProviderConflict, "StatusDisallowed"),
    (500, {"code": "UnknownError", "text": "boom"}, ProviderUnavailable, "UnknownError"),
    (500, {"code": "AccountError", "text": "corrupt"}, ProviderUnavailable, "AccountError"),
    (500, {"code": "AccountNotLoaded", "text": "x"}, ProviderUnavailable, "AccountNotLoaded"),
    (503, {"code": "UnknownError", "text": "boom"}, ProviderUnavailable, "UnknownError"),
    (429, {"code": "RateLimitExceeded", "text": "slow"}, RateLimited, "RateLimitExceeded"),
    (400, {"code": "MethodDisallowed", "text": "POST only"}, ProviderProtocolError, "MethodDisallowed"),
    (404, {"code": "SomethingNew", "text": "x"}, ProviderNotFound, "SomethingNew"),  # unknown code: by HTTP status
    (409, {"code": "SomethingElse", "text": "x"}, ProviderConflict, "SomethingElse"),
    # Integer codes are not TinyCert's shape (its codes are short strings): only the status class speaks.
    (404, {"code": 10, "text": "NotFound"}, ProviderProtocolError, None),
    (403, {"code": 7, "text": "InvalidToken"}, AuthenticationFailed, None),
])
def test_parse_error_maps_tinycert_errors(status: int, body: dict[str, Any], cls: type, provider_code: str | None
                                          ) -> None:
    err = parse_error(fake_response(status, body))
    assert type(err) is cls
    assert err.provider_code == provider_code


@pytest.mark.parametrize(("text", "field"), [
    ("Invalid value for parameter 'C'", "organization.country"),
    ("Invalid value for parameter 'SANs[2][IP]'", "sans"),
    ('The value of "CN" is too long', "common_name"),
    ("`hash_method` must be sha1 or sha256", "hash_method"),
    ("bad", "request"),
    ("quoted 'nothing-known' here", "request"),
])
def test_parse_error_names_the_rejected_field(text: str, field: str) -> None:
    err = parse_error(fake_response(400, {"code": "InputFailure", "text": text}))
    assert isinstance(err, ProviderRejected)
    assert err.field_errors == [FieldError(field, text)]
    assert err.message == f"InputFailure: {text}"


def test_parse_error_rate_limit_and_unparseable_bodies() -> None:
    err = parse_error(fake_response(429, {"code": "RateLimitExceeded", "text": "slow down"}))
    assert isinstance(err, RateLimited) and err.retry_after is None  # TinyCert sends no Retry-After
    err = parse_error(fake_response(429, {"code": "RateLimitExceeded", "text": "slow down"}, {"Retry-After": "7"}))
    assert isinstance(err, RateLimited) and err.retry_after == 7
    err = parse_error(fake_response(429, b"<html>busy</html>", {"Retry-After": "3"}))
    assert isinstance(err, RateLimited) and err.retry_after == 3
    assert isinstance(parse_error(fake_response(502, b"<html>Bad Gateway</html>")), ProviderUnavailable)
    assert isinstance(parse_error(fake_response(400, b"<html>oops")), ProviderProtocolError)
    assert isinstance(parse_error(fake_response(400, [1, 2])), ProviderProtocolError)


def test_error_messages_never_carry_credentials() -> None:
    p = offline_provider()
    body = {"code": "InputFailure", "text": f"bad {SECRET['api_key']} and {SECRET['passphrase']}"}
    err = p.parse_error(fake_response(400, body))
    assert SECRET["api_key"] not in str(err) and SECRET["passphrase"] not in str(err) and "***" in str(err)


def test_missing_credentials_are_reported_without_values() -> None:
    with pytest.raises(ProviderNotConfigured) as info:
        TinyCertProvider({"base_url": "http://x/api/v1", "email": "a@b", "passphrase": "", "api_key": "secret-k"})
    assert "passphrase" in str(info.value) and "secret-k" not in str(info.value)


def test_capabilities() -> None:
    c = CAPABILITIES
    assert (c.accepts_csr, c.generates_key, c.products, c.default_product) == (False, True, ("private",), "private")
    assert (c.dcv_methods, c.default_dcv_method) == ((), None)
    assert (c.revoke, c.reissue, c.renew, c.cancel, c.authorities, c.async_issuance) == (
        True, True, True, False, True, False)
    assert TinyCertProvider.capabilities is c


def test_chain_without_leaf() -> None:
    ca = SimCA("unit")
    leaf = ca.issue(generate_key("ec").public_key(), "a.example.com", [("dns", "a.example.com")], days=30).pem
    # TinyCert's chain starts with the leaf; the material's chain must not contain it.
    assert offline_provider().material_from(leaf + ca.chain_pem, "chain").chain_pem == ca.chain_pem
    assert offline_provider().material_from(leaf + leaf + ca.chain_pem, "chain").chain_pem == ca.chain_pem


# == against the simulator, over real HTTP ========================================================

@pytest.fixture(scope="module")
def server() -> Iterator[SimServer]:
    with SimServer(TinyCertSim()) as srv:
        yield srv


@pytest.fixture()
def sim(server: SimServer) -> SimServer:
    requests.post(f"{server.url}/_sim/reset", timeout=5).raise_for_status()
    return server


def provider_for(url: str, settings: HttpSettings = FAST, **overrides: Any) -> TinyCertProvider:
    return TinyCertProvider({**SECRET, "base_url": f"{url}/api/v1", **overrides}, settings)


@pytest.fixture()
def provider(sim: SimServer) -> TinyCertProvider:
    return provider_for(sim.url)


def faults(url: str, **cfg: Any) -> None:
    requests.put(f"{url}/_sim/faults", json=cfg, timeout=5).raise_for_status()


def sim_orders(url: str) -> list[dict[str, Any]]:
    return requests.get(f"{url}/_sim/orders", timeout=5).json()


def journal(url: str) -> list[dict[str, Any]]:
    return requests.get(f"{url}/_sim/journal", timeout=5).json()


ORG = Organization(name="ACME", country="US")


def test_submit_order_issues_with_material_that_verifies(provider: TinyCertProvider, sim: SimServer,
                                                          tmp_path: Path) -> None:
    req = order("app.example.com", San("dns", "app.example.com"), San("ip", "10.1.2.3"), organization=ORG)
    placed = provider.submit_order(req)
    assert placed.status is Status.ISSUED and placed.raw_status == "good"
    assert placed.client_reference == "cert-1" and placed.common_name == "app.example.com"
    assert set(placed.sans) == {"app.example.com", "10.1.2.3"}
    m = placed.material
    assert m is not None and m.private_key_pem and "BEGIN CERTIFICATE" not in (m.private_key_pem or "")
    cert = x509.load_pem_x509_certificate(m.certificate_pem.encode())
    assert m.certificate_pem.strip() not in m.chain_pem and m.chain_pem.count("BEGIN CERTIFICATE") == 1
    assert placed.serial == format(cert.serial_number, "x")
    assert (placed.not_before, placed.not_after) == (cert.not_valid_before_utc, cert.not_valid_after_utc)
    key = serialization.load_pem_private_key(m.private_key_pem.encode(), None)
    assert key.public_key() == cert.public_key()
    (tmp_path / "root.pem").write_text(requests.get(f"{sim.url}/_sim/ca.pem", timeout=5).text)
    (tmp_path / "chain.pem").write_text(m.chain_pem)
    (tmp_path / "leaf.pem").write_text(m.certificate_pem)
    out = subprocess.run(["openssl", "verify", "-CAfile", "root.pem", "-untrusted", "chain.pem", "leaf.pem"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stdout + out.stderr
    assert [o["id"] for o in sim_orders(sim.url)] == [int(placed.provider_order_id)]


def test_missing_organization_comes_from_the_ca(provider: TinyCertProvider) -> None:
    placed = provider.submit_order(order("noorg.example.com"))
    assert placed.material is not None
    cert = x509.load_pem_x509_certificate(placed.material.certificate_pem.encode())
    ca = provider.get_authority(str(defaults.TINYCERT_DEFAULT_CA_ID))
    org = cert.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)[0].value
    assert org == ca.details["O"]


def test_get_order_with_and_without_material(provider: TinyCertProvider, sim: SimServer) -> None:
    placed = provider.submit_order(order(organization=ORG))
    bare = provider.get_order(placed.provider_order_id, with_material=False)
    assert bare.material is None and bare.status is Status.ISSUED and bare.serial == placed.serial
    full = provider.get_order(placed.provider_order_id)
    assert full.material == placed.material
    api_hold(sim.url, provider, placed.provider_order_id, "hold")
    held = provider.get_order(placed.provider_order_id)
    assert held.status is Status.ISSUED and held.on_hold and held.raw_status == "hold"
    provider.revoke(placed.provider_order_id)
    revoked = provider.get_order(placed.provider_order_id)
    assert revoked.status is Status.REVOKED and revoked.material is None


def api_hold(url: str, provider: TinyCertProvider, cert_id: str, status: str) -> None:
    # Put a certificate on hold through TinyCert's own API (the interface has no hold operation).
    provider._dict("cert/status", {"cert_id": cert_id, "status": status}, safe=True)


def test_find_order_matches_cn_and_san_set_since_a_time(provider: TinyCertProvider) -> None:
    req = order("find.example.com", San("dns", "find.example.com"), San("dns", "alt.example.com"),
                organization=ORG, ref="ref-9")
    before = dt.datetime.now(dt.UTC)
    placed = provider.submit_order(req)
    found = provider.find_order(req, since=before)
    assert found is not None and found.provider_order_id == placed.provider_order_id
    assert found.client_reference == "ref-9"
    assert provider.find_order(order("find.example.com", San("dns", "find.example.com"), organization=ORG)) is None
    assert provider.find_order(order("other.example.com", organization=ORG)) is None
    assert provider.find_order(req, since=before + dt.timedelta(hours=1)) is None


def test_download_formats(provider: TinyCertProvider) -> None:
    placed = provider.submit_order(order(organization=ORG))
    assert placed.material is not None
    oid = placed.provider_order_id
    leaf, chain = placed.material.certificate_pem, placed.material.chain_pem
    assert provider.download(oid, "pem").decode() == leaf
    assert provider.download(oid, "chain").decode() == chain
    assert provider.download(oid, "fullchain").decode().count("BEGIN CERTIFICATE") == 2
    der = provider.download(oid, "der")
    assert x509.load_der_x509_certificate(der) == x509.load_pem_x509_certificate(leaf.encode())
    assert len(pkcs7.load_der_pkcs7_certificates(provider.download(oid, "pkcs7"))) == 2
    names = zipfile.ZipFile(io.BytesIO(provider.download(oid, "zip"))).namelist()
    assert sorted(names) == ["cert.pem", "chain.pem", "fullchain.pem"]  # as certgate's own zip (x509/formats)
    with pytest.raises(UnsupportedOperation):
        provider.download(oid, "pkcs12")


def test_reissue_returns_the_new_certificate(provider: TinyCertProvider, sim: SimServer) -> None:
    req = order("re.example.com", organization=ORG)
    old = provider.submit_order(req)
    new = provider.reissue(old.provider_order_id, req)
    assert new.provider_order_id != old.provider_order_id and new.status is Status.ISSUED
    assert new.material is not None and new.serial != old.serial
    # The old id is obsolete at TinyCert; reading it follows to its reissue (never "expired").
    followed = provider.get_order(old.provider_order_id)
    assert (followed.provider_order_id, followed.status, followed.serial) == (new.provider_order_id, Status.ISSUED,
                                                                            new.serial)
    assert followed.material == new.material
    with pytest.raises(ProviderConflict):
        provider.reissue(old.provider_order_id, req)
    with pytest.raises(ProviderRejected) as info:
        provider.reissue(new.provider_order_id, order("re.example.com", San("dns", "x.example.com")))
    assert [e.field for e in info.value.field_errors] == ["sans"]
    assert len(sim_orders(sim.url)) == 2


def test_a_held_certificate_reissued_is_obsolete_and_followed_to_its_reissue(provider: TinyCertProvider,
                                                                             sim: SimServer) -> None:
    req = order("held.example.com", organization=ORG)
    old = provider.submit_order(req)
    api_hold(sim.url, provider, old.provider_order_id, "hold")
    new = provider.reissue(old.provider_order_id, req)
    assert {r["id"]: r["status"] for r in sim_orders(sim.url)} == {int(old.provider_order_id): "obsolete",
                                                                    int(new.provider_order_id): "good"}
    followed = provider.get_order(old.provider_order_id, with_material=False)
    assert followed.provider_order_id == new.provider_order_id and followed.status is Status.ISSUED
    assert not followed.on_hold and followed.status_recognized


def test_the_reissue_is_told_apart_from_another_order_for_the_same_names(provider: TinyCertProvider) -> None:
    req = order("twin.example.com", organization=ORG)
    old = provider.submit_order(req)
    new = provider.reissue(old.provider_order_id, req)
    provider.submit_order(order("twin.example.com", organization=ORG, ref="cert-2"))  # newer, other key
    assert provider.get_order(old.provider_order_id, with_material=False).provider_order_id == new.provider_order_id


def test_an_obsolete_certificate_without_a_reissue_is_reported_unrecognized(provider: TinyCertProvider,
                                                                           sim: SimServer) -> None:
    placed = provider.submit_order(order("orphan.example.com", organization=ORG))
    assert isinstance(sim.sim, TinyCertSim)
    sim.sim.certs[int(placed.provider_order_id)].status = "obsolete"  # reissued where we cannot see it
    seen = provider.get_order(placed.provider_order_id)
    assert (seen.provider_order_id, seen.raw_status, seen.status_recognized) == (
        placed.provider_order_id, "obsolete", False)
    assert seen.material is None and seen.not_after == placed.not_after  # nothing demoted on a guess


def test_twelve_sans_are_signed_in_php_order_and_accepted(provider: TinyCertProvider, sim: SimServer) -> None:
    names = [f"h{i}.example.com" for i in range(12)]
    placed = provider.submit_order(order(names[0], *(San("dns", n) for n in names), organization=ORG))
    assert placed.status is Status.ISSUED and set(placed.sans) == set(names)
    sent = next(e for e in reversed(journal(sim.url)) if e["path"] == "/api/v1/cert/new")
    assert sent["digest_ok"] and sent["body"].startswith(sent["canonical"] + "&digest=")
    assert sent["body"].index("SANs%5B2%5D") < sent["body"].index("SANs%5B10%5D")
    details = provider._dict("cert/details", {"cert_id": placed.provider_order_id}, safe=True)
    assert details["Alt"] == [{"DNS": n} for n in names]


def test_no_validity_is_sent_and_the_real_validity_is_reported(provider: TinyCertProvider, sim: SimServer) -> None:
    placed = provider.submit_order(order("valid.example.com", organization=ORG, validity_days=10))
    assert placed.material is not None
    cert = x509.load_pem_x509_certificate(placed.material.certificate_pem.encode())
    assert (placed.not_before, placed.not_after) == (cert.not_valid_before_utc, cert.not_valid_after_utc)
    assert placed.not_after - placed.not_before == dt.timedelta(days=365)  # TinyCert's year, not the 10 asked
    sent = next(e for e in reversed(journal(sim.url)) if e["path"] == "/api/v1/cert/new")
    names = sorted(k for k, _ in urllib.parse.parse_qsl(sent["body"]))
    assert names == ["C", "CN", "O", "OU", "SANs[0][DNS]", "ca_id", "digest", "token"]  # no validity parameter


def test_renew_makes_a_new_certificate_and_keeps_the_old(provider: TinyCertProvider) -> None:
    req = order("renew.example.com", organization=ORG)
    old = provider.submit_order(req)
    new = provider.renew(old.provider_order_id, req)
    assert new.provider_order_id != old.provider_order_id and new.common_name == "renew.example.com"
    assert provider.get_order(old.provider_order_id, with_material=False).status is Status.ISSUED
    with pytest.raises(ProviderNotFound):
        provider.renew("987654", req)


def test_revoke_is_idempotent_and_refused_for_obsolete(provider: TinyCertProvider) -> None:
    req = order("rev.example.com", organization=ORG)
    placed = provider.submit_order(req)
    assert provider.revoke(placed.provider_order_id, "key_compromise").status is Status.REVOKED
    assert provider.revoke(placed.provider_order_id).status is Status.REVOKED
    other = provider.submit_order(order("rev2.example.com", organization=ORG))
    provider.reissue(other.provider_order_id, order("rev2.example.com", organization=ORG))
    with pytest.raises(ProviderConflict):
        provider.revoke(other.provider_order_id)


def test_unsupported_operations(provider: TinyCertProvider) -> None:
    with pytest.raises(UnsupportedOperation):
        provider.cancel("1")
    with pytest.raises(UnsupportedOperation):
        provider.retry_validation("1")
    assert provider.validation("1") == []


def test_list_certificates_pages_through_everything(provider: TinyCertProvider, sim: SimServer) -> None:
    requests.post(f"{sim.url}/_sim/seed", json={"count": 120}, timeout=30).raise_for_status()
    revoked = requests.post(f"{sim.url}/_sim/seed", json={"count": 2, "status": "revoked"}, timeout=10).json()
    seen: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        page = provider.list_certificates({"limit": 50}, token)
        pages += 1
        seen += [o.provider_order_id for o in page.items]
        token = page.next_token
        if token is None:
            break
    assert pages == 3 and len(seen) == 122 and len(set(seen)) == 122
    only_revoked = provider.list_certificates({"status": "revoked"})
    assert {o.provider_order_id for o in only_revoked.items} == {str(i) for i in revoked["created"]}
    assert all(o.status is Status.REVOKED and o.not_after for o in only_revoked.items)
    assert provider.list_certificates({"status": "pending"}).items == ()
    by_name = provider.list_certificates({"common_name": "seed-1.example.com"})
    assert [o.common_name for o in by_name.items] == ["seed-1.example.com"]
    with pytest.raises(ProviderRejected):
        provider.list_certificates(None, "not-a-token")


def test_authorities(provider: TinyCertProvider) -> None:
    listed = provider.list_authorities()
    assert [a.ca_id for a in listed] == [str(defaults.TINYCERT_DEFAULT_CA_ID)]
    created = provider.create_authority({"organization": "Team CA", "country": "DE", "locality": "Berlin"})
    assert created.name == "Team CA" and created.certificate_pem and created.details["C"] == "DE"
    assert {a.ca_id for a in provider.list_authorities()} == {listed[0].ca_id, created.ca_id}
    cert = provider.submit_order(order("team.example.com", organization=ORG, options={"ca_id": created.ca_id}))
    assert cert.material is not None and created.certificate_pem.strip() in cert.material.chain_pem
    provider.delete_authority(created.ca_id)
    with pytest.raises(ProviderNotFound):
        provider.get_authority(created.ca_id)
    with pytest.raises(ProviderRejected) as info:
        provider.create_authority({"country": "DE"})
    assert info.value.field_errors[0].field == "organization.name"
    with pytest.raises(ProviderRejected):
        provider.create_authority({"organization": "X", "country": "DE", "colour": "blue"})


def test_ca_new_is_sent_without_ou_and_a_unit_is_refused(provider: TinyCertProvider, sim: SimServer) -> None:
    created = provider.create_authority({"organization": "No Unit", "country": "NL", "state": "Utrecht"})
    assert created.details["OU"] == "Secure Digital Certificate Signing" and created.details["CN"] == "No Unit CA"
    sent = next(e for e in reversed(journal(sim.url)) if e["path"] == "/api/v1/ca/new")
    assert sent["digest_ok"]
    assert sorted(k for k, _ in urllib.parse.parse_qsl(sent["body"])) == ["C", "O", "ST", "digest", "hash_method",
                                                                        "token"]
    calls = provider.http.calls
    for unit in ("unit", "OU"):
        with pytest.raises(ProviderRejected) as info:
            provider.create_authority({"organization": "X", "country": "DE", unit: "Ops"})
        assert [e.field for e in info.value.field_errors] == [unit]
    assert provider.http.calls == calls  # refused before any call


def test_deleting_a_ca_deletes_its_certificates(provider: TinyCertProvider, sim: SimServer) -> None:
    ca = provider.create_authority({"organization": "Short Lived", "country": "DE"})
    inside = provider.submit_order(order("inside.example.com", organization=ORG, options={"ca_id": ca.ca_id}))
    outside = provider.submit_order(order("outside.example.com", organization=ORG))
    provider.delete_authority(ca.ca_id)
    with pytest.raises(ProviderNotFound):
        provider.get_order(inside.provider_order_id)
    assert provider.get_order(outside.provider_order_id, with_material=False).status is Status.ISSUED


# -- error classes -------------------------------------------------------------------------------

def test_wrong_credentials_fail_authentication(sim: SimServer) -> None:
    with pytest.raises(AuthenticationFailed) as info:
        provider_for(sim.url, api_key="not-the-key").list_authorities()
    assert info.value.provider_code == "ApiKeyMismatch" and "not-the-key" not in str(info.value)
    with pytest.raises(AuthenticationFailed) as info:
        provider_for(sim.url, passphrase="wrong horse").list_authorities()
    assert info.value.provider_code == "PassphraseFailure" and "wrong horse" not in str(info.value)


def test_not_found_and_rejected(provider: TinyCertProvider) -> None:
    with pytest.raises(ProviderNotFound):
        provider.get_order("999999")
    with pytest.raises(ProviderNotFound):
        provider.get_order("abc")
    with pytest.raises(ProviderRejected) as info:
        provider.submit_order(order(organization=Organization(name="ACME", country="USA")))
    assert [e.field for e in info.value.field_errors] == ["organization.country"]
    with pytest.raises(ProviderNotFound):
        provider.submit_order(order(organization=ORG, options={"ca_id": 4242}))


def test_an_expired_session_is_reopened_once(provider: TinyCertProvider, sim: SimServer) -> None:
    provider.list_authorities()
    requests.post(f"{sim.url}/_sim/expire-sessions", timeout=5).raise_for_status()
    provider.list_authorities()
    assert isinstance(sim.sim, TinyCertSim) and sim.sim.connects == 2


def test_a_session_that_never_holds_fails_after_one_reconnect() -> None:
    with SimServer(TinyCertSim(token_ttl_s=0)) as srv:
        with pytest.raises(AuthenticationFailed) as info:
            provider_for(srv.url).list_authorities()
        assert info.value.provider_code == "InvalidToken"
        assert isinstance(srv.sim, TinyCertSim) and srv.sim.connects == 2


# -- fault modes ---------------------------------------------------------------------------------

def test_latency_is_tolerated(provider: TinyCertProvider, sim: SimServer) -> None:
    faults(sim.url, latency_ms=200)
    started = time.monotonic()
    assert provider.list_authorities()
    assert time.monotonic() - started >= 0.2


def test_server_errors_on_reads_are_retried_then_surface(provider: TinyCertProvider, sim: SimServer) -> None:
    placed = provider.submit_order(order(organization=ORG))
    faults(sim.url, error_rate=1.0, error_status=503, max_faults=2, paths=["/api/v1/cert/details"])
    assert provider.get_order(placed.provider_order_id).status is Status.ISSUED
    faults(sim.url, error_rate=1.0, error_status=502, paths=["/api/v1/cert/details"])
    with pytest.raises(ProviderUnavailable):
        provider.get_order(placed.provider_order_id)


def test_rate_limit_without_retry_after_safe_calls_back_off_and_retry(provider: TinyCertProvider,
                                                                      sim: SimServer) -> None:
    provider.list_authorities()
    faults(sim.url, rate_limit_per_s=0.5, max_faults=1, paths=["/api/v1/ca/list"])
    assert provider.list_authorities()  # 429 (no Retry-After), our own backoff, then answered
    assert requests.get(f"{sim.url}/_sim/stats", timeout=5).json()["injected"] == 1
    time.sleep(1.05)  # a fresh one-second window for what follows


def test_rate_limited_create_is_not_retried(provider: TinyCertProvider, sim: SimServer) -> None:
    provider.list_authorities()
    faults(sim.url, rate_limit_per_s=0.5, paths=["/api/v1/cert/new"])
    with pytest.raises(RateLimited) as info:
        provider.submit_order(order("busy.example.com", organization=ORG))
    assert info.value.provider_code == "RateLimitExceeded" and info.value.retry_after is None
    assert not info.value.outcome_unknown and sim_orders(sim.url) == []
    sent = [e for e in journal(sim.url) if e["path"] == "/api/v1/cert/new"]
    assert sent == []  # refused before handling: the journal never saw it; one send only
    assert requests.get(f"{sim.url}/_sim/stats", timeout=5).json()["injected"] == 1
    time.sleep(1.05)


def test_rate_limit_surfaces_with_retry_after(provider: TinyCertProvider, sim: SimServer) -> None:
    provider.list_authorities()
    faults(sim.url, rate_limit_per_s=1, retry_after_s=30)
    provider.list_authorities()
    with pytest.raises(RateLimited) as info:
        provider.list_authorities()
    assert info.value.retry_after == 30


def test_hang_on_a_read_times_out_then_retries(sim: SimServer) -> None:
    quick = provider_for(sim.url, HttpSettings(read_timeout=0.4, backoff_base=0.01, max_attempts=2))
    quick.list_authorities()
    faults(sim.url, hang_s=0.8, max_faults=1, paths=["/api/v1/ca/list"])
    assert quick.list_authorities()  # first attempt timed out, the second answered
    faults(sim.url, hang_s=0.8, paths=["/api/v1/ca/list"])
    with pytest.raises(ProviderTimeout):
        quick.list_authorities()
    time.sleep(0.6)  # let the hung handlers finish inside this test


def test_malformed_answers_on_reads_surface_as_protocol_errors(provider: TinyCertProvider, sim: SimServer) -> None:
    provider.list_authorities()
    faults(sim.url, malformed_rate=1.0, paths=["/api/v1/ca/list"])
    with pytest.raises(ProviderProtocolError):
        provider.list_authorities()


@pytest.mark.parametrize("fault", [{"drop_after_commit_rate": 1.0}, {"malformed_rate": 1.0}])
def test_ambiguous_create_returns_the_committed_order_without_duplicate(
        provider: TinyCertProvider, sim: SimServer, fault: dict[str, Any]) -> None:
    faults(sim.url, max_faults=1, paths=["/api/v1/cert/new"], **fault)
    placed = provider.submit_order(order("amb.example.com", organization=ORG, ref="amb-1"))
    rows = sim_orders(sim.url)
    assert [r["id"] for r in rows] == [int(placed.provider_order_id)]
    assert placed.client_reference == "amb-1" and placed.status is Status.ISSUED and placed.material is not None


def test_create_that_failed_before_commit_is_tried_once_more(provider: TinyCertProvider, sim: SimServer) -> None:
    faults(sim.url, error_rate=1.0, error_status=500, max_faults=1, paths=["/api/v1/cert/new"])
    placed = provider.submit_order(order("retry.example.com", organization=ORG))
    assert [r["id"] for r in sim_orders(sim.url)] == [int(placed.provider_order_id)]


def test_create_failing_every_time_is_tried_at_most_twice(provider: TinyCertProvider, sim: SimServer) -> None:
    faults(sim.url, error_rate=1.0, error_status=503, paths=["/api/v1/cert/new"])
    before = requests.get(f"{sim.url}/_sim/stats", timeout=5).json()["faults"]
    with pytest.raises(ProviderUnavailable) as info:
        provider.submit_order(order("down.example.com", organization=ORG))
    assert info.value.outcome_unknown
    assert requests.get(f"{sim.url}/_sim/stats", timeout=5).json()["faults"] - before == 2
    assert sim_orders(sim.url) == []


def test_create_timing_out_is_not_retried(sim: SimServer) -> None:
    quick = provider_for(sim.url, HttpSettings(read_timeout=0.4, backoff_base=0.01, max_attempts=3))
    faults(sim.url, hang_s=1.2, max_faults=1, paths=["/api/v1/cert/new"])
    with pytest.raises(ProviderTimeout) as info:
        quick.submit_order(order("slow.example.com", organization=ORG))
    assert info.value.outcome_unknown
    deadline = time.monotonic() + 5
    while not sim_orders(sim.url) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.3)
    assert len(sim_orders(sim.url)) == 1  # the hung request committed late; no second create
    found = quick.find_order(order("slow.example.com", organization=ORG))
    assert found is not None  # what reconcile would adopt


def test_ambiguous_reissue_returns_the_new_certificate(provider: TinyCertProvider, sim: SimServer) -> None:
    req = order("rei.example.com", organization=ORG)
    old = provider.submit_order(req)
    faults(sim.url, drop_after_commit_rate=1.0, max_faults=1, paths=["/api/v1/cert/reissue"])
    new = provider.reissue(old.provider_order_id, req)
    rows = {r["id"]: r for r in sim_orders(sim.url)}
    assert len(rows) == 2 and rows[int(new.provider_order_id)]["reissued_from"] == int(old.provider_order_id)
    assert rows[int(old.provider_order_id)]["status"] == "obsolete"
