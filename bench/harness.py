"""The benchmarks' world, set up like tests/functional/conftest.py: an in-process ThreadedMotoServer
(made atomic per request and O(touched items) per operation by devstack.moto_patch, as there) and
the three provider simulators (SimServer) on free ports, the app's environment pointing at them,
resources seeded with the devstack.seed functions, and the app's own service from the container.

Also the fast set-up paths the benchmarks use instead of the order use case, and what they bypass:
- `seed_sim_orders` creates orders at a simulator through its admin endpoint POST /_sim/seed (no
  provider API call, no validation);
- `write_certificates` writes Certificate items (shaped by CertificateStore.to_item) with
  BatchWriteItem: no idempotency record, no audit events, no REF# provider-reference rows, no
  conditional check. The poller reads none of those, so polling is measured as it runs in
  production; only the set-up is cheaper.

Everything runs in one interpreter (2 cores, one GIL): moto's and the simulators' server-side work
competes with the code under test. Benchmarks report moto's own latency so that is visible."""

from __future__ import annotations

import datetime as dt
import logging
import statistics
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import requests

from chalicelib.core.model import Certificate, Revision, San, Status, iso, new_certificate_id
from devstack.local_env import free_port, patched_environ
from simulators import simulator_classes

REGION = "us-east-1"
ACCOUNT = "123456789012"
STAGE = "test"  # a local stage: the app accepts plain-HTTP simulators and the principal header
OWNER = "bench"
BATCH = 25  # BatchWriteItem's maximum

logging.getLogger("werkzeug").setLevel(logging.ERROR)


def without_simulator_nagle() -> None:
    """The simulators' HTTP handler writes the status/headers and the body in two small segments
    with Nagle's algorithm on; the client's delayed ACK then holds every response ~40 ms (measured:
    an unloaded GET takes 44 ms instead of 6 ms). That stall belongs to the stdlib test server, not to
    a provider or to certgate, so benchmarks switch Nagle off for the simulators they start (the
    same one-line setting belongs in simulators/base.py)."""
    from simulators.base import _HTTPHandler

    _HTTPHandler.disable_nagle_algorithm = True


def bench_environment(moto_url: str) -> dict[str, str]:
    """The `test` stage's variables from .chalice/config.json (chalice.test.Client patches them into
    os.environ on every request, so the names must agree), pointed at this moto. CERTGATE_POLL_*
    settings the caller exported (e.g. CERTGATE_POLL_CONCURRENCY) are kept, so a run can be repeated
    with other values."""
    from devstack.conventions import stage_environment

    env = {k: v for k, v in stage_environment(stage=STAGE).items() if not k.startswith("AWS_")}
    env.update({
        "AWS_DEFAULT_REGION": REGION, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ENDPOINT_URL": moto_url,
        # Benchmarks time the app, not its debug logging.
        "LOG_LEVEL": "WARNING", "POWERTOOLS_LOG_LEVEL": "WARNING",
    })
    return env


@dataclass
class World:
    moto_url: str
    sims: dict[str, Any]  # provider -> SimServer
    env: dict[str, str]
    _session: requests.Session = field(default_factory=requests.Session)

    def aws(self, service: str) -> Any:
        import boto3

        return boto3.client(service, endpoint_url=self.moto_url, region_name=REGION,
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def sim_url(self, provider: str) -> str:
        return str(self.sims[provider].url)

    def _sim(self, method: str, provider: str, path: str, body: Any = None) -> Any:
        resp = self._session.request(method, self.sim_url(provider) + path, json=body, timeout=120)
        resp.raise_for_status()
        return resp.json()

    def faults(self, provider: str, **faults: Any) -> None:
        self._sim("PUT", provider, "/_sim/faults", faults)

    def clear_faults(self) -> None:
        for p in self.sims:
            self._sim("DELETE", p, "/_sim/faults")

    def advance(self, provider: str) -> Any:
        return self._sim("POST", provider, "/_sim/advance")

    def seed_sim_orders(self, provider: str, count: int, status: str) -> list[str]:
        """Orders created at the simulator directly (POST /_sim/seed), at most 5,000 per call."""
        ids: list[str] = []
        while len(ids) < count:
            chunk = min(5000, count - len(ids))
            out = self._sim("POST", provider, "/_sim/seed", {"count": chunk, "status": status,
                                                              "common_name_prefix": f"bench-{uuid.uuid4().hex[:6]}-"})
            ids += [str(i) for i in out["ids"]]
        return ids

    def service(self) -> Any:
        from chalicelib.bootstrap import service

        return service()


@contextmanager
def environment(**values: str | None) -> Iterator[None]:
    """Set (or, for None, leave alone) environment variables for the block and forget the app's
    cached settings and service, so what is built inside the block reads them."""
    from chalicelib import bootstrap as container

    with patched_environ({k: v for k, v in values.items() if v is not None}):
        container.reset()
        try:
            yield
        finally:
            container.reset()

@contextmanager
def world() -> Iterator[World]:
    """Start moto and the simulators, point the app at them, seed, and tear everything down."""
    from moto.server import ThreadedMotoServer

    from chalicelib import bootstrap as container
    from devstack import moto_patch, seed
    from simulators.base import SimServer

    moto_patch.install()  # as the functional tests and `make run` do: atomic writes, O(1) in the table
    without_simulator_nagle()
    port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    moto_url = f"http://127.0.0.1:{port}"
    # moto's backends are process-wide and outlive a stopped server: without a reset, a second world
    # in the same process (bench/scaling.py) would find the previous world's table, items and all.
    requests.post(moto_url + "/moto-api/reset", timeout=30).raise_for_status()
    # Simulators as the functional tests build them: orders stay pending until /_sim/advance.
    sims = {name: SimServer(cls(), port=0).start() for name, cls in simulator_classes().items()}
    env = bench_environment(moto_url)
    w = World(moto_url=moto_url, sims=sims, env=env)
    try:
        with patched_environ(env, drop=("AWS_PROFILE", "AWS_SESSION_TOKEN")):
            seed.seed_app_environment(moto_url, env, {name: s.port for name, s in sims.items()}, STAGE)
            container.reset()
            yield w
    finally:
        for s in sims.values():
            s.stop()
        moto.stop()
        container.reset()

# -- certificates written directly --------------------------------------------------------------
def pending_certificate(provider: str, provider_order_id: str, due_at: dt.datetime) -> Certificate:
    """A certificate as the order use case leaves it once the provider accepted the order."""
    now = iso(due_at - dt.timedelta(minutes=5)) or ""
    cid = new_certificate_id()
    name = f"{cid[4:16]}.bench.example.com"
    return Certificate(
        id=cid, owner=OWNER, provider=provider, common_name=name, status=Status.PENDING, created_at=now,
        updated_at=now, version=2, product="dv", sans=(San("dns", name),), dcv_method="dns",
        validity_days=397, provider_order_id=provider_order_id, provider_status="pending", revision=1,
        revisions=(Revision(1, "order"),), operation="order", poll_attempts=1, next_poll_at=iso(due_at),
        submit_attempts=1, submitted_at=now)


def issued_certificate(provider: str, index: int, now: dt.datetime) -> Certificate:
    """An issued certificate as the poller leaves it (no PEMs: those live in S3 and are not read)."""
    cid = new_certificate_id()
    name = f"{cid[4:16]}.bench.example.com"
    issued = now - dt.timedelta(days=1 + index % 300)
    not_after = issued + dt.timedelta(days=397)
    rev = Revision(1, "order", provider_order_id=f"bench-{index}", serial=f"{index:032x}",
                   not_before=iso(issued), not_after=iso(not_after), issued_at=iso(issued),
                   s3_prefix=f"certificates/{cid}/r1/")
    return Certificate(
        id=cid, owner=OWNER, provider=provider, common_name=name, status=Status.ISSUED, created_at=iso(issued) or "",
        updated_at=iso(issued) or "", version=3, product="dv", sans=(San("dns", name),),
        dcv_method="dns", validity_days=397, provider_order_id=f"bench-{index}", provider_status="active",
        revision=1, revisions=(rev,), not_before=iso(issued), not_after=iso(not_after), serial=f"{index:032x}",
        fingerprint_sha256="00" * 32, issuer="Bench CA", submit_attempts=1)


def write_certificates(store: Any, certs: Iterable[Certificate]) -> int:
    """BatchWriteItem the certificates' items (CertificateStore.to_item), retrying unprocessed ones."""
    client = store.client
    batch: list[dict[str, Any]] = []
    written = 0

    def flush() -> None:
        requests_ = {store.table: [{"PutRequest": {"Item": store._s(store.to_item(c))}} for c in batch]}
        while requests_:
            out = client.batch_write_item(RequestItems=requests_)
            requests_ = out.get("UnprocessedItems") or {}
            if requests_:
                time.sleep(0.05)

    for cert in certs:
        batch.append(cert)
        if len(batch) == BATCH:
            flush()
            written += len(batch)
            batch = []
    if batch:
        flush()
        written += len(batch)
    return written


def pending_at_simulator(w: World, store: Any, provider: str, count: int, due_at: dt.datetime,
                         sim_status: str = "pending") -> list[Certificate]:
    """`count` orders at the simulator and their certificates in the table, all due at `due_at`."""
    ids = w.seed_sim_orders(provider, count, sim_status)
    certs = [pending_certificate(provider, oid, due_at) for oid in ids]
    write_certificates(store, certs)
    return certs


def patient_store(svc: Any, read_timeout_s: float = 300.0) -> Any:
    """Give the service a CertificateStore whose DynamoDB client waits `read_timeout_s` for an answer.

    moto's TransactWriteItems deep-copies the whole table once per item in the transaction (its
    rollback backup): with 10,000 items one two-item transaction takes ~8 s here, against ~20 ms on
    DynamoDB, and the app's 10 s read timeout (chalicelib/aws.py) would turn it into a retried write.
    Only benchmarks that fill the table use this; the store class and its settings are the app's."""
    import boto3
    from botocore.config import Config

    from chalicelib.adapters.dynamodb.store import CertificateStore

    cfg = svc.cfg
    client = boto3.client("dynamodb", region_name=cfg.region, endpoint_url=cfg.aws_endpoint_url,
                          config=Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=3,
                                        read_timeout=read_timeout_s, max_pool_connections=32))
    svc.store = CertificateStore(lambda: client, cfg.table_name, shards=cfg.poll_shards)
    return svc.store


# -- DynamoDB observation ------------------------------------------------------------------------
class ReadCounter:
    """Counts items DynamoDB returned to one boto3 client, from the responses themselves (a cross-check
    of CertificateStore.items_read, which only counts reads that go through its own methods)."""

    def __init__(self, client: Any) -> None:
        self.items = 0
        self.calls: dict[str, int] = {}
        client.meta.events.register("after-call.dynamodb", self._after)

    def _after(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        op = model.name
        self.calls[op] = self.calls.get(op, 0) + 1
        if op in ("Query", "Scan"):
            self.items += int(parsed.get("Count") or 0)
        elif op == "GetItem" and parsed.get("Item"):
            self.items += 1
        elif op == "BatchGetItem":
            self.items += sum(len(v) for v in (parsed.get("Responses") or {}).values())
        elif op == "TransactGetItems":
            self.items += sum(1 for r in parsed.get("Responses") or [] if r.get("Item"))

    def reset(self) -> None:
        self.items = 0
        self.calls = {}


class CallTimer:
    """Wall time spent inside DynamoDB calls of one boto3 client, per operation (thread-safe enough for
    the sequential paths it is used on: one request at a time)."""

    def __init__(self, client: Any) -> None:
        self._started: dict[int, float] = {}
        self.ms: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        client.meta.events.register("before-call.dynamodb", self._before)
        client.meta.events.register("after-call.dynamodb", self._after)

    def _before(self, **_: Any) -> None:
        self._started[threading.get_ident()] = time.perf_counter()

    def _after(self, model: Any, **_: Any) -> None:
        started = self._started.pop(threading.get_ident(), None)
        if started is not None:
            self.ms[model.name] = self.ms.get(model.name, 0.0) + (time.perf_counter() - started) * 1000
            self.counts[model.name] = self.counts.get(model.name, 0) + 1

    def reset(self) -> None:
        self.ms = {}
        self.counts = {}

    @property
    def total_ms(self) -> float:
        return sum(self.ms.values())


def moto_put_latency_ms(store: Any, samples: int = 50) -> float:
    """Median latency of one conditional PutItem of a certificate item against this moto: what each
    poll of a still-pending certificate pays on top of the provider call."""
    client = store.client
    cert = pending_certificate("resello", "latency-probe", dt.datetime.now(dt.UTC))
    item = store._s(store.to_item(cert))
    client.put_item(TableName=store.table, Item=item)
    times = []
    for previous in range(cert.version, cert.version + samples):
        item["version"] = {"N": str(previous + 1)}
        started = time.perf_counter()
        client.put_item(TableName=store.table, Item=item, ConditionExpression="#v = :v",
                        ExpressionAttributeNames={"#v": "version"},
                        ExpressionAttributeValues={":v": {"N": str(previous)}})
        times.append(time.perf_counter() - started)
    client.delete_item(TableName=store.table, Key={"pk": item["pk"], "sk": item["sk"]})
    return statistics.median(times) * 1000
