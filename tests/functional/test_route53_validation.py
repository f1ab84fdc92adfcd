"""Route 53 DNS validation on the local stack (issue 19 item 1): moto's Route 53 is the DNS, the
DigiCert and Resello simulators look records up in it. A DigiCert order for a name in an allowed
zone issues through poll_pending with no manual DCV step and its record is removed afterwards; a
record that is not there keeps the order pending with the provider's reason; a wildcard validates
its base name; a SAN outside the zones stays manual; explicit requests that cannot be met are 422s."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.functional.conftest import call
from tests.functional.test_lifecycle import csr_for


def csr_with(cn: str, *sans: str) -> str:
    from cryptography.hazmat.primitives import serialization

    from simulators.ca import build_csr, generate_key

    names = [("dns", n) for n in dict.fromkeys([cn, *sans])]
    return build_csr(generate_key("ec"), cn, names).public_bytes(serialization.Encoding.PEM).decode()


def who() -> str:
    return f"arn:aws:iam::123456789012:user/r53-{uuid.uuid4().hex[:6]}"


@pytest.fixture()
def zone(world: Any) -> Iterator[tuple[str, str]]:
    """A hosted zone `<random>.example.com` in moto, allowed for automation (CERTGATE_DNS_ZONES)."""
    from chalicelib import bootstrap

    name = f"r53{uuid.uuid4().hex[:8]}.example.com"
    r53 = world.aws("route53")
    zone_id = r53.create_hosted_zone(Name=name, CallerReference=name)["HostedZone"]["Id"].rsplit("/", 1)[-1]
    before = os.environ.get("CERTGATE_DNS_ZONES")
    os.environ["CERTGATE_DNS_ZONES"] = zone_id
    bootstrap.reset()
    try:
        yield zone_id, name
    finally:
        if before is None:
            os.environ.pop("CERTGATE_DNS_ZONES", None)
        else:
            os.environ["CERTGATE_DNS_ZONES"] = before
        bootstrap.reset()


def poll_until(client: Any, cid: str, me: str, wanted: str, seconds: float = 20) -> dict[str, Any]:
    deadline = time.time() + seconds
    body: dict[str, Any] = {}
    while time.time() < deadline:
        client.lambda_.invoke("poll_pending", client.events.generate_cw_event(
            source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]))
        _, _, body = call(client, "GET", f"/certificates/{cid}", principal=me)
        if body["status"] == wanted:
            break
        time.sleep(0.5)
    return body


def records(world: Any, zone_id: str, rtype: str = "TXT") -> dict[str, list[str]]:
    sets = world.aws("route53").list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    return {s["Name"].rstrip("."): [r["Value"] for r in s["ResourceRecords"]] for s in sets if s["Type"] == rtype}


def test_a_digicert_ov_order_in_the_zone_issues_on_the_poller_and_its_record_is_removed(client, world, zone):
    zone_id, zname = zone
    me, name = who(), f"www.{zname}"
    st, _, body = call(client, "POST", "/certificates", {"provider": "digicert", "product": "ov", "common_name": name,
                                                         "csr": csr_for(name), "dcv_method": "dns"}, me)
    assert st == 202 and body["status"] == "pending", body
    cid = body["id"]
    issued = poll_until(client, cid, me, "issued")
    assert issued["status"] == "issued", issued  # no world.advance, no _sim DCV placement
    st, _, validation = call(client, "GET", f"/certificates/{cid}/validation", principal=me)
    (domain,) = validation["domains"]
    progress = domain["automation"]
    assert progress["zone_id"] == zone_id and progress["record"]["name"] == f"_dnsauth.{name}"
    assert progress["record_written"] and progress["in_sync"] and progress["provider_checked"]
    assert progress["validated"] and progress["record_removed"] and progress["error"] is None
    assert f"_dnsauth.{name}" not in records(world, zone_id)


def test_a_missing_record_keeps_the_order_pending_and_a_published_one_issues_it(client, world, zone):
    """Opted out of automation, in a zone the simulator looks up: nothing auto-issues it; a check
    with the record missing leaves it pending; once the user publishes the record, the check issues."""
    zone_id, zname = zone
    me, name = who(), f"manual.{zname}"
    st, _, body = call(client, "POST", "/certificates", {"provider": "digicert", "common_name": name,
                                                         "csr": csr_for(name), "dns_automation": {"enabled": False}},
                       me)
    assert st == 202, body
    cid = body["id"]
    assert poll_until(client, cid, me, "issued", seconds=3)["status"] == "pending"
    st, _, retried = call(client, "POST", f"/certificates/{cid}/validate", {}, me)
    assert st == 202 and retried["domains"][0]["state"] == "pending", retried
    assert "automation" not in retried["domains"][0]
    assert records(world, zone_id) == {}  # certgate wrote nothing
    record = retried["domains"][0]["dns"]
    world.aws("route53").change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [{
        "Action": "UPSERT", "ResourceRecordSet": {"Name": record["name"], "Type": "TXT", "TTL": 60,
                                                  "ResourceRecords": [{"Value": f'"{record["value"]}"'}]}}]})
    st, _, retried = call(client, "POST", f"/certificates/{cid}/validate", {}, me)
    assert st == 202, retried
    assert poll_until(client, cid, me, "issued")["status"] == "issued"


def test_a_wildcard_validates_its_base_name_with_one_record(client, world, zone):
    zone_id, zname = zone
    me, name = who(), f"*.app.{zname}"
    st, _, body = call(client, "POST", "/certificates", {
        "provider": "digicert", "common_name": name, "sans": [{"value": name}, {"value": f"app.{zname}"}],
        "csr": csr_with(name, f"app.{zname}")}, me)
    assert st == 202, body
    issued = poll_until(client, body["id"], me, "issued")
    assert issued["status"] == "issued", issued
    _, _, validation = call(client, "GET", f"/certificates/{body['id']}/validation", principal=me)
    names = {d["automation"]["record"]["name"] for d in validation["domains"]}
    assert names == {f"_dnsauth.app.{zname}"}


def test_a_san_outside_the_zones_stays_manual(client, world, zone):
    zone_id, zname = zone
    me, name, outside = who(), f"mixed.{zname}", f"mixed{uuid.uuid4().hex[:6]}.example.org"
    st, _, body = call(client, "POST", "/certificates", {
        "provider": "digicert", "common_name": name, "sans": [{"value": name}, {"value": outside}],
        "csr": csr_with(name, outside)}, me)
    assert st == 202, body
    cid = body["id"]
    assert poll_until(client, cid, me, "issued", seconds=4)["status"] == "pending"
    _, _, validation = call(client, "GET", f"/certificates/{cid}/validation", principal=me)
    by_name = {d["domain"]: d for d in validation["domains"]}
    assert by_name[name]["automation"]["in_sync"] and by_name[name]["automation"]["provider_checked"]
    assert "automation" not in by_name[outside] and by_name[outside]["state"] == "pending"
    assert f"_dnsauth.{name}" in records(world, zone_id)  # kept while the order is pending
    st, _, _ = call(client, "DELETE", f"/certificates/{cid}", principal=me)
    assert st in (200, 202)
    assert f"_dnsauth.{name}" not in records(world, zone_id)  # removed on cancel


def test_explicit_automation_outside_the_zones_is_a_422(client, world, zone):
    zone_id, zname = zone
    me = who()
    st, _, body = call(client, "POST", "/certificates", {
        "provider": "digicert", "common_name": "www.example.org", "csr": csr_for("www.example.org"),
        "dns_automation": {"enabled": True}}, me)
    assert st == 422 and [e["field"] for e in body["errors"]] == ["dns_automation"], body
    st, _, body = call(client, "POST", "/certificates", {
        "provider": "digicert", "common_name": f"a.{zname}", "csr": csr_for(f"a.{zname}"),
        "dns_automation": {"zone_id": "ZNOTALLOWED0"}}, me)
    assert st == 422 and [e["field"] for e in body["errors"]] == ["dns_automation.zone_id"], body


def test_the_local_seed_makes_one_public_example_com_zone(world):
    """`make run` (devstack.seed) seeds example.com once, public; run.py allows its id (CERTGATE_DNS_ZONES)."""
    from devstack.seed import LOCAL_DNS_ZONE, seed_dns_zone

    r53 = world.aws("route53")
    first = seed_dns_zone(r53, LOCAL_DNS_ZONE)
    assert seed_dns_zone(r53, LOCAL_DNS_ZONE + ".") == first  # a second run finds it
    zone = r53.get_hosted_zone(Id=first)["HostedZone"]
    assert zone["Name"] == "example.com." and zone["Config"]["PrivateZone"] is False
    named = [z for z in r53.list_hosted_zones()["HostedZones"] if z["Name"] == "example.com."]
    assert len(named) == 1
    r53.delete_hosted_zone(Id=first)  # the session's other tests use names under example.com


def test_the_readme_example_digicert_ov_through_route53_into_acm(client, world, zone):
    """README "Route 53 DNS validation": what a user types, word for word but for the zone's name."""
    zone_id, zname = zone
    me, name = who(), f"shop.{zname}"
    st, _, body = call(client, "POST", "/certificates", {
        "provider": "digicert", "product": "ov", "common_name": name,
        "sans": [{"value": name}, {"value": f"*.{name}"}], "key": {"type": "rsa"}, "dcv_method": "dns",
        "dns_automation": {"enabled": True}, "deliver_to": {"acm": {"region": "us-east-1"}}}, me)
    assert st == 202 and body["status"] == "pending", body
    issued = poll_until(client, body["id"], me, "issued")
    assert issued["status"] == "issued", issued
    assert issued["delivery"]["acm"]["status"] == "imported" and issued["delivery"]["acm"]["arn"]
    _, _, validation = call(client, "GET", f"/certificates/{body['id']}/validation", principal=me)
    assert {d["automation"]["record"]["name"] for d in validation["domains"]} == {f"_dnsauth.{name}"}
    assert all(d["automation"]["record_removed"] for d in validation["domains"])
    assert records(world, zone_id) == {}
