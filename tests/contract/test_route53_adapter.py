"""The Route 53 adapter (adapters/route53.py) against moto's Route 53 over HTTP, and the fake
(tests/fakes.py FakeDns) held to the same behaviour: allowed zones only (private ones left out),
UPSERT re-run safe, INSYNC read from GetChange, a delete of what is there and of what is not."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from chalicelib.adapters.route53 import Route53Zones
from chalicelib.core.dns import DnsRecord
from chalicelib.core.errors import DependencyFailed
from tests.fakes import FakeDns


def make_zone(world: Any, *, private: bool = False) -> tuple[str, str]:
    name = f"c{uuid.uuid4().hex[:8]}.example.com"
    kw: dict[str, Any] = {"Name": name, "CallerReference": name}
    if private:
        kw["VPC"] = {"VPCRegion": "us-east-1", "VPCId": "vpc-12345678"}
        kw["HostedZoneConfig"] = {"PrivateZone": True, "Comment": "private"}
    zone_id = world.aws("route53").create_hosted_zone(**kw)["HostedZone"]["Id"]
    return zone_id.rsplit("/", 1)[-1], name


def record_sets(world: Any, zone_id: str) -> dict[tuple[str, str], list[str]]:
    sets = world.aws("route53").list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    return {(s["Name"].rstrip("."), s["Type"]): [r["Value"] for r in s["ResourceRecords"]]
            for s in sets if s["Type"] in ("TXT", "CNAME")}


@pytest.fixture()
def zones(world: Any) -> tuple[Route53Zones, str, str, str]:
    zone_id, name = make_zone(world)
    private_id, _ = make_zone(world, private=True)
    adapter = Route53Zones(lambda: world.aws("route53"), [f"/hostedzone/{zone_id}", private_id], wait_s=0)
    return adapter, zone_id, name, private_id


def test_zones_are_the_allowed_public_ones_with_their_names(zones: Any) -> None:
    adapter, zone_id, name, _private = zones
    assert [(z.zone_id, z.name) for z in adapter.zones()] == [(zone_id, name)]


def test_upsert_is_rerun_safe_insync_is_read_and_delete_removes_it(world: Any, zones: Any) -> None:
    adapter, zone_id, name, _ = zones
    record = DnsRecord(f"_dnsauth.{name}", "TXT", ("tok-1",))
    change = adapter.upsert(zone_id, record)
    adapter.upsert(zone_id, record)
    assert record_sets(world, zone_id) == {(f"_dnsauth.{name}", "TXT"): ['"tok-1"']}
    assert adapter.in_sync(change) is True  # moto answers INSYNC at once
    adapter.upsert(zone_id, DnsRecord(f"_dnsauth.{name}", "TXT", ("tok-2", "tok-3")))  # replaced, not added
    assert record_sets(world, zone_id) == {(f"_dnsauth.{name}", "TXT"): ['"tok-2"', '"tok-3"']}
    adapter.delete(zone_id, record)
    assert record_sets(world, zone_id) == {}
    adapter.delete(zone_id, record)  # already gone: nothing to do


def test_cname_records_and_zones_not_allowed(world: Any, zones: Any) -> None:
    adapter, zone_id, name, private_id = zones
    adapter.upsert(zone_id, DnsRecord(f"abc123.{name}", "CNAME", ("dcv.digicert.com",)))
    assert record_sets(world, zone_id) == {(f"abc123.{name}", "CNAME"): ["dcv.digicert.com"]}
    other, _ = make_zone(world)
    with pytest.raises(DependencyFailed):
        adapter.upsert(other, DnsRecord(f"x.{name}", "TXT", ("v",)))
    assert record_sets(world, other) == {}


def test_in_sync_waits_a_bounded_time_for_a_pending_change() -> None:
    answers = iter(["PENDING", "PENDING", "INSYNC"])
    slept: list[float] = []

    class Client:
        def get_change(self, Id: str) -> dict[str, Any]:
            return {"ChangeInfo": {"Id": Id, "Status": next(answers)}}

    adapter = Route53Zones(lambda: Client(), ["Z1"], wait_s=10, interval_s=2, sleep=slept.append)
    assert adapter.in_sync("C1") is True and slept == [2, 2]
    never = Route53Zones(lambda: type("C", (), {"get_change": lambda self, Id: {"ChangeInfo": {"Status": "PENDING"}}})(),
                         ["Z1"], wait_s=0, sleep=slept.append)
    assert never.in_sync("C1") is False


def test_the_fake_behaves_the_same(world: Any) -> None:
    zone_id, name = make_zone(world)
    real = Route53Zones(lambda: world.aws("route53"), [zone_id], wait_s=0)
    fake = FakeDns({zone_id: name + "."})
    for dns in (real, fake):
        assert [(z.zone_id, z.name) for z in dns.zones()] == [(zone_id, name)]
        record = DnsRecord(f"_dnsauth.{name}", "TXT", ("v",))
        assert dns.in_sync(dns.upsert(zone_id, record)) is True
        dns.delete(zone_id, record)
        dns.delete(zone_id, record)
        with pytest.raises(DependencyFailed):
            dns.upsert("ZNOTALLOWED", record)
