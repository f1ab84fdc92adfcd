"""Local stand-in for EventBridge: fires the app's scheduled functions on short local intervals.

  python -m devstack.scheduler       (started by `make run`, with the local stage's environment)

Every `@app.schedule` function in app.py is found through `app.event_sources` and called exactly as
Lambda calls it: `handler(scheduled_event, context)`. Local intervals (seconds) replace the
deployed schedule expressions so pending certificates move within seconds; override them with
CERTGATE_LOCAL_INTERVALS='{"poll_pending": 2}' (0 disables a job). One job runs at a time; a job
that raises is logged on one line and the scheduler carries on."""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

DEFAULT_INTERVALS_S: dict[str, float] = {"poll_pending": 10, "reconcile": 30, "renew_expiring": 60, "sync_inventory": 120}
OTHER_INTERVAL_S = 60.0
DEADLINE_MS = 60_000  # what get_remaining_time_in_millis() counts down from
ACCOUNT_ID = "123456789012"  # moto's default account, as in the local topic ARN


@dataclass
class Job:
    name: str
    schedule_expression: str
    interval_s: float
    handler: Callable[[dict[str, Any], Any], Any]
    next_at: float = 0.0


class LambdaContext:
    """The parts of Lambda's context object handlers and Powertools read."""

    def __init__(self, function_name: str, region: str, deadline_ms: int = DEADLINE_MS) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{function_name}"
        self.memory_limit_in_mb = 512
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + deadline_ms / 1000.0

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def scheduled_event(rule_name: str, region: str, when: datetime | None = None) -> dict[str, Any]:
    """The event EventBridge sends a scheduled rule's target."""
    when = when or datetime.now(UTC)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:events:{region}:{ACCOUNT_ID}:rule/{rule_name}"],
        "detail": {},
    }


def parse_intervals(raw: str | None) -> dict[str, float]:
    """DEFAULT_INTERVALS_S updated by the JSON object in CERTGATE_LOCAL_INTERVALS."""
    intervals = dict(DEFAULT_INTERVALS_S)
    if not raw:
        return intervals
    try:
        override = json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"CERTGATE_LOCAL_INTERVALS is not JSON: {exc}") from exc
    if not isinstance(override, dict) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) and v >= 0 for v in override.values()):
        raise ValueError('CERTGATE_LOCAL_INTERVALS must map job names to seconds >= 0, e.g. {"poll_pending": 2}')
    intervals.update({str(k): float(v) for k, v in override.items()})
    return intervals


def scheduled_jobs(app: Any, intervals: Mapping[str, float]) -> list[Job]:
    """Every scheduled function of a Chalice app, with its local interval (0 = disabled)."""
    from chalice.app import ScheduledEventConfig

    jobs = []
    for source in app.event_sources:
        if isinstance(source, ScheduledEventConfig):
            expression = source.schedule_expression
            text = expression if isinstance(expression, str) else expression.to_string()
            interval = float(intervals.get(source.name, OTHER_INTERVAL_S))
            if interval > 0:
                jobs.append(Job(source.name, text, interval, app.handler_map[source.name]))
    return jobs


def run_job(job: Job, app_name: str, stage: str, region: str) -> str:
    """Invoke one job as Lambda would; returns its one-line log entry (never raises for the job's errors)."""
    function_name = f"{app_name}-{stage}-{job.name}"
    context = LambdaContext(function_name, region)
    event = scheduled_event(function_name, region)
    started = time.monotonic()
    try:
        result = job.handler(event, context)
    except Exception as exc:  # noqa: BLE001 - a failing job must not stop the others; it is logged
        took = time.monotonic() - started
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        where = f"{os.path.relpath(frame.filename)}:{frame.lineno}"
        return f"{job.name} error {took:.2f}s {type(exc).__name__}: {exc} (at {where})"
    took = time.monotonic() - started
    shown = json.dumps(result, default=str)
    return f"{job.name} ok {took:.2f}s {shown[:300]}"


def log(line: str) -> None:
    print(f"{datetime.now(UTC).strftime('%H:%M:%S')} {line}", flush=True)


def run_forever(jobs: list[Job], app_name: str, stage: str, region: str) -> None:
    while not jobs:  # nothing to fire, but stay up: the launcher treats an exit as a crash
        time.sleep(3600)
    now = time.monotonic()
    for job in jobs:  # like a rate() rule: the first run comes one interval after start
        job.next_at = now + job.interval_s
    while True:
        job = min(jobs, key=lambda j: j.next_at)
        time.sleep(max(0.0, job.next_at - time.monotonic()))
        log(run_job(job, app_name, stage, region))
        # Measured from the end of the run: a slow job is not fired again back to back.
        job.next_at = time.monotonic() + job.interval_s


def main() -> int:
    try:
        intervals = parse_intervals(os.environ.get("CERTGATE_LOCAL_INTERVALS"))
    except ValueError as exc:
        print(f"scheduler: {exc}", file=sys.stderr, flush=True)
        return 2
    # app.py sits in the project root (the working directory, like Lambda's task root); the
    # environment is the local stage's, set by the launcher.
    from app import app

    stage = os.environ.get("CERTGATE_STAGE", "local")
    region = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
    jobs = scheduled_jobs(app, intervals)
    if not jobs:
        log("no scheduled functions in app.py; nothing to fire")
    for job in jobs:
        log(f"{job.name}: every {job.interval_s:g}s locally (deployed: {job.schedule_expression})")
    try:
        run_forever(jobs, app.app_name, stage, region)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
