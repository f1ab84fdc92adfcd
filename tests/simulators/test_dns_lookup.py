"""The simulators' DNS lookup (simulators/dns.py; README_digicert.md / README_resello.md "DNS
lookup"): for a DNS-validated order whose names lie in a hosted zone, the record decides — there
and matching: validated and issued at the check, no manual step; missing: pending with a reason,
and the issue delay does not issue it either; names in no zone keep the documented behaviour.
A dict stands for the zones here (the lookup over moto is exercised by tests/functional)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from simulators.base import SimServer
from simulators.digicert import DigiCertSim
from simulators.resello import ReselloSim
from tests.simulators import test_digicert_sim as dc
from tests.simulators import test_resello_sim as rs


class Zones:
    """`lookup` as simulators/dns.Route53Lookup answers: None outside the zones, else the values."""

    def __init__(self, *zones: str) -> None:
        self.zones = zones
        self.records: dict[tuple[str, str], tuple[str, ...]] = {}

    def lookup(self, name: str, record_type: str) -> tuple[str, ...] | None:
        name = name.lower().rstrip(".")
        if not any(name == z or name.endswith("." + z) for z in self.zones):
            return None
        return self.records.get((name, record_type), ())


@pytest.fixture()
def digicert() -> Iterator[tuple[str, Zones]]:
    zones = Zones("zone.example")
    with SimServer(DigiCertSim(dns=zones)) as srv:
        yield srv.url, zones


def check(base: str, order_id: int) -> dict[str, Any]:
    resp = requests.put(dc.api(base, f"/order/certificate/{order_id}/check-dcv"), headers=dc.KEY, timeout=5)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_digicert_a_txt_record_in_the_zone_issues_at_the_check(digicert: tuple[str, Zones]) -> None:
    base, zones = digicert
    created = dc.create(base, common_name="www.zone.example", skip_approval=True,
                        certificate={"common_name": "www.zone.example", "dns_names": ["*.zone.example"],
                                     "csr": dc.csr_pem("www.zone.example", ["www.zone.example", "*.zone.example"]),
                                     "signature_hash": "sha256", "server_platform": {"id": -1}})
    value = created["dcv_random_value"]
    missing = check(base, created["id"])
    assert missing["order_status"] == "pending" and missing["dcv_status"] == "pending"
    reasons = {v["dns_name"]: v.get("reason") for v in missing["dns_name_validations"]}
    assert reasons == {"www.zone.example": "no TXT record _dnsauth.www.zone.example with the random value",
                       "*.zone.example": "no TXT record _dnsauth.zone.example with the random value"}
    zones.records[("_dnsauth.www.zone.example", "TXT")] = ("other",)
    zones.records[("_dnsauth.zone.example", "TXT")] = (value,)  # the wildcard validates its base
    half = check(base, created["id"])
    assert {v["dns_name"]: v["status"] for v in half["dns_name_validations"]} == {
        "www.zone.example": "pending", "*.zone.example": "approved"}
    assert "does not hold" in half["dns_name_validations"][0]["reason"]
    zones.records[("_dnsauth.www.zone.example", "TXT")] = ("other", value)
    done = check(base, created["id"])
    assert done["order_status"] == "issued" and done["dcv_status"] == "valid"


def test_digicert_the_issue_delay_does_not_issue_a_zone_name_without_its_record(make_delay_sim: Any) -> None:
    base, zones = make_delay_sim
    inside = dc.create(base, common_name="in.zone.example", skip_approval=True,
                       certificate={"common_name": "in.zone.example", "csr": dc.csr_pem("in.zone.example"),
                                    "signature_hash": "sha256", "server_platform": {"id": -1}})
    outside = dc.create(base, common_name="out.example.com", skip_approval=True,
                        certificate={"common_name": "out.example.com", "csr": dc.csr_pem("out.example.com"),
                                     "signature_hash": "sha256", "server_platform": {"id": -1}})
    time.sleep(0.3)
    assert dc.info(base, outside["id"])["status"] == "issued"  # no zone: the documented auto-issue
    assert dc.info(base, inside["id"])["status"] == "pending"
    zones.records[("_dnsauth.in.zone.example", "TXT")] = (inside["dcv_random_value"],)
    assert dc.info(base, inside["id"])["status"] == "issued"  # DigiCert's own scan finds it


@pytest.fixture()
def make_delay_sim() -> Iterator[tuple[str, Zones]]:
    zones = Zones("zone.example")
    with SimServer(DigiCertSim(dns=zones, issue_delay_s=0.1)) as srv:
        yield srv.url, zones


def test_resello_validate_issues_when_the_record_is_in_the_zone() -> None:
    zones = Zones("zone.example")
    from simulators.ca import generate_key

    key = generate_key("ec")
    with SimServer(ReselloSim(dns=zones)) as srv:
        cert = rs.created(srv.url, key, "r.zone.example")
        url = f"{srv.url}/ssl-certificate/{cert['id']}"
        pending = requests.post(f"{url}/validate", json={}, auth=rs.AUTH, timeout=5).json()
        (entry,) = pending["domains"]
        assert entry["status"] == "pending" and entry["reason"] == "no TXT record _dnsauth.r.zone.example with the token"
        zones.records[("_dnsauth.r.zone.example", "TXT")] = (entry["dns"]["value"],)
        validated = requests.post(f"{url}/validate", json={}, auth=rs.AUTH, timeout=5).json()
        assert validated["domains"][0]["status"] == "validated"
        assert requests.get(url, auth=rs.AUTH, timeout=5).json()["status"] == "active"


def test_resello_names_in_no_zone_keep_the_documented_flow() -> None:
    from simulators.ca import generate_key

    with SimServer(ReselloSim(dns=Zones("zone.example"))) as srv:
        cert = rs.created(srv.url, generate_key("ec"), "plain.example.com")
        url = f"{srv.url}/ssl-certificate/{cert['id']}"
        entry = requests.post(f"{url}/validate", json={}, auth=rs.AUTH, timeout=5).json()["domains"][0]
        assert entry["status"] == "pending" and "reason" not in entry
        requests.post(f"{srv.url}/_sim/advance", timeout=5).raise_for_status()
        assert requests.get(url, auth=rs.AUTH, timeout=5).json()["status"] == "active"


def test_lookup_is_only_wired_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from simulators import dns

    monkeypatch.delenv(dns.ENDPOINT_VARIABLE, raising=False)
    assert dns.from_env() is None
    monkeypatch.setenv(dns.ENDPOINT_VARIABLE, "http://127.0.0.1:5000")
    found = dns.from_env()
    assert found is not None and found.endpoint_url == "http://127.0.0.1:5000"
