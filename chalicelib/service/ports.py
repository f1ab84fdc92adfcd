"""The ports: every dependency of the use cases, as a `typing.Protocol`.

The AWS adapters (chalicelib/adapters/), the provider adapters (chalicelib/providers/) and the
in-memory fakes of tests/fakes.py implement these; the service imports nothing else that does
I/O. Each method says what it guarantees, so a fake and the real adapter behave the same."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from chalicelib.core.dns import DnsRecord, DnsZone
from chalicelib.core.imports import ImportJob
from chalicelib.core.model import Certificate, Event, IdempotencyRecord
from chalicelib.core.provider import (
    Authority,
    Capabilities,
    DcvDetail,
    OrderRequest,
    Page,
    ProviderOrder,
)
from chalicelib.core.sweeps import Position, SweepPage, SweepState

# The time a job run has left, in milliseconds (Lambda's context.get_remaining_time_in_millis).
Remaining = Callable[[], int]


class Provider(Protocol):
    """One certificate provider (TinyCert, Resello, DigiCert, ...). Adapters raise only the
    `ProviderError` family of chalicelib/core/errors.py."""

    name: str
    capabilities: Capabilities

    def submit_order(self, req: OrderRequest) -> ProviderOrder:
        """Place a new order; `outcome_unknown` on the error when it may have been placed."""

    def get_order(self, provider_order_id: str, *, with_material: bool = True) -> ProviderOrder: ...

    def find_order(self, req: OrderRequest, *, since: dt.datetime | None = None) -> ProviderOrder | None:
        """The order placed for `req.client_reference`, if the provider has one (create-once)."""

    def reissue(self, provider_order_id: str, req: OrderRequest) -> ProviderOrder: ...

    def renew(self, provider_order_id: str, req: OrderRequest) -> ProviderOrder: ...

    def revoke(self, provider_order_id: str, reason: str = "unspecified") -> ProviderOrder: ...

    def revocation_outcome(self, provider_order_id: str, request_id: str) -> ProviderOrder: ...

    def cancel(self, provider_order_id: str) -> ProviderOrder: ...

    def validation(self, provider_order_id: str) -> list[DcvDetail]: ...

    def retry_validation(self, provider_order_id: str, *, method: str | None = None,
                         email: str | None = None, domain: str | None = None) -> list[DcvDetail]: ...

    def download(self, provider_order_id: str, fmt: str) -> bytes: ...

    def list_certificates(self, filters: Mapping[str, Any] | None = None,
                          page_token: str | None = None) -> Page: ...

    def list_authorities(self) -> list[Authority]: ...

    def get_authority(self, ca_id: str) -> Authority: ...

    def create_authority(self, fields: Mapping[str, str]) -> Authority: ...

    def delete_authority(self, ca_id: str) -> None: ...


class Providers(Protocol):
    """The provider directory: which providers exist, what each can do, and the configured
    adapter for one (built from its secret; `ProviderNotConfigured` when there is none)."""

    def names(self) -> Sequence[str]: ...

    def get(self, name: str) -> Provider: ...

    def capabilities(self, name: str) -> Capabilities: ...

    def configured(self, name: str) -> bool: ...

    def defaults(self, name: str) -> Mapping[str, Any]:
        """Order defaults the provider's secret holds (organization, approver, default_ca_id)."""


class CertificateStore(Protocol):
    """Certificates, their events (audit trail and outbox), provider references and
    idempotency records. Every write is conditional: a lost race raises ConcurrentModification
    or AlreadyExists, never overwrites."""

    def create(self, cert: Certificate, events: Iterable[Event], idem: IdempotencyRecord | None = None,
               ttl_s: int = 86400) -> None:
        """Write a new certificate (ConcurrentModification if its id is taken) with `events` as rows
        and `idem` (AlreadyExists("idempotency") if the key is taken), all or nothing.
        `cert.first_events` (audit-only) stay inside the certificate's item: with no `events` and
        no `idem` the create is a single conditional write."""

    def save(self, after: Certificate, events: Iterable[Event] = (), *,
             claim_refs: Iterable[str] = (), release_idempotency: str | None = None) -> None:
        """Persist `after` if the stored version is `after.version - 1`, with `after.first_events`
        and `events` as rows of the trail, in one write; the stored certificate keeps no first events."""

    def append_events(self, cert_id: str, events: Iterable[Event]) -> None: ...

    def insert(self, cert: Certificate, events: Iterable[Event] = ()) -> bool: ...

    def get(self, cert_id: str) -> Certificate | None: ...

    def cert_id_for_ref(self, provider: str, provider_order_id: str) -> str | None: ...

    def claim_ref(self, provider: str, reference: str, cert_id: str) -> str: ...

    def ref_set(self, provider: str, reference: str, cert_id: str) -> None: ...

    def list_by_owner(self, owner: str, *, limit: int, next_token: str | None,
                      status: str | None = None, provider: str | None = None, common_name: str | None = None,
                      expires_before: str | None = None, expires_after: str | None = None,
                      domain: str | None = None) -> tuple[list[Certificate], str | None]:
        """One page of `owner`'s certificates, newest first. `expires_before`/`expires_after`:
        not_after < / >= that timestamp; `domain`: a lower-case DNS name the certificate is for
        (`Certificate.dns_names`), or with a leading dot every name under that domain."""

    def events(self, cert_id: str, *, limit: int = 100, next_token: str | None = None, owner: str = "",
               first_events: Sequence[Event] = ()) -> tuple[list[Event], str | None]:
        """A page of the certificate's trail, oldest first, with `first_events` (the certificate's
        own, Certificate.first_events, not yet filed as rows) merged in their place."""

    def due(self, kind: str, now: dt.datetime, limit: int) -> Iterator[Certificate]: ...

    def expiring(self, until: dt.datetime, limit: int) -> Iterator[Certificate]: ...

    def actionable(self, until: dt.datetime, limit: int) -> Iterator[Certificate]:
        """Certificates whose next_action_at <= until, from the sparse `action` index."""

    def earliest_expiry(self) -> str | None:
        """The earliest not_after in the expiry index (one read of the head of each shard)."""

    # The sweeps (service/sweeps.py): one page of an index from a position, in walk order.
    def due_page(self, kind: str, now: dt.datetime, after: Position | None, limit: int) -> SweepPage[Certificate]:
        """At most `limit` items of the `due` index filed under `kind` with next check <= now,
        after `after` (None: from the head), shard by shard, each by (next check, id)."""

    def expiring_page(self, until: dt.datetime, after: Position | None, limit: int) -> SweepPage[Certificate]:
        """As `due_page`, over the expiry index (not_after <= until)."""

    def action_page(self, now: dt.datetime, after: Position | None, limit: int) -> SweepPage[Certificate]:
        """As `due_page`, over the sparse `action` index: the certificates whose `next_action_at`
        <= now (those without one are not in it)."""

    def sweep_state(self, name: str) -> SweepState:
        """The sweep's persisted place (version 0 when it was never saved)."""

    def save_sweep(self, state: SweepState) -> None:
        """Persist `state` if nobody saved the sweep since `state.version - 1`;
        ConcurrentModification otherwise (another invocation won)."""

    def unpublished(self, limit: int, older_than: dt.datetime | None = None) -> Iterator[Event]: ...

    def oldest_unpublished(self) -> str | None:
        """When the oldest event still in the outbox occurred (one read of the head of each shard)."""

    def claim_for_publish(self, ev: Event, now: dt.datetime, lease_s: float) -> bool:
        """Take the outbox row for one publisher until now + lease_s; False while another
        publisher's lease runs (or the row has left the outbox)."""

    def release_publish_claim(self, ev: Event) -> None:
        """End a lease early (the publish failed): the next flush may take the row at once."""

    def mark_published(self, ev: Event, now: dt.datetime) -> bool:
        """Take the event out of the outbox (every target took it); False if someone else did."""

    def mark_target_published(self, ev: Event, target: str) -> bool:
        """Record that publish target `target` took the event, which stays in the outbox for the
        others (read back in `Event.published_targets`); False if it has left the outbox."""

    def idempotency(self, owner: str, key: str) -> IdempotencyRecord | None: ...

    # Import jobs (service/inventory.py).
    def create_import(self, job: ImportJob) -> None:
        """Record a new import (AlreadyExists if its id is taken) and make it the one that carries
        the recurring sync of its `schedule_key` (the newest import started does)."""

    def save_import(self, job: ImportJob) -> None:
        """Persist `job` if nobody changed it since `job.version - 1`; ConcurrentModification otherwise."""

    def get_import(self, import_id: str) -> ImportJob | None: ...

    def import_carrying(self, schedule_key: str) -> str | None:
        """The id of the import that carries the recurring sync of `schedule_key`, if any."""

    def list_imports(self, viewer: str, *, owner: str | None, limit: int, next_token: str | None,
                     provider: str | None = None, status: str | None = None) -> tuple[list[ImportJob], str | None]:
        """One page of imports, newest first (by started_at): those `owner` started, or everyone's
        when `owner` is None; the next_token is bound to `viewer` (a 400 for anyone else)."""

    def imports_page(self, now: dt.datetime, after: Position | None, limit: int) -> SweepPage[ImportJob]:
        """As `due_page`, over the imports whose `next_run_at` <= now (none without a next run),
        shard by shard, each by (next run, import id): the sync_inventory sweep's index."""

    def ping(self) -> None: ...


class ArtifactStore(Protocol):
    """Issued certificates, one prefix per revision, never overwritten with other bytes."""

    def write_revision(self, cert: Certificate, revision: int, leaf_pem: str, chain_pem: str,
                       metadata: dict[str, Any]) -> str: ...

    def read_revision(self, cert: Certificate, revision: int) -> tuple[str, str]: ...

    def ping(self) -> None: ...


class EventPublisher(Protocol):
    """Publishes one event to one target (at least once; `DependencyFailed` leaves it in the
    outbox for that target). `target` names it in the outbox row ("sns", "eventbridge")."""

    target: str

    def publish(self, ev: Event) -> None: ...

    def ping(self) -> None: ...


class KeyVault(Protocol):
    """Seals private keys the gateway holds (envelope encryption bound to a context)."""

    def seal(self, private_key_pem: str, context: Mapping[str, str]) -> dict[str, str]: ...

    def open(self, sealed: Mapping[str, Any], context: Mapping[str, str]) -> str: ...


class CertificateDelivery(Protocol):
    """Installs issued certificates where AWS services use them: ACM (adapters/acm.py).
    Raises `DependencyFailed` on any failure (nothing half-done is reported as done)."""

    def import_certificate(self, region: str, certificate_pem: str, chain_pem: str, private_key_pem: str,
                           arn: str | None, tags: Mapping[str, str]) -> str:
        """Import into `arn` (re-import: same ARN) or, without one, as a new ACM certificate
        tagged `tags`; the ARN either way."""

    def tag(self, region: str, arn: str, tags: Mapping[str, str]) -> None: ...

    def find_imported(self, region: str, domain_name: str, tags: Mapping[str, str]) -> str | None:
        """The ARN of an imported certificate for `domain_name` carrying every one of `tags`, or
        None: what an import whose answer was lost left behind."""


class DnsZones(Protocol):
    """The Route 53 hosted zones certgate may write validation records into (adapters/route53.py).
    Raises `DependencyFailed` on any failure."""

    def zones(self) -> Sequence[DnsZone]:
        """The allowed public zones with their names (read once; a zone's name never changes)."""

    def upsert(self, zone_id: str, record: DnsRecord) -> str:
        """Create or replace the record set `record` in zone `zone_id` (the same call twice lands
        in the same state); the change id."""

    def in_sync(self, change_id: str) -> bool:
        """Whether the change reached every Route 53 name server (INSYNC), waiting a bounded time."""

    def delete(self, zone_id: str, record: DnsRecord) -> None:
        """Remove the record set named `record.name` of `record.type` if it is there (absent: nothing)."""
