"""Scaling: one poll_pending run at 100 / 1,000 / 10,000 due pending certificates (100 ms provider
latency), to show how a run's time and the items it reads grow with the backlog.

  .venv/bin/python -m bench.scaling [--sizes 100,1000,10000] [--uncapped 10000] [--latency-ms 100]

Each size gets a fresh world (moto + simulators) holding only that backlog, set up as in
poll_throughput.py (Resello orders via /_sim/seed, certificates via BatchWriteItem, all due), and
one run with the app's settings as configured: a run refreshes at most CERTGATE_POLL_BATCH_LIMIT
certificates (2,000 by default) and leaves the rest for the next scheduled run, so the table also
says how many runs drain the backlog. The `--uncapped` sizes are run once more with
CERTGATE_POLL_BATCH_LIMIT raised to the backlog: one run that has to refresh all of them. The store's client waits longer than the app's 10 s for moto
(harness.patient_store): moto's Query over a 10,000-item table is slow, DynamoDB's is not."""

from __future__ import annotations

import argparse
import datetime as dt
import math
import time

from bench import harness
from bench.measure import Figure, report, say
from bench.polling import PollBench, PollRun

PROVIDER = "resello"


def one_size(due: int, latency_ms: int, batch_limit: int | None = None) -> tuple[PollRun, int, int, float]:
    """(run, concurrency, batch limit, set-up seconds) for a backlog of `due` certificates."""
    with harness.world() as w, harness.environment(CERTGATE_POLL_BATCH_LIMIT=str(batch_limit) if batch_limit else None):
        pb = PollBench(w, big_table=True)
        now = dt.datetime.now(dt.UTC)
        started = time.perf_counter()
        harness.pending_at_simulator(w, pb.store, PROVIDER, due, now - dt.timedelta(minutes=1))
        setup_s = time.perf_counter() - started
        w.faults(PROVIDER, latency_ms=latency_ms)
        return pb.run(now), pb.concurrency, pb.batch_limit, setup_s


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--uncapped", default="10000", help="sizes to run again with the batch limit raised")
    parser.add_argument("--latency-ms", type=int, default=100)
    args = parser.parse_args(argv)
    sizes: list[tuple[int, int | None]] = [(int(s), None) for s in args.sizes.split(",") if s]
    sizes += [(int(s), int(s)) for s in args.uncapped.split(",") if s]
    rows = []
    say("| due | batch limit | refreshed | run s | due-index read s | ideal s | run / ideal | items read | read per refreshed "
        "| runs to drain |")
    say("|---|---|---|---|---|---|---|---|---|---|")
    for due, raised in sizes:
        run, conc, limit, setup_s = one_size(due, args.latency_ms, raised)
        ideal = run.refreshed * args.latency_ms / 1000 / conc
        rows.append((due, run, ideal))
        say(f"| {due} | {limit} | {run.refreshed} | {run.seconds:.1f} | {run.listing_seconds:.1f} | {ideal:.1f} | "
            f"{run.seconds / ideal:.2f} | {run.items_read} | {run.items_read / max(1, run.refreshed):.2f} | "
            f"{math.ceil(due / limit)} |")
        say(f"  (set-up {setup_s:.1f} s; concurrency {conc}, batch limit {limit}; DynamoDB calls {run.calls})")
        if run.refreshed < due:
            per_cert = (run.seconds - run.listing_seconds) / run.refreshed
            listing_per_item = run.listing_seconds / run.refreshed
            say(f"  extrapolated linearly from this run (an uncapped row measures it): one run over all {due} "
                f"~{due * (per_cert + listing_per_item):.0f} s here, of which ~{due * listing_per_item:.0f} s "
                f"reading moto's due index; ideal {due * args.latency_ms / 1000 / conc:.0f} s")
    (small, s_run, _), (big, b_run, _) = rows[0], max(rows, key=lambda r: (r[1].refreshed, r[0]))
    per_small = s_run.seconds / max(1, s_run.refreshed)
    per_big = b_run.seconds / max(1, b_run.refreshed)
    report(Figure("scaling", per_big / per_small, None, "x",
                  f"run time per refreshed certificate at {big} due vs at {small} due (1 = linear); "
                  f"items read per refreshed certificate {b_run.items_read / max(1, b_run.refreshed):.2f} at {big}"))


if __name__ == "__main__":
    main()
