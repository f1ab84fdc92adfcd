"""ReselloProvider: pure parts (status map, request building, error parsing, tokens) without
network, then every method against the Resello simulator over real HTTP, fault modes mapped to
typed errors, and submit_order never duplicating an order."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import time
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.core.errors import (
    AuthenticationFailed,
    FieldError,
    ProviderConflict,
    ProviderError,
    ProviderNotConfigured,
    ProviderNotFound,
    ProviderProtocolError,
    ProviderRejected,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    UnsupportedOperation,
)
from chalicelib.core.model import Approver, Organization, San, Status
from chalicelib.core.provider import CertificateMaterial, OrderRequest, ProviderOrder
from chalicelib.providers.http import HttpSettings
from chalicelib.providers.resello import (
    CAPABILITIES,
    PER_PAGE,
    STATUS_MAP,
    Cursor,
    ReselloProvider,
    our_order_field,
    parse_time,
)
from chalicelib.x509.certificates import certificate_info
from simulators import defaults
from simulators.base import SimServer
from simulators.ca import SimCA, build_csr, generate_key
from simulators.resello import VARIANTS, ReselloSim

resello_status = ReselloProvider.status_of

PLANS = defaults.RESELLO_PLANS
FAST = HttpSettings(read_timeout=2.0, backoff_base=0.01, max_attempts=3)


def credentials(url: str = "http://127.0.0.1:9", **over: Any) -> dict[str, Any]:
    return {**defaults.secret_payloads()["resello"], "base_url": url, **over}


@pytest.fixture(scope="module")
def rsa_key() -> Any:
    return generate_key("rsa", 2048)


def csr_pem(key: Any, cn: str, *names: str) -> str:
    sans = [("dns", n) for n in (cn, *names)]
    return build_csr(key, cn, sans).public_bytes(serialization.Encoding.PEM).decode()


def order(key: Any, ref: str = "cert-1", cn: str = "www.example.com", **kw: Any) -> OrderRequest:
    return OrderRequest(client_reference=ref, common_name=cn, sans=(San("dns", cn),),
                        csr_pem=kw.pop("csr_pem", None) or csr_pem(key, cn), **kw)


def fake_response(status: int, body: Any = None, headers: dict[str, str] | None = None) -> requests.Response:
    resp = requests.Response()
    resp.status_code = status
    resp._content = body if isinstance(body, bytes) else json.dumps(body).encode() if body is not None else b""
    resp.headers.update(headers or {})
    return resp


# == pure ============================================================================================
@pytest.mark.parametrize(("raw", "expected"), [
    ("pending", Status.PENDING), ("active", Status.ISSUED), ("ACTIVE", Status.ISSUED),
    ("rejected", Status.FAILED), ("cancelled", Status.CANCELLED), ("deleted", Status.CANCELLED),
    ("expired", Status.EXPIRED),
])
def test_status_table(raw: str, expected: Status) -> None:
    assert resello_status(raw) is expected


@pytest.mark.parametrize("raw", ["provisioning", "", None])
def test_unknown_status_is_pending_and_logged(raw: str | None, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert resello_status(raw) is Status.PENDING
    assert any("unknown provider status" in r.getMessage() for r in caplog.records)


def test_every_simulator_status_is_in_the_table() -> None:
    from simulators.resello import STATUSES

    assert set(STATUSES) <= set(STATUS_MAP)


def test_capabilities() -> None:
    caps = CAPABILITIES.to_dict(dt.date(2026, 12, 3))
    assert caps["accepts_csr"] and not caps["generates_key"]
    assert caps["products"] == ["dv", "ov", "ev"] and caps["default_product"] == "dv"
    assert caps["dcv_methods"] == ["dns", "email", "file"] and caps["default_dcv_method"] == "dns"
    assert caps["max_validity_days"] == 200 and not caps["validity_selectable"]  # no validity field; SC-081
    assert caps["validity_schedules"]["dv"][-1] == {"from": "2029-03-15", "max_validity_days": 47}
    assert (caps["reissue"], caps["renew"], caps["cancel"], caps["revoke"], caps["authorities"]) == (
        True, True, True, False, False)
    assert ReselloProvider.capabilities is CAPABILITIES


def test_revoke_and_authorities_stay_unsupported() -> None:
    provider = ReselloProvider(credentials())
    with pytest.raises(UnsupportedOperation):
        provider.revoke("x")
    with pytest.raises(UnsupportedOperation):
        provider.list_authorities()
    assert provider.http.calls == 0


def test_dv_body_defaults_to_dns_and_the_dv_plan(rsa_key: Any) -> None:
    body = ReselloProvider(credentials()).order_body(order(rsa_key), with_plan=True)
    assert body["dcv_type"] == "DNS" and body["plan"] == PLANS["dv"] and body["client_reference"] == "cert-1"
    assert body["csr"].startswith("-----BEGIN CERTIFICATE REQUEST-----")
    assert set(body) == {"csr", "dcv_type", "plan", "client_reference"}


def test_ov_body_carries_organization_and_approver(rsa_key: Any) -> None:
    req = order(rsa_key, product="ov", dcv_method="email",
                organization=Organization(name="Example BV", chamber_of_commerce="12345678", unit="IT",
                                          address="Main 1", locality="Smallville", zip_code="1234"),
                approver=Approver(first_name="Jo", last_name="Doe", email="jo@example.com", phone="+31.6"))
    body = ReselloProvider(credentials()).order_body(req, with_plan=True)
    assert body["plan"] == PLANS["ov"] and body["dcv_type"] == "EMAIL"
    expected = {"company_name": "Example BV", "chamber_of_commerce": "12345678", "department": "IT",
                "address": "Main 1", "city": "Smallville", "zip_code": "1234", "approver_first_name": "Jo",
                "approver_last_name": "Doe", "approver_email_address": "jo@example.com",
                "approver_phone_number": "+31.6"}
    assert {k: body.get(k) for k in expected} == expected


def test_plan_override_and_reissue_without_plan(rsa_key: Any) -> None:
    provider = ReselloProvider(credentials())
    assert provider.order_body(order(rsa_key, options={"plan": "custom-plan"}), with_plan=True)["plan"] == "custom-plan"
    assert "plan" not in provider.order_body(order(rsa_key), with_plan=False)


def test_request_problems_are_raised_before_any_call(rsa_key: Any) -> None:
    provider = ReselloProvider(credentials(plans={"dv": PLANS["dv"]}))
    with pytest.raises(ProviderRejected) as no_csr:
        provider.submit_order(OrderRequest(client_reference="r", common_name="a.example.com"))
    assert no_csr.value.field_errors == [FieldError("csr", "required by Resello")]
    with pytest.raises(UnsupportedOperation):
        provider.submit_order(order(rsa_key, product="private"))
    with pytest.raises(ProviderNotConfigured):
        provider.submit_order(order(rsa_key, product="ev"))
    with pytest.raises(ProviderRejected) as bad_dcv:
        provider.submit_order(order(rsa_key, dcv_method="http"))
    assert bad_dcv.value.field_errors[0].field == "dcv_method"
    assert provider.http.calls == 0


def test_credentials_are_checked_and_never_echoed() -> None:
    with pytest.raises(ProviderNotConfigured) as exc:
        ReselloProvider({"base_url": "http://x", "api_username": "u", "api_key": ""})
    assert "api_key" in str(exc.value)
    provider = ReselloProvider(credentials())
    assert defaults.RESELLO_API_KEY not in repr(provider)


@pytest.mark.parametrize(("status", "body", "headers", "cls"), [
    (401, {"error": {"code": "unauthorized", "message": "invalid API key"}}, {}, AuthenticationFailed),
    (403, b"<html>forbidden</html>", {}, AuthenticationFailed),
    (404, {"error": {"code": "not_found", "message": "SSL certificate not found"}}, {}, ProviderNotFound),
    (409, {"error": {"code": "invalid_state", "message": "certificate is pending"}}, {}, ProviderConflict),
    (400, {"error": {"code": "bad_request", "message": "bad JSON"}}, {}, ProviderRejected),
    (429, {"error": {"code": "too_many_requests", "message": "slow down"}}, {"Retry-After": "12"}, RateLimited),
    (503, {"error": {"code": "service_unavailable", "message": "down"}}, {}, ProviderUnavailable),
    (502, b"<html>bad gateway</html>", {}, ProviderUnavailable),
    (404, b"<html>no such page</html>", {}, ProviderProtocolError),
    (418, {"error": {"code": "teapot", "message": "?"}}, {}, ProviderProtocolError),
    (400, {"unexpected": True}, {}, ProviderProtocolError),
])
def test_parse_error_maps_to_typed_errors(status: int, body: Any, headers: dict[str, str],
                                          cls: type[ProviderError]) -> None:
    err = ReselloProvider(credentials()).parse_error(fake_response(status, body, headers))
    assert type(err) is cls
    assert err.provider == "resello"
    if isinstance(err, RateLimited):
        assert err.retry_after == 12
    if isinstance(body, dict) and "error" in body and cls is not ProviderProtocolError:
        assert err.provider_code == body["error"]["code"]


def test_parse_error_422_lists_every_field_message() -> None:
    body = {"error": {"code": "validation_failed", "message": "invalid fields",
                      "fields": {"csr": ["too weak", "no CN"], "plan": "unknown plan"}}}
    err = ReselloProvider(credentials()).parse_error(fake_response(422, body))
    assert isinstance(err, ProviderRejected)
    assert err.field_errors == [FieldError("csr", "too weak"), FieldError("csr", "no CN"),
                                FieldError("plan", "unknown plan")]
    listed = {"error": {"code": "x", "message": "y", "fields": [{"field": "dcv_type", "message": "bad"}]}}
    assert ReselloProvider(credentials()).parse_error(fake_response(422, listed)).field_errors == [
        FieldError("dcv_type", "bad")]


def test_parse_error_never_repeats_the_api_key() -> None:
    key = defaults.RESELLO_API_KEY
    body = {"error": {"code": "unauthorized", "message": f"key {key} revoked", "fields": {"auth": [key]}}}
    for status in (401, 422):
        err = ReselloProvider(credentials()).parse_error(fake_response(status, body))
        assert key not in str(err) and key not in repr(getattr(err, "field_errors", ""))


def test_page_tokens() -> None:
    assert Cursor.decode(None) == Cursor() and Cursor.decode(Cursor(page=3).encode()) == Cursor(page=3)
    assert Cursor.decode("3") == Cursor(page=3)  # the tokens of earlier versions
    linked = Cursor(page=2, link="page=2&per_page=100&client_reference=a b", after="abc")
    assert Cursor.decode(linked.encode()) == linked
    for bad in ("abc", "0", "-2", "p=0", "p=1&x=2", "p=%C2%B2"):
        with pytest.raises(ProviderRejected):
            Cursor.decode(bad)


def test_to_order_reads_the_object_defensively() -> None:
    provider = ReselloProvider(credentials())
    got = provider.to_order({"id": "abc", "status": "rejected", "common_name": "a.example.com",
                             "dns_names": ["a.example.com"], "valid_from": None, "plan": PLANS["ov"],
                             "client_reference": "r-1", "rejection_reason": "DCV failed", "surprise": {"x": 1}})
    assert (got.provider_order_id, got.status, got.raw_status, got.product) == ("abc", Status.FAILED, "rejected", "ov")
    assert got.failure_reason == "DCV failed" and got.sans == ("a.example.com",) and got.not_before is None
    active = provider.to_order({"id": 7, "status": "active", "valid_from": "2025-01-02T03:04:05Z",
                                "valid_until": "2026-01-02T03:04:05Z", "serial_number": "ABC"})
    assert active.not_before == dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC) and active.serial == "abc"
    with pytest.raises(ProviderProtocolError):
        provider.to_order({"status": "active"})
    with pytest.raises(ProviderProtocolError):
        provider.to_order(["not", "an", "object"])


def test_material_facts_come_from_the_certificate_itself() -> None:
    ca = SimCA("unit")
    issued = ca.issue(generate_key("ec").public_key(), "x.example.com", [("dns", "x.example.com"), ("dns", "y.example.com")],
                      days=90)
    facts = certificate_info(issued.pem)
    assert facts.serial == issued.serial_hex and [v for _, v in facts.sans] == ["x.example.com", "y.example.com"]
    assert facts.not_after - facts.not_before == dt.timedelta(days=90)
    got = ReselloProvider(credentials()).to_order(
        {"id": "1", "status": "active", "serial_number": "wrong", "valid_until": "1999-01-01T00:00:00Z"},
        material=CertificateMaterial(issued.pem, ca.chain_pem))
    assert got.serial == issued.serial_hex and got.not_after == facts.not_after
    assert got.common_name == "x.example.com"


def test_to_dcv_per_method() -> None:
    doc = {"certificate_id": "1", "status": "pending", "domains": [
        {"domain": "a.example.com", "dcv_type": "DNS", "status": "validated",
         "dns": {"name": "_dnsauth.a.example.com", "type": "TXT", "value": "tok"}},
        {"domain": "b.example.com", "dcv_type": "FILE", "status": "pending",
         "file": {"path": "/.well-known/pki-validation/X.txt", "content": "c"}},
        {"domain": "c.example.com", "dcv_type": "EMAIL", "status": "failed",
         "email": {"approver_email_address": None, "approver_emails": ["admin@c.example.com"]}},
        "garbage",
    ]}
    dns, file, email = ReselloProvider.to_dcv(doc)
    assert (dns.method, dns.state, dns.dns_record_name, dns.dns_record_type, dns.dns_value) == (
        "dns", "valid", "_dnsauth.a.example.com", "TXT", "tok")
    assert (file.method, file.state, file.file_path, file.file_content) == (
        "file", "pending", "/.well-known/pki-validation/X.txt", "c")
    assert (email.method, email.state, email.emails) == ("email", "failed", ("admin@c.example.com",))
    with pytest.raises(ProviderProtocolError):
        ReselloProvider.to_dcv({"domains": "nope"})


# == against the simulator =============================================================================
@pytest.fixture(scope="module")
def server() -> Iterator[SimServer]:
    with SimServer(ReselloSim()) as srv:
        yield srv


@pytest.fixture
def url(server: SimServer) -> Iterator[str]:
    requests.post(f"{server.url}/_sim/reset", timeout=5).raise_for_status()
    yield server.url


@pytest.fixture
def provider(url: str) -> ReselloProvider:
    return ReselloProvider(credentials(url), FAST)


def advance(url: str) -> None:
    requests.post(f"{url}/_sim/advance", timeout=5).raise_for_status()


def sim_orders(url: str, ref: str | None = None) -> list[dict[str, Any]]:
    items = requests.get(f"{url}/_sim/orders", timeout=5).json()
    return [o for o in items if ref is None or o["client_reference"] == ref]


def set_faults(url: str, **faults: Any) -> None:
    requests.put(f"{url}/_sim/faults", json=faults, timeout=5).raise_for_status()


def test_submit_then_issue_then_material(provider: ReselloProvider, url: str, rsa_key: Any) -> None:
    placed = provider.submit_order(order(rsa_key, "cert-1", csr_pem=csr_pem(rsa_key, "www.example.com", "example.com")))
    assert placed.status is Status.PENDING and placed.raw_status == "pending"
    assert placed.client_reference == "cert-1" and placed.product == "dv" and placed.material is None
    assert provider.get_order(placed.provider_order_id).status is Status.PENDING
    advance(url)
    got = provider.get_order(placed.provider_order_id)
    assert got.status is Status.ISSUED and got.material is not None
    leaf = x509.load_pem_x509_certificate(got.material.certificate_pem.encode())
    chain = x509.load_pem_x509_certificates(got.material.chain_pem.encode())
    assert "BEGIN CERTIFICATE" in got.material.chain_pem and leaf not in chain
    assert leaf.issuer == chain[0].subject
    assert got.serial == format(leaf.serial_number, "x") and got.not_after == leaf.not_valid_after_utc
    assert got.sans == ("www.example.com", "example.com")
    bare = provider.get_order(placed.provider_order_id, with_material=False)
    assert bare.material is None and bare.serial == got.serial


def test_find_order_by_client_reference(provider: ReselloProvider, url: str, rsa_key: Any) -> None:
    placed = provider.submit_order(order(rsa_key, "cert-find"))
    assert provider.find_order(order(rsa_key, "cert-find")).provider_order_id == placed.provider_order_id
    assert provider.find_order(order(rsa_key, "never-placed")) is None
    future = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    assert provider.find_order(order(rsa_key, "cert-find"), since=future) is None


def test_find_order_prefers_the_live_same_name_order_among_duplicates(provider: ReselloProvider, url: str,
                                                                      rsa_key: Any) -> None:
    other_name = provider.submit_order(order(rsa_key, "dup", cn="other.example.com"))
    cancelled = provider.submit_order(order(rsa_key, "dup"))
    provider.cancel(cancelled.provider_order_id)
    live = provider.submit_order(order(rsa_key, "dup"))
    found = provider.find_order(order(rsa_key, "dup"))
    assert found.provider_order_id == live.provider_order_id != other_name.provider_order_id


def test_downloads_in_every_format(provider: ReselloProvider, url: str, rsa_key: Any) -> None:
    placed = provider.submit_order(order(rsa_key))
    advance(url)
    pid = placed.provider_order_id
    leaf = x509.load_pem_x509_certificate(provider.download(pid, "pem"))
    chain = x509.load_pem_x509_certificates(provider.download(pid, "chain"))
    full = x509.load_pem_x509_certificates(provider.download(pid, "fullchain"))
    assert full == [leaf, *chain]
    assert x509.load_der_x509_certificate(provider.download(pid, "der")) == leaf
    assert leaf in pkcs7.load_der_pkcs7_certificates(provider.download(pid, "pkcs7"))
    with zipfile.ZipFile(io.BytesIO(provider.download(pid, "zip"))) as zf:
        assert any(n.endswith(".crt") for n in zf.namelist())
    with pytest.raises(UnsupportedOperation):
        provider.download(pid, "pkcs12")


def test_download_before_issuance_is_a_conflict(provider: ReselloProvider, rsa_key: Any) -> None:
    placed = provider.submit_order(order(rsa_key))
    with pytest.raises(ProviderConflict):
        provider.download(placed.provider_order_id, "pem")


def test_reissue_is_issued_at_once_with_new_material(provider: ReselloProvider, url: str, rsa_key: Any) -> None:
    placed = provider.submit_order(order(rsa_key))
    advance(url)
    before = provider.get_order(placed.provider_order_id)
    new_key = generate_key("ec")
    after = provider.reissue(placed.provider_order_id, order(new_key, cn="www.example.com"))
    assert after.status is Status.ISSUED and after.material is not None and after.serial != before.serial
    leaf = x509.load_pem_x509_certificate(after.material.certificate_pem.encode())
    assert leaf.public_key() == new_key.public_key()


def test_renew_goes_pending_then_issued(provider: ReselloProvider, url: str, rsa_key: Any) -> None:
    placed = provider.submit_order(order(rsa_key))
    advance(url)
    first = provider.get_order(placed.provider_order_id)
    renewing = provider.renew(placed.provider_order_id, order(rsa_key))
    assert renewing.status is Status.PENDING
    advance(url)
    renewed = provider.get_order(placed.provider_order_id)
    assert renewed.status is Status.ISSUED and renewed.serial != first.serial
    assert len(sim_orders(url)) == 1


def test_cancel_pending_and_refuse_issued(provider: ReselloProvider, url: str, rsa_key: Any) -> None:
    pending = provider.submit_order(order(rsa_key, "p"))
    assert provider.cancel(pending.provider_order_id).status is Status.CANCELLED
    assert provider.cancel(pending.provider_order_id).status is Status.CANCELLED  # repeating is harmless
    active = provider.submit_order(order(rsa_key, "a"))
    advance(url)
    with pytest.raises(ProviderConflict):
        provider.cancel(active.provider_order_id)
    assert sim_orders(url, "a")[0]["status"] == "active"


def test_cancel_state_read_survives_a_dropped_answer(provider: ReselloProvider, url: str, rsa_key: Any) -> None:
    placed = provider.submit_order(order(rsa_key))
    set_faults(url, drop_after_commit_rate=1, max_faults=1, paths=[f"/ssl-certificate/{placed.provider_order_id}"])
    # The GET before the DELETE takes the dropped answer and is retried; then the DELETE goes through.
    assert provider.cancel(placed.provider_order_id).status is Status.CANCELLED


class LosesDeleteAnswers:
    """The real HTTP layer, except that a DELETE's answer is lost after Resello applied it."""

    def __init__(self, real: Any) -> None:
        self.real = real

    def json(self, method: str, path: str, **kw: Any) -> Any:
        result = self.real.json(method, path, **kw)
        if method == "DELETE":
            raise ProviderUnavailable("resello", "connection reset", outcome_unknown=True)
        return result


def test_cancel_whose_delete_answer_is_lost_reads_the_outcome(provider: ReselloProvider, url: str,
                                                              rsa_key: Any) -> None:
    placed = provider.submit_order(order(rsa_key))
    provider.http = LosesDeleteAnswers(provider.http)  # type: ignore[assignment]
    assert provider.cancel(placed.provider_order_id).status is Status.CANCELLED
    assert sim_orders(url)[0]["status"] == "cancelled"


def test_validation_details_and_retry(provider: ReselloProvider, url: str, rsa_key: Any) -> None:
    placed = provider.submit_order(order(rsa_key))
    (dns,) = provider.validation(placed.provider_order_id)
    assert (dns.domain, dns.method, dns.state, dns.dns_record_type) == ("www.example.com", "dns", "pending", "TXT")
    assert dns.dns_value
    (email,) = provider.retry_validation(placed.provider_order_id, method="email", email="admin@example.com",
                                         domain="www.example.com")
    assert (email.method, email.emails) == ("email", ("admin@example.com",))
    (file,) = provider.retry_validation(placed.provider_order_id, method="file")
    assert file.method == "file" and file.file_path and file.file_content
    advance(url)
    assert provider.validation(placed.provider_order_id)[0].state == "valid"
    with pytest.raises(ProviderConflict):
        provider.retry_validation(placed.provider_order_id, method="dns")


def test_list_certificates_pages_through_everything(provider: ReselloProvider, url: str, rsa_key: Any) -> None:
    requests.post(f"{url}/_sim/seed", json={"count": 230}, timeout=10).raise_for_status()
    ov = provider.submit_order(order(rsa_key, "ov-1", product="ov", organization=Organization(
        chamber_of_commerce="1", unit="IT"), approver=Approver(first_name="J", last_name="D")))
    seen: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        page = provider.list_certificates(page_token=token)
        pages += 1
        seen += [o.provider_order_id for o in page.items]
        token = page.next_token
        if token is None:
            break
    assert pages == 3 and len(seen) == len(set(seen)) == 231
    assert {o["id"] for o in sim_orders(url)} == set(seen)
    issued = provider.list_certificates().items[0]
    assert issued.status is Status.ISSUED and issued.not_after is not None and issued.serial
    only_ov = provider.list_certificates({"product": "ov"})
    assert [o.provider_order_id for o in only_ov.items] == [ov.provider_order_id] and only_ov.next_token is None
    by_ref = provider.list_certificates({"client_reference": "ov-1"})
    assert [o.provider_order_id for o in by_ref.items] == [ov.provider_order_id]


# -- error classes -------------------------------------------------------------------------------------
def test_wrong_credentials_are_authentication_failed(url: str) -> None:
    provider = ReselloProvider(credentials(url, api_key="not-the-key"), FAST)
    with pytest.raises(AuthenticationFailed) as exc:
        provider.list_certificates()
    assert "not-the-key" not in str(exc.value)
    assert provider.http.calls == 1  # never retried


def test_unknown_id_is_not_found(provider: ReselloProvider) -> None:
    with pytest.raises(ProviderNotFound):
        provider.get_order("no-such-id")
    with pytest.raises(ProviderNotFound):
        provider.get_order("../../_sim/orders")  # the id is quoted, never a path


def test_provider_validation_is_rejected_with_fields(provider: ReselloProvider, url: str, rsa_key: Any) -> None:
    with pytest.raises(ProviderRejected) as weak:
        provider.submit_order(order(rsa_key, csr_pem=csr_pem(generate_key("rsa", 1024), "www.example.com")))
    assert [f.field for f in weak.value.field_errors] == ["csr"] and "2048" in weak.value.field_errors[0].message
    with pytest.raises(ProviderRejected) as ov:
        provider.submit_order(order(rsa_key, product="ov"))
    # Resello's field names come back as the paths of our own request.
    assert {f.field for f in ov.value.field_errors} == {"organization.chamber_of_commerce", "organization.unit",
                                                        "approver.first_name", "approver.last_name"}
    assert provider.http.calls == 2 and sim_orders(url) == []  # no lookup after a clear refusal


def test_renew_of_a_pending_order_is_a_conflict(provider: ReselloProvider, rsa_key: Any) -> None:
    placed = provider.submit_order(order(rsa_key))
    with pytest.raises(ProviderConflict):
        provider.renew(placed.provider_order_id, order(rsa_key))


def test_rejected_order_is_failed_with_a_reason(provider: ReselloProvider, url: str, rsa_key: Any) -> None:
    placed = provider.submit_order(order(rsa_key, cn="reject.example.com"))
    advance(url)
    got = provider.get_order(placed.provider_order_id)
    assert got.status is Status.FAILED and "reject.example.com" in (got.failure_reason or "")
    assert got.material is None


# -- fault modes -> typed errors -------------------------------------------------------------------------
def test_persistent_5xx_is_unavailable_after_bounded_retries(provider: ReselloProvider, url: str) -> None:
    set_faults(url, error_rate=1, error_status=503)
    with pytest.raises(ProviderUnavailable) as exc:
        provider.list_certificates()
    assert exc.value.retryable and provider.http.calls == 3


def test_a_5xx_burst_on_a_read_is_retried_away(provider: ReselloProvider, url: str, rsa_key: Any) -> None:
    placed = provider.submit_order(order(rsa_key))
    set_faults(url, error_rate=1, error_status=502, max_faults=1)
    assert provider.get_order(placed.provider_order_id).status is Status.PENDING


def test_rate_limit_is_rate_limited_with_retry_after(provider: ReselloProvider, url: str) -> None:
    set_faults(url, rate_limit_per_s=0.5, retry_after_s=30)
    with pytest.raises(RateLimited) as exc:
        provider.list_certificates()
    assert exc.value.retry_after == 30
    assert provider.http.calls == 1  # a 30 s wait belongs to the scheduler, not this request


def test_hang_is_a_timeout(url: str) -> None:
    provider = ReselloProvider(credentials(url), HttpSettings(read_timeout=0.3, backoff_base=0.01, max_attempts=2))
    set_faults(url, hang_s=0.6)
    with pytest.raises(ProviderTimeout):
        provider.list_certificates()


def test_persistent_malformed_answers_are_protocol_errors(provider: ReselloProvider, url: str) -> None:
    set_faults(url, malformed_rate=1)
    with pytest.raises(ProviderProtocolError):
        provider.list_certificates()


def test_latency_within_the_timeout_is_transparent(provider: ReselloProvider, url: str) -> None:
    set_faults(url, latency_ms=100)
    assert provider.list_certificates().items == ()


# -- submit_order never duplicates ---------------------------------------------------------------------
def test_submit_under_drop_after_commit_returns_the_committed_order(provider: ReselloProvider, url: str,
                                                                    rsa_key: Any) -> None:
    set_faults(url, drop_after_commit_rate=1, max_faults=1)
    placed = provider.submit_order(order(rsa_key, "drop-1"))
    (only,) = sim_orders(url, "drop-1")
    assert placed.provider_order_id == only["id"] and placed.status is Status.PENDING
    assert len(sim_orders(url)) == 1


def test_submit_under_malformed_answer_returns_the_committed_order(provider: ReselloProvider, url: str,
                                                                   rsa_key: Any) -> None:
    set_faults(url, malformed_rate=1, max_faults=1)
    placed = provider.submit_order(order(rsa_key, "mal-1"))
    assert [o["id"] for o in sim_orders(url)] == [placed.provider_order_id]


def test_submit_retries_once_when_the_lookup_proves_nothing_was_created(provider: ReselloProvider, url: str,
                                                                        rsa_key: Any) -> None:
    set_faults(url, error_rate=1, error_status=500, max_faults=1)
    placed = provider.submit_order(order(rsa_key, "err-1"))
    assert [o["id"] for o in sim_orders(url)] == [placed.provider_order_id]
    assert provider.http.calls == 3  # create (500), lookup (empty), create


def test_submit_gives_up_with_outcome_unknown_when_it_cannot_tell(provider: ReselloProvider, url: str,
                                                                  rsa_key: Any) -> None:
    set_faults(url, error_rate=1, error_status=503)
    with pytest.raises(ProviderUnavailable) as exc:
        provider.submit_order(order(rsa_key, "down-1"))
    assert exc.value.outcome_unknown
    assert provider.http.calls == 4  # one create, three lookup attempts, no second create
    requests.delete(f"{url}/_sim/faults", timeout=5).raise_for_status()
    assert sim_orders(url) == []


def test_submit_after_a_timeout_never_creates_a_second_order(url: str, rsa_key: Any) -> None:
    provider = ReselloProvider(credentials(url), HttpSettings(read_timeout=0.3, backoff_base=0.01, max_attempts=3))
    set_faults(url, hang_s=1.0, max_faults=1)
    with pytest.raises(ProviderTimeout) as exc:
        provider.submit_order(order(rsa_key, "hang-1"))
    assert exc.value.outcome_unknown
    deadline = time.monotonic() + 3
    while not sim_orders(url, "hang-1") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(sim_orders(url, "hang-1")) == 1  # the hung create landed; we did not add another
    assert provider.find_order(order(rsa_key, "hang-1")) is not None  # what reconcile will adopt


# == plausible variants of the undocumented shapes ========================================================
# Resello documents no response body. The simulator's PUT /_sim/shape answers in plausible variants
# (simulators/README_resello.md, "Answer shapes"); the adapter must survive every one of them, alone
# and combined, through a whole lifecycle: order, lookup after a lost answer, reading, listing
# pages, errors, downloads.

FIELDLESS_ERRORS = {"error_message", "error_string"}  # an envelope without field details
UNREADABLE_ERRORS = {"error_html", "error_text", "error_empty"}  # no envelope at all
COMBINED = ["extra_fields", "wrapped", "dates_offset", "status_upper", "string_numbers", "error_errors"]
SHAPES = [[name] for name in VARIANTS] + [COMBINED, ["items_next", "numeric_ids", "dates_epoch", "extra_fields"],
                                          ["bare", "dates_date_only", "status_new", "error_html"]]


def set_shape(url: str, variant: list[str]) -> None:
    requests.put(f"{url}/_sim/shape", json={"variant": variant}, timeout=5).raise_for_status()


@pytest.fixture(params=SHAPES, ids=lambda v: "+".join(v))
def shaped(request: pytest.FixtureRequest, url: str) -> Iterator[set[str]]:
    set_shape(url, request.param)
    yield set(request.param)


def test_variant_order_read_issue_and_download(shaped: set[str], provider: ReselloProvider, url: str,
                                               rsa_key: Any) -> None:
    placed = provider.submit_order(order(rsa_key, "var-1", csr_pem=csr_pem(rsa_key, "www.example.com", "example.com")))
    new_status = "status_new" in shaped
    assert placed.status is Status.PENDING and placed.client_reference == "var-1"
    assert placed.raw_status.lower() == ("processing" if new_status else "pending")
    assert placed.status_recognized is not new_status  # an unknown status is said to be one
    assert placed.sans == ("www.example.com", "example.com") and placed.product == "dv"
    assert provider.get_order(placed.provider_order_id).provider_order_id == placed.provider_order_id
    advance(url)
    got = provider.get_order(placed.provider_order_id)
    assert got.status is Status.ISSUED and got.status_recognized and got.material is not None
    bare = provider.get_order(placed.provider_order_id, with_material=False)
    # Without material the listing's own dates are all there is: read in whatever form they come.
    assert bare.not_after is not None and bare.not_after.tzinfo is not None
    assert abs(bare.not_after - got.not_after) < dt.timedelta(days=1, hours=3)  # type: ignore[operator]
    assert b"BEGIN CERTIFICATE" in provider.download(placed.provider_order_id, "pem")
    assert pkcs7.load_der_pkcs7_certificates(provider.download(placed.provider_order_id, "pkcs7"))
    details = provider.validation(placed.provider_order_id)
    assert [(d.domain, d.state) for d in details] == [("www.example.com", "valid"), ("example.com", "valid")]


def test_variant_lookup_after_a_lost_create_answer(shaped: set[str], provider: ReselloProvider, url: str,
                                                   rsa_key: Any) -> None:
    provider.submit_order(order(rsa_key, "other-ref", cn="other.example.com"))
    set_faults(url, drop_after_commit_rate=1, max_faults=1)
    placed = provider.submit_order(order(rsa_key, "var-drop"))
    assert placed.client_reference == "var-drop" and len(sim_orders(url, "var-drop")) == 1
    assert provider.find_order(order(rsa_key, "var-drop")) == placed
    assert provider.find_order(order(rsa_key, "nobody")) is None


def test_variant_listing_pages_through_everything(shaped: set[str], provider: ReselloProvider, url: str) -> None:
    requests.post(f"{url}/_sim/seed", json={"count": 230}, timeout=10).raise_for_status()
    seen: list[str] = []
    token: str | None = None
    for _ in range(10):
        page = provider.list_certificates(page_token=token)
        seen += [o.provider_order_id for o in page.items]
        assert all(o.status is Status.ISSUED and o.not_after is not None for o in page.items)
        token = page.next_token
        if token is None:
            break
    assert len(seen) == len(set(seen)) == 230


def test_variant_errors_are_typed(shaped: set[str], provider: ReselloProvider, url: str, rsa_key: Any) -> None:
    unreadable = bool(shaped & UNREADABLE_ERRORS)
    missing = ProviderProtocolError if unreadable else ProviderNotFound  # a bare 404 may come from anyone
    with pytest.raises(missing) as lost:
        provider.get_order("no-such-certificate")
    if shaped & {"error_html", "error_text"}:
        assert "SSL certificate not found" in lost.value.message and "<" not in lost.value.message
    with pytest.raises(ProviderRejected if not unreadable else ProviderProtocolError) as refused:
        provider.submit_order(order(rsa_key, "var-ov", product="ov"))
    if not (unreadable or shaped & FIELDLESS_ERRORS):
        assert {f.field for f in refused.value.field_errors} == {  # type: ignore[attr-defined]
            "organization.chamber_of_commerce", "organization.unit", "approver.first_name", "approver.last_name"}
    assert not refused.value.outcome_unknown and sim_orders(url) == []
    with pytest.raises(AuthenticationFailed):
        ReselloProvider(credentials(url, api_key="wrong"), FAST).list_certificates()
    set_faults(url, error_rate=1, error_status=502)
    with pytest.raises(ProviderUnavailable):
        provider.list_certificates()


def test_variant_cancel_reissue_renew(shaped: set[str], provider: ReselloProvider, url: str, rsa_key: Any) -> None:
    pending = provider.submit_order(order(rsa_key, "var-c"))
    if "status_new" in shaped:  # "processing" may be anything: it is not cancelled on a guess
        with pytest.raises(ProviderConflict):
            provider.cancel(pending.provider_order_id)
        assert sim_orders(url, "var-c")[0]["status"] == "pending"
    else:
        assert provider.cancel(pending.provider_order_id).status is Status.CANCELLED
    active = provider.submit_order(order(rsa_key, "var-r"))
    advance(url)
    reissued = provider.reissue(active.provider_order_id, order(rsa_key, "var-r", cn="www.example.com"))
    assert reissued.status is Status.ISSUED and reissued.material is not None
    renewed = provider.renew(active.provider_order_id, order(rsa_key, "var-r"))
    assert renewed.status is Status.PENDING and renewed.provider_order_id == active.provider_order_id


# -- what cannot be read at all ------------------------------------------------------------------------------
class CannedSession:
    """A stand-in requests.Session answering from a list of (status, body, content type)."""

    def __init__(self, *answers: tuple[int, Any, str]) -> None:
        self.answers = list(answers)
        self.sent: list[tuple[str, str]] = []
        self.headers: dict[str, str] = {}

    def request(self, method: str, url: str, **_: Any) -> requests.Response:
        self.sent.append((method, url))
        status, body, content_type = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        resp = fake_response(status, body, {"Content-Type": content_type})
        resp.url = url
        return resp


def canned(*answers: tuple[int, Any, str]) -> tuple[ReselloProvider, CannedSession]:
    provider = ReselloProvider(credentials(), HttpSettings(backoff_base=0.0, max_attempts=1))
    session = CannedSession(*answers)
    provider.http._session = session  # type: ignore[assignment]
    return provider, session


JSON = "application/json"


def test_a_create_answered_in_no_readable_shape_is_looked_up(rsa_key: Any) -> None:
    provider, session = canned((201, {"ok": True, "certificate": {"name": "www.example.com"}}, JSON),
                               (200, {"data": [{"id": 41, "client_reference": "cert-1", "status": "Pending"}]}, JSON))
    placed = provider.submit_order(order(rsa_key))
    assert (placed.provider_order_id, placed.status) == ("41", Status.PENDING)
    assert [m for m, _ in session.sent] == ["POST", "GET"]  # looked up, not created again


def test_a_lookup_that_cannot_see_client_references_proves_nothing(rsa_key: Any) -> None:
    provider, session = canned((201, b"", JSON), (200, [{"id": 41, "status": "pending"}], JSON))
    with pytest.raises(ProviderProtocolError) as exc:
        provider.submit_order(order(rsa_key))
    assert exc.value.outcome_unknown and [m for m, _ in session.sent] == ["POST", "GET"]


def test_a_change_answered_unreadably_reads_the_certificate(rsa_key: Any) -> None:
    provider, session = canned((200, "accepted", JSON), (200, {"id": "9", "status": "pending"}, JSON))
    renewed = provider.renew("9", order(rsa_key))
    assert renewed.status is Status.PENDING and [m for m, _ in session.sent] == ["POST", "GET"]


def test_a_listing_that_ignores_paging_ends_instead_of_looping() -> None:
    full = [{"id": n, "status": "active", "client_reference": None} for n in range(PER_PAGE)]
    provider, session = canned((200, full, JSON))
    first = provider.list_certificates()
    assert len(first.items) == PER_PAGE and first.next_token is not None
    second = provider.list_certificates(page_token=first.next_token)
    assert second.items == () and second.next_token is None and len(session.sent) == 2


def test_a_next_link_is_followed_on_our_own_host_only() -> None:
    provider, session = canned(
        (200, {"items": [{"id": 1, "status": "active"}], "next": "https://elsewhere.invalid/x?cursor=abc&page=2"}, JSON),
        (200, {"items": [{"id": 2, "status": "active"}], "next": None}, JSON))
    first = provider.list_certificates({"client_reference": "r"})
    second = provider.list_certificates({"client_reference": "r"}, page_token=first.next_token)
    assert [o.provider_order_id for o in (*first.items, *second.items)] == ["1", "2"] and second.next_token is None
    assert all(u.startswith("http://127.0.0.1:9/ssl-certificate") for _, u in session.sent)


def test_an_unusable_next_link_is_a_protocol_error() -> None:
    provider, _ = canned((200, {"items": [{"id": 1}], "next": {"weird": 1}}, JSON))
    with pytest.raises(ProviderProtocolError):
        provider.list_certificates()


@pytest.mark.parametrize(("status", "body", "content_type", "cls", "fields"), [
    (422, {"error": {"code": "v", "message": "bad", "fields": {"plan": ["unknown plan"]}}}, JSON, ProviderRejected,
     ["provider_options.plan"]),
    (422, {"errors": [{"code": "v", "message": "bad csr", "field": "csr"},
                      {"message": "invalid domain www.example.com", "field": "dnsNames[3]"}]}, JSON,
     ProviderRejected, ["csr", "sans[0]"]),
    (422, {"errors": {"approverEmailAddress": ["required"], "dcv_type": "bad"}}, JSON, ProviderRejected,
     ["approver.email", "dcv_method"]),
    (422, {"message": "Validation failed", "errors": [{"source": {"pointer": "/department"}, "detail": "required"}]},
     JSON, ProviderRejected, ["organization.unit"]),
    (422, {"error": "plan is unknown"}, JSON, ProviderRejected, []),
    (400, {"detail": "malformed", "title": "Bad Request"}, "application/problem+json", ProviderRejected, []),
    (409, {"message": "certificate is pending", "code": "invalid_state"}, JSON, ProviderConflict, []),
    (422, b"<html><body><h1>422</h1><p>plan is unknown</p></body></html>", "text/html", ProviderProtocolError, []),
    (422, b"", JSON, ProviderProtocolError, []),
    (502, b"<html><head><style>p{}</style></head><body>Bad Gateway</body></html>", "text/html",
     ProviderUnavailable, []),
])
def test_error_envelopes_on_create(status: int, body: Any, content_type: str, cls: type[ProviderError],
                                   fields: list[str], rsa_key: Any) -> None:
    # A 5xx is ambiguous: the lookup finds nothing, the create is repeated once and fails the same way.
    provider, _ = canned((status, body, content_type), (200, [], JSON), (status, body, content_type))
    with pytest.raises(cls) as exc:
        provider.submit_order(order(rsa_key, cn="www.example.com"))
    assert [f.field for f in getattr(exc.value, "field_errors", [])] == fields
    if isinstance(body, bytes) and body:
        assert ("plan is unknown" if status == 422 else "Bad Gateway") in exc.value.message
        assert "<" not in exc.value.message and "p{}" not in exc.value.message


def test_an_unreadable_error_body_is_scrubbed_before_it_is_cut() -> None:
    key = defaults.RESELLO_API_KEY
    page = ("x" * 190 + key + "y" * 50).encode()  # the key straddles the excerpt's cut
    err = ReselloProvider(credentials()).parse_error(fake_response(418, page))
    assert isinstance(err, ProviderProtocolError) and key[:6] not in err.message and "***" in err.message


@pytest.mark.parametrize(("name", "message", "expected"), [
    ("plan", "", "provider_options.plan"), ("approver_first_name", "", "approver.first_name"),
    ("chamberOfCommerce", "", "organization.chamber_of_commerce"), ("city", "", "organization.locality"),
    ("dns_names[1]", "not allowed", "sans[1]"), ("domains", "b.example.com is not allowed", "sans[1]"),
    ("domain", "unresolvable", "sans"), ("sans.7", "x", "sans"), ("client_reference", "", "client_reference"),
])
def test_field_names_become_our_request_paths(name: str, message: str, expected: str) -> None:
    req = OrderRequest(client_reference="c", common_name="a.example.com",
                       sans=(San("dns", "a.example.com"), San("dns", "b.example.com")))
    assert our_order_field(name, message, req) == expected


@pytest.mark.parametrize(("value", "expected"), [
    ("2025-01-02T03:04:05Z", dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC)),
    ("2025-01-02T03:04:05", dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC)),
    ("2025-01-02T05:04:05+02:00", dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC)),
    ("2025-01-02", dt.datetime(2025, 1, 2, tzinfo=dt.UTC)),
    (1735787045, dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC)),
    ("1735787045", dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC)),
    (1735787045000, dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC)),
    ("next tuesday", None), (float("nan"), None), (10 ** 30, None), (True, None), ({"at": 1}, None),
])
def test_dates_in_any_form(value: Any, expected: dt.datetime | None) -> None:
    assert parse_time(value) == expected


# -- fuzz: whatever the body, a ProviderOrder or a typed ProviderError -----------------------------------------

KEYS = st.sampled_from(["id", "status", "state", "data", "items", "certificate", "valid_from", "valid_until",
                        "dns_names", "domains", "serial_number", "client_reference", "plan", "error", "errors",
                        "message", "fields", "next", "total", "page", "per_page", "meta", "name", "code"]) | st.text(
    max_size=8)
SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20) | st.sampled_from(
    ["active", "ACTIVE", "pending", "processing", "2025-01-02", "1735787045", "", PLANS["dv"]])
JSONISH = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=6),
                       max_leaves=25)
# Mostly near misses of a certificate object (an id, then anything in the fields we read), possibly
# in an envelope; then anything JSON at all, and bytes that are not JSON.
FIELDS = st.sampled_from(["status", "state", "valid_from", "valid_until", "dns_names", "domains", "serial_number",
                          "client_reference", "plan", "common_name", "rejection_reason", "created_at"])
NEAR_MISS = st.builds(lambda ident, rest: {"id": ident, **rest}, st.integers() | st.text(max_size=6) | JSONISH,
                      st.dictionaries(FIELDS, JSONISH, max_size=6))
ENVELOPED = NEAR_MISS | st.builds(lambda key, inner: {key: inner},
                                  st.sampled_from(["data", "certificate", "result", "items"]), NEAR_MISS)
BODIES = (ENVELOPED | JSONISH).map(lambda v: json.dumps(v).encode()) | st.binary(max_size=64)
STATUSES = st.sampled_from([200, 200, 201, 400, 401, 404, 409, 418, 422, 429, 500, 502])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(status=STATUSES, body=BODIES, material=BODIES)
def test_get_order_survives_any_body(status: int, body: bytes, material: bytes) -> None:
    provider, _ = canned((status, body, JSON), (200, material, "application/octet-stream"))
    try:
        got = provider.get_order("1")
    except ProviderError:
        return
    assert isinstance(got, ProviderOrder) and got.provider_order_id
    assert got.status_recognized == ReselloProvider.recognizes(got.raw_status)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(status=STATUSES, body=BODIES)
def test_listing_and_validation_survive_any_body(status: int, body: bytes) -> None:
    provider, _ = canned((status, body, JSON))
    for call in (provider.list_certificates, lambda: provider.validation("1")):
        try:
            call()
        except ProviderError:
            pass
