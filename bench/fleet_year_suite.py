"""`make bench`'s fleet-year: `bench.fleet_year` for both rule sets at 1,000 and 10,000
certificates (each in its own interpreter), a table, and how each figure grows from 1k to 10k
(1.00 = linear per certificate). RESULT: USD per certificate-year with 47-day certificates at 10k
(goal <= $0.001).

    .venv/bin/python -m bench.fleet_year_suite [--sizes 1000,10000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from bench.measure import Figure, report

PROJECT = Path(__file__).resolve().parent.parent
KEYS = ("expired_without_successor", "late_renewals", "late_notices", "duplicate_notices", "duplicate_orders",
        "provider_calls_per_renewal", "ddb_rcu_per_cert_year", "ddb_wcu_per_cert_year",
        "lambda_gb_s_per_cert_year", "usd_per_cert_year")


def one(certs: int, rules: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "bench.fleet_year", "--certs", str(certs), "--rules", rules],
                         cwd=PROJECT, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="1000,10000")
    sizes = [int(s) for s in ap.parse_args(argv).sizes.split(",")]
    rows = {(rules, n): one(n, rules) for rules in ("2026", "47d") for n in sizes}
    print("| rules | certs | " + " | ".join(KEYS) + " |")
    print("|---|---|" + "---|" * len(KEYS))
    for (rules, n), r in rows.items():
        print(f"| {rules} | {n:,} | " + " | ".join(str(r[k]) for k in KEYS) + " |", flush=True)
    if len(sizes) > 1:
        lo, hi = sizes[0], sizes[-1]
        for rules in ("2026", "47d"):
            growth = {k: round(rows[(rules, hi)][k] / rows[(rules, lo)][k], 2)
                      for k in KEYS[5:] if rows[(rules, lo)][k]}
            print(f"growth per certificate {lo:,} -> {hi:,} ({rules}): {growth}")
    top = rows[("47d", sizes[-1])]
    report(Figure("fleet-year cost (47-day, per certificate-year)", top["usd_per_cert_year"] * 1000, 1.0, " m$",
                  f"bench.fleet_year --rules 47d --certs {sizes[-1]}: expired without successor "
                  f"{top['expired_without_successor']}, duplicate orders {top['duplicate_orders']}"))


if __name__ == "__main__":
    main()
