"""A fleet-year (issue 17 item 8): N certificates across the three providers live one simulated
year on the real service use cases and jobs, over in-memory ports (tests/fakes.py) whose indexes
are kept as DynamoDB keeps them (sparse, so a job reads only what is due), with lifetimes from
chalicelib/core/lifetimes.py and injected faults:

- one provider (Resello) unreachable for 3 days;
- 1% of creates, renewals and reissues commit at the provider and lose their answer;
- 2% of scheduled invocations run twice, 2% run 3 hours late.

The fleet is in steady state when the year starts (issued across one lifetime before it); 90% are
auto_renew, the rest get notices. Jobs run on app.py's schedule, coarsened for a year to stay
bounded: renew_expiring daily, poll_pending and reconcile hourly (a pending order waits at most an
hour longer than in production). The providers validate asynchronously within 2 hours
(Resello, DigiCert) or issue at once (TinyCert).

It prints one line per figure and, last, one JSON object (the interface of issue 17):
    python -m bench.fleet_year --certs N --rules 2026|47d [--engine fakes|moto] [--days D]

`--engine moto` runs the same year with the app's own DynamoDB adapter (CertificateStore) over an
in-process moto server patched as the functional tests and `make run` patch it (devstack/moto_patch.py);
providers, S3, SNS and KMS stay the in-memory fakes (the simulators cannot follow a simulated clock).
Its request units are counted on the wire, per call the adapter makes, with the same unit rules
(`WireUnits`). `--days D` simulates D days instead of 365 (per-certificate-year figures are scaled
by 365/D): moto answers a call in milliseconds, and a year is ~80,000 invocations of ~15 calls.

Costs come from counts, not timings: DynamoDB request units from the real adapter's item shapes
(CertificateStore.to_item) and DynamoDB's unit rules; Lambda GB-seconds from the measured CPU time of
every job invocation plus a latency model (5 ms per DynamoDB call, 150 ms per provider call);
public us-east-1 on-demand prices (see PRICES).
"""

from __future__ import annotations

import argparse
import bisect
import dataclasses
import datetime as dt
import json
import logging
import math
import random
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from chalicelib.core.errors import ProviderTimeout, ProviderUnavailable  # noqa: E402
from chalicelib.core.model import (  # noqa: E402
    Certificate,
    Event,
    Status,
    iso,
    parse_iso,
    shard_of,
)
from chalicelib.core.provider import OrderRequest, ProviderOrder  # noqa: E402
from chalicelib.core.sweeps import Position, SweepPage  # noqa: E402
from chalicelib.service import jobs  # noqa: E402
from chalicelib.service.certificates import CertificateService  # noqa: E402
from chalicelib.service.policy import Policy  # noqa: E402
from tests.fakes import (  # noqa: E402
    FakeArtifacts,
    FakeClock,
    FakeKeyVault,
    FakeProvider,
    FakeProviders,
    FakePublisher,
    FakeStore,
)

PROVIDERS = ("tinycert", "resello", "digicert")
RULES = {"2026": dt.datetime(2026, 3, 15, tzinfo=dt.UTC), "47d": dt.datetime(2029, 3, 15, tzinfo=dt.UTC)}
LAMBDA_GB = 0.125  # the functions' memory (infra/: 128 MB)
PRICES = {  # us-east-1, on demand, public price lists (2026)
    "lambda_gb_s": 0.0000166667, "lambda_request": 0.20 / 1e6,
    "ddb_wru": 0.625 / 1e6, "ddb_rru": 0.125 / 1e6, "ddb_gb_month": 0.25,
    "s3_put": 0.005 / 1000, "s3_get": 0.0004 / 1000, "s3_gb_month": 0.023,
    "sns_publish": 0.50 / 1e6,
}
DDB_CALL_S, PROVIDER_CALL_S = 0.005, 0.150
VALIDATION_DELAY = dt.timedelta(hours=2)
POLL_EVERY = dt.timedelta(hours=1)
SETTLE_RUNS = 8  # 15-minute runs after the year (2 h: past reconcile_after_s and the next poll)


# -- the ports, counted -------------------------------------------------------------------------------
class Units:
    """DynamoDB request units as the real adapter would spend them."""

    def __init__(self) -> None:
        from chalicelib.adapters.dynamodb.store import CertificateStore

        self._mapper = CertificateStore(lambda: None, "fleet")
        self.rru = 0.0
        self.wru = 0.0
        self.calls = 0
        self.ops: Counter[str] = Counter()  # DynamoDB calls by operation (moto engine: on the wire)
        self.rru_by: Counter[str] = Counter()  # read units by what read them (fakes engine)

    def size(self, cert: Certificate) -> int:
        return len(json.dumps(self._mapper.to_item(cert), default=str))

    def read(self, sizes: Iterable[int], *, consistent: bool, what: str = "other") -> None:
        total = sum(sizes)
        self.calls += 1
        units = max(1, math.ceil(total / 4096)) * (1.0 if consistent else 0.5)
        self.rru += units
        self.rru_by[what] += units

    def write(self, size: int, *, transactional: bool, indexes: int = 0) -> None:
        units = max(1, math.ceil(size / 1024))
        self.wru += units * (2 if transactional else 1) + units * indexes


class IndexedStore(FakeStore):
    """FakeStore with its sparse indexes kept sorted per shard, as DynamoDB keeps a GSI (the fake
    scans every item per query, which at 100k certificates would measure the fake), and DynamoDB's
    units counted per call from the adapter's item sizes."""

    INDEXES = ("P", "S", "D", "E", "A")  # due: pending, submitting, delivery retry; expiry; next action

    def __init__(self, clock: Any, units: Units) -> None:
        super().__init__(clock=clock)
        self.units = units
        self._ix: dict[str, list[list[tuple[str, str]]]] = {n: [[] for _ in range(self.shards)] for n in self.INDEXES}
        self._ix_key: dict[tuple[str, str], str] = {}
        self._sizes: dict[tuple[str, int], int] = {}
        self._outbox: set[tuple[str, str]] = set()

    def _size(self, cert: Certificate) -> int:
        key = (cert.id, cert.version)
        if key not in self._sizes:
            self._sizes[key] = self.units.size(cert)
        return self._sizes[key]

    def _keys(self, c: Certificate) -> dict[str, str]:
        keys: dict[str, str] = {}
        if c.due_kind is not None:  # as the adapter files it (ACM delivery retries are not used here)
            keys[c.due_kind] = c.next_poll_at or c.updated_at
        if c.not_after and (c.status is Status.ISSUED or (c.status is Status.PENDING and c.issued_revision)):
            keys["E"] = c.not_after
        if c.next_action_at:
            keys["A"] = c.next_action_at
        return keys

    def _index(self, cert_id: str) -> None:
        c = self._certs.get(cert_id)
        want = self._keys(c) if c is not None else {}
        shard = shard_of(cert_id, self.shards)
        for name in self.INDEXES:
            old = self._ix_key.get((name, cert_id))
            new = want.get(name)
            if old == new:
                continue
            rows = self._ix[name][shard]
            if old is not None:
                i = bisect.bisect_left(rows, (old, cert_id))
                if i < len(rows) and rows[i] == (old, cert_id):
                    rows.pop(i)
                del self._ix_key[(name, cert_id)]
            if new is not None:
                bisect.insort(rows, (new, cert_id))
                self._ix_key[(name, cert_id)] = new

    def _put_events(self, cert_id: str, events: Iterable[Event]) -> None:
        events = list(events)
        super()._put_events(cert_id, events)
        for ev in events:
            self.units.write(600, transactional=True, indexes=1 if ev.published else 0)
            if ev.published:
                self._outbox.add((cert_id, ev.event_id))

    def create(self, cert: Certificate, events: Iterable[Event], idem: Any = None, ttl_s: int = 86400) -> None:
        events = list(events)
        super().create(cert, events, idem, ttl_s)
        self.units.calls += 1
        # a PutItem unless an idempotency record or event rows come with it (first events are in the item)
        self.units.write(self._size(cert), transactional=bool(events or idem), indexes=len(self._keys(cert)))
        if idem is not None:
            self.units.write(200, transactional=True)
        self._index(cert.id)

    def save(self, after: Certificate, events: Iterable[Event] = (), *, claim_refs: Iterable[str] = (),
             release_idempotency: str | None = None) -> None:
        events, claims = list(events), list(claim_refs)
        super().save(after, events, claim_refs=claims, release_idempotency=release_idempotency)
        self.units.calls += 1
        filed = bool(after.first_events)  # rows now (counted by _put_events); the item keeps none
        after = dataclasses.replace(after, first_events=())
        self.units.write(self._size(after), transactional=bool(events or claims or filed),
                         indexes=len(self._keys(after)))
        for _ in claims:
            self.units.write(200, transactional=True)
        self._index(after.id)

    def get(self, cert_id: str) -> Certificate | None:
        found = super().get(cert_id)
        self.units.read([self._size(found)] if found else [], consistent=True, what="get")
        return found

    def _index_page(self, name: str, until: str, after: Position | None, limit: int, what: str = "sweep") -> SweepPage:
        out: list[tuple[Position, Certificate]] = []
        end = True
        queried: list[int] = []  # items returned per shard: the adapter makes one Query per shard it visits
        with self._lock:
            for shard in range(after.shard if after is not None else 0, self.shards):
                rows = self._ix[name][shard]
                i = 0
                if after is not None and after.shard == shard and after.key:
                    i = bisect.bisect_right(rows, (after.key, after.item_id))
                if len(out) < limit:
                    queried.append(len(out))  # the adapter queries a shard while the page has room
                while i < len(rows) and rows[i][0] <= until:
                    if len(out) >= limit:
                        end = False
                        break
                    key, cid = rows[i]
                    out.append((Position(shard, key, cid), dataclasses.replace(self._certs[cid])))
                    i += 1
                if not end:
                    break
        bounds = [*queried, len(out)]
        for lo, hi in zip(bounds, bounds[1:], strict=False):
            self.units.read([self._size(c) for _, c in out[lo:hi]], consistent=False, what=f"{what} index {name}")
        return SweepPage(out, end=end)

    def due_page(self, kind: str, now: dt.datetime, after: Position | None, limit: int) -> SweepPage:
        return self._index_page(kind, iso(now) or "", after, limit)

    def expiring_page(self, until: dt.datetime, after: Position | None, limit: int) -> SweepPage:
        return self._index_page("E", iso(until) or "", after, limit)

    def action_page(self, now: dt.datetime, after: Position | None, limit: int) -> SweepPage:
        return self._index_page("A", iso(now) or "", after, limit)

    def due(self, kind: str, now: dt.datetime, limit: int) -> Iterator[Certificate]:
        yield from (c for _, c in self._index_page(kind, iso(now) or "", None, limit, "walk").items)

    def expiring(self, until: dt.datetime, limit: int) -> Iterator[Certificate]:
        yield from (c for _, c in self._index_page("E", iso(until) or "", None, limit, "walk").items)

    def actionable(self, until: dt.datetime, limit: int) -> Iterator[Certificate]:
        yield from (c for _, c in self._index_page("A", iso(until) or "", None, limit, "walk").items)

    def earliest_expiry(self) -> str | None:
        # One read of one item (its key only) at the head of each shard.
        with self._lock:
            heads = [rows[0][0] for rows in self._ix["E"] if rows]
        self.units.read([100] * len(heads), consistent=False, what="expiry heads")
        return min(heads, default=None)

    def oldest_unpublished(self) -> str | None:
        with self._lock:
            times = [row.event.occurred_at for cid, eid in list(self._outbox)
                     for row in self._events.get(cid, {}).values() if row.event.event_id == eid and row.in_outbox]
        self.units.read([100] * min(len(times), self.shards), consistent=False, what="outbox head")
        return min(times, default=None)

    def unpublished(self, limit: int, older_than: dt.datetime | None = None) -> Iterator[Event]:
        until = iso(older_than or self._clock() + dt.timedelta(days=1)) or ""
        with self._lock:
            rows = []
            for cid, eid in list(self._outbox):
                row = next((r for r in self._events.get(cid, {}).values() if r.event.event_id == eid), None)
                if row is None or not row.in_outbox:
                    self._outbox.discard((cid, eid))
                elif row.event.occurred_at <= until:
                    rows.append(row.event)
        for shard in range(self.shards):  # one Query per outbox shard, as the adapter's _walk_index
            self.units.read([600] * sum(1 for e in rows if shard_of(e.certificate_id, self.shards) == shard),
                            consistent=False, what="outbox")
        yield from sorted(rows, key=lambda e: e.occurred_at)[:limit]

    def sweep_state(self, name: str) -> Any:
        self.units.calls += 1
        self.units.read([300], consistent=True, what="sweep state")  # GetItem of SWEEP#name
        return super().sweep_state(name)

    def save_sweep(self, state: Any) -> None:
        super().save_sweep(state)
        self.units.calls += 1
        self.units.write(300, transactional=False)  # a conditional PutItem, in no index

    def claim_for_publish(self, ev: Event, now: dt.datetime, lease_s: float) -> bool:
        self.units.calls += 1
        self.units.write(600, transactional=False, indexes=1)  # a conditional UpdateItem of the outbox row
        return super().claim_for_publish(ev, now, lease_s)

    def mark_published(self, ev: Event, now: dt.datetime) -> bool:
        done = super().mark_published(ev, now)
        self.units.calls += 1
        self.units.write(600, transactional=False, indexes=1)
        self._outbox.discard((ev.certificate_id, ev.event_id))
        return done


# -- the moto engine ----------------------------------------------------------------------------------------
# The GSIs whose writes IndexedStore counts (by_owner apart: the fakes do not count it; see _by_owner_wcu).
COUNTED_INDEXES = ("due_shard", "expiry_bucket", "action_bucket", "outbox_shard")


class WireUnits:
    """Counts, on the boto3 client's events, every DynamoDB call the adapter makes and its request
    units by the rules of Units (items sized as JSON of their plain attributes): GetItem and Query
    by the bytes returned (4 KB units, halved when not consistent); PutItem by the item (1 KB units,
    one write more per counted index the item is in); UpdateItem by an event row (600 B, in the
    outbox); a transaction's items doubled. Failed conditional writes are counted as DynamoDB bills them."""

    def __init__(self, units: Units) -> None:
        from boto3.dynamodb.types import TypeDeserializer

        self.units = units
        self._plain = TypeDeserializer().deserialize
        self.by_owner_wcu = 0.0

    def _size(self, item: dict[str, Any]) -> int:
        return len(json.dumps({k: self._plain(v) for k, v in item.items()}, default=str))

    def _put(self, item: dict[str, Any], *, transactional: bool) -> None:
        size = self._size(item)
        self.units.write(size, transactional=transactional, indexes=sum(1 for k in COUNTED_INDEXES if k in item))
        if "owner" in item and "created_at" in item:
            self.by_owner_wcu += max(1, math.ceil(size / 1024))

    def install(self, client: Any) -> None:
        client.meta.events.register("before-call.dynamodb", self._before)
        client.meta.events.register("after-call.dynamodb", self._after)

    @staticmethod
    def _before(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        body = params.get("body")
        context["fleet_request"] = json.loads(body) if body else {}

    def _after(self, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        op, req, u = model.name, context.get("fleet_request") or {}, self.units
        u.ops[op] += 1
        if op not in ("GetItem", "Query"):
            u.calls += 1  # Units.read counts the reads' calls
        if op == "GetItem":
            u.read([self._size(parsed["Item"])] if parsed.get("Item") else [], consistent=bool(req.get("ConsistentRead")))
        elif op == "Query":
            u.read([self._size(i) for i in parsed.get("Items") or ()], consistent=bool(req.get("ConsistentRead")))
        elif op == "PutItem":
            self._put(req["Item"], transactional=False)
        elif op == "UpdateItem":
            u.write(600, transactional=False, indexes=1)
        elif op == "DeleteItem":
            u.write(200, transactional=False)
        elif op == "TransactWriteItems":
            for entry in req.get("TransactItems") or ():
                if "Put" in entry:
                    self._put(entry["Put"]["Item"], transactional=True)
                elif "Update" in entry:
                    u.write(600, transactional=True, indexes=1)
                else:  # ConditionCheck, Delete
                    u.write(200, transactional=True)
        elif op == "BatchWriteItem":
            for rows in (req.get("RequestItems") or {}).values():
                for row in rows:
                    if "PutRequest" in row:
                        self._put(row["PutRequest"]["Item"], transactional=False)


class MotoEngine:
    """An in-process moto server (devstack.moto_patch installed), certgate's table, and the app's
    CertificateStore on a boto3 client whose calls WireUnits counts."""

    def __init__(self, units: Units) -> None:
        import boto3
        from botocore.config import Config
        from moto.server import ThreadedMotoServer

        from chalicelib.adapters.dynamodb import schema
        from devstack import moto_patch
        from devstack.local_env import free_port

        moto_patch.install()
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per call otherwise
        port = free_port()
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        self.server.start()
        self.client = boto3.client(
            "dynamodb", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
            aws_access_key_id="testing", aws_secret_access_key="testing",  # moto accepts any
            config=Config(retries={"max_attempts": 1, "mode": "standard"}, read_timeout=300,
                          max_pool_connections=32))
        self.client.create_table(**schema.table_definition("fleet-year"))
        self.wire = WireUnits(units)
        self.wire.install(self.client)

    def store(self) -> Any:
        from chalicelib.adapters.dynamodb.store import CertificateStore

        client = self.client

        class FleetStore(CertificateStore):
            """The app's adapter, plus the two reads the year's analysis makes (not part of the port)."""

            def certificates(self) -> list[Certificate]:
                out, kw = [], {"TableName": self.table, "FilterExpression": "#t = :c",
                               "ExpressionAttributeNames": {"#t": "type"},
                               "ExpressionAttributeValues": {":c": {"S": "certificate"}}}
                while True:
                    resp = client.scan(**kw)
                    out += [self.from_item(self._d(i)) for i in resp.get("Items", [])]
                    if not resp.get("LastEvaluatedKey"):
                        return out
                    kw["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

            def all_events(self, cert_id: str) -> list[Event]:
                out, token = [], None
                while True:
                    page, token = self.events(cert_id, limit=100, next_token=token)
                    out += page
                    if token is None:
                        return out

        return FleetStore(lambda: client, "fleet-year", shards=4)

    def stop(self) -> None:
        self.server.stop()


class YearProvider(FakeProvider):
    """A fake provider on the simulated clock: certificates as long as asked (or the provider's
    maximum that day), asynchronous ones validated within VALIDATION_DELAY, a 3-day outage window,
    and lost answers after commit at `lost_rate`."""

    def __init__(self, name: str, clock: FakeClock, rnd: random.Random, *, lost_rate: float,
                 down: tuple[dt.datetime, dt.datetime] | None) -> None:
        super().__init__(name, issuance="sync" if name == "tinycert" else "async")
        self.clock, self.rnd, self.lost_rate, self.down = clock, rnd, lost_rate, down
        self.placed_at: dict[str, dt.datetime] = {}
        self.lost = 0

    def _call(self, method: str, arg: Any, action: Any) -> Any:
        now = self.clock()
        if self.down and self.down[0] <= now < self.down[1]:
            with self._lock:
                self.calls.append((method, arg))
            raise ProviderUnavailable(self.name, "down (fleet-year outage)")
        if method in ("submit_order", "renew", "reissue") and self.rnd.random() < self.lost_rate:
            self.lost += 1
            self.fail_next(method, ProviderTimeout(self.name, "answer lost", outcome_unknown=True), commit=True)
        return super()._call(method, arg, action)

    def place(self, req: OrderRequest, *, status: Status | None = None) -> Any:
        order = super().place(req, status=status)
        self.placed_at[order.id] = self.clock()
        return order

    def issue(self, order_id: str) -> Any:
        from cryptography.hazmat.primitives import serialization

        from chalicelib.core.provider import CertificateMaterial
        from simulators.ca import generate_key, key_pem

        order = self.orders[order_id]
        req = order.request
        now = self.clock()
        days = req.validity_days or self.capabilities.max_validity_days(req.product, now.date())
        names = [(s.type, s.value) for s in req.sans] or [("dns", req.common_name)]
        private_pem = None
        if req.csr_pem:
            issued = self.ca.issue_from_csr(req.csr_pem, req.common_name, names, days=days, not_before=now)
        else:
            key = generate_key("ec")
            issued = self.ca.issue(key.public_key(), req.common_name, names, days=days, not_before=now)
            private_pem = key_pem(key)
        order.material = CertificateMaterial(issued.cert.public_bytes(serialization.Encoding.PEM).decode(),
                                             self.ca.chain_pem, private_pem)
        order.serial = issued.serial_hex
        order.not_before, order.not_after = issued.cert.not_valid_before_utc, issued.cert.not_valid_after_utc
        order.status, order.raw_status = Status.ISSUED, "issued"
        return order

    def view(self, order: Any, *, with_material: bool = True) -> ProviderOrder:
        if order.status is Status.PENDING and self.clock() - self.placed_at.get(order.id, self.clock()) >= VALIDATION_DELAY:
            self.issue(order.id)
        return super().view(order, with_material=with_material)

    def reissue(self, provider_order_id: str, req: OrderRequest) -> ProviderOrder:
        self.placed_at[provider_order_id] = self.clock()
        return super().reissue(provider_order_id, req)


# -- the year ----------------------------------------------------------------------------------------------
@dataclasses.dataclass
class Run:
    certs: int
    rules: str
    seed: int = 7
    engine: str = "fakes"
    days: int = 365
    lost_rate: float = 0.01
    duplicate_rate: float = 0.02
    late_rate: float = 0.02
    auto_renew_share: float = 0.9


def _csr(name: str) -> str:
    from cryptography.hazmat.primitives import serialization

    from simulators.ca import build_csr, generate_key

    return build_csr(generate_key("ec"), name, [("dns", name)]).public_bytes(serialization.Encoding.PEM).decode()


def _unreferenced(providers: dict[str, YearProvider], store: Any, ids: list[str]) -> list[tuple[str, str, Any, Any]]:
    """The provider orders no record references (as its current order or a revision's)."""
    referenced: set[tuple[str, str]] = set()
    for cid in ids:
        cert = store.get(cid)
        if cert:
            referenced |= {(cert.provider, str(r.provider_order_id)) for r in cert.revisions if r.provider_order_id}
            if cert.provider_order_id:
                referenced.add((cert.provider, cert.provider_order_id))
    return [(p, oid, o.request.client_reference, fp.placed_at.get(oid)) for p, fp in providers.items()
            for oid, o in fp.orders.items() if (p, oid) not in referenced]


def fleet_year(run: Run) -> dict[str, Any]:
    rnd = random.Random(run.seed)
    start = RULES[run.rules]
    end = start + dt.timedelta(days=run.days)
    clock = FakeClock(start)
    units = Units()
    engine = MotoEngine(units) if run.engine == "moto" else None
    store: Any = engine.store() if engine is not None else IndexedStore(clock, units)
    try:
        return _year(run, rnd, start, end, clock, units, store, engine)
    finally:
        if engine is not None:
            engine.stop()


def _year(run: Run, rnd: random.Random, start: dt.datetime, end: dt.datetime, clock: FakeClock, units: Units,
          store: Any, engine: MotoEngine | None) -> dict[str, Any]:
    artifacts, publisher = FakeArtifacts(), FakePublisher()
    down = (start + dt.timedelta(days=100), start + dt.timedelta(days=103))
    providers = {p: YearProvider(p, clock, rnd, lost_rate=run.lost_rate, down=down if p == "resello" else None)
                 for p in PROVIDERS}
    policy = Policy(poll_min_interval_s=600, poll_max_interval_s=3600, reconcile_after_s=900,
                    provider_read_timeout_s=20, poll_safety_margin_ms=1000, import_inline_s=5, import_concurrency=2)
    svc = CertificateService(cfg=policy, store=store, artifacts=artifacts, publisher=publisher, vault=FakeKeyVault(),
                             directory=FakeProviders(*providers.values()), clock=clock)
    owner = "arn:aws:iam::123456789012:role/fleet"

    # Steady state: certificate i was issued at start - lifetime * (i / N), so renewals are spread.
    t0 = time.perf_counter()
    ids: list[str] = []
    for i in range(run.certs):
        provider = PROVIDERS[i % 3]
        name = f"c{i}.fleet.example.com"
        body: dict[str, Any] = {"provider": provider, "common_name": name,
                                "auto_renew": rnd.random() < run.auto_renew_share}
        if provider != "tinycert":
            # DV, as the lifetime below assumes (OV/EV need an organization since issue 20)
            body["csr"], body["product"] = _csr(name), "dv"
        caps = providers[provider].capabilities
        lifetime = caps.max_validity_days("private" if provider == "tinycert" else "dv", start.date())
        clock.now = start - dt.timedelta(days=lifetime) * ((i + 0.5) / run.certs)
        providers[provider].lost_rate, saved = 0.0, providers[provider].lost_rate
        cert = svc.order(owner, body, None).certificate
        if cert.status is not Status.ISSUED:
            providers[provider].issue(cert.provider_order_id or "")
            cert = svc.refresh(cert, actor="warmup")
        providers[provider].lost_rate = saved
        ids.append(cert.id)
    setup_s = time.perf_counter() - t0
    base_calls = {p: len(fp.calls) for p, fp in providers.items()}
    base_units = (units.rru, units.wru, units.calls)
    base_rru_by = Counter(units.rru_by)
    base_ops = Counter(units.ops)
    base_by_owner = engine.wire.by_owner_wcu if engine is not None else 0.0
    base_s3 = len(artifacts.objects)
    base_sns = len(publisher.published)

    # The schedule (app.py): renew_expiring and reconcile every 15 minutes, poll_pending every
    # minute coarsened to every POLL_EVERY (a pending order then waits at most that much longer);
    # 2% of invocations run twice, 2% run 3 hours late.
    schedule: list[tuple[dt.datetime, str]] = []
    t = start
    step = dt.timedelta(minutes=15)
    k = 0
    while t < end:
        schedule += [(t, "renew_expiring"), (t, "reconcile")]
        if k % (POLL_EVERY // step) == 0:
            schedule.append((t, "poll_pending"))
        t += step
        k += 1
    planned: list[tuple[dt.datetime, str]] = []
    for when, job in schedule:
        r = rnd.random()
        if r < run.late_rate:
            planned.append((when + dt.timedelta(hours=3), job))
        else:
            planned.append((when, job))
            if r < run.late_rate + run.duplicate_rate:
                planned.append((when, job))
    planned.sort(key=lambda x: x[0])
    invocations = 0
    cpu_s = 0.0
    paced = [0.0]  # seconds a job waited for its next provider slot (virtual: the Lambda is billed for it)

    def vclock() -> float:
        return paced[0]

    def vsleep(seconds: float) -> None:
        paced[0] += seconds

    t0 = time.perf_counter()
    for when, job in planned:
        clock.now = when
        c0 = time.process_time()
        if job == "reconcile":
            jobs.reconcile(svc, remaining=lambda: 600_000, now=when)
        else:
            getattr(jobs, job)(svc, remaining=lambda: 600_000, now=when, clock=vclock, sleep=vsleep)
        cpu_s += time.process_time() - c0
        invocations += 1
    year_s = time.perf_counter() - t0
    clock.now = end
    # The year's request units, before the analysis below reads every certificate back.
    rru, wru, ddb_calls = units.rru - base_units[0], units.wru - base_units[1], units.calls - base_units[2]
    rru_by = Counter(units.rru_by)
    rru_by.subtract(base_rru_by)
    ops = Counter(units.ops)
    ops.subtract(base_ops)
    by_owner_wcu = (engine.wire.by_owner_wcu if engine is not None else 0.0) - base_by_owner

    # -- what happened ---------------------------------------------------------------------------
    expired_without_successor = late = renewals = late_at_start = notices_due_at_start = 0
    late_notices = duplicate_notices = 0
    for cid in ids:
        cert = store.get(cid)
        if cert is None:
            continue
        revs = [r for r in cert.revisions if r.issued_at and r.not_after]
        for r, nxt in zip(revs, revs[1:] + [None], strict=True):
            r_end = parse_iso(r.not_after)
            if r_end is None or r_end < start or not cert.auto_renew:
                continue  # one not renewed automatically is its owner's (who got the notices)
            if r_end <= end and (nxt is None or (parse_iso(nxt.issued_at) or end) > r_end):
                expired_without_successor += 1
        events = store.all_events(cid)
        for ev in events:
            if ev.kind in ("certificate.renew_requested", "certificate.reissue_requested") and ev.actor == "renew_expiring":
                renewals += 1
                begun = parse_iso(ev.occurred_at)
                prior = [r for r in revs if (parse_iso(r.issued_at) or end) < (begun or end)]
                if begun and prior:
                    nb, na = parse_iso(prior[-1].not_before), parse_iso(prior[-1].not_after)
                    if nb and na:
                        opens = na - (na - nb) * policy.renewal.remaining_fraction  # core/renewal.py
                        if opens < start:
                            late_at_start += 1  # its window opened before the year (warm-up), not a miss
                        elif begun > opens + dt.timedelta(days=1) + (na - nb) * 0.1:
                            late += 1
        lifetimes = {r.not_after: (parse_iso(r.not_after) or end) - (parse_iso(r.not_before) or end) for r in revs}
        notices: Counter[tuple[Any, Any]] = Counter()
        for ev in events:
            if ev.kind != "certificate.expiring":
                continue
            which = ev.detail.get("threshold_days") or ev.detail.get("remaining_fraction")
            notices[(ev.detail.get("not_after") or ev.revision, which)] += 1
            left = ev.detail.get("days_left")
            if isinstance(which, str) and "/" in which:  # 1/n of the lifetime
                life = lifetimes.get(ev.detail.get("not_after"))
                due_left = life.total_seconds() / 86400 / int(which.split("/")[1]) if life else None
            else:
                due_left = which
            na = parse_iso(ev.detail.get("not_after"))
            if na is not None and isinstance(due_left, int | float) and na - dt.timedelta(days=due_left) < start:
                notices_due_at_start += 1  # due before the year began (warm-up), not a miss
            elif isinstance(due_left, int | float) and isinstance(left, int | float) and left < due_left - 1:
                late_notices += 1  # more than a day after it was due
        duplicate_notices += sum(n - 1 for n in notices.values() if n > 1)

    # Duplicate orders: provider orders beyond the ones a record's revisions reference, once the
    # system has settled. An answer lost in the year's last runs is not adopted yet when the year
    # ends (reconcile waits reconcile_after_s): the year then gets the runs it would have had next,
    # without faults, and only orders still unknown to every record after them are duplicates.
    unreferenced = _unreferenced(providers, store, ids)
    in_flight_at_end = len(unreferenced)
    if unreferenced:
        for fp in providers.values():
            fp.lost_rate, fp.down = 0.0, None
        t = end
        for _ in range(SETTLE_RUNS):
            t += step
            clock.now = t
            jobs.reconcile(svc, remaining=lambda: 600_000, now=t)
            jobs.poll_pending(svc, remaining=lambda: 600_000, now=t, clock=vclock, sleep=vsleep)
        unreferenced = _unreferenced(providers, store, ids)
    duplicate_orders = len(unreferenced)

    provider_calls = sum(len(fp.calls) - base_calls[p] for p, fp in providers.items())
    sns = len(publisher.published) - base_sns
    s3_puts = len(artifacts.objects) - base_s3
    gb_s = (cpu_s + paced[0] + ddb_calls * DDB_CALL_S + provider_calls * PROVIDER_CALL_S) * LAMBDA_GB
    item_bytes = sum(units.size(c) for c in store.certificates()) + 600 * sum(len(store.all_events(c)) for c in ids)
    usd = (gb_s * PRICES["lambda_gb_s"] + invocations * PRICES["lambda_request"]
           + rru * PRICES["ddb_rru"] + wru * PRICES["ddb_wru"] + item_bytes / 1e9 * PRICES["ddb_gb_month"] * 12
           + s3_puts * PRICES["s3_put"] + s3_puts * 6000 / 1e9 * PRICES["s3_gb_month"] * 6
           + sns * PRICES["sns_publish"])
    n = run.certs / (365 / run.days)  # certificate-years simulated
    published_twice = len(publisher.published) - len({e.event_id for e in publisher.published})
    return {
        "certs": run.certs, "rules": run.rules, "engine": run.engine,
        "expired_without_successor": expired_without_successor,
        "late_renewals": late, "late_notices": late_notices, "duplicate_notices": duplicate_notices,
        "duplicate_orders": duplicate_orders,
        "provider_calls_per_renewal": round(provider_calls / renewals, 2) if renewals else None,
        "ddb_rcu_per_cert_year": round(rru / n, 2), "ddb_wcu_per_cert_year": round(wru / n, 2),
        "lambda_gb_s_per_cert_year": round(gb_s / n, 4), "usd_per_cert_year": round(usd / n, 6),
        "_usd_split": {"lambda": round((gb_s * PRICES["lambda_gb_s"] + invocations * PRICES["lambda_request"]) / n, 7),
                       "dynamodb": round((rru * PRICES["ddb_rru"] + wru * PRICES["ddb_wru"]
                                          + item_bytes / 1e9 * PRICES["ddb_gb_month"] * 12) / n, 7),
                       "s3_sns": round((s3_puts * PRICES["s3_put"] + s3_puts * 6000 / 1e9 * PRICES["s3_gb_month"] * 6
                                        + sns * PRICES["sns_publish"]) / n, 7)},
        "_item_kb_mean": round(sum(units.size(c) for c in store.certificates()) / max(1, run.certs) / 1024, 2),
        "_days": run.days, "_ddb_calls_per_cert_year": round(ddb_calls / n, 1),
        "_ddb_calls_by_op": {k: v for k, v in sorted(ops.items()) if v},
        "_rcu_per_cert_year_by": {k: round(v / n, 2) for k, v in rru_by.most_common() if v},
        **({"_by_owner_wcu_per_cert_year": round(by_owner_wcu / n, 2)} if engine is not None else {}),
        "_windows_open_at_start": late_at_start, "_notices_due_at_start": notices_due_at_start, "_paced_s": round(paced[0], 1), "_renewals": renewals, "_lost_answers": sum(fp.lost for fp in providers.values()),
        "_orders_in_flight_at_end": in_flight_at_end - duplicate_orders,
        "_duplicate_order_refs": [f"{p}:{oid} for {ref} placed {placed}" for p, oid, ref, placed in unreferenced[:5]],
        "_invocations": invocations, "_events_published_twice": published_twice,
        "_final": dict(Counter(c.public_status for c in store.certificates())),
        "_setup_s": round(setup_s, 1), "_year_s": round(year_s, 1),
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--certs", type=int, default=1000)
    ap.add_argument("--rules", choices=sorted(RULES), default="2026")
    ap.add_argument("--engine", choices=["fakes", "moto"], default="fakes",
                    help="fakes: in-memory ports; moto: the app's DynamoDB adapter over a patched in-process moto")
    ap.add_argument("--days", type=int, default=365, help="days simulated (per-certificate-year figures scaled)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--lost-rate", type=float, default=Run.lost_rate, help="share of create answers lost after commit")
    args = ap.parse_args(argv)
    for name in ("certgate", "chalicelib"):
        logging.getLogger(name).setLevel(logging.ERROR)
    out = fleet_year(Run(certs=args.certs, rules=args.rules, seed=args.seed, engine=args.engine, days=args.days,
                         lost_rate=args.lost_rate))
    for k, v in out.items():
        print(f"{k:30} {v}")
    print(json.dumps({k: v for k, v in out.items() if not k.startswith("_")}))


if __name__ == "__main__":
    main()
