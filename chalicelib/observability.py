"""Powertools Logger, Metrics and Tracer, created once. Metrics are EMF lines in CloudWatch Logs."""

from __future__ import annotations

import contextlib
import functools
import os
import time
from collections.abc import Iterator
from typing import Any

from aws_lambda_powertools import Logger

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


def count(name: str, value: float = 1, unit: str = "Count", **dimensions: str) -> None:
    """Emit one EMF metric point with its own dimensions (e.g. provider, status, error class)."""
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    if os.environ.get("CERTGATE_STAGE") == "test":
        return  # keep test output readable; EMF shape is checked where it matters
    with single_metric(name=name, unit=getattr(MetricUnit, unit), value=value,
                       namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "certgate"),
                       default_dimensions={k: str(v) for k, v in dimensions.items()}):
        pass


class ProviderObserver:
    """Wraps each provider HTTP call: an X-Ray subsegment, latency and error-class metrics."""

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
                count("ProviderLatency", ms, "Milliseconds", provider=provider)
                status = seen.get("status")
                error = seen.get("error") or (f"http_{status}" if isinstance(status, int) and status >= 400 else None)
                if error:
                    count("ProviderErrors", 1, provider=provider, error_class=error)


PROVIDER_OBSERVER = ProviderObserver()
