"""Which adapters exist and how to build one: lazily, from its Secrets Manager credentials."""

from __future__ import annotations

import hashlib
import importlib
import json
import threading
from typing import Any

from chalicelib.config import Settings, settings
from chalicelib.providers.base import Capabilities, Provider

_MODULES = {
    "tinycert": ("chalicelib.providers.tinycert", "TinyCertProvider"),
    "resello": ("chalicelib.providers.resello", "ReselloProvider"),
    "digicert": ("chalicelib.providers.digicert", "DigiCertProvider"),
}

_lock = threading.Lock()
_instances: dict[str, tuple[str, Provider]] = {}


def capabilities(name: str) -> Capabilities:
    module, _ = _MODULES[name]
    return importlib.import_module(module).CAPABILITIES


def http_settings(cfg: Settings) -> Any:
    from chalicelib.observability import PROVIDER_OBSERVER
    from chalicelib.providers.http import HttpSettings

    return HttpSettings(connect_timeout=cfg.provider_connect_timeout_s, read_timeout=cfg.provider_read_timeout_s,
                        max_attempts=cfg.provider_max_attempts, verify=cfg.tls_verify, observer=PROVIDER_OBSERVER)


def get(name: str, cfg: Settings | None = None) -> Provider:
    """The adapter for `name`, rebuilt when its credentials change (rotation)."""
    from chalicelib.providers.credentials import credentials

    cfg = cfg or settings()
    creds = credentials(name, cfg)
    digest = hashlib.sha256(json.dumps(creds, sort_keys=True, default=str).encode()).hexdigest()
    with _lock:
        cached = _instances.get(name)
        if cached and cached[0] in (digest, "pinned"):
            return cached[1]
        module, cls = _MODULES[name]
        adapter = getattr(importlib.import_module(module), cls)(creds, http_settings(cfg))
        _instances[name] = (digest, adapter)
        return adapter


def override(name: str, adapter: Provider | None) -> None:
    """Tests: pin an adapter instance (None forgets it)."""
    with _lock:
        if adapter is None:
            _instances.pop(name, None)
        else:
            _instances[name] = ("pinned", adapter)


def reset() -> None:
    with _lock:
        _instances.clear()
