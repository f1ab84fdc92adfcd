"""What the client raises. Every API error is an ApiError parsed from its application/problem+json
(RFC 9457) body, of the class of its problem type's family; `type`, `status`, `code`, `field` and the
field errors are attributes, so callers catch a family and read the details:

    try:
        client.order("resello", "www.example.com", product="ov")
    except ValidationFailed as err:
        print(err.field, err.errors)        # the first offending field, then each one
    except ProviderUnavailable as err:
        time.sleep(err.retry_after or 5)

Families (the class is chosen by the problem `code` where it names one below, else by the status):

| class | status | codes |
|---|---|---|
| BadRequest | 400 | bad_request, malformed_json, invalid_next_token, principal_header_refused, ... |
| Unauthorized / Forbidden | 401 / 403 | unauthorized / forbidden |
| NotFound | 404 | not_found |
| MethodNotAllowed / NotAcceptable | 405 / 406 | method_not_allowed / not_acceptable |
| Conflict | 409 | invalid_state, not_issued, no_private_key, concurrent_update, idempotency_key_reused, ... |
| PayloadTooLarge / UnsupportedMediaType | 413 / 415 | |
| ValidationFailed | 422 | validation_failed (every field in `errors`) |
| UnsupportedOperation | 422 | unsupported_operation (the provider cannot do it) |
| ProviderRejected | 422 | provider_rejected |
| ProviderConflict | 409 | provider_conflict |
| ProviderFailed | 502 | provider_error, provider_protocol_error, provider_authentication_failed, ... |
| ProviderUnavailable | 503 | provider_unavailable, provider_rate_limited, provider_not_configured |
| ProviderTimeout | 504 | provider_timeout |
| ServiceUnavailable | 503 | dependency_unavailable, service_unavailable |
| InternalError | 500 | internal_error (quote `request_id`) |

The Provider* classes are also ProviderError. ClientError (4xx) and ServerError (5xx) sit between
ApiError and the families."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from certgate.models import Certificate

PROBLEM_TYPE_BASE = "https://certgate.dev/problems/"


class CertgateError(Exception):
    """Everything this package raises."""


class ConfigurationError(CertgateError):
    """The client cannot be set up as asked: no credentials or no region to sign with, a bad URL."""


class ConnectionFailed(CertgateError):
    """No answer at all: connection refused, DNS, TLS, timeout (after the retries that are safe)."""


@dataclass(frozen=True)
class FieldError:
    field: str  # dotted path, e.g. sans[1].value
    message: str


class ApiError(CertgateError):
    """The API answered with a problem (or, from something in front of it, a non-JSON error)."""

    def __init__(self, status: int, *, type: str, code: str, title: str, detail: str | None = None,
                 errors: tuple[FieldError, ...] = (), instance: str | None = None, request_id: str | None = None,
                 provider: str | None = None, provider_request_id: str | None = None,
                 certificate_id: str | None = None, certificate_status: str | None = None,
                 retry_after: float | None = None, raw: Mapping[str, Any] | None = None) -> None:
        super().__init__(f"{status} {title} [{code}]" + (f": {detail}" if detail else ""))
        self.status, self.type, self.code, self.title, self.detail = status, type, code, title, detail
        self.errors, self.instance, self.request_id = errors, instance, request_id
        self.provider, self.provider_request_id = provider, provider_request_id
        # A provider failure after the order was recorded: the certificate exists; follow it, do not re-order.
        self.certificate_id, self.certificate_status = certificate_id, certificate_status
        self.retry_after = retry_after
        self.raw: Mapping[str, Any] = raw or {}

    @property
    def field(self) -> str | None:
        """The first field the problem names (None when it names none)."""
        return self.errors[0].field if self.errors else None

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(e.field for e in self.errors)


class ClientError(ApiError):
    """4xx: the request cannot be served as sent."""


class ServerError(ApiError):
    """5xx: certgate or a provider behind it failed; retrying later may work."""


class ProviderError(ApiError):
    """The problem comes from the provider (`provider` names it)."""


class BadRequest(ClientError):
    pass


class Unauthorized(ClientError):
    pass


class Forbidden(ClientError):
    pass


class NotFound(ClientError):
    pass


class MethodNotAllowed(ClientError):
    pass


class NotAcceptable(ClientError):
    pass


class Conflict(ClientError):
    pass


class PayloadTooLarge(ClientError):
    pass


class UnsupportedMediaType(ClientError):
    pass


class ValidationFailed(ClientError):
    pass


class UnsupportedOperation(ProviderError, ClientError):
    pass


class ProviderRejected(ProviderError, ClientError):
    pass


class ProviderConflict(ProviderError, ClientError):
    pass


class InternalError(ServerError):
    pass


class ServiceUnavailable(ServerError):
    pass


class ProviderFailed(ProviderError, ServerError):
    pass


class ProviderUnavailable(ProviderError, ServerError):
    pass


class ProviderTimeout(ProviderUnavailable):
    pass


BY_CODE: dict[str, type[ApiError]] = {
    "validation_failed": ValidationFailed,
    "unsupported_operation": UnsupportedOperation,
    "provider_rejected": ProviderRejected,
    "provider_conflict": ProviderConflict,
    "provider_unavailable": ProviderUnavailable,
    "provider_rate_limited": ProviderUnavailable,
    "provider_not_configured": ProviderUnavailable,
    "provider_timeout": ProviderTimeout,
    "dependency_unavailable": ServiceUnavailable,
    "service_unavailable": ServiceUnavailable,
    "internal_error": InternalError,
}

BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest, 401: Unauthorized, 403: Forbidden, 404: NotFound, 405: MethodNotAllowed,
    406: NotAcceptable, 409: Conflict, 413: PayloadTooLarge, 415: UnsupportedMediaType, 422: ValidationFailed,
    500: InternalError, 502: ProviderFailed, 503: ServiceUnavailable, 504: ProviderTimeout,
}


def error_class(status: int, code: str) -> type[ApiError]:
    if code in BY_CODE:
        return BY_CODE[code]
    if code.startswith("provider_"):  # a provider code this client does not know yet: its family by status
        return {409: ProviderConflict, 503: ProviderUnavailable, 504: ProviderTimeout}.get(
            status, ProviderRejected if status < 500 else ProviderFailed)
    if status in BY_STATUS:
        return BY_STATUS[status]
    return ClientError if status < 500 else ServerError


class WaitTimeout(CertgateError):
    """wait_until_issued(): still pending when the timeout ran out (it goes on in the background)."""

    def __init__(self, certificate: Certificate, waited_s: float) -> None:
        super().__init__(f"{certificate.id} still {certificate.status} after {waited_s:.0f} s")
        self.certificate, self.waited_s = certificate, waited_s


class CertificateNotIssued(CertgateError):
    """wait_until_issued(): the certificate ended failed, cancelled, revoked or expired."""

    def __init__(self, certificate: Certificate) -> None:
        reason = certificate.failure.reason or certificate.failure.code if certificate.failure else None
        super().__init__(f"{certificate.id} ended {certificate.status}" + (f" ({reason})" if reason else ""))
        self.certificate = certificate
