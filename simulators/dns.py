"""The simulators' "DNS lookup": what a CA's resolver would find for a name, read from the Route 53
hosted zones of the local AWS (moto) through boto3. **Invented** as a whole (no provider documents
how it resolves); it stands for the public DNS in the local stack, where moto's Route 53 is the DNS.

`lookup(name, type)` answers None when no hosted zone holds `name` (the simulators then keep their
documented behaviour for it), else the values of that record set (TXT values unquoted; empty when
the zone has no such record). Private zones are not public DNS and are ignored. Nothing is cached:
a record written a moment ago is found, as after a real propagation."""

from __future__ import annotations

import os
from typing import Any

ENDPOINT_VARIABLE = "SIM_ROUTE53_ENDPOINT_URL"


def _fqdn(name: str) -> str:
    return name.strip().rstrip(".").lower()


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return value


class Route53Lookup:
    def __init__(self, endpoint_url: str, region: str = "us-east-1") -> None:
        self.endpoint_url = endpoint_url
        self.region = region
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            # Throw-away credentials: the lookup reads the local moto only, whatever the shell has.
            self._client = boto3.client("route53", endpoint_url=self.endpoint_url, region_name=self.region,
                                        aws_access_key_id="testing", aws_secret_access_key="testing")
        return self._client

    def zone_of(self, name: str) -> str | None:
        """The id of the public hosted zone with the longest name that holds `name`."""
        name = _fqdn(name)
        best: tuple[int, str] | None = None
        for page in self.client.get_paginator("list_hosted_zones").paginate():
            for zone in page["HostedZones"]:
                if (zone.get("Config") or {}).get("PrivateZone"):
                    continue
                zname = _fqdn(zone["Name"])
                if (name == zname or name.endswith("." + zname)) and (best is None or len(zname) > best[0]):
                    best = (len(zname), str(zone["Id"]).rsplit("/", 1)[-1])
        return best[1] if best else None

    def lookup(self, name: str, record_type: str) -> tuple[str, ...] | None:
        zone_id = self.zone_of(name)
        if zone_id is None:
            return None
        found = self.client.list_resource_record_sets(HostedZoneId=zone_id, StartRecordName=_fqdn(name) + ".",
                                                      StartRecordType=record_type, MaxItems="1")
        for rrset in found.get("ResourceRecordSets") or []:
            if _fqdn(rrset["Name"]) == _fqdn(name) and rrset["Type"] == record_type:
                return tuple(_unquote(r["Value"]) for r in rrset.get("ResourceRecords") or [])
        return ()


def from_env() -> Route53Lookup | None:
    """The lookup `make run` gives each simulator (SIM_ROUTE53_ENDPOINT_URL: its moto), or None."""
    url = os.environ.get(ENDPOINT_VARIABLE, "").strip()
    return Route53Lookup(url, os.environ.get("AWS_REGION") or "us-east-1") if url else None
