"""The local engine at fleet size (issue 17 item 7): what one create and one index read cost in the
in-process moto as the table grows, with devstack.moto_patch and with moto's own code.

  .venv/bin/python -m bench.moto_scale [--sizes 1000,10000,100000] [--repetitions 5]
                                       [--unpatched-up-to 10000]

One ThreadedMotoServer (as `make run`), certgate's table (chalicelib/adapters/dynamodb/schema.py),
filled straight into moto's backend with `sizes` issued certificates shaped by
CertificateStore.to_item (the fill is set-up, not measured). Through boto3 over HTTP, as the app:
- create: `CertificateStore.create` — one TransactWriteItems of certificate + idempotency record +
  `certificate.requested` event (the gateway's intent write);
- index read: `CertificateStore.expiring(limit=100)` — one Query per expiry shard (4), 100 items.
Patched and unpatched repetitions are interleaved (the patch is switched between them, each side
on its own copy of the table); the median of each is reported, and the ratio unpatched/patched.
moto's own TransactWriteItems deep-copies the whole table once per item of the transaction: at
100,000 items the unpatched side runs once (about a minute per operation); `--unpatched-up-to`
leaves it out above that size."""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

from bench import harness
from bench.measure import Figure, report, say

GOAL = 1.5  # patched cost per operation at the largest size / at the smallest (1 = flat)


def _fill(backend: Any, table_name: str, store: Any, count: int, now: dt.datetime) -> None:
    """Set-up only: `count` issued certificates straight into moto's table (no validation, no
    condition, no hooks; patched tables build their indexes from the table on their first query).
    300 distinct shapes from harness.issued_certificate, each copied under fresh ids: the same item
    sizes and index spread, many times faster than building each one."""
    import copy

    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    from chalicelib.core.model import new_certificate_id, shard_of

    table = backend.get_table(table_name)
    shapes = []
    for i in range(300):
        attrs = store._s(store.to_item(harness.issued_certificate("resello", i, now)))
        shapes.append(Item(DynamoType(attrs["pk"]), DynamoType(attrs["sk"]), attrs))
    for i in range(count):
        cid = new_certificate_id()
        item = copy.deepcopy(shapes[i % 300])
        item.hash_key = DynamoType({"S": f"CERT#{cid}"})
        for name, value in (("pk", item.hash_key), ("id", DynamoType({"S": cid})),
                            ("expiry_bucket", DynamoType({"S": f"E#{shard_of(cid, store.shards)}"}))):
            dict.__setitem__(item.attrs, name, value)
        table.items[item.hash_key][item.range_key] = item


def _create(store: Any, now: dt.datetime) -> None:
    from chalicelib.core.model import (
        Certificate,
        Event,
        IdempotencyRecord,
        Revision,
        San,
        Status,
        iso,
        new_certificate_id,
    )

    cid = new_certificate_id()
    name = f"{cid[4:16]}.bench.example.com"
    at = iso(now) or ""
    cert = Certificate(id=cid, owner=harness.OWNER, provider="resello", common_name=name, status=Status.SUBMITTING,
                       created_at=at, updated_at=at, version=1, product="dv", sans=(San("dns", name),),
                       dcv_method="dns", validity_days=199, revision=1, revisions=(Revision(1, "order"),),
                       operation="order", next_poll_at=at)
    idem = IdempotencyRecord(owner=harness.OWNER, key=uuid.uuid4().hex, body_hash="0" * 64, certificate_id=cid,
                             created_at=at)
    store.create(cert, [Event(cid, "certificate.requested", at, harness.OWNER, to_status="submitting")], idem)


def _timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--unpatched-up-to", type=int, default=100000)
    args = parser.parse_args(argv)
    sizes = [int(x) for x in args.sizes.split(",")]

    import boto3
    from botocore.config import Config
    from moto.dynamodb.models import dynamodb_backends

    from chalicelib.adapters.dynamodb import schema
    from chalicelib.adapters.dynamodb.store import CertificateStore
    from devstack import moto_patch

    now = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    rows: list[dict[str, Any]] = []
    with harness.world() as w:
        client = boto3.client("dynamodb", endpoint_url=w.moto_url, region_name=harness.REGION,
                              aws_access_key_id="testing", aws_secret_access_key="testing",
                              config=Config(read_timeout=900, retries={"max_attempts": 1}))
        backend = dynamodb_backends[harness.ACCOUNT][harness.REGION]
        for n in sizes:
            sides = ["patched"] + (["unpatched"] if n <= args.unpatched_up_to else [])
            stores: dict[str, Any] = {}
            for side in sides:
                name = f"scale-{side}-{n}"
                client.create_table(**schema.table_definition(name))
                store = CertificateStore(lambda: client, name)
                t0 = time.perf_counter()
                _fill(backend, name, store, n, now)
                say(f"{n} items in {name} in {time.perf_counter() - t0:.1f} s (set-up)")
                stores[side] = store
            until = now + dt.timedelta(days=400)
            times: dict[tuple[str, str], list[float]] = {(s, op): [] for s in sides for op in ("create", "query")}
            reps = args.repetitions
            unpatched_reps = reps if n < 10000 else (2 if n < 100000 else 1)  # minutes each
            for r in range(reps):
                order = sides if r % 2 == 0 else list(reversed(sides))
                for side in order:
                    if side == "unpatched" and r >= unpatched_reps:
                        continue
                    (moto_patch.install if side == "patched" else moto_patch.uninstall)()
                    store = stores[side]
                    list(store.expiring(until, 1))  # untimed: a patched table (re)builds its index here
                    times[(side, "create")].append(_timed(lambda s=store: _create(s, now)))
                    times[(side, "query")].append(_timed(lambda s=store, u=until: list(s.expiring(u, 100))))
            moto_patch.install()
            row: dict[str, Any] = {"items": n}
            for side in sides:
                for op in ("create", "query"):
                    row[f"{side} {op}"] = statistics.median(times[(side, op)]) * 1000
            rows.append(row)
            say("  " + ", ".join(f"{k} {v:.1f} ms" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()))
            for side in sides:  # free the memory before the next size
                client.delete_table(TableName=stores[side].table)

    say("\n| items | create patched ms | create unpatched ms | create ratio | query patched ms "
        "| query unpatched ms | query ratio |")
    say("|---|---|---|---|---|---|---|")
    for row in rows:
        cells = [f"{row['items']:,}"]
        for op in ("create", "query"):
            p, u = row[f"patched {op}"], row.get(f"unpatched {op}")
            cells += [f"{p:.1f}", f"{u:.1f}" if u is not None else "–", f"{u / p:.0f}×" if u is not None else "–"]
        say("| " + " | ".join(cells) + " |")
    first, last = rows[0], rows[-1]
    growth = max(last["patched create"] / first["patched create"], last["patched query"] / first["patched query"])
    report(Figure("moto scale", growth, GOAL, "x",
                  f"patched per-op cost at {last['items']:,} items / at {first['items']:,} (worse of create and "
                  f"index read): create {first['patched create']:.1f} -> {last['patched create']:.1f} ms, read "
                  f"{first['patched query']:.1f} -> {last['patched query']:.1f} ms"))


if __name__ == "__main__":
    main()
