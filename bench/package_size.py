"""Package size: the deployment.zip `chalice package --stage dev` builds. A size, not a time.

  .venv/bin/python -m bench.package_size

Runs `AWS_DEFAULT_REGION=us-east-1 .venv/bin/chalice package --stage dev <tmpdir>` (chalice
downloads or reuses wheels for requirements.txt), reports the zip's size in MB (10^6 bytes), what
takes the room, and how big the zip would be without the packages the Lambda Python runtime already
provides (boto3, botocore, s3transfer), and which requirement brings those in."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zipfile
from collections import Counter
from pathlib import Path

from bench.measure import Figure, report, say

GOAL_MB = 15.0
PROJECT = Path(__file__).resolve().parent.parent
IN_LAMBDA_RUNTIME = ("boto3", "botocore", "s3transfer")


def _top(name: str) -> str:
    top = name.split("/")[0]
    if top.endswith((".dist-info", ".egg-info")):
        return top.split("-")[0] + " (metadata)"
    return top


def requirement_paths(target: str, requirements: Path = PROJECT / "requirements.txt") -> list[list[str]]:
    """How `target` gets into the package: chains of requirements (extras followed) from
    requirements.txt, read from the installed distributions' metadata."""
    from importlib import metadata

    from packaging.requirements import Requirement

    def norm(name: str) -> str:
        return name.lower().replace("_", "-")

    found: list[list[str]] = []

    def walk(req: Requirement, chain: list[str], seen: set[str]) -> None:
        name = norm(req.name)
        label = name + (f"[{','.join(sorted(req.extras))}]" if req.extras else "")
        if name == norm(target):
            found.append([*chain, label])
            return
        if name in seen:
            return
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            return
        for raw in requires:
            sub = Requirement(raw)
            if sub.marker is None or any(sub.marker.evaluate({"extra": e}) for e in (req.extras or {""})):
                walk(sub, [*chain, label], seen | {name})

    for line in requirements.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            walk(Requirement(line), [], set())
    return found


def main(argv: list[str] | None = None) -> None:
    chalice = Path(sys.executable).with_name("chalice")
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1"}
    with tempfile.TemporaryDirectory(prefix="certgate-pkg-") as out:
        done = subprocess.run([str(chalice), "package", "--stage", "dev", out], cwd=PROJECT, env=env,
                              capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            raise SystemExit(f"chalice package failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
        path = Path(out) / "deployment.zip"
        size = path.stat().st_size
        zipped: Counter[str] = Counter()
        unzipped = 0
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():
                zipped[_top(info.filename)] += info.compress_size
                unzipped += info.file_size
    mb = size / 1e6
    say(f"deployment.zip {mb:.2f} MB ({size / 2**20:.2f} MiB), {unzipped / 1e6:.1f} MB unzipped")
    say("largest entries (zipped MB): " + ", ".join(f"{k} {v / 1e6:.2f}" for k, v in zipped.most_common(8)))
    runtime = sum(v for k, v in zipped.items() if k.split(" ")[0] in IN_LAMBDA_RUNTIME)
    say(f"without {', '.join(IN_LAMBDA_RUNTIME)} (already in the Lambda Python runtime): "
        f"~{(size - runtime) / 1e6:.2f} MB")
    for pkg in IN_LAMBDA_RUNTIME:
        for chain in requirement_paths(pkg):
            say(f"{pkg} comes in through requirements.txt: {' -> '.join(chain)}")
    report(Figure("package size", mb, GOAL_MB, " MB",
                  f"chalice package --stage dev deployment.zip ({unzipped / 1e6:.0f} MB unzipped); "
                  f"{runtime / 1e6:.1f} MB of it is {'/'.join(IN_LAMBDA_RUNTIME)}"))


if __name__ == "__main__":
    main()
