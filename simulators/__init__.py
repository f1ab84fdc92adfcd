"""The provider simulators (see README.md), discovered: every module of this package that defines
`SIMULATOR` (its Simulator class), `DEFAULT_PORT` and `secret_payload(url)` simulates the provider
of the same name. Adding a simulator is adding its module."""

from __future__ import annotations

import functools
import importlib
import pkgutil
from types import ModuleType
from typing import Any

_INFRASTRUCTURE = {"base", "ca", "defaults", "dns"}


@functools.lru_cache(maxsize=1)
def simulator_modules() -> dict[str, ModuleType]:
    """Each simulator module by provider name, in the order of their default ports."""
    import simulators as package

    found = {}
    for info in pkgutil.iter_modules(package.__path__):
        if info.name in _INFRASTRUCTURE or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        if hasattr(module, "SIMULATOR"):
            found[info.name] = module
    return dict(sorted(found.items(), key=lambda item: item[1].DEFAULT_PORT))


def simulator_classes() -> dict[str, Any]:
    """Each provider's simulator class, by provider name (imported on demand)."""
    return {name: module.SIMULATOR for name, module in simulator_modules().items()}
