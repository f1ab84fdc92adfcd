"""The `certgate` CLI against the `make run` stack, as a user runs it (a subprocess): order with
--wait and its progress display, download in text, binary and PKCS#12 form, and a problem printed
with a non-zero exit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs12

if TYPE_CHECKING:
    from tests.e2e.conftest import RunningStack

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

PRINCIPAL = f"cli-e2e-{uuid.uuid4().hex[:8]}"
CLIENT_DIR = Path(__file__).resolve().parents[2] / "client"
# `python -m certgate` from the client's sources, whether or not `make venv` installed it.
CLI_ENV = {"PYTHONPATH": os.pathsep.join(p for p in (str(CLIENT_DIR), os.environ.get("PYTHONPATH")) if p)}


def certgate(stack: RunningStack, *args: str, env: dict[str, str] | None = None,
             timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "certgate", "--principal", PRINCIPAL, *args],
                          env={**os.environ, **CLI_ENV, "CERTGATE_URL": stack.api, **(env or {})}, capture_output=True,
                          text=True, timeout=timeout, check=False)


def test_order_tinycert_with_wait_then_download(stack: RunningStack, tmp_path: Path) -> None:
    cn = f"cli-{uuid.uuid4().hex[:8]}.example.com"
    ordered = certgate(stack, "--output", "json", "order", "--provider", "tinycert", "--cn", cn, "--san",
                       "ip:10.1.2.3", "--wait", "--timeout", "60")
    assert ordered.returncode == 0, ordered.stderr
    cert = json.loads(ordered.stdout)
    assert cert["status"] == "issued" and cert["common_name"] == cn
    assert "idempotency key:" in ordered.stderr

    out = tmp_path / "fullchain.pem"
    fetched = certgate(stack, "download", cert["id"], "--format", "fullchain", "-o", str(out))
    assert fetched.returncode == 0, fetched.stderr
    chain = x509.load_pem_x509_certificates(out.read_bytes())
    assert len(chain) >= 2
    assert chain[0].subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == cn
    assert chain[0].issuer == chain[1].subject

    der = tmp_path / "leaf.cer"
    binary = certgate(stack, "download", cert["id"], "--format", "der", "-o", str(der))
    assert binary.returncode == 0, binary.stderr
    assert x509.load_der_x509_certificate(der.read_bytes()) == chain[0]

    listed = certgate(stack, "--output", "json", "list", "--all")
    assert cert["id"] in [c["id"] for c in json.loads(listed.stdout)["items"]]


def test_order_resello_waits_through_pending_with_progress(stack: RunningStack, tmp_path: Path) -> None:
    if "resello" in stack.missing_sims:
        pytest.skip("no resello simulator")
    cn = f"cli-{uuid.uuid4().hex[:8]}.example.com"
    proc = subprocess.Popen([sys.executable, "-m", "certgate", "--principal", PRINCIPAL, "--output", "json", "order",
                             "--provider", "resello", "--cn", cn, "--wait", "--timeout", "90"],
                            env={**os.environ, **CLI_ENV, "CERTGATE_URL": stack.api}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    seen: list[str] = []
    deadline = time.monotonic() + 60
    # Release the simulator's validation only once the CLI shows it is waiting.
    while not any("pending (order" in line for line in seen):
        assert time.monotonic() < deadline, "".join(seen)
        line = proc.stderr.readline()
        assert line or proc.poll() is None, f"the CLI exited {proc.returncode}:\n{''.join(seen)}"
        seen.append(line)
    requests.post(f"{stack.sims['resello']}/_sim/advance", timeout=10).raise_for_status()
    stdout, rest = proc.communicate(timeout=90)
    progress = "".join(seen) + rest
    assert proc.returncode == 0, progress
    cert = json.loads(stdout)
    assert cert["status"] == "issued" and cert["private_key_held"] is True
    assert "next check in" in progress and "elapsed" in progress
    assert f"{cert['id']} issued after" in progress

    p12 = tmp_path / "bundle.p12"
    fetched = certgate(stack, "download", cert["id"], "--format", "pkcs12", "-o", str(p12),
                       env={"CERTGATE_P12_PASSPHRASE": "correct horse battery"})
    assert fetched.returncode == 0, fetched.stderr
    assert oct(p12.stat().st_mode & 0o777) == "0o600"
    key, leaf, _ = pkcs12.load_key_and_certificates(p12.read_bytes(), b"correct horse battery")
    assert key is not None and leaf is not None
    assert key.public_key().public_numbers() == leaf.public_key().public_numbers()

    trail = certgate(stack, "--output", "json", "events", cert["id"])
    assert "certificate.issued" in [e["event"] for e in json.loads(trail.stdout)["items"]]


def test_a_rejected_order_prints_the_problem_and_exits_3(stack: RunningStack) -> None:
    result = certgate(stack, "order", "--provider", "tinycert", "--cn", "not a name", "--validity-days", "9999")
    assert result.returncode == 3, result.stderr
    assert "error: 422 Validation failed [validation_failed]" in result.stderr
    assert "  - common_name:" in result.stderr and "  - validity_days:" in result.stderr
    assert result.stdout == ""


def test_an_unreachable_api_exits_5(stack: RunningStack) -> None:
    result = certgate(stack, "show", "crt_" + "0" * 32, env={"CERTGATE_URL": "http://127.0.0.1:9"})
    assert result.returncode == 5, result.stderr
    assert "cannot reach" in result.stderr


def test_an_authority_listed_is_one_an_order_can_name(stack: RunningStack) -> None:
    listed = certgate(stack, "--output", "json", "authorities", "list")
    assert listed.returncode == 0, listed.stderr
    ca_id = json.loads(listed.stdout)["items"][0]["id"]
    ordered = certgate(stack, "--output", "json", "order", "--provider", "tinycert", "--cn",
                       f"cli-{uuid.uuid4().hex[:8]}.example.com", "--ca-id", str(ca_id))
    assert ordered.returncode == 0, ordered.stderr
    assert json.loads(ordered.stdout)["status"] == "issued"
