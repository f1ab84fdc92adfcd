"""A real public DigiCert client against our simulator: certmesh 3.0.38 (PyPI, MIT), its
`certmesh.providers.digicert_client` module, unpatched, configured through its own config dict and
its own environment variable for the API key.

Each test drives one of certmesh's public functions and checks, from the simulator's side, what
certmesh sent (method, path, query, headers, JSON body byte for byte) and that the simulator
answered in the documented shape. Where certmesh and DigiCert's documentation disagree, the test
pins the disagreement (simulators/README_digicert.md, "certmesh"), so a change on either side shows."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from simulators import defaults
from simulators.base import Request, Response, SimServer
from simulators.ca import build_csr, generate_key
from simulators.digicert import DigiCertSim

digicert_client = pytest.importorskip("certmesh.providers.digicert_client")
certmesh_exceptions = pytest.importorskip("certmesh.exceptions")

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
NO_VAULT: dict[str, Any] = {}


@dataclass
class Seen:
    request: Request
    response: Response


class RecordingDigiCertSim(DigiCertSim):
    """The simulator, unchanged, keeping every provider request it served and its answer."""

    def __init__(self, **options: Any) -> None:
        self.seen: list[Seen] = []
        super().__init__(**options)

    def dispatch(self, req: Request) -> tuple[Response | None, str | None]:
        resp, post = super().dispatch(req)
        if not req.path.startswith("/_sim/") and resp is not None:
            self.seen.append(Seen(req, resp))
        return resp, post


@pytest.fixture(scope="module")
def server() -> Iterator[SimServer]:
    with SimServer(RecordingDigiCertSim(issue_delay_s=0)) as srv:
        yield srv


@pytest.fixture
def sim(server: SimServer, monkeypatch: pytest.MonkeyPatch) -> RecordingDigiCertSim:
    requests.post(f"{server.url}/_sim/reset", timeout=5).raise_for_status()
    recording = server.sim
    assert isinstance(recording, RecordingDigiCertSim)
    recording.seen.clear()
    monkeypatch.setenv("CM_DIGICERT_API_KEY", defaults.DIGICERT_API_KEY)  # certmesh's own variable
    return recording


@pytest.fixture
def cfg(server: SimServer) -> dict[str, Any]:
    """certmesh's `digicert` config section, pointed at the simulator; one attempt, no 60 s waits."""
    return {"base_url": f"{server.url}/services/v2/", "timeout_seconds": 5,
            "polling": {"interval_seconds": 1, "max_wait_seconds": 20},
            "retry": {"max_attempts": 1, "wait_min_seconds": 0, "wait_max_seconds": 0}}


def api_path(path: str) -> str:
    return f"/services/v2{path}"


def assert_certmesh_headers(seen: Seen, key: str = defaults.DIGICERT_API_KEY, accept: str = "application/json") -> None:
    headers = seen.request.headers
    assert headers["x-dc-devkey"] == key
    assert headers["content-type"] == "application/json"  # a session default: sent on GETs too
    assert headers["accept"] == accept
    assert UUID.match(headers["x-request-id"])


def issued_order(base: str, common_name: str = "www.example.com") -> dict[str, Any]:
    """An issued order placed with plain HTTP (not through certmesh)."""
    key = generate_key("ec")
    csr = build_csr(key, common_name, [("dns", common_name)]).public_bytes(serialization.Encoding.PEM).decode()
    body = {"certificate": {"common_name": common_name, "csr": csr, "signature_hash": "sha256"},
            "order_validity": {"years": 1}, "dcv_method": "dns-txt-token", "skip_approval": True,
            "organization": {"id": defaults.DIGICERT_ORGANIZATION_ID}}
    headers = {"X-DC-DEVKEY": defaults.DIGICERT_API_KEY}
    created = requests.post(f"{base}/services/v2/order/certificate/ssl_basic", json=body, headers=headers, timeout=5)
    assert created.status_code == 201, created.text
    requests.post(f"{base}/_sim/advance", timeout=10).raise_for_status()
    order = requests.get(f"{base}/services/v2/order/certificate/{created.json()['id']}", headers=headers, timeout=5)
    return order.json()


# -- ordering ---------------------------------------------------------------------------------------
def test_order_and_await_certificate_is_accepted_then_trips_on_pem_all(
        sim: RecordingDigiCertSim, cfg: dict[str, Any]) -> None:
    request = digicert_client.OrderRequest(
        common_name="shop.example.com", san_dns_names=["shop.example.com", "www.shop.example.com"],
        organisation="Certgate Local Inc.", product_name_id="ssl_basic", key_size=2048,
        organization_id=defaults.DIGICERT_ORGANIZATION_ID, dcv_method="dns-txt-token")
    with pytest.raises(certmesh_exceptions.DigiCertDownloadError, match="not a valid ZIP"):
        digicert_client.order_and_await_certificate(cfg, NO_VAULT, None, request)

    order_post, poll, download = sim.seen
    assert (order_post.request.method, order_post.request.path) == ("POST", api_path("/order/certificate/ssl_basic"))
    assert_certmesh_headers(order_post)
    sent = json.loads(order_post.request.body)
    csr_pem = sent["certificate"]["csr"]
    expected = {"certificate": {"common_name": "shop.example.com", "csr": csr_pem, "signature_hash": "sha256",
                                "dns_names": ["shop.example.com", "www.shop.example.com"]},
                "order_validity": {"years": 1}, "payment_method": "balance", "skip_approval": True,
                "organization": {"id": defaults.DIGICERT_ORGANIZATION_ID}, "dcv_method": "dns-txt-token"}
    assert order_post.request.body == json.dumps(expected).encode()  # byte for byte, in certmesh's key order
    csr = x509.load_pem_x509_csr(csr_pem.encode())
    assert csr.is_signature_valid and csr.public_key().key_size == 2048

    assert order_post.response.status == 201  # "Order SSL": id, requests, certificate_id when approved
    created = json.loads(order_post.response.body)
    assert set(created) == {"id", "requests", "domains", "certificate_id", "dcv_random_value"}
    assert created["requests"][0]["status"] == "approved"

    assert (poll.request.method, poll.request.path) == ("GET", api_path(f"/order/certificate/{created['id']}"))
    assert poll.request.body == b"" and poll.response.status == 200
    info = json.loads(poll.response.body)
    assert info["status"] == "issued" and info["certificate"]["id"] == created["certificate_id"]

    assert download.request.path == api_path(f"/certificate/{created['certificate_id']}/download/format/pem_all")
    assert_certmesh_headers(download, accept="application/zip")
    # pem_all is one PEM file (leaf, intermediate, root); certmesh expects a ZIP of .pem files.
    assert download.response.status == 200 and download.response.content_type == "application/x-pem-file"
    assert download.response.body.count(b"-----BEGIN CERTIFICATE-----") == 3


def test_download_issued_certificate_asks_for_pem_all_as_a_zip(sim: RecordingDigiCertSim, cfg: dict[str, Any],
                                                               server: SimServer) -> None:
    order = issued_order(server.url)
    sim.seen.clear()
    with pytest.raises(certmesh_exceptions.DigiCertDownloadError, match="not a valid ZIP"):
        digicert_client.download_issued_certificate(cfg, NO_VAULT, None, order["certificate"]["id"], "unused-key")
    (seen,) = sim.seen
    assert seen.request.path == api_path(f"/certificate/{order['certificate']['id']}/download/format/pem_all")
    assert seen.response.status == 200


# -- listing and search -----------------------------------------------------------------------------
def test_list_issued_certificates_pages_through_the_order_list(sim: RecordingDigiCertSim, cfg: dict[str, Any],
                                                               server: SimServer) -> None:
    orders = [issued_order(server.url, f"host{i}.example.com") for i in range(3)]
    sim.seen.clear()
    found = digicert_client.list_issued_certificates(cfg, NO_VAULT, None, page_size=2, status="issued")
    assert [c.order_id for c in found] == [o["id"] for o in orders]
    assert [c.certificate_id for c in found] == [o["certificate"]["id"] for o in orders]
    assert [c.serial_number for c in found] == [o["certificate"]["serial_number"] for o in orders]
    assert {c.product_name for c in found} == {"Basic OV"}
    pages = [s.request for s in sim.seen]
    assert [(r.method, r.path) for r in pages] == [("GET", api_path("/order/certificate"))] * 2
    assert [r.query for r in pages] == [{"limit": ["2"], "offset": ["0"], "filters[status]": ["issued"]},
                                        {"limit": ["2"], "offset": ["2"], "filters[status]": ["issued"]}]
    for seen in sim.seen:
        assert_certmesh_headers(seen)
        page = json.loads(seen.response.body)
        assert set(page) == {"orders", "page"} and set(page["page"]) == {"total", "offset", "limit"}
        assert all("alternative_order_id" not in o for o in page["orders"])


def test_search_certificates_sends_the_documented_filters(sim: RecordingDigiCertSim, cfg: dict[str, Any],
                                                          server: SimServer) -> None:
    wanted = issued_order(server.url, "find.example.com")
    issued_order(server.url, "other.example.com")
    sim.seen.clear()
    found = digicert_client.search_certificates(cfg, NO_VAULT, None, common_name="find.example.com",
                                                serial_number=wanted["certificate"]["serial_number"])
    assert [c.order_id for c in found] == [wanted["id"]]
    (seen,) = sim.seen
    assert seen.request.query == {"limit": ["100"], "offset": ["0"], "filters[common_name]": ["find.example.com"],
                                  "filters[serial_number]": [wanted["certificate"]["serial_number"]]}


def test_describe_certificate_calls_an_endpoint_the_documentation_does_not_list(
        sim: RecordingDigiCertSim, cfg: dict[str, Any], server: SimServer) -> None:
    order = issued_order(server.url)
    sim.seen.clear()
    with pytest.raises(certmesh_exceptions.DigiCertOrderNotFoundError):
        digicert_client.describe_certificate(cfg, NO_VAULT, None, order["certificate"]["id"])
    (seen,) = sim.seen
    assert (seen.request.method, seen.request.path) == ("GET", api_path(f"/certificate/{order['certificate']['id']}"))
    assert seen.response.status == 404 and json.loads(seen.response.body)["errors"][0]["code"] == "not_found"


# -- revocation -------------------------------------------------------------------------------------
def test_revoke_certificate_with_an_admin_key_revokes_at_once(sim: RecordingDigiCertSim, cfg: dict[str, Any],
                                                             server: SimServer) -> None:
    order = issued_order(server.url)
    cert_id = order["certificate"]["id"]
    sim.seen.clear()
    result = digicert_client.revoke_certificate(cfg, NO_VAULT, None, certificate_id=cert_id,
                                                reason="key_compromise", comments="leaked")
    assert result == {"status": "revoked", "certificate_id": cert_id}
    (seen,) = sim.seen
    assert (seen.request.method, seen.request.path) == ("PUT", api_path(f"/certificate/{cert_id}/revoke"))
    assert_certmesh_headers(seen)
    assert seen.request.body == json.dumps({"revocation_reason": "key_compromise", "skip_approval": True,
                                            "comments": "leaked"}).encode()
    assert seen.response.status == 204 and seen.response.body == b""
    assert server.sim.certificates[cert_id].status == "revoked"


def test_revoke_certificate_with_a_user_key_only_files_a_request(sim: RecordingDigiCertSim, cfg: dict[str, Any],
                                                                server: SimServer,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """certmesh always sends skip_approval: true; without admin rights DigiCert files a revoke
    request instead, and certmesh hands back that pending request (it logs "revoked certificate")."""
    order = issued_order(server.url)
    cert_id = order["certificate"]["id"]
    monkeypatch.setenv("CM_DIGICERT_API_KEY", defaults.DIGICERT_USER_API_KEY)
    sim.seen.clear()
    result = digicert_client.revoke_certificate(cfg, NO_VAULT, None, certificate_id=cert_id, reason="superseded")
    assert result["type"] == "revoke" and result["status"] == "pending"
    (seen,) = sim.seen
    assert_certmesh_headers(seen, key=defaults.DIGICERT_USER_API_KEY)
    assert seen.response.status == 201
    assert server.sim.certificates[cert_id].status == "issued"  # still valid until an admin approves


def test_revoke_by_order_id_resolves_the_certificate_through_order_info(
        sim: RecordingDigiCertSim, cfg: dict[str, Any], server: SimServer) -> None:
    order = issued_order(server.url)
    sim.seen.clear()
    digicert_client.revoke_certificate(cfg, NO_VAULT, None, order_id=order["id"], reason="cessation_of_operation")
    lookup, revoke = sim.seen
    assert (lookup.request.method, lookup.request.path) == ("GET", api_path(f"/order/certificate/{order['id']}"))
    assert revoke.request.path == api_path(f"/certificate/{order['certificate']['id']}/revoke")
    assert json.loads(revoke.request.body)["revocation_reason"] == "cessation_of_operation"
    assert revoke.response.status == 204


@pytest.mark.parametrize("reason", sorted(digicert_client._VALID_REVOCATION_REASONS))
def test_every_reason_certmesh_allows_is_accepted(sim: RecordingDigiCertSim, cfg: dict[str, Any],
                                                 server: SimServer, reason: str) -> None:
    order = issued_order(server.url)
    digicert_client.revoke_certificate(cfg, NO_VAULT, None, certificate_id=order["certificate"]["id"], reason=reason)
    assert sim.seen[-1].response.status == 204


# -- what the simulator does not offer, and rate limits ----------------------------------------------
def test_duplicate_certificate_is_not_simulated(sim: RecordingDigiCertSim, cfg: dict[str, Any],
                                                server: SimServer) -> None:
    order = issued_order(server.url)
    sim.seen.clear()
    with pytest.raises(certmesh_exceptions.DigiCertOrderNotFoundError):
        digicert_client.duplicate_certificate(cfg, NO_VAULT, None, order["id"], "csr")
    (seen,) = sim.seen
    assert (seen.request.method, seen.request.path) == ("POST", api_path(f"/order/certificate/{order['id']}/duplicate"))
    assert seen.response.status == 404


def test_a_429_reaches_certmesh_without_retry_after(sim: RecordingDigiCertSim, cfg: dict[str, Any],
                                                    server: SimServer) -> None:
    requests.put(f"{server.url}/_sim/rate-limits", json={"limits": [[1, 60]]}, timeout=5).raise_for_status()
    digicert_client.list_issued_certificates(cfg, NO_VAULT, None)
    with pytest.raises(certmesh_exceptions.DigiCertRateLimitError) as raised:
        digicert_client.list_issued_certificates(cfg, NO_VAULT, None)
    assert raised.value.retry_after == "60"  # certmesh's own fixed backoff: there is no header to read
    limited = sim.seen[-1].response
    assert limited.status == 429 and "Retry-After" not in limited.headers
    assert json.loads(limited.body) == {"errors": [{"code": "request_limit_exceeded",
                                                    "message": "Service unavailable, please limit request volume"}]}
