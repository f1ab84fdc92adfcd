"""Provider credentials from Secrets Manager, cached with Powertools Parameters (TTL).

Secrets are never logged, never returned and never put in errors. A provider whose secret is
missing or unreadable is reported as not configured."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from chalicelib.adapters.clients import translate_errors
from chalicelib.core.errors import ProviderNotConfigured

log = logging.getLogger(__name__)


@translate_errors("secrets")
class ProviderSecrets:
    """One JSON secret per provider (named by `secret_name(provider)`), read through a TTL cache;
    `providers()` lists the providers whose secrets `ping` checks."""

    def __init__(self, client_factory: Callable[[], Any], secret_name: Callable[[str], str],
                 providers: Callable[[], Iterable[str]], region: str, ttl_s: int = 300) -> None:
        self._client_factory = client_factory
        self.secret_name = secret_name
        self._providers = providers
        self.region = region
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._provider: Any = None

    def _secrets_provider(self) -> Any:
        with self._lock:
            if self._provider is None:
                from aws_lambda_powertools.utilities.parameters import SecretsProvider

                # The client carries the region and endpoint; Powertools' `config=` is deprecated
                # (and ignored when a client is given).
                self._provider = SecretsProvider(boto3_client=self._client_factory())
            return self._provider

    def credentials(self, provider: str) -> Mapping[str, Any]:
        """The provider's secret as a dict; ProviderNotConfigured when absent or malformed."""
        name = self.secret_name(provider)
        if not name:
            raise ProviderNotConfigured(provider, "no secret name configured")
        from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

        try:
            raw = self._secrets_provider().get(name, max_age=self.ttl_s)
        except GetParameterError as exc:
            # The message of the underlying error names the secret, never its value.
            log.warning("provider secret unavailable",
                        extra={"provider": provider, "error": type(exc.__cause__).__name__})
            raise ProviderNotConfigured(provider, f"credentials secret {name!r} is not readable") from None
        try:
            data = json.loads(raw) if isinstance(raw, str | bytes) else raw
        except ValueError:
            raise ProviderNotConfigured(provider, f"credentials secret {name!r} is not JSON") from None
        if not isinstance(data, dict) or not data.get("base_url"):
            raise ProviderNotConfigured(provider, f"credentials secret {name!r} lacks base_url")
        return data

    def ping(self) -> None:
        """Every secret exists (metadata only: the value is never read here)."""
        sm = self._client_factory()
        for provider in self._providers():
            sm.describe_secret(SecretId=self.secret_name(provider))

    def clear_cache(self) -> None:
        with self._lock:
            if self._provider is not None:
                self._provider.clear_cache()
