"""Reading the Chalice request: the JSON body (size, encoding, depth, content type), the query
string (unknown parameters refused), the Idempotency-Key header and what the caller accepts."""

from __future__ import annotations

import json
import re
from typing import Any

from chalice.app import Request

from chalicelib.core.errors import (
    BadRequest,
    FieldError,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
)

MAX_BODY_BYTES = 256 * 1024
MAX_JSON_DEPTH = 32
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


def concrete_path(req: Request) -> str:
    """The path the caller asked for (Chalice's `request.path` is the route template)."""
    return str((req.context or {}).get("path") or req.path)


def header(req: Request, name: str) -> str | None:
    """A request header by its lower-case name."""
    value = req.headers.get(name)
    return None if value is None else str(value)


def _depth(value: Any, limit: int) -> int:
    """Nesting depth of parsed JSON, iteratively (no recursion to blow up)."""
    stack = [(value, 1)]
    deepest = 0
    while stack:
        v, d = stack.pop()
        deepest = max(deepest, d)
        if deepest > limit:
            return deepest
        if isinstance(v, dict):
            stack.extend((x, d + 1) for x in v.values())
        elif isinstance(v, list):
            stack.extend((x, d + 1) for x in v)
    return deepest


def _parse_json(raw: bytes) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"request body is not UTF-8 (byte {exc.start})", code="malformed_json") from exc
    try:
        value = json.loads(text)
    except RecursionError as exc:
        raise BadRequest("request body nests too deeply", code="malformed_json") from exc
    except ValueError as exc:
        raise BadRequest(f"request body is not valid JSON: {exc}", code="malformed_json") from exc
    if _depth(value, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise BadRequest(f"request body nests deeper than {MAX_JSON_DEPTH} levels", code="malformed_json")
    return value


def json_body(req: Request, *, required: bool = True) -> Any:
    """The parsed JSON body (None when it is empty and not `required`); the service validates its shape."""
    body = req.raw_body or b""
    raw = body.encode() if isinstance(body, str) else body  # Chalice types raw_body as str | bytes
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"request body is larger than {MAX_BODY_BYTES} bytes")
    if not raw.strip():
        if required:
            raise BadRequest("a JSON request body is required", code="body_required")
        return None
    ctype = (header(req, "content-type") or "application/json").split(";")[0].strip().lower()
    if ctype and not (ctype == "application/json" or ctype.endswith("+json")):
        raise UnsupportedMediaType(f"send application/json, not {ctype}")
    return _parse_json(raw)


def query(req: Request, name: str) -> str | None:
    value = req.query_params.get(name) if req.query_params is not None else None
    return None if value is None else str(value)


def check_query(req: Request, allowed: set[str]) -> None:
    """Refuse query parameters the route does not know (a typo must not be silently ignored)."""
    unknown = sorted(set(req.query_params or {}) - allowed)
    if unknown:
        from chalicelib.service.requests import field_name

        raise ValidationFailed([FieldError(field_name(k).replace("body[", "query["), "is not a known query parameter")
                                for k in unknown])


def idempotency_key(req: Request) -> str | None:
    key = header(req, "idempotency-key")
    if key is not None and not _IDEMPOTENCY_KEY.match(key):
        raise ValidationFailed([FieldError("Idempotency-Key", "must be 1-255 printable ASCII characters")])
    return key


def accepts_any_of(req: Request, media_types: list[str]) -> bool:
    """Whether the Accept header names one of `media_types` (or */*)."""
    accept = (header(req, "accept") or "").lower()
    parts = {p.strip() for p in re.split("[,;]", accept)}
    return "*/*" in accept or bool(parts & set(media_types))
