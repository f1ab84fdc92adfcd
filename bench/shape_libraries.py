"""Which schema library for the request/response shapes (issue 15): cold start, package size and
whether it names every bad field at once, side by side in one run.

  .venv/bin/python -m bench.shape_libraries [--repetitions 11] [--no-package]

Each candidate (bench/shape_candidates.py declares the same POST /certificates shape in each) is
installed with `pip install --target` into a throw-away folder (the project's venv is not touched)
and measured as:
- cold start: a fresh `python -c "import app; <candidate>(a realistic order body)"` in the project
  root with the deployed stage's environment (bench/cold_start.py's), i.e. app import + library
  import + shape declaration + first validation, against the bare Chalice + boto3 baseline app;
  all variants interleaved round-robin (the order rotates every round), medians, ratio to the
  baseline. The library's own part (import + declare + first validation) is also timed inside the
  fresh interpreter.
- warm: one validation of the same body in a warm interpreter (median of 2,000).
- errors: how many fields it names for a body with five independent faults (a 422 needs 5).
- package: `chalice package --stage dev` of a copy of the project whose requirements.txt has the
  candidate added: the deployment.zip size, and its growth over the project's own.

Ends with one RESULT line: the chosen library's cold start ratio (goal <= 0.5x, issue 15)."""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.cold_start import BASELINE, PROJECT, deployed_environment
from bench.measure import Figure, report, say

CHOSEN = "msgspec"
GOAL = 0.5
PACKAGE_GOAL_MB = 10.0
CACHE = Path(tempfile.gettempdir()) / "certgate-shape-libraries"


@dataclass(frozen=True)
class Candidate:
    name: str
    requirement: str  # what requirements.txt would list
    install: str  # what is pip-installed for measuring (the library itself, not Powertools again)
    schema: str  # how the OpenAPI document's JSON Schema would be produced


CANDIDATES = (
    Candidate("pydantic", "pydantic==2.14.4", "pydantic==2.14.4", "Model.model_json_schema() (2020-12)"),
    Candidate("powertools-parser", "aws-lambda-powertools[parser]==3.37.0", "pydantic==2.14.4",
              "pydantic's model_json_schema()"),
    Candidate("msgspec", "msgspec==0.22.0", "msgspec==0.22.0", "msgspec.json.schema_components() (2020-12)"),
    Candidate("powertools-validation", "aws-lambda-powertools[validation]==3.37.0", "fastjsonschema==2.22.3",
              "the schema is written as JSON Schema (fastjsonschema: draft-07 at most)"),
    Candidate("jsonschema-rs", "jsonschema-rs==0.60.3", "jsonschema-rs==0.60.3",
              "the schema is written as JSON Schema (2020-12)"),
)


def installed(c: Candidate) -> Path:
    target = CACHE / c.install.replace("==", "-")
    if not (target / ".complete").exists():
        shutil.rmtree(target, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--target", str(target),
                        "--only-binary=:all:", c.install], check=True, timeout=600)
        (target / ".complete").write_text(c.install)
    return target


def _run(code: str, cwd: Path, env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    elapsed = time.perf_counter() - started
    if out.returncode != 0:
        raise RuntimeError(f"{code!r} failed:\n{out.stderr[-2000:]}")
    return elapsed, out.stdout


FIRST = ("import time; t = time.perf_counter(); from bench import shape_candidates as s; "
         "assert s.VALIDATORS[{name!r}](s.VALID_ORDER) == []; print((time.perf_counter() - t) * 1000)")


def cold_starts(repetitions: int, env: dict[str, str]) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Fresh-interpreter wall times per variant (s) and the library's own part inside them (ms)."""
    variants: list[tuple[str, Path, str, dict[str, str]]] = [
        ("baseline", BASELINE, "import app", env), ("app", PROJECT, "import app", env)]
    for c in CANDIDATES:
        variants.append((c.name, PROJECT, "import app; " + FIRST.format(name=c.name),
                         {**env, "PYTHONPATH": str(installed(c))}))
    for _, cwd, code, venv in variants:  # warm the file and bytecode caches
        _run(code, cwd, venv)
    wall: dict[str, list[float]] = {v[0]: [] for v in variants}
    own: dict[str, list[float]] = {v[0]: [] for v in variants}
    for i in range(repetitions):
        shift = i % len(variants)
        for name, cwd, code, venv in variants[shift:] + variants[:shift]:
            elapsed, out = _run(code, cwd, venv)
            wall[name].append(elapsed)
            if out.strip():
                own[name].append(float(out.strip().splitlines()[-1]))
    return wall, own


WARM = ("import statistics, time; from bench import shape_candidates as s; f = s.VALIDATORS[{name!r}]; "
        "f(s.VALID_ORDER); ts = []\n"
        "for _ in range(2000):\n t = time.perf_counter(); f(s.VALID_ORDER); ts.append(time.perf_counter() - t)\n"
        "print(statistics.median(ts) * 1e6, s.check({name!r})[1])")


def warm_and_errors(c: Candidate) -> tuple[float, int]:
    _, out = _run(WARM.format(name=c.name), PROJECT, {**os.environ, "PYTHONPATH": str(installed(c))})
    us, errors = out.split()
    return float(us), int(errors)


def package_mb(extra_requirement: str | None) -> float:
    """deployment.zip of `chalice package --stage dev` for a copy of the project (+ one requirement)."""
    chalice = Path(sys.executable).with_name("chalice")
    files = subprocess.run(["git", "ls-files", "-z"], cwd=PROJECT, capture_output=True, check=True).stdout
    with tempfile.TemporaryDirectory(prefix="certgate-shapes-pkg-") as tmp:
        copy = Path(tmp) / "project"
        for rel in filter(None, files.decode().split("\0")):
            src = PROJECT / rel
            if src.is_file():
                (copy / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, copy / rel)
        reqs = copy / "requirements.txt"
        # The project without any candidate (it lists the chosen one), then with the one measured.
        candidates = tuple(c.requirement.split("==")[0] for c in CANDIDATES)
        kept = [line for line in reqs.read_text().splitlines() if not line.startswith(candidates)]
        reqs.write_text("\n".join([*kept, extra_requirement or ""]) + "\n")
        out = Path(tmp) / "out"
        done = subprocess.run([str(chalice), "package", "--stage", "dev", str(out)], cwd=copy,
                              env={**os.environ, "AWS_DEFAULT_REGION": "us-east-1"}, capture_output=True, text=True,
                              timeout=900)
        if done.returncode != 0:
            raise RuntimeError(f"chalice package failed:\n{done.stdout[-1500:]}\n{done.stderr[-1500:]}")
        return (out / "deployment.zip").stat().st_size / 1e6


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repetitions", type=int, default=11)
    parser.add_argument("--no-package", action="store_true", help="skip the chalice package runs")
    args = parser.parse_args(argv)
    env = deployed_environment()
    wall, own = cold_starts(args.repetitions, env)
    base = statistics.median(wall["baseline"])
    app = statistics.median(wall["app"])
    say(f"baseline (bare Chalice + boto3) {base * 1000:.0f} ms, certgate `import app` {app * 1000:.0f} ms "
        f"({app / base:.2f}x), {args.repetitions} rounds")
    own_pkg = None if args.no_package else package_mb(None)
    rows = []
    for c in CANDIDATES:
        w = statistics.median(wall[c.name])
        warm_us, errors = warm_and_errors(c)
        pkg = None if own_pkg is None else package_mb(c.requirement)
        rows.append({"candidate": c.name, "requirement": c.requirement, "cold_ms": round(w * 1000),
                     "ratio": round(w / base, 3), "own_ms": round(statistics.median(own[c.name]), 1),
                     "warm_us": round(warm_us, 1), "errors_of_5": errors,
                     "package_mb": pkg and round(pkg, 2), "growth_mb": pkg and own_pkg and round(pkg - own_pkg, 2),
                     "schema": c.schema})
    say("| candidate | app + first validation ms | vs baseline | library's own ms | warm µs | fields named (of 5) "
        "| deployment.zip MB | growth MB |")
    say("|---|---|---|---|---|---|---|---|")
    for r in rows:
        say(f"| {r['candidate']} (`{r['requirement']}`) | {r['cold_ms']} | {r['ratio']:.2f}x | {r['own_ms']} "
            f"| {r['warm_us']} | {r['errors_of_5']} | {r['package_mb']} | {r['growth_mb']} |")
    say(f"| (no library: `import app` only) | {app * 1000:.0f} | {app / base:.2f}x | - | - | - | {own_pkg} | 0 |")
    say(json.dumps(rows))
    chosen = next(r for r in rows if r["candidate"] == CHOSEN)
    report(Figure("shape library cold start", chosen["ratio"], GOAL, "x",
                  f"{CHOSEN}: fresh `import app` + first order validation vs bare Chalice + boto3, median of "
                  f"{args.repetitions} rounds: {chosen['cold_ms']} vs {base * 1000:.0f} ms; package "
                  f"{chosen['package_mb']} MB (goal <= {PACKAGE_GOAL_MB:g} MB)"))


if __name__ == "__main__":
    main()
