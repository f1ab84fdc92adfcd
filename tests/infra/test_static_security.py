"""Static security checks that belong to `make test`: bandit on the shipped code, and pip-audit of
the lock (requirements.lock: every package installed, hashed) whenever the package index answers
vulnerability queries."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    path = BIN / name
    if not path.exists():
        found = shutil.which(name)
        if not found:
            pytest.fail(f"{name} is not installed (requirements-dev.txt lists it)")
        return found
    return str(path)


def test_bandit_finds_nothing_in_the_shipped_code():
    # client/certgate ships too: `pip install ./client`.
    out = subprocess.run([_tool("bandit"), "-q", "-r", "chalicelib", "app.py", "client/certgate", "-f", "json"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    report = json.loads(out.stdout)
    issues = [f"{r['filename']}:{r['line_number']} {r['test_id']} {r['issue_text']}" for r in report["results"]]
    assert issues == [], "\n".join(issues)


def test_pip_audit_of_the_lock():
    out = subprocess.run([_tool("pip-audit"), "-r", "requirements.lock", "--require-hashes", "--disable-pip",
                          "--progress-spinner", "off", "-f", "json"], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    try:
        report = json.loads(out.stdout)
    except ValueError:
        pytest.skip(f"pip-audit could not run here: {out.stderr.strip()[-200:]}")
    deps = report.get("dependencies", [])
    audited = [d for d in deps if "skip_reason" not in d]
    if not audited:
        reasons = {d.get("skip_reason", "")[:45] for d in deps}
        pytest.skip(f"the package index does not answer vulnerability queries here ({len(deps)} packages): "
                    f"{sorted(reasons)}")
    vulnerable = [f"{d['name']} {d['version']}: {[v['id'] for v in d['vulns']]}" for d in audited if d.get("vulns")]
    assert vulnerable == [], vulnerable
