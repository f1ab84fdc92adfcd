"""Route 53 validation records (issue 19 item 1): the DnsZones port over boto3's route53 client.

Only the zones of CERTGATE_DNS_ZONES are ever touched (the IAM policy allows no other); their
names are read once with GetHostedZone. Private zones are left out: a CA resolves public DNS only.
Writes are UPSERTs (re-run safe), `in_sync` polls GetChange for a bounded time (Route 53 usually
propagates within 60 s; the poller asks again on its next run), a delete reads the record set
first because Route 53 deletes only an exact copy of it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from chalicelib.adapters.clients import translate_errors
from chalicelib.core.dns import DnsRecord, DnsZone, fqdn
from chalicelib.core.errors import DependencyFailed

TTL_S = 60


def _bare_id(zone_id: str) -> str:
    return zone_id.rsplit("/", 1)[-1]


def _rdata(record_type: str, value: str) -> str:
    if record_type == "TXT":
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return value


@translate_errors("route53")
class Route53Zones:
    def __init__(self, client_factory: Callable[[], Any], zone_ids: Sequence[str], *, wait_s: float = 10.0,
                 interval_s: float = 2.0, sleep: Callable[[float], None] = time.sleep) -> None:
        self._client_factory = client_factory
        self.zone_ids = tuple(_bare_id(z) for z in zone_ids)
        self.wait_s = wait_s
        self.interval_s = interval_s
        self._sleep = sleep
        self._zones: tuple[DnsZone, ...] | None = None
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        return self._client_factory()

    def zones(self) -> Sequence[DnsZone]:
        with self._lock:
            if self._zones is None:
                found = []
                for zone_id in self.zone_ids:
                    zone = self.client.get_hosted_zone(Id=zone_id)["HostedZone"]
                    if not (zone.get("Config") or {}).get("PrivateZone"):
                        found.append(DnsZone(zone_id, fqdn(zone["Name"])))
                self._zones = tuple(found)
            return self._zones

    def _allowed(self, zone_id: str) -> str:
        bare = _bare_id(zone_id)
        if bare not in self.zone_ids:
            raise DependencyFailed("route53", "ZoneNotAllowed")
        return bare

    def upsert(self, zone_id: str, record: DnsRecord) -> str:
        resp = self.client.change_resource_record_sets(HostedZoneId=self._allowed(zone_id), ChangeBatch={
            "Comment": "certgate domain control validation",
            "Changes": [{"Action": "UPSERT", "ResourceRecordSet": {
                "Name": fqdn(record.name) + ".", "Type": record.type, "TTL": TTL_S,
                "ResourceRecords": [{"Value": _rdata(record.type, v)} for v in record.values]}}]})
        return _bare_id(str(resp["ChangeInfo"]["Id"]))

    def in_sync(self, change_id: str) -> bool:
        deadline = time.monotonic() + self.wait_s
        while True:
            status = self.client.get_change(Id=change_id)["ChangeInfo"]["Status"]
            if status == "INSYNC":
                return True
            if time.monotonic() + self.interval_s > deadline:
                return False
            self._sleep(self.interval_s)

    def delete(self, zone_id: str, record: DnsRecord) -> None:
        zone = self._allowed(zone_id)
        name = fqdn(record.name) + "."
        found = self.client.list_resource_record_sets(HostedZoneId=zone, StartRecordName=name,
                                                      StartRecordType=record.type, MaxItems="1")
        for rrset in found.get("ResourceRecordSets") or []:
            if fqdn(rrset["Name"]) == fqdn(record.name) and rrset["Type"] == record.type:
                self.client.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={
                    "Comment": "certgate: validation done",
                    "Changes": [{"Action": "DELETE", "ResourceRecordSet": rrset}]})
