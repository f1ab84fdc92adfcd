"""Read amplification: DynamoDB items one poll_pending run reads with 10,000 issued and 50 due
certificates in the table. A count, not a time: the same on any machine.

  .venv/bin/python -m bench.read_amplification [--issued 10000] [--due 50]

Set-up (bench/harness.py): the issued certificates are written directly with BatchWriteItem, items
shaped by CertificateStore.to_item (no S3 objects, events or reference rows: the poller must not read
them anyway). The due ones are orders at the Resello simulator (POST /_sim/seed): four in five still
pending there except `--issuing` (default 2) already active, so the run also takes the issuance path
(download, S3, SNS, outbox) and not only the "still pending" one. Only a few: each issuance is a
TransactWriteItems, which moto makes O(table size) (~8 s each with 10,000 items, see
harness.patient_store); the count per issuance does not depend on how many there are.

Counted two ways: CertificateStore.items_read (every item the store's reads hand back) and the
items in DynamoDB's own responses (Count of Query/Scan, Item of GetItem, ...) seen by a botocore
hook on the same client -- the second also catches reads that bypass the store's counter."""

from __future__ import annotations

import argparse
import datetime as dt
import time

from bench import harness
from bench.measure import Figure, report, say
from bench.polling import PollBench

GOAL = 60
PROVIDER = "resello"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--issued", type=int, default=10_000)
    parser.add_argument("--due", type=int, default=50)
    parser.add_argument("--issuing", type=int, default=2)
    args = parser.parse_args(argv)
    with harness.world() as w:
        pb = PollBench(w, big_table=True)
        now = dt.datetime.now(dt.UTC)
        started = time.perf_counter()
        harness.write_certificates(pb.store, (harness.issued_certificate(PROVIDER, i, now) for i in range(args.issued)))
        say(f"wrote {args.issued} issued certificates in {time.perf_counter() - started:.1f} s")
        active = min(args.issuing, args.due)
        due_at = now - dt.timedelta(minutes=1)
        certs = harness.pending_at_simulator(w, pb.store, PROVIDER, args.due - active, due_at)
        certs += harness.pending_at_simulator(w, pb.store, PROVIDER, active, due_at, sim_status="active")
        run = pb.run(now)
    say(f"poll_pending: {run.stats} in {run.seconds:.2f} s (due-index read {run.listing_seconds:.2f} s)")
    say(f"DynamoDB calls during the run: {dict(sorted(run.calls.items()))}")
    say(f"items read: CertificateStore.items_read {run.items_read}, items in DynamoDB responses {run.items_returned}")
    if run.stats.get("due") != args.due:
        say(f"WARNING: the run saw {run.stats.get('due')} due certificates, expected {args.due}")
    measured = max(run.items_read, run.items_returned)
    report(Figure("read amplification", measured, GOAL, " items",
                  f"one poll run, {args.issued} issued + {args.due} due ({active} issued at the provider during "
                  f"the run): store.items_read {run.items_read}, items in responses {run.items_returned} "
                  f"= {measured / args.due:.2f} per due certificate"))


if __name__ == "__main__":
    main()
