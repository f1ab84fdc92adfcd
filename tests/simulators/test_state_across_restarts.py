"""The simulators keep their state across restarts (`make run` after `make run`): what
`snapshot()` saves, a new simulator `restore()`s — same orders, same CA, counters continued — and
`python -m simulators.<provider> --state FILE` saves it on SIGTERM and starts from it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from simulators import snapshot
from simulators.base import Request, Simulator
from simulators.digicert import DigiCertSim
from simulators.resello import ReselloSim
from simulators.tinycert import TinyCertSim

SIMULATORS = [TinyCertSim, ReselloSim, DigiCertSim]


def call(sim: Simulator, method: str, path: str, body: Any = None) -> Any:
    raw = b"" if body is None else json.dumps(body).encode()
    resp, _ = sim.dispatch(Request(method, path, {}, {"content-type": "application/json"}, raw))
    assert resp is not None and resp.status < 300, (resp.status if resp else None, resp.body if resp else None)
    return json.loads(resp.body) if resp.content_type == "application/json" else resp.body.decode()


@pytest.mark.parametrize("cls", SIMULATORS, ids=lambda c: c.name)
def test_a_restored_simulator_has_the_same_orders_under_the_same_ca(cls: type[Simulator]) -> None:
    before = cls()
    call(before, "POST", "/_sim/seed", {"count": 2})
    saved = before.snapshot()

    after = cls()
    assert call(after, "GET", "/_sim/orders") != call(before, "GET", "/_sim/orders")  # a fresh one differs
    after.restore(snapshot.loads(saved))

    assert call(after, "GET", "/_sim/orders") == call(before, "GET", "/_sim/orders")
    assert call(after, "GET", "/_sim/ca.pem") == call(before, "GET", "/_sim/ca.pem")
    # The id counters go on where they were: a new order never reuses a saved one's id.
    call(after, "POST", "/_sim/seed", {"count": 1})
    ids = [o["id"] for o in call(after, "GET", "/_sim/orders")]
    assert len(ids) == len(set(ids)) == len(call(before, "GET", "/_sim/orders")) + 1


def test_settings_are_not_state_the_environment_of_the_new_start_wins() -> None:
    before = ReselloSim(issue_delay_s=20)
    after = ReselloSim(issue_delay_s=1)
    after.restore(snapshot.loads(before.snapshot()))
    assert after.issue_delay_s == 1


def _start(state: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", "simulators.resello", "--port", "0", "--state", str(state)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        found = re.search(r"listening on (http://\S+)", line)
        if found:
            return proc, found.group(1)
    proc.kill()
    raise AssertionError("the simulator did not start")


def test_the_simulator_process_saves_on_sigterm_and_starts_from_its_file(tmp_path: Path) -> None:
    state = tmp_path / "resello.pickle"
    proc, url = _start(state)
    try:
        requests.post(f"{url}/_sim/seed", json={"count": 3}, timeout=5).raise_for_status()
        orders = requests.get(f"{url}/_sim/orders", timeout=5).json()
        ca = requests.get(f"{url}/_sim/ca.pem", timeout=5).text
    finally:
        proc.terminate()
        assert proc.wait(10) == 0
    assert state.exists()

    proc, url = _start(state)
    try:
        assert requests.get(f"{url}/_sim/orders", timeout=5).json() == orders
        assert requests.get(f"{url}/_sim/ca.pem", timeout=5).text == ca
    finally:
        proc.terminate()
        proc.wait(10)
