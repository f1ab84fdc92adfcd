"""In-memory fakes of every port of chalicelib/service/ports.py, for unit tests of the service.

Honest fakes: each one keeps the observable semantics of the real adapter it stands for (read
beside it), so that what passes here passes against moto and the simulators too.
tests/functional/test_store_fake_parity.py runs the same checks against `FakeStore` and the
DynamoDB adapter on moto.

- `FakeStore` (adapters/dynamodb/store.py): every write is conditional as there — a create of an
  existing certificate or a save whose `version - 1` is not the stored version raises
  ConcurrentModification, a taken idempotency key AlreadyExists("idempotency"), a provider
  reference claimed by another certificate AlreadyExists; a failed write changes nothing (one
  transaction). Values go through the same normalisation as a DynamoDB round trip (None dropped,
  tuples become lists, integral numbers ints). The sparse indexes (due, expiry, action, outbox) are read
  shard by shard with the adapter's share of the limit; listings apply the Limit before the
  filters and hand out owner-bound tokens.
- `FakeArtifacts` (adapters/s3.py), `FakePublisher` (adapters/sns.py), `FakeKeyVault`
  (adapters/kms.py), `FakeProvider` (one provider adapter, scriptable), `FakeProviders` (the
  provider directory of chalicelib/bootstrap.py), `FakeClock`.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import datetime as dt
import hashlib
import itertools
import json
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from chalicelib.core.errors import (
    AlreadyExists,
    BadRequest,
    ConcurrentModification,
    DependencyFailed,
    KeyVaultError,
    ProviderConflict,
    ProviderError,
    ProviderNotConfigured,
    ProviderNotFound,
    SealedKeyInvalid,
    UnsupportedOperation,
)
from chalicelib.core.imports import ImportJob
from chalicelib.core.model import (
    Certificate,
    Event,
    IdempotencyRecord,
    Status,
    iso,
    shard_of,
    utcnow,
)
from chalicelib.core.provider import (
    Authority,
    Capabilities,
    CertificateMaterial,
    DcvDetail,
    OrderRequest,
    Page,
    ProviderOrder,
)
from chalicelib.core.sweeps import Position, SweepPage, SweepState

# ==================================================================================================
# clock
# ==================================================================================================


class FakeClock:
    """The service's clock, moved by hand. Starts at the real time (certificates signed by the
    fake providers carry real validity dates), to the second."""

    def __init__(self, start: dt.datetime | None = None) -> None:
        self.now = (start or dt.datetime.now(dt.UTC)).replace(microsecond=0)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> dt.datetime:
        self.now += dt.timedelta(**delta)
        return self.now


# ==================================================================================================
# the certificate store
# ==================================================================================================


def _stored(value: Any) -> Any:
    """What a DynamoDB round trip (the adapter's _clean then _plain) makes of a plain value:
    None dropped from maps, tuples become lists, integral numbers ints."""
    if isinstance(value, dict):
        return {k: _stored(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_stored(v) for v in value]
    if isinstance(value, float):
        return int(value) if value == int(value) else value
    return value


def _normalized(value: Any) -> Any:
    if isinstance(value, Event):
        return _round_trip(value)  # a certificate's first events, stored as its event rows are
    if isinstance(value, dict):
        return _stored(value)
    if isinstance(value, tuple):
        return tuple(_normalized(v) for v in value)
    if isinstance(value, list):
        return [_normalized(v) for v in value]
    return copy.deepcopy(value)


def _round_trip(record: Any) -> Any:
    """A copy of the dataclass `record` as it reads back from the table (no shared mutable parts)."""
    return dataclasses.replace(record, **{f.name: _normalized(getattr(record, f.name))
                                          for f in dataclasses.fields(record) if f.init})


def _stored_certificate(cert: Certificate) -> Certificate:
    if cert.due_kind is None:
        cert = dataclasses.replace(cert, next_poll_at=None)  # as the adapter: only watched ones keep it
    return _round_trip(cert)


def _owner_tag(owner: str) -> str:
    return hashlib.sha256(owner.encode()).hexdigest()[:16]


def _encode_token(key: Mapping[str, Any], owner: str) -> str:
    payload = {"k": dict(key), "o": _owner_tag(owner)}
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode_token(token: str | None, owner: str) -> dict[str, Any] | None:
    """As the adapter: a token this API did not issue, or one of another listing, is a 400."""
    if not token:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        key, who = payload["k"], payload["o"]
        if not isinstance(key, dict):
            raise ValueError("bad key")
    except (ValueError, KeyError, TypeError) as exc:
        raise BadRequest("next_token is not a token this API issued", code="invalid_next_token") from exc
    if who != _owner_tag(owner):
        raise BadRequest("next_token belongs to another listing", code="invalid_next_token")
    return key


@dataclass
class _EventRow:
    event: Event
    in_outbox: bool
    published_at: str | None = None
    claimed_until: str | None = None
    targets: set[str] = field(default_factory=set)  # the adapter's `published_targets` string set

    def read(self) -> Event:
        return dataclasses.replace(_round_trip(self.event), published_targets=tuple(sorted(self.targets)))


@dataclass
class _Idempotency:
    record: IdempotencyRecord
    expires_at: int  # epoch seconds, like the table's TTL attribute


def _event_key(ev: Event) -> str:
    return f"{ev.occurred_at}#{ev.event_id}"  # the adapter's sort key EVT#{occurred_at}#{event_id}


class FakeStore:
    """The CertificateStore port in memory, with the DynamoDB adapter's conditions and indexes."""

    def __init__(self, shards: int = 4, clock: Callable[[], dt.datetime] = utcnow) -> None:
        self.shards = shards
        self._clock = clock  # the TTL of idempotency records (the adapter uses the wall clock)
        self._lock = threading.RLock()
        self._certs: dict[str, Certificate] = {}
        self._events: dict[str, dict[str, _EventRow]] = {}
        self._refs: dict[tuple[str, str], str] = {}
        self._idem: dict[tuple[str, str], _Idempotency] = {}
        self._imports: dict[str, ImportJob] = {}
        self._schedules: dict[str, str] = {}
        self._sweeps: dict[str, SweepState] = {}
        self.down: DependencyFailed | None = None  # set: every call fails like an unreachable table

    def _check_up(self) -> None:
        if self.down is not None:
            raise self.down

    # -- transactions -------------------------------------------------------------------------
    def _event_conflicts(self, cert_id: str, events: Sequence[Event]) -> bool:
        have = self._events.get(cert_id, {})
        keys = [_event_key(ev) for ev in events]
        return any(k in have for k in keys) or len(set(keys)) != len(keys)

    def _put_events(self, cert_id: str, events: Iterable[Event]) -> None:
        rows = self._events.setdefault(cert_id, {})
        for ev in events:
            rows[_event_key(ev)] = _EventRow(_round_trip(ev), in_outbox=ev.published)

    @staticmethod
    def _transaction_size(n: int) -> None:
        # DynamoDB takes 1..100 items per TransactWriteItems (the adapter's call fails otherwise).
        if not 1 <= n <= 100:
            raise DependencyFailed("table", "ValidationException")

    # -- writes ---------------------------------------------------------------------------------
    def create(self, cert: Certificate, events: Iterable[Event], idem: IdempotencyRecord | None = None,
               ttl_s: int = 86400) -> None:
        events = list(events)
        with self._lock:
            self._check_up()
            self._transaction_size(1 + (idem is not None) + len(events))
            if cert.id in self._certs:
                raise ConcurrentModification("certificate changed concurrently")  # the adapter's label
            if idem is not None and (idem.owner, idem.key) in self._idem:
                raise AlreadyExists("idempotency")  # an expired record blocks too until the TTL sweep
            if self._event_conflicts(cert.id, events):
                raise AlreadyExists("event")
            self._certs[cert.id] = _stored_certificate(cert)
            if idem is not None:
                expires = int(self._clock().timestamp()) + ttl_s
                self._idem[(idem.owner, idem.key)] = _Idempotency(_round_trip(idem), expires)
            self._put_events(cert.id, events)

    def save(self, after: Certificate, events: Iterable[Event] = (), *,
             claim_refs: Iterable[str] = (), release_idempotency: str | None = None) -> None:
        # the first events are filed as rows in the same write: the stored certificate keeps none
        events, claims = [*after.first_events, *events], list(claim_refs)
        after = dataclasses.replace(after, first_events=())
        with self._lock:
            self._check_up()
            stored = self._certs.get(after.id)
            if stored is None or stored.version != after.version - 1:
                raise ConcurrentModification(after.id)
            if events or claims or release_idempotency is not None:
                self._transaction_size(1 + len(events) + len(claims) + (release_idempotency is not None))
            if self._event_conflicts(after.id, events):
                raise AlreadyExists("event")
            for ref in claims:
                holder = self._refs.get((after.provider, ref))
                if holder is not None and holder != after.id:
                    raise AlreadyExists("reference")
            self._certs[after.id] = _stored_certificate(after)
            self._put_events(after.id, events)
            for ref in claims:
                self._refs[(after.provider, ref)] = after.id
            if release_idempotency is not None:
                self._idem.pop((after.owner, release_idempotency), None)

    def append_events(self, cert_id: str, events: Iterable[Event]) -> None:
        events = list(events)
        with self._lock:
            self._check_up()
            self._transaction_size(len(events))
            if self._event_conflicts(cert_id, events):
                raise AlreadyExists("event")
            self._put_events(cert_id, events)

    def insert(self, cert: Certificate, events: Iterable[Event] = ()) -> bool:
        events = list(events)
        with self._lock:
            self._check_up()
            if cert.id in self._certs:
                return False
            self._certs[cert.id] = _stored_certificate(cert)
            if self._event_conflicts(cert.id, events):  # the adapter's separate puts fail on AWS
                raise DependencyFailed("table", "ConditionalCheckFailedException")
            self._put_events(cert.id, events)
            return True

    def claim_ref(self, provider: str, reference: str, cert_id: str) -> str:
        with self._lock:
            self._check_up()
            return self._refs.setdefault((provider, reference), cert_id)

    def ref_set(self, provider: str, reference: str, cert_id: str) -> None:
        with self._lock:
            self._check_up()
            self._refs[(provider, reference)] = cert_id

    # -- reads ----------------------------------------------------------------------------------
    def ping(self) -> None:
        self._check_up()

    def get(self, cert_id: str) -> Certificate | None:
        with self._lock:
            self._check_up()
            cert = self._certs.get(cert_id)
            return _round_trip(cert) if cert is not None else None

    def cert_id_for_ref(self, provider: str, provider_order_id: str) -> str | None:
        with self._lock:
            self._check_up()
            return self._refs.get((provider, provider_order_id))

    def idempotency(self, owner: str, key: str) -> IdempotencyRecord | None:
        with self._lock:
            self._check_up()
            held = self._idem.get((owner, key))
            if held is None or held.expires_at < int(self._clock().timestamp()):
                return None  # expired records read as absent (DynamoDB's TTL sweep is lazy)
            return _round_trip(held.record)

    def list_by_owner(self, owner: str, *, limit: int, next_token: str | None,
                      status: str | None = None, provider: str | None = None, common_name: str | None = None,
                      expires_before: str | None = None, expires_after: str | None = None,
                      domain: str | None = None) -> tuple[list[Certificate], str | None]:
        start = _decode_token(next_token, owner)
        statuses = {status, Status.SUBMITTING.value} if status == "pending" else {status}

        def named(c: Certificate) -> bool:
            if not domain:
                return True
            if domain.startswith("."):
                return any(n.endswith(domain) for n in c.dns_names)
            return domain in c.dns_names

        def wanted(c: Certificate) -> bool:
            return ((not status or c.status.value in statuses) and (not provider or c.provider == provider)
                    and (not common_name or c.common_name == common_name)
                    and (not expires_before or (c.not_after is not None and c.not_after < expires_before))
                    and (not expires_after or (c.not_after is not None and c.not_after >= expires_after))
                    and named(c))

        with self._lock:
            self._check_up()
            # The by_owner index holds certificates only (events have no owner, imports no
            # created_at), newest first.
            index = sorted(((c.created_at, c.id) for c in self._certs.values() if c.owner == owner), reverse=True)
            certs = {cid: _round_trip(self._certs[cid]) for _, cid in index}
        position = 0
        if start is not None:
            position = next((i + 1 for i, key in enumerate(index)
                             if key == (start.get("created_at"), start.get("id"))), len(index))
        out: list[Certificate] = []
        last: tuple[str, str] | None = None
        for _ in range(10):  # as the adapter: at most 10 reads per request
            read = index[position:position + (limit - len(out))]
            position += len(read)
            out += [certs[cid] for _, cid in read if wanted(certs[cid])]
            # The Limit applies before the filters; the key of the last item read is handed on
            # while more remain (as moto does; DynamoDB may also hand one for an empty last page).
            last = read[-1] if read and position < len(index) else None
            if len(out) >= limit or last is None:
                break
        token = _encode_token({"created_at": last[0], "id": last[1]}, owner) if last else None
        return out, token

    def events(self, cert_id: str, *, limit: int = 100, next_token: str | None = None, owner: str = "",
               first_events: Sequence[Event] = ()) -> tuple[list[Event], str | None]:
        """Oldest first, `first_events` in their place; the token is bound to the owner and the
        certificate, as the adapter's."""
        start = _decode_token(next_token, owner + cert_id)
        with self._lock:
            self._check_up()
            rows = sorted([*((k, r.event) for k, r in self._events.get(cert_id, {}).items()),
                           *((_event_key(ev), ev) for ev in first_events)], key=lambda row: row[0])
        if start is not None:
            rows = [(k, r) for k, r in rows if k > str(start.get("sk"))]
        page = rows[:limit]
        token = _encode_token({"sk": page[-1][0]}, owner + cert_id) if len(rows) > limit else None
        return [_round_trip(ev) for _, ev in page], token

    # -- the sparse indexes -----------------------------------------------------------------------
    def _walk(self, entries: Callable[[int], list[tuple[str, Any]]], until: str, limit: int) -> Iterator[Any]:
        """The adapter's _walk_index: shard by shard, oldest first, each shard an equal share of the
        limit, what a share leaves unused passed on. `entries(shard)` gives (range key, value); the
        values are copies taken when the shard is read, as a page of the index is."""
        remaining = limit
        for shard in range(self.shards):
            share = -(-remaining // (self.shards - shard))
            remaining -= share
            with self._lock:
                self._check_up()
                found = sorted((e for e in entries(shard) if e[0] <= until), key=lambda e: e[0])
            for _, value in found[:max(0, share)]:
                share -= 1
                yield value
            remaining += share

    def _in_shard(self, record_id: str, shard: int) -> bool:
        return shard_of(record_id, self.shards) == shard

    def due(self, kind: str, now: dt.datetime, limit: int) -> Iterator[Certificate]:
        """Waiting certificates (kind P: pending, S: submitting) whose next check is due."""
        def entries(shard: int) -> list[tuple[str, Any]]:
            if kind == "D":  # outstanding ACM imports (the adapter's _file_delivery_retry)
                return [(c.delivery_due_at, _round_trip(c)) for c in self._certs.values()
                        if c.due_kind is None and c.delivery_due_at and self._in_shard(c.id, shard)]
            return [(c.next_poll_at or c.updated_at, _round_trip(c)) for c in self._certs.values()
                    if c.due_kind == kind
                    and self._in_shard(c.id, shard)]

        yield from self._walk(entries, iso(now) or "", limit)

    def expiring(self, until: dt.datetime, limit: int) -> Iterator[Certificate]:
        """Certificates still valid out there (issued, or pending a reissue after an issuance)
        with not_after <= until."""
        def watched(c: Certificate) -> bool:
            return c.status is Status.ISSUED or (c.status is Status.PENDING and c.issued_revision is not None)

        def entries(shard: int) -> list[tuple[str, Any]]:
            return [(c.not_after, _round_trip(c)) for c in self._certs.values()
                    if c.not_after and watched(c) and self._in_shard(c.id, shard)]

        yield from self._walk(entries, iso(until) or "", limit)

    def actionable(self, until: dt.datetime, limit: int) -> Iterator[Certificate]:
        def entries(shard: int) -> list[tuple[str, Any]]:
            return [(c.next_action_at, _round_trip(c)) for c in self._certs.values()
                    if c.next_action_at and self._in_shard(c.id, shard)]

        yield from self._walk(entries, iso(until) or "", limit)

    def earliest_expiry(self) -> str | None:
        return min((c.not_after or "" for c in self.expiring(dt.datetime.max.replace(tzinfo=dt.UTC), self.shards)),
                   default=None)

    # -- the sweeps -------------------------------------------------------------------------------------
    def _page(self, entries: Callable[[int], list[tuple[str, Any]]], until: str, after: Position | None,
              limit: int) -> SweepPage:
        """The adapter's _index_page: shard by shard from `after`'s, each by (range key, id)."""
        out: list[tuple[Position, Any]] = []
        for shard in range(after.shard if after is not None else 0, self.shards):
            with self._lock:
                self._check_up()
                found = sorted(((k, c.id, c) for k, c in entries(shard) if k <= until), key=lambda e: e[:2])
            if after is not None and after.shard == shard and after.key:
                found = [e for e in found if (e[0], e[1]) > (after.key, after.item_id)]
            room = limit - len(out)
            out += [(Position(shard, k, cid), c) for k, cid, c in found[:room]]
            if len(out) >= limit:
                return SweepPage(out, end=len(found) <= room and shard == self.shards - 1)
        return SweepPage(out, end=True)

    def due_page(self, kind: str, now: dt.datetime, after: Position | None, limit: int) -> SweepPage:
        def entries(shard: int) -> list[tuple[str, Certificate]]:
            return [(c.next_poll_at or c.updated_at, _round_trip(c)) for c in self._certs.values()
                    if c.due_kind == kind and self._in_shard(c.id, shard)]

        return self._page(entries, iso(now) or "", after, limit)

    def expiring_page(self, until: dt.datetime, after: Position | None, limit: int) -> SweepPage:
        def entries(shard: int) -> list[tuple[str, Certificate]]:
            return [(c.not_after, _round_trip(c)) for c in self._certs.values()
                    if c.not_after and (c.status is Status.ISSUED or (c.status is Status.PENDING and c.issued_revision))
                    and self._in_shard(c.id, shard)]

        return self._page(entries, iso(until) or "", after, limit)

    def action_page(self, now: dt.datetime, after: Position | None, limit: int) -> SweepPage:
        def entries(shard: int) -> list[tuple[str, Certificate]]:
            return [(c.next_action_at, _round_trip(c)) for c in self._certs.values()
                    if c.next_action_at and self._in_shard(c.id, shard)]

        return self._page(entries, iso(now) or "", after, limit)

    def sweep_state(self, name: str) -> SweepState:
        with self._lock:
            self._check_up()
            return self._sweeps.get(name) or SweepState(name=name)

    def save_sweep(self, state: SweepState) -> None:
        with self._lock:
            self._check_up()
            stored = self._sweeps.get(state.name)
            if (stored.version if stored else 0) != state.version - 1:
                raise ConcurrentModification(f"sweep {state.name}")
            self._sweeps[state.name] = _round_trip(state)

    def unpublished(self, limit: int, older_than: dt.datetime | None = None) -> Iterator[Event]:
        def entries(shard: int) -> list[tuple[str, Any]]:
            return [(r.event.occurred_at, r.read()) for cid, rows in self._events.items()
                    if self._in_shard(cid, shard) for r in rows.values() if r.in_outbox]

        yield from self._walk(entries, iso(older_than or utcnow() + dt.timedelta(days=1)) or "", limit)

    def oldest_unpublished(self) -> str | None:
        end = dt.datetime.max.replace(tzinfo=dt.UTC)
        return min((ev.occurred_at for ev in self.unpublished(self.shards, older_than=end)), default=None)

    def claim_for_publish(self, ev: Event, now: dt.datetime, lease_s: float) -> bool:
        with self._lock:
            self._check_up()
            row = self._events.get(ev.certificate_id, {}).get(_event_key(ev))
            if row is None or not row.in_outbox or (row.claimed_until or "") > (iso(now) or ""):
                return False
            row.claimed_until = iso(now + dt.timedelta(seconds=lease_s))
            return True

    def release_publish_claim(self, ev: Event) -> None:
        with self._lock:
            self._check_up()
            row = self._events.get(ev.certificate_id, {}).get(_event_key(ev))
            if row is not None:
                row.claimed_until = None

    def mark_published(self, ev: Event, now: dt.datetime) -> bool:
        with self._lock:
            self._check_up()
            row = self._events.get(ev.certificate_id, {}).get(_event_key(ev))
            if row is None or not row.in_outbox:
                return False
            row.in_outbox, row.published_at = False, iso(now)
            return True

    def mark_target_published(self, ev: Event, target: str) -> bool:
        with self._lock:
            self._check_up()
            row = self._events.get(ev.certificate_id, {}).get(_event_key(ev))
            if row is None or not row.in_outbox:
                return False
            row.targets.add(target)
            return True

    # -- import jobs --------------------------------------------------------------------------------
    def create_import(self, job: ImportJob) -> None:
        with self._lock:
            self._check_up()
            if job.id in self._imports:
                raise AlreadyExists("import")
            self._imports[job.id] = _round_trip(job)
            self._schedules[job.schedule_key] = job.id

    def save_import(self, job: ImportJob) -> None:
        with self._lock:
            self._check_up()
            stored = self._imports.get(job.id)
            if stored is None or stored.version != job.version - 1:
                raise ConcurrentModification(job.id)
            self._imports[job.id] = _round_trip(job)

    def get_import(self, import_id: str) -> ImportJob | None:
        with self._lock:
            self._check_up()
            job = self._imports.get(import_id)
            return _round_trip(job) if job is not None else None

    def import_carrying(self, schedule_key: str) -> str | None:
        with self._lock:
            self._check_up()
            return self._schedules.get(schedule_key)

    def list_imports(self, viewer: str, *, owner: str | None, limit: int, next_token: str | None,
                     provider: str | None = None, status: str | None = None) -> tuple[list[ImportJob], str | None]:
        start = _decode_token(next_token, viewer)

        def wanted(j: ImportJob) -> bool:
            return ((owner is None or j.owner == owner) and (provider is None or j.provider == provider)
                    and (status is None or j.status == status))

        with self._lock:
            self._check_up()
            index = sorted(((j.started_at, j.id) for j in self._imports.values()), reverse=True)
            jobs = {jid: _round_trip(self._imports[jid]) for _, jid in index}
        position = 0
        if start is not None:
            position = next((i + 1 for i, key in enumerate(index)
                             if key == (start.get("created_at"), start.get("id"))), len(index))
        out: list[ImportJob] = []
        last: tuple[str, str] | None = None
        for _ in range(10):  # as the adapter: at most 10 reads per request, the Limit before the filters
            read = index[position:position + (limit - len(out))]
            position += len(read)
            out += [jobs[jid] for _, jid in read if wanted(jobs[jid])]
            last = read[-1] if read and position < len(index) else None
            if len(out) >= limit or last is None:
                break
        token = _encode_token({"created_at": last[0], "id": last[1]}, viewer) if last else None
        return out, token

    def imports_page(self, now: dt.datetime, after: Position | None, limit: int) -> SweepPage:
        def entries(shard: int) -> list[tuple[str, ImportJob]]:
            return [(j.next_run_at, _round_trip(j)) for j in self._imports.values()
                    if j.next_run_at and self._in_shard(j.id, shard)]

        return self._page(entries, iso(now) or "", after, limit)

    # -- for assertions (not part of the port) ----------------------------------------------------------
    def all_events(self, cert_id: str) -> list[Event]:
        with self._lock:
            return [_round_trip(r.event) for _, r in sorted(self._events.get(cert_id, {}).items())]

    def outbox(self) -> list[Event]:
        with self._lock:
            return [_round_trip(r.event) for rows in self._events.values() for r in rows.values() if r.in_outbox]

    def certificates(self) -> list[Certificate]:
        with self._lock:
            return [_round_trip(c) for c in self._certs.values()]


# ==================================================================================================
# artifacts, events, keys
# ==================================================================================================


class FakeArtifacts:
    """The ArtifactStore port (adapters/s3.py): the same four objects per revision prefix."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.metadata: dict[str, dict[str, Any]] = {}
        self.down: DependencyFailed | None = None

    def write_revision(self, cert: Certificate, revision: int, leaf_pem: str, chain_pem: str,
                       metadata: dict[str, Any]) -> str:
        if self.down is not None:
            raise self.down
        prefix = cert.s3_prefix(revision)
        leaf = leaf_pem.strip() + "\n"
        chain = (chain_pem.strip() + "\n") if chain_pem.strip() else ""
        self.objects[prefix + "cert.pem"] = leaf.encode()
        self.objects[prefix + "chain.pem"] = chain.encode()
        self.objects[prefix + "fullchain.pem"] = (leaf + chain).encode()
        self.objects[prefix + "metadata.json"] = json.dumps(metadata, indent=2, sort_keys=True).encode()
        self.metadata[prefix] = json.loads(self.objects[prefix + "metadata.json"])
        return prefix

    def read_revision(self, cert: Certificate, revision: int) -> tuple[str, str]:
        if self.down is not None:
            raise self.down
        prefix = cert.s3_prefix(revision)
        try:
            return self.objects[prefix + "cert.pem"].decode(), self.objects[prefix + "chain.pem"].decode()
        except KeyError:
            raise DependencyFailed("bucket", "NoSuchKey") from None

    def ping(self) -> None:
        if self.down is not None:
            raise self.down


class FakePublisher:
    """The EventPublisher port (adapters/sns.py, adapters/eventbridge.py with target="eventbridge"):
    records what it publishes; `fail(n)` makes the next n publishes (None: all) fail with
    DependencyFailed, as an unreachable topic or bus does."""

    def __init__(self, target: str = "sns") -> None:
        self.target = target
        self.published: list[Event] = []
        self._failures: int | None = 0
        self._lock = threading.Lock()

    def fail(self, times: int | None = None) -> None:
        self._failures = times

    def recover(self) -> None:
        self._failures = 0

    def publish(self, ev: Event) -> None:
        with self._lock:
            if self._failures is None or self._failures > 0:
                if self._failures is not None:
                    self._failures -= 1
                raise DependencyFailed("event_bus" if self.target == "eventbridge" else "topic", "InternalError")
            self.published.append(copy.deepcopy(ev))

    def ping(self) -> None:
        if self._failures is None:
            raise DependencyFailed("topic", "InternalError")

    def kinds(self, cert_id: str | None = None) -> list[str]:
        return [e.kind for e in self.published if cert_id is None or e.certificate_id == cert_id]


class FakeAcm:
    """The CertificateDelivery port (adapters/acm.py) as ACM behaves: an import without an ARN
    makes a new certificate, one with an ARN replaces that certificate's material (unknown ARN:
    ResourceNotFoundException); `fail(n)` makes the next n calls fail like an unreachable ACM."""

    def __init__(self) -> None:
        self.certificates: dict[str, dict[str, Any]] = {}  # arn -> {region, certificate, chain, key, tags}
        self.imports = 0
        self._failures: int | None = 0

    def fail(self, times: int | None = None) -> None:
        self._failures = times

    def _maybe_fail(self) -> None:
        if self._failures is None or self._failures > 0:
            if self._failures is not None:
                self._failures -= 1
            raise DependencyFailed("acm", "ServiceUnavailable")

    def import_certificate(self, region: str, certificate_pem: str, chain_pem: str, private_key_pem: str,
                           arn: str | None, tags: Mapping[str, str]) -> str:
        self._maybe_fail()
        if arn is None:
            arn = f"arn:aws:acm:{region}:123456789012:certificate/{uuid.uuid4()}"
            self.certificates[arn] = {"region": region, "tags": dict(tags)}
        elif arn not in self.certificates:
            raise DependencyFailed("acm", "ResourceNotFoundException")
        self.certificates[arn].update(certificate=certificate_pem, chain=chain_pem, key=private_key_pem)
        self.imports += 1
        return arn

    def tag(self, region: str, arn: str, tags: Mapping[str, str]) -> None:
        self._maybe_fail()
        if arn not in self.certificates:
            raise DependencyFailed("acm", "ResourceNotFoundException")
        self.certificates[arn]["tags"].update(tags)

    def find_imported(self, region: str, domain_name: str, tags: Mapping[str, str]) -> str | None:
        self._maybe_fail()
        for arn, c in self.certificates.items():
            if c["region"] == region and c.get("domain_name", domain_name) == domain_name \
                    and all(c["tags"].get(k) == v for k, v in tags.items()):
                return arn
        return None


class FakeDns:
    """The DnsZones port (adapters/route53.py) as Route 53 behaves: the given zones (id -> name),
    UPSERT replaces a record set, a change is PENDING for `pending_polls` in_sync calls and then
    INSYNC, a delete of an absent set does nothing; `fail(n)` makes the next n calls fail like an
    unreachable Route 53. `lookup` is what a CA's resolver would see."""

    def __init__(self, zones: Mapping[str, str], *, pending_polls: int = 0) -> None:
        from chalicelib.core.dns import DnsZone, fqdn

        self._zones = tuple(DnsZone(zone_id, fqdn(name)) for zone_id, name in zones.items())
        self.records: dict[tuple[str, str, str], tuple[str, ...]] = {}  # (zone, name, type) -> values
        self.pending_polls = pending_polls
        self._polls: dict[str, int] = {}
        self.calls: list[tuple[str, Any]] = []
        self._failures: int | None = 0
        self._changes = itertools.count(1)

    def fail(self, times: int | None = None) -> None:
        self._failures = times

    def _maybe_fail(self, what: str, arg: Any) -> None:
        self.calls.append((what, arg))
        if self._failures is None or self._failures > 0:
            if self._failures is not None:
                self._failures -= 1
            raise DependencyFailed("route53", "ServiceUnavailable")

    def zones(self) -> Sequence[Any]:
        self._maybe_fail("zones", None)
        return self._zones

    def _zone(self, zone_id: str) -> str:
        if zone_id not in {z.zone_id for z in self._zones}:
            raise DependencyFailed("route53", "NoSuchHostedZone")
        return zone_id

    def upsert(self, zone_id: str, record: Any) -> str:
        self._maybe_fail("upsert", (zone_id, record.name, record.type, record.values))
        self.records[(self._zone(zone_id), record.name, record.type)] = tuple(record.values)
        change_id = f"C{next(self._changes)}"
        self._polls[change_id] = 0
        return change_id

    def in_sync(self, change_id: str) -> bool:
        self._maybe_fail("in_sync", change_id)
        self._polls[change_id] += 1
        return self._polls[change_id] > self.pending_polls

    def delete(self, zone_id: str, record: Any) -> None:
        self._maybe_fail("delete", (zone_id, record.name, record.type))
        self.records.pop((self._zone(zone_id), record.name, record.type), None)

    def lookup(self, name: str, record_type: str) -> tuple[str, ...]:
        from chalicelib.core.dns import fqdn

        return next((v for (_, n, t), v in self.records.items() if n == fqdn(name) and t == record_type), ())


class FakeKeyVault:
    """The KeyVault port (adapters/kms.py): a sealed key holds no plaintext and opens only under the
    context it was sealed with; malformed or altered ones raise SealedKeyInvalid, an unreachable
    vault (`down = True`) KeyVaultError."""

    ALGORITHM = "FAKE-VAULT"

    def __init__(self) -> None:
        self._sealed: dict[str, tuple[str, dict[str, str]]] = {}
        self.down = False
        self.opened = 0

    @staticmethod
    def _context(context: Mapping[str, str]) -> dict[str, str]:
        if not isinstance(context, Mapping) or not context:
            raise ValueError("an encryption context (e.g. the certificate id) is required")
        if not all(isinstance(k, str) and k and isinstance(v, str) and v for k, v in context.items()):
            raise ValueError("encryption context keys and values must be non-empty strings")
        return dict(context)

    def seal(self, private_key_pem: str, context: Mapping[str, str]) -> dict[str, str]:
        if not isinstance(private_key_pem, str) or not private_key_pem:
            raise ValueError("nothing to seal")
        ctx = self._context(context)
        if self.down:
            raise KeyVaultError("KMS generate_data_key failed: EndpointConnectionError")
        handle = uuid.uuid4().hex
        self._sealed[handle] = (private_key_pem, ctx)
        return {"alg": self.ALGORITHM, "key": base64.b64encode(handle.encode()).decode(),
                "nonce": base64.b64encode(b"\0" * 12).decode(), "ct": base64.b64encode(b"sealed").decode()}

    def open(self, sealed: Mapping[str, Any], context: Mapping[str, str]) -> str:
        ctx = self._context(context)
        if not isinstance(sealed, Mapping) or sealed.get("alg") != self.ALGORITHM:
            raise SealedKeyInvalid(f"not a sealed key of algorithm {self.ALGORITHM}")
        try:
            handle = base64.b64decode(sealed["key"], validate=True).decode()
        except (KeyError, TypeError, ValueError) as exc:
            raise SealedKeyInvalid("the sealed key is missing a field or is not base64") from exc
        if self.down:
            raise KeyVaultError("KMS decrypt failed: EndpointConnectionError")
        held = self._sealed.get(handle)
        if held is None or held[1] != ctx:
            raise SealedKeyInvalid("the sealed key does not authenticate under this context")
        self.opened += 1
        return held[0]


# ==================================================================================================
# providers
# ==================================================================================================


@dataclass
class FakeOrder:
    """One order at the fake provider, as its console would show it."""

    id: str
    request: OrderRequest
    status: Status
    raw_status: str
    certificate_id: str | None = None
    material: CertificateMaterial | None = None
    serial: str | None = None
    not_before: dt.datetime | None = None
    not_after: dt.datetime | None = None
    failure_reason: str | None = None
    on_hold: bool = False
    created_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    dcv_method: str | None = None
    owner_mark: str | None = None  # certgate's ownership mark on it (TinyCert: in the OU), shown in full reads
    # A revoke request held for approval (`FakeProvider.revoke_approval`): id and pending|approved|rejected.
    revoke_request: tuple[str, str] | None = None
    revoke_rejection: str | None = None


@dataclass
class _Scripted:
    error: ProviderError
    commit: bool  # True: the call takes effect at the provider, then the answer is lost


RAW_STATUS = {Status.PENDING: "pending", Status.ISSUED: "issued", Status.FAILED: "rejected",
              Status.REVOKED: "revoked", Status.CANCELLED: "cancelled", Status.EXPIRED: "expired"}


class FakeProvider:
    """A provider adapter (chalicelib/providers/base.py's interface) that signs real certificates
    with a small CA of the simulators (simulators/ca.py).

    Scripting:
    - `issuance="sync"`: orders are issued at once; `"async"`: they stay pending until `issue(id)`
      (or `fail_order(id)`); reissues and renewals follow the same rule;
    - `fail_next(method, error, times=1, commit=False, skip=0)`: the next calls of `method` (after
      `skip` good ones) raise `error`; with `commit=True` the call happens at the provider first (an
      answer lost on the way back, the case of `outcome_unknown`);
    - `set_status(id, status)`: a change made at the provider's own console;
    - `revoke_approval = True`: a revoke files a request held for approval (as DigiCert without
      skip_approval), shown on the order while pending; `decide_revocation(id, approve, reason)`
      is the approver's answer, `revocation_outcome` reads it;
    - `calls` lists every call (method name, first argument) for assertions.
    Operations its capabilities do not offer raise UnsupportedOperation, as the base class does."""

    def __init__(self, name: str, capabilities: Capabilities | None = None, *, issuance: str = "sync",
                 page_size: int = 100, days: int = 90) -> None:
        from simulators.ca import SimCA

        if capabilities is None:
            from chalicelib.providers import registry

            capabilities = registry.capabilities(name)
        self.name = name
        self.capabilities = capabilities
        self.issuance = issuance
        self.page_size = page_size
        self.days = days
        self.ca = SimCA(f"fake-{name}")
        self.orders: dict[str, FakeOrder] = {}
        self.authorities: dict[str, Authority] = {}
        self.calls: list[tuple[str, Any]] = []
        self._script: dict[str, list[_Scripted | None]] = {}
        self._ids = itertools.count(1001)
        self._lock = threading.RLock()
        self.revoke_approval = False
        # A DNS the provider's validation checks (FakeDns.lookup): a dns-validated order whose
        # records are all there issues on the check (retry_validation).
        self.dns: FakeDns | None = None

    # -- scripting ----------------------------------------------------------------------------------
    def fail_next(self, method: str, error: ProviderError, *, times: int = 1, commit: bool = False,
                  skip: int = 0) -> None:
        """The next `times` calls of `method` (after `skip` that go through) raise `error`."""
        queue = self._script.setdefault(method, [])
        queue.extend([None] * skip + [_Scripted(error, commit) for _ in range(times)])

    def _scripted(self, method: str) -> _Scripted | None:
        queue = self._script.get(method)
        return queue.pop(0) if queue else None

    def _call(self, method: str, arg: Any, action: Callable[[], Any]) -> Any:
        with self._lock:
            self.calls.append((method, arg))
            scripted = self._scripted(method)
            if scripted is not None and not scripted.commit:
                raise scripted.error
            result = action()
            if scripted is not None:
                raise scripted.error
            return result

    def called(self, method: str) -> list[Any]:
        return [arg for name, arg in self.calls if name == method]

    def _needs(self, capability: str, what: str) -> None:
        if not getattr(self.capabilities, capability):
            raise UnsupportedOperation(self.name, f"{what} is not supported")

    # -- the provider's console -------------------------------------------------------------------------
    def place(self, req: OrderRequest, *, status: Status | None = None) -> FakeOrder:
        """An order as if placed (at the console, or by submit_order): issued or pending."""
        order = FakeOrder(id=str(next(self._ids)), request=req, status=Status.PENDING, raw_status="pending",
                          dcv_method=req.dcv_method)
        order.certificate_id = order.id
        self.orders[order.id] = order
        target = status or (Status.ISSUED if self.issuance == "sync" else Status.PENDING)
        if target is Status.ISSUED:
            self.issue(order.id)
        elif target is not Status.PENDING:
            self.set_status(order.id, target)
        return order

    def issue(self, order_id: str) -> FakeOrder:
        """Sign the order's certificate (a CSR's key, or one the provider makes and hands out)."""
        from cryptography.hazmat.primitives import serialization

        from simulators.ca import generate_key, key_pem

        order = self.orders[order_id]
        req = order.request
        names = [(s.type, s.value) for s in req.sans] or [("dns", req.common_name)]
        private_pem = None
        if req.csr_pem:
            issued = self.ca.issue_from_csr(req.csr_pem, req.common_name, names, days=self.days)
        else:
            key = generate_key("ec")
            issued = self.ca.issue(key.public_key(), req.common_name, names, days=self.days)
            private_pem = key_pem(key)
        leaf = issued.cert.public_bytes(serialization.Encoding.PEM).decode()
        order.material = CertificateMaterial(certificate_pem=leaf, chain_pem=self.ca.chain_pem,
                                             private_key_pem=private_pem)
        order.serial = issued.serial_hex
        order.not_before, order.not_after = issued.cert.not_valid_before_utc, issued.cert.not_valid_after_utc
        order.status, order.raw_status = Status.ISSUED, RAW_STATUS[Status.ISSUED]
        return order

    def fail_order(self, order_id: str, reason: str = "rejected by the provider") -> FakeOrder:
        order = self.orders[order_id]
        order.status, order.raw_status, order.failure_reason = Status.FAILED, RAW_STATUS[Status.FAILED], reason
        return order

    def set_status(self, order_id: str, status: Status, raw: str | None = None, *, on_hold: bool = False) -> None:
        order = self.orders[order_id]
        order.status, order.raw_status, order.on_hold = status, raw or RAW_STATUS[status], on_hold

    def decide_revocation(self, order_id: str, approve: bool, reason: str = "not approved") -> None:
        order = self.orders[order_id]
        if order.revoke_request is None or order.revoke_request[1] != "pending":
            raise AssertionError(f"order {order_id} has no pending revoke request")
        order.revoke_request = (order.revoke_request[0], "approved" if approve else "rejected")
        if approve:
            order.status, order.raw_status = Status.REVOKED, RAW_STATUS[Status.REVOKED]
        else:
            order.revoke_rejection = reason

    def view(self, order: FakeOrder, *, with_material: bool = True, listed: bool = False) -> ProviderOrder:
        """The order as a read shows it; `listed`: as a listing row (no mark, like TinyCert's /cert/list)."""
        held = order.revoke_request is not None and order.revoke_request[1] == "pending"
        return ProviderOrder(
            revocation_pending=held, revocation_request_id=order.revoke_request[0] if held and order.revoke_request
            else None,
            provider_order_id=order.id, status=order.status, raw_status=order.raw_status,
            client_reference=order.request.client_reference, certificate_id=order.certificate_id,
            common_name=order.request.common_name, sans=tuple(s.value for s in order.request.sans),
            not_before=order.not_before, not_after=order.not_after, serial=order.serial,
            material=order.material if with_material and order.status is Status.ISSUED else None,
            failure_reason=order.failure_reason, request_id=f"req-{len(self.calls)}", on_hold=order.on_hold,
            product=order.request.product, owner_mark=None if listed else order.owner_mark)

    def _order(self, order_id: str) -> FakeOrder:
        order = self.orders.get(order_id)
        if order is None:
            raise ProviderNotFound(self.name, f"no order {order_id}")
        return order

    # -- the Provider interface ----------------------------------------------------------------------
    def submit_order(self, req: OrderRequest) -> ProviderOrder:
        return self._call("submit_order", req.client_reference, lambda: self.view(self.place(req)))

    def get_order(self, provider_order_id: str, *, with_material: bool = True) -> ProviderOrder:
        return self._call("get_order", provider_order_id,
                          lambda: self.view(self._order(provider_order_id), with_material=with_material))

    def find_order(self, req: OrderRequest, *, since: dt.datetime | None = None) -> ProviderOrder | None:
        def find() -> ProviderOrder | None:
            mine = [o for o in self.orders.values() if o.request.client_reference == req.client_reference]
            return self.view(mine[-1]) if mine else None

        return self._call("find_order", req.client_reference, find)

    def reissue(self, provider_order_id: str, req: OrderRequest) -> ProviderOrder:
        """Same order, a new certificate (issued at once, or pending while `async`)."""
        self._needs("reissue", "reissue")

        def reissue() -> ProviderOrder:
            order = self._order(provider_order_id)
            if order.status is not Status.ISSUED:
                raise ProviderConflict(self.name, f"order {order.id} is {order.raw_status}")
            order.request = req
            if self.issuance == "sync":
                self.issue(order.id)
            else:
                order.status, order.raw_status = Status.PENDING, "reissue_pending"
            return self.view(order)

        return self._call("reissue", provider_order_id, reissue)

    def renew(self, provider_order_id: str, req: OrderRequest) -> ProviderOrder:
        """A new order for the same names (the old certificate stays valid)."""
        self._needs("renew", "renew")

        def renew() -> ProviderOrder:
            self._order(provider_order_id)
            return self.view(self.place(req))

        return self._call("renew", provider_order_id, renew)

    def revoke(self, provider_order_id: str, reason: str = "unspecified") -> ProviderOrder:
        self._needs("revoke", "revoke")

        def revoke() -> ProviderOrder:
            order = self._order(provider_order_id)
            if order.status not in (Status.ISSUED, Status.REVOKED):
                raise ProviderConflict(self.name, f"order {order.id} is {order.raw_status}")
            if self.revoke_approval and order.status is Status.ISSUED:
                if order.revoke_request is None or order.revoke_request[1] != "pending":
                    order.revoke_request = (f"rq-{next(self._ids)}", "pending")
                return self.view(order)
            order.status, order.raw_status = Status.REVOKED, RAW_STATUS[Status.REVOKED]
            return self.view(order)

        return self._call("revoke", provider_order_id, revoke)

    def revocation_outcome(self, provider_order_id: str, request_id: str) -> ProviderOrder:
        def outcome() -> ProviderOrder:
            order = self._order(provider_order_id)
            if order.revoke_request is None or order.revoke_request[0] != request_id:
                raise ProviderNotFound(self.name, f"no request {request_id}")
            state = order.revoke_request[1]
            view = self.view(order, with_material=False)
            if state == "pending":
                return view
            if state == "rejected":
                return dataclasses.replace(view, failure_reason=order.revoke_rejection, revocation_request_id=request_id)
            return view

        return self._call("revocation_outcome", provider_order_id, outcome)

    def cancel(self, provider_order_id: str) -> ProviderOrder:
        """A pending order is cancelled; an issued one is reported as it is (too late)."""
        self._needs("cancel", "cancel")

        def cancel() -> ProviderOrder:
            order = self._order(provider_order_id)
            if order.status is Status.PENDING:
                order.status, order.raw_status = Status.CANCELLED, RAW_STATUS[Status.CANCELLED]
            elif order.status is not Status.ISSUED:
                raise ProviderConflict(self.name, f"order {order.id} is {order.raw_status}")
            return self.view(order)

        return self._call("cancel", provider_order_id, cancel)

    def _dcv(self, order: FakeOrder, method: str | None, email: str | None = None) -> list[DcvDetail]:
        method = method or order.dcv_method or "dns"
        state = "valid" if order.status is Status.ISSUED else "pending"
        out = []
        for name in order.request.dns_names() or [order.request.common_name]:
            if method == "dns":
                base = name[2:] if name.startswith("*.") else name
                out.append(DcvDetail(name, "dns", state, dns_record_name=f"_dcv.{base}", dns_record_type="TXT",
                                     dns_value=f"token-{order.id}"))
            elif method == "file":
                out.append(DcvDetail(name, "file", state, file_path=f"/.well-known/pki-validation/{order.id}.txt",
                                     file_content=f"token-{order.id}"))
            else:
                out.append(DcvDetail(name, "email", state, emails=(email or f"admin@{name}",)))
        return out

    def validation(self, provider_order_id: str) -> list[DcvDetail]:
        if not self.capabilities.dcv_methods:
            return []
        return self._call("validation", provider_order_id, lambda: self._dcv(self._order(provider_order_id), None))

    def retry_validation(self, provider_order_id: str, *, method: str | None = None,
                         email: str | None = None, domain: str | None = None) -> list[DcvDetail]:
        if not self.capabilities.dcv_methods:
            raise UnsupportedOperation(self.name, "domain control validation is not supported")

        def retry() -> list[DcvDetail]:
            order = self._order(provider_order_id)
            if method:
                order.dcv_method = method
            details = self._dcv(order, method, email)
            dns = self.dns
            if dns is not None and order.status is Status.PENDING and details and all(
                    d.method == "dns" and d.dns_value in dns.lookup(d.dns_record_name or "", "TXT") for d in details):
                self.issue(order.id)  # every record found: validated, issued
                details = self._dcv(order, method, email)
            return [d for d in details if domain is None or d.domain == domain]

        return self._call("retry_validation", provider_order_id, retry)

    def download(self, provider_order_id: str, fmt: str) -> bytes:
        def download() -> bytes:
            order = self._order(provider_order_id)
            if order.material is None:
                raise ProviderConflict(self.name, f"order {order.id} has no certificate")
            if fmt == "pem":
                return order.material.certificate_pem.encode()
            if fmt == "chain":
                return order.material.chain_pem.encode()
            raise UnsupportedOperation(self.name, f"the fake delivers pem and chain, not {fmt}")

        return self._call("download", provider_order_id, download)

    def list_certificates(self, filters: Mapping[str, Any] | None = None,
                          page_token: str | None = None) -> Page:
        """Every order, oldest first, `page_size` (or filters["limit"]) at a time; the token is an
        offset. Filters: `ca_id` (the order's provider option), `status` (normalized, or a list)."""
        def listing() -> Page:
            f = filters or {}
            size = int(f.get("limit") or self.page_size)
            start = int(page_token or 0)
            wanted = [f["status"]] if isinstance(f.get("status"), str) else list(f.get("status") or [])
            orders = [o for o in self.orders.values()
                      if (not f.get("ca_id") or str(o.request.options.get("ca_id")) == str(f["ca_id"]))
                      and (not wanted or o.status.value in wanted)]
            chunk = orders[start:start + size]
            more = start + size < len(orders)
            return Page(items=tuple(self.view(o, with_material=False, listed=True) for o in chunk),
                        next_token=str(start + size) if more else None)

        return self._call("list_certificates", page_token, listing)

    # -- certificate authorities (TinyCert) ------------------------------------------------------------
    def list_authorities(self) -> list[Authority]:
        self._needs("authorities", "certificate authorities are")
        return self._call("list_authorities", None, lambda: list(self.authorities.values()))

    def get_authority(self, ca_id: str) -> Authority:
        self._needs("authorities", "certificate authorities are")

        def get() -> Authority:
            if ca_id not in self.authorities:
                raise ProviderNotFound(self.name, f"no CA {ca_id}")
            return self.authorities[ca_id]

        return self._call("get_authority", ca_id, get)

    def create_authority(self, fields: Mapping[str, str]) -> Authority:
        self._needs("authorities", "certificate authorities are")

        def create() -> Authority:
            ca_id = str(next(self._ids))
            self.authorities[ca_id] = Authority(ca_id, fields.get("organization", ca_id), dict(fields),
                                                self.ca.root_pem)
            return self.authorities[ca_id]

        return self._call("create_authority", dict(fields), create)

    def delete_authority(self, ca_id: str) -> None:
        self._needs("authorities", "certificate authorities are")

        def delete() -> None:
            if self.authorities.pop(ca_id, None) is None:
                raise ProviderNotFound(self.name, f"no CA {ca_id}")

        return self._call("delete_authority", ca_id, delete)


class FakeProviders:
    """The Providers port (bootstrap.ProviderDirectory): the providers given are configured; the
    names in `unconfigured` exist (registry capabilities) but have no secret, so `get` and
    `defaults` raise ProviderNotConfigured as a missing secret does."""

    def __init__(self, *providers: FakeProvider, unconfigured: Sequence[str] = (),
                 defaults: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self.providers = {p.name: p for p in providers}
        self.unconfigured = tuple(unconfigured)
        self._defaults = {k: dict(v) for k, v in (defaults or {}).items()}

    def names(self) -> Sequence[str]:
        return (*self.providers, *self.unconfigured)

    def get(self, name: str) -> FakeProvider:
        provider = self.providers.get(name)
        if provider is None:
            raise ProviderNotConfigured(name, "no secret name configured")
        return provider

    def capabilities(self, name: str) -> Capabilities:
        if name in self.providers:
            return self.providers[name].capabilities
        from chalicelib.providers import registry

        return registry.capabilities(name)  # KeyError for a name no adapter has, as there

    def configured(self, name: str) -> bool:
        return name in self.providers

    def defaults(self, name: str) -> Mapping[str, Any]:
        self.get(name)  # the real directory reads the secret: not configured -> ProviderNotConfigured
        return dict(self._defaults.get(name, {}))
