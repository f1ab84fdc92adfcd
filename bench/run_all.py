"""`make bench`: every benchmark in its own fresh interpreter, one after another, then a summary.

  .venv/bin/python -m bench.run_all [--only cold_start,package_size] [--strict]

Each script's output streams through as it runs; its last line (RESULT ...) is collected. Exit
status 1 when a benchmark crashed or printed no result; with --strict, also when a goal was missed
(benchmarks on shared machines are evidence, not a gate, so that is off by default)."""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from bench.measure import RESULT_PREFIX

PROJECT = Path(__file__).resolve().parent.parent
# Quietest first: the cold start is the most sensitive to whatever else the machine does.
BENCHMARKS = ("cold_start", "package_size", "gateway_overhead", "poll_throughput", "read_amplification",
              "scaling", "moto_scale", "event_latency", "fleet_year_suite", "lambda_memory")


def run_one(name: str) -> tuple[str | None, float]:
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", f"bench.{name}"], cwd=PROJECT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, bufsize=1)
    result = None
    assert proc.stdout is not None
    for line in proc.stdout:
        sys.stdout.write(f"  {line}")
        if line.startswith(RESULT_PREFIX):
            result = line.strip()
    proc.wait()
    if proc.returncode != 0:
        result = None
    return result, time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default="", help="comma-separated subset of: " + ", ".join(BENCHMARKS))
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    args = parser.parse_args(argv)
    chosen = [b for b in args.only.split(",") if b] or list(BENCHMARKS)
    unknown = sorted(set(chosen) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmarks: {unknown}")
    started = time.monotonic()
    results: dict[str, str | None] = {}
    for name in chosen:
        print(f"== {name}", flush=True)
        results[name], took = run_one(name)
        print(f"== {name} done in {took:.0f} s", flush=True)
    print(f"\n== summary ({time.monotonic() - started:.0f} s)", flush=True)
    for name in chosen:
        print(results[name] or f"{RESULT_PREFIX} {name}: FAILED (no result; see its output above)", flush=True)
    crashed = any(r is None for r in results.values())
    missed = any(r is not None and " MISSED " in r for r in results.values())
    return 1 if crashed or (args.strict and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
