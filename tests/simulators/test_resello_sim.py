"""The Resello simulator over real HTTP, with plain `requests`: auth, every endpoint, async
progression, the seed's validation rules, downloads that verify with openssl, fault injection
and the /_sim admin endpoints."""

from __future__ import annotations

import datetime as dt
import io
import subprocess
import time
import zipfile
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
from simulators.resello import ReselloSim

AUTH = (defaults.RESELLO_USERNAME, defaults.RESELLO_API_KEY)
DV, OV = defaults.RESELLO_PLANS["dv"], defaults.RESELLO_PLANS["ov"]
ERROR_KEYS = {"code", "message"}


@pytest.fixture(scope="module")
def server() -> Iterator[SimServer]:
    with SimServer(ReselloSim()) as srv:
        yield srv


@pytest.fixture(scope="module")
def rsa_key() -> Any:
    return generate_key("rsa", 2048)


@pytest.fixture(autouse=True)
def clean(server: SimServer) -> None:
    requests.post(f"{server.url}/_sim/reset", timeout=5).raise_for_status()


@pytest.fixture
def url(server: SimServer) -> str:
    return server.url


def csr_for(key: Any, cn: str, *names: str) -> str:
    sans = [("dns", n) for n in (cn, *names)]
    return build_csr(key, cn, sans).public_bytes(serialization.Encoding.PEM).decode()


def create(url: str, key: Any, cn: str = "www.example.com", **fields: Any) -> requests.Response:
    body = {"csr": csr_for(key, cn), "dcv_type": "DNS", "plan": DV, **fields}
    return requests.post(f"{url}/ssl-certificate", json=body, auth=AUTH, timeout=5)


def created(url: str, key: Any, cn: str = "www.example.com", **fields: Any) -> dict[str, Any]:
    resp = create(url, key, cn, **fields)
    assert resp.status_code == 201, resp.text
    return resp.json()


def get(url: str, path: str, **kw: Any) -> requests.Response:
    return requests.get(f"{url}{path}", auth=AUTH, timeout=5, **kw)


def advance(url: str) -> dict[str, Any]:
    resp = requests.post(f"{url}/_sim/advance", timeout=5)
    resp.raise_for_status()
    return resp.json()


def issued(url: str, key: Any, cn: str = "www.example.com", **fields: Any) -> dict[str, Any]:
    cert = created(url, key, cn, **fields)
    advance(url)
    return get(url, f"/ssl-certificate/{cert['id']}").json()


def assert_error(resp: requests.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    error = resp.json()["error"]
    assert ERROR_KEYS <= set(error)
    if code:
        assert error["code"] == code
    return error


def orders(url: str) -> list[dict[str, Any]]:
    return requests.get(f"{url}/_sim/orders", timeout=5).json()


def set_faults(url: str, **faults: Any) -> None:
    requests.put(f"{url}/_sim/faults", json=faults, timeout=5).raise_for_status()


# -- auth ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("auth", [None, ("certgate-local", "wrong-key"), ("someone-else", defaults.RESELLO_API_KEY)])
def test_requests_without_the_account_credentials_are_rejected(url: str, auth: tuple[str, str] | None) -> None:
    resp = requests.get(f"{url}/ssl-certificate", auth=auth, timeout=5)
    assert_error(resp, 401, "unauthorized")
    assert resp.headers["WWW-Authenticate"].startswith("Basic")


def test_malformed_basic_header_is_401(url: str) -> None:
    resp = requests.get(f"{url}/ssl-certificate", headers={"Authorization": "Basic %%%"}, timeout=5)
    assert_error(resp, 401)


# -- create / get / list ---------------------------------------------------------------------------
def test_create_answers_a_pending_certificate_object(url: str, rsa_key: Any) -> None:
    body = {"csr": csr_for(rsa_key, "www.example.com", "example.com"), "dcv_type": "DNS", "plan": DV,
            "client_reference": "ref-1", "company_name": "Example"}
    resp = requests.post(f"{url}/ssl-certificate", json=body, auth=AUTH, timeout=5)
    assert resp.status_code == 201
    cert = resp.json()
    assert cert["status"] == "pending"
    assert cert["common_name"] == "www.example.com"
    assert cert["dns_names"] == ["www.example.com", "example.com"]
    assert cert["client_reference"] == "ref-1" and cert["plan"] == DV and cert["dcv_type"] == "DNS"
    assert cert["valid_from"] is None and cert["serial_number"] is None
    assert get(url, f"/ssl-certificate/{cert['id']}").json() == cert


def test_get_unknown_certificate_is_404(url: str) -> None:
    assert_error(get(url, "/ssl-certificate/does-not-exist"), 404, "not_found")


def test_unknown_endpoint_and_wrong_method_answer_in_the_provider_error_shape(url: str) -> None:
    assert_error(get(url, "/nothing-here"), 404)
    assert_error(requests.put(f"{url}/ssl-certificate", auth=AUTH, timeout=5), 405)


def test_list_filters_by_client_reference_which_is_not_unique(url: str, rsa_key: Any) -> None:
    first = created(url, rsa_key, client_reference="dup")
    second = created(url, rsa_key, "other.example.com", client_reference="dup")
    created(url, rsa_key, client_reference="unique")
    listing = get(url, "/ssl-certificate", params={"client_reference": "dup"}).json()
    assert listing["total"] == 2 and listing["page"] == 1 and listing["per_page"] == 100
    assert [c["id"] for c in listing["items"]] == [first["id"], second["id"]]
    assert get(url, "/ssl-certificate").json()["total"] == 3


def test_list_filters_by_plan(url: str, rsa_key: Any) -> None:
    created(url, rsa_key)
    ov = created(url, rsa_key, plan=OV, chamber_of_commerce="123", department="IT",
                 approver_first_name="Jo", approver_last_name="Doe")
    listing = get(url, "/ssl-certificate", params={"plan": OV}).json()
    assert [c["id"] for c in listing["items"]] == [ov["id"]]


def test_list_pages_with_page_and_per_page(url: str) -> None:
    requests.post(f"{url}/_sim/seed", json={"count": 120}, timeout=10).raise_for_status()
    first = get(url, "/ssl-certificate").json()
    second = get(url, "/ssl-certificate", params={"page": 2}).json()
    assert (first["total"], len(first["items"]), len(second["items"])) == (120, 100, 20)
    small = get(url, "/ssl-certificate", params={"page": 3, "per_page": 7}).json()
    assert [c["id"] for c in small["items"]] == [c["id"] for c in first["items"][14:21]]
    assert get(url, "/ssl-certificate", params={"per_page": 1000}).json()["per_page"] == 100
    assert_error(get(url, "/ssl-certificate", params={"page": "zero"}), 400)


# -- the seed's validation rules ---------------------------------------------------------------------
def test_garbage_csr_is_422_naming_the_field(url: str) -> None:
    resp = requests.post(f"{url}/ssl-certificate", json={"csr": "not a csr", "dcv_type": "DNS", "plan": DV},
                         auth=AUTH, timeout=5)
    assert "csr" in assert_error(resp, 422, "validation_failed")["fields"]


def test_csr_with_a_broken_signature_is_rejected(url: str, rsa_key: Any) -> None:
    csr = build_csr(rsa_key, "www.example.com")
    der = bytearray(csr.public_bytes(serialization.Encoding.DER))
    der[-5] ^= 0xFF  # flip bits inside the signature
    tampered = x509.load_der_x509_csr(bytes(der)).public_bytes(serialization.Encoding.PEM).decode()
    resp = requests.post(f"{url}/ssl-certificate", json={"csr": tampered, "dcv_type": "DNS", "plan": DV},
                         auth=AUTH, timeout=5)
    assert "signature" in " ".join(assert_error(resp, 422)["fields"]["csr"])
    assert orders(url) == []


def test_rsa_key_under_2048_bits_is_422(url: str) -> None:
    weak = generate_key("rsa", 1024)
    error = assert_error(create(url, weak), 422)
    assert "2048" in error["fields"]["csr"][0]


def test_ec_p256_key_is_accepted(url: str) -> None:
    assert create(url, generate_key("ec")).status_code == 201


def test_dcv_type_plan_and_email_rules(url: str, rsa_key: Any) -> None:
    error = assert_error(create(url, rsa_key, dcv_type="HTTP", plan="0000"), 422)
    assert {"dcv_type", "plan"} <= set(error["fields"])
    error = assert_error(create(url, rsa_key, dcv_type="EMAIL"), 422)
    assert set(error["fields"]) == {"approver_email_address"}
    assert create(url, rsa_key, dcv_type="EMAIL", approver_email_address="admin@example.com").status_code == 201


def test_ov_plan_requires_organization_and_approver_fields(url: str, rsa_key: Any) -> None:
    error = assert_error(create(url, rsa_key, plan=OV, department="IT"), 422)
    assert set(error["fields"]) == {"chamber_of_commerce", "approver_first_name", "approver_last_name"}


def test_non_json_body_is_400(url: str) -> None:
    resp = requests.post(f"{url}/ssl-certificate", data=b"{nope", auth=AUTH, timeout=5,
                         headers={"Content-Type": "application/json"})
    assert_error(resp, 400, "bad_request")


def test_non_dns_subject_alternative_names_are_rejected(url: str, rsa_key: Any) -> None:
    csr = build_csr(rsa_key, "www.example.com", [("dns", "www.example.com"), ("ip", "10.0.0.1")])
    body = {"csr": csr.public_bytes(serialization.Encoding.PEM).decode(), "dcv_type": "DNS", "plan": DV}
    assert_error(requests.post(f"{url}/ssl-certificate", json=body, auth=AUTH, timeout=5), 422)


# -- asynchronous progression ------------------------------------------------------------------------
def test_advance_issues_pending_certificates(url: str, rsa_key: Any) -> None:
    cert = created(url, rsa_key)
    assert get(url, f"/ssl-certificate/{cert['id']}").json()["status"] == "pending"
    summary = advance(url)
    assert summary["active"] == [cert["id"]]
    now = get(url, f"/ssl-certificate/{cert['id']}").json()
    assert now["status"] == "active" and now["serial_number"] and now["valid_until"] > now["valid_from"]


def test_without_delay_nothing_issues_by_itself(url: str, rsa_key: Any) -> None:
    cert = created(url, rsa_key)
    time.sleep(0.2)
    assert get(url, f"/ssl-certificate/{cert['id']}").json()["status"] == "pending"


def test_issue_delay_elapses_into_active(rsa_key: Any) -> None:
    with SimServer(ReselloSim(issue_delay_s=0.3)) as srv:
        cert = created(srv.url, rsa_key)
        assert get(srv.url, f"/ssl-certificate/{cert['id']}").json()["status"] == "pending"
        time.sleep(0.4)
        assert get(srv.url, f"/ssl-certificate/{cert['id']}").json()["status"] == "active"


def test_reject_marker_domains_end_rejected(url: str, rsa_key: Any) -> None:
    cert = created(url, rsa_key, "reject.example.com")
    advance(url)
    now = get(url, f"/ssl-certificate/{cert['id']}").json()
    assert now["status"] == "rejected" and "reject.example.com" in now["rejection_reason"]
    details = get(url, f"/ssl-certificate/{cert['id']}/validation-details").json()
    assert details["domains"][0]["status"] == "failed"
    assert_error(get(url, f"/ssl-certificate/{cert['id']}/download-crt"), 409)


def test_reject_domains_is_configurable(rsa_key: Any) -> None:
    with SimServer(ReselloSim(reject_domains=["bad"])) as srv:
        kept = created(srv.url, rsa_key, "reject.example.com")
        refused = created(srv.url, rsa_key, "bad.example.com")
        advance(srv.url)
        statuses = {c["id"]: c["status"] for c in orders(srv.url)}
        assert statuses == {kept["id"]: "active", refused["id"]: "rejected"}


# -- renew / reissue / delete ---------------------------------------------------------------------------
def test_renew_goes_pending_then_active_with_a_new_certificate(url: str, rsa_key: Any) -> None:
    cert = issued(url, rsa_key)
    body = {"csr": csr_for(rsa_key, "www.example.com"), "dcv_type": "DNS", "plan": DV}
    resp = requests.post(f"{url}/ssl-certificate/{cert['id']}/renew", json=body, auth=AUTH, timeout=5)
    assert resp.status_code == 200 and resp.json()["status"] == "pending"
    # While renewing, the current certificate is still the one delivered.
    assert get(url, f"/ssl-certificate/{cert['id']}/download-crt").status_code == 200
    advance(url)
    renewed = get(url, f"/ssl-certificate/{cert['id']}").json()
    assert renewed["status"] == "active" and renewed["serial_number"] != cert["serial_number"]
    assert len(orders(url)) == 1  # renew updates the same object


def test_renew_of_a_pending_certificate_is_409(url: str, rsa_key: Any) -> None:
    cert = created(url, rsa_key)
    body = {"csr": csr_for(rsa_key, "www.example.com"), "dcv_type": "DNS", "plan": DV}
    resp = requests.post(f"{url}/ssl-certificate/{cert['id']}/renew", json=body, auth=AUTH, timeout=5)
    assert_error(resp, 409, "invalid_state")


def test_reissue_activates_at_once_with_the_new_key(url: str, rsa_key: Any) -> None:
    cert = issued(url, rsa_key)
    new_key = generate_key("ec")
    body = {"csr": csr_for(new_key, "www.example.com", "api.example.com"), "dcv_type": "DNS"}
    resp = requests.post(f"{url}/ssl-certificate/{cert['id']}/reissue", json=body, auth=AUTH, timeout=5)
    assert resp.status_code == 200
    after = resp.json()
    assert after["status"] == "active" and after["serial_number"] != cert["serial_number"]
    assert after["dns_names"] == ["www.example.com", "api.example.com"]
    leaf = x509.load_pem_x509_certificate(get(url, f"/ssl-certificate/{cert['id']}/download-crt").content)
    assert leaf.public_key() == new_key.public_key()


def test_reissue_of_a_pending_certificate_is_409(url: str, rsa_key: Any) -> None:
    cert = created(url, rsa_key)
    body = {"csr": csr_for(rsa_key, "www.example.com"), "dcv_type": "DNS"}
    resp = requests.post(f"{url}/ssl-certificate/{cert['id']}/reissue", json=body, auth=AUTH, timeout=5)
    assert_error(resp, 409)


def test_delete_disables_and_a_second_delete_is_409(url: str, rsa_key: Any) -> None:
    cert = created(url, rsa_key)
    resp = requests.delete(f"{url}/ssl-certificate/{cert['id']}", auth=AUTH, timeout=5)
    assert resp.status_code == 200 and resp.json()["status"] == "cancelled"
    advance(url)  # a cancelled order never issues
    assert get(url, f"/ssl-certificate/{cert['id']}").json()["status"] == "cancelled"
    assert_error(requests.delete(f"{url}/ssl-certificate/{cert['id']}", auth=AUTH, timeout=5), 409)


def test_delete_disables_an_active_certificate_too(url: str, rsa_key: Any) -> None:
    cert = issued(url, rsa_key)
    resp = requests.delete(f"{url}/ssl-certificate/{cert['id']}", auth=AUTH, timeout=5)
    assert resp.json()["status"] == "cancelled"
    assert_error(get(url, f"/ssl-certificate/{cert['id']}/download-crt"), 409)


# -- validation ---------------------------------------------------------------------------------------
def test_validation_details_say_what_to_publish_per_method(url: str, rsa_key: Any) -> None:
    cert = created(url, rsa_key)
    path = f"/ssl-certificate/{cert['id']}"
    dns = get(url, f"{path}/validation-details").json()["domains"][0]
    assert dns["domain"] == "www.example.com" and dns["status"] == "pending"
    assert dns["dns"]["name"] == "_dnsauth.www.example.com" and dns["dns"]["type"] == "TXT" and dns["dns"]["value"]

    resp = requests.post(f"{url}{path}/validate", json={"dcv_type": "FILE"}, auth=AUTH, timeout=5)
    file = resp.json()["domains"][0]
    assert file["dcv_type"] == "FILE" and file["file"]["path"].startswith("/.well-known/pki-validation/")
    assert file["file"]["content"]

    resp = requests.post(f"{url}{path}/validate", auth=AUTH, timeout=5,
                         json={"dcv_type": "EMAIL", "email_address": "admin@example.com", "domain": "www.example.com"})
    email = resp.json()["domains"][0]
    assert email["email"]["approver_email_address"] == "admin@example.com"
    assert "admin@www.example.com" in email["email"]["approver_emails"]
    advance(url)
    assert get(url, f"{path}/validation-details").json()["domains"][0]["status"] == "validated"


def test_validate_rejects_foreign_domains_and_finished_certificates(url: str, rsa_key: Any) -> None:
    cert = created(url, rsa_key)
    path = f"{url}/ssl-certificate/{cert['id']}/validate"
    error = assert_error(requests.post(path, json={"dcv_type": "DNS", "domain": "evil.test"}, auth=AUTH, timeout=5),
                         422)
    assert "domain" in error["fields"]
    # No email_address and no approver address given at create: EMAIL has nowhere to send to.
    error = assert_error(requests.post(path, json={"dcv_type": "EMAIL"}, auth=AUTH, timeout=5), 422)
    assert "email_address" in error["fields"]
    error = assert_error(requests.post(path, json={"dcv_type": "EMAIL", "email_address": "nope"}, auth=AUTH,
                                       timeout=5), 422)
    assert "email_address" in error["fields"]
    advance(url)
    assert_error(requests.post(path, json={"dcv_type": "DNS"}, auth=AUTH, timeout=5), 409)


# -- downloads ----------------------------------------------------------------------------------------
def test_issued_chain_verifies_with_openssl(url: str, rsa_key: Any, tmp_path: Path) -> None:
    cert = issued(url, rsa_key)
    path = f"/ssl-certificate/{cert['id']}"
    leaf = get(url, f"{path}/download-crt")
    assert leaf.headers["Content-Type"] == "application/octet-stream"
    (tmp_path / "leaf.pem").write_bytes(leaf.content)
    (tmp_path / "chain.pem").write_bytes(get(url, f"{path}/download-ca").content)
    (tmp_path / "root.pem").write_bytes(requests.get(f"{url}/_sim/ca.pem", timeout=5).content)
    out = subprocess.run(["openssl", "verify", "-CAfile", str(tmp_path / "root.pem"),
                          "-untrusted", str(tmp_path / "chain.pem"), str(tmp_path / "leaf.pem")],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0 and out.stdout.strip().endswith("OK"), out.stdout + out.stderr
    # and the leaf alone, without the chain, does not verify: the chain is really needed
    alone = subprocess.run(["openssl", "verify", "-CAfile", str(tmp_path / "root.pem"), str(tmp_path / "leaf.pem")],
                           capture_output=True, text=True, check=False)
    assert alone.returncode != 0


def test_every_download_format(url: str, rsa_key: Any) -> None:
    cert = issued(url, rsa_key)
    path = f"/ssl-certificate/{cert['id']}"
    leaf = x509.load_pem_x509_certificate(get(url, f"{path}/download-crt").content)
    assert format(leaf.serial_number, "x") == cert["serial_number"]
    chain = x509.load_pem_x509_certificates(get(url, f"{path}/download-ca").content)
    assert chain and all(c != leaf for c in chain)
    assert b"BEGIN CERTIFICATE REQUEST" in get(url, f"{path}/download-csr").content
    p7 = pkcs7.load_der_pkcs7_certificates(get(url, f"{path}/download-pkcs7").content)
    assert leaf in p7 and chain[0] in p7
    resp = get(url, f"{path}/download-zip")
    assert 'filename="www.example.com.zip"' in resp.headers["Content-Disposition"]
    with zipfile.ZipFile(io.BytesIO(resp.content)) as zf:
        assert sorted(zf.namelist()) == ["www.example.com.ca-bundle", "www.example.com.crt"]
        assert x509.load_pem_x509_certificate(zf.read("www.example.com.crt")) == leaf
    assert_error(get(url, f"{path}/download-pfx"), 404)


def test_downloads_of_a_pending_certificate_are_409_except_the_csr(url: str, rsa_key: Any) -> None:
    cert = created(url, rsa_key)
    for fmt in ("crt", "ca", "pkcs7", "zip"):
        assert_error(get(url, f"/ssl-certificate/{cert['id']}/download-{fmt}"), 409)
    assert get(url, f"/ssl-certificate/{cert['id']}/download-csr").status_code == 200


# -- faults -------------------------------------------------------------------------------------------
def test_fault_latency(url: str) -> None:
    set_faults(url, latency_ms=300)
    start = time.monotonic()
    assert get(url, "/ssl-certificate").status_code == 200
    assert time.monotonic() - start >= 0.3


def test_fault_error_status_in_the_provider_shape_without_committing(url: str, rsa_key: Any) -> None:
    set_faults(url, error_rate=1, error_status=503)
    assert_error(create(url, rsa_key), 503, "service_unavailable")
    set_faults(url, error_rate=1, error_status=500, max_faults=1)
    assert_error(get(url, "/ssl-certificate"), 500, "internal_error")
    assert get(url, "/ssl-certificate").status_code == 200  # the burst is over
    assert orders(url) == []


def test_fault_paths_limit_where_faults_apply(url: str, rsa_key: Any) -> None:
    cert = created(url, rsa_key)
    set_faults(url, error_rate=1, paths=[f"/ssl-certificate/{cert['id']}"])
    assert get(url, "/ssl-certificate").status_code == 200
    assert_error(get(url, f"/ssl-certificate/{cert['id']}"), 500)


def test_fault_rate_limit_answers_429_with_retry_after(url: str) -> None:
    set_faults(url, rate_limit_per_s=1, retry_after_s=7)
    assert get(url, "/ssl-certificate").status_code == 200
    resp = get(url, "/ssl-certificate")
    assert_error(resp, 429, "too_many_requests")
    assert resp.headers["Retry-After"] == "7"


def test_fault_hang_outlives_the_client_timeout_then_commits(url: str, rsa_key: Any) -> None:
    set_faults(url, hang_s=0.8, max_faults=1)
    body = {"csr": csr_for(rsa_key, "www.example.com"), "dcv_type": "DNS", "plan": DV}
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.post(f"{url}/ssl-certificate", json=body, auth=AUTH, timeout=(2, 0.3))
    deadline = time.monotonic() + 3
    while not orders(url) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(orders(url)) == 1


def test_fault_malformed_commits_but_answers_unparseable_json(url: str, rsa_key: Any) -> None:
    set_faults(url, malformed_rate=1, max_faults=1)
    resp = create(url, rsa_key, client_reference="m-1")
    assert resp.status_code == 201
    with pytest.raises(ValueError):
        resp.json()
    assert [o["client_reference"] for o in orders(url)] == ["m-1"]


def test_fault_drop_after_commit_closes_without_answer(url: str, rsa_key: Any) -> None:
    set_faults(url, drop_after_commit_rate=1, max_faults=1)
    with pytest.raises(requests.exceptions.ConnectionError):
        create(url, rsa_key, client_reference="d-1")
    assert [o["client_reference"] for o in orders(url)] == ["d-1"]
    assert get(url, "/ssl-certificate").json()["total"] == 1


def test_faults_never_touch_the_admin_endpoints(url: str) -> None:
    set_faults(url, error_rate=1)
    assert requests.get(f"{url}/_sim/orders", timeout=5).status_code == 200
    requests.delete(f"{url}/_sim/faults", timeout=5).raise_for_status()
    assert get(url, "/ssl-certificate").status_code == 200


# -- admin: seed and orders ---------------------------------------------------------------------------
def test_seed_creates_issued_certificates_with_spread_out_expiry(url: str) -> None:
    resp = requests.post(f"{url}/_sim/seed", json={"count": 30, "common_name_prefix": "imp-"}, timeout=10)
    assert resp.status_code == 201 and resp.json()["count"] == 30
    seeded = orders(url)
    assert len(seeded) == 30 and {o["status"] for o in seeded} == {"active"}
    assert all(o["common_name"].startswith("imp-") for o in seeded)
    assert len({o["valid_until"][:10] for o in seeded}) >= 20
    assert {"id", "client_reference", "status", "common_name"} <= set(seeded[0])
    leaf = get(url, f"/ssl-certificate/{seeded[0]['id']}/download-crt")
    assert x509.load_pem_x509_certificate(leaf.content).subject.rfc4514_string().startswith("CN=imp-")


def test_seed_with_status_and_days_valid(url: str) -> None:
    requests.post(f"{url}/_sim/seed", json={"count": 3, "status": "expired", "days_valid": 30},
                  timeout=10).raise_for_status()
    requests.post(f"{url}/_sim/seed", json={"count": 2, "status": "pending"}, timeout=10).raise_for_status()
    statuses = sorted(o["status"] for o in orders(url))
    assert statuses == ["expired"] * 3 + ["pending"] * 2
    assert_error(get(url, "/ssl-certificate", params={"per_page": 0}), 400)
    assert requests.post(f"{url}/_sim/seed", json={"count": 1, "status": "bogus"}, timeout=5).status_code == 400


def test_orders_lists_every_object_including_cancelled(url: str, rsa_key: Any) -> None:
    keep = created(url, rsa_key, client_reference="a")
    gone = created(url, rsa_key, client_reference="b")
    requests.delete(f"{url}/ssl-certificate/{gone['id']}", auth=AUTH, timeout=5).raise_for_status()
    assert [(o["id"], o["status"]) for o in orders(url)] == [(keep["id"], "pending"), (gone["id"], "cancelled")]


def test_reset_forgets_everything(url: str, rsa_key: Any) -> None:
    created(url, rsa_key)
    set_faults(url, latency_ms=10)
    requests.post(f"{url}/_sim/reset", timeout=5).raise_for_status()
    assert orders(url) == [] and requests.get(f"{url}/_sim/faults", timeout=5).json() == {"injected": 0}


def test_validate_email_without_an_address_uses_the_approver_given_at_create(url: str, rsa_key: Any) -> None:
    # The seed: email_address is "applicable for the dcv_type EMAIL", not said to be required.
    cert = created(url, rsa_key, approver_email_address="admin@example.com")
    resp = requests.post(f"{url}/ssl-certificate/{cert['id']}/validate", json={"dcv_type": "EMAIL"}, auth=AUTH,
                         timeout=5)
    assert resp.status_code == 200, resp.text
    (entry,) = resp.json()["domains"]
    assert entry["dcv_type"] == "EMAIL" and entry["email"]["approver_email_address"] == "admin@example.com"


# -- answer-shape variants (invented: the seed documents no response body) -------------------------------
def set_shape(url: str, variant: Any) -> requests.Response:
    return requests.put(f"{url}/_sim/shape", json={"variant": variant}, timeout=5)


def test_shape_knob_refuses_unknown_variants_and_resets(url: str) -> None:
    assert set_shape(url, "no-such-variant").status_code == 400
    assert set_shape(url, ["error_html", "error_text"]).status_code == 400  # one error form at a time
    assert set_shape(url, 7).status_code == 400
    assert set_shape(url, ["wrapped", "dates_epoch"]).json() == {"variant": ["dates_epoch", "wrapped"]}
    assert requests.get(f"{url}/_sim/shape", timeout=5).json()["variant"] == ["dates_epoch", "wrapped"]
    requests.post(f"{url}/_sim/reset", timeout=5).raise_for_status()
    assert requests.get(f"{url}/_sim/shape", timeout=5).json() == {"variant": ["documented"]}


def test_shape_variants_of_the_certificate_object(url: str, rsa_key: Any) -> None:
    cert = issued(url, rsa_key)
    until = dt.datetime.fromisoformat(cert["valid_until"])
    set_shape(url, ["wrapped", "extra_fields", "dates_epoch", "status_upper", "numeric_ids"])
    doc = get(url, f"/ssl-certificate/{cert['id']}").json()
    assert set(doc) >= {"data", "request_id"} and doc["data"]["status"] == "ACTIVE"
    assert doc["data"]["valid_until"] == int(until.timestamp()) and isinstance(doc["data"]["id"], int)
    assert "price" in doc["data"] and "_links" in doc["data"]
    by_number = get(url, f"/ssl-certificate/{doc['data']['id']}").json()["data"]
    assert by_number["client_reference"] == cert["client_reference"] and by_number["id"] == doc["data"]["id"]
    for variant, expected in (("dates_naive", until.replace(tzinfo=None).isoformat()),
                              ("dates_date_only", until.date().isoformat()),
                              ("dates_offset", until.astimezone(dt.timezone(dt.timedelta(hours=2))).isoformat())):
        set_shape(url, variant)
        assert get(url, f"/ssl-certificate/{cert['id']}").json()["valid_until"] == expected
    set_shape(url, ["string_numbers", "dates_epoch"])
    shown = get(url, f"/ssl-certificate/{cert['id']}").json()
    assert shown["id"].isdigit() and shown["valid_until"] == str(int(until.timestamp()))


def test_shape_status_new_shows_statuses_outside_the_table(url: str, rsa_key: Any) -> None:
    pending = created(url, rsa_key)
    cancelled = created(url, rsa_key, "b.example.com")
    requests.delete(f"{url}/ssl-certificate/{cancelled['id']}", auth=AUTH, timeout=5).raise_for_status()
    set_shape(url, "status_new")
    assert get(url, f"/ssl-certificate/{pending['id']}").json()["status"] == "processing"
    assert get(url, f"/ssl-certificate/{cancelled['id']}").json()["status"] == "suspended"


def test_shape_variants_of_the_list(url: str) -> None:
    requests.post(f"{url}/_sim/seed", json={"count": 3}, timeout=5).raise_for_status()
    set_shape(url, "bare")
    assert isinstance(get(url, "/ssl-certificate").json(), list)
    set_shape(url, "wrapped")
    doc = get(url, "/ssl-certificate", params={"per_page": 2}).json()
    assert len(doc["data"]) == 2 and doc["meta"] == {"total": 3, "page": 1, "per_page": 2}
    set_shape(url, ["items_next", "string_numbers"])
    first = get(url, "/ssl-certificate", params={"per_page": 2}).json()
    assert set(first) == {"items", "next"} and "page=2" in first["next"] and "per_page=2" in first["next"]
    last = requests.get(first["next"], auth=AUTH, timeout=5).json()
    assert len(last["items"]) == 1 and last["next"] is None


@pytest.mark.parametrize(("variant", "content_type", "check"), [
    ("error_message", "application/json", lambda r: r.json() == {"message": "SSL certificate not found", "status": 404}),
    ("error_errors", "application/json",
     lambda r: r.json() == {"errors": [{"code": "not_found", "message": "SSL certificate not found"}]}),
    ("error_string", "application/json", lambda r: r.json() == {"error": "SSL certificate not found"}),
    ("error_html", "text/html", lambda r: r.text.startswith("<!DOCTYPE html>") and "not found" in r.text),
    ("error_text", "text/plain", lambda r: r.text == "404 SSL certificate not found"),
    ("error_empty", "application/json", lambda r: r.content == b""),
])
def test_shape_variants_of_errors(url: str, variant: str, content_type: str, check: Any) -> None:
    set_shape(url, variant)
    resp = get(url, "/ssl-certificate/nope")
    assert resp.status_code == 404 and resp.headers["Content-Type"].startswith(content_type) and check(resp)


def test_shape_error_errors_lists_every_field(url: str, rsa_key: Any) -> None:
    set_shape(url, "error_errors")
    resp = create(url, rsa_key, plan=defaults.RESELLO_PLANS["ov"])
    assert resp.status_code == 422
    assert {e["field"] for e in resp.json()["errors"]} == {"chamber_of_commerce", "department",
                                                          "approver_first_name", "approver_last_name"}


def test_shape_applies_to_faults_and_auth_too(url: str) -> None:
    set_shape(url, "error_html")
    unauthorized = requests.get(f"{url}/ssl-certificate", timeout=5)
    assert unauthorized.status_code == 401 and "WWW-Authenticate" in unauthorized.headers
    assert unauthorized.headers["Content-Type"].startswith("text/html")
    set_faults(url, error_rate=1, error_status=502)
    failed = get(url, "/ssl-certificate")
    assert failed.status_code == 502 and failed.headers["Content-Type"].startswith("text/html")


def test_the_admin_listing_keeps_the_documented_shape(url: str, rsa_key: Any) -> None:
    cert = created(url, rsa_key)
    set_shape(url, ["numeric_ids", "status_upper", "wrapped"])
    assert [o["id"] for o in orders(url)] == [cert["id"]] and orders(url)[0]["status"] == "pending"
