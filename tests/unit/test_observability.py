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
    assert names == ["ProviderLatency", "ProviderErrors"]


def test_no_metrics_noise_in_the_test_stage(monkeypatch, capsys):
    monkeypatch.setenv("CERTGATE_STAGE", "test")
    observability.count("Orders", provider="x")
    assert _emf(capsys.readouterr().out) == []
