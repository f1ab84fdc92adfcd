"""/certificates: order, list, read, refresh, reissue, renew, revoke, cancel, validation, download
and the audit events of the caller's certificates."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from chalice import Blueprint, Response
from chalice.app import Request

from chalicelib.core.errors import FieldError, NotAcceptable, ValidationFailed
from chalicelib.core.vocabulary import FORMATS, PUBLIC_STATUSES
from chalicelib.http.auth import is_admin, principal
from chalicelib.http.request import accepts_any_of, check_query, idempotency_key, json_body, query
from chalicelib.http.routing import BINARY_TYPES, json_response, route, service

if TYPE_CHECKING:  # the model loads with the first request, not with `import app` (cold start)
    from chalicelib.core.model import Certificate

blueprint = Blueprint(__name__)



def _requests() -> Any:
    """The request validators, loaded on first use: `import app` (the cold start) loads none."""
    from chalicelib.service import requests

    return requests


def _owned(req: Request, cert_id: str) -> tuple[str, Certificate]:
    """The caller's principal and their certificate `cert_id` (404 for anyone else's, admins aside)."""
    caller = principal(req)
    return caller, service().owned(caller, cert_id, admin=is_admin(caller))


def _certificate(cert: Certificate, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return json_response(cert.to_public(), status, headers)


def _change(req: Request, cert_id: str, action: str, done: str) -> Response:
    """POST /certificates/{cert_id}/{action} for reissue, renew and revoke: 200 when the provider
    finished at once (the certificate is `done`), 202 while it still works on it."""
    caller, cert = _owned(req, cert_id)
    svc = service()
    use_case = {"reissue": svc.reissue, "renew": svc.renew, "revoke": svc.revoke}[action]
    after = use_case(caller, cert, json_body(req, required=False))
    return _certificate(after, 200 if after.public_status == done else 202)


@route(blueprint, "/certificates", ["POST"])
def order_certificate(req: Request) -> Response:
    caller = principal(req)
    key = idempotency_key(req)
    result = service().order(caller, json_body(req), key)
    cert = result.certificate
    headers = {"Location": f"/certificates/{cert.id}"}
    if result.replayed:
        headers["Idempotent-Replayed"] = "true"
    return _certificate(cert, 201 if cert.public_status == "issued" else 202, headers)


def _timestamp(raw: str) -> str | None:
    """`raw` in certgate's ISO 8601 form; ValueError unless it is a timestamp with a timezone."""
    from chalicelib.core.model import iso, parse_iso

    parsed = parse_iso(raw)
    if parsed is None or parsed.tzinfo is None:
        raise ValueError("no timezone")
    return iso(parsed)


T = TypeVar("T")


def _collected(errors: list[FieldError], parse: Callable[[str], T], raw: str | None) -> T | None:
    """`parse(raw)` (None when absent); its field errors go to `errors`, so every bad parameter is named at once."""
    if raw is None:
        return None
    try:
        return parse(raw)
    except ValidationFailed as exc:
        errors.extend(exc.errors)
        return None


@route(blueprint, "/certificates", ["GET"])
def list_certificates(req: Request) -> Response:
    from chalicelib.service import queries

    check_query(req, {"status", "provider", "common_name", "expires_before", "expiring_within", "domain", "limit",
                      "next_token"})
    caller = principal(req)
    errors: list[FieldError] = []
    status = query(req, "status")
    if status is not None and status not in PUBLIC_STATUSES:
        errors.append(FieldError("status", "must be pending, issued, failed, revoked, cancelled or expired"))
    provider = query(req, "provider")
    names = service().directory.names()
    if provider is not None and provider not in names:
        errors.append(FieldError("provider", f"must be one of {', '.join(names)}"))
    expires_before = query(req, "expires_before")
    if expires_before is not None:
        try:
            expires_before = _timestamp(expires_before)
        except ValueError:
            errors.append(FieldError("expires_before", "must be an ISO 8601 timestamp with a timezone"))
    within = _collected(errors, queries.parse_expiring_within, query(req, "expiring_within"))
    domain = _collected(errors, queries.parse_domain, query(req, "domain"))
    if errors:
        raise ValidationFailed(errors)
    flt = queries.CertificateFilter(status=status, provider=provider, common_name=query(req, "common_name"),
                                    expires_before=expires_before, expiring_within=within, domain=domain)
    items, token = queries.list_certificates(service(), caller, flt, limit=_requests().validate_limit(query(req, "limit")),
                                             next_token=query(req, "next_token"))
    return json_response({"items": [c.to_public() for c in items], "next_token": token})


@route(blueprint, "/certificates/{cert_id}", ["GET"])
def get_certificate(req: Request, cert_id: str) -> Response:
    _, cert = _owned(req, cert_id)
    return _certificate(cert)


@route(blueprint, "/certificates/{cert_id}", ["DELETE"])
def cancel_certificate(req: Request, cert_id: str) -> Response:
    caller, cert = _owned(req, cert_id)
    return _certificate(service().cancel(caller, cert))


@route(blueprint, "/certificates/{cert_id}/refresh", ["POST"])
def refresh_certificate(req: Request, cert_id: str) -> Response:
    caller, cert = _owned(req, cert_id)
    return _certificate(service().refresh(cert, actor=caller))


@route(blueprint, "/certificates/{cert_id}/reissue", ["POST"])
def reissue_certificate(req: Request, cert_id: str) -> Response:
    return _change(req, cert_id, "reissue", done="issued")


@route(blueprint, "/certificates/{cert_id}/renew", ["POST"])
def renew_certificate(req: Request, cert_id: str) -> Response:
    return _change(req, cert_id, "renew", done="issued")


@route(blueprint, "/certificates/{cert_id}/revoke", ["POST"])
def revoke_certificate(req: Request, cert_id: str) -> Response:
    return _change(req, cert_id, "revoke", done="revoked")


@route(blueprint, "/certificates/{cert_id}/validate", ["POST"])
def retry_validation(req: Request, cert_id: str) -> Response:
    caller, cert = _owned(req, cert_id)
    return json_response(service().retry_validation(caller, cert, json_body(req, required=False)).to_public(), 202)


@route(blueprint, "/certificates/{cert_id}/validation", ["GET"])
def validation_details(req: Request, cert_id: str) -> Response:
    _, cert = _owned(req, cert_id)
    return json_response(service().validation(cert).to_public())


def _download_request(req: Request) -> tuple[str, str | None]:
    """(format, passphrase) of a download: GET takes ?format=, POST a body with the passphrase."""
    asked = query(req, "format")
    fmt = "pem" if asked is None else asked  # `format=` (empty) is a mistake, not "the default"
    passphrase = None
    if req.method == "POST":
        body = json_body(req)
        passphrase = _requests().validate_passphrase(body)
        fmt = body.get("format", "pkcs12" if asked is None else asked)
    if fmt not in FORMATS:
        raise ValidationFailed([FieldError("format", f"must be one of {', '.join(FORMATS)}")])
    if fmt == "pkcs12" and req.method != "POST":
        raise ValidationFailed([FieldError("format", "pkcs12 needs a passphrase: POST {\"passphrase\": ...}")])
    return fmt, passphrase


def _revision(raw: str | None) -> int | None:
    if raw is None:
        return None
    if not raw.isdigit() or not 0 < int(raw) < 10_000:
        raise ValidationFailed([FieldError("revision", "must be a positive integer")])
    return int(raw)


@route(blueprint, "/certificates/{cert_id}/download", ["GET", "POST"])
def download_certificate(req: Request, cert_id: str) -> Response:
    check_query(req, {"format", "revision"})
    _, cert = _owned(req, cert_id)
    fmt, passphrase = _download_request(req)
    revision = _revision(query(req, "revision"))
    data, ctype, filename = service().download(cert, fmt, revision=revision, passphrase=passphrase)
    binary = ctype in BINARY_TYPES
    if binary and not accepts_any_of(req, BINARY_TYPES):
        raise NotAcceptable(f"{fmt} is binary: send 'Accept: {ctype}' (or */*); API Gateway returns "
                            "binary bodies only to such requests")
    return Response(body=data if binary else data.decode("ascii"), status_code=200,
                    headers={"Content-Type": ctype, "Content-Disposition": f'attachment; filename="{filename}"',
                             "Cache-Control": "no-store"})


@route(blueprint, "/certificates/{cert_id}/events", ["GET"])
def certificate_events(req: Request, cert_id: str) -> Response:
    from chalicelib.service import queries

    check_query(req, {"limit", "next_token"})
    caller, cert = _owned(req, cert_id)
    items, token = queries.certificate_events(service(), caller, cert,
                                              limit=_requests().validate_limit(query(req, "limit"), 100, 500),
                                              next_token=query(req, "next_token"))
    return json_response({"items": [e.to_public() for e in items], "next_token": token})
