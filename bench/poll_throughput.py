"""Poll throughput: one jobs.poll_pending run over 1,000 due pending certificates with 100 ms of
provider latency, against the ideal n x latency / concurrency.

  .venv/bin/python -m bench.poll_throughput [--count 1000] [--latency-ms 100] [--repetitions 3]

Set-up (bench/harness.py): the orders are created at the Resello simulator with POST /_sim/seed
(status pending; they stay pending, nothing advances them) and their certificates are written to
the table with BatchWriteItem, due a minute ago. Bypassed: the order use case (validation, intent,
provider create, REF# rows, audit events) -- none of which the poller reads. Everything goes to one
provider, so the concurrency in the ideal is CERTGATE_POLL_CONCURRENCY (per provider).

Each repetition is one full run as of a later `now` (every certificate due again), interleaved
with the floor: the same 1,000 status checks through the same adapter and concurrency, no store."""

from __future__ import annotations

import argparse
import datetime as dt
import statistics

from bench import harness
from bench.measure import Figure, report, say
from bench.polling import PollBench, PollRun

GOAL = 1.25
PROVIDER = "resello"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--latency-ms", type=int, default=100)
    parser.add_argument("--repetitions", type=int, default=3)
    args = parser.parse_args(argv)
    with harness.world() as w:
        pb = PollBench(w)
        now = dt.datetime.now(dt.UTC)
        certs = harness.pending_at_simulator(w, pb.store, PROVIDER, args.count, now - dt.timedelta(minutes=1))
        put_ms = harness.moto_put_latency_ms(pb.store)
        pb.provider_calls_only(PROVIDER, certs[:20])  # warm: credentials, adapter, HTTP session
        w.faults(PROVIDER, latency_ms=args.latency_ms)
        conc = pb.concurrency
        ideal = args.count * args.latency_ms / 1000 / conc
        say(f"{args.count} pending {PROVIDER} certificates due; simulator latency {args.latency_ms} ms; "
            f"CERTGATE_POLL_CONCURRENCY={conc} (per provider); ideal {ideal:.2f} s")
        runs: list[PollRun] = []
        floors: list[float] = []
        for k in range(args.repetitions):
            at = now + dt.timedelta(days=k + 1)
            if k % 2:
                floors.append(pb.provider_calls_only(PROVIDER, certs))
                runs.append(pb.run(at))
            else:
                runs.append(pb.run(at))
                floors.append(pb.provider_calls_only(PROVIDER, certs))
            say(f"  run {k + 1}: poll_pending {runs[-1].seconds:.2f} s {runs[-1].stats}; "
                f"provider calls alone {floors[-1]:.2f} s")
        w.clear_faults()
    run_s = statistics.median(r.seconds for r in runs)
    floor_s = statistics.median(floors)
    refreshed = min(r.refreshed for r in runs)
    if refreshed != args.count:
        say(f"WARNING: a run refreshed only {refreshed} of {args.count} certificates")
    listing_s = statistics.median(r.listing_seconds for r in runs)
    work_s = statistics.median(r.seconds - r.listing_seconds for r in runs)
    per_cert_ms = work_s * conc / args.count * 1000
    say(f"poll_pending median {run_s:.2f} s = {run_s / ideal:.2f}x ideal, {run_s / floor_s:.2f}x the provider calls "
        f"alone ({floor_s:.2f} s = {floor_s / ideal:.2f}x ideal)")
    say(f"  of which reading the due index (moto Query, {args.count} items, all pages read before the first "
        f"provider call) {listing_s:.2f} s; refreshing {work_s:.2f} s = {work_s / ideal:.2f}x ideal "
        f"({per_cert_ms:.1f} ms per certificate per worker for {args.latency_ms} ms of latency)")
    say(f"  moto: one conditional PutItem {put_ms:.1f} ms (each still-pending certificate is saved once per check)")
    report(Figure("poll throughput", run_s / ideal, GOAL, "x",
                  f"{args.count} due, {args.latency_ms} ms latency, CERTGATE_POLL_CONCURRENCY={conc}: median "
                  f"{run_s:.2f} s of {len(runs)} runs vs ideal {ideal:.2f} s; due-index read (moto) {listing_s:.2f} s "
                  f"+ refresh {work_s:.2f} s ({work_s / ideal:.2f}x); moto PutItem {put_ms:.1f} ms"))


if __name__ == "__main__":
    main()
