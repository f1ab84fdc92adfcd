"""The e2e fixture: the real local stack (`python -m devstack.run`, what `make run` execs), started
once per session, in its own session, and stopped with SIGTERM at the end."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devstack import conventions

START_TIMEOUT_S = 180
STOP_TIMEOUT_S = 30
READY = re.compile(r"\bready\b")
# Fast enough that a test sees the scheduler fire within seconds.
LOCAL_INTERVALS = '{"poll_pending": 1}'


@dataclass(frozen=True)
class RunningStack:
    api: str
    moto: str
    sims: dict[str, str]  # provider -> base URL, for each simulator that exists
    missing_sims: list[str]
    conventions: conventions.Conventions
    log_path: Path

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


def _tail(path: Path, chars: int = 3000) -> str:
    return path.read_text(errors="replace")[-chars:]


def _stack_environment(state_dir: Path) -> dict[str, str]:
    """The caller's environment without the app's own variables (a developer's shell may hold
    another stage's CERTGATE_TABLE...): the e2e stack always runs the documented conventions.
    Port overrides (CERTGATE_API_PORT, MOTO_PORT, ...) are kept. Its state lives in `state_dir`:
    the suite starts clean and never touches the developer's .stack/state/."""
    declared = conventions.stage_environment()
    env = {k: v for k, v in os.environ.items() if k not in declared}
    env["CERTGATE_LOCAL_INTERVALS"] = LOCAL_INTERVALS
    env["CERTGATE_STATE_DIR"] = str(state_dir)
    return env


def start_stack(env: dict[str, str], log_path: Path) -> tuple[subprocess.Popen[bytes], RunningStack]:
    """`python -m devstack.run` with `env`, once it has printed `ready` (the test fails otherwise)."""
    conv = conventions.load(env)
    busy = {what: port for what, port in conv.ports.items() if conventions.port_in_use(conv.host, port)}
    if busy:
        pytest.fail(f"ports already bound before the e2e stack starts: {busy}; stop the running `make run` "
                    "(or move it with CERTGATE_API_PORT / MOTO_PORT / CERTGATE_<PROVIDER>_PORT)", pytrace=False)
    present, missing = conventions.simulator_modules()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "devstack.run"], cwd=conventions.PROJECT_DIR, env=env,
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + START_TIMEOUT_S
    while not READY.search(log_path.read_text(errors="replace")):
        if proc.poll() is not None:
            pytest.fail(f"the stack exited with status {proc.returncode} before `ready`:\n{_tail(log_path)}",
                        pytrace=False)
        if time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            pytest.fail(f"no `ready` within {START_TIMEOUT_S} s:\n{_tail(log_path)}", pytrace=False)
        time.sleep(0.2)
    return proc, RunningStack(conv.api_url, conv.moto_url, {p: conv.sim_url(p) for p in present}, missing, conv,
                              log_path)


def stop_stack(proc: subprocess.Popen[bytes], running: RunningStack) -> None:
    """SIGTERM, as Ctrl-C does; it must exit 0 and free every port."""
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        status = proc.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        pytest.fail(f"the stack did not stop within {STOP_TIMEOUT_S} s of SIGTERM:\n{_tail(running.log_path)}",
                    pytrace=False)
    assert status == 0, f"the stack exited {status} on SIGTERM:\n{_tail(running.log_path)}"
    conv = running.conventions
    still_bound = {what: port for what, port in conv.ports.items() if conventions.port_in_use(conv.host, port)}
    assert not still_bound, f"ports still bound after the stack stopped: {still_bound}"


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    env = _stack_environment(tmp_path_factory.mktemp("state"))
    proc, running = start_stack(env, tmp_path_factory.mktemp("stack") / "stack.log")
    yield running
    stop_stack(proc, running)
