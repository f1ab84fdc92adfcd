"""Event latency: from the provider issuing a certificate to the `certificate.issued` SNS message
arriving on a queue subscribed to the topic, on the real `make run` stack (python -m devstack.run:
chalice local, the local scheduler firing poll_pending every 10 s, moto, the simulators).

  .venv/bin/python -m bench.event_latency [--rounds 5] [--poll-interval-s N]

The stack runs on free ports with the local stage's settings from .chalice/config.json, except that
the simulators issue only when told (SIM_ISSUE_DELAY_S of a day), so the moment of issuance is known:
POST /_sim/advance on Resello. Each round orders one certificate through the API, waits, issues it,
and times the message; the waits are spread evenly over one polling period (the scheduler's interval
or the per-certificate minimum poll interval, whichever is longer), so the rounds see issuance at
different points of the polling cycle, as real issuances do. Arrival is the message's SQS
SentTimestamp. The goal bounds every certificate, so the figure is the slowest round.
--poll-interval-s N starts the stack with CERTGATE_POLL_MIN_INTERVAL_S=CERTGATE_POLL_MAX_INTERVAL_S=N
(what-if runs, e.g. the deployed default of 60; `make bench` runs the stack as configured)."""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import requests

from bench.measure import Figure, report, say
from devstack.local_env import free_port

SCHEDULER_INTERVAL_S = 10.0  # devstack/scheduler.py DEFAULT_INTERVALS_S["poll_pending"]
GOAL_S = SCHEDULER_INTERVAL_S + 5
PROJECT = Path(__file__).resolve().parent.parent
READY = re.compile(r"\bready\b")
START_TIMEOUT_S = 180
PROVIDER = "resello"


@dataclass(frozen=True)
class Stack:
    api: str
    moto: str
    sims: dict[str, str]
    region: str
    topic_arn: str

    def aws(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.moto, region_name=self.region,
                            aws_access_key_id="testing", aws_secret_access_key="testing")


def local_min_interval(override: int | None) -> int:
    """The per-certificate minimum poll interval the stack's app runs with."""
    from chalicelib.config import Settings
    from devstack.conventions import stage_environment

    if override is not None:
        return override
    configured = stage_environment().get("CERTGATE_POLL_MIN_INTERVAL_S")
    return int(configured) if configured else int(Settings.__dataclass_fields__["poll_min_interval_s"].default)


@contextmanager
def make_run_stack(poll_interval_s: int | None) -> Iterator[Stack]:
    """`python -m devstack.run` on free ports, stopped with SIGTERM to its process group."""
    from devstack import conventions

    declared = conventions.stage_environment()
    env = {k: v for k, v in os.environ.items() if k not in declared and k != "CERTGATE_LOCAL_INTERVALS"}
    env.update({"CERTGATE_API_PORT": str(free_port()), "MOTO_PORT": str(free_port()),
                "SIM_ISSUE_DELAY_S": "86400"})  # a day: issued only by /_sim/advance
    for p in ("tinycert", "resello", "digicert"):
        env[f"CERTGATE_{p.upper()}_PORT"] = str(free_port())
    if poll_interval_s is not None:
        env["CERTGATE_POLL_MIN_INTERVAL_S"] = env["CERTGATE_POLL_MAX_INTERVAL_S"] = str(poll_interval_s)
    conv = conventions.load(env)
    with tempfile.NamedTemporaryFile("w+b", prefix="certgate-stack-", suffix=".log") as log:
        proc = subprocess.Popen([sys.executable, "-m", "devstack.run"], cwd=PROJECT, env=env,
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            while not READY.search(Path(log.name).read_text(errors="replace")):
                if proc.poll() is not None or time.monotonic() > deadline:
                    tail = Path(log.name).read_text(errors="replace")[-3000:]
                    raise RuntimeError(f"the make-run stack did not get ready:\n{tail}")
                time.sleep(0.2)
            yield Stack(conv.api_url, conv.moto_url, {p: conv.sim_url(p) for p in conv.sim_ports}, conv.region,
                        conv.topic_arn)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()


def subscribed_queue(stack: Stack) -> str:
    sqs, sns = stack.aws("sqs"), stack.aws("sns")
    url = sqs.create_queue(QueueName="bench-" + uuid.uuid4().hex[:12])["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=stack.topic_arn, Protocol="sqs", Endpoint=arn)
    return str(url)


def issued_arrivals(stack: Stack, queue_url: str, ids: set[str], timeout_s: float) -> dict[str, float]:
    """certificate id -> SentTimestamp (epoch seconds) of its certificate.issued message."""
    sqs = stack.aws("sqs")
    arrived: dict[str, float] = {}
    deadline = time.monotonic() + timeout_s
    while set(arrived) != ids and time.monotonic() < deadline:
        for m in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                     AttributeNames=["SentTimestamp"]).get("Messages", []):
            body = json.loads(json.loads(m["Body"])["Message"])
            cid = body.get("certificate", {}).get("id")
            if body.get("event") == "certificate.issued" and cid in ids:
                arrived.setdefault(cid, int(m["Attributes"]["SentTimestamp"]) / 1000)
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
    return arrived


def order(stack: Stack) -> str:
    name = f"ev-{uuid.uuid4().hex[:10]}.bench.example.com"
    resp = requests.post(stack.api + "/certificates", json={"provider": PROVIDER, "common_name": name},
                         headers={"X-Certgate-Principal": "bench"}, timeout=60)
    if resp.status_code != 202:
        raise RuntimeError(f"order failed: {resp.status_code} {resp.text[:300]}")
    return str(resp.json()["id"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--poll-interval-s", type=int, default=None)
    args = parser.parse_args(argv)
    per_cert = local_min_interval(args.poll_interval_s)
    period = max(SCHEDULER_INTERVAL_S, float(per_cert))
    latencies: list[float] = []
    with make_run_stack(args.poll_interval_s) as stack:
        queue = subscribed_queue(stack)
        say(f"stack ready; scheduler fires poll_pending every {SCHEDULER_INTERVAL_S:g} s, per-certificate minimum "
            f"poll interval {per_cert} s; {args.rounds} rounds, issuance spread over {period:g} s")
        for r in range(args.rounds):
            cid = order(stack)
            time.sleep((r + 0.5) / args.rounds * period)
            requests.post(stack.sims[PROVIDER] + "/_sim/advance", timeout=30).raise_for_status()
            issued_at = time.time()
            arrived = issued_arrivals(stack, queue, {cid}, timeout_s=2 * period + 4 * SCHEDULER_INTERVAL_S)
            latencies.append(arrived[cid] - issued_at if cid in arrived else float("inf"))
            say(f"  round {r + 1}: issued {(r + 0.5) / args.rounds * period:.1f} s after the order, "
                f"event {latencies[-1]:.1f} s after issuance")
    worst = max(latencies)
    say(f"median {statistics.median(latencies):.1f} s, slowest {worst:.1f} s; bound: scheduler interval "
        f"{SCHEDULER_INTERVAL_S:g} s + 5 s")
    report(Figure("event latency", worst, GOAL_S, " s",
                  f"make-run stack (poll_pending every {SCHEDULER_INTERVAL_S:g} s, per-certificate interval "
                  f"{per_cert} s), {args.rounds} Resello issuances via /_sim/advance spread over the cycle: "
                  f"slowest {worst:.1f} s, median {statistics.median(latencies):.1f} s to the SQS subscriber"))


if __name__ == "__main__":
    main()
