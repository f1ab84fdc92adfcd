"""The whole stack as a user meets it: order from each provider over HTTP, let the local scheduler
finish the slow ones, download the full chain and verify it with openssl against the simulator's
root; the S3 objects exist and the event is on a subscribed queue."""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests
from cryptography.hazmat.primitives import serialization

from simulators.ca import build_csr, generate_key
from tests.e2e.test_stack import aws

if TYPE_CHECKING:
    from tests.e2e.conftest import RunningStack

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def queue(stack: RunningStack) -> str:
    sqs, sns = aws(stack, "sqs"), aws(stack, "sns")
    url = sqs.create_queue(QueueName="e2e-" + uuid.uuid4().hex[:8])["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=stack.conventions.topic_arn, Protocol="sqs", Endpoint=arn)
    return url


def _events(stack: RunningStack, url: str, seen: list[dict[str, Any]]) -> list[dict[str, Any]]:
    sqs = aws(stack, "sqs")
    for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
        seen.append(json.loads(json.loads(m["Body"])["Message"]))
        sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return seen


@pytest.mark.parametrize("provider", ["tinycert", "resello", "digicert"])
def test_order_follow_download_verify(stack: RunningStack, queue: str, provider: str) -> None:
    if provider in stack.missing_sims:
        pytest.skip(f"no {provider} simulator")
    name = f"e2e-{uuid.uuid4().hex[:8]}.example.com"
    body: dict[str, Any] = {"provider": provider, "common_name": name}
    if provider == "digicert":
        csr = build_csr(generate_key("ec"), name, [("dns", name)])
        body["csr"] = csr.public_bytes(serialization.Encoding.PEM).decode()
    principal = {"X-Certgate-Principal": "e2e-" + provider}
    resp = requests.post(f"{stack.api}/certificates", json=body, headers=principal, timeout=30)
    assert resp.status_code in (201, 202), resp.text
    cid = resp.json()["id"]
    assert resp.headers["Location"] == f"/certificates/{cid}"
    if provider == "tinycert":
        assert resp.status_code == 201 and resp.json()["status"] == "issued"
    else:
        assert resp.json()["status"] == "pending"
        requests.post(f"{stack.sims[provider]}/_sim/advance", timeout=10).raise_for_status()
        started = time.monotonic()
        status = "pending"
        while time.monotonic() - started < 30:  # the scheduler, not us, finishes it
            status = requests.get(f"{stack.api}/certificates/{cid}", headers=principal, timeout=10).json()["status"]
            if status == "issued":
                break
            time.sleep(1)
        assert status == "issued", f"not issued {time.monotonic() - started:.1f}s after /_sim/advance"

    full = requests.get(f"{stack.api}/certificates/{cid}/download", params={"format": "fullchain"},
                        headers=principal, timeout=10)
    assert full.status_code == 200 and full.headers["Content-Type"] == "application/x-pem-file"
    root = requests.get(f"{stack.sims[provider]}/_sim/ca.pem", timeout=10).text
    with tempfile.TemporaryDirectory() as d:
        p = Path(d)
        (p / "root.pem").write_text(root)
        (p / "full.pem").write_text(full.text)
        out = subprocess.run(["openssl", "verify", "-CAfile", str(p / "root.pem"), "-untrusted", str(p / "full.pem"),
                              str(p / "full.pem")], capture_output=True, text=True)
        assert out.returncode == 0, out.stdout + out.stderr

    s3 = aws(stack, "s3")
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=stack.conventions.bucket,
                                                 Prefix=f"certificates/{cid}/").get("Contents", [])}
    assert {f"certificates/{cid}/r1/{f}" for f in ("cert.pem", "chain.pem", "fullchain.pem", "metadata.json")} <= keys

    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        issued = [e for e in _events(stack, queue, seen)
                  if e["event"] == "certificate.issued" and e["certificate"]["id"] == cid]
        if issued:
            break
    assert len(issued) == 1 and issued[0]["s3"]["prefix"] == f"certificates/{cid}/r1/"
