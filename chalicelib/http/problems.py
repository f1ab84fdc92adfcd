"""The one error path of the API: every failure becomes an RFC 9457 application/problem+json.

This module is the one place that knows the HTTP status of each error of chalicelib/core/errors.py."""

from __future__ import annotations

import json
import uuid
from typing import Any, TypeVar

from chalice import Response

from chalicelib.core.errors import (
    ApiError,
    AuthenticationFailed,
    BadRequest,
    CertgateError,
    ConcurrentModification,
    Conflict,
    DependencyFailed,
    DependencyFailure,
    Forbidden,
    NotAcceptable,
    NotFound,
    OwnershipUnproven,
    PayloadTooLarge,
    ProviderConflict,
    ProviderError,
    ProviderFailure,
    ProviderNotConfigured,
    ProviderNotFound,
    ProviderProtocolError,
    ProviderRejected,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    ServiceUnavailable,
    TransitionNotAllowed,
    Unauthorized,
    UnsupportedMediaType,
    UnsupportedOperation,
    ValidationFailed,
)

PROBLEM_TYPE_BASE = "https://certgate.dev/problems/"
PROBLEM_JSON = "application/problem+json"
# (status, body, headers) of one problem response.
ProblemParts = tuple[int, dict[str, Any], dict[str, str]]

# Status and title of each API error; a subclass not named here answers as its nearest ancestor.
API_ERRORS: dict[type[ApiError], tuple[int, str]] = {
    ApiError: (400, "Bad request"),
    BadRequest: (400, "Bad request"),
    Unauthorized: (401, "Unauthorized"),
    Forbidden: (403, "Forbidden"),
    NotFound: (404, "Not found"),
    NotAcceptable: (406, "Not acceptable"),
    Conflict: (409, "Conflict"),
    PayloadTooLarge: (413, "Payload too large"),
    UnsupportedMediaType: (415, "Unsupported media type"),
    ValidationFailed: (422, "Validation failed"),
    ServiceUnavailable: (503, "Service unavailable"),
}

# Status of each provider failure, as the gateway in front of the provider.
PROVIDER_ERRORS: dict[type[ProviderError], int] = {
    ProviderError: 502,
    AuthenticationFailed: 502,
    ProviderProtocolError: 502,
    # A provider's 404 on an object we hold a reference to is the provider failing us, not the caller.
    ProviderNotFound: 502,
    # Candidates at the provider, none proven ours: the record names them, an operator decides.
    OwnershipUnproven: 502,
    ProviderRejected: 422,
    UnsupportedOperation: 422,
    ProviderConflict: 409,
    RateLimited: 503,
    ProviderUnavailable: 503,
    ProviderNotConfigured: 503,
    ProviderTimeout: 504,
}

_PROVIDER_TITLES = {
    422: "Rejected by the provider",
    409: "Conflict at the provider",
    502: "Provider failed",
    503: "Provider unavailable",
    504: "Provider timed out",
}

# The title of every problem type (`code`): a problem's title names its type, not the HTTP status
# it shares with others (an unsupported_operation 422 is not "Validation failed"). Every code the
# code base raises is here (tests/unit/test_problems.py reads the sources to make sure), and each
# is listed in docs/api.md.
TITLES: dict[str, str] = {
    # 400
    "bad_request": "Bad request",
    "malformed_json": "Malformed JSON",
    "duplicate_json_key": "Duplicate JSON key",
    "body_required": "Body required",
    "invalid_next_token": "Invalid next_token",  # a title, not a secret  # nosec B105
    "invalid_principal": "Invalid principal",
    "principal_header_refused": "Principal header refused",
    # 401 / 403 / 404 / 405 / 406
    "unauthorized": "Unauthorized",
    "forbidden": "Forbidden",
    "not_found": "Not found",
    "method_not_allowed": "Method not allowed",
    "not_acceptable": "Not acceptable",
    # 409
    "conflict": "Conflict",
    "invalid_state": "Invalid state",
    "not_issued": "Not issued yet",
    "no_private_key": "No private key held",
    "concurrent_update": "Concurrent update",
    "idempotency_key_reused": "Idempotency key reused",
    "revocation_pending": "Revocation pending",
    "authority_in_use": "Authority in use",
    "authority_has_certificates": "Authority has certificates",
    "provider_conflict": "Conflict at the provider",
    # 413 / 415
    "payload_too_large": "Payload too large",
    "unsupported_media_type": "Unsupported media type",
    # 422
    "validation_failed": "Validation failed",
    "unsupported_operation": "Unsupported operation",
    "provider_rejected": "Rejected by the provider",
    # 500
    "internal_error": "Internal server error",
    # 502
    "provider_error": "Provider failed",
    "provider_protocol_error": "Provider answered nonsense",
    "provider_authentication_failed": "Provider authentication failed",
    "provider_not_found": "Not found at the provider",
    "outcome_unknown": "Outcome unknown",
    # 503 / 504
    "service_unavailable": "Service unavailable",
    "dependency_unavailable": "Dependency unavailable",
    "key_vault_unavailable": "Key vault unavailable",
    "provider_unavailable": "Provider unavailable",
    "provider_rate_limited": "Provider rate limit reached",
    "provider_not_configured": "Provider not configured",
    "provider_timeout": "Provider timed out",
}

_E = TypeVar("_E", bound=CertgateError)
_V = TypeVar("_V")


def _nearest(table: dict[type[_E], _V], err: _E) -> _V:
    for cls in type(err).__mro__:
        if cls in table:
            return table[cls]
    raise LookupError(f"no HTTP status for {type(err).__name__}")


def problem_body(status: int, code: str, title: str, detail: str, *, instance: str | None = None,
                 errors: list[dict[str, str]] | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + code.replace("_", "-"),
        "title": TITLES.get(code, title),  # `title`: for a code without its own (see TITLES)
        "status": status,
        "detail": detail,
        "code": code,
    }
    if instance:
        body["instance"] = instance
    if errors:
        body["errors"] = errors
    body.update({k: v for k, v in extra.items() if v is not None})
    return body


def from_api_error(err: ApiError, instance: str | None) -> ProblemParts:
    status, title = _nearest(API_ERRORS, err)
    body = problem_body(status, err.code, title, err.detail, instance=instance,
                        errors=[e.to_dict() for e in err.errors])
    return status, body, dict(err.headers)


def from_provider_error(err: ProviderError, instance: str | None, **extra: Any) -> ProblemParts:
    status = _nearest(PROVIDER_ERRORS, err)
    errors = [e.to_dict() for e in err.field_errors] if isinstance(err, ProviderRejected) else None
    headers: dict[str, str] = {}
    retry_after = getattr(err, "retry_after", None)
    if status in (503, 504):
        headers["Retry-After"] = str(max(1, int(round(retry_after or 5))))
    body = problem_body(status, err.code, _PROVIDER_TITLES.get(status, "Provider error"), str(err),
                        instance=instance, errors=errors, provider=err.provider,
                        provider_request_id=err.request_id, **extra)
    return status, body, headers


def internal_error(instance: str | None, request_id: str | None) -> ProblemParts:
    rid = request_id or uuid.uuid4().hex
    body = problem_body(500, "internal_error", "Internal server error",
                        "An unexpected error occurred; quote the request_id when reporting it.",
                        instance=instance, request_id=rid)
    return 500, body, {}


def _dependency_problem(exc: DependencyFailed, instance: str | None, **extra: Any) -> ProblemParts:
    """An AWS dependency failed (its code names which); retrying later may work."""
    err = ServiceUnavailable(f"a dependency is unavailable ({exc.dependency}: {exc.code}); retry later",
                             code="dependency_unavailable", headers={"Retry-After": "10"})
    status, body, headers = from_api_error(err, instance)
    return status, {**body, **extra}, headers


def from_exception(exc: Exception, instance: str | None) -> ProblemParts | None:
    """The problem for an error certgate raises on purpose; None for an unexpected one (a 500)."""

    if isinstance(exc, ApiError):
        return from_api_error(exc, instance)
    if isinstance(exc, ProviderError):
        return from_provider_error(exc, instance)
    if isinstance(exc, ConcurrentModification | TransitionNotAllowed):
        # Someone else changed the certificate between our read and our write.
        return from_api_error(Conflict(f"the certificate changed concurrently ({exc}); read it again and retry",
                                       code="concurrent_update"), instance)
    if isinstance(exc, DependencyFailed):
        return _dependency_problem(exc, instance)
    if isinstance(exc, DependencyFailure):
        cert = exc.cert
        status, body, headers = _dependency_problem(exc.error, instance, certificate_id=cert.id,
                                                    certificate_status=cert.public_status)
        return status, body, {**headers, "Location": f"/certificates/{cert.id}"}
    if isinstance(exc, ProviderFailure):
        cert = exc.cert
        status, body, headers = from_provider_error(exc.error, instance, certificate_id=cert.id,
                                                    certificate_status=cert.public_status)
        return status, body, {**headers, "Location": f"/certificates/{cert.id}"}
    return None


def dumps(body: dict[str, Any]) -> str:
    return json.dumps(body, separators=(",", ":"))


def response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(body=dumps(body), status_code=status, headers={"Content-Type": PROBLEM_JSON, **(headers or {})})
