"""Cold start: `python -c "import app"` in a fresh interpreter, certgate's app.py vs a bare Chalice
app that imports boto3 (bench/baseline_app/app.py), interleaved, median.

  .venv/bin/python -m bench.cold_start [--repetitions 21]

Both run from their own directory with the environment of a deployed stage (`dev` in
.chalice/config.json, CloudFormation references replaced by example values, no AWS_ENDPOINT_URL,
throw-away credentials): nothing may reach the network while importing. Also printed: which heavy
modules the import pulls in (the design says cryptography, requests, the provider adapters and the
request shapes load lazily; the OpenAPI builder in tools/ never), from `python -X importtime` the
packages that cost the most, and the first order a new container validates: `import app` plus one
realistic POST /certificates body through service/requests.py (msgspec shapes, IDNA, no CSR)."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

from bench.measure import Figure, interleaved, report, say, timed

GOAL = 0.5  # issue 15: at most half the bare Chalice + boto3 app
PROJECT = Path(__file__).resolve().parent.parent
BASELINE = Path(__file__).resolve().parent / "baseline_app"
STAGE = "dev"
LAZY = ("boto3", "botocore.session", "cryptography", "requests", "urllib3", "chalicelib.x509.csr", "chalicelib.x509.formats", "chalicelib.x509.certificates",
        "chalicelib.providers.tinycert", "chalicelib.providers.resello", "chalicelib.providers.digicert",
        "chalicelib.service.certificates.certificates", "aws_lambda_powertools.utilities.parameters",
        "msgspec", "chalicelib.core.shapes", "chalicelib.service.requests", "tools", "tools.openapi")
# The first order a container validates (no network: capabilities as DigiCert declares them).
FIRST_ORDER = """
import app
from chalicelib.core.provider import Capabilities
from chalicelib.service.requests import validate_order
caps = Capabilities(accepts_csr=True, generates_key=False, products=("dv", "ov", "ev"), default_product="ov",
                    dcv_methods=("dns", "email", "file"), default_dcv_method="dns", max_validity_days=397,
                    reissue=True, renew=True, revoke=True, cancel=True, download_formats=("pem",),
                    authorities=False, async_issuance=True)
validate_order({"provider": "digicert", "product": "ov", "common_name": "www.example.com",
                "sans": [{"type": "dns", "value": "example.com"}, {"value": "api.example.com"}],
                "key": {"type": "rsa", "size": 2048}, "validity_days": 199, "dcv_method": "dns",
                "organization": {"name": "Example Inc", "country": "US", "digicert_org_id": 112233},
                "approver": {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"},
                "auto_renew": True, "client_reference": "order-42",
                "provider_options": {"signature_hash": "sha256"}}, lambda name: caps, {}, providers=("digicert",))
"""
_IMPORTTIME = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|(\s+)(\S+)")


def deployed_environment() -> dict[str, str]:
    from devstack.conventions import stage_environment

    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CERTGATE_", "POWERTOOLS_"))}
    for key, value in stage_environment(stage=STAGE).items():
        # ${EventsTopic}-style values are CloudFormation references filled in at deploy time.
        env[key] = re.sub(r"\$\{(\w+)\}", lambda m: f"arn:aws:example:us-east-1:123456789012:{m.group(1)}", value)
    env.update({"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing", "PYTHONPATH": ""})
    return env


def _import(cwd: Path, env: dict[str, str], code: str = "import app", flags: tuple[str, ...] = ()) -> str:
    out = subprocess.run([sys.executable, *flags, "-c", code], cwd=cwd, env=env, capture_output=True, text=True,
                         timeout=60)
    if out.returncode != 0:
        raise RuntimeError(f"import in {cwd} failed:\n{out.stderr[-2000:]}")
    return out.stdout + out.stderr


def loaded_modules(env: dict[str, str]) -> list[str]:
    code = f"import app, sys, json; print(json.dumps([m for m in {list(LAZY)!r} if m in sys.modules]))"
    return list(json.loads(_import(PROJECT, env, code).strip().splitlines()[-1]))


def top_packages(env: dict[str, str], n: int = 8) -> list[tuple[str, float]]:
    """Self import time per top-level package, from one `python -X importtime -c "import app"`."""
    per_package: Counter[str] = Counter()
    for line in _import(PROJECT, env, flags=("-X", "importtime")).splitlines():
        m = _IMPORTTIME.match(line)
        if m:
            per_package[m.group(4).split(".")[0]] += int(m.group(1))
    return [(name, us / 1000) for name, us in per_package.most_common(n)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repetitions", type=int, default=21)
    args = parser.parse_args(argv)
    env = deployed_environment()
    for cwd in (PROJECT, BASELINE):  # warm the OS file cache and the bytecode caches for both sides
        _import(cwd, env)
    paired = interleaved(lambda: timed(lambda: _import(PROJECT, env)),
                         lambda: timed(lambda: _import(BASELINE, env)), args.repetitions)
    say(paired.describe("certgate app.py", "bare Chalice + boto3"))
    first = interleaved(lambda: timed(lambda: _import(PROJECT, env, FIRST_ORDER)),
                        lambda: timed(lambda: _import(BASELINE, env)), args.repetitions)
    say(f"first order validated (import app + one POST /certificates body): {first.ratio:.2f}x, "
        + first.describe("certgate", "bare Chalice + boto3"))
    eager = loaded_modules(env)
    say(f"imported by `import app` among the lazy ones: {eager or 'none'}")
    say("largest self import time by package (ms): "
        + ", ".join(f"{name} {ms:.1f}" for name, ms in top_packages(env)))
    report(Figure("cold start", paired.ratio, GOAL, "x",
                  f"fresh `python -c 'import app'` (stage {STAGE} env) vs bare Chalice app importing boto3, "
                  f"median of {args.repetitions} interleaved: {paired.median_a * 1000:.0f} vs "
                  f"{paired.median_b * 1000:.0f} ms"))


if __name__ == "__main__":
    main()
