"""Typed values of the certgate API (docs/api.md, GET /openapi.json).

Responses are parsed into frozen dataclasses; timestamps become aware datetimes. Parsing is
lenient where the API may grow: fields this version does not know are ignored (but kept in `raw`,
the JSON object as received, which `certgate --output json` prints), and enumerations (status,
product, ...) stay plain strings so a new value never breaks an older client. Request values
(San, KeySpec, Organization, Approver, ProviderOptions, ImportFilters) render their JSON with
`to_json()`, leaving out what is unset so the server's defaults apply."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, Generic, TypeVar

from certgate.vocabulary import SAN_TYPES

Json = Mapping[str, Any]
T = TypeVar("T")


# -- parsing helpers ----------------------------------------------------------------------------------------
def _dt(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def _req_dt(value: Any) -> datetime:
    parsed = _dt(value)
    if parsed is None:
        raise ValueError(f"not a timestamp: {value!r}")
    return parsed


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _int(value: Any) -> int | None:
    return None if value is None or value == "" else int(value)


def _obj(value: Any) -> Json:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _set_fields(obj: Any) -> dict[str, Any]:
    """A request value's JSON: its fields that are set, nested values rendered."""
    out: dict[str, Any] = {}
    for f in fields(obj):
        value = getattr(obj, f.name)
        if value is None:
            continue
        out[f.metadata.get("json", f.name)] = value.to_json() if hasattr(value, "to_json") else value
    return out


# -- request values -----------------------------------------------------------------------------------------
_SAN_PREFIX = re.compile(rf"^({'|'.join(SAN_TYPES)}):(.+)$", re.I)


@dataclass(frozen=True)
class San:
    value: str
    type: str = "dns"  # dns, ip, email, uri

    @classmethod
    def parse(cls, raw: str) -> San:
        """dns:www.example.com, ip:10.0.0.1, email:a@b.c, uri:https://x; no prefix means dns."""
        m = _SAN_PREFIX.match(raw.strip())
        return cls(m.group(2), m.group(1).lower()) if m else cls(raw.strip())

    @classmethod
    def from_json(cls, d: Json) -> San:
        return cls(str(d["value"]), str(d.get("type") or "dns"))

    def to_json(self) -> dict[str, str]:
        return {"type": self.type, "value": self.value}

    def __str__(self) -> str:
        return f"{self.type}:{self.value}"


@dataclass(frozen=True)
class KeySpec:
    """Let certgate generate the key (kept KMS-sealed; downloadable only inside a PKCS#12)."""

    type: str = "rsa"  # rsa, ec
    size: int | None = None  # rsa 2048/3072/4096, ec 256/384

    def to_json(self) -> dict[str, Any]:
        return _set_fields(self)


@dataclass(frozen=True)
class Organization:
    """OV/EV subject; unset fields default from the provider secret where it holds one."""

    name: str | None = None
    country: str | None = None
    state: str | None = None
    locality: str | None = None
    unit: str | None = None
    chamber_of_commerce: str | None = None
    address: str | None = None
    zip_code: str | None = None
    digicert_org_id: int | None = None

    def to_json(self) -> dict[str, Any]:
        return _set_fields(self)


@dataclass(frozen=True)
class Approver:
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None

    def to_json(self) -> dict[str, Any]:
        return _set_fields(self)


@dataclass(frozen=True)
class ProviderOptions:
    """Per-provider overrides; each applies to one provider only (the API answers 422 for the others)."""

    plan: str | None = None  # resello: the plan UUID
    ca_id: int | None = None  # tinycert: the issuing CA (Authority.id)
    organization_id: int | None = None  # digicert: the CertCentral organization
    signature_hash: str | None = None  # digicert: sha256, sha384, sha512
    skip_approval: bool | None = None  # digicert
    order_validity_years: int | None = None  # digicert: the coverage plan (order_validity), 1-3
    ca_cert_id: str | None = None  # digicert private: the issuing intermediate

    def to_json(self) -> dict[str, Any]:
        return _set_fields(self)

    def __bool__(self) -> bool:
        return bool(self.to_json())


@dataclass(frozen=True)
class ImportFilters:
    """POST /imports filters; each applies to one provider."""

    ca_id: int | None = None  # tinycert
    state: int | None = None  # tinycert: bitmask 1 expired, 2 good, 4 revoked, 8 hold
    plan: str | None = None  # resello
    status: str | None = None  # digicert: expired, issued, pending, revoked
    common_name: str | None = None  # digicert

    def to_json(self) -> dict[str, Any]:
        return _set_fields(self)

    def __bool__(self) -> bool:
        return bool(self.to_json())


# -- responses ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ProviderRefs:
    order_id: str | None = None
    certificate_id: str | None = None
    status: str | None = None  # the provider's raw status

    @classmethod
    def from_json(cls, d: Json) -> ProviderRefs:
        return cls(_str(d.get("order_id")), _str(d.get("certificate_id")), _str(d.get("status")))


@dataclass(frozen=True)
class Fingerprints:
    sha1: str | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class Failure:
    code: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Revocation:
    status: str  # requested, pending, revoked
    reason: str | None
    request_id: str | None
    requested_at: datetime | None

    @classmethod
    def from_json(cls, d: Json) -> Revocation:
        return cls(str(d.get("status")), _str(d.get("reason")), _str(d.get("request_id")), _dt(d.get("requested_at")))


@dataclass(frozen=True)
class Revision:
    number: int
    reason: str
    serial: str | None = None
    not_before: datetime | None = None
    not_after: datetime | None = None
    issued_at: datetime | None = None
    provider_order_id: str | None = None
    provider_certificate_id: str | None = None

    @classmethod
    def from_json(cls, d: Json) -> Revision:
        return cls(int(d["number"]), str(d.get("reason")), _str(d.get("serial")), _dt(d.get("not_before")),
                   _dt(d.get("not_after")), _dt(d.get("issued_at")), _str(d.get("provider_order_id")),
                   _str(d.get("provider_certificate_id")))


@dataclass(frozen=True)
class AcmState:
    region: str
    arn: str | None = None
    status: str | None = None  # imported, failed, revoked
    revision: int | None = None
    error: str | None = None


@dataclass(frozen=True)
class Certificate:
    id: str
    status: str  # pending, issued, failed, revoked, cancelled, expired
    provider: str
    product: str
    common_name: str
    sans: tuple[San, ...]
    origin: str
    key_source: str
    private_key_held: bool
    auto_renew: bool
    provider_refs: ProviderRefs
    revision: int
    created_at: datetime
    updated_at: datetime
    client_reference: str | None = None
    dcv_method: str | None = None
    validity_days: int | None = None
    validity_clamped: bool = False
    validity_requested: int | None = None
    issued_revision: int | None = None
    operation: str | None = None  # while pending: order, reissue, renew, revoke, cancel
    revocation: Revocation | None = None
    not_before: datetime | None = None
    not_after: datetime | None = None
    coverage_until: datetime | None = None
    serial: str | None = None
    fingerprints: Fingerprints = Fingerprints()
    issuer: str | None = None
    on_hold: bool = False
    failure: Failure | None = None
    revisions: tuple[Revision, ...] = ()
    next_check_at: datetime | None = None
    acm: AcmState | None = None
    raw: Json = field(default_factory=dict, repr=False, compare=False)

    @property
    def pending(self) -> bool:
        return self.status == "pending"

    @classmethod
    def from_json(cls, d: Json) -> Certificate:
        fp, failure, revocation = _obj(d.get("fingerprints")), d.get("failure"), d.get("revocation")
        acm = _obj(_obj(d.get("delivery")).get("acm"))
        return cls(
            id=str(d["id"]), status=str(d["status"]), provider=str(d["provider"]), product=str(d.get("product")),
            common_name=str(d["common_name"]), sans=tuple(San.from_json(s) for s in _list(d.get("sans"))),
            origin=str(d.get("origin")), key_source=str(d.get("key_source")),
            private_key_held=bool(d.get("private_key_held")), auto_renew=bool(d.get("auto_renew")),
            provider_refs=ProviderRefs.from_json(_obj(d.get("provider_refs"))), revision=int(d.get("revision") or 1),
            created_at=_req_dt(d["created_at"]), updated_at=_req_dt(d["updated_at"]),
            client_reference=_str(d.get("client_reference")), dcv_method=_str(d.get("dcv_method")),
            validity_days=_int(d.get("validity_days")), validity_clamped=bool(d.get("validity_clamped")),
            validity_requested=_int(d.get("validity_requested")), issued_revision=_int(d.get("issued_revision")),
            operation=_str(d.get("operation")),
            revocation=Revocation.from_json(revocation) if isinstance(revocation, Mapping) else None,
            not_before=_dt(d.get("not_before")), not_after=_dt(d.get("not_after")),
            coverage_until=_dt(d.get("coverage_until")), serial=_str(d.get("serial")),
            fingerprints=Fingerprints(_str(fp.get("sha1")), _str(fp.get("sha256"))), issuer=_str(d.get("issuer")),
            on_hold=bool(d.get("on_hold")),
            failure=Failure(_str(failure.get("code")), _str(failure.get("reason")))
            if isinstance(failure, Mapping) else None,
            revisions=tuple(Revision.from_json(r) for r in _list(d.get("revisions"))),
            next_check_at=_dt(d.get("next_check_at")),
            acm=AcmState(str(acm.get("region")), _str(acm.get("arn")), _str(acm.get("status")),
                         _int(acm.get("revision")), _str(acm.get("error"))) if acm else None,
            raw=d)


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list; pass `next_token` back for the next (None on the last page)."""

    items: tuple[T, ...]
    next_token: str | None
    raw: Json = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, d: Json, item: Callable[[Json], T]) -> Page[T]:
        return cls(tuple(item(i) for i in _list(d.get("items"))), _str(d.get("next_token")), d)

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


@dataclass(frozen=True)
class Event:
    event_id: str
    event: str  # certificate.issued, certificate.reissue_requested, ...
    occurred_at: datetime
    actor: str
    from_status: str | None = None
    to_status: str | None = None
    revision: int | None = None
    provider: str | None = None
    provider_request_id: str | None = None
    detail: Json = field(default_factory=dict)
    raw: Json = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, d: Json) -> Event:
        return cls(str(d["event_id"]), str(d["event"]), _req_dt(d["occurred_at"]), str(d.get("actor")),
                   _str(d.get("from_status")), _str(d.get("to_status")), _int(d.get("revision")),
                   _str(d.get("provider")), _str(d.get("provider_request_id")), _obj(d.get("detail")), d)


@dataclass(frozen=True)
class ValidityStep:
    starts: str  # first issuance date (ISO) the step applies to
    max_validity_days: int


@dataclass(frozen=True)
class Capabilities:
    accepts_csr: bool
    generates_key: bool
    products: tuple[str, ...]
    default_product: str | None
    dcv_methods: tuple[str, ...]
    default_dcv_method: str | None
    max_validity_days: int | None
    validity_selectable: bool
    reissue: bool
    renew: bool
    revoke: bool
    cancel: bool
    authorities: bool
    async_issuance: bool
    download_formats: tuple[str, ...]
    validity_schedules: Mapping[str, tuple[ValidityStep, ...]] = field(default_factory=dict)
    san_types: tuple[str, ...] = ()  # the SAN types the provider takes (dns, ip, email, uri)

    @property
    def operations(self) -> tuple[str, ...]:
        return tuple(op for op in ("reissue", "renew", "revoke", "cancel") if getattr(self, op))

    @classmethod
    def from_json(cls, d: Json) -> Capabilities:
        schedules = {str(p): tuple(ValidityStep(str(s.get("from")), int(s.get("max_validity_days") or 0))
                                   for s in _list(steps))
                     for p, steps in _obj(d.get("validity_schedules")).items()}
        return cls(bool(d.get("accepts_csr")), bool(d.get("generates_key")), tuple(_list(d.get("products"))),
                   _str(d.get("default_product")), tuple(_list(d.get("dcv_methods"))),
                   _str(d.get("default_dcv_method")), _int(d.get("max_validity_days")),
                   bool(d.get("validity_selectable")), bool(d.get("reissue")), bool(d.get("renew")),
                   bool(d.get("revoke")), bool(d.get("cancel")), bool(d.get("authorities")),
                   bool(d.get("async_issuance")), tuple(_list(d.get("download_formats"))), schedules,
                   tuple(_list(d.get("san_types"))))


@dataclass(frozen=True)
class Provider:
    name: str
    configured: bool
    capabilities: Capabilities
    raw: Json = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, d: Json) -> Provider:
        return cls(str(d["name"]), bool(d.get("configured")), Capabilities.from_json(_obj(d.get("capabilities"))), d)


@dataclass(frozen=True)
class DnsRecord:
    name: str | None
    type: str | None
    value: str | None


@dataclass(frozen=True)
class FileToServe:
    path: str | None
    content: str | None


@dataclass(frozen=True)
class DcvDomain:
    domain: str
    method: str
    state: str  # pending, valid, failed
    dns: DnsRecord | None = None
    file: FileToServe | None = None
    emails: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, d: Json) -> DcvDomain:
        dns, file = d.get("dns"), d.get("file")
        return cls(str(d["domain"]), str(d.get("method")), str(d.get("state")),
                   DnsRecord(_str(dns.get("name")), _str(dns.get("type")), _str(dns.get("value")))
                   if isinstance(dns, Mapping) else None,
                   FileToServe(_str(file.get("path")), _str(file.get("content"))) if isinstance(file, Mapping) else None,
                   tuple(str(e) for e in _list(d.get("emails"))))


@dataclass(frozen=True)
class Validation:
    certificate_id: str
    status: str
    method: str | None
    domains: tuple[DcvDomain, ...]
    raw: Json = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, d: Json) -> Validation:
        return cls(str(d["certificate_id"]), str(d["status"]), _str(d.get("method")),
                   tuple(DcvDomain.from_json(x) for x in _list(d.get("domains"))), d)


@dataclass(frozen=True)
class Authority:
    """A TinyCert CA. `id` is what an order's ProviderOptions(ca_id=...) takes."""

    id: int
    name: str
    details: Json
    certificate_pem: str | None
    raw: Json = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, d: Json) -> Authority:
        # The API lists the integer `ca_id` an order takes (older servers: a string of digits).
        return cls(int(d["id"]), str(d.get("name")), _obj(d.get("details")), _str(d.get("certificate_pem")), d)


@dataclass(frozen=True)
class ImportCounters:
    pages: int = 0
    found: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    errors: int = 0


@dataclass(frozen=True)
class ImportJob:
    id: str
    status: str  # queued, running, completed, failed
    provider: str
    filters: Json
    counters: ImportCounters
    started_at: datetime
    updated_at: datetime
    page_size: int | None = None
    skipped: Mapping[str, int] = field(default_factory=dict)
    last_error: Json | None = None
    runs: int = 0
    run_started_at: datetime | None = None
    finished_at: datetime | None = None
    next_run_at: datetime | None = None
    superseded_by: str | None = None
    raw: Json = field(default_factory=dict, repr=False, compare=False)

    @property
    def done(self) -> bool:
        return self.status in ("completed", "failed")

    @classmethod
    def from_json(cls, d: Json) -> ImportJob:
        c = _obj(d.get("counters"))
        counters = ImportCounters(**{f.name: int(c.get(f.name) or 0) for f in fields(ImportCounters)})
        last_error = d.get("last_error")
        return cls(str(d["id"]), str(d["status"]), str(d["provider"]), _obj(d.get("filters")), counters,
                   _req_dt(d["started_at"]), _req_dt(d["updated_at"]), _int(d.get("page_size")),
                   {str(k): int(v) for k, v in _obj(d.get("skipped")).items()},
                   last_error if isinstance(last_error, Mapping) else None, int(d.get("runs") or 0),
                   _dt(d.get("run_started_at")), _dt(d.get("finished_at")), _dt(d.get("next_run_at")),
                   _str(d.get("superseded_by")), d)


@dataclass(frozen=True)
class Health:
    status: str
    stage: str | None
    checks: Mapping[str, str]
    raw: Json = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, d: Json) -> Health:
        return cls(str(d.get("status")), _str(d.get("stage")),
                   {str(k): str(v) for k, v in _obj(d.get("checks")).items()}, d)


@dataclass(frozen=True)
class Download:
    content: bytes
    content_type: str
    filename: str | None  # what the API suggests (Content-Disposition)


@dataclass(frozen=True)
class OrderResult:
    certificate: Certificate
    idempotency_key: str
    replayed: bool  # an earlier request with this key placed the order; this is its answer again
