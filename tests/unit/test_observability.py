"""Metrics are EMF lines with the dimensions subscribers of dashboards and alarms rely on."""

from __future__ import annotations

import json

import pytest

from chalicelib import observability


@pytest.fixture()
def deployed(monkeypatch):
    monkeypatch.setenv("CERTGATE_STAGE", "prod")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "certgate")


def _emf(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{") and "_aws" in line]


def test_count_emits_one_emf_metric_with_dimensions(deployed, capsys):
    observability.count("Orders", provider="digicert", status="pending", outcome="placed")
    (emf,) = _emf(capsys.readouterr().out)
    meta = emf["_aws"]["CloudWatchMetrics"][0]
    assert meta["Namespace"] == "certgate"
    assert {"provider", "status", "outcome"} <= set(meta["Dimensions"][0])
    assert emf["Orders"] == [1.0] or emf["Orders"] == 1.0
    assert emf["provider"] == "digicert"


def test_provider_observer_records_latency_and_error_class(deployed, capsys):
    with observability.PROVIDER_OBSERVER.call("resello", "GET", "/ssl-certificate/1") as seen:
        seen["status"] = 503
    names = [next(iter(m["Name"] for m in e["_aws"]["CloudWatchMetrics"][0]["Metrics"]))
             for e in _emf(capsys.readouterr().out)]
    assert names == ["ProviderLatency", "ProviderErrors"]  # a status alone: kind http_503


def test_no_metrics_noise_in_the_test_stage(monkeypatch, capsys):
    monkeypatch.setenv("CERTGATE_STAGE", "test")
    observability.count("Orders", provider="x")
    assert _emf(capsys.readouterr().out) == []


def test_every_point_carries_the_stage_and_the_service(deployed, capsys):
    observability.count("SweepBacklogAge", 12.5, job="poll_pending")
    (emf,) = _emf(capsys.readouterr().out)
    meta = emf["_aws"]["CloudWatchMetrics"][0]
    assert set(meta["Dimensions"][0]) == {"stage", "service", "job"}
    assert emf["stage"] == "prod" and emf["service"] == "certgate"
    assert meta["Metrics"] == [{"Name": "SweepBacklogAge", "Unit": "Seconds"}]  # the unit of METRICS


def test_every_metric_the_code_emits_is_in_the_catalogue_with_its_dimensions():
    from tests.metric_calls import metric_calls

    calls = metric_calls()
    assert len(calls) >= 15
    wrong = [c for c in calls if c.name not in observability.METRICS
             or c.dimensions != set(observability.METRICS[c.name].dimensions)]
    assert wrong == [], "count() calls that do not match METRICS (a name of its own, or other dimensions)"


def test_a_metric_outside_the_catalogue_is_logged_not_raised(deployed, capsys, caplog):
    observability.count("NoSuchMetric", provider="x")
    assert "not in the catalogue" in capsys.readouterr().out + caplog.text


def _provider_points(out: str) -> list[tuple[str, dict]]:
    points = []
    for e in _emf(out):
        (metric,) = e["_aws"]["CloudWatchMetrics"][0]["Metrics"]
        dims = {d: e[d] for d in e["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]}
        points.append((metric["Name"], dims))
    return points


@pytest.mark.parametrize(("kind", "also"), [
    ("provider_rate_limited", "ProviderThrottles"),
    ("provider_unavailable", "ProviderFailures"),
    ("provider_timeout", "ProviderFailures"),
    ("provider_authentication_failed", "ProviderFailures"),
    ("provider_rejected", None),  # a verdict on the request, not the provider failing
])
def test_a_failed_call_is_counted_by_kind_and_as_a_throttle_or_a_failure(deployed, capsys, kind, also):
    with observability.PROVIDER_OBSERVER.call("digicert", "POST", "/order") as seen:
        seen["status"], seen["error"] = 500, kind
    points = _provider_points(capsys.readouterr().out)
    assert [n for n, _ in points] == ["ProviderLatency", "ProviderErrors"] + ([also] if also else [])
    assert points[1][1] == {"stage": "prod", "service": "certgate", "provider": "digicert", "kind": kind}


def test_docs_list_every_metric_and_every_published_event():
    from pathlib import Path

    from chalicelib.core.model import PUBLISHED_EVENTS

    text = (Path(__file__).resolve().parents[2] / "docs" / "deploy.md").read_text(encoding="utf-8")
    assert [m for m in observability.METRICS if f"| `{m}` |" not in text] == []
    assert [e for e in sorted(PUBLISHED_EVENTS) if f"`{e}`" not in text] == []


class _LambdaContext:
    function_name = "certgate-prod-APIHandler"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:certgate-prod-APIHandler"
    aws_request_id = "lambda-req-1"


def test_an_invocation_binds_powertools_keys_correlation_id_and_one_cold_start(deployed, capsys, monkeypatch):
    """What inject_lambda_context(correlation_id_path=API_GATEWAY_REST, clear_state=True) and
    log_metrics(capture_cold_start_metric=True) give a plain handler, for Chalice's."""
    monkeypatch.setattr(observability, "_COLD", [True])
    logger = observability.logger
    observability.bind_invocation(_LambdaContext(), "apigw-req-1", path="/certificates", job="stale")
    assert logger.get_correlation_id() == "apigw-req-1"
    keys = logger.get_current_keys()
    assert keys["cold_start"] is True and keys["function_name"] == "certgate-prod-APIHandler"
    assert keys["function_memory_size"] == 512 and keys["function_request_id"] == "lambda-req-1"
    cold = [e for e in _emf(capsys.readouterr().out) if "ColdStart" in e]
    assert len(cold) == 1 and cold[0]["function_name"] == "certgate-prod-APIHandler" and cold[0]["stage"] == "prod"

    observability.bind_invocation(_LambdaContext(), "apigw-req-2", path="/providers")
    keys = logger.get_current_keys()
    assert keys["cold_start"] is False and "job" not in keys  # the previous invocation's keys are gone
    assert logger.get_correlation_id() == "apigw-req-2"
    assert not [e for e in _emf(capsys.readouterr().out) if "ColdStart" in e]  # once per container
