"""AWS clients, created lazily once per Lambda container and injectable in tests."""

from __future__ import annotations

import threading
from typing import Any

from chalicelib.config import Settings, settings

_lock = threading.Lock()
_clients: dict[str, Any] = {}


def client(service: str, cfg: Settings | None = None) -> Any:
    """A boto3 client for `service` (honours AWS_ENDPOINT_URL via boto3 itself and the settings)."""
    cfg = cfg or settings()
    key = f"{service}:{cfg.region}:{cfg.aws_endpoint_url}"
    found = _clients.get(key)
    if found is not None:
        return found
    with _lock:
        if key not in _clients:
            import boto3
            from botocore.config import Config

            kwargs: dict[str, Any] = {
                "region_name": cfg.region,
                "config": Config(retries={"max_attempts": 4, "mode": "standard"},
                                 connect_timeout=3, read_timeout=10, max_pool_connections=32),
            }
            if cfg.aws_endpoint_url:
                kwargs["endpoint_url"] = cfg.aws_endpoint_url
            _clients[key] = boto3.client(service, **kwargs)
        return _clients[key]


def reset_clients() -> None:
    """Forget every cached client (tests switch endpoints between runs)."""
    with _lock:
        _clients.clear()
