"""DigiCertProvider: pure parts (status map, request building, error parsing, answer parsing)
without network, then every method against the DigiCert simulator over real HTTP, including
each fault mode and the never-duplicate create."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs7

from chalicelib.core.errors import (
    AuthenticationFailed,
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
from chalicelib.core.model import San, Status
from chalicelib.core.provider import CertificateMaterial, OrderRequest
from chalicelib.core.vocabulary import REVOCATION_REASONS
from chalicelib.providers.base import map_status
from chalicelib.providers.digicert import (
    CAPABILITIES,
    STATUS_MAP,
    DigiCertProvider,
    alternative_order_id,
    build_order_body,
    build_reissue_body,
    client_reference_of,
    dcv_details,
    material_from_bundle,
    order_from_create,
    order_from_info,
)
from chalicelib.providers.http import REDACTED, HttpSettings
from simulators import defaults
from simulators.base import SimServer
from simulators.ca import SimCA, generate_key
from simulators.digicert import DigiCertSim
from tests.contract.harness_digicert import complete, credentials, csr_for, make_provider, order_request

API_KEY = defaults.DIGICERT_API_KEY
error_from_response = DigiCertProvider(credentials("http://127.0.0.1:9")).parse_error


def request(**over: Any) -> OrderRequest:
    base = OrderRequest(client_reference="crt_0123456789abcdef0123456789abcdef", common_name="WWW.Example.com",
                        product="ov", sans=(San("dns", "www.example.com"), San("dns", "Example.com")),
                        csr_pem="-----BEGIN CERTIFICATE REQUEST-----\n...", validity_days=190, dcv_method="dns")
    return dataclasses.replace(base, **over)


def response(status: int, body: Any = None, headers: dict[str, str] | None = None) -> requests.Response:
    resp = requests.Response()
    resp.status_code = status
    resp._content = body if isinstance(body, bytes) else json.dumps(body).encode() if body is not None else b""
    resp.headers.update(headers or {})
    return resp


def digicert_errors(*pairs: tuple[str, str]) -> dict[str, Any]:
    return {"errors": [{"code": c, "message": m} for c, m in pairs]}


# == pure ======================================================================================
@pytest.mark.parametrize(("raw", "status"), [
    ("needs_approval", Status.PENDING), ("pending", Status.PENDING), ("reissue_pending", Status.PENDING),
    ("issued", Status.ISSUED), ("rejected", Status.FAILED), ("canceled", Status.CANCELLED),
    ("revoked", Status.REVOKED), ("expired", Status.EXPIRED), ("ISSUED", Status.ISSUED), (" Revoked ", Status.REVOKED),
    ("waiting_pickup", Status.PENDING), ("waiting_for_godot", Status.PENDING), ("", Status.PENDING),
    (None, Status.PENDING),
])
def test_status_map(raw: str | None, status: Status) -> None:
    assert map_status("digicert", raw, STATUS_MAP) is status


def test_every_documented_status_is_in_the_table() -> None:
    assert set(STATUS_MAP) == {"needs_approval", "pending", "waiting_pickup", "reissue_pending", "issued",
                               "rejected", "canceled", "revoked", "expired"}
    assert DigiCertProvider.recognizes("Waiting_Pickup") and not DigiCertProvider.recognizes("waiting_for_godot")


def test_an_unknown_status_is_read_as_unrecognized() -> None:
    odd = order_from_info({"id": 1, "status": "on_the_moon"})
    assert odd.status is Status.PENDING and odd.raw_status == "on_the_moon" and not odd.status_recognized
    assert order_from_info({"id": 1, "status": "waiting_pickup"}).status_recognized


def test_capabilities() -> None:
    assert CAPABILITIES.products == ("dv", "ov", "ev", "private") and CAPABILITIES.default_product == "ov"
    assert CAPABILITIES.dcv_methods == ("dns", "email", "file") and CAPABILITIES.default_dcv_method == "dns"
    assert CAPABILITIES.accepts_csr and not CAPABILITIES.generates_key and not CAPABILITIES.authorities
    # "End of 397-day public TLS/SSL certificates": 199 days since 24 Feb 2026, a day under SC-081 after.
    assert [CAPABILITIES.max_validity_days("ov", d) for d in (
        dt.date(2026, 2, 23), dt.date(2026, 2, 24), dt.date(2027, 3, 14), dt.date(2027, 3, 15),
        dt.date(2029, 3, 14), dt.date(2029, 3, 15))] == [397, 199, 199, 99, 99, 46]
    assert CAPABILITIES.max_validity_days("private", dt.date(2029, 3, 15)) == 397
    assert CAPABILITIES.lifetime.parameter
    assert DigiCertProvider.rate_limits == ((100, 5.0), (1000, 300.0))  # "Rate limits"
    assert CAPABILITIES.reissue and CAPABILITIES.renew and CAPABILITIES.revoke and CAPABILITIES.cancel
    assert DigiCertProvider.capabilities is CAPABILITIES and DigiCertProvider.name == "digicert"


def test_order_body() -> None:
    call = build_order_body(request(auto_renew=True), 123)
    assert call.path == "order/certificate/ssl"
    assert call.body == {
        "certificate": {"common_name": "www.example.com", "dns_names": ["example.com"],
                        "csr": "-----BEGIN CERTIFICATE REQUEST-----\n...", "signature_hash": "sha256",
                        "server_platform": {"id": -1}, "cert_validity": {"days": 190}},
        "order_validity": {"years": 1},
        "product": {"type_hint": "ov"},
        "dcv_method": "dns-txt-token",
        "organization": {"id": 123},
        "alternative_order_id": "crtz5f0123456789abcdef0123456789abcdef",
        "skip_approval": True,
        "auto_renew": 1,
    }


@pytest.mark.parametrize(("dcv", "expected"), [("dns", "dns-txt-token"), ("file", "http-token"),
                                               ("email", "email"), (None, "dns-txt-token")])
def test_dcv_method_mapping(dcv: str | None, expected: str) -> None:
    assert build_order_body(request(dcv_method=dcv), 1).body["dcv_method"] == expected


@pytest.mark.parametrize("product", ["ov", "ev"])
def test_ov_and_ev_map_to_type_hints(product: str) -> None:
    call = build_order_body(request(product=product), 1)
    assert call.path == "order/certificate/ssl" and call.body["product"] == {"type_hint": product}
    assert "ca_cert_id" not in call.body["certificate"]


def test_dv_is_ordered_on_its_product_endpoint() -> None:
    # "Order DV SSL": no type_hint; the wildcard product for a wildcard common name.
    call = build_order_body(request(product="dv"), None)
    assert call.path == "order/certificate/ssl_dv_geotrust"
    assert "product" not in call.body and "organization" not in call.body
    wildcard = build_order_body(request(product="dv", common_name="*.example.com",
                                        sans=(San("dns", "*.example.com"),)), 5)
    assert wildcard.path == "order/certificate/wildcard_dv_geotrust" and wildcard.body["organization"] == {"id": 5}


def test_private_sends_the_issuing_ca() -> None:
    from_option = build_order_body(request(product="private", options={"ca_cert_id": "ABC123"}), 1,
                                   default_ca_cert_id="DEF456")
    assert from_option.body["product"] == {"type_hint": "private"}
    assert from_option.body["certificate"]["ca_cert_id"] == "ABC123"
    from_secret = build_order_body(request(product="private"), 1, default_ca_cert_id="DEF456")
    assert from_secret.body["certificate"]["ca_cert_id"] == "DEF456"
    with pytest.raises(ProviderRejected) as caught:
        build_order_body(request(product="private"), 1)
    assert [f.field for f in caught.value.field_errors] == ["provider_options.ca_cert_id"]


def test_validity_is_a_plan_and_a_certificate() -> None:
    plan = build_order_body(request(options={"order_validity_years": 3}), 1).body
    assert plan["order_validity"] == {"years": 3} and plan["certificate"]["cert_validity"] == {"days": 190}
    unset = build_order_body(request(validity_days=None), 1).body
    assert unset["order_validity"] == {"years": 1} and "cert_validity" not in unset["certificate"]
    for years in (0, 4, "2", True):
        with pytest.raises(ProviderRejected) as caught:
            build_order_body(request(options={"order_validity_years": years}), 1)
        assert [f.field for f in caught.value.field_errors] == ["provider_options.order_validity_years"]


def test_options_and_defaults() -> None:
    call = build_order_body(request(validity_days=None, options={"skip_approval": False, "signature_hash": "sha384"}),
                            7, renewal_of=1000001)
    body = call.body
    assert body["skip_approval"] is False and body["certificate"]["signature_hash"] == "sha384"
    assert body["auto_renew"] == 0 and body["renewal_of_order_id"] == 1000001
    assert body["alternative_order_id"] == "crtz5f0123456789abcdef0123456789abcdefz2erenewz2e1000001"
    assert client_reference_of(call.alternative_order_id) == "crt_0123456789abcdef0123456789abcdef.renew.1000001"
    reissue = build_reissue_body(request())
    assert set(reissue) == {"certificate", "skip_approval", "comments"} and "cert_validity" not in reissue["certificate"]


@pytest.mark.parametrize(("over", "fields"), [
    ({"product": "grid"}, ["product"]),
    ({"dcv_method": "carrier-pigeon"}, ["dcv_method"]),
    ({"validity_days": 200}, ["validity_days"]),
    ({"csr_pem": None}, ["csr"]),
    ({"sans": (San("ip", "10.0.0.1"),)}, ["sans"]),
    ({"product": "grid", "validity_days": 0}, ["product", "validity_days"]),
])
def test_requests_digicert_cannot_take_are_refused_before_any_call(over: dict[str, Any], fields: list[str]) -> None:
    with pytest.raises(ProviderRejected) as caught:
        build_order_body(request(**over), 1)
    assert [f.field for f in caught.value.field_errors] == fields


def test_error_parsing() -> None:
    auth = error_from_response(response(401, digicert_errors(("invalid_api_key", "bad key"))))
    assert isinstance(auth, AuthenticationFailed) and auth.provider_code == "invalid_api_key"
    assert isinstance(error_from_response(response(403, digicert_errors(("access_denied", "no")))),
                      AuthenticationFailed)
    assert isinstance(error_from_response(response(404, digicert_errors(("not_found", "Order not found.")))),
                      ProviderNotFound)
    dup = error_from_response(response(409, digicert_errors(("duplicate_alternative_order_id", "taken"))))
    assert isinstance(dup, ProviderConflict) and dup.provider_code == "duplicate_alternative_order_id"
    state = error_from_response(response(400, digicert_errors(("invalid_order_status", "issued"))))
    assert isinstance(state, ProviderConflict)
    limited = error_from_response(response(429, digicert_errors(("request_limit_exceeded", "slow")),
                                           {"Retry-After": "7"}))
    assert isinstance(limited, RateLimited) and limited.retry_after == 7.0
    down = error_from_response(response(503, b"<html>maintenance</html>", {"Retry-After": "3"}))
    assert isinstance(down, ProviderUnavailable) and down.retry_after == 3.0 and down.retryable
    assert isinstance(error_from_response(response(400, b"<html>")), ProviderProtocolError)
    assert isinstance(error_from_response(response(400, {"unexpected": 1})), ProviderProtocolError)
    assert isinstance(error_from_response(response(404, b"")), ProviderProtocolError)  # a wrong base_url, not an order
    assert isinstance(error_from_response(response(418, digicert_errors(("teapot", "x")))), ProviderProtocolError)


def test_validation_errors_name_our_fields() -> None:
    err = error_from_response(response(400, digicert_errors(
        ("invalid_csr", "bad csr"), ("invalid_param:certificate.dns_names", "bad name"),
        ("ambiguous_product", "?"), ("invalid_dcv_method", "?"), ("required_param:order_validity", "?"),
        ("invalid_param:certificate.cert_validity.days", "?"), ("invalid_param:organization.id", "?"),
        ("something_new", "?"), ("invalid_param:brand_new.field", "?"))))
    assert isinstance(err, ProviderRejected) and err.provider_code == "invalid_csr"
    assert [f.field for f in err.field_errors] == [
        "csr", "sans", "product", "dcv_method", "provider_options.order_validity_years", "validity_days",
    "organization.digicert_org_id",
        "request", "brand_new.field"]
    assert err.message.startswith("bad csr; bad name")


def test_error_messages_never_carry_the_api_key() -> None:
    err = error_from_response(response(400, digicert_errors(("x", f"key {API_KEY} is odd"))))
    assert API_KEY not in str(err) and REDACTED in str(err)


def test_constructor_needs_credentials_and_does_no_io() -> None:
    with pytest.raises(ProviderNotConfigured) as caught:
        DigiCertProvider({"base_url": "http://127.0.0.1:1/services/v2", "api_key": ""})
    assert "api_key" in str(caught.value)
    provider = DigiCertProvider({"base_url": "http://127.0.0.1:1/services/v2", "api_key": "s3cret"})
    assert provider.http._session is None and provider.http.calls == 0
    assert "s3cret" not in repr(provider)


def test_order_from_create_follows_the_request_status() -> None:
    req = request()
    approved = order_from_create({"id": 5, "requests": [{"id": 9, "status": "approved"}], "certificate_id": 11},
                                 req, "alt")
    assert (approved.status, approved.raw_status, approved.certificate_id) == (Status.PENDING, "pending", "11")
    assert approved.request_id == "9" and approved.sans == ("www.example.com", "example.com")
    waiting = order_from_create({"id": 5, "requests": [{"id": 9, "status": "submitted"}]}, req, "alt")
    assert waiting.raw_status == "needs_approval" and waiting.certificate_id is None
    with pytest.raises(ProviderProtocolError) as caught:
        order_from_create({"oops": True}, req, "alt")
    assert caught.value.outcome_unknown


def test_order_from_info() -> None:
    item = {"id": 1000001, "status": "rejected", "alternative_order_id": "crt_x",
            "certificate": {"id": 2000001, "common_name": "a.example.com", "dns_names": ["a.example.com", "b.example.com"],
                            "serial_number": "00AB12", "valid_from": "2024-01-02", "valid_till": "2025-02-03"},
            "product": {"name_id": "ssl_ev_basic"},
            "requests": [{"id": 3, "status": "rejected", "processor_comment": "domain not ours"}]}
    order = order_from_info(item)
    assert order.status is Status.FAILED and order.failure_reason == "domain not ours"
    assert order.provider_order_id == "1000001" and order.certificate_id == "2000001"
    assert order.serial == "ab12" and order.product == "ev" and order.request_id == "3"
    assert order.not_before == dt.datetime(2024, 1, 2, tzinfo=dt.UTC)
    assert order.not_after == dt.datetime(2025, 2, 3, tzinfo=dt.UTC)
    assert order.sans == ("a.example.com", "b.example.com") and order.client_reference == "crt_x"
    bare = order_from_info({"id": 7, "status": "rejected"})
    assert bare.failure_reason == "rejected by DigiCert" and bare.common_name is None and bare.product is None


def test_material_comes_from_the_certificate_itself() -> None:
    ca = SimCA("unit")
    issued = ca.issue(generate_key("ec").public_key(), "c.example.com", [("dns", "c.example.com"),
                                                                         ("dns", "d.example.com")], days=30)
    material = material_from_bundle(issued.pem + ca.chain_pem)
    assert material.certificate_pem == issued.pem and material.chain_pem == ca.chain_pem
    order = order_from_info({"id": 1, "status": "issued", "certificate": {"id": 2, "serial_number": "FF",
                                                                          "valid_till": "1999-01-01"}}, material)
    assert order.serial == issued.serial_hex and order.not_after == issued.cert.not_valid_after_utc
    assert order.sans == ("c.example.com", "d.example.com") and order.material == material
    with pytest.raises(ProviderProtocolError):
        material_from_bundle("<html>nope</html>")
    with pytest.raises(ProviderProtocolError):
        material_from_bundle("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")


def _info(method: str, **extra: Any) -> dict[str, Any]:
    return {"id": 1, "status": "pending", "dcv_method": method,
            "domains": [{"id": 1, "name": "*.example.com", "dcv_status": "pending"},
                        {"id": 2, "name": "example.com", "dcv_status": "complete"}], **extra}


def test_dcv_details_per_method() -> None:
    # The value comes from PUT .../dcv-random-value, never from order info (no dcv_token there).
    txt = dcv_details(_info("dns-txt-token", dcv_token={"token": "not-this"}), "t0k")
    assert [(d.domain, d.method, d.state, d.dns_record_name, d.dns_record_type, d.dns_value) for d in txt] == [
        ("*.example.com", "dns", "pending", "_dnsauth.example.com", "TXT", "t0k"),
        ("example.com", "dns", "valid", "_dnsauth.example.com", "TXT", "t0k")]
    cname = dcv_details(_info("dns-cname-token"), "t0k")[1]
    assert (cname.dns_record_name, cname.dns_record_type, cname.dns_value) == ("t0k.example.com", "CNAME",
                                                                               "dcv.digicert.com")
    http = dcv_details(_info("http-token"), "t0k")[0]
    assert (http.method, http.file_path, http.file_content) == ("file", "/.well-known/pki-validation/fileauth.txt",
                                                                "t0k")
    email_info = _info("email", status="rejected")
    email_info["domains"][0]["dcv_emails"] = ["admin@example.com"]
    email = dcv_details(email_info, None)
    assert (email[0].method, email[0].state, email[0].emails) == ("email", "failed", ("admin@example.com",))
    fallback = dcv_details({"id": 1, "status": "pending", "dcv_method": "email",
                            "certificate": {"common_name": "x.example.com", "dns_names": ["y.example.com"]}}, None)
    assert [d.domain for d in fallback] == ["x.example.com", "y.example.com"]
    # An issued order's names passed DCV, whether or not order info lists a per-domain status.
    issued = dcv_details({"id": 1, "status": "issued", "dcv_method": "dns-txt-token",
                          "certificate": {"common_name": "x.example.com", "dns_names": ["x.example.com"]}}, None)
    assert [(d.domain, d.state) for d in issued] == [("x.example.com", "valid")]


# == against the simulator =====================================================================
@pytest.fixture(scope="module")
def server() -> Iterator[SimServer]:
    with SimServer(DigiCertSim()) as srv:
        yield srv


@pytest.fixture
def url(server: SimServer) -> str:
    requests.post(f"{server.url}/_sim/reset", timeout=5).raise_for_status()
    return server.url


@pytest.fixture
def provider(url: str) -> DigiCertProvider:
    p = make_provider(url)
    assert isinstance(p, DigiCertProvider)
    return p


@pytest.fixture
def own_sim() -> Iterator[Any]:
    started: list[SimServer] = []

    def make(**options: Any) -> str:
        srv = SimServer(DigiCertSim(**options)).start()
        started.append(srv)
        return srv.url

    yield make
    for srv in started:
        srv.stop()


def sim_orders(url: str) -> list[dict[str, Any]]:
    return requests.get(f"{url}/_sim/orders", timeout=5).json()


def set_faults(url: str, **faults: Any) -> None:
    requests.put(f"{url}/_sim/faults", json=faults, timeout=5).raise_for_status()


CREATE_PATH = ["/services/v2/order/certificate/ssl"]


PRIVATE_CA = getattr(defaults, "DIGICERT_PRIVATE_CA_CERT_ID", "7D2A5B1C9E3F4A60")


def recorded(provider: DigiCertProvider) -> list[dict[str, Any]]:
    """What the adapter sends from now on (method, path, JSON body), recorded on its own session."""
    sent: list[dict[str, Any]] = []

    def keep(resp: requests.Response, *args: Any, **kwargs: Any) -> None:
        body = resp.request.body
        sent.append({"method": resp.request.method, "path": urllib.parse.urlsplit(resp.request.url or "").path,
                     "json": json.loads(body) if body else None})

    provider.http.session.hooks["response"] = [keep]
    return sent


def paths(sent: list[dict[str, Any]]) -> list[str]:
    return [r["path"] for r in sent]


def decide(url: str, request_id: str, status: str, comment: str | None = None) -> None:
    """The account administrator approves or rejects a request ("Update request status")."""
    body = {"status": status, **({"processor_comment": comment} if comment else {})}
    requests.put(f"{url}/services/v2/request/{request_id}/status", json=body, headers={"X-DC-DEVKEY": API_KEY},
                 timeout=5).raise_for_status()


def place_dcv(url: str, order_id: str) -> None:
    requests.put(f"{url}/_sim/orders/{order_id}/dcv", json={}, timeout=5).raise_for_status()


def test_order_lifecycle(provider: DigiCertProvider, url: str) -> None:
    req = dataclasses.replace(order_request("crt_life", "www.example.com"),
                              sans=(San("dns", "www.example.com"), San("dns", "example.com")),
                              csr_pem=csr_for("www.example.com", ["www.example.com", "example.com"]))
    placed = provider.submit_order(req)
    assert placed.status is Status.PENDING and placed.client_reference == "crt_life"
    assert placed.certificate_id is not None  # skip_approval by default
    pending = provider.get_order(placed.provider_order_id)
    assert pending.status is Status.PENDING and pending.material is None and pending.raw_status == "pending"
    complete(url)
    issued = provider.get_order(placed.provider_order_id)
    assert issued.status is Status.ISSUED and issued.material is not None
    leaf = x509.load_pem_x509_certificate(issued.material.certificate_pem.encode())
    assert issued.serial == format(leaf.serial_number, "x") and issued.not_after == leaf.not_valid_after_utc
    assert issued.sans == ("www.example.com", "example.com")
    chain = x509.load_pem_x509_certificate(issued.material.chain_pem.encode())
    leaf.verify_directly_issued_by(chain)
    assert issued.material.chain_pem.count("BEGIN CERTIFICATE") == 1  # no leaf, no root
    light = provider.get_order(placed.provider_order_id, with_material=False)
    assert light.material is None and light.serial == issued.serial


def test_a_provider_that_needs_approval_stays_pending(own_sim: Any) -> None:
    base = own_sim(approval="two-step")
    provider = make_provider(base)
    req = dataclasses.replace(order_request("crt_appr", "appr.example.com"), options={"skip_approval": False})
    placed = provider.submit_order(req)
    assert (placed.status, placed.raw_status, placed.certificate_id) == (Status.PENDING, "needs_approval", None)
    assert provider.get_order(placed.provider_order_id).raw_status == "needs_approval"


def test_failed_order_carries_the_reason(provider: DigiCertProvider, url: str) -> None:
    placed = provider.submit_order(order_request("crt_rej", "reject.example.com"))
    complete(url)
    failed = provider.get_order(placed.provider_order_id)
    assert failed.status is Status.FAILED and "validation failed" in (failed.failure_reason or "")


def test_find_order_uses_the_alternate_lookup(provider: DigiCertProvider, url: str) -> None:
    req = order_request("crt_find", "find.example.com")
    assert provider.find_order(req) is None
    provider.submit_order(order_request("crt_other", "find.example.com"))
    placed = provider.submit_order(req)
    sent = recorded(provider)
    found = provider.find_order(req)
    assert found is not None and found.provider_order_id == placed.provider_order_id
    assert found.client_reference == "crt_find"
    # "Get orders by alternative order ID", then the order's info: never the order list.
    assert paths(sent) == [f"/services/v2/order/alternate/{alternative_order_id('crt_find')}",
                                    f"/services/v2/order/certificate/{placed.provider_order_id}"]
    assert provider.find_order(order_request("crt_nope", "find.example.com")) is None
    assert sim_orders(url)[1]["client_reference"] == alternative_order_id("crt_find")


def test_list_certificates_pages_with_an_opaque_token(provider: DigiCertProvider, url: str) -> None:
    requests.post(f"{url}/_sim/seed", json={"count": 205}, timeout=60).raise_for_status()
    seen: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        page = provider.list_certificates(page_token=token)
        pages += 1
        seen += [o.provider_order_id for o in page.items]
        assert all(o.status is Status.ISSUED and o.serial and o.not_after for o in page.items)
        token = page.next_token
        if token is None:
            break
    assert pages == 3 and len(seen) == len(set(seen)) == 205
    with pytest.raises(ProviderRejected):
        provider.list_certificates(page_token="not-a-token")


def test_list_certificates_filters(provider: DigiCertProvider, url: str) -> None:
    requests.post(f"{url}/_sim/seed", json={"count": 3}, timeout=30).raise_for_status()
    requests.post(f"{url}/_sim/seed", json={"count": 2, "status": "expired"}, timeout=30).raise_for_status()
    target = provider.list_certificates({"limit": 1}).items[0]
    assert provider.list_certificates({"limit": 1}).next_token == "1"
    assert [o.provider_order_id for o in provider.list_certificates({"serial": target.serial}).items] == [
        target.provider_order_id]
    assert [o.provider_order_id for o in provider.list_certificates({"common_name": target.common_name}).items] == [
        target.provider_order_id]
    assert len(provider.list_certificates({"status": "expired"}).items) == 2
    pending = provider.submit_order(order_request("crt_p2", "p2.example.com"))
    assert [o.provider_order_id for o in provider.list_certificates({"status": "pending"}).items][-1] == \
        pending.provider_order_id
    with pytest.raises(ProviderRejected):
        provider.list_certificates({"status": "sleeping"})


def test_downloads(provider: DigiCertProvider, url: str) -> None:
    placed = provider.submit_order(order_request("crt_dl", "dl.example.com"))
    with pytest.raises(ProviderConflict):
        provider.download(placed.provider_order_id, "pem")
    complete(url)
    issued = provider.get_order(placed.provider_order_id)
    assert issued.material is not None
    assert provider.download(placed.provider_order_id, "pem").decode() == issued.material.certificate_pem
    assert provider.download(placed.provider_order_id, "chain").decode() == issued.material.chain_pem
    fullchain = provider.download(placed.provider_order_id, "fullchain").decode()
    assert fullchain == issued.material.certificate_pem + issued.material.chain_pem
    der = x509.load_der_x509_certificate(provider.download(placed.provider_order_id, "der"))
    assert format(der.serial_number, "x") == issued.serial
    assert len(pkcs7.load_der_pkcs7_certificates(provider.download(placed.provider_order_id, "pkcs7"))) == 2
    with pytest.raises(UnsupportedOperation):
        provider.download(placed.provider_order_id, "zip")


def test_reissue(provider: DigiCertProvider, url: str) -> None:
    req = order_request("crt_re", "re.example.com")
    placed = provider.submit_order(req)
    complete(url)
    before = provider.get_order(placed.provider_order_id)
    new_req = dataclasses.replace(req, sans=(San("dns", "re.example.com"), San("dns", "api.example.com")),
                                  csr_pem=csr_for("re.example.com"))
    reissued = provider.reissue(placed.provider_order_id, new_req)
    assert reissued.status is Status.PENDING and reissued.raw_status == "reissue_pending"
    assert reissued.certificate_id != before.certificate_id and reissued.material is None
    complete(url)
    after = provider.get_order(placed.provider_order_id)
    assert after.status is Status.ISSUED and after.certificate_id == reissued.certificate_id
    assert after.serial != before.serial and after.sans == ("re.example.com", "api.example.com")
    pending = provider.submit_order(order_request("crt_re2", "re2.example.com"))
    with pytest.raises(ProviderConflict):
        provider.reissue(pending.provider_order_id, req)


def test_renew_places_a_linked_order_once(provider: DigiCertProvider, url: str) -> None:
    req = order_request("crt_ren", "ren.example.com")
    placed = provider.submit_order(req)
    complete(url)
    renewed = provider.renew(placed.provider_order_id, req)
    assert renewed.provider_order_id != placed.provider_order_id and renewed.status is Status.PENDING
    assert renewed.client_reference == f"crt_ren.renew.{placed.provider_order_id}"
    again = provider.renew(placed.provider_order_id, req)  # the same renewal: adopted, not bought twice
    assert again.provider_order_id == renewed.provider_order_id
    assert len(sim_orders(url)) == 2
    renewal_req = dataclasses.replace(req, options={"renewal_of_order_id": placed.provider_order_id})
    found = provider.find_order(renewal_req)
    assert found is not None and found.provider_order_id == renewed.provider_order_id


def issued_order(provider: DigiCertProvider, url: str, ref: str, cn: str) -> str:
    placed = provider.submit_order(order_request(ref, cn))
    complete(url)
    return placed.provider_order_id


def test_revoke_with_an_admin_key_is_done_at_once(provider: DigiCertProvider, url: str) -> None:
    placed = provider.submit_order(order_request("crt_rev", "rev.example.com"))
    with pytest.raises(ProviderConflict):
        provider.revoke(placed.provider_order_id)
    complete(url)
    with pytest.raises(ProviderRejected):
        provider.revoke(placed.provider_order_id, "bored")
    sent = recorded(provider)
    revoked = provider.revoke(placed.provider_order_id, "key_compromise")
    assert revoked.status is Status.REVOKED and not revoked.revocation_pending
    put = sent[-1]
    assert put["path"] == f"/services/v2/certificate/{revoked.certificate_id}/revoke"  # per certificate
    assert put["json"] == {"revocation_reason": "key_compromise", "comments": "revoked through certgate",
                            "skip_approval": True}
    # Revoking the only certificate leaves the order issued ("Revoke certificate"); asking again
    # is refused by DigiCert and read as done.
    assert provider.revoke(placed.provider_order_id).status is Status.REVOKED


@pytest.mark.parametrize("reason", sorted(REVOCATION_REASONS))
def test_every_reason_is_a_word_digicert_takes(provider: DigiCertProvider, url: str, reason: str) -> None:
    order_id = issued_order(provider, url, f"crt_why{len(reason)}", f"why{len(reason)}.example.com")
    assert provider.revoke(order_id, reason).status is Status.REVOKED


def test_revoke_without_an_admin_key_is_a_request_followed_to_its_outcome(url: str) -> None:
    admin = make_provider(url)
    user = DigiCertProvider(credentials(url, admin_key=False), HttpSettings(backoff_base=0.01))
    approved_id = issued_order(admin, url, "crt_rq1", "rq1.example.com")
    rejected_id = issued_order(admin, url, "crt_rq2", "rq2.example.com")
    waiting = user.revoke(approved_id, "superseded")
    assert waiting.status is Status.ISSUED and waiting.revocation_pending and waiting.revocation_request_id
    assert user.revocation_outcome(approved_id, waiting.revocation_request_id).revocation_pending
    decide(url, waiting.revocation_request_id, "approved")
    done = user.revocation_outcome(approved_id, waiting.revocation_request_id)
    assert done.status is Status.REVOKED and not done.revocation_pending
    refused = user.revoke(rejected_id)
    assert refused.revocation_request_id is not None
    decide(url, refused.revocation_request_id, "rejected", "keep it, it is in use")
    outcome = user.revocation_outcome(rejected_id, refused.revocation_request_id)
    assert outcome.status is Status.ISSUED and not outcome.revocation_pending
    assert outcome.failure_reason == "keep it, it is in use"


def test_a_certificate_with_a_pending_reissue_cannot_be_revoked(provider: DigiCertProvider, url: str) -> None:
    order_id = issued_order(provider, url, "crt_rvr", "rvr.example.com")
    req = dataclasses.replace(order_request("crt_rvr", "rvr.example.com"), options={"skip_approval": False})
    provider.reissue(order_id, req)
    sent = recorded(provider)
    with pytest.raises(ProviderConflict) as caught:
        provider.revoke(order_id)
    assert caught.value.provider_code == "reissue_pending"
    assert not [r for r in sent if r["method"] == "PUT"]  # refused before asking


def test_cancel_follows_update_order_status(provider: DigiCertProvider, url: str) -> None:
    placed = provider.submit_order(order_request("crt_can", "can.example.com"))
    sent = recorded(provider)
    cancelled = provider.cancel(placed.provider_order_id)
    assert cancelled.status is Status.CANCELLED and cancelled.raw_status == "canceled"
    put = [r for r in sent if r["method"] == "PUT"]
    assert [(r["path"], r["json"]["status"]) for r in put] == [
        (f"/services/v2/order/certificate/{placed.provider_order_id}/status", "canceled")]
    assert provider.cancel(placed.provider_order_id).status is Status.CANCELLED
    issued_id = issued_order(provider, url, "crt_can2", "can2.example.com")
    with pytest.raises(ProviderConflict):
        provider.cancel(issued_id)
    with pytest.raises(ProviderNotFound):
        provider.cancel("999")


def test_cancel_of_a_reissue_reverts_to_the_issued_certificate(provider: DigiCertProvider, url: str) -> None:
    order_id = issued_order(provider, url, "crt_cr", "cr.example.com")
    before = provider.get_order(order_id)
    provider.reissue(order_id, dataclasses.replace(order_request("crt_cr", "cr.example.com"),
                                                   options={"skip_approval": False}))
    back = provider.cancel(order_id)
    assert back.status is Status.ISSUED and back.serial == before.serial and back.material is not None


def test_cancel_awaiting_approval_is_refused_by_the_documented_rule(own_sim: Any) -> None:
    base = own_sim()
    provider = make_provider(base)
    placed = provider.submit_order(dataclasses.replace(order_request("crt_na", "na.example.com"),
                                                       options={"skip_approval": False}))
    assert placed.raw_status == "needs_approval"
    with pytest.raises(ProviderConflict) as caught:
        provider.cancel(placed.provider_order_id)
    assert caught.value.provider_code == "needs_approval"


def test_dcv_uses_the_documented_endpoints(provider: DigiCertProvider, url: str) -> None:
    placed = provider.submit_order(order_request("crt_dcv", "dcv.example.com"))
    sent = recorded(provider)
    details = provider.validation(placed.provider_order_id)
    assert [(d.domain, d.method, d.state, d.dns_record_type) for d in details] == [
        ("dcv.example.com", "dns", "pending", "TXT")]
    assert details[0].dns_value
    assert f"/services/v2/order/certificate/{placed.provider_order_id}/dcv-random-value" in paths(sent)
    switched = provider.retry_validation(placed.provider_order_id, method="file")  # no file yet: still pending
    assert switched[0].method == "file" and switched[0].state == "pending" and switched[0].file_content
    assert f"/services/v2/order/certificate/{placed.provider_order_id}/dcv-method" in paths(sent)
    assert f"/services/v2/order/certificate/{placed.provider_order_id}/check-dcv" in paths(sent)
    assert not any(p.endswith("/change-dcv") for p in paths(sent))
    sent.clear()
    same = provider.retry_validation(placed.provider_order_id, method="file")
    assert same[0].file_content == switched[0].file_content
    assert not any(p.endswith("/dcv-method") for p in paths(sent))  # already the method
    with pytest.raises(ProviderRejected):
        provider.retry_validation(placed.provider_order_id, method="fax")
    place_dcv(url, placed.provider_order_id)
    provider.retry_validation(placed.provider_order_id)
    complete(url)
    assert provider.get_order(placed.provider_order_id).status is Status.ISSUED


def test_dv_and_private_products(provider: DigiCertProvider, url: str) -> None:
    dv = provider.submit_order(dataclasses.replace(order_request("crt_dv", "dv.example.com"), product="dv"))
    wild = provider.submit_order(dataclasses.replace(order_request("crt_wdv", "*.wdv.example.com"), product="dv",
                                                     sans=(San("dns", "*.wdv.example.com"),),
                                                     csr_pem=csr_for("*.wdv.example.com")))
    by_id = {o["id"]: o for o in sim_orders(url)}
    assert by_id[int(dv.provider_order_id)]["product"] == "ssl_dv_geotrust"
    assert by_id[int(wild.provider_order_id)]["product"] == "wildcard_dv_geotrust"
    assert provider.get_order(dv.provider_order_id).product == "dv"
    private = dataclasses.replace(order_request("crt_prv", "prv.internal.example.com"), product="private",
                                  options={"ca_cert_id": PRIVATE_CA})
    placed = provider.submit_order(private)
    assert provider.get_order(placed.provider_order_id).product == "private"
    calls = provider.http.calls
    with pytest.raises(ProviderRejected) as caught:
        provider.submit_order(dataclasses.replace(private, client_reference="crt_prv2", options={}))
    assert [f.field for f in caught.value.field_errors] == ["provider_options.ca_cert_id"]
    assert provider.http.calls == calls  # refused before any call


def test_validity_plan_and_certificate_days(provider: DigiCertProvider, url: str) -> None:
    req = dataclasses.replace(order_request("crt_val", "val.example.com"), validity_days=90,
                              options={"order_validity_years": 2})
    placed = provider.submit_order(req)
    complete(url)
    issued = provider.get_order(placed.provider_order_id)
    assert issued.not_before is not None and issued.not_after is not None
    assert (issued.not_after - issued.not_before).days in (89, 90)
    info = requests.get(f"{url}/services/v2/order/certificate/{placed.provider_order_id}",
                        headers={"X-DC-DEVKEY": API_KEY}, timeout=5).json()
    assert info["order_validity"] == {"years": 2}


def test_an_unknown_status_is_reported_unrecognized(provider: DigiCertProvider, url: str) -> None:
    placed = provider.submit_order(order_request("crt_odd", "odd.example.com"))
    requests.put(f"{url}/_sim/orders/{placed.provider_order_id}/status", json={"status": "on_hold_forever"},
                 timeout=5).raise_for_status()
    odd = provider.get_order(placed.provider_order_id)
    assert odd.raw_status == "on_hold_forever" and not odd.status_recognized and odd.status is Status.PENDING
    requests.put(f"{url}/_sim/orders/{placed.provider_order_id}/status", json={"status": "waiting_pickup"},
                 timeout=5).raise_for_status()
    assert provider.get_order(placed.provider_order_id).status_recognized


def test_error_classes_over_http(url: str, provider: DigiCertProvider) -> None:
    wrong = DigiCertProvider({**credentials(url), "api_key": "wrong-key"}, HttpSettings(backoff_base=0.01))
    with pytest.raises(AuthenticationFailed) as caught:
        wrong.get_order("1")
    assert "wrong-key" not in str(caught.value)
    with pytest.raises(ProviderNotFound):
        provider.get_order("1")
    with pytest.raises(ProviderNotFound):
        provider.get_order("../x")
    bad_csr = dataclasses.replace(order_request("crt_bad", "bad.example.com"), csr_pem="garbage")
    with pytest.raises(ProviderRejected) as rejected:
        provider.submit_order(bad_csr)
    assert [f.field for f in rejected.value.field_errors] == ["csr"]
    no_org = dataclasses.replace(order_request("crt_org", "org.example.com"), options={"organization_id": 999})
    with pytest.raises(ProviderRejected) as org:
        provider.submit_order(no_org)
    assert [f.field for f in org.value.field_errors] == ["organization.digicert_org_id"]
    assert sim_orders(url) == []


def test_submitting_the_same_reference_twice_adopts_the_first_order(provider: DigiCertProvider, url: str) -> None:
    req = order_request("crt_twice", "twice.example.com")
    first = provider.submit_order(req)
    second = provider.submit_order(req)
    assert second.provider_order_id == first.provider_order_id
    assert [o["client_reference"] for o in sim_orders(url)] == [alternative_order_id("crt_twice")]


# -- faults -------------------------------------------------------------------------------------
def test_5xx_on_reads_is_retried_then_unavailable(provider: DigiCertProvider, url: str) -> None:
    placed = provider.submit_order(order_request("crt_5xx", "f.example.com"))
    set_faults(url, error_rate=1, error_status=503, max_faults=1)
    assert provider.get_order(placed.provider_order_id).status is Status.PENDING  # second attempt succeeds
    set_faults(url, error_rate=1, error_status=502)
    calls = provider.http.calls
    with pytest.raises(ProviderUnavailable) as caught:
        provider.get_order(placed.provider_order_id)
    assert provider.http.calls - calls == 3 and caught.value.retryable


def test_a_429_on_a_create_is_rate_limited_and_not_repeated(provider: DigiCertProvider, url: str) -> None:
    set_faults(url, rate_limit_per_s=1, paths=CREATE_PATH)
    provider.submit_order(order_request("crt_rl1", "rl.example.com"))
    with pytest.raises(RateLimited) as caught:
        provider.submit_order(order_request("crt_rl2", "rl.example.com"))
    # "Rate limits": request_limit_exceeded, no Retry-After; a refused create placed nothing.
    assert caught.value.provider_code == "request_limit_exceeded" and caught.value.retry_after is None
    assert not caught.value.outcome_unknown
    assert [o["client_reference"] for o in sim_orders(url)] == [alternative_order_id("crt_rl1")]


def test_a_429_without_retry_after_is_retried_on_our_schedule(own_sim: Any) -> None:
    provider = DigiCertProvider(credentials(own_sim(rate_limits=((2, 5.0),))),
                                HttpSettings(backoff_base=0.0, rate_limit_backoff_base=0.05, max_attempts=3))
    provider.list_certificates()
    provider.list_certificates()
    calls = provider.http.calls
    with pytest.raises(RateLimited) as caught:
        provider.list_certificates()
    assert caught.value.provider_code == "request_limit_exceeded" and caught.value.retry_after is None
    assert provider.http.calls - calls == 3  # a safe call: tried max_attempts times, then typed


def test_the_client_side_limiter_keeps_a_poll_run_inside_the_limits(own_sim: Any) -> None:
    from chalicelib.providers.http import RateLimiter

    provider = DigiCertProvider(credentials(own_sim(rate_limits=((5, 1.0),))),
                                HttpSettings(backoff_base=0.0, max_attempts=1))
    provider.http.limiter = RateLimiter("digicert", ((5, 1.0),))  # the simulated account's limit, kept by us
    for _ in range(12):  # a poll run of twelve reads: none refused, none retried
        provider.list_certificates()
    assert provider.http.calls == 12


def test_latency_below_the_timeout_is_harmless(provider: DigiCertProvider, url: str) -> None:
    set_faults(url, latency_ms=200)
    assert provider.list_certificates().items == ()


def test_hang_becomes_a_timeout(own_sim: Any) -> None:
    base = own_sim()
    provider = DigiCertProvider(credentials(base), HttpSettings(read_timeout=0.3, backoff_base=0.01, max_attempts=1))
    set_faults(base, hang_s=0.8)
    with pytest.raises(ProviderTimeout):
        provider.list_certificates()
    time.sleep(0.6)


def test_malformed_answers(provider: DigiCertProvider, url: str) -> None:
    placed = provider.submit_order(order_request("crt_mal", "mal.example.com"))
    complete(url)
    set_faults(url, malformed_rate=1, max_faults=1)
    assert provider.get_order(placed.provider_order_id, with_material=False).status is Status.ISSUED  # asked again
    set_faults(url, malformed_rate=1)
    with pytest.raises(ProviderProtocolError):
        provider.get_order(placed.provider_order_id)
    set_faults(url, malformed_rate=1, paths=["/services/v2/certificate/"])
    with pytest.raises(ProviderProtocolError):
        provider.download(placed.provider_order_id, "der")


def test_submit_under_drop_after_commit_returns_the_committed_order(provider: DigiCertProvider, url: str) -> None:
    set_faults(url, drop_after_commit_rate=1, max_faults=1, paths=CREATE_PATH)
    placed = provider.submit_order(order_request("crt_drop", "drop.example.com"))
    orders = sim_orders(url)
    assert [(o["id"], o["client_reference"]) for o in orders] == [(int(placed.provider_order_id),
                                                                   alternative_order_id("crt_drop"))]
    assert placed.client_reference == "crt_drop" and placed.status is Status.PENDING


def test_submit_under_malformed_create_answer_adopts_the_order(provider: DigiCertProvider, url: str) -> None:
    set_faults(url, malformed_rate=1, max_faults=1, paths=CREATE_PATH)
    placed = provider.submit_order(order_request("crt_garbled", "garbled.example.com"))
    assert [o["id"] for o in sim_orders(url)] == [int(placed.provider_order_id)]


def test_submit_after_a_5xx_retries_once_when_nothing_was_committed(provider: DigiCertProvider, url: str) -> None:
    set_faults(url, error_rate=1, error_status=500, max_faults=1, paths=CREATE_PATH)
    placed = provider.submit_order(order_request("crt_retry", "retry.example.com"))
    assert [o["id"] for o in sim_orders(url)] == [int(placed.provider_order_id)]


def test_submit_gives_up_after_one_retry(provider: DigiCertProvider, url: str) -> None:
    set_faults(url, error_rate=1, error_status=500, paths=CREATE_PATH)
    calls = provider.http.calls
    with pytest.raises(ProviderUnavailable) as caught:
        provider.submit_order(order_request("crt_down", "down.example.com"))
    assert caught.value.outcome_unknown
    assert provider.http.calls - calls == 4  # create, lookup, create, lookup
    assert sim_orders(url) == []


def test_submit_when_the_lookup_fails_too_reports_outcome_unknown(provider: DigiCertProvider, url: str) -> None:
    set_faults(url, drop_after_commit_rate=1)
    with pytest.raises(ProviderUnavailable) as caught:
        provider.submit_order(order_request("crt_dark", "dark.example.com"))
    assert caught.value.outcome_unknown
    assert isinstance(caught.value.__cause__, ProviderUnavailable)  # the failed lookup
    assert [o["client_reference"] for o in sim_orders(url)] == [alternative_order_id("crt_dark")]  # reconcile adopts it


def test_submit_after_a_hang_never_duplicates(own_sim: Any) -> None:
    base = own_sim()
    provider = DigiCertProvider(credentials(base), HttpSettings(read_timeout=0.4, backoff_base=0.01))
    set_faults(base, hang_s=0.8, max_faults=1, paths=CREATE_PATH)
    placed = provider.submit_order(order_request("crt_hang", "hang.example.com"))
    time.sleep(0.8)  # the hung create wakes up, is refused as a duplicate alternative_order_id
    assert [(o["id"], o["client_reference"]) for o in sim_orders(base)] == [(int(placed.provider_order_id),
                                                                              alternative_order_id("crt_hang"))]


def test_without_unique_alternative_ids_a_timed_out_create_is_not_repeated(own_sim: Any) -> None:
    base = own_sim()
    provider = DigiCertProvider(credentials(base, unique_alternative_order_ids=False),
                                HttpSettings(read_timeout=0.4, backoff_base=0.01))
    set_faults(base, hang_s=0.8, max_faults=1, paths=CREATE_PATH)
    with pytest.raises(ProviderTimeout) as caught:
        provider.submit_order(order_request("crt_hang2", "hang2.example.com"))
    assert caught.value.outcome_unknown  # left to reconcile, which looks the order up again later
    time.sleep(0.8)
    assert [o["client_reference"] for o in sim_orders(base)] == [alternative_order_id("crt_hang2")]


def test_reissue_under_drop_after_commit_is_not_repeated(provider: DigiCertProvider, url: str) -> None:
    placed = provider.submit_order(order_request("crt_rd", "rd.example.com"))
    complete(url)
    set_faults(url, drop_after_commit_rate=1, max_faults=1,
               paths=[f"/services/v2/order/certificate/{placed.provider_order_id}/reissue"])
    reissued = provider.reissue(placed.provider_order_id, order_request("crt_rd", "rd.example.com"))
    assert reissued.raw_status == "reissue_pending"
    assert len(sim_orders(url)[0]["request_ids"]) == 2  # the new request and exactly one reissue


def test_material_type_is_the_shared_record(provider: DigiCertProvider, url: str) -> None:
    placed = provider.submit_order(order_request("crt_mat", "mat.example.com"))
    complete(url)
    assert isinstance(provider.get_order(placed.provider_order_id).material, CertificateMaterial)


def test_revoke_and_cancel_under_drop_after_commit_report_the_reached_state(provider: DigiCertProvider,
                                                                            url: str) -> None:
    revoked_one = provider.submit_order(order_request("crt_rvd", "rvd.example.com"))
    kept_one = provider.submit_order(order_request("crt_kpt", "kpt.example.com"))
    complete(url)
    pending_one = provider.submit_order(order_request("crt_cnd", "cnd.example.com"))
    set_faults(url, drop_after_commit_rate=1, max_faults=1, paths=["/services/v2/certificate/"])
    assert provider.revoke(revoked_one.provider_order_id, "superseded").status is Status.REVOKED
    cancel_path = f"/services/v2/order/certificate/{pending_one.provider_order_id}/status"
    set_faults(url, drop_after_commit_rate=1, max_faults=1, paths=[cancel_path])
    assert provider.cancel(pending_one.provider_order_id).status is Status.CANCELLED
    set_faults(url, error_rate=1, error_status=500, paths=["/services/v2/certificate/"])
    with pytest.raises(ProviderUnavailable):  # nothing was committed: the failure stands
        provider.revoke(kept_one.provider_order_id)
    assert provider.get_order(kept_one.provider_order_id, with_material=False).status is Status.ISSUED
