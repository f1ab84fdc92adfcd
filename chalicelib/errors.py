"""API errors: everything the API answers with besides success is one of these, rendered once
as RFC 9457 application/problem+json (see chalicelib/problems.py)."""

from __future__ import annotations

from chalicelib.providers.errors import FieldError


class ApiError(Exception):
    status = 400
    code = "bad_request"
    title = "Bad request"

    def __init__(self, detail: str, *, errors: list[FieldError] | None = None, code: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = list(errors or [])
        if code:
            self.code = code
        self.headers = dict(headers or {})


class BadRequest(ApiError):
    status, code, title = 400, "bad_request", "Bad request"


class ValidationFailed(ApiError):
    """422: the request is well-formed but a field is wrong. `errors` names each field."""

    status, code, title = 422, "validation_failed", "Validation failed"

    def __init__(self, errors: list[FieldError], detail: str | None = None, **kw: object) -> None:
        names = ", ".join(e.field for e in errors)
        super().__init__(detail or f"invalid fields: {names}", errors=errors, **kw)  # type: ignore[arg-type]


class Unauthorized(ApiError):
    status, code, title = 401, "unauthorized", "Unauthorized"


class NotFound(ApiError):
    status, code, title = 404, "not_found", "Not found"


class NotAcceptable(ApiError):
    status, code, title = 406, "not_acceptable", "Not acceptable"


class Conflict(ApiError):
    status, code, title = 409, "conflict", "Conflict"


class PayloadTooLarge(ApiError):
    status, code, title = 413, "payload_too_large", "Payload too large"


class UnsupportedMediaType(ApiError):
    status, code, title = 415, "unsupported_media_type", "Unsupported media type"


class ServiceUnavailable(ApiError):
    status, code, title = 503, "service_unavailable", "Service unavailable"
