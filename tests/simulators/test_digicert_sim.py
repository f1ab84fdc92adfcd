"""The DigiCert simulator over real HTTP, with plain `requests`: auth, every endpoint, approval
modes, async issuance, every fault mode, certificates that `openssl verify`, admin endpoints."""

from __future__ import annotations

import base64
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
from simulators.digicert import DigiCertSim

KEY = {"X-DC-DEVKEY": defaults.DIGICERT_API_KEY}
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


def create(base: str, **over: Any) -> dict[str, Any]:
    resp = requests.post(api(base, "/order/certificate/ssl"), json=order_body(**over), headers=KEY, timeout=5)
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
    created = create(url, alternative_order_id="crt_one")
    assert created["requests"][0]["status"] == "pending"
    assert "certificate_id" not in created
    assert [d["name"] for d in created["domains"]] == ["www.example.com", "example.com"]
    assert re.fullmatch(r"[0-9a-f]{32}", created["dcv_random_value"])
    order = info(url, created["id"])
    assert order["status"] == "needs_approval" and order["has_pending_request"] is True
    assert order["alternative_order_id"] == "crt_one"
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
    assert again.status_code == 409 and error_codes(again) == ["invalid_request_status"]


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
    create(url, alternative_order_id="crt_dup")
    again = requests.post(api(url, "/order/certificate/ssl"), json=order_body(alternative_order_id="crt_dup"),
                          headers=KEY, timeout=5)
    assert again.status_code == 409 and error_codes(again) == ["duplicate_alternative_order_id"]
    assert len(sim_orders(url)) == 1
    lax = make_sim(unique_alternative_order_id=False)
    create(lax, alternative_order_id="crt_dup")
    create(lax, alternative_order_id="crt_dup")
    assert [o["client_reference"] for o in sim_orders(lax)] == ["crt_dup", "crt_dup"]


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
    ({"order_validity": {"years": 7}}, "invalid_param:order_validity.years"),
    ({"order_validity": None}, "required_param:order_validity"),
    ({"alternative_order_id": "x" * 65}, "invalid_param:alternative_order_id"),
    ({"alternative_order_id": "has space"}, "invalid_param:alternative_order_id"),
    ({"renewal_of_order_id": 42}, "invalid_param:renewal_of_order_id"),
    ({"auto_renew": 5}, "invalid_param:auto_renew"),
])
def test_invalid_orders_are_rejected_naming_the_parameter(url: str, over: dict[str, Any], code: str) -> None:
    body = order_body(**over)
    if over.get("dcv_method", "") is None:
        del body["dcv_method"]
    if "order_validity" in over and over["order_validity"] is None:
        del body["order_validity"]
    resp = requests.post(api(url, "/order/certificate/ssl"), json=body, headers=KEY, timeout=5)
    assert resp.status_code == 400
    assert code in error_codes(resp)
    assert sim_orders(url) == []


def test_certificate_fields_are_validated_together(url: str) -> None:
    body = order_body()
    body["certificate"] = {"common_name": "bad_name..com", "dns_names": ["ok.example.com", "-bad.example.com"],
                           "signature_hash": "md5", "cert_validity": {"days": 398}}
    resp = requests.post(api(url, "/order/certificate/ssl"), json=body, headers=KEY, timeout=5)
    assert resp.status_code == 400
    assert set(error_codes(resp)) == {
        "invalid_param:certificate.common_name", "invalid_param:certificate.dns_names",
        "required_param:certificate.csr", "invalid_param:certificate.signature_hash",
        "invalid_param:certificate.cert_validity.days"}


def test_private_certificates_may_outlive_the_public_limit(url: str) -> None:
    body = order_body(product={"type_hint": "private"}, order_validity={"days": 730})
    body["certificate"]["cert_validity"] = {"days": 700}
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
    created = create(url, skip_approval=True, alternative_order_id="crt_ossl")
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
    assert order["dcv_token"]["status"] == "valid"
    assert {d["dcv_status"] for d in order["domains"]} == {"complete"}


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
    assert not_yet.status_code == 409 and error_codes(not_yet) == ["invalid_certificate_status"]
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
    assert refused.status_code == 409 and error_codes(refused) == ["invalid_order_status"]


def test_reissue_without_skip_approval_waits_for_an_approver(url: str) -> None:
    order = issued_order(url)
    body = {"certificate": {"common_name": "www.example.com", "csr": csr_pem(), "signature_hash": "sha256"}}
    resp = requests.post(api(url, f"/order/certificate/{order['id']}/reissue"), json=body, headers=KEY, timeout=5)
    assert resp.status_code == 201 and "certificate_id" not in resp.json()
    assert isinstance(resp.json()["requests"][0]["id"], int)
    pending = info(url, order["id"])
    assert pending["status"] == "reissue_pending" and pending["has_pending_request"] is True


def test_revoke_at_once_or_through_approval(url: str) -> None:
    order = issued_order(url)
    cert_id = order["certificate"]["id"]
    bad = requests.put(api(url, f"/certificate/{cert_id}/revoke"), json={"revocation_reason": "bored"},
                       headers=KEY, timeout=5)
    assert bad.status_code == 400 and error_codes(bad) == ["invalid_param:revocation_reason"]
    waiting = requests.put(api(url, f"/certificate/{cert_id}/revoke"),
                           json={"revocation_reason": "superseded", "comments": "c"}, headers=KEY, timeout=5)
    assert waiting.status_code == 201
    assert waiting.json()["type"] == "revoke" and waiting.json()["status"] == "pending"
    assert info(url, order["id"])["status"] == "issued"
    assert advance(url)["revoked"] == 1
    assert info(url, order["id"])["status"] == "revoked"
    other = issued_order(url)
    at_once = requests.put(api(url, f"/certificate/{other['certificate']['id']}/revoke"),
                           json={"revocation_reason": "key_compromise", "skip_approval": True}, headers=KEY, timeout=5)
    assert at_once.status_code == 204 and at_once.content == b""
    assert info(url, other["id"])["status"] == "revoked"
    twice = requests.put(api(url, f"/certificate/{other['certificate']['id']}/revoke"),
                         json={"skip_approval": True}, headers=KEY, timeout=5)
    assert twice.status_code == 409 and error_codes(twice) == ["invalid_certificate_status"]
    assert requests.put(api(url, "/certificate/7/revoke"), json={}, headers=KEY, timeout=5).status_code == 404


def test_cancel_only_before_issuance(url: str) -> None:
    created = create(url)
    path = api(url, f"/order/certificate/{created['id']}/status")
    assert requests.put(path, json={"status": "issued"}, headers=KEY, timeout=5).status_code == 400
    assert requests.put(path, json={"status": "canceled", "note": "n"}, headers=KEY, timeout=5).status_code == 204
    order = info(url, created["id"])
    assert order["status"] == "canceled" and order["requests"][0]["status"] == "rejected"
    assert requests.put(path, json={"status": "canceled"}, headers=KEY, timeout=5).status_code == 204
    issued = issued_order(url)
    refused = requests.put(api(url, f"/order/certificate/{issued['id']}/status"), json={"status": "canceled"},
                           headers=KEY, timeout=5)
    assert refused.status_code == 409 and error_codes(refused) == ["invalid_order_status"]
    assert advance(url)["issued"] == 0  # a canceled order never issues


def test_change_and_check_dcv(url: str) -> None:
    created = create(url, skip_approval=True, dcv_method="email")
    order = info(url, created["id"])
    assert "dcv_token" not in order and "admin@example.com" in order["domains"][1]["dcv_emails"]
    changed = requests.put(api(url, f"/order/certificate/{created['id']}/change-dcv"),
                           json={"dcv_method": "http-token"}, headers=KEY, timeout=5)
    assert changed.status_code == 200 and changed.json()["dcv_method"] == "http-token"
    token = changed.json()["dcv_token"]["token"]
    order = info(url, created["id"])
    assert order["dcv_token"]["token"] == token
    assert order["dcv_token"]["http_token_url"] == "/.well-known/pki-validation/fileauth.txt"
    check = requests.put(api(url, f"/order/certificate/{created['id']}/check-dcv"), headers=KEY, timeout=5)
    assert check.json() == {"order_status": "pending", "dcv_status": "pending",
                            "certificate_id": created["certificate_id"]}
    bad = requests.put(api(url, f"/order/certificate/{created['id']}/change-dcv"), json={"dcv_method": "fax"},
                       headers=KEY, timeout=5)
    assert bad.status_code == 400 and error_codes(bad) == ["invalid_dcv_method"]
    advance(url)
    done = requests.put(api(url, f"/order/certificate/{created['id']}/check-dcv"), headers=KEY, timeout=5).json()
    assert done["order_status"] == "issued" and done["dcv_status"] == "valid"
    late = requests.put(api(url, f"/order/certificate/{created['id']}/change-dcv"),
                        json={"dcv_method": "dns-cname-token"}, headers=KEY, timeout=5)
    assert late.status_code == 409


def test_renewal_links_the_orders(url: str) -> None:
    old = issued_order(url)
    renewal = create(url, renewal_of_order_id=old["id"], alternative_order_id="crt_r.renew.1")
    new = info(url, renewal["id"])
    assert new["is_renewal"] is True and new["renewal_of_order_id"] == old["id"]
    assert info(url, old["id"])["renewed_order_id"] == renewal["id"]
    refused = requests.post(api(url, "/order/certificate/ssl"), json=order_body(renewal_of_order_id=renewal["id"]),
                            headers=KEY, timeout=5)
    assert refused.status_code == 400 and error_codes(refused) == ["invalid_param:renewal_of_order_id"]


# -- rate limit and faults ----------------------------------------------------------------------
def test_own_short_term_rate_limit(make_sim: Any) -> None:
    base = make_sim(rate_limit_per_5s=3)
    codes = [requests.get(api(base, "/order/certificate"), headers=KEY, timeout=5) for _ in range(4)]
    assert [r.status_code for r in codes] == [200, 200, 200, 429]
    assert error_codes(codes[-1]) == ["request_limit_exceeded"]
    assert 1 <= int(codes[-1].headers["Retry-After"]) <= 5


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


def test_fault_rate_limit_with_retry_after(url: str) -> None:
    set_faults(url, rate_limit_per_s=1, retry_after_s=7)
    first = requests.get(api(url, "/order/certificate"), headers=KEY, timeout=5)
    second = requests.get(api(url, "/order/certificate"), headers=KEY, timeout=5)
    assert first.status_code == 200 and second.status_code == 429
    assert second.headers["Retry-After"] == "7" and error_codes(second) == ["request_limit_exceeded"]


def test_fault_hang_outlasts_the_client_timeout(make_sim: Any) -> None:
    base = make_sim()
    set_faults(base, hang_s=1.0, max_faults=1)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(api(base, "/order/certificate"), headers=KEY, timeout=(1, 0.3))
    assert requests.get(api(base, "/order/certificate"), headers=KEY, timeout=5).status_code == 200


def test_fault_malformed_answer_after_commit(url: str) -> None:
    set_faults(url, malformed_rate=1, paths=["/services/v2/order/certificate/ssl"])
    resp = requests.post(api(url, "/order/certificate/ssl"), json=order_body(alternative_order_id="crt_m"),
                         headers=KEY, timeout=5)
    assert resp.status_code == 201
    with pytest.raises(ValueError):
        resp.json()
    assert [o["client_reference"] for o in sim_orders(url)] == ["crt_m"]


def test_fault_drop_after_commit(url: str) -> None:
    set_faults(url, drop_after_commit_rate=1, max_faults=1)
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.post(api(url, "/order/certificate/ssl"), json=order_body(alternative_order_id="crt_d"),
                      headers=KEY, timeout=5)
    assert [o["client_reference"] for o in sim_orders(url)] == ["crt_d"]
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
    create(url, alternative_order_id="crt_a")
    canceled = create(url)
    requests.put(api(url, f"/order/certificate/{canceled['id']}/status"), json={"status": "canceled"}, headers=KEY,
                 timeout=5).raise_for_status()
    orders = sim_orders(url)
    assert [(o["client_reference"], o["status"], o["common_name"]) for o in orders] == [
        ("crt_a", "needs_approval", "www.example.com"), (None, "canceled", "www.example.com")]
    requests.post(f"{url}/_sim/reset", timeout=5).raise_for_status()
    assert sim_orders(url) == []
