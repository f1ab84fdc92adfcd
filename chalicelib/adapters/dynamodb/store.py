"""DynamoDB repository for certificates, their events (audit trail + outbox), provider and client
references and idempotency records: one table (chalicelib/schema.py), conditional writes on
`version`, transactions wherever a state change and its event rows must land together."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any, TypeVar

from chalicelib.adapters.clients import translate_errors
from chalicelib.adapters.dynamodb import schema
from chalicelib.core.dns import DnsAutomation
from chalicelib.core.errors import AlreadyExists, BadRequest, ConcurrentModification
from chalicelib.core.imports import ImportJob, zero_counters
from chalicelib.core.model import (
    AcmImport,
    Certificate,
    Event,
    Failure,
    IdempotencyRecord,
    Revision,
    Revocation,
    San,
    Status,
    approver_from,
    fields_of,
    iso,
    organization_from,
    shard_of,
    utcnow,
)
from chalicelib.core.sweeps import Position, SweepPage, SweepState

T = TypeVar("T")  # an item of a sweep's index (a Certificate, an ImportJob)

META = "META"
FIRST_EVENTS = "first_events"  # a certificate item's own audit events, not yet rows (Certificate.first_events)
IMPORTS_OWNER = "#imports"  # the by_owner partition of the import items (see _import_item)


def _plain(value: Any) -> Any:
    """DynamoDB's Decimals and sets back to plain JSON-able Python."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, set):
        return sorted(_plain(v) for v in value)
    return value


def _clean(value: Any) -> Any:
    """Drop None (DynamoDB rejects empty values in index keys) and floats (use Decimal)."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, float):
        return Decimal(str(value))
    return value


def _event_fields(ev: Event) -> dict[str, Any]:
    """An event's attributes as a row (or a certificate item's first event) holds them."""
    return {k: v for k, v in ev.__dict__.items() if k != "published_targets"}


def _acceptable(value: object, check: Callable[[str], bool]) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 1024 and check(value)


@translate_errors("table")
class CertificateStore:
    def __init__(self, client_factory: Callable[[], Any], table_name: str, *, shards: int = 4) -> None:
        self._client_factory = client_factory
        self.table = table_name
        self.shards = shards
        self.items_read = 0  # every item DynamoDB handed us (read amplification, benchmarks)
        self._ser: Any = None
        self._de: Any = None

    # -- plumbing -------------------------------------------------------------------------
    @property
    def client(self) -> Any:
        return self._client_factory()

    def _s(self, item: dict[str, Any]) -> dict[str, Any]:
        if self._ser is None:
            from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

            self._ser, self._de = TypeSerializer(), TypeDeserializer()
        return {k: self._ser.serialize(v) for k, v in _clean(item).items()}

    def _d(self, item: dict[str, Any]) -> dict[str, Any]:
        if self._de is None:
            self._s({})
        return _plain({k: self._de.deserialize(v) for k, v in item.items()})

    def _count(self, n: int) -> None:
        self.items_read += n

    # -- mapping ----------------------------------------------------------------------------
    def to_item(self, cert: Certificate) -> dict[str, Any]:
        item: dict[str, Any] = {
            "pk": f"CERT#{cert.id}", "sk": META, "type": "certificate",
            **{k: v for k, v in cert.__dict__.items()
               if k not in ("revisions", "status", "sans", "organization", "approver", "failure", "revocation",
                            "dns_automation", "first_events", "acm")},
            "status": cert.status.value,
            "sans": [{"type": s.type, "value": s.value} for s in cert.sans],
            "organization": fields_of(cert.organization) or None,
            "approver": fields_of(cert.approver) or None,
            "failure": {"code": cert.failure.code, "reason": cert.failure.reason} if cert.failure else None,
            "revisions": [r.to_item() for r in cert.revisions],
            "revocation": cert.revocation.to_item() if cert.revocation else None,
            "dns_automation": cert.dns_automation.to_item() if cert.dns_automation else None,
            # ACM delivery, stored as the ask (deliver_to) and the state (delivery) it has always been
            "deliver_to": {"acm": {"region": cert.acm.region}} if cert.acm else None,
            "delivery": {"acm": cert.acm.to_item()} if cert.acm and cert.acm.status else None,
            # the create's audit-only events, until the first save files them as rows (Certificate.first_events)
            FIRST_EVENTS: [_event_fields(ev) for ev in cert.first_events] or None,
        }
        # "|a.example.com|example.com|": contains() on it finds an exact name ("|name|") and every
        # name under a domain (".domain|"); DynamoDB has no ends_with, and none on list elements.
        item["dns_names"] = "|" + "|".join(sorted(cert.dns_names)) + "|"
        shard = shard_of(cert.id, self.shards)
        if cert.due_kind:
            item["due_shard"] = f"{cert.due_kind}#{shard}"
            item["next_poll_at"] = cert.next_poll_at or cert.updated_at
        else:
            item.pop("next_poll_at", None)
            self._file_delivery_retry(cert, item, shard)
        # Everything that still has a valid certificate out there is watched for expiry,
        # including one whose reissue/renewal is in progress.
        if cert.not_after and (cert.status is Status.ISSUED or (cert.status is Status.PENDING and cert.issued_revision)):
            item["expiry_bucket"] = f"E#{shard}"
        # Filed for renew_expiring at its next action (set by the service on every write).
        if cert.next_action_at:
            item["action_bucket"] = f"A#{shard}"
        return item

    @staticmethod
    def _file_delivery_retry(cert: Certificate, item: dict[str, Any], shard: int) -> None:
        """An outstanding ACM import (service/delivery.py) waits in the `due` index under kind D."""
        due = cert.delivery_due_at
        if due:
            item["due_shard"], item["next_poll_at"] = f"D#{shard}", due

    @staticmethod
    def from_item(item: dict[str, Any]) -> Certificate:
        fields = Certificate.__dataclass_fields__
        data = {k: v for k, v in item.items() if k in fields}
        data["status"] = Status(item["status"])
        data["sans"] = tuple(San(s["type"], s["value"]) for s in item.get("sans") or ())
        data["organization"] = organization_from(item.get("organization"))
        data["approver"] = approver_from(item.get("approver"))
        failure = item.get("failure")
        data["failure"] = Failure(str(failure["code"]), str(failure["reason"])) if failure else None
        data["revocation"] = Revocation.from_item(item.get("revocation"))
        data["revisions"] = tuple(Revision.from_item(r) for r in item.get("revisions") or ())
        data["first_events"] = tuple(CertificateStore.event_from_item(e) for e in item.get(FIRST_EVENTS) or ())
        if data.get("notice_offset") is not None:
            data["notice_offset"] = int(data["notice_offset"])
        data["provider_options"] = item.get("provider_options") or {}
        data["acm"] = AcmImport.from_item((item.get("deliver_to") or {}).get("acm"),
                                            (item.get("delivery") or {}).get("acm"))
        data["dns_automation"] = DnsAutomation.from_item(item.get("dns_automation"))
        if str(item.get("due_shard", "")).startswith("D#"):
            data.pop("next_poll_at", None)  # a delivery retry time: kept in `delivery`, not a provider check
        return Certificate(**data)

    def _event_item(self, ev: Event, shard: int) -> dict[str, Any]:
        item = {
            "pk": f"CERT#{ev.certificate_id}", "sk": f"EVT#{ev.occurred_at}#{ev.event_id}", "type": "event",
            **_event_fields(ev),
        }
        if ev.published:
            item["outbox_shard"] = f"O#{shard}"
            item["outbox_at"] = ev.occurred_at
        return item

    @staticmethod
    def event_from_item(item: dict[str, Any]) -> Event:
        fields = Event.__dataclass_fields__
        data = {k: v for k, v in item.items() if k in fields}
        data["published_targets"] = tuple(item.get("published_targets") or ())  # a string set in the table
        return Event(**data)

    # -- writes -----------------------------------------------------------------------------
    def create(self, cert: Certificate, events: Iterable[Event], idem: IdempotencyRecord | None = None,
               ttl_s: int = 86400) -> None:
        """Write a new certificate with `events` as rows (and its idempotency record) atomically.
        Its first events travel inside its item (to_item), so that an order without an
        Idempotency-Key writes one conditional PutItem before the provider call; the first save
        files them as rows."""
        put = {"TableName": self.table, "Item": self._s(self.to_item(cert)),
               "ConditionExpression": "attribute_not_exists(pk)"}
        event_puts = self._event_puts(cert.id, events)
        if idem is None and not event_puts:
            client = self.client
            try:
                client.put_item(**put)
            except client.exceptions.ConditionalCheckFailedException as exc:
                raise ConcurrentModification("certificate changed concurrently") from exc  # as _transact says
            return
        ops: list[dict[str, Any]] = [{"Put": put}]
        labels = ["certificate"]
        if idem is not None:
            ops.append({"Put": {"TableName": self.table, "Item": self._s(self._idem_item(idem, ttl_s)),
                                "ConditionExpression": "attribute_not_exists(pk)"}})
            labels.append("idempotency")
        self._transact([*ops, *event_puts], labels=[*labels, *["event"] * len(event_puts)])

    def save(self, after: Certificate, events: Iterable[Event] = (), *,
             claim_refs: Iterable[str] = (), release_idempotency: str | None = None) -> None:
        """Persist `after` if nobody changed the certificate since `after.version - 1`, together
        with its events, in one transaction with: a claim of each provider order id in
        `claim_refs` for this certificate (never for two), and the release of the owner's
        idempotency key `release_idempotency` (an order that was surely not placed).
        `after.first_events` become rows in the same transaction and leave the item: written
        once, since only the save that replaces the created version carries them."""
        events = [*after.first_events, *events]
        after = replace(after, first_events=())
        extra = [self._ref_put(after.provider, ref, after.id) for ref in claim_refs]
        labels = ["reference"] * len(extra)
        if release_idempotency is not None:
            extra.append(self._idempotency_delete(after.owner, release_idempotency))
            labels.append("idempotency release")
        put = {"TableName": self.table, "Item": self._s(self.to_item(after)),
               "ConditionExpression": "#v = :v",
               "ExpressionAttributeNames": {"#v": "version"},
               "ExpressionAttributeValues": {":v": {"N": str(after.version - 1)}}}
        if not events and not extra:
            try:
                self.client.put_item(**put)
            except self.client.exceptions.ConditionalCheckFailedException as exc:
                raise ConcurrentModification(after.id) from exc
            return
        event_puts = self._event_puts(after.id, events)
        self._transact([{"Put": put}, *event_puts, *extra],
                       labels=["certificate", *["event"] * len(event_puts), *labels])

    def append_events(self, cert_id: str, events: Iterable[Event]) -> None:
        """Add audit events to a certificate without changing it (each written once)."""
        event_puts = self._event_puts(cert_id, events)
        self._transact(event_puts, labels=["event"] * len(event_puts))

    def _event_puts(self, cert_id: str, events: Iterable[Event]) -> list[dict[str, Any]]:
        shard = shard_of(cert_id, self.shards)
        return [{"Put": {"TableName": self.table, "Item": self._s(self._event_item(ev, shard)),
                         "ConditionExpression": "attribute_not_exists(pk)"}} for ev in events]

    def _ref_put(self, provider: str, provider_order_id: str, cert_id: str) -> dict[str, Any]:
        """A transaction item claiming provider_order_id for cert_id (never for two certificates)."""
        return {"Put": {"TableName": self.table,
                        "Item": self._s({"pk": f"REF#{provider}#{provider_order_id}", "sk": "REF", "type": "ref",
                                         "certificate_id": cert_id}),
                        "ConditionExpression": "attribute_not_exists(pk) OR certificate_id = :c",
                        "ExpressionAttributeValues": {":c": {"S": cert_id}}}}

    def _transact(self, ops: list[dict[str, Any]], labels: list[str]) -> None:
        """One transaction; `labels[i]` names what `ops[i]` writes. A lost condition on the
        certificate is ConcurrentModification (also for a create: the id is taken), on anything
        else AlreadyExists naming it (the idempotency record, an event, a provider reference)."""
        client = self.client
        try:
            client.transact_write_items(TransactItems=ops)
        except client.exceptions.TransactionCanceledException as exc:
            reasons = exc.response.get("CancellationReasons") or []
            failed = [labels[i] for i, r in enumerate(reasons) if r.get("Code") == "ConditionalCheckFailed"]
            if failed and failed[0] == "certificate":
                raise ConcurrentModification("certificate changed concurrently") from exc
            if failed:
                raise AlreadyExists(failed[0]) from exc
            raise

    # -- reads ------------------------------------------------------------------------------
    def ping(self) -> None:
        self.client.describe_table(TableName=self.table)

    def get(self, cert_id: str) -> Certificate | None:
        item = self._get(f"CERT#{cert_id}", META)
        return self.from_item(item) if item is not None else None

    def cert_id_for_ref(self, provider: str, provider_order_id: str) -> str | None:
        item = self._get(f"REF#{provider}#{provider_order_id}", "REF")
        return str(item["certificate_id"]) if item is not None else None

    def _query(self, **kw: Any) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        resp = self.client.query(TableName=self.table, **kw)
        items = [self._d(i) for i in resp.get("Items", [])]
        self._count(len(items))
        return items, resp.get("LastEvaluatedKey")

    def list_by_owner(self, owner: str, *, limit: int, next_token: str | None,
                      status: str | None = None, provider: str | None = None, common_name: str | None = None,
                      expires_before: str | None = None, expires_after: str | None = None,
                      domain: str | None = None) -> tuple[list[Certificate], str | None]:
        filters, names, values = [], {"#o": "owner"}, {":o": owner}
        if expires_after:
            filters.append("#na >= :na2")
            names["#na"], values[":na2"] = "not_after", expires_after
        if domain and domain.startswith("."):
            filters.append("contains(#dn, :dn)")
            names["#dn"], values[":dn"] = "dns_names", domain + "|"
        elif domain:
            # certificates written before dns_names existed are found by their common name
            filters.append("(contains(#dn, :dn) OR #cn = :dcn)")
            names["#dn"], names["#cn"] = "dns_names", "common_name"
            values[":dn"], values[":dcn"] = f"|{domain}|", domain
        if status:
            # the public 'pending' covers the internal 'submitting'
            if status == "pending":
                filters.append("#st IN (:st, :st2)")
                values[":st2"] = Status.SUBMITTING.value
            else:
                filters.append("#st = :st")
            names["#st"], values[":st"] = "status", status
        if provider:
            filters.append("#p = :p")
            names["#p"], values[":p"] = "provider", provider
        if common_name:
            filters.append("#cn = :cn")
            names["#cn"], values[":cn"] = "common_name", common_name
        if expires_before:
            filters.append("#na < :na")
            names["#na"], values[":na"] = "not_after", expires_before
        return self._owner_page(owner, owner, "CERT#", "certificate", self.from_item, filters, names, values,
                                limit, next_token)

    def _owner_page(self, partition: str, viewer: str, pk_prefix: str, item_type: str,
                    parse: Callable[[dict[str, Any]], T], filters: list[str], names: dict[str, str],
                    values: dict[str, Any], limit: int, next_token: str | None) -> tuple[list[T], str | None]:
        """One page of the `by_owner` index's `partition`, newest first, of the items of `item_type`
        passing `filters`; the next_token is bound to `viewer` (a 400 for anyone else)."""
        start = self._decode_token(next_token, viewer, {
            "pk": lambda v: v.startswith(pk_prefix), "sk": lambda v: v == META,
            "owner": lambda v: v == partition, "created_at": lambda v: True})
        out: list[T] = []
        last: dict[str, Any] | None = start
        for _ in range(10):  # bounded: a sparse filter never turns one request into a table walk
            kw: dict[str, Any] = {
                "IndexName": schema.INDEX_BY_OWNER, "KeyConditionExpression": "#o = :o",
                "ExpressionAttributeNames": names, "ExpressionAttributeValues": self._s(values),
                "ScanIndexForward": False, "Limit": limit - len(out),
            }
            if filters:
                kw["FilterExpression"] = " AND ".join(filters)
            if last:
                kw["ExclusiveStartKey"] = last
            items, last = self._query(**kw)
            out += [parse(i) for i in items if i.get("type") == item_type]
            if len(out) >= limit or not last:
                break
        return out, (self._encode_token(last, viewer) if last else None)

    @staticmethod
    def _encode_token(key: dict[str, Any], owner: str) -> str:
        payload = {"k": key, "o": hashlib.sha256(owner.encode()).hexdigest()[:16]}
        return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")

    @staticmethod
    def _decode_token(token: str | None, owner: str,
                      key_checks: Mapping[str, Callable[[str], bool]]) -> dict[str, Any] | None:
        """The start key a token of ours carries. The token is readable (base64 JSON), so its
        content is checked as untrusted input: exactly the attributes of the listing's key, each
        a string that `key_checks` accepts (e.g. the caller's own owner) — a forged key is a 400
        here, never a DynamoDB ValidationException (500) or a start inside another listing."""
        if not token:
            return None
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            payload = json.loads(raw)
            key, who = payload["k"], payload["o"]
            if not isinstance(key, dict):
                raise ValueError("bad key")
        except (ValueError, KeyError, TypeError) as exc:
            raise BadRequest("next_token is not a token this API issued", code="invalid_next_token") from exc
        if who != hashlib.sha256(owner.encode()).hexdigest()[:16]:
            raise BadRequest("next_token belongs to another listing", code="invalid_next_token")
        values = {name: typed.get("S") if isinstance(typed, dict) and set(typed) == {"S"} else None
                  for name, typed in key.items()}
        if set(values) != set(key_checks) or not all(_acceptable(values[name], check)
                                                     for name, check in key_checks.items()):
            raise BadRequest("next_token is not a token this API issued", code="invalid_next_token")
        return key

    def _walk_index(self, index: str, hash_key: str, range_key: str, prefix: str, until: str,
                    limit: int) -> Iterator[dict[str, Any]]:
        """Items of a sharded sparse index (hash `{prefix}#{shard}`, range <= until), shard by
        shard, oldest first, at most `limit` in all: the one way the jobs read their work.
        Each shard gets an equal share of the limit, so a backlog larger than one run can take
        is worked off across all shards, not shard 0 first; what a share leaves unused passes on."""
        remaining = limit
        for shard in range(self.shards):
            share = -(-remaining // (self.shards - shard))
            remaining -= share
            last = None
            while share > 0:
                kw: dict[str, Any] = {
                    "IndexName": index,
                    "KeyConditionExpression": f"{hash_key} = :s AND {range_key} <= :u",
                    "ExpressionAttributeValues": self._s({":s": f"{prefix}#{shard}", ":u": until}),
                    "Limit": min(share, 500),
                }
                if last:
                    kw["ExclusiveStartKey"] = last
                items, last = self._query(**kw)
                for i in items:
                    share -= 1
                    yield i
                if not last:
                    break
            remaining += share  # unused share carries over to the next shards

    def due(self, kind: str, now: dt.datetime, limit: int) -> Iterator[Certificate]:
        """Certificates whose next check is due: kind 'P' (pending) or 'S' (submitting intents).
        Reads only the sparse `due` index, shard by shard, oldest first."""
        for item in self._due_items(kind, now, limit):
            yield self.from_item(item)

    def expiring(self, until: dt.datetime, limit: int) -> Iterator[Certificate]:
        """Certificates with not_after <= until, from the sparse expiry index."""
        for item in self._walk_index(schema.INDEX_EXPIRY, "expiry_bucket", "not_after", "E", iso(until) or "", limit):
            yield self.from_item(item)

    def actionable(self, until: dt.datetime, limit: int) -> Iterator[Certificate]:
        for item in self._walk_index(schema.INDEX_ACTION, "action_bucket", "next_action_at", "A", iso(until) or "",
                                     limit):
            yield self.from_item(item)

    def _heads(self, index: str, hash_key: str, range_key: str, prefix: str) -> str | None:
        """The least range key of a sharded sparse index: the first item of each shard."""
        heads = []
        for shard in range(self.shards):
            items, _ = self._query(IndexName=index, KeyConditionExpression=f"{hash_key} = :s",
                                   ExpressionAttributeValues=self._s({":s": f"{prefix}#{shard}"}),
                                   ProjectionExpression=range_key, Limit=1)
            heads += [str(i[range_key]) for i in items]
        return min(heads, default=None)

    def earliest_expiry(self) -> str | None:
        return self._heads(schema.INDEX_EXPIRY, "expiry_bucket", "not_after", "E")

    # -- the sweeps: pages of an index from a persisted position -----------------------------------
    def _index_page(self, index: str, hash_key: str, range_key: str, prefix: str, until: str,
                    after: Position | None, limit: int) -> SweepPage[Certificate]:
        """At most `limit` certificates of a sharded sparse index after `after`, in walk order
        (shard, range key, id): the ExclusiveStartKey of the position's shard is rebuilt from the
        position (the item it names need not exist any more)."""
        return self._sweep_page(index, hash_key, range_key, prefix, until, after, limit,
                                item_pk="CERT#", id_attr="id", parse=self.from_item)

    def _sweep_page(self, index: str, hash_key: str, range_key: str, prefix: str, until: str,
                    after: Position | None, limit: int, *, item_pk: str, id_attr: str,
                    parse: Callable[[dict[str, Any]], T]) -> SweepPage[T]:
        """`_index_page` for any item kept under pk `{item_pk}{id}` / META (certificates, imports)."""
        out: list[tuple[Position, T]] = []
        shard = after.shard if after is not None else 0
        while shard < self.shards:
            last: dict[str, Any] | None = None
            if after is not None and after.shard == shard and after.key:
                last = self._s({hash_key: f"{prefix}#{shard}", range_key: after.key,
                                "pk": f"{item_pk}{after.item_id}", "sk": META})
            while len(out) < limit:
                kw: dict[str, Any] = {
                    "IndexName": index,
                    "KeyConditionExpression": f"{hash_key} = :s AND {range_key} <= :u",
                    "ExpressionAttributeValues": self._s({":s": f"{prefix}#{shard}", ":u": until}),
                    "Limit": min(limit - len(out), 500),
                }
                if last:
                    kw["ExclusiveStartKey"] = last
                items, last = self._query(**kw)
                out += [(Position(shard, str(i[range_key]), str(i[id_attr])), parse(i)) for i in items]
                if not last:
                    break
            if len(out) >= limit:
                return SweepPage(out, end=last is None and shard == self.shards - 1)
            shard += 1
        return SweepPage(out, end=True)

    def due_page(self, kind: str, now: dt.datetime, after: Position | None, limit: int) -> SweepPage[Certificate]:
        return self._index_page(schema.INDEX_DUE, "due_shard", "next_poll_at", kind, iso(now) or "", after, limit)

    def expiring_page(self, until: dt.datetime, after: Position | None, limit: int) -> SweepPage[Certificate]:
        return self._index_page(schema.INDEX_EXPIRY, "expiry_bucket", "not_after", "E", iso(until) or "",
                                after, limit)

    def action_page(self, now: dt.datetime, after: Position | None, limit: int) -> SweepPage[Certificate]:
        return self._index_page(schema.INDEX_ACTION, "action_bucket", "next_action_at", "A", iso(now) or "",
                                after, limit)

    def sweep_state(self, name: str) -> SweepState:
        item = self._get(f"SWEEP#{name}", META)
        if item is None:
            return SweepState(name=name)
        pos = item.get("position")
        return SweepState(
            name=name, version=int(item["version"]), lease_owner=item.get("lease_owner"),
            lease_until=item.get("lease_until"), cycle_started_at=item.get("cycle_started_at"),
            last_cycle_s=item.get("last_cycle_s"), cycles=int(item.get("cycles", 0)),
            position=Position(int(pos["shard"]), str(pos.get("key", "")), str(pos.get("item_id", "")))
            if pos else None)

    def save_sweep(self, state: SweepState) -> None:
        """One conditional put (the sweep's item is in no index: no owner, no index keys)."""
        item = {"pk": f"SWEEP#{state.name}", "sk": META, "type": "sweep", "version": state.version,
                "lease_owner": state.lease_owner, "lease_until": state.lease_until,
                "cycle_started_at": state.cycle_started_at, "last_cycle_s": state.last_cycle_s,
                "cycles": state.cycles,
                "position": None if state.position is None else {
                    "shard": state.position.shard, "key": state.position.key or None,
                    "item_id": state.position.item_id or None}}
        condition: dict[str, Any] = ({"ConditionExpression": "attribute_not_exists(pk)"} if state.version <= 1 else {
            "ConditionExpression": "#v = :v", "ExpressionAttributeNames": {"#v": "version"},
            "ExpressionAttributeValues": {":v": {"N": str(state.version - 1)}}})
        client = self.client
        try:
            client.put_item(TableName=self.table, Item=self._s(item), **condition)
        except client.exceptions.ConditionalCheckFailedException as exc:
            raise ConcurrentModification(f"sweep {state.name}") from exc

    def events(self, cert_id: str, *, limit: int = 100, next_token: str | None = None, owner: str = "",
               first_events: Sequence[Event] = ()) -> tuple[list[Event], str | None]:
        kw: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :e)",
            "ExpressionAttributeValues": self._s({":pk": f"CERT#{cert_id}", ":e": "EVT#"}),
            "Limit": limit, "ConsistentRead": True,
        }
        start = self._decode_token(next_token, owner + cert_id, {
            "pk": lambda v: v == f"CERT#{cert_id}", "sk": lambda v: v.startswith("EVT#")})
        if start:
            kw["ExclusiveStartKey"] = start
        items, last = self._query(**kw)
        page = [self.event_from_item(i) for i in items]
        if first_events:
            page, last = self._with_first_events(page, last, first_events, start, limit)
        return page, (self._encode_token(last, owner + cert_id) if last else None)

    def _with_first_events(self, rows: list[Event], last: dict[str, Any] | None, first: Sequence[Event],
                           start: dict[str, Any] | None, limit: int) -> tuple[list[Event], dict[str, Any] | None]:
        """`rows` (one page of the trail read after `start`) with the certificate's first events
        merged in their place: those past `start` and not past the rows this page left unread;
        the page cut back to `limit`, its start key the last event it shows."""
        after = str(start["sk"]["S"]) if start else ""
        bound = self._event_key(rows[-1])["sk"] if last and rows else None
        extra = [ev for ev in first if self._event_key(ev)["sk"] > after
                 and (bound is None or self._event_key(ev)["sk"] <= bound)]
        if not extra:
            return rows, last
        merged = sorted([*rows, *extra], key=lambda ev: self._event_key(ev)["sk"])
        page = merged[:limit]
        more = last is not None or len(merged) > limit
        return page, (self._s(self._event_key(page[-1])) if more and page else None)

    # -- outbox -----------------------------------------------------------------------------
    def unpublished(self, limit: int, older_than: dt.datetime | None = None) -> Iterator[Event]:
        until = iso(older_than or utcnow() + dt.timedelta(days=1)) or ""
        for item in self._walk_index(schema.INDEX_OUTBOX, "outbox_shard", "outbox_at", "O", until, limit):
            yield self.event_from_item(item)

    def oldest_unpublished(self) -> str | None:
        return self._heads(schema.INDEX_OUTBOX, "outbox_shard", "outbox_at", "O")

    @staticmethod
    def _event_key(ev: Event) -> dict[str, str]:
        """The table key of an event row (the outbox keeps its rows there)."""
        return {"pk": f"CERT#{ev.certificate_id}", "sk": f"EVT#{ev.occurred_at}#{ev.event_id}"}

    def _update_event_row(self, ev: Event, update: str, condition: str, values: dict[str, Any]) -> bool:
        """One conditional update of the event's outbox row; False when the condition fails."""
        client = self.client
        try:
            client.update_item(TableName=self.table, Key=self._s(self._event_key(ev)), UpdateExpression=update,
                               ConditionExpression=condition, ExpressionAttributeValues=values)
        except client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def claim_for_publish(self, ev: Event, now: dt.datetime, lease_s: float) -> bool:
        """A lease on the outbox row (one conditional write): concurrent flushers that read the
        same row publish it once; a flusher that dies holding the lease delays the row by
        `lease_s`, after which another takes it (the bounded duplicate after a crash)."""
        return self._update_event_row(
            ev, "SET outbox_claimed_until = :until",
            "attribute_exists(outbox_shard) AND "
            "(attribute_not_exists(outbox_claimed_until) OR outbox_claimed_until <= :now)",
            self._s({":now": iso(now), ":until": iso(now + dt.timedelta(seconds=lease_s))}))

    def release_publish_claim(self, ev: Event) -> None:
        self.client.update_item(
            TableName=self.table,
            Key=self._s(self._event_key(ev)),
            UpdateExpression="REMOVE outbox_claimed_until",
        )

    def mark_published(self, ev: Event, now: dt.datetime) -> bool:
        """Take the event out of the outbox; False if someone else already did."""
        return self._update_event_row(ev, "REMOVE outbox_shard, outbox_at, outbox_claimed_until SET published_at = :t",
                                      "attribute_exists(outbox_shard)", self._s({":t": iso(now)}))

    def mark_target_published(self, ev: Event, target: str) -> bool:
        """Add `target` to the row's `published_targets` (a string set) while it is in the outbox."""
        return self._update_event_row(ev, "ADD published_targets :t", "attribute_exists(outbox_shard)",
                                      {":t": {"SS": [target]}})

    # -- idempotency ------------------------------------------------------------------------
    @staticmethod
    def _idem_pk(owner: str, key: str) -> str:
        return "IDEM#" + hashlib.sha256(f"{owner}\x00{key}".encode()).hexdigest()

    def _idem_item(self, rec: IdempotencyRecord, ttl_s: int) -> dict[str, Any]:
        return {"pk": self._idem_pk(rec.owner, rec.key), "sk": "IDEM", "type": "idempotency",
                "body_hash": rec.body_hash, "certificate_id": rec.certificate_id, "created_at": rec.created_at,
                schema.TTL_ATTRIBUTE: int(utcnow().timestamp()) + ttl_s}

    def idempotency(self, owner: str, key: str) -> IdempotencyRecord | None:
        d = self._get(self._idem_pk(owner, key), "IDEM")
        if d is None:
            return None
        if int(d.get(schema.TTL_ATTRIBUTE, 0)) < int(utcnow().timestamp()):
            return None  # expired; DynamoDB's TTL sweep is lazy
        return IdempotencyRecord(owner=owner, key=key, body_hash=d["body_hash"],
                                 certificate_id=d["certificate_id"], created_at=d["created_at"])

    def _idempotency_delete(self, owner: str, key: str) -> dict[str, Any]:
        """A transaction item forgetting an idempotency key (an order that was surely not placed)."""
        return {"Delete": {"TableName": self.table, "Key": self._s({"pk": self._idem_pk(owner, key), "sk": "IDEM"})}}

    # -- inventory imports (service/inventory.py): references claimed before the certificate --
    def claim_ref(self, provider: str, reference: str, cert_id: str) -> str:
        """Claim a provider reference for cert_id unless someone holds it; the holder's id either way.
        (Imports claim first and create the certificate under the claimed id afterwards: no
        transaction, and a claim whose certificate never got written is filled by the next run.)"""
        client = self.client
        try:
            client.put_item(TableName=self.table,
                            Item=self._s({"pk": f"REF#{provider}#{reference}", "sk": "REF", "type": "ref",
                                          "certificate_id": cert_id}),
                            ConditionExpression="attribute_not_exists(pk)")
        except client.exceptions.ConditionalCheckFailedException:
            return self.cert_id_for_ref(provider, reference) or cert_id
        return cert_id

    def insert(self, cert: Certificate, events: Iterable[Event] = ()) -> bool:
        """Write a certificate that must not exist yet, then its events (each written once);
        False (and no events) if it already exists."""
        client = self.client
        try:
            client.put_item(TableName=self.table, Item=self._s(self.to_item(cert)),
                            ConditionExpression="attribute_not_exists(pk)")
        except client.exceptions.ConditionalCheckFailedException:
            return False
        for op in self._event_puts(cert.id, events):
            client.put_item(**op["Put"])
        return True

    def ref_set(self, provider: str, reference: str, cert_id: str) -> None:
        """Point a reference at cert_id whoever held it (for hints, never for uniqueness)."""
        self.client.put_item(TableName=self.table, Item=self._s({
            "pk": f"REF#{provider}#{reference}", "sk": "REF", "type": "ref", "certificate_id": cert_id}))

    # -- import jobs (service/inventory.py) ---------------------------------------------------
    # One item per import (pk=IMPORT#{id}, sk=META), filed in the sparse `due` index under kind `I`
    # while it has a next run; one pointer per schedule key (pk=IMPORTKEY#{key}) naming the import
    # that carries that recurring sync. Every import is filed in the by_owner index under the one
    # owner value IMPORTS_OWNER (no principal can be called so: '#' is not allowed in one), by
    # started_at, for GET /imports; its own owner is `import_owner`.
    def _import_item(self, job: ImportJob) -> dict[str, Any]:
        item: dict[str, Any] = {"pk": f"IMPORT#{job.id}", "sk": META, "type": "import",
                                **{k: v for k, v in job.__dict__.items() if k != "id"}, "import_id": job.id,
                                "owner": IMPORTS_OWNER, "import_owner": job.owner, "created_at": job.started_at}
        if job.next_run_at:
            item["due_shard"] = f"I#{shard_of(job.id, self.shards)}"
            item["next_poll_at"] = job.next_run_at
        return item

    @staticmethod
    def _import_from_item(item: dict[str, Any]) -> ImportJob:
        fields = ImportJob.__dataclass_fields__
        data = {k: v for k, v in item.items() if k in fields and k != "id"}
        data["owner"] = item.get("import_owner", item["owner"])  # imports saved before GET /imports: owner
        data["counters"] = {**zero_counters(), **(item.get("counters") or {})}
        data["skipped"] = dict(item.get("skipped") or {})
        data["filters"] = dict(item.get("filters") or {})
        data["cursor_done"] = [int(i) for i in item.get("cursor_done") or ()]
        return ImportJob(id=str(item["import_id"]), **data)

    def create_import(self, job: ImportJob) -> None:
        """Record a new import (AlreadyExists if its id is taken), then make it the import that
        carries the recurring sync of its schedule key (the newest one started does)."""
        client = self.client
        try:
            client.put_item(TableName=self.table, Item=self._s(self._import_item(job)),
                            ConditionExpression="attribute_not_exists(pk)")
        except client.exceptions.ConditionalCheckFailedException as exc:
            raise AlreadyExists("import") from exc
        client.put_item(TableName=self.table, Item=self._s({
            "pk": f"IMPORTKEY#{job.schedule_key}", "sk": META, "type": "import_schedule", "import_id": job.id}))

    def save_import(self, job: ImportJob) -> None:
        """Persist `job` if nobody changed it since `job.version - 1` (ConcurrentModification otherwise)."""
        client = self.client
        try:
            client.put_item(TableName=self.table, Item=self._s(self._import_item(job)),
                            ConditionExpression="#v = :v", ExpressionAttributeNames={"#v": "version"},
                            ExpressionAttributeValues={":v": {"N": str(job.version - 1)}})
        except client.exceptions.ConditionalCheckFailedException as exc:
            raise ConcurrentModification(job.id) from exc

    def get_import(self, import_id: str) -> ImportJob | None:
        item = self._get(f"IMPORT#{import_id}", META)
        return self._import_from_item(item) if item is not None else None

    def import_carrying(self, schedule_key: str) -> str | None:
        """The id of the import that carries the recurring sync of `schedule_key`, if any."""
        item = self._get(f"IMPORTKEY#{schedule_key}", META)
        return str(item["import_id"]) if item is not None else None

    def list_imports(self, viewer: str, *, owner: str | None, limit: int, next_token: str | None,
                     provider: str | None = None, status: str | None = None) -> tuple[list[ImportJob], str | None]:
        """One page of imports, newest first: `owner`'s (None: everyone's); the token is bound to `viewer`."""
        filters, names, values = [], {"#o": "owner"}, {":o": IMPORTS_OWNER}
        for attr, value in (("import_owner", owner), ("provider", provider), ("status", status)):
            if value is not None:
                filters.append(f"#{attr} = :{attr}")
                names[f"#{attr}"], values[f":{attr}"] = attr, value
        return self._owner_page(IMPORTS_OWNER, viewer, "IMPORT#", "import", self._import_from_item, filters, names,
                                values, limit, next_token)

    def imports_page(self, now: dt.datetime, after: Position | None, limit: int) -> SweepPage[ImportJob]:
        """Imports whose next run is due (running ones, completed ones whose sync interval has
        passed), from the sparse `due` index under kind I, after `after` in walk order."""
        return self._sweep_page(schema.INDEX_DUE, "due_shard", "next_poll_at", "I", iso(now) or "", after, limit,
                                item_pk="IMPORT#", id_attr="import_id", parse=self._import_from_item)

    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        resp = self.client.get_item(TableName=self.table, Key=self._s({"pk": pk, "sk": sk}), ConsistentRead=True)
        item = resp.get("Item")
        if not item:
            return None
        self._count(1)
        return self._d(item)

    def _due_items(self, kind: str, now: dt.datetime, limit: int) -> Iterator[dict[str, Any]]:
        """Raw items of the sparse `due` index filed under `kind` whose time has come."""
        yield from self._walk_index(schema.INDEX_DUE, "due_shard", "next_poll_at", kind, iso(now) or "", limit)
