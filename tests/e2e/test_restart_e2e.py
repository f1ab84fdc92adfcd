"""`make run` after `make run` keeps the state (README, "Local state"): a certificate ordered
before the stop is still there after the start, downloadable (PEM and PKCS#12, so the KMS key that
seals its private key came back too), with its audit trail; a Resello order pending across the
restart is still known to the simulator and finishes. The stack here runs on ports of its own (free
ones), so the session's `stack` fixture may be up meanwhile."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.conftest import _stack_environment, start_stack, stop_stack

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]
PRINCIPAL = {"X-Certgate-Principal": "e2e-restart"}


def _free_ports(count: int) -> list[int]:
    socks = [socket.socket() for _ in range(count)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def _order(api: str, provider: str) -> dict[str, Any]:
    resp = requests.post(f"{api}/certificates", json={"provider": provider, "common_name": f"restart.{provider}.example.com"},
                         headers=PRINCIPAL, timeout=30)
    assert resp.status_code in (201, 202), resp.text
    return resp.json()


def test_certificates_secrets_events_and_simulator_orders_survive_a_restart(tmp_path: Path) -> None:
    env = _stack_environment(tmp_path / "state")
    api, moto, tinycert, resello, digicert = _free_ports(5)
    env.update(CERTGATE_API_PORT=str(api), MOTO_PORT=str(moto), CERTGATE_TINYCERT_PORT=str(tinycert),
               CERTGATE_RESELLO_PORT=str(resello), CERTGATE_DIGICERT_PORT=str(digicert),
               CERTGATE_SIM_ISSUE_DELAY_S="never")  # the pending order stays pending until we advance it

    proc, first = start_stack(env, tmp_path / "first.log")
    try:
        issued = _order(first.api, "tinycert")
        pending = _order(first.api, "resello")
        assert issued["status"] == "issued" and pending["status"] == "pending"
        pem_before = requests.get(f"{first.api}/certificates/{issued['id']}/download", params={"format": "fullchain"},
                                  headers=PRINCIPAL, timeout=10).text
        events_before = requests.get(f"{first.api}/certificates/{issued['id']}/events", headers=PRINCIPAL,
                                     timeout=10).json()["items"]
        sim_orders = requests.get(f"{first.sims['resello']}/_sim/orders", timeout=10).json()
    finally:
        stop_stack(proc, first)
    assert {p.name for p in (tmp_path / "state").iterdir()} >= {"moto.pickle", "tinycert.pickle", "resello.pickle"}

    proc, second = start_stack(env, tmp_path / "second.log")
    try:
        assert "state restored" in second.output()
        listed = requests.get(f"{second.api}/certificates", headers=PRINCIPAL, timeout=10).json()["items"]
        assert {c["id"] for c in listed} == {issued["id"], pending["id"]}
        full = requests.get(f"{second.api}/certificates/{issued['id']}/download", params={"format": "fullchain"},
                            headers=PRINCIPAL, timeout=10)
        assert full.status_code == 200 and full.text == pem_before
        p12 = requests.post(f"{second.api}/certificates/{issued['id']}/download", json={"passphrase": "at least 8 chars"},
                            headers={**PRINCIPAL, "Accept": "application/x-pkcs12"}, timeout=10)
        assert p12.status_code == 200, p12.text
        events_after = requests.get(f"{second.api}/certificates/{issued['id']}/events", headers=PRINCIPAL,
                                    timeout=10).json()["items"]
        assert events_after == events_before

        # The simulator still knows the order the certificate refers to, and finishes it.
        assert requests.get(f"{second.sims['resello']}/_sim/orders", timeout=10).json() == sim_orders
        requests.post(f"{second.sims['resello']}/_sim/advance", timeout=10).raise_for_status()
        refreshed = requests.post(f"{second.api}/certificates/{pending['id']}/refresh", headers=PRINCIPAL, timeout=30)
        assert refreshed.status_code == 200, refreshed.text
        deadline = time.monotonic() + 20
        while refreshed.json()["status"] != "issued" and time.monotonic() < deadline:
            time.sleep(1)
            refreshed = requests.get(f"{second.api}/certificates/{pending['id']}", headers=PRINCIPAL, timeout=10)
        assert refreshed.json()["status"] == "issued"
    finally:
        stop_stack(proc, second)
