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


class _DuplicateKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object of the body; a key given twice is refused (RFC 8259 leaves its meaning open, and
    two parsers reading "the first" and "the last" would disagree on what was asked)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def _parse_json(raw: bytes) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"request body is not UTF-8 (byte {exc.start})", code="malformed_json") from exc
    try:
        value = json.loads(text, object_pairs_hook=_unique_keys)
    except _DuplicateKey as exc:
        raise BadRequest(f"request body gives the key {str(exc)!r} more than once",
                         code="duplicate_json_key") from exc
    except RecursionError as exc:
        raise BadRequest("request body nests too deeply", code="malformed_json") from exc
    except ValueError as exc:
        raise BadRequest(f"request body is not valid JSON: {exc}", code="malformed_json") from exc
    if _depth(value, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise BadRequest(f"request body nests deeper than {MAX_JSON_DEPTH} levels", code="malformed_json")
    return value


def json_body(req: Request, *, required: bool = True) -> Any:
    """The parsed JSON body, always an object (None when it is empty and not `required`); the
    service validates its fields."""
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
    value = _parse_json(raw)
    if not isinstance(value, dict):
        # Every body of this API is an object: `[]` or `"x"` is not an empty request.
        raise ValidationFailed([FieldError("body", f"must be a JSON object, not {_json_kind(value)}")])
    return value


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    return "a number"


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


def _accept_ranges(accept: str) -> list[tuple[str, float]]:
    """(media range, q) of an Accept header (RFC 9110 12.5.1); a malformed q counts as 0."""
    ranges = []
    for part in accept.lower().split(","):
        media, *params = (p.strip() for p in part.split(";"))
        if not media:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = 0.0
                q = q if 0.0 <= q <= 1.0 else 0.0
        ranges.append((media, q))
    return ranges


def _quality(media_type: str, ranges: list[tuple[str, float]]) -> float:
    """The q the most specific matching range gives `media_type` (0: not acceptable)."""
    kind = media_type.split("/")[0]
    best: tuple[int, float] | None = None
    for media, q in ranges:
        specificity = 2 if media == media_type else 1 if media == f"{kind}/*" else 0 if media == "*/*" else -1
        if specificity >= 0 and (best is None or specificity > best[0]):
            best = (specificity, q)
    return 0.0 if best is None else best[1]


def accepts_any_of(req: Request, media_types: list[str]) -> bool:
    """Whether the Accept header makes one of `media_types` acceptable (RFC 9110 12.5.1: the most
    specific matching range decides, and q=0 means "not acceptable")."""
    ranges = _accept_ranges(header(req, "accept") or "")
    return any(_quality(m, ranges) > 0 for m in media_types)
