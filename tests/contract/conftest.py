"""The shared provider contract: one suite, every adapter, against its simulator over real HTTP.

Each provider contributes `tests/contract/harness_<name>.py` with SIM_CLASS, make_provider(url),
order_request(client_reference, common_name) and complete(url); the harnesses are found by their
file names. Adding a provider = one adapter module + its simulator + one harness + passing this
suite (and every discovered adapter must have a harness: see test_every_adapter_has_a_simulator_and_a_harness)."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import requests

from chalicelib.providers import registry
from chalicelib.providers.base import Provider
from simulators.base import SimServer


def harness_names() -> list[str]:
    """Every tests/contract/harness_<name>.py, in the order the API lists the providers."""
    found = {p.stem.removeprefix("harness_") for p in Path(__file__).parent.glob("harness_*.py")}
    listed = [name for name in registry.names() if name in found]
    return listed + sorted(found - set(listed))  # a harness of no adapter runs too (and fails)


@dataclass
class Harness:
    name: str
    module: ModuleType
    server: SimServer
    provider: Provider

    @property
    def url(self) -> str:
        return self.server.url

    def order(self, ref: str, cn: str) -> Any:
        return self.module.order_request(ref, cn)

    def complete(self) -> None:
        self.module.complete(self.url)

    def faults(self, **faults: Any) -> None:
        requests.put(self.url + "/_sim/faults", json=faults, timeout=5).raise_for_status()

    def clear(self) -> None:
        requests.delete(self.url + "/_sim/faults", timeout=5).raise_for_status()

    def orders(self) -> list[dict[str, Any]]:
        return requests.get(self.url + "/_sim/orders", timeout=5).json()

    def fresh_provider(self, **overrides: Any) -> Provider:
        return self.module.make_provider(self.url, **overrides) if overrides else self.module.make_provider(self.url)


@pytest.fixture(scope="module", params=harness_names())
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    module = importlib.import_module(f"tests.contract.harness_{request.param}")
    server = SimServer(module.SIM_CLASS(), port=0).start()
    try:
        yield Harness(request.param, module, server, module.make_provider(server.url))
    finally:
        server.stop()


@pytest.fixture()
def h(harness: Harness) -> Iterator[Harness]:
    harness.clear()
    yield harness
    harness.clear()
