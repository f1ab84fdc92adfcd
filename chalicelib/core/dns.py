"""Automatic DNS validation (issue 19 item 1), the pure part: which allowed hosted zone holds a
domain, the record a provider asks for, and where each domain of an order stands.

A domain is automated when it lies in one of the Route 53 zones certgate may manage (the longest
zone name that is a suffix of it wins); a wildcard `*.a.example` is validated as `a.example`.
The progress of each domain is kept on the certificate (`Certificate.dns_automation`) and shown
by GET /certificates/{id}/validation. Nothing here does I/O."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

# What the caller asked for: "auto" (the default: automate the domains inside allowed zones, the
# others stay manual), "on" (asked explicitly: every domain must be automatable), "off".
MODES = ("auto", "on", "off")
RECORD_TYPES = ("TXT", "CNAME")


def fqdn(name: str) -> str:
    """A DNS name as compared here: lower case, no trailing dot."""
    return name.strip().rstrip(".").lower()


def validated_name(domain: str) -> str:
    """The name whose control is proven for `domain`: a wildcard's base (`*.a.example` -> `a.example`)."""
    name = fqdn(domain)
    return name[2:] if name.startswith("*.") else name


@dataclass(frozen=True)
class DnsZone:
    zone_id: str  # the hosted zone id, without the /hostedzone/ prefix
    name: str  # as fqdn()

    def holds(self, name: str) -> bool:
        name = fqdn(name)
        return name == self.name or name.endswith("." + self.name)


def zone_for(domain: str, zones: Iterable[DnsZone]) -> DnsZone | None:
    """The zone with the longest name that holds `domain` (its wildcard base), None if none does."""
    name = validated_name(domain)
    found = [z for z in zones if z.holds(name)]
    return max(found, key=lambda z: len(z.name)) if found else None


@dataclass(frozen=True)
class DnsRecord:
    """One record set: a name, a type and its values (TXT values unquoted)."""

    name: str
    type: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class DomainProgress:
    """Where one domain of an order stands. `zone_id` None: outside the allowed zones (manual)."""

    domain: str
    zone_id: str | None = None
    record_name: str | None = None
    record_type: str | None = None
    record_value: str | None = None
    change_id: str | None = None
    written: bool = False  # UPSERTed into the zone
    in_sync: bool = False  # Route 53 reported the change INSYNC
    checked: bool = False  # the provider was asked to check (check-dcv / validate)
    validated: bool = False  # the provider reports the domain validated
    removed: bool = False  # the record was deleted after the order ended
    error: str | None = None  # why automation is stuck for this domain (None: it is not)

    @property
    def automated(self) -> bool:
        return self.zone_id is not None

    def to_item(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None and v is not False}

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> DomainProgress:
        known = cls.__dataclass_fields__
        data: dict[str, Any] = {k: v for k, v in item.items() if k in known}
        for flag in ("written", "in_sync", "checked", "validated", "removed"):
            data[flag] = bool(data.get(flag, False))
        return cls(**data)

    def to_public(self) -> dict[str, Any]:
        out: dict[str, Any] = {"zone_id": self.zone_id, "record_written": self.written, "in_sync": self.in_sync,
                               "provider_checked": self.checked, "validated": self.validated,
                               "record_removed": self.removed, "error": self.error}
        if self.record_name:
            out["record"] = {"name": self.record_name, "type": self.record_type, "value": self.record_value}
        return out


@dataclass(frozen=True)
class DnsAutomation:
    """What the order asked for and, per domain, where automation stands for `revision` (a
    reissue or renewal validates again: its progress starts over)."""

    mode: str = "auto"
    zone_id: str | None = None  # the zone the caller pinned (None: longest-suffix match)
    revision: int = 1
    domains: tuple[DomainProgress, ...] = field(default_factory=tuple)

    @property
    def automated(self) -> tuple[DomainProgress, ...]:
        return tuple(d for d in self.domains if d.automated)

    def progress(self, domain: str) -> DomainProgress | None:
        name = fqdn(domain)
        return next((d for d in self.domains if fqdn(d.domain) == name), None)

    def with_domain(self, updated: DomainProgress) -> DnsAutomation:
        name = fqdn(updated.domain)
        return replace(self, domains=tuple(updated if fqdn(d.domain) == name else d for d in self.domains))

    def to_item(self) -> dict[str, Any]:
        return {"mode": self.mode, "zone_id": self.zone_id, "revision": self.revision,
                "domains": [d.to_item() for d in self.domains]}

    @classmethod
    def from_item(cls, item: Mapping[str, Any] | None) -> DnsAutomation | None:
        if not item:
            return None
        return cls(mode=str(item.get("mode") or "auto"), zone_id=item.get("zone_id") or None,
                   revision=int(item.get("revision") or 1),
                   domains=tuple(DomainProgress.from_item(d) for d in item.get("domains") or ()))


def plan(domains: Sequence[str], zones: Sequence[DnsZone], *, mode: str, zone_id: str | None,
         revision: int = 1) -> DnsAutomation:
    """Which domains are automated: each in its longest-suffix allowed zone (or the pinned one)."""
    usable = [z for z in zones if z.zone_id == zone_id] if zone_id else list(zones)
    progress = []
    for domain in dict.fromkeys(domains):
        zone = zone_for(domain, usable) if mode != "off" else None
        progress.append(DomainProgress(domain=domain, zone_id=zone.zone_id if zone else None))
    return DnsAutomation(mode=mode, zone_id=zone_id, revision=revision, domains=tuple(progress))


def records(progress: Iterable[DomainProgress]) -> dict[tuple[str, str, str], DnsRecord]:
    """The record sets to write, by (zone, name, type): domains that share a name (a wildcard and
    its base under DigiCert's `_dnsauth.`) share one set, with each distinct value once."""
    grouped: dict[tuple[str, str, str], list[str]] = {}
    for d in progress:
        if d.zone_id and d.record_name and d.record_type and d.record_value:
            values = grouped.setdefault((d.zone_id, fqdn(d.record_name), d.record_type), [])
            if d.record_value not in values:
                values.append(d.record_value)
    return {key: DnsRecord(key[1], key[2], tuple(values)) for key, values in grouped.items()}
