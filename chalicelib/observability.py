"""Powertools Logger, Metrics and Tracer, created once. Metrics are EMF lines in CloudWatch Logs.

Every metric certgate emits is in METRICS, with its unit and its dimensions: each point carries
those, plus `stage` (CERTGATE_STAGE) and `service` (Powertools adds POWERTOOLS_SERVICE_NAME). A
CloudWatch metric is its name and its exact dimension set, so the alarms and the dashboard of
infra/resources.yaml name these sets (tests/infra checks that they match this table)."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger

from chalicelib.core.errors import (
    AuthenticationFailed,
    ProviderProtocolError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)

os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "certgate")
logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "certgate"))

# Everything certgate logs goes through the one Powertools logger's JSON formatter.
for _name in ("certgate", "chalicelib"):
    _child = __import__("logging").getLogger(_name)
    _child.handlers = logger.handlers
    _child.setLevel(logger.log_level)
    _child.propagate = False


@functools.lru_cache(maxsize=1)
def metrics() -> Any:
    from aws_lambda_powertools import Metrics

    return Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "certgate"))


@functools.lru_cache(maxsize=1)
def tracer() -> Any:
    """The Powertools X-Ray tracer when aws-xray-sdk is importable (the Powertools Lambda layer, or
    `aws-lambda-powertools[tracer]`), else None: provider calls are then simply not sub-segmented.
    Not vendored by default: it drags botocore (16 MB) into a package whose runtime already has it."""
    try:
        import aws_xray_sdk  # noqa: F401 - presence check only
        from aws_lambda_powertools import Tracer
    except ImportError:
        return None
    return Tracer(service="certgate", disabled=os.environ.get("CERTGATE_STAGE", "local") in ("local", "test"))


@dataclass(frozen=True)
class MetricSpec:
    unit: str  # a Powertools MetricUnit name
    dimensions: tuple[str, ...]  # besides `stage` and `service`, which every point carries
    what: str


STAGE_DIMENSION = "stage"
# Added by Powertools to every point (POWERTOOLS_SERVICE_NAME, "certgate" in every stage).
SERVICE_DIMENSION = "service"

METRICS: Mapping[str, MetricSpec] = {
    # ordering and the provider calls (providers/http.py through ProviderObserver)
    "Orders": MetricSpec("Count", ("provider", "status", "outcome"), "orders placed, by outcome"),
    "ProviderLatency": MetricSpec("Milliseconds", ("provider",),
                                  "one per provider HTTP call (its SampleCount is the call count)"),
    "ProviderErrors": MetricSpec("Count", ("provider", "kind"),
                                 "provider HTTP calls that failed, by kind (the typed error's code)"),
    "ProviderFailures": MetricSpec("Count", ("provider",),
                                   "failed calls that are the provider's or the link's fault (5xx, time-outs, "
                                   "refused connections, unreadable answers, rejected credentials), "
                                   "not a verdict on the request nor a throttle"),
    "ProviderThrottles": MetricSpec("Count", ("provider",), "provider answers 429"),
    "ProviderStateUnmapped": MetricSpec("Count", ("provider",), "a provider status not in the adapter's table"),
    "PollProviderCalls": MetricSpec("Count", ("provider",), "provider calls one poll_pending run made"),
    # the sweeps and jobs (service/sweeps.py, service/jobs.py)
    "SweepBacklog": MetricSpec("Count", ("job",), "due items a sweep left for its next run"),
    "SweepBacklogAge": MetricSpec("Seconds", ("job",), "how long the oldest of them has been due"),
    "SweepCycleSeconds": MetricSpec("Seconds", ("job",), "the length of the sweep's last complete cycle"),
    "JobCertificateFailed": MetricSpec("Count", ("job", "provider", "error"), "one certificate's step failed"),
    "JobOutcomes": MetricSpec("Count", ("job",  "outcome"), "items of a job run, by outcome"),
    # the fleet's expiry (service/fleet.py, after each renew_expiring run)
    "FleetMinDaysToExpiry": MetricSpec("NoUnit", (), "days until the earliest not_after of the fleet"),
    "ExpiringWithoutSuccessor": MetricSpec("Count", (), "certificates expiring within the alarm window "
                                                          "(7 days) with no reissue or renewal under way"),
    "RenewalWindowNotRenewing": MetricSpec("Count", (), "auto-renewed certificates inside their renewal "
                                                          "window with no reissue or renewal under way"),
    # the outbox (service/outbox.py)
    "EventsPublished": MetricSpec("Count", ("event", "provider", "target"), "events a target took"),
    "OutboxClaimLost": MetricSpec("Count", ("event",), "another flusher had claimed the row"),
    "OutboxAge": MetricSpec("Seconds", (), "age of the oldest event not yet published to every target"),
    # the Lambda container (bind_invocation): Powertools' own name and dimension for it
    "ColdStart": MetricSpec("Count", ("function_name",), "the first invocation of a Lambda container"),
    # Route 53 DNS validation (service/dns_validation.py)
    "DcvAutomationFailures": MetricSpec("Count", ("provider",), "automated DNS validations that failed "
                                                                "(record write or removal, INSYNC wait, the "
                                                                "provider's check), once per distinct reason"),
}

# The error kinds (ProviderError codes) ProviderFailures counts.
FAILURE_KINDS = frozenset({ProviderUnavailable.code, ProviderTimeout.code, ProviderProtocolError.code,
                           AuthenticationFailed.code})

_log = logging.getLogger("certgate.metrics")


def stage() -> str:
    return os.environ.get("CERTGATE_STAGE", "local")


def count(name: str, value: float = 1, **dimensions: str) -> None:
    """Emit one EMF metric point of `name` (in METRICS: its unit) with its dimensions and the stage's."""
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    spec = METRICS.get(name)
    if spec is None or set(dimensions) != set(spec.dimensions):
        # Never fail a request over a metric; the unit test of METRICS keeps the call sites right.
        _log.warning("metric not in the catalogue or with other dimensions",
                     extra={"metric": name, "dimensions": sorted(dimensions)})
    if stage() == "test":
        return  # keep test output readable; EMF shape is checked where it matters
    with single_metric(name=name, unit=getattr(MetricUnit, spec.unit if spec else "Count"), value=value,
                       namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "certgate"),
                       default_dimensions={STAGE_DIMENSION: stage(), **{k: str(v) for k, v in dimensions.items()}}):
        pass


_COLD = [True]  # the first invocation of this container has not happened yet


def bind_invocation(lambda_context: Any, correlation_id: str | None, **keys: Any) -> None:
    """At the start of an HTTP request or a job run, what Powertools' `inject_lambda_context(
    correlation_id_path=API_GATEWAY_REST, clear_state=True)` and `log_metrics(
    capture_cold_start_metric=True)` do for a plain handler (certgate's handlers are Chalice's, so
    they cannot wear those decorators): the previous invocation's keys cleared, the Lambda context
    keys (function_name, function_memory_size, function_arn, function_request_id), `cold_start`,
    the correlation id (API Gateway's request id; the Lambda request id for a job), and one
    `ColdStart` metric per container."""
    cold, _COLD[0] = _COLD[0], False
    context: dict[str, Any] = {}
    if lambda_context is not None and hasattr(lambda_context, "aws_request_id"):
        from aws_lambda_powertools.logging.lambda_context import build_lambda_context_model

        context = vars(build_lambda_context_model(lambda_context))
    logger.clear_state()
    logger.set_correlation_id(correlation_id)
    logger.append_keys(cold_start=cold, **context, **keys)
    if cold:
        count("ColdStart", function_name=str(context.get("function_name") or "local"))


class ProviderObserver:
    """Wraps each provider HTTP call: an X-Ray subsegment, latency, and for a failed call its kind
    (the layer fills `seen` with "status", and "error": the typed error's code) as ProviderErrors,
    plus ProviderThrottles (429) or ProviderFailures (FAILURE_KINDS)."""

    @contextlib.contextmanager
    def call(self, provider: str, method: str, path: str) -> Iterator[dict[str, Any]]:
        seen: dict[str, Any] = {}
        started = time.monotonic()
        t = tracer()
        segment = t.provider.in_subsegment(f"## {provider} {method}") if t else contextlib.nullcontext()
        with segment as sub:
            try:
                yield seen
            finally:
                ms = (time.monotonic() - started) * 1000
                if sub is not None and hasattr(sub, "put_annotation"):
                    sub.put_annotation("provider", provider)
                    sub.put_metadata("path", path.split("?")[0])
                count("ProviderLatency", ms, provider=provider)
                status = seen.get("status")
                kind = seen.get("error") or (f"http_{status}" if isinstance(status, int) and status >= 400 else None)
                if kind:
                    count("ProviderErrors", provider=provider, kind=str(kind))
                    if kind == RateLimited.code:
                        count("ProviderThrottles", provider=provider)
                    elif kind in FAILURE_KINDS:
                        count("ProviderFailures", provider=provider)


PROVIDER_OBSERVER = ProviderObserver()
