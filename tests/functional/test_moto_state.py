"""devstack/moto_state.py, saved and restored as `make run` does across a restart. Each case runs in
a fresh interpreter: `mock_aws` resets moto's backends, which are process-wide, so in this process it
would wipe the session's moto server (the test world) for every test after it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("case", ["backends_saved_then_restored_into_an_empty_moto_are_the_same",
                                  "nothing_saved_restores_nothing"])
def test_moto_state(case: str, tmp_path: Path) -> None:
    code = ("import pathlib, sys; from tests.functional import moto_state_cases as c; "
            f"c.{case}(pathlib.Path(sys.argv[1]))")
    # Not the session's AWS: its AWS_ENDPOINT_URL would send the calls past mock_aws to the shared server.
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                         timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
