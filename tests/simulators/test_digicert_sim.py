"""The DigiCert simulator over real HTTP, with plain `requests`, against DigiCert's documentation
(README_digicert.md names the page of each behaviour): auth, every endpoint, approval modes, async
issuance, DCV, revoke requests, cancel rules, SC-081 validity, coverage plans, products, rate
limits, every fault mode, certificates that `openssl verify`, admin endpoints."""

from __future__ import annotations

import base64
import datetime as dt
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7

from simulators import defaults
from simulators.base import SimServer
from simulators.ca import build_csr, generate_key
from simulators.digicert import DigiCertSim, from_env

KEY = {"X-DC-DEVKEY": defaults.DIGICERT_API_KEY}
USER_KEY = {"X-DC-DEVKEY": defaults.DIGICERT_USER_API_KEY}  # a non-admin user of the same account
BEGIN = "-----BEGIN CERTIFICATE-----"


@pytest.fixture(scope="module")
def server() -> Iterator[SimServer]:
    with SimServer(DigiCertSim()) as srv:
        yield srv


@pytest.fixture
def url(server: SimServer) -> str:
    requests.post(f"{server.url}/_sim/reset", timeout=5).raise_for_status()
    return server.url


@pytest.fixture
def make_sim() -> Iterator[Any]:
    """A simulator with its own constructor options (stopped after the test)."""
    started: list[SimServer] = []

    def make(**options: Any) -> str:
        srv = SimServer(DigiCertSim(**options)).start()
        started.append(srv)
        return srv.url

    yield make
    for srv in started:
        srv.stop()


def api(base: str, path: str) -> str:
    return f"{base}/services/v2{path}"


def csr_pem(common_name: str = "www.example.com", names: list[str] | None = None, key: Any = None) -> str:
    csr = build_csr(key or generate_key("ec"), common_name, [("dns", n) for n in (names or [common_name])])
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def order_body(common_name: str = "www.example.com", **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "certificate": {"common_name": common_name, "dns_names": ["example.com"], "csr": csr_pem(common_name),
                        "signature_hash": "sha256", "server_platform": {"id": -1}},
        "order_validity": {"years": 1},
        "product": {"type_hint": "ov"},
        "dcv_method": "dns-txt-token",
        "organization": {"id": defaults.DIGICERT_ORGANIZATION_ID},
    }
    body.update(over)
    return body


def create(base: str, product: str = "ssl", **over: Any) -> dict[str, Any]:
    resp = requests.post(api(base, f"/order/certificate/{product}"), json=order_body(**over), headers=KEY,
                         timeout=5)
    assert resp.status_code == 201, resp.text
    return resp.json()


def info(base: str, order_id: int) -> dict[str, Any]:
    resp = requests.get(api(base, f"/order/certificate/{order_id}"), headers=KEY, timeout=5)
    assert resp.status_code == 200, resp.text
    return resp.json()


def advance(base: str) -> dict[str, Any]:
    resp = requests.post(f"{base}/_sim/advance", timeout=10)
    assert resp.status_code == 200
    return resp.json()


def sim_orders(base: str) -> list[dict[str, Any]]:
    return requests.get(f"{base}/_sim/orders", timeout=5).json()


def issued_order(base: str, **over: Any) -> dict[str, Any]:
    created = create(base, skip_approval=True, **over)
    advance(base)
    return info(base, created["id"])


def download(base: str, certificate_id: int, fmt: str) -> requests.Response:
    return requests.get(api(base, f"/certificate/{certificate_id}/download/format/{fmt}"), headers=KEY, timeout=5)


def error_codes(resp: requests.Response) -> list[str]:
    body = resp.json()
    assert set(body) == {"errors"} and all(set(e) == {"code", "message"} for e in body["errors"])
    return [e["code"] for e in body["errors"]]


# -- auth and routing -------------------------------------------------------------------------
@pytest.mark.parametrize("headers", [{}, {"X-DC-DEVKEY": "not-the-key"}])
def test_requests_without_the_devkey_are_refused(url: str, headers: dict[str, str]) -> None:
    resp = requests.get(api(url, "/order/certificate"), headers=headers, timeout=5)
    assert resp.status_code == 401
    assert error_codes(resp) == ["invalid_api_key"]
    assert "not-the-key" not in resp.text
    post = requests.post(api(url, "/order/certificate/ssl"), json=order_body(), headers=headers, timeout=5)
    assert post.status_code == 401 and sim_orders(url) == []


def test_unknown_endpoint_and_method_answer_in_the_error_shape(url: str) -> None:
    resp = requests.get(api(url, "/no/such/thing"), headers=KEY, timeout=5)
    assert resp.status_code == 404 and error_codes(resp) == ["not_found"]
    wrong = requests.delete(api(url, "/order/certificate/ssl"), headers=KEY, timeout=5)
    assert wrong.status_code == 405 and error_codes(wrong) == ["method_not_allowed"]
    missing = requests.get(api(url, "/order/certificate/999"), headers=KEY, timeout=5)
    assert missing.status_code == 404 and error_codes(missing) == ["not_found"]


# -- ordering and approval ----------------------------------------------------------------------
def test_one_step_order_waits_for_approval(url: str) -> None:
    created = create(url, alternative_order_id="crtone")
    assert created["requests"][0]["status"] == "pending"
    assert "certificate_id" not in created
    assert [d["name"] for d in created["domains"]] == ["www.example.com", "example.com"]
    assert re.fullmatch(r"[0-9a-f]{32}", created["dcv_random_value"])
    order = info(url, created["id"])
    assert order["status"] == "needs_approval" and order["has_pending_request"] is True
    assert order["alternative_order_id"] == "crtone"
    assert order["product"]["name_id"] == "ssl_basic"
    assert "id" not in order["certificate"]
    request_id = created["requests"][0]["id"]
    approve = requests.put(api(url, f"/request/{request_id}/status"), json={"status": "approved"}, headers=KEY,
                           timeout=5)
    assert approve.status_code == 204
    approved = info(url, created["id"])
    assert approved["status"] == "pending" and isinstance(approved["certificate"]["id"], int)


def test_skip_approval_approves_at_once_with_a_certificate_id(url: str) -> None:
    created = create(url, skip_approval=True)
    assert created["requests"][0]["status"] == "approved"
    order = info(url, created["id"])
    assert order["status"] == "pending" and order["certificate"]["id"] == created["certificate_id"]


def test_two_step_approval_needs_two_approvals(make_sim: Any) -> None:
    base = make_sim(approval="two-step")
    created = create(base)
    request_id = created["requests"][0]["id"]
    assert created["requests"][0]["status"] == "submitted" and "certificate_id" not in created
    for expected_status in ("needs_approval", "pending"):
        requests.put(api(base, f"/request/{request_id}/status"), json={"status": "approved"}, headers=KEY,
                     timeout=5).raise_for_status()
        assert info(base, created["id"])["status"] == expected_status
    again = requests.put(api(base, f"/request/{request_id}/status"), json={"status": "approved"}, headers=KEY,
                         timeout=5)
    assert again.status_code == 400 and error_codes(again) == ["invalid_request_status"]


def test_auto_approval_answers_approved_with_a_certificate_id(make_sim: Any) -> None:
    base = make_sim(approval="auto")
    created = create(base)
    assert created["requests"][0]["status"] == "approved" and isinstance(created["certificate_id"], int)


def test_a_rejected_request_rejects_the_order(url: str) -> None:
    created = create(url)
    request_id = created["requests"][0]["id"]
    requests.put(api(url, f"/request/{request_id}/status"), json={"status": "rejected", "processor_comment": "no"},
                 headers=KEY, timeout=5).raise_for_status()
    order = info(url, created["id"])
    assert order["status"] == "rejected"
    assert order["requests"][-1]["processor_comment"] == "no"


def test_duplicate_alternative_order_id_is_refused_when_unique(url: str, make_sim: Any) -> None:
    create(url, alternative_order_id="crtdup")
    again = requests.post(api(url, "/order/certificate/ssl"), json=order_body(alternative_order_id="crtdup"),
                          headers=KEY, timeout=5)
    assert again.status_code == 409 and error_codes(again) == ["duplicate_alternative_order_id"]
    assert len(sim_orders(url)) == 1
    lax = make_sim(unique_alternative_order_id=False)
    create(lax, alternative_order_id="crtdup")
    create(lax, alternative_order_id="crtdup")
    assert [o["client_reference"] for o in sim_orders(lax)] == ["crtdup", "crtdup"]


def test_an_organization_given_by_details_is_matched_or_created(url: str) -> None:
    first = create(url, organization={"name": "Brand New Ltd", "country": "gb"})
    assert isinstance(first["organization"]["id"], int)
    second = create(url, organization={"name": "brand new ltd"})
    assert "organization" not in second
    assert info(url, second["id"])["organization"]["id"] == first["organization"]["id"]


@pytest.mark.parametrize(("over", "code"), [
    ({"product": {"type_hint": "dv"}}, "ambiguous_product"),
    ({"dcv_method": "carrier-pigeon"}, "invalid_dcv_method"),
    ({"dcv_method": None}, "required_param:dcv_method"),
    ({"organization": {"id": 999}}, "invalid_param:organization.id"),
    ({"order_validity": {"years": 4}}, "invalid_value:validity_years"),
    ({"order_validity": {"days": 1096}}, "invalid_value:validity_days"),
    ({"order_validity": None, "validity_years": 4}, "invalid_value:validity_years"),
    ({"order_validity": {"years": "one"}}, "invalid_param:validity_years"),
    ({"order_validity": None}, "required_param:order_validity"),
    ({"alternative_order_id": "x" * 65}, "invalid_param:alternative_order_id"),
    ({"alternative_order_id": "has space"}, "invalid_param:alternative_order_id"),
    ({"alternative_order_id": "crt_underscore"}, "invalid_param:alternative_order_id"),
    ({"alternative_order_id": "crt.renew.1"}, "invalid_param:alternative_order_id"),
    ({"alternative_order_id": "crt-dash"}, "invalid_param:alternative_order_id"),
    ({"alternative_order_id": ""}, "invalid_param:alternative_order_id"),
    ({"renewal_of_order_id": 42}, "invalid_param:renewal_of_order_id"),
    ({"auto_renew": 5}, "invalid_param:auto_renew"),
])
def test_invalid_orders_are_rejected_naming_the_parameter(url: str, over: dict[str, Any], code: str) -> None:
    body = order_body(**over)
    if over.get("dcv_method", "") is None:
        del body["dcv_method"]
    if "order_validity" in over and over["order_validity"] is None:  # absent, or the deprecated fields
        del body["order_validity"]
    resp = requests.post(api(url, "/order/certificate/ssl"), json=body, headers=KEY, timeout=5)
    assert resp.status_code == 400
    assert code in error_codes(resp)
    assert sim_orders(url) == []


def test_certificate_fields_are_validated_together(url: str) -> None:
    body = order_body()
    body["certificate"] = {"common_name": "bad_name..com", "dns_names": ["ok.example.com", "-bad.example.com"],
                           "signature_hash": "md5", "cert_validity": {"days": 366}}
    resp = requests.post(api(url, "/order/certificate/ssl"), json=body, headers=KEY, timeout=5)
    assert resp.status_code == 400
    assert set(error_codes(resp)) == {
        "invalid_param:certificate.common_name", "invalid_param:certificate.dns_names",
        "required_param:certificate.csr", "invalid_param:certificate.signature_hash",
        "invalid_param:certificate.cert_validity.days"}


def test_private_certificates_may_outlive_the_public_limit(url: str) -> None:
    body = order_body(product={"type_hint": "private"}, order_validity={"days": 730})
    body["certificate"]["cert_validity"] = {"days": 700}
    body["certificate"]["ca_cert_id"] = defaults.DIGICERT_PRIVATE_CA_CERT_ID
    resp = requests.post(api(url, "/order/certificate/ssl"), json={**body, "skip_approval": True}, headers=KEY,
                         timeout=5)
    assert resp.status_code == 201, resp.text
    advance(url)
    order = info(url, resp.json()["id"])
    assert order["product"]["name_id"] == "private_ssl_plus"
    cert = x509.load_der_x509_certificate(download(url, order["certificate"]["id"], "der").content)
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc).days == 700


def _tampered(pem_text: str) -> str:
    der = bytearray(x509.load_pem_x509_csr(pem_text.encode()).public_bytes(serialization.Encoding.DER))
    der[-3] ^= 0x01  # inside the signature: still parses, no longer verifies
    b64 = base64.encodebytes(bytes(der)).decode()
    return f"-----BEGIN CERTIFICATE REQUEST-----\n{b64}-----END CERTIFICATE REQUEST-----\n"


@pytest.mark.parametrize("bad", [
    "not a csr",
    "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
    "tampered",
    "rsa1024",
])
def test_bad_csrs_are_rejected(url: str, bad: str) -> None:
    if bad == "tampered":
        bad = _tampered(csr_pem())
    elif bad == "rsa1024":
        bad = csr_pem(key=generate_key("rsa", 1024))
    body = order_body()
    body["certificate"]["csr"] = bad
    resp = requests.post(api(url, "/order/certificate/ssl"), json=body, headers=KEY, timeout=5)
    assert resp.status_code == 400
    assert error_codes(resp) == ["invalid_csr"]
    assert sim_orders(url) == []


def test_malformed_json_body_is_a_400(url: str) -> None:
    resp = requests.post(api(url, "/order/certificate/ssl"), data=b"{nope", headers=KEY, timeout=5)
    assert resp.status_code == 400 and error_codes(resp) == ["invalid_json"]


# -- issuance ---------------------------------------------------------------------------------
def test_advance_issues_and_the_chain_verifies_with_openssl(url: str, tmp_path: Path) -> None:
    created = create(url, skip_approval=True, alternative_order_id="crtossl")
    assert info(url, created["id"])["status"] == "pending"
    time.sleep(0.2)
    assert info(url, created["id"])["status"] == "pending"  # issue_delay_s=None: only /_sim/advance issues
    assert advance(url)["issued"] == 1
    order = info(url, created["id"])
    assert order["status"] == "issued"
    cert_info = order["certificate"]
    assert re.fullmatch(r"([0-9A-F]{2})+", cert_info["serial_number"])
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", cert_info["valid_till"])
    bundle = download(url, cert_info["id"], "pem_noroot")
    assert bundle.status_code == 200 and bundle.text.count(BEGIN) == 2
    blocks = re.findall(f"{BEGIN}.+?-----END CERTIFICATE-----\n", bundle.text, re.S)
    (tmp_path / "leaf.pem").write_text(blocks[0])
    (tmp_path / "chain.pem").write_text("".join(blocks[1:]))
    (tmp_path / "root.pem").write_text(requests.get(f"{url}/_sim/ca.pem", timeout=5).text)
    result = subprocess.run(["openssl", "verify", "-CAfile", "root.pem", "-untrusted", "chain.pem", "leaf.pem"],
                            cwd=tmp_path, capture_output=True, text=True, check=False)
    assert result.returncode == 0 and result.stdout.strip() == "leaf.pem: OK", result.stdout + result.stderr
    leaf = x509.load_pem_x509_certificate(blocks[0].encode())
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["www.example.com", "example.com"]
    assert format(leaf.serial_number, "X").zfill(len(cert_info["serial_number"])) == cert_info["serial_number"]


def test_issue_delay_completes_without_advance(make_sim: Any) -> None:
    base = make_sim(issue_delay_s=0.3)
    created = create(base, skip_approval=True)
    assert info(base, created["id"])["status"] == "pending"
    time.sleep(0.4)
    order = info(base, created["id"])
    assert order["status"] == "issued"
    assert "dcv_token" not in order  # the token is read with PUT .../dcv-random-value, never from order info


def test_advance_approves_waiting_requests_too(url: str) -> None:
    created = create(url)
    summary = advance(url)
    assert summary["approved"] == 1 and summary["issued"] == 1
    assert info(url, created["id"])["status"] == "issued"


def test_names_with_a_reject_marker_are_rejected(url: str) -> None:
    created = create(url, common_name="reject.example.com", skip_approval=True)
    summary = advance(url)
    assert summary["rejected"] == 1
    order = info(url, created["id"])
    assert order["status"] == "rejected"
    assert "validation failed" in order["requests"][-1]["processor_comment"]


def test_download_formats(url: str) -> None:
    cert_id = issued_order(url)["certificate"]["id"]
    pem_all = download(url, cert_id, "pem_all")
    assert pem_all.text.count(BEGIN) == 3
    assert pem_all.text.endswith(requests.get(f"{url}/_sim/ca.pem", timeout=5).text)
    der = download(url, cert_id, "der")
    assert der.headers["Content-Type"] == "application/pkix-cert"
    leaf = x509.load_der_x509_certificate(der.content)
    p7b = pkcs7.load_der_pkcs7_certificates(download(url, cert_id, "p7b").content)
    assert p7b[0] == leaf and len(p7b) == 2
    bad = download(url, cert_id, "zip")
    assert bad.status_code == 400 and error_codes(bad) == ["invalid_param:format"]
    pending = create(url, skip_approval=True)
    not_yet = download(url, pending["certificate_id"], "pem_all")
    assert not_yet.status_code == 400 and error_codes(not_yet) == ["invalid_certificate_status"]
    assert download(url, 42, "der").status_code == 404


# -- listing ----------------------------------------------------------------------------------
def test_list_pages_and_filters(url: str) -> None:
    issued = issued_order(url, common_name="one.example.com")
    create(url, common_name="two.example.com")
    requests.post(f"{url}/_sim/seed", json={"count": 5}, timeout=30).raise_for_status()

    def listing(**params: Any) -> dict[str, Any]:
        resp = requests.get(api(url, "/order/certificate"), params=params, headers=KEY, timeout=5)
        assert resp.status_code == 200, resp.text
        return resp.json()

    first = listing(offset=0, limit=3)
    assert first["page"] == {"total": 7, "offset": 0, "limit": 3} and len(first["orders"]) == 3
    rest = listing(offset=3, limit=1000)
    ids = [o["id"] for o in first["orders"] + rest["orders"]]
    assert ids == sorted(ids) and len(set(ids)) == 7
    assert [o["id"] for o in listing(sort="-id")["orders"]] == sorted(ids, reverse=True)
    assert [o["status"] for o in listing(**{"filters[status]": "needs_approval"})["orders"]] == ["needs_approval"]
    by_cn = listing(**{"filters[common_name]": "ONE.example.com"})["orders"]
    assert [o["id"] for o in by_cn] == [issued["id"]]
    assert by_cn[0]["certificate"]["serial_number"] == issued["certificate"]["serial_number"]
    serial = issued["certificate"]["serial_number"].lower()
    assert [o["id"] for o in listing(**{"filters[serial_number]": serial})["orders"]] == [issued["id"]]
    too_many = requests.get(api(url, "/order/certificate"), params={"limit": 1001}, headers=KEY, timeout=5)
    assert too_many.status_code == 400 and error_codes(too_many) == ["invalid_param:limit"]


# -- changes ----------------------------------------------------------------------------------
def test_reissue_goes_reissue_pending_then_issued_with_a_new_certificate(url: str) -> None:
    order = issued_order(url)
    old_id = order["certificate"]["id"]
    body = {"certificate": {"common_name": "www.example.com", "dns_names": ["api.example.com"],
                            "csr": csr_pem(), "signature_hash": "sha256"}, "skip_approval": True}
    resp = requests.post(api(url, f"/order/certificate/{order['id']}/reissue"), json=body, headers=KEY, timeout=5)
    assert resp.status_code == 201
    new_id = resp.json()["certificate_id"]
    assert resp.json()["id"] == order["id"] and new_id != old_id
    pending = info(url, order["id"])
    assert pending["status"] == "reissue_pending" and pending["certificate"]["id"] == new_id
    advance(url)
    done = info(url, order["id"])
    assert done["status"] == "issued" and done["certificate"]["dns_names"] == ["www.example.com", "api.example.com"]
    assert download(url, old_id, "der").status_code == 200  # the previous certificate stays downloadable
    again_pending = create(url, skip_approval=True)
    refused = requests.post(api(url, f"/order/certificate/{again_pending['id']}/reissue"), json=body, headers=KEY,
                            timeout=5)
    assert refused.status_code == 400 and error_codes(refused) == ["invalid_order_status"]


def test_reissue_without_skip_approval_waits_for_an_approver(url: str) -> None:
    order = issued_order(url)
    body = {"certificate": {"common_name": "www.example.com", "csr": csr_pem(), "signature_hash": "sha256"}}
    resp = requests.post(api(url, f"/order/certificate/{order['id']}/reissue"), json=body, headers=KEY, timeout=5)
    assert resp.status_code == 201 and "certificate_id" not in resp.json()
    assert isinstance(resp.json()["requests"][0]["id"], int)
    pending = info(url, order["id"])
    assert pending["status"] == "reissue_pending" and pending["has_pending_request"] is True


def test_renewal_links_the_orders(url: str) -> None:
    old = issued_order(url)
    renewal = create(url, renewal_of_order_id=old["id"], alternative_order_id="crtrrenew1")
    new = info(url, renewal["id"])
    assert new["is_renewal"] is True and new["renewal_of_order_id"] == old["id"]
    assert info(url, old["id"])["renewed_order_id"] == renewal["id"]
    refused = requests.post(api(url, "/order/certificate/ssl"), json=order_body(renewal_of_order_id=renewal["id"]),
                            headers=KEY, timeout=5)
    assert refused.status_code == 400 and error_codes(refused) == ["invalid_param:renewal_of_order_id"]


# -- rate limit and faults ----------------------------------------------------------------------
def set_faults(base: str, **faults: Any) -> None:
    requests.put(f"{base}/_sim/faults", json=faults, timeout=5).raise_for_status()


def test_fault_latency(url: str) -> None:
    set_faults(url, latency_ms=300)
    started = time.monotonic()
    assert requests.get(api(url, "/order/certificate"), headers=KEY, timeout=5).status_code == 200
    assert time.monotonic() - started >= 0.3


@pytest.mark.parametrize("status", [500, 502, 503])
def test_fault_error_status_in_the_provider_shape(url: str, status: int) -> None:
    set_faults(url, error_rate=1, error_status=status)
    resp = requests.post(api(url, "/order/certificate/ssl"), json=order_body(), headers=KEY, timeout=5)
    assert resp.status_code == status
    assert error_codes(resp) == ["service_unavailable" if status == 503 else "internal_error"]
    assert sim_orders(url) == []  # failed before anything was committed


def test_fault_rate_limit_answers_as_digicert_does_without_retry_after(url: str) -> None:
    set_faults(url, rate_limit_per_s=1, retry_after_s=7)
    first = requests.get(api(url, "/order/certificate"), headers=KEY, timeout=5)
    second = requests.get(api(url, "/order/certificate"), headers=KEY, timeout=5)
    assert first.status_code == 200 and second.status_code == 429
    assert "Retry-After" not in second.headers and error_codes(second) == ["request_limit_exceeded"]


def test_fault_hang_outlasts_the_client_timeout(make_sim: Any) -> None:
    base = make_sim()
    set_faults(base, hang_s=1.0, max_faults=1)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(api(base, "/order/certificate"), headers=KEY, timeout=(1, 0.3))
    assert requests.get(api(base, "/order/certificate"), headers=KEY, timeout=5).status_code == 200


def test_fault_malformed_answer_after_commit(url: str) -> None:
    set_faults(url, malformed_rate=1, paths=["/services/v2/order/certificate/ssl"])
    resp = requests.post(api(url, "/order/certificate/ssl"), json=order_body(alternative_order_id="crtm"),
                         headers=KEY, timeout=5)
    assert resp.status_code == 201
    with pytest.raises(ValueError):
        resp.json()
    assert [o["client_reference"] for o in sim_orders(url)] == ["crtm"]


def test_fault_drop_after_commit(url: str) -> None:
    set_faults(url, drop_after_commit_rate=1, max_faults=1)
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.post(api(url, "/order/certificate/ssl"), json=order_body(alternative_order_id="crtd"),
                      headers=KEY, timeout=5)
    assert [o["client_reference"] for o in sim_orders(url)] == ["crtd"]
    assert requests.get(f"{url}/_sim/stats", timeout=5).json()["faults"] == 1


def test_faults_apply_only_to_their_paths(url: str) -> None:
    set_faults(url, error_rate=1, error_status=503, paths=["/services/v2/certificate/"])
    assert requests.get(api(url, "/order/certificate"), headers=KEY, timeout=5).status_code == 200
    assert download(url, 1, "der").status_code == 503


# -- admin ------------------------------------------------------------------------------------
def test_seed_creates_issued_certificates_with_spread_expiries(url: str) -> None:
    resp = requests.post(f"{url}/_sim/seed", json={"count": 30, "common_name_prefix": "imp", "days_valid": 90},
                         timeout=30)
    assert resp.status_code == 201 and resp.json()["created"] == 30
    orders = sim_orders(url)
    assert len(orders) == 30 and {o["status"] for o in orders} == {"issued"}
    assert all(o["common_name"].startswith("imp-") and o["client_reference"] is None for o in orders)
    listing = requests.get(api(url, "/order/certificate"), headers=KEY, timeout=5).json()["orders"]
    expiries = {o["certificate"]["valid_till"] for o in listing}
    assert len(expiries) >= 20
    some = listing[7]["certificate"]["id"]
    assert x509.load_der_x509_certificate(download(url, some, "der").content).public_key().curve.name == "secp256r1"
    expired = requests.post(f"{url}/_sim/seed", json={"count": 2, "status": "expired"}, timeout=30)
    assert expired.status_code == 201
    assert [o["status"] for o in sim_orders(url)][-2:] == ["expired", "expired"]
    for bad in ({"count": 0}, {"count": 1, "status": "pending"}, {"count": "many"}):
        assert requests.post(f"{url}/_sim/seed", json=bad, timeout=5).status_code == 400


def test_sim_orders_lists_every_order_ever_created(url: str) -> None:
    create(url, alternative_order_id="crta")
    canceled = create(url, skip_approval=True)
    requests.put(api(url, f"/order/certificate/{canceled['id']}/status"), json={"status": "canceled", "note": "n"},
                 headers=KEY, timeout=5).raise_for_status()
    orders = sim_orders(url)
    assert [(o["client_reference"], o["status"], o["common_name"], o["product"]) for o in orders] == [
        ("crta", "needs_approval", "www.example.com", "ssl_basic"),
        (None, "canceled", "www.example.com", "ssl_basic")]
    requests.post(f"{url}/_sim/reset", timeout=5).raise_for_status()
    assert sim_orders(url) == []


# -- alternative order id ("Order SSL (type_hint)", "Get orders by alternative order ID") --------------
def alternate(base: str, alt_id: str, **params: Any) -> requests.Response:
    return requests.get(api(base, f"/order/alternate/{alt_id}"), params=params, headers=KEY, timeout=5)


def test_orders_are_found_by_alternative_order_id(url: str, make_sim: Any) -> None:
    created = create(url, alternative_order_id="crt0123456789abcdef")
    found = alternate(url, "crt0123456789abcdef")
    assert found.status_code == 200
    assert found.json() == {"orders": [{"order_id": created["id"], "status": "needs_approval"}],
                            "page": {"total": 1, "limit": 1000, "offset": 0}}
    assert alternate(url, "nosuchid").json() == {"orders": [], "page": {"total": 0, "limit": 1000, "offset": 0}}
    approved = create(url, alternative_order_id="A" * 64, skip_approval=True)
    assert alternate(url, "A" * 64).json()["orders"] == [
        {"order_id": approved["id"], "certificate_id": approved["certificate_id"], "status": "pending"}]
    lax = make_sim(unique_alternative_order_id=False)
    ids = [create(lax, alternative_order_id="twice")["id"] for _ in range(3)]
    paged = alternate(lax, "twice", offset=1, limit=1).json()
    assert paged["orders"] == [{"order_id": ids[1], "status": "needs_approval"}]
    assert paged["page"] == {"total": 3, "limit": 1, "offset": 1}


def test_the_order_list_does_not_carry_the_alternative_order_id(url: str) -> None:
    created = create(url, alternative_order_id="crtlisted")
    listed = requests.get(api(url, "/order/certificate"), headers=KEY, timeout=5).json()["orders"]
    assert [o["id"] for o in listed] == [created["id"]] and "alternative_order_id" not in listed[0]
    assert info(url, created["id"])["alternative_order_id"] == "crtlisted"  # order info still does


# -- DCV ("Get order DCV random value", "Change order DCV method", "Check order DCV") -----------------
def put(base: str, path: str, body: dict[str, Any] | None = None, headers: dict[str, str] = KEY) -> requests.Response:
    return requests.put(api(base, path), json=body, headers=headers, timeout=5)


def place_dcv(base: str, order_id: int, names: list[str] | None = None) -> dict[str, Any]:
    resp = requests.put(f"{base}/_sim/orders/{order_id}/dcv", json={"dns_names": names} if names else {}, timeout=5)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_dcv_random_value_is_stable_until_it_expires(url: str) -> None:
    created = create(url, skip_approval=True)
    first = put(url, f"/order/certificate/{created['id']}/dcv-random-value")
    assert first.status_code == 200 and set(first.json()) == {"dcv_random_value", "expiration_date"}
    assert first.json()["dcv_random_value"] == created["dcv_random_value"]
    expires = dt.datetime.fromisoformat(first.json()["expiration_date"])
    assert put(url, f"/order/certificate/{created['id']}/dcv-random-value").json() == first.json()
    set_clock(url, expires + dt.timedelta(minutes=1))
    renewed = put(url, f"/order/certificate/{created['id']}/dcv-random-value").json()
    assert renewed["dcv_random_value"] != first.json()["dcv_random_value"]
    assert dt.datetime.fromisoformat(renewed["expiration_date"]) > expires


def test_check_dcv_for_dns_lists_every_name_and_issues_once_all_are_found(url: str) -> None:
    created = create(url, skip_approval=True, dcv_method="dns-txt-token")
    path = f"/order/certificate/{created['id']}/check-dcv"
    before = put(url, path)
    assert before.status_code == 200
    assert before.json()["dns_name_validations"] == [{"dns_name": "www.example.com", "status": "pending"},
                                                     {"dns_name": "example.com", "status": "pending"}]
    assert before.json()["order_status"] == "pending" and before.json()["dcv_status"] == "pending"
    place_dcv(url, created["id"], ["www.example.com"])
    half = put(url, path).json()
    assert [v["status"] for v in half["dns_name_validations"]] == ["approved", "pending"]
    place_dcv(url, created["id"])
    done = put(url, path).json()
    assert done["order_status"] == "issued" and done["dcv_status"] == "valid"
    assert done["certificate_id"] == created["certificate_id"]
    assert info(url, created["id"])["status"] == "issued"


def test_check_dcv_for_http_token_is_a_400_until_the_file_is_in_place(url: str) -> None:
    created = create(url, skip_approval=True, dcv_method="http-token")
    path = f"/order/certificate/{created['id']}/check-dcv"
    missing = put(url, path)
    assert missing.status_code == 400 and error_codes(missing) == ["file_random_value_not_found"]
    place_dcv(url, created["id"])
    assert put(url, path).json()["order_status"] == "issued"


def test_changing_the_dcv_method_answers_the_random_value_and_needs_the_new_proof(url: str) -> None:
    created = create(url, skip_approval=True, dcv_method="dns-txt-token")
    place_dcv(url, created["id"])  # a TXT record is in place ...
    changed = put(url, f"/order/certificate/{created['id']}/dcv-method", {"dcv_method": "http-token"})
    assert changed.status_code == 200 and set(changed.json()) == {"dcv_random_value", "expiration_date"}
    missing = put(url, f"/order/certificate/{created['id']}/check-dcv")  # ... but no file yet
    assert missing.status_code == 400 and error_codes(missing) == ["file_random_value_not_found"]
    to_email = put(url, f"/order/certificate/{created['id']}/dcv-method", {"dcv_method": "email"})
    assert to_email.status_code == 204 and to_email.content == b""
    assert put(url, f"/order/certificate/{created['id']}/dcv-random-value").status_code == 400
    bad = put(url, f"/order/certificate/{created['id']}/dcv-method", {"dcv_method": "fax"})
    assert bad.status_code == 400 and error_codes(bad) == ["invalid_dcv_method"]
    issued = issued_order(url)
    late = put(url, f"/order/certificate/{issued['id']}/dcv-method", {"dcv_method": "dns-cname-token"})
    assert late.status_code == 400 and error_codes(late) == ["invalid_order_status"]


def test_the_old_change_dcv_path_and_dcv_token_are_gone(url: str) -> None:
    created = create(url, skip_approval=True, dcv_method="http-token")
    old = put(url, f"/order/certificate/{created['id']}/change-dcv", {"dcv_method": "email"})
    assert old.status_code == 404 and error_codes(old) == ["not_found"]
    assert "dcv_token" not in info(url, created["id"])


# -- revoke ("Revoke certificate", "Revoke order certificates", "Request info", "Update request status") --
def test_revoke_creates_a_pending_request_an_administrator_approves(url: str) -> None:
    order = issued_order(url)
    cert_id = order["certificate"]["id"]
    waiting = put(url, f"/certificate/{cert_id}/revoke", {"revocation_reason": "superseded", "comments": "c"})
    assert waiting.status_code == 201
    request = waiting.json()
    assert request["type"] == "revoke" and request["status"] == "pending" and request["comments"] == "c"
    assert request["requester"]["email"] == "admin@certgate.local"
    assert info(url, order["id"])["status"] == "issued"
    shown = requests.get(api(url, f"/request/{request['id']}"), headers=KEY, timeout=5).json()
    assert shown["status"] == "pending" and shown["type"] == "revoke" and shown["order"]["id"] == order["id"]
    assert put(url, f"/request/{request['id']}/status", {"status": "approved"}, USER_KEY).status_code == 403
    approved = put(url, f"/request/{request['id']}/status", {"status": "approved", "processor_comment": "ok"})
    assert approved.status_code == 204
    shown = requests.get(api(url, f"/request/{request['id']}"), headers=KEY, timeout=5).json()
    assert shown["status"] == "approved" and "date_processed" in shown and shown["revocation_reason"] == "superseded"
    # The order stays active after its only certificate is revoked (the account setting is off).
    assert info(url, order["id"])["status"] == "issued"
    again = put(url, f"/certificate/{cert_id}/revoke", {"skip_approval": True})
    assert again.status_code == 400 and error_codes(again) == ["invalid_certificate_status"]


def test_skip_approval_revokes_at_once_only_with_an_admin_key(url: str) -> None:
    by_user = issued_order(url)
    held = put(url, f"/certificate/{by_user['certificate']['id']}/revoke",
               {"revocation_reason": "key_compromise", "skip_approval": True}, USER_KEY)
    assert held.status_code == 201 and held.json()["status"] == "pending"
    assert held.json()["requester"]["email"] == "user@certgate.local"
    by_admin = issued_order(url)
    at_once = put(url, f"/order/certificate/{by_admin['id']}/revoke",
                  {"revocation_reason": "cessation_of_operation", "skip_approval": True})
    assert at_once.status_code == 204 and at_once.content == b""
    assert info(url, by_admin["id"])["status"] == "revoked"  # the whole order


def test_revoking_the_last_certificate_revokes_the_order_when_the_account_says_so(make_sim: Any) -> None:
    base = make_sim(revoke_order_with_last_certificate=True)
    order = issued_order(base)
    assert put(base, f"/certificate/{order['certificate']['id']}/revoke", {"skip_approval": True}).status_code == 204
    assert info(base, order["id"])["status"] == "revoked"


def test_a_certificate_is_found_by_serial_number_too(url: str) -> None:
    order = issued_order(url)
    serial = order["certificate"]["serial_number"]
    assert put(url, f"/certificate/{serial}/revoke", {"skip_approval": True}).status_code == 204
    assert put(url, "/certificate/7/revoke", {}).status_code == 404


@pytest.mark.parametrize("reason", ["bored", "keyCompromise", "affiliation_changed", "ca_compromise"])
def test_revocation_reasons_use_the_documented_spellings(url: str, reason: str) -> None:
    order = issued_order(url)
    bad = put(url, f"/certificate/{order['certificate']['id']}/revoke", {"revocation_reason": reason})
    assert bad.status_code == 400 and error_codes(bad) == ["invalid_param:revocation_reason"]


def test_a_certificate_with_a_pending_reissue_cannot_be_revoked(url: str) -> None:
    order = issued_order(url)
    body = {"certificate": {"common_name": "www.example.com", "csr": csr_pem(), "signature_hash": "sha256"}}
    requests.post(api(url, f"/order/certificate/{order['id']}/reissue"), json=body, headers=KEY,
                  timeout=5).raise_for_status()
    refused = put(url, f"/certificate/{order['certificate']['id']}/revoke", {"skip_approval": True})
    assert refused.status_code == 400 and error_codes(refused) == ["pending_reissue"]
    whole = put(url, f"/order/certificate/{order['id']}/revoke", {"skip_approval": True})
    assert whole.status_code == 400 and error_codes(whole) == ["pending_reissue"]


def test_a_rejected_revoke_request_leaves_the_certificate_alone(url: str) -> None:
    order = issued_order(url)
    request = put(url, f"/order/certificate/{order['id']}/revoke", {"comments": "please"}).json()
    put(url, f"/request/{request['id']}/status", {"status": "rejected", "processor_comment": "no"}).raise_for_status()
    assert info(url, order["id"])["status"] == "issued"
    shown = requests.get(api(url, f"/request/{request['id']}"), headers=KEY, timeout=5).json()
    assert shown["status"] == "rejected" and shown["processor_comment"] == "no"


# -- cancel ("Update order status") ---------------------------------------------------------------
def cancel(base: str, order_id: int, **body: Any) -> requests.Response:
    return put(base, f"/order/certificate/{order_id}/status", {"status": "canceled", "note": "n", **body})


def test_cancel_from_pending_only_with_status_canceled_and_a_note(url: str) -> None:
    created = create(url, skip_approval=True)  # approved: pending validation
    path = f"/order/certificate/{created['id']}/status"
    for body, code in (({"status": "CANCELED", "note": "n"}, "invalid_param:status"),
                       ({"status": "issued", "note": "n"}, "invalid_param:status"),
                       ({"status": "canceled"}, "required_param:note")):
        refused = put(url, path, body)
        assert refused.status_code == 400 and error_codes(refused) == [code]
    done = cancel(url, created["id"])
    assert done.status_code == 204 and done.content == b""
    assert info(url, created["id"])["status"] == "canceled"
    again = cancel(url, created["id"])
    assert again.status_code == 400 and error_codes(again) == ["invalid_order_status"]
    assert advance(url)["issued"] == 0  # a canceled order never issues


@pytest.mark.parametrize("status", ["needs_approval", "issued"])
def test_cancel_is_refused_outside_pending_waiting_pickup_and_reissue_pending(url: str, status: str) -> None:
    order_id = create(url)["id"] if status == "needs_approval" else issued_order(url)["id"]
    refused = cancel(url, order_id)
    assert refused.status_code == 400 and error_codes(refused) == ["invalid_order_status"]
    assert info(url, order_id)["status"] == status


def test_cancel_from_waiting_pickup(url: str) -> None:
    created = create(url, skip_approval=True)
    force_status(url, created["id"], "waiting_pickup")
    assert cancel(url, created["id"]).status_code == 204
    assert info(url, created["id"])["status"] == "canceled"


def test_canceling_a_reissue_reverts_the_order_to_issued(url: str) -> None:
    order = issued_order(url)
    body = {"certificate": {"common_name": "www.example.com", "csr": csr_pem(), "signature_hash": "sha256"}}
    requests.post(api(url, f"/order/certificate/{order['id']}/reissue"), json=body, headers=KEY,
                  timeout=5).raise_for_status()
    assert info(url, order["id"])["status"] == "reissue_pending"
    assert cancel(url, order["id"], note="not needed").status_code == 204
    after = info(url, order["id"])
    assert after["status"] == "issued" and after["certificate"]["id"] == order["certificate"]["id"]
    reissue_request = after["requests"][-1]
    shown = requests.get(api(url, f"/request/{reissue_request['id']}"), headers=KEY, timeout=5).json()
    assert shown["type"] == "reissue" and shown["status"] == "rejected" and shown["processor_comment"] == "not needed"


# -- validity (SC-081 by issuance date) and coverage plans ------------------------------------------
def set_clock(base: str, when: dt.datetime) -> None:
    requests.put(f"{base}/_sim/clock", json={"now": when.isoformat()}, timeout=5).raise_for_status()


def force_status(base: str, order_id: int, status: str) -> None:
    requests.put(f"{base}/_sim/orders/{order_id}/status", json={"status": status}, timeout=5).raise_for_status()


def leaf_days(base: str, certificate_id: int) -> int:
    cert = x509.load_der_x509_certificate(download(base, certificate_id, "der").content)
    return (cert.not_valid_after_utc - cert.not_valid_before_utc).days


@pytest.mark.parametrize(("issued_on", "expected_days"), [
    (dt.datetime(2026, 2, 23, 12, tzinfo=dt.UTC), 365),  # before SC-081: the plan's year (<= 397)
    (dt.datetime(2026, 2, 24, 0, 1, tzinfo=dt.UTC), 199),
    (dt.datetime(2027, 3, 14, 23, tzinfo=dt.UTC), 199),
    (dt.datetime(2027, 3, 15, 0, 1, tzinfo=dt.UTC), 99),
    (dt.datetime(2029, 3, 14, 23, tzinfo=dt.UTC), 99),
    (dt.datetime(2029, 3, 15, 0, 1, tzinfo=dt.UTC), 46),
])
def test_a_longer_public_certificate_is_cut_to_the_maximum_of_its_issuance_date(
        url: str, issued_on: dt.datetime, expected_days: int) -> None:
    created = create(url, skip_approval=True)  # 1-year plan, no cert_validity: the plan, or the maximum
    set_clock(url, issued_on)
    advance(url)
    assert leaf_days(url, created["certificate_id"]) == expected_days
    asked = order_body()
    asked["certificate"]["cert_validity"] = {"days": 300}
    resp = requests.post(api(url, "/order/certificate/ssl"), json={**asked, "skip_approval": True}, headers=KEY,
                         timeout=5)
    assert resp.status_code == 201  # cut, not refused
    advance(url)
    assert leaf_days(url, resp.json()["certificate_id"]) == min(300, expected_days)


def test_the_cut_follows_issuance_not_ordering(url: str) -> None:
    set_clock(url, dt.datetime(2027, 3, 14, 12, tzinfo=dt.UTC))
    created = create(url, skip_approval=True)
    set_clock(url, dt.datetime(2027, 3, 16, tzinfo=dt.UTC))
    advance(url)
    assert leaf_days(url, created["certificate_id"]) == 99


def test_private_ssl_is_not_bound_by_sc081(url: str) -> None:
    set_clock(url, dt.datetime(2029, 6, 1, tzinfo=dt.UTC))
    body = order_body(product={"type_hint": "private"}, skip_approval=True)
    body["certificate"]["ca_cert_id"] = defaults.DIGICERT_PRIVATE_CA_CERT_ID
    resp = requests.post(api(url, "/order/certificate/ssl"), json=body, headers=KEY, timeout=5)
    advance(url)
    assert leaf_days(url, resp.json()["certificate_id"]) == 365


def test_a_plan_covers_free_reissues_until_its_end_then_needs_a_renewal(url: str) -> None:
    set_clock(url, dt.datetime(2026, 12, 1, tzinfo=dt.UTC))
    created = create(url, skip_approval=True, order_validity={"years": 2})
    advance(url)
    order = info(url, created["id"])
    assert order["order_validity"] == {"years": 2}
    assert (order["order_valid_from"], order["order_valid_till"]) == ("2026-12-01", "2028-12-01")
    assert leaf_days(url, created["certificate_id"]) == 199
    body = {"certificate": {"common_name": "www.example.com", "csr": csr_pem(), "signature_hash": "sha256"},
            "skip_approval": True}
    set_clock(url, dt.datetime(2028, 11, 1, tzinfo=dt.UTC))  # a reissue inside the plan: free, cut to the plan
    reissued = requests.post(api(url, f"/order/certificate/{created['id']}/reissue"), json=body, headers=KEY,
                             timeout=5)
    assert reissued.status_code == 201
    advance(url)
    assert leaf_days(url, reissued.json()["certificate_id"]) == 30
    assert len(sim_orders(url)) == 1
    set_clock(url, dt.datetime(2028, 12, 2, tzinfo=dt.UTC))
    assert info(url, created["id"])["status"] == "expired"
    late = requests.post(api(url, f"/order/certificate/{created['id']}/reissue"), json=body, headers=KEY, timeout=5)
    assert late.status_code == 400 and error_codes(late) == ["invalid_order_status"]
    renewal = create(url, renewal_of_order_id=created["id"], skip_approval=True)
    assert info(url, renewal["id"])["renewal_of_order_id"] == created["id"]


# -- products ("Order DV SSL", "Order GeoTrust DV SSL", "Order Basic OV", "Order SSL (type_hint)") --
@pytest.mark.parametrize("product", ["ssl_dv_geotrust", "ssl_dv_rapidssl", "wildcard_dv_geotrust",
                                     "ssl_dv_geotrust_flex", "ssl_basic", "ssl_plus", "ssl_ev_basic",
                                     "ssl_ev_plus"])
def test_product_endpoints(url: str, product: str) -> None:
    created = create(url, product=product, skip_approval=True)
    advance(url)
    order = info(url, created["id"])
    assert order["status"] == "issued" and order["product"]["name_id"] == product


def test_dv_needs_no_organization_and_unknown_products_are_404(url: str) -> None:
    body = order_body()
    del body["organization"], body["certificate"]["signature_hash"]
    dv = requests.post(api(url, "/order/certificate/ssl_dv_rapidssl"), json=body, headers=KEY, timeout=5)
    assert dv.status_code == 201, dv.text
    assert "organization" not in info(url, dv.json()["id"])
    unknown = requests.post(api(url, "/order/certificate/ssl_free_forever"), json=order_body(), headers=KEY,
                            timeout=5)
    assert unknown.status_code == 404 and error_codes(unknown) == ["not_found"]
    ov = requests.post(api(url, "/order/certificate/ssl_basic"), json=body, headers=KEY, timeout=5)
    assert ov.status_code == 400 and "required_param:organization" in error_codes(ov)


def test_private_ssl_needs_a_ca_cert_id(url: str) -> None:
    body = order_body(product={"type_hint": "private"})
    missing = requests.post(api(url, "/order/certificate/ssl"), json=body, headers=KEY, timeout=5)
    assert missing.status_code == 400 and error_codes(missing) == ["required_param:certificate.ca_cert_id"]
    body["certificate"]["ca_cert_id"] = "NOTOURS"
    wrong = requests.post(api(url, "/order/certificate/ssl"), json=body, headers=KEY, timeout=5)
    assert wrong.status_code == 400 and error_codes(wrong) == ["invalid_param:certificate.ca_cert_id"]
    body["certificate"]["ca_cert_id"] = defaults.DIGICERT_PRIVATE_CA_CERT_ID
    ok = requests.post(api(url, "/order/certificate/ssl"), json=body, headers=KEY, timeout=5)
    assert ok.status_code == 201
    order = info(url, ok.json()["id"])
    assert order["product"]["name_id"] == "private_ssl_plus"
    assert order["certificate"]["ca_cert"] == {"id": defaults.DIGICERT_PRIVATE_CA_CERT_ID}


# -- rate limits ("Rate limits") --------------------------------------------------------------------
def test_rate_limits_are_rolling_windows_per_key_without_retry_after(make_sim: Any) -> None:
    base = make_sim(rate_limits=((3, 5.0), (5, 300.0)))
    codes = [requests.get(api(base, "/order/certificate"), headers=KEY, timeout=5) for _ in range(4)]
    assert [r.status_code for r in codes] == [200, 200, 200, 429]
    assert error_codes(codes[-1]) == ["request_limit_exceeded"]
    assert codes[-1].json()["errors"][0]["message"] == "Service unavailable, please limit request volume"
    assert "Retry-After" not in codes[-1].headers
    assert requests.get(api(base, "/order/certificate"), headers=USER_KEY, timeout=5).status_code == 200
    requests.put(f"{base}/_sim/rate-limits", json={"limits": [[2, 0.3], [3, 300]]}, timeout=5).raise_for_status()
    short = [requests.get(api(base, "/order/certificate"), headers=KEY, timeout=5).status_code for _ in range(3)]
    assert short == [200, 200, 429]
    time.sleep(0.35)  # the short window rolls on; the long one (3 per 300 s) still holds
    assert requests.get(api(base, "/order/certificate"), headers=KEY, timeout=5).status_code == 200
    assert requests.get(api(base, "/order/certificate"), headers=KEY, timeout=5).status_code == 429


def test_default_rate_limits_and_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert DigiCertSim().rate_limiter.limits == ((100, 5.0), (1000, 300.0))
    monkeypatch.setenv("SIM_DIGICERT_RATE_LIMITS", "7/1,9/60")
    assert from_env().rate_limiter.limits == ((7, 1.0), (9, 60.0))
    monkeypatch.setenv("SIM_DIGICERT_RATE_LIMITS", "0")
    assert from_env().rate_limiter.limits == ()


# -- statuses ----------------------------------------------------------------------------------------
def test_an_unknown_status_can_be_forced_and_is_reported_as_is(url: str) -> None:
    order = issued_order(url)
    force_status(url, order["id"], "pending_reissue_review")
    assert info(url, order["id"])["status"] == "pending_reissue_review"
    listed = requests.get(api(url, "/order/certificate"), params={"filters[status]": "pending_reissue_review"},
                          headers=KEY, timeout=5).json()["orders"]
    assert [o["id"] for o in listed] == [order["id"]]
    assert requests.put(f"{url}/_sim/orders/{order['id']}/status", json={}, timeout=5).status_code == 400


def test_the_clock_can_be_set_and_reset(url: str) -> None:
    set_clock(url, dt.datetime(2030, 1, 1, tzinfo=dt.UTC))
    assert requests.get(f"{url}/_sim/clock", timeout=5).json()["now"].startswith("2030-01-01")
    created = create(url)
    assert info(url, created["id"])["date_created"].startswith("2030-01-01")
    requests.delete(f"{url}/_sim/clock", timeout=5).raise_for_status()
    assert requests.get(f"{url}/_sim/clock", timeout=5).json()["offset_s"] == 0
