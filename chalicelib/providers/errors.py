"""Typed provider errors. Adapters raise only these; the API maps them to problem+json once."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


class ProviderError(Exception):
    """Base of every provider failure. `retryable` says whether the same call may succeed later."""

    code = "provider_error"
    http_status = 502
    retryable = False

    def __init__(self, provider: str, message: str, *, request_id: str | None = None,
                 provider_code: str | None = None, outcome_unknown: bool = False) -> None:
        super().__init__(message)
        self.provider = provider
        # Set when an unsafe call (a create) may have been committed before the failure.
        self.outcome_unknown = outcome_unknown
        self.message = message
        self.request_id = request_id
        self.provider_code = provider_code

    def __str__(self) -> str:
        return f"{self.provider}: {self.message}"


class AuthenticationFailed(ProviderError):
    code = "provider_authentication_failed"
    http_status = 502


class ProviderRejected(ProviderError):
    """The provider refused the request as invalid (its validation, not ours)."""

    code = "provider_rejected"
    http_status = 422

    def __init__(self, provider: str, message: str, *, field_errors: list[FieldError] | None = None,
                 **kw: object) -> None:
        super().__init__(provider, message, **kw)  # type: ignore[arg-type]
        self.field_errors = list(field_errors or [])


class ProviderConflict(ProviderError):
    """The provider refused the call in the object's current state (e.g. cancel an issued order)."""

    code = "provider_conflict"
    http_status = 409


class ProviderNotFound(ProviderError):
    code = "provider_not_found"
    http_status = 404


class RateLimited(ProviderError):
    code = "provider_rate_limited"
    http_status = 503
    retryable = True

    def __init__(self, provider: str, message: str, *, retry_after: float | None = None,
                 **kw: object) -> None:
        super().__init__(provider, message, **kw)  # type: ignore[arg-type]
        self.retry_after = retry_after


class ProviderUnavailable(ProviderError):
    """5xx, connection refused or reset: retryable."""

    code = "provider_unavailable"
    http_status = 503
    retryable = True

    def __init__(self, provider: str, message: str, *, retry_after: float | None = None,
                 **kw: object) -> None:
        super().__init__(provider, message, **kw)  # type: ignore[arg-type]
        self.retry_after = retry_after


class ProviderTimeout(ProviderUnavailable):
    code = "provider_timeout"
    http_status = 504


class UnsupportedOperation(ProviderError):
    code = "unsupported_operation"
    http_status = 422


class ProviderProtocolError(ProviderError):
    """The provider answered something we cannot parse or that breaks its documented shape."""

    code = "provider_protocol_error"
    http_status = 502
    retryable = True


class ProviderNotConfigured(ProviderError):
    """No (readable) credentials for this provider in Secrets Manager."""

    code = "provider_not_configured"
    http_status = 503
