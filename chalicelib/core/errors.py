"""The one error hierarchy of certgate. Every failure anywhere is a `CertgateError`:

- `ApiError` and its subclasses: the request cannot be served as asked (bad input, not found,
  state conflict); raised by the service, the x509 helpers and the store alike;
- `ProviderError` and its subclasses: a provider failed or refused (adapters raise only these);
- the storage outcomes (`ConcurrentModification`, `AlreadyExists`), `TransitionNotAllowed`,
  `BadMaterial` (unparseable certificate material) and `ConfigError`.

The HTTP edge (chalicelib/http/problems.py) is the one place that turns them into problem+json
and the one place that knows their HTTP statuses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chalicelib.core.model import Certificate, Status


class CertgateError(Exception):
    """Root of every error certgate raises on purpose."""



@dataclass(frozen=True)
class FieldError:
    field: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


class ProviderError(CertgateError):
    """Base of every provider failure. `retryable` says whether the same call may succeed later."""

    code = "provider_error"
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


class ProviderRejected(ProviderError):
    """The provider refused the request as invalid (its validation, not ours)."""

    code = "provider_rejected"

    def __init__(self, provider: str, message: str, *, field_errors: list[FieldError] | None = None,
                 **kw: object) -> None:
        super().__init__(provider, message, **kw)  # type: ignore[arg-type]
        self.field_errors = list(field_errors or [])


class ProviderConflict(ProviderError):
    """The provider refused the call in the object's current state (e.g. cancel an issued order)."""

    code = "provider_conflict"


class ProviderNotFound(ProviderError):
    code = "provider_not_found"


class RateLimited(ProviderError):
    code = "provider_rate_limited"
    retryable = True

    def __init__(self, provider: str, message: str, *, retry_after: float | None = None,
                 **kw: object) -> None:
        super().__init__(provider, message, **kw)  # type: ignore[arg-type]
        self.retry_after = retry_after


class ProviderUnavailable(ProviderError):
    """5xx, connection refused or reset: retryable."""

    code = "provider_unavailable"
    retryable = True

    def __init__(self, provider: str, message: str, *, retry_after: float | None = None,
                 **kw: object) -> None:
        super().__init__(provider, message, **kw)  # type: ignore[arg-type]
        self.retry_after = retry_after


class ProviderTimeout(ProviderUnavailable):
    code = "provider_timeout"


class UnsupportedOperation(ProviderError):
    code = "unsupported_operation"


class ProviderProtocolError(ProviderError):
    """The provider answered something we cannot parse or that breaks its documented shape."""

    code = "provider_protocol_error"
    retryable = True


class OwnershipUnproven(ProviderError):
    """After an ambiguous create, the provider holds objects that may be this certificate's order
    but none is proven ours (several carry its mark, a mark fails its check, or the one found is
    another record's). Never adopted, never ordered again: the outcome is unknown, for an operator.
    `candidates` names the provider ids in question."""

    code = "outcome_unknown"

    def __init__(self, provider: str, message: str, *, candidates: tuple[str, ...] = (), **kw: object) -> None:
        kw.setdefault("outcome_unknown", True)
        super().__init__(provider, message, **kw)  # type: ignore[arg-type]
        self.candidates = tuple(candidates)


class ProviderNotConfigured(ProviderError):
    """No (readable) credentials for this provider in Secrets Manager."""

    code = "provider_not_configured"



class ApiError(CertgateError):
    """The request cannot be served as asked. `code` names the reason for the caller; the HTTP
    status and title of each subclass are the edge's business (chalicelib/http/problems.py)."""

    code = "bad_request"

    def __init__(self, detail: str, *, errors: list[FieldError] | None = None, code: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = list(errors or [])
        if code:
            self.code = code
        self.headers = dict(headers or {})


class BadRequest(ApiError):
    code = "bad_request"


class ValidationFailed(ApiError):
    """422: the request is well-formed but a field is wrong. `errors` names each field."""

    code = "validation_failed"

    def __init__(self, errors: list[FieldError], detail: str | None = None, **kw: object) -> None:
        names = ", ".join(e.field for e in errors)
        super().__init__(detail or f"invalid fields: {names}", errors=errors, **kw)  # type: ignore[arg-type]


class Unauthorized(ApiError):
    code = "unauthorized"


class Forbidden(ApiError):
    """Authenticated, but this caller may not do this (e.g. delete an object others depend on)."""

    code = "forbidden"


class NotFound(ApiError):
    code = "not_found"


class NotAcceptable(ApiError):
    code = "not_acceptable"


class Conflict(ApiError):
    code = "conflict"


class PayloadTooLarge(ApiError):
    code = "payload_too_large"


class UnsupportedMediaType(ApiError):
    code = "unsupported_media_type"


class ServiceUnavailable(ApiError):
    code = "service_unavailable"


class ConcurrentModification(CertgateError):
    """Someone else changed the certificate first (optimistic lock lost)."""


class AlreadyExists(CertgateError):
    """A conditional create found the item already there (idempotency, references)."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


class TransitionNotAllowed(CertgateError):
    def __init__(self, current: Status, target: Status) -> None:
        super().__init__(f"cannot go from {current.public} to {target.public}")
        self.current, self.target = current, target


class BadMaterial(CertgateError, ValueError):
    """A certificate, chain or private key from a provider or from storage is unusable."""


class DependencyFailed(CertgateError):
    """An AWS dependency (table, bucket, topic, key, secret) failed or is unreachable.
    `code` is the dependency's own error code (e.g. NoSuchBucket), never a secret."""

    def __init__(self, dependency: str, code: str) -> None:
        super().__init__(f"{dependency}: {code}")
        self.dependency, self.code = dependency, code


class KeyVaultError(CertgateError):
    """KMS refused or failed the call (access, throttling, network). The message names the KMS code."""


class SealedKeyInvalid(KeyVaultError):
    """The sealed key is malformed, was altered, or belongs to another context or KMS key."""


class ConfigError(CertgateError, ValueError):
    """A setting is missing or malformed."""


class ProviderFailure(CertgateError):
    """A provider error that happened while working on a certificate we already recorded: the
    edge answers with the provider's problem plus the certificate id and status."""

    def __init__(self, cert: Certificate, error: ProviderError) -> None:
        super().__init__(str(error))
        self.cert, self.error = cert, error


class DependencyFailure(CertgateError):
    """An AWS dependency failed while working on a certificate we already recorded (e.g. the
    bucket was missing when the issued certificate was stored): the edge answers 503 with the
    certificate id and status, so the caller follows that certificate instead of ordering again."""

    def __init__(self, cert: Certificate, error: DependencyFailed) -> None:
        super().__init__(str(error))
        self.cert, self.error = cert, error
