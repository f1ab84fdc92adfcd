"""The certificate domain: statuses, transitions, revisions and events. Pure: no I/O."""

from __future__ import annotations

import datetime as dt
import uuid
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from chalicelib.core.dns import DnsAutomation
from chalicelib.core.errors import TransitionNotAllowed


class Status(StrEnum):
    """Normalized statuses. SUBMITTING is internal and shown to callers as pending."""

    SUBMITTING = "submitting"
    PENDING = "pending"
    ISSUED = "issued"
    FAILED = "failed"
    REVOKED = "revoked"
    CANCELLED = "cancelled"
    EXPIRED = "expired"

    @property
    def public(self) -> str:
        return "pending" if self is Status.SUBMITTING else self.value


# design.md 2.2. Anything else is a 409 for a user request and a no-op for the poller.
ALLOWED: dict[Status, frozenset[Status]] = {
    Status.SUBMITTING: frozenset({Status.PENDING, Status.ISSUED, Status.FAILED}),
    # pending -> issued also ends a reissue/renew that the provider refused (back to the last good revision)
    Status.PENDING: frozenset({Status.ISSUED, Status.FAILED, Status.CANCELLED}),
    Status.ISSUED: frozenset({Status.REVOKED, Status.EXPIRED, Status.PENDING}),
    Status.FAILED: frozenset(),
    Status.REVOKED: frozenset(),
    Status.CANCELLED: frozenset(),
    Status.EXPIRED: frozenset(),
}

WAITING = frozenset({Status.SUBMITTING, Status.PENDING})
FINAL = frozenset({Status.FAILED, Status.REVOKED, Status.CANCELLED, Status.EXPIRED})

# Events published on SNS (design.md section 5). Other audit kinds stay in the table only.
PUBLISHED_EVENTS = frozenset({
    "certificate.issued", "certificate.failed", "certificate.revoked", "certificate.cancelled",
    "certificate.expiring", "certificate.expired", "certificate.revocation_rejected", "certificate.delivered",
    "certificate.dcv_failed",
})
EVENT_FOR_STATUS = {
    Status.ISSUED: "certificate.issued",
    Status.FAILED: "certificate.failed",
    Status.REVOKED: "certificate.revoked",
    Status.CANCELLED: "certificate.cancelled",
    Status.EXPIRED: "certificate.expired",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def iso(t: dt.datetime | None) -> str | None:
    if t is None:
        return None
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def new_certificate_id() -> str:
    # 36 characters: fits DigiCert's alternative_order_id (64) and Resello's client_reference.
    return "crt_" + uuid.uuid4().hex


def can_transition(current: Status, target: Status) -> bool:
    return target in ALLOWED[current]


@dataclass(frozen=True)
class Revision:
    number: int
    reason: str  # order | reissue | renew | import | provider (changed at the provider's own console)
    provider_order_id: str | None = None
    provider_certificate_id: str | None = None
    serial: str | None = None
    not_before: str | None = None
    not_after: str | None = None
    issued_at: str | None = None
    s3_prefix: str | None = None

    def to_item(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Revision:
        fields: dict[str, Any] = {k: (int(v) if k == "number" else v) for k, v in item.items()
                                  if k in cls.__dataclass_fields__}
        return cls(**fields)


# -- typed parts of a certificate ----------------------------------------------------------------
@dataclass(frozen=True)
class San:
    type: str  # dns | ip | email | uri
    value: str


@dataclass(frozen=True)
class Organization:
    name: str | None = None
    country: str | None = None
    state: str | None = None
    locality: str | None = None
    unit: str | None = None
    chamber_of_commerce: str | None = None
    address: str | None = None
    zip_code: str | None = None
    digicert_org_id: int | None = None  # DigiCert's own organization id, when the caller names one


@dataclass(frozen=True)
class Approver:
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None


@dataclass(frozen=True)
class Revocation:
    """A revoke we asked the provider for. `requested`: the call was made (or is being made) and
    its answer is not recorded yet — reconcile finds out; `pending`: the provider holds it for
    approval (`request_id`) and the poller follows it; `revoked`: the provider confirmed it. A
    rejected request is cleared (event certificate.revocation_rejected)."""

    reason: str
    requested_at: str | None = None  # None: revoked outside certgate (at the provider), never asked here
    state: str = "requested"  # requested | pending | revoked
    request_id: str | None = None
    comments: str | None = None
    revoked_at: str | None = None  # when certgate recorded it revoked (None for records from before)

    @property
    def waiting(self) -> bool:
        return self.state in ("requested", "pending")

    def to_item(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}

    @classmethod
    def from_item(cls, item: Mapping[str, Any] | None) -> Revocation | None:
        if not item:
            return None
        return cls(**{k: str(v) for k, v in item.items() if k in cls.__dataclass_fields__})


DELIVERY_GRACE_S = 300  # an import not recorded this long after the issuance is retried (a process died)


@dataclass(frozen=True)
class AcmImport:
    """ACM import of a certificate (service/delivery.py): what the order asked (`region`) and where
    it stands. `status`: None (not tried yet) | imported | failed | revoked (tagged, kept).
    `attempts` counts failed imports in a row (the retry backs off on it); `retry_at` is when the
    next one is due."""

    region: str
    arn: str | None = None
    status: str | None = None
    revision: int | None = None
    error: str | None = None
    retry_at: str | None = None
    attempts: int = 0

    def to_item(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None and not (k == "attempts" and v == 0)}

    def to_public(self) -> dict[str, Any]:
        return {k: v for k, v in self.to_item().items() if k in ("region", "arn", "status", "revision", "error")}

    @classmethod
    def from_item(cls, asked: Mapping[str, Any] | None, state: Mapping[str, Any] | None) -> AcmImport | None:
        """From the stored `deliver_to.acm` (the ask) and `delivery.acm` (the state)."""
        if not asked and not state:
            return None
        merged = {**(state or {}), **({"region": asked["region"]} if asked and asked.get("region") else {})}
        revision, attempts = merged.get("revision"), merged.get("attempts")
        return cls(region=str(merged.get("region", "")),
                   arn=str(merged["arn"]) if merged.get("arn") else None,
                   status=str(merged["status"]) if merged.get("status") else None,
                   revision=int(revision) if revision is not None else None,
                   error=str(merged["error"]) if merged.get("error") else None,
                   retry_at=str(merged["retry_at"]) if merged.get("retry_at") else None,
                   attempts=int(attempts or 0))


@dataclass(frozen=True)
class Failure:
    code: str
    reason: str


def fields_of(value: Organization | Approver | None) -> dict[str, Any]:
    """The fields of an organization or approver that are set (the request/storage shape)."""
    if value is None:
        return {}
    return {k: v for k, v in value.__dict__.items() if v is not None}


def organization_from(data: Mapping[str, Any] | None) -> Organization | None:
    if not data:
        return None
    return Organization(**{k: v for k, v in data.items() if k in Organization.__dataclass_fields__})


def approver_from(data: Mapping[str, Any] | None) -> Approver | None:
    if not data:
        return None
    return Approver(**{k: v for k, v in data.items() if k in Approver.__dataclass_fields__})


@dataclass(frozen=True)
class Certificate:
    """One certgate certificate across its revisions. Immutable: changes make a new value."""

    id: str
    owner: str
    provider: str
    common_name: str
    status: Status
    created_at: str
    updated_at: str
    version: int = 0
    product: str = "dv"
    sans: tuple[San, ...] = ()
    dcv_method: str | None = None
    validity_days: int | None = None  # asked of the provider (or what it issues, where none can be asked)
    validity_requested: int | None = None  # what the caller asked for; None: the provider's maximum
    validity_clamped: bool = False  # the request was above the maximum on the issuance date
    auto_renew: bool = False
    client_reference: str | None = None  # the caller's own reference (ours to the provider is `id`)
    organization: Organization | None = None
    approver: Approver | None = None
    provider_options: dict[str, Any] = field(default_factory=dict)
    origin: str = "ordered"  # ordered | imported
    key_source: str = "csr"  # csr | gateway | provider
    csr_pem: str | None = None
    sealed_key: dict[str, str] | None = None
    provider_order_id: str | None = None
    provider_certificate_id: str | None = None
    provider_status: str | None = None
    # The provider's last status was not in its adapter's status table: `status` is the last
    # known one, `provider_status` the raw value (surfaced once: certificate.provider_state_unmapped).
    provider_status_unmapped: bool = False
    revision: int = 1
    revisions: tuple[Revision, ...] = ()
    # order | reissue | renew while the provider works on it; revoke | cancel: claimed before the
    # provider call, so reconcile knows what was in flight when the answer was never recorded.
    operation: str | None = None
    revocation: Revocation | None = None
    not_before: str | None = None
    not_after: str | None = None
    serial: str | None = None
    fingerprint_sha1: str | None = None
    fingerprint_sha256: str | None = None
    issuer: str | None = None
    failure: Failure | None = None
    poll_attempts: int = 0
    next_poll_at: str | None = None
    submit_attempts: int = 0
    submitted_at: str | None = None  # when the provider was last asked to create this order (or revoke/cancel it)
    # The last `certificate.expiring` offset sent (n: when 1/n of the lifetime remained) and the
    # not_after it was about (a new certificate starts over): core/renewal.py.
    notice_offset: int | None = None
    notice_not_after: str | None = None
    # The end of the paid plan (DigiCert order_validity), where the provider sells plans: inside
    # it a renewal is a free reissue (core/renewal.py).
    coverage_until: str | None = None
    renewal_attempted_at: str | None = None  # the renewal sweep's last try (its retries are spaced)
    # When renew_expiring next has something to do for it (core/renewal.py next_action_at; the
    # service sets it on every write, the sparse `action` index files it; None: nothing ever).
    next_action_at: str | None = None
    on_hold: bool = False
    import_id: str | None = None
    # ACM delivery (service/delivery.py): asked for with `deliver_to.acm.region`; None: not asked.
    acm: AcmImport | None = None
    # Automatic DNS validation in Route 53 (service/dns_validation.py): what the order asked for
    # and where each domain stands; None for orders from before it, and for imports.
    dns_automation: DnsAutomation | None = None
    # Audit-only events (never published) written inside the certificate's own item by its create,
    # so that ordering writes one item before the provider call; the certificate's first save files
    # them as rows of the trail in its transaction and stores the certificate without them. Until
    # then the trail shows them in their place (CertificateStore.events).
    first_events: tuple[Event, ...] = ()

    # -- derived ------------------------------------------------------------------------
    @property
    def public_status(self) -> str:
        return self.status.public

    @property
    def revocation_waiting(self) -> bool:
        return self.revocation is not None and self.revocation.waiting

    @property
    def due_kind(self) -> str | None:
        """Where the sparse `due` index files this certificate: S (an unconfirmed create, for
        reconcile), P (pending at the provider, or issued with a revoke or cancel in flight or a
        revoke request awaiting approval, for the poller), None (nothing to watch)."""
        if self.status is Status.SUBMITTING:
            return "S"
        if self.status is Status.PENDING or (self.status is Status.ISSUED
                                             and (self.operation is not None or self.revocation_waiting)):
            return "P"
        return None

    @property
    def current_revision(self) -> Revision | None:
        for r in self.revisions:
            if r.number == self.revision:
                return r
        return None

    @property
    def delivery_due_at(self) -> str | None:
        """When the ACM import of the issued revision is due (service/delivery.py retries it then);
        None when none is outstanding. An import not yet tried is due DELIVERY_GRACE_S after the
        issuance was saved: the request that saved it imports at once, and if its process died
        the retry finds it."""
        acm, rev = self.acm, self.issued_revision
        if acm is None or self.status is not Status.ISSUED or rev is None or acm.status == "revoked":
            return None
        if acm.status == "imported" and acm.revision == rev.number:
            return None
        if acm.retry_at:
            return acm.retry_at
        saved = parse_iso(self.updated_at)
        return iso(saved + dt.timedelta(seconds=DELIVERY_GRACE_S)) if saved else None

    @property
    def issued_revision(self) -> Revision | None:
        """The newest revision that was issued (the one downloads serve)."""
        done = [r for r in self.revisions if r.issued_at]
        return max(done, key=lambda r: r.number) if done else None

    def s3_prefix(self, revision: int | None = None) -> str:
        return f"certificates/{self.id}/r{revision or self.revision}/"

    # -- changes ------------------------------------------------------------------------
    def moved_to(self, target: Status, now: dt.datetime, **changes: Any) -> Certificate:
        """This certificate in `target` (checked against ALLOWED), one version later."""
        if target != self.status and not can_transition(self.status, target):
            raise TransitionNotAllowed(self.status, target)
        if target is Status.REVOKED and self.status is not Status.REVOKED:
            # Every way into revoked (our revoke, one at the provider, a deleted CA) says when and why.
            rev = changes.get("revocation", self.revocation) or Revocation(reason="unspecified")
            changes["revocation"] = replace(rev, state="revoked", revoked_at=iso(now))
        return replace(self, status=target, updated_at=iso(now) or self.updated_at,
                       version=self.version + 1, **changes)

    def updated(self, now: dt.datetime, **changes: Any) -> Certificate:
        return replace(self, updated_at=iso(now) or self.updated_at, version=self.version + 1, **changes)

    def with_revision(self, rev: Revision) -> tuple[Revision, ...]:
        others = tuple(r for r in self.revisions if r.number != rev.number)
        return tuple(sorted((*others, rev), key=lambda r: r.number))

    def to_public(self) -> dict[str, Any]:
        """The API representation (no key material, no internal bookkeeping)."""
        rev = self.issued_revision
        out: dict[str, Any] = {
            "id": self.id,
            "status": self.public_status,
            "provider": self.provider,
            "product": self.product,
            "common_name": self.common_name,
            "sans": [{"type": s.type, "value": s.value} for s in self.sans],
            "origin": self.origin,
            "key_source": self.key_source,
            "private_key_held": self.sealed_key is not None,
            "auto_renew": self.auto_renew,
            "client_reference": self.client_reference,
            "dcv_method": self.dcv_method,
            "validity_days": self.validity_days,
            "validity_clamped": self.validity_clamped,
            "validity_requested": self.validity_requested,
            "provider_refs": {
                "order_id": self.provider_order_id,
                "certificate_id": self.provider_certificate_id,
                "status": self.provider_status,
            },
            "revision": self.revision,
            "issued_revision": rev.number if rev else None,
            "operation": self.operation if self.due_kind else None,
            "revocation": self._public_revocation(),
            "not_before": self.not_before,
            "not_after": self.not_after,
            "coverage_until": self.coverage_until,
            "serial": self.serial,
            "fingerprints": {"sha1": self.fingerprint_sha1, "sha256": self.fingerprint_sha256},
            "issuer": self.issuer,
            "on_hold": self.on_hold,
            "failure": {"code": self.failure.code, "reason": self.failure.reason} if self.failure else None,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "revisions": [r.to_item() for r in self.revisions],
        }
        if self.status in WAITING:
            out["next_check_at"] = self.next_poll_at
        if self.acm is not None:
            out["delivery"] = {"acm": self.acm.to_public()}
        return out

    @property
    def dns_names(self) -> frozenset[str]:
        """The DNS names the certificate is for (common name and dns SANs), lower case: what a
        domain search (GET /certificates?domain=) matches."""
        names = {self.common_name, *(s.value for s in self.sans if s.type == "dns")}
        return frozenset(n.strip().lower().rstrip(".") for n in names if n)

    def _public_revocation(self) -> dict[str, Any] | None:
        rev = self.revocation
        if rev is None and self.status is Status.REVOKED:  # revoked at the provider before it was recorded here
            rev = Revocation(reason="unspecified", state="revoked")
        if rev is None:
            return None
        return {"status": rev.state, "request_id": rev.request_id, "reason": rev.reason,
                "requested_at": rev.requested_at, "revoked_at": rev.revoked_at}

    def event_summary(self) -> dict[str, Any]:
        """What an SNS message says of the certificate (never PEMs or keys)."""
        return {
            "id": self.id, "owner": self.owner, "provider": self.provider, "status": self.public_status,
            "common_name": self.common_name, "sans": [s.value for s in self.sans],
            "revision": self.revision, "serial": self.serial, "not_before": self.not_before,
            "not_after": self.not_after, "provider_order_id": self.provider_order_id,
            "client_reference": self.client_reference,
            **({"acm_arn": self.acm.arn} if self.acm is not None and self.acm.arn else {}),
        }


@dataclass(frozen=True)
class Event:
    """One audit row; those in PUBLISHED_EVENTS are also published on SNS (outbox)."""

    certificate_id: str
    kind: str
    occurred_at: str
    actor: str
    event_id: str = field(default_factory=lambda: "evt_" + uuid.uuid4().hex)
    from_status: str | None = None
    to_status: str | None = None
    revision: int | None = None
    provider: str | None = None
    provider_request_id: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    # The publish targets (EventPublisher.target: "sns", "eventbridge") that already took this
    # event while it is still in the outbox for another one: a retry sends only to the others.
    published_targets: tuple[str, ...] = ()

    @property
    def published(self) -> bool:
        return self.kind in PUBLISHED_EVENTS

    def to_public(self) -> dict[str, Any]:
        return {k: v for k, v in {
            "event_id": self.event_id, "event": self.kind, "occurred_at": self.occurred_at,
            "actor": self.actor, "from_status": self.from_status, "to_status": self.to_status,
            "revision": self.revision, "provider": self.provider,
            "provider_request_id": self.provider_request_id, "detail": self.detail or None,
        }.items() if v is not None}


def transition_event(before: Certificate, after: Certificate, actor: str, now: dt.datetime,
                     kind: str | None = None, **detail: Any) -> Event:
    """The event that records `before` -> `after`."""
    name = kind or EVENT_FOR_STATUS.get(after.status) or f"certificate.{after.status.public}"
    return Event(certificate_id=after.id, kind=name, occurred_at=iso(now) or "", actor=actor,
                 from_status=before.status.public, to_status=after.status.public, revision=after.revision,
                 provider=after.provider, detail={k: v for k, v in detail.items() if v is not None})


@dataclass(frozen=True)
class IdempotencyRecord:
    owner: str
    key: str
    body_hash: str
    certificate_id: str
    created_at: str


def shard_of(cert_id: str, shards: int) -> int:
    """The index shard of an item: spreads the sparse indexes' hot keys over `shards` partitions."""
    return zlib.crc32(cert_id.encode()) % max(1, shards)
