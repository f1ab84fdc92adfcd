"""Lambda memory size: what each size would cost and how long the CPU-heavy steps would take.

  .venv/bin/python -m bench.lambda_memory [--rsa4096 24] [--rsa2048 60]

Lambda gives a function CPU in proportion to its memory: 1,769 MB is one full vCPU (AWS Lambda
developer guide, "Configuring Lambda function memory"); below that a function gets that share of
one. So a CPU-bound step that takes `c` CPU-seconds here takes about `c * 1769 / M` seconds at
M MB (this machine's core and a Lambda vCPU are taken as equal: stated, not measured), while a
step that waits on the network (a provider call, DynamoDB) takes the same time at any size.

Measured here, in this process, as CPU time (time.process_time, so other load on the machine
does not count): key generation as certgate does it (x509/csr.generate_key_and_csr: RSA 2048,
RSA 4096, EC P-256; RSA times are random — prime search — so p50, p95 and max are printed), and
the cold start (`import app` plus the first order body validated, in a fresh interpreter, CPU
of the child). From those, per memory size: the p95 and max of a gateway-key RSA-4096 order's
CPU part, the cold start, and the GB-seconds (so dollars) of a typical request whose CPU part is
the measured EC order plus a fixed network wait (NETWORK_WAIT_S, an assumption: one provider call
and three DynamoDB calls). The chosen size is the smallest whose RSA-4096 max stays under a third
of API Gateway's 29 s limit. The last line is the chosen size as a descriptive figure."""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.measure import Figure, report, say

PROJECT = Path(__file__).resolve().parent.parent
FULL_VCPU_MB = 1769
SIZES = (128, 256, 512, 1024, 1769, 3008)
API_GATEWAY_LIMIT_S = 29.0
NETWORK_WAIT_S = 0.35  # assumption: one provider call (~250 ms) and three DynamoDB calls (~30 ms each)
USD_PER_GB_S = 0.0000166667  # Lambda x86 on-demand, us-east-1
COLD = """
import app
from chalicelib.bootstrap import service
"""


def cpu_of(fn: object) -> float:
    started = time.process_time()
    fn()  # type: ignore[operator]
    return time.process_time() - started


def keygen(kind: str, size: int) -> float:
    from chalicelib.x509.csr import generate_key_and_csr

    return cpu_of(lambda: generate_key_and_csr(kind, size, "www.example.com", [("dns", "www.example.com")], None))


def cold_start_cpu(repetitions: int) -> float:
    times = []
    for _ in range(repetitions):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run([sys.executable, "-c", COLD], cwd=PROJECT, check=True, capture_output=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        times.append((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
    return statistics.median(times)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p * (len(ordered) - 1))))]


def at(cpu_s: float, mb: int) -> float:
    return cpu_s * FULL_VCPU_MB / min(mb, FULL_VCPU_MB)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rsa4096", type=int, default=24)
    parser.add_argument("--rsa2048", type=int, default=60)
    parser.add_argument("--cold", type=int, default=5)
    args = parser.parse_args()

    keygen("ec", 256)  # warm: imports cryptography
    rsa4096 = [keygen("rsa", 4096) for _ in range(args.rsa4096)]
    rsa2048 = [keygen("rsa", 2048) for _ in range(args.rsa2048)]
    ec = [keygen("ec", 256) for _ in range(30)]
    cold = cold_start_cpu(args.cold)
    say(f"CPU seconds here: RSA-4096 p50 {statistics.median(rsa4096):.3f} p95 {pct(rsa4096, .95):.3f} "
        f"max {max(rsa4096):.3f} (n={len(rsa4096)}); RSA-2048 p50 {statistics.median(rsa2048):.3f} "
        f"p95 {pct(rsa2048, .95):.3f} max {max(rsa2048):.3f} (n={len(rsa2048)}); EC P-256 p50 "
        f"{statistics.median(ec) * 1000:.2f} ms; cold start (import app + service) {cold:.3f}")
    say(f"{'MB':>5} | {'RSA-4096 p95 s':>14} | {'RSA-4096 max s':>14} | {'RSA-2048 p95 s':>14} | "
        f"{'cold start s':>12} | {'EC order GB-s':>13} | {'$ per 1M EC orders':>18}")
    chosen = None
    for mb in SIZES:
        typical_s = at(statistics.median(ec), mb) + NETWORK_WAIT_S
        gb_s = typical_s * mb / 1024
        say(f"{mb:>5} | {at(pct(rsa4096, .95), mb):>14.2f} | {at(max(rsa4096), mb):>14.2f} | "
            f"{at(pct(rsa2048, .95), mb):>14.2f} | {at(cold, mb):>12.2f} | {gb_s:>13.4f} | "
            f"{gb_s * USD_PER_GB_S * 1e6:>18.2f}")
        if chosen is None and at(max(rsa4096), mb) <= API_GATEWAY_LIMIT_S / 3:
            chosen = mb
    chosen = chosen or SIZES[-1]
    say(f"chosen: {chosen} MB — the smallest size whose slowest RSA-4096 order keeps under "
        f"{API_GATEWAY_LIMIT_S / 3:.1f} s of CPU (a third of API Gateway's 29 s)")
    report(Figure("lambda memory", chosen, None, " MB",
                  "smallest size whose slowest RSA-4096 key generation stays under a third of API Gateway's "
                  "29 s, from CPU seconds measured here scaled by Lambda's memory/1769 MB CPU share"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
