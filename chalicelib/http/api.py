"""The HTTP edge: reads the Chalice request, calls one use case, writes the response.
The one error path lives here: every failure leaves as application/problem+json."""

from __future__ import annotations

import functools
import json
import pathlib
import re
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chalice import Chalice, Response

from chalicelib.config import settings
from chalicelib.core.errors import (
    ApiError,
    BadRequest,
    Conflict,
    FieldError,
    NotAcceptable,
    PayloadTooLarge,
    ProviderError,
    UnsupportedMediaType,
    ValidationFailed,
)
from chalicelib.core.provider import Authority
from chalicelib.core.vocabulary import FORMATS
from chalicelib.http import problems
from chalicelib.http.auth import principal_of
from chalicelib.observability import logger

if TYPE_CHECKING:
    from chalicelib.service.certificates import CertificateService

BINARY_TYPES = ["application/pkix-cert", "application/pkcs7-mime", "application/zip", "application/x-pkcs12",
                "application/octet-stream"]
# Routes accept any Content-Type so that a wrong one reaches our handler and gets a 415 problem+json
# (Chalice's own 415 is not problem+json).
ANY_CONTENT = ["*/*"]
MAX_BODY_BYTES = 256 * 1024
MAX_JSON_DEPTH = 32
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
ALL_METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH")


@functools.lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    """The OpenAPI document, generated at build time by tools/openapi.py and shipped as a file."""
    return dict(json.loads((pathlib.Path(__file__).with_name("openapi.json")).read_text()))


def _admin() -> Any:
    from chalicelib.service import admin

    return admin


def concrete_path(req: Any) -> str:
    """The path the caller asked for (Chalice's `request.path` is the route template)."""
    return str((req.context or {}).get("path") or req.path)


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


class Api:
    def __init__(self, app: Chalice) -> None:
        self.app = app

    # -- plumbing ------------------------------------------------------------------------------
    @property
    def request(self) -> Any:
        return self.app.current_request

    def service(self) -> CertificateService:
        from chalicelib.bootstrap import service

        return service()

    def principal(self) -> str:
        req = self.request
        return principal_of(dict(req.headers or {}), req.context or {}, settings())

    def admin(self, principal: str) -> bool:
        return principal in settings().admin_principals

    def body(self, *, required: bool = True) -> Any:
        raw = self.request.raw_body or b""
        if len(raw) > MAX_BODY_BYTES:
            raise PayloadTooLarge(f"request body is larger than {MAX_BODY_BYTES} bytes")
        if not raw.strip():
            if required:
                raise BadRequest("a JSON request body is required", code="body_required")
            return None
        ctype = (self.request.headers or {}).get("content-type", "application/json").split(";")[0].strip().lower()
        if ctype and not (ctype == "application/json" or ctype.endswith("+json")):
            raise UnsupportedMediaType(f"send application/json, not {ctype}")
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

    def query(self, name: str) -> str | None:
        params = self.request.query_params or {}
        value = params.get(name)
        return value if value is None else str(value)

    def check_query(self, allowed: set[str]) -> None:
        unknown = sorted(set(self.request.query_params or {}) - allowed)
        if unknown:
            from chalicelib.service.requests import field_name

            raise ValidationFailed([FieldError(field_name(k).replace("body[", "query["), "is not a known query parameter")
                                    for k in unknown])

    @staticmethod
    def json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        return Response(body=json.dumps(body, separators=(",", ":")), status_code=status,
                        headers={"Content-Type": "application/json", **(headers or {})})

    def problem(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
        return Response(body=problems.dumps(body), status_code=status,
                        headers={"Content-Type": "application/problem+json", **(headers or {})})

    def handler(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Wrap a route: log context, map every exception to a problem response."""

        @functools.wraps(fn)
        def wrapped(*args: Any, **kw: Any) -> Response:
            req = self.request
            ctx = req.context or {}
            request_id = ctx.get("requestId") or uuid.uuid4().hex
            logger.append_keys(request_id=request_id, path=concrete_path(req), method=req.method)
            instance = concrete_path(req)
            started = time.monotonic()
            try:
                return fn(*args, **kw)
            except ApiError as err:
                status, body, headers = problems.from_api_error(err, instance)
            except ProviderError as err:
                status, body, headers = problems.from_provider_error(err, instance)
            except Exception as exc:  # noqa: BLE001 - the one place an unexpected error becomes a 500 problem
                from chalicelib.core.errors import ConcurrentModification, ProviderFailure, TransitionNotAllowed

                if isinstance(exc, ConcurrentModification | TransitionNotAllowed):
                    # Someone else changed the certificate between our read and our write.
                    status, body, headers = problems.from_api_error(
                        Conflict(f"the certificate changed concurrently ({exc}); read it again and retry",
                                 code="concurrent_update"), instance)
                elif isinstance(exc, ProviderFailure):
                    cert = exc.cert
                    status, body, headers = problems.from_provider_error(
                        exc.error, instance, certificate_id=cert.id, certificate_status=cert.public_status)
                    headers["Location"] = f"/certificates/{cert.id}"
                else:
                    logger.exception("unhandled error", extra={"request_id": request_id})
                    status, body, headers = problems.internal_error(instance, request_id)
            finally:
                logger.debug("request handled", extra={"ms": round((time.monotonic() - started) * 1000, 1)})
            return self.problem(status, body, headers)

        return wrapped

    # -- service routes ----------------------------------------------------------------------------
    def health(self) -> Response:
        from chalicelib.bootstrap import health_checks
        from chalicelib.service.health import check

        ok, checks = check(health_checks())
        if ok:
            return self.json({"status": "ok", "stage": settings().stage, "checks": checks})
        failed = sorted(k for k, v in checks.items() if v != "ok")
        body = problems.problem_body(503, "dependency_unavailable", "Service unavailable",
                                     f"unreachable: {', '.join(failed)}", instance=concrete_path(self.request),
                                     checks=checks)
        return self.problem(503, body, {"Retry-After": "10"})

    def providers(self) -> Response:
        from chalicelib.service.admin import providers_overview

        items = [{"name": p.name, "configured": p.configured, "capabilities": p.capabilities.to_dict()}
                 for p in providers_overview(self.service())]
        return self.json({"items": items, "next_token": None})  # a paging field, not a secret  # nosec B105

    def openapi(self) -> Response:
        return self.json(openapi_document())

    # -- certificates --------------------------------------------------------------------------------
    def _owned(self, cert_id: str) -> Any:
        principal = self.principal()
        return principal, self.service().owned(principal, cert_id, admin=self.admin(principal))

    def _cert_response(self, cert: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        return self.json(cert.to_public(), status, headers)

    def order(self) -> Response:
        principal = self.principal()
        key = (self.request.headers or {}).get("idempotency-key")
        if key is not None and not _IDEMPOTENCY_KEY.match(key):
            raise ValidationFailed([FieldError("Idempotency-Key", "must be 1-255 printable ASCII characters")])
        result = self.service().order(principal, self.body(), key)
        cert = result.certificate
        status = 201 if cert.public_status == "issued" else 202
        headers = {"Location": f"/certificates/{cert.id}"}
        if result.replayed:
            headers["Idempotent-Replayed"] = "true"
        return self._cert_response(cert, status, headers)

    def list_certificates(self) -> Response:
        from chalicelib.service.requests import validate_limit

        self.check_query({"status", "provider", "common_name", "expires_before", "limit", "next_token"})
        principal = self.principal()
        status = self.query("status")
        errors = []
        if status is not None and status not in ("pending", "issued", "failed", "revoked", "cancelled", "expired"):
            errors.append(FieldError("status", "must be pending, issued, failed, revoked, cancelled or expired"))
        provider = self.query("provider")
        names = self.service().directory.names()
        if provider is not None and provider not in names:
            errors.append(FieldError("provider", f"must be one of {', '.join(names)}"))
        expires_before = self.query("expires_before")
        if expires_before is not None:
            from chalicelib.core.model import iso, parse_iso

            try:
                parsed = parse_iso(expires_before)
                if parsed is None or parsed.tzinfo is None:
                    raise ValueError("no timezone")
                expires_before = iso(parsed)
            except ValueError:
                errors.append(FieldError("expires_before", "must be an ISO 8601 timestamp with a timezone"))
        if errors:
            raise ValidationFailed(errors)
        from chalicelib.service.queries import CertificateFilter, list_certificates

        flt = CertificateFilter(status=status, provider=provider, common_name=self.query("common_name"),
                                expires_before=expires_before)
        items, token = list_certificates(self.service(), principal, flt, limit=validate_limit(self.query("limit")),
                                         next_token=self.query("next_token"))
        return self.json({"items": [c.to_public() for c in items], "next_token": token})

    def get_certificate(self, cert_id: str) -> Response:
        _, cert = self._owned(cert_id)
        return self._cert_response(cert)

    def refresh(self, cert_id: str) -> Response:
        principal, cert = self._owned(cert_id)
        return self._cert_response(self.service().refresh(cert, actor=principal))

    def reissue(self, cert_id: str) -> Response:
        principal, cert = self._owned(cert_id)
        after = self.service().reissue(principal, cert, self.body(required=False))
        return self._cert_response(after, 200 if after.public_status == "issued" else 202)

    def renew(self, cert_id: str) -> Response:
        principal, cert = self._owned(cert_id)
        after = self.service().renew(principal, cert, self.body(required=False))
        return self._cert_response(after, 200 if after.public_status == "issued" else 202)

    def revoke(self, cert_id: str) -> Response:
        principal, cert = self._owned(cert_id)
        after = self.service().revoke(principal, cert, self.body(required=False))
        return self._cert_response(after, 200 if after.public_status == "revoked" else 202)

    def cancel(self, cert_id: str) -> Response:
        principal, cert = self._owned(cert_id)
        return self._cert_response(self.service().cancel(principal, cert))

    def validation(self, cert_id: str) -> Response:
        _, cert = self._owned(cert_id)
        return self.json(self.service().validation(cert).to_public())

    def retry_validation(self, cert_id: str) -> Response:
        principal, cert = self._owned(cert_id)
        return self.json(self.service().retry_validation(principal, cert, self.body(required=False)).to_public(), 202)

    def download(self, cert_id: str) -> Response:
        self.check_query({"format", "revision"})
        principal, cert = self._owned(cert_id)
        fmt = self.query("format") or "pem"
        passphrase = None
        if self.request.method == "POST":
            from chalicelib.service.requests import validate_passphrase

            body = self.body()
            passphrase = validate_passphrase(body)
            fmt = body.get("format", self.query("format") or "pkcs12")
        if fmt not in FORMATS:
            raise ValidationFailed([FieldError("format", f"must be one of {', '.join(FORMATS)}")])
        if fmt == "pkcs12" and self.request.method != "POST":
            raise ValidationFailed([FieldError("format", "pkcs12 needs a passphrase: POST {\"passphrase\": ...}")])
        rev_raw = self.query("revision")
        revision = None
        if rev_raw is not None:
            if not rev_raw.isdigit() or not 0 < int(rev_raw) < 10_000:
                raise ValidationFailed([FieldError("revision", "must be a positive integer")])
            revision = int(rev_raw)
        data, ctype, filename = self.service().download(cert, fmt, revision=revision, passphrase=passphrase)
        if ctype in BINARY_TYPES and not self._accepts_binary():
            raise NotAcceptable(f"{fmt} is binary: send 'Accept: {ctype}' (or */*); API Gateway returns "
                                "binary bodies only to such requests")
        body: bytes | str = data if ctype in BINARY_TYPES else data.decode("ascii")
        return Response(body=body, status_code=200,
                        headers={"Content-Type": ctype, "Content-Disposition": f'attachment; filename="{filename}"',
                                 "Cache-Control": "no-store"})

    def _accepts_binary(self) -> bool:
        accept = ((self.request.headers or {}).get("accept") or "").lower()
        parts = {p.strip() for p in re.split("[,;]", accept)}
        return "*/*" in accept or bool(parts & set(BINARY_TYPES))

    def events(self, cert_id: str) -> Response:
        from chalicelib.service.requests import validate_limit

        self.check_query({"limit", "next_token"})
        principal, cert = self._owned(cert_id)
        from chalicelib.service.queries import certificate_events

        items, token = certificate_events(self.service(), principal, cert,
                                          limit=validate_limit(self.query("limit"), 100, 500),
                                          next_token=self.query("next_token"))
        return self.json({"items": [e.to_public() for e in items], "next_token": token})

    # -- TinyCert authorities ------------------------------------------------------------------------
    @staticmethod
    def _authority(a: Authority) -> dict[str, Any]:
        return {"id": a.ca_id, "name": a.name, "details": dict(a.details), "certificate_pem": a.certificate_pem}

    def list_authorities(self) -> Response:
        self.principal()
        items = [self._authority(a) for a in _admin().list_authorities(self.service())]
        return self.json({"items": items, "next_token": None})  # a paging field, not a secret  # nosec B105

    def get_authority(self, ca_id: str) -> Response:
        self.principal()
        return self.json(self._authority(_admin().get_authority(self.service(), ca_id)))

    def create_authority(self) -> Response:
        from chalicelib.service.requests import validate_authority

        self.principal()
        fields = validate_authority(self.body())
        created = _admin().create_authority(self.service(), fields)
        return self.json(self._authority(created), 201,
                         {"Location": f"/providers/tinycert/authorities/{created.ca_id}"})

    def delete_authority(self, ca_id: str) -> Response:
        self.principal()
        _admin().delete_authority(self.service(), ca_id)
        return Response(body="", status_code=204)

    # -- imports ---------------------------------------------------------------------------------------
    def start_import(self) -> Response:
        from chalicelib.service.inventory import start_import

        principal = self.principal()
        job = start_import(self.service(), principal, self.body())
        return self.json(job, 202, {"Location": f"/imports/{job['id']}"})

    def get_import(self, import_id: str) -> Response:
        from chalicelib.service.inventory import get_import

        return self.json(get_import(self.service(), self.principal(), import_id))

    # -- jobs -----------------------------------------------------------------------------------------
    def run_job(self, name: str, event: Any) -> dict[str, Any]:
        from chalicelib.service import jobs

        context = getattr(event, "context", None)
        logger.append_keys(job=name, request_id=getattr(context, "aws_request_id", None))
        return jobs.run(self.service(), name, jobs.remaining_from(context))


def register_fallbacks(app: Chalice, api: Api, depth: int = 6, authorizer: Any = None) -> None:
    """404 problem for unknown paths (any depth up to `depth`), 405 problem for known paths
    with a method they do not take. Static routes win over these in API Gateway and locally."""
    known: dict[str, set[str]] = {}
    for path, methods in app.routes.items():
        known[path] = set(methods)

    def not_found(**_: str) -> Response:
        req = app.current_request
        path = concrete_path(req)
        body = problems.problem_body(404, "not_found", "Not found", f"no route {req.method} {path}", instance=path)
        return api.problem(404, body)

    def not_allowed_for(allowed: set[str]) -> Callable[..., Response]:
        def not_allowed(**_: str) -> Response:
            req = app.current_request
            path = concrete_path(req)
            body = problems.problem_body(405, "method_not_allowed", "Method not allowed",
                                         f"{req.method} is not allowed on {path}", instance=path,
                                         allowed=sorted(allowed))
            return api.problem(405, body, {"Allow": ", ".join(sorted(allowed))})
        return not_allowed

    for path, methods in known.items():
        missing = [m for m in ALL_METHODS if m not in methods]
        if missing:
            fn = not_allowed_for(methods)
            fn.__name__ = "method_not_allowed_" + re.sub(r"\W+", "_", path).strip("_")
            app.route(path, methods=missing, content_types=ANY_CONTENT, authorizer=authorizer)(fn)
    for n in range(1, depth + 1):
        path = "/" + "/".join(f"{{p{i}}}" for i in range(n))
        if path in known:
            continue
        fn = not_found
        handler = functools.partial(fn)
        functools.update_wrapper(handler, fn)
        handler.__name__ = f"not_found_{n}"  # type: ignore[attr-defined]
        app.route(path, methods=list(ALL_METHODS), content_types=ANY_CONTENT, authorizer=authorizer)(handler)
