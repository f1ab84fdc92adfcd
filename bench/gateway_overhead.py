"""Gateway overhead: ordering a certificate through certgate's API vs asking the provider directly,
both at 200 ms of injected provider latency.

  .venv/bin/python -m bench.gateway_overhead [--latency-ms 200] [--repetitions 21]

A: POST /certificates through chalice.test.Client (in-process: the real route, the API edge,
   validation of the CSR, the intent write, the provider call, the transaction recording the
   provider's answer), for Resello with a client-supplied CSR (RSA 2048).
B: the Resello adapter's submit_order alone (the same HTTP layer, credentials cached), with the
   OrderRequest the service builds for the same kind of certificate.
Every request gets a fresh CSR and common name (made before the clock starts). Interleaved, median.
Not through HTTP: chalice local would add its own dev server to A and nothing to B."""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import uuid
import warnings
from typing import Any

from bench import harness
from bench.measure import Figure, interleaved, report, say, timed

GOAL = 1.05  # issue 17 (was 1.10, issue 15)
PROVIDER = "resello"
WARMUP = 3


def _csr(common_name: str) -> str:
    from cryptography.hazmat.primitives import serialization

    from simulators.ca import build_csr, generate_key

    return build_csr(generate_key("rsa", 2048), common_name).public_bytes(serialization.Encoding.PEM).decode()


def _size(value: dict[str, Any]) -> int:
    """An attribute value's size by DynamoDB's rules (UTF-8 strings and names, ~1 byte per 2 digits,
    3 bytes per map or list plus 1 per element)."""
    (kind, v), = value.items()
    if kind in ("S", "B"):
        return len(v.encode() if isinstance(v, str) else v)
    if kind == "N":
        return len(v) // 2 + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + _size(x) + 1 for k, x in v.items())
    if kind == "L":
        return 3 + sum(_size(x) + 1 for x in v)
    return sum(len(x.encode()) for x in v)  # SS


def write_units(operation: str, params: dict[str, Any]) -> int:
    """Table write units of one write request (index writes not included): 1 per started KB of
    each item, twice that inside a transaction."""
    def units(item: dict[str, Any]) -> int:
        return max(1, -(-sum(len(k.encode()) + _size(v) for k, v in item.items()) // 1024))

    if operation == "PutItem":
        return units(params["Item"])
    if operation == "TransactWriteItems":
        return sum(2 * (units(op["Put"]["Item"]) if "Put" in op else 1) for op in params["TransactItems"])
    return 1 if operation in ("UpdateItem", "DeleteItem") else 0


def _name() -> str:
    return f"gw-{uuid.uuid4().hex[:12]}.bench.example.com"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--latency-ms", type=int, default=200)
    parser.add_argument("--repetitions", type=int, default=21)
    args = parser.parse_args(argv)
    from chalice.test import Client

    # chalice's local mode says it does not enforce IAM auth; certgate's own principal check still runs.
    warnings.filterwarnings("ignore", message="IAMAuthorizer is not a supported in local mode")

    from chalicelib import bootstrap as registry
    from chalicelib.core.model import San, new_certificate_id

    with harness.world() as w:
        from app import app

        svc = w.service()
        headers = {"Content-Type": "application/json", "Accept": "application/json",
                   "X-Certgate-Principal": harness.OWNER}
        dynamo = harness.CallTimer(svc.store.client)
        dynamo_ms: list[float] = []
        op_ms: dict[str, list[float]] = {}  # per DynamoDB operation, per order
        calls: dict[str, int] = {}  # DynamoDB operations of the last order through the API
        wcu: list[int] = []  # table write units of the order in flight

        def count_units(model: Any, params: dict[str, Any], **_: Any) -> None:
            wcu.append(write_units(model.name, params))

        svc.store.client.meta.events.register("provide-client-params.dynamodb.*", count_units)
        units_per_order: list[int] = []
        with Client(app, stage_name=harness.STAGE) as client:

            def via_api() -> float:
                name = _name()
                body = json.dumps({"provider": PROVIDER, "common_name": name, "csr": _csr(name)}).encode()
                resp: list[Any] = []
                dynamo.reset()
                wcu.clear()
                took = timed(lambda: resp.append(client.http.post("/certificates", body=body, headers=headers)))
                dynamo_ms.append(dynamo.total_ms)
                for op, ms in dynamo.ms.items():
                    op_ms.setdefault(op, []).append(ms)
                calls.update(dynamo.counts)
                units_per_order.append(sum(wcu))
                if resp[0].status_code not in (201, 202):
                    raise RuntimeError(f"order failed: {resp[0].status_code} {resp[0].body[:300]!r}")
                return took

            for _ in range(WARMUP):
                via_api()
            listed, _ = svc.store.list_by_owner(harness.OWNER, limit=1, next_token=None)
            template = listed[0]
            adapter = registry.directory().get(PROVIDER)

            def direct() -> float:
                name = _name()
                cert = dataclasses.replace(template, id=new_certificate_id(), common_name=name,
                                           sans=(San("dns", name),), csr_pem=_csr(name))
                req = svc.order_request(cert)
                return timed(lambda: adapter.submit_order(req))

            for _ in range(WARMUP):
                direct()
            dynamo_ms.clear()
            op_ms.clear()
            w.faults(PROVIDER, latency_ms=args.latency_ms)
            paired = interleaved(via_api, direct, args.repetitions)
            w.clear_faults()
    added_ms = (paired.median_a - paired.median_b) * 1000
    say(paired.describe("API (chalice.test.Client)", "adapter.submit_order"))
    db_ms = statistics.median(dynamo_ms)
    say(f"the gateway adds {added_ms:.1f} ms to a {args.latency_ms} ms provider call; DynamoDB (moto) calls per "
        f"order: {calls} taking {db_ms:.1f} ms (median), the rest {added_ms - db_ms:.1f} ms")
    say(f"table write units per order (DynamoDB's rules, index writes not included): "
        f"{statistics.median(units_per_order):.0f}")
    say("median ms per order, by operation: " + ", ".join(f"{op} {statistics.median(v):.1f}"
                                                          for op, v in sorted(op_ms.items())))
    report(Figure("gateway overhead", paired.ratio, GOAL, "x",
                  f"POST /certificates via chalice.test.Client vs Resello submit_order, {args.latency_ms} ms latency, "
                  f"median of {args.repetitions} interleaved: {paired.median_a * 1000:.0f} vs "
                  f"{paired.median_b * 1000:.0f} ms (+{added_ms:.0f} ms, of which {db_ms:.0f} ms in moto "
                  f"DynamoDB calls {calls})"))


if __name__ == "__main__":
    main()
