"""The one error path of the API: every failure becomes an RFC 9457 application/problem+json."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from chalicelib.core.errors import ApiError, ProviderError, ProviderRejected

PROBLEM_TYPE_BASE = "https://certgate.dev/problems/"
log = logging.getLogger("certgate.problems")


def problem_body(status: int, code: str, title: str, detail: str, *, instance: str | None = None,
                 errors: list[dict[str, str]] | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + code.replace("_", "-"),
        "title": title,
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


def from_api_error(err: ApiError, instance: str | None) -> tuple[int, dict[str, Any], dict[str, str]]:
    body = problem_body(err.status, err.code, err.title, err.detail, instance=instance,
                        errors=[e.to_dict() for e in err.errors])
    return err.status, body, dict(err.headers)


_PROVIDER_TITLES = {
    422: "Rejected by the provider",
    404: "Not found at the provider",
    409: "Conflict at the provider",
    502: "Provider failed",
    503: "Provider unavailable",
    504: "Provider timed out",
}


def from_provider_error(err: ProviderError, instance: str | None,
                        **extra: Any) -> tuple[int, dict[str, Any], dict[str, str]]:
    status = err.http_status
    # A provider's 404 on an object we hold a reference to is the provider failing us, not the caller.
    if status == 404:
        status = 502
    errors = [e.to_dict() for e in err.field_errors] if isinstance(err, ProviderRejected) else None
    headers: dict[str, str] = {}
    retry_after = getattr(err, "retry_after", None)
    if status in (503, 504):
        headers["Retry-After"] = str(max(1, int(round(retry_after or 5))))
    body = problem_body(status, err.code, _PROVIDER_TITLES.get(status, "Provider error"), str(err),
                        instance=instance, errors=errors, provider=err.provider,
                        provider_request_id=err.request_id, **extra)
    return status, body, headers


def internal_error(instance: str | None, request_id: str | None) -> tuple[int, dict[str, Any], dict[str, str]]:
    rid = request_id or uuid.uuid4().hex
    body = problem_body(500, "internal_error", "Internal server error",
                        "An unexpected error occurred; quote the request_id when reporting it.",
                        instance=instance, request_id=rid)
    return 500, body, {}


def dumps(body: dict[str, Any]) -> str:
    return json.dumps(body, separators=(",", ":"))
