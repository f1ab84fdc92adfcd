"""Provider credentials from Secrets Manager, cached with Powertools Parameters (TTL).

Secrets are never logged, never returned and never put in errors. A provider whose secret is
missing or unreadable is reported as not configured."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from typing import Any

from chalicelib.config import Settings, settings
from chalicelib.providers.errors import ProviderNotConfigured

log = logging.getLogger(__name__)

_lock = threading.Lock()
_providers: dict[str, Any] = {}


def _secrets_provider(cfg: Settings) -> Any:
    key = f"{cfg.region}:{cfg.aws_endpoint_url}"
    with _lock:
        if key not in _providers:
            from aws_lambda_powertools.utilities.parameters import SecretsProvider
            from botocore.config import Config

            from chalicelib import aws

            _providers[key] = SecretsProvider(boto3_client=aws.client("secretsmanager", cfg),
                                              config=Config(region_name=cfg.region))
        return _providers[key]


def credentials(provider: str, cfg: Settings | None = None) -> Mapping[str, Any]:
    """The provider's secret as a dict; ProviderNotConfigured when absent or malformed."""
    cfg = cfg or settings()
    name = cfg.secret_names.get(provider)
    if not name:
        raise ProviderNotConfigured(provider, "no secret name configured")
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

    try:
        raw = _secrets_provider(cfg).get(name, max_age=cfg.secrets_ttl_s)
    except GetParameterError as exc:
        # The message of the underlying error names the secret, never its value.
        log.warning("provider secret unavailable", extra={"provider": provider, "error": type(exc.__cause__).__name__})
        raise ProviderNotConfigured(provider, f"credentials secret {name!r} is not readable") from None
    try:
        data = json.loads(raw) if isinstance(raw, str | bytes) else raw
    except ValueError:
        raise ProviderNotConfigured(provider, f"credentials secret {name!r} is not JSON") from None
    if not isinstance(data, dict) or not data.get("base_url"):
        raise ProviderNotConfigured(provider, f"credentials secret {name!r} lacks base_url")
    return data


def clear_cache() -> None:
    with _lock:
        for p in _providers.values():
            p.clear_cache()
        _providers.clear()
