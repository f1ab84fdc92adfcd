"""AWS clients, created lazily once per Lambda container and injectable in tests."""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from chalicelib.core.errors import DependencyFailed

T = TypeVar("T")
_lock = threading.Lock()
_clients: dict[str, Any] = {}


def client(service: str, region: str, endpoint_url: str | None = None) -> Any:
    """A boto3 client for `service` (honours AWS_ENDPOINT_URL via boto3 itself and `endpoint_url`)."""
    key = f"{service}:{region}:{endpoint_url}"
    found = _clients.get(key)
    if found is not None:
        return found
    with _lock:
        if key not in _clients:
            import boto3
            from botocore.config import Config

            kwargs: dict[str, Any] = {
                "region_name": region,
                "config": Config(retries={"max_attempts": 4, "mode": "standard"},
                                 connect_timeout=3, read_timeout=10, max_pool_connections=32),
            }
            if endpoint_url:
                kwargs["endpoint_url"] = endpoint_url
            _clients[key] = boto3.client(service, **kwargs)
        return _clients[key]


def translate_errors(dependency: str) -> Callable[[type[T]], type[T]]:
    """Class decorator for an adapter: every public method turns the AWS SDK's exceptions that
    escape it into `DependencyFailed`, so that the service speaks only certgate's errors."""
    from botocore.exceptions import BotoCoreError, ClientError

    def translated(exc: Exception) -> DependencyFailed:
        if isinstance(exc, ClientError):
            return DependencyFailed(dependency, str(exc.response.get("Error", {}).get("Code", "ClientError")))
        return DependencyFailed(dependency, type(exc).__name__)

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        if inspect.isgeneratorfunction(fn):
            @functools.wraps(fn)
            def gen(*args: Any, **kw: Any) -> Any:
                try:
                    yield from fn(*args, **kw)
                except (BotoCoreError, ClientError) as exc:
                    raise translated(exc) from exc
            return gen

        @functools.wraps(fn)
        def call(*args: Any, **kw: Any) -> Any:
            try:
                return fn(*args, **kw)
            except (BotoCoreError, ClientError) as exc:
                raise translated(exc) from exc
        return call

    def decorate(cls: type[T]) -> type[T]:
        for name, member in list(vars(cls).items()):
            if not name.startswith("_") and inspect.isfunction(member):
                setattr(cls, name, wrap(member))
        return cls
    return decorate


def reset_clients() -> None:
    """Forget every cached client (tests switch endpoints between runs)."""
    with _lock:
        _clients.clear()
