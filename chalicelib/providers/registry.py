"""Which provider adapters exist and how to build one from its credentials.

The adapters are discovered: every module of this package that defines `ADAPTER` (a Provider
subclass with `name` and `capabilities`) is a provider. Adding a provider is adding its module."""

from __future__ import annotations

import functools
import hashlib
import importlib
import json
import pkgutil
import threading
from collections.abc import Mapping
from typing import Any

from chalicelib.core.provider import Capabilities
from chalicelib.providers.base import Provider
from chalicelib.providers.http import HttpSettings

_INFRASTRUCTURE = {"base", "http", "registry"}


@functools.lru_cache(maxsize=1)
def _adapters() -> dict[str, type[Provider]]:
    import chalicelib.providers as package

    found: dict[str, type[Provider]] = {}
    for info in pkgutil.iter_modules(package.__path__):
        if info.name in _INFRASTRUCTURE or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        adapter = getattr(module, "ADAPTER", None)
        if adapter is not None:
            found[adapter.name] = adapter
    return found


def names() -> tuple[str, ...]:
    """Every provider, in the order the API lists them (each adapter's `listing_position`, then name)."""
    found = _adapters()
    return tuple(sorted(found, key=lambda name: (found[name].listing_position, name)))


def adapter_class(name: str) -> type[Provider]:
    return _adapters()[name]


def capabilities(name: str) -> Capabilities:
    return adapter_class(name).capabilities


class Registry:
    """Adapters built lazily, one per provider, rebuilt when its credentials change (rotation)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._instances: dict[str, tuple[str, Provider]] = {}

    def get(self, name: str, credentials: Mapping[str, Any], http: HttpSettings) -> Provider:
        digest = hashlib.sha256(json.dumps(credentials, sort_keys=True, default=str).encode()).hexdigest()
        with self._lock:
            cached = self._instances.get(name)
            if cached and cached[0] in (digest, "pinned"):
                return cached[1]
            adapter = adapter_class(name)(credentials, http)
            self._instances[name] = (digest, adapter)
            return adapter

    def pinned(self, name: str) -> Provider | None:
        with self._lock:
            cached = self._instances.get(name)
            return cached[1] if cached and cached[0] == "pinned" else None

    def override(self, name: str, adapter: Provider | None) -> None:
        """Tests: pin an adapter instance (None forgets it)."""
        with self._lock:
            if adapter is None:
                self._instances.pop(name, None)
            else:
                self._instances[name] = ("pinned", adapter)

    def reset(self) -> None:
        with self._lock:
            self._instances.clear()
