"""Unit tests run without AWS, simulators or network; metrics stay quiet as in the test stage."""

from __future__ import annotations

import pytest

from tests.unit.service_kit import Fakes, build


@pytest.fixture(autouse=True)
def _quiet_metrics(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CERTGATE_STAGE", "test")


@pytest.fixture()
def fx() -> Fakes:
    """The service on fresh fakes (tests/unit/service_kit.py)."""
    return build()
