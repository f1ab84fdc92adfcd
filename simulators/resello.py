"""Resello reseller platform simulator: `/ssl-certificate` with basic auth and JSON bodies.

Built from seeds/resello-ssl-certificate.txt and providers.md. The seed leaves the response
bodies undocumented; the shapes defined here (certificate object, list envelope, error body,
validation details) are documented in simulators/README_resello.md.

Creation and renewal are asynchronous: a certificate stays `pending` until `issue_delay_s`
has elapsed (never, when None) or `POST /_sim/advance` is called; then it becomes `active`,
or `rejected` when one of its names contains a `reject_domains` marker."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import io
import json
import os
import re
import secrets
import time
import uuid
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7

from simulators import defaults
from simulators.base import (
    Request,
    Response,
    SimError,
    Simulator,
    bytes_response,
    json_response,
    main,
    optional_float,
)
from simulators.ca import BadCSR, build_csr, common_name_of, csr_key_bits, csr_sans, generate_key, parse_csr
from simulators.dns import Route53Lookup
from simulators.dns import from_env as dns_from_env

DCV_TYPES = ("EMAIL", "FILE", "DNS")
STATUSES = ("pending", "active", "rejected", "cancelled", "expired")
# Fields the seed marks "Required for OV* and EV*".
ORG_REQUIRED = ("chamber_of_commerce", "department", "approver_first_name", "approver_last_name")
# Optional string fields of the create/renew/reissue body (the seed's list).
OPTIONAL_FIELDS = ("company_name", "address", "city", "zip_code", "approver_email_address",
                   "approver_phone_number", "client_reference", "ee_reference_order_id", *ORG_REQUIRED)
MAX_PER_PAGE = 100
EC_CURVE_BITS = (256, 384)
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
APPROVER_MAILBOXES = ("admin", "administrator", "hostmaster", "postmaster", "webmaster")


# CA/B Forum Baseline Requirements 6.3.2 (ballot SC-081v3), newest first: (first issuance date, max days).
CABF_SCHEDULE: tuple[tuple[dt.datetime, int], ...] = (
    (dt.datetime(2029, 3, 15, tzinfo=dt.UTC), 47),
    (dt.datetime(2027, 3, 15, tzinfo=dt.UTC), 100),
    (dt.datetime(2026, 3, 15, tzinfo=dt.UTC), 200),
)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def valid_dns_name(name: str) -> bool:
    labels = name.lower().split(".")
    if labels and labels[0] == "*":
        labels = labels[1:]
    return len(labels) >= 2 and len(name) <= 253 and all(_LABEL.match(label) for label in labels)


# -- answer shapes (invented: the seed documents no response body) ------------------------------
# `PUT /_sim/shape {"variant": name | [names]}` makes the simulator answer in plausible variants of
# the shapes README_resello.md defines, so tests can prove the adapter survives what Resello might
# really send. Each name changes one thing; several combine.
VARIANTS: dict[str, str] = {
    "documented": "the shapes README_resello.md defines (the default)",
    "extra_fields": "unknown fields in every object, envelope and error",
    "wrapped": "certificate and validation details as {data: ...}; list as {data: [...], meta: {...}}",
    "bare": "list as a bare JSON array (no paging information)",
    "items_next": "list as {items: [...], next: <url of the next page> | null}",
    "dates_naive": "dates without a zone (2025-01-02T03:04:05)",
    "dates_offset": "dates with an offset (2025-01-02T05:04:05+02:00)",
    "dates_date_only": "dates as a day (2025-01-02)",
    "dates_epoch": "dates as epoch seconds (1735787045)",
    "status_upper": "statuses in upper case (ACTIVE, PENDING; DCV states too)",
    "status_new": "statuses Resello might add: pending reads 'processing', cancelled 'suspended'",
    "numeric_ids": "certificate ids as JSON integers",
    "string_numbers": "certificate ids and paging numbers as numeric strings",
    "error_message": "errors as {message, status}",
    "error_errors": "errors as {errors: [{code, message, field?}]}",
    "error_string": "errors as {error: \"text\"}",
    "error_html": "errors as a text/html page",
    "error_text": "errors as text/plain",
    "error_empty": "errors with an empty body",
}
DATE_FIELDS = ("valid_from", "valid_until", "created_at", "updated_at")
NEW_STATUSES = {"pending": "processing", "cancelled": "suspended"}
_ERROR_FORMS = ("error_message", "error_errors", "error_string", "error_html", "error_text", "error_empty")


def parse_variants(value: Any) -> frozenset[str]:
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValueError("variant must be a name or a list of names")
    unknown = sorted(set(names) - set(VARIANTS))
    if unknown:
        raise ValueError(f"unknown variants {unknown}; known: {sorted(VARIANTS)}")
    if len(set(names) & set(_ERROR_FORMS)) > 1:
        raise ValueError("at most one error_* variant")
    return frozenset(names) - {"documented"}


@dataclass(frozen=True)
class Shape:
    """How answers are rendered: the documented shapes with `variants` applied."""

    variants: frozenset[str] = frozenset()

    def has(self, name: str) -> bool:
        return name in self.variants

    def certificate(self, doc: dict[str, Any], seq: int) -> dict[str, Any]:
        out = dict(doc)
        if self.has("numeric_ids"):
            out["id"] = seq
        elif self.has("string_numbers"):
            out["id"] = str(seq)
        for name in DATE_FIELDS:
            out[name] = self.date(doc.get(name))
        out["status"] = self.status(doc["status"])
        if self.has("extra_fields"):
            out.update({"_links": {"self": f"/ssl-certificate/{out['id']}"}, "schema_version": 3,
                        "price": {"amount": "12.50", "currency": "EUR"}, "renewal_of": None, "tags": []})
        return out

    def one(self, payload: dict[str, Any]) -> dict[str, Any]:
        """A single object (certificate, validation details) as its envelope wants it."""
        return {"data": payload, **self._extra()} if self.has("wrapped") else payload

    def listing(self, items: list[dict[str, Any]], total: int, page: int, per_page: int,
                next_url: str | None) -> Any:
        count = str if self.has("string_numbers") else int
        if self.has("items_next"):
            return {"items": items, "next": next_url, **self._extra()}
        if self.has("bare"):
            return items
        paging = {"total": count(total), "page": count(page), "per_page": count(per_page)}
        if self.has("wrapped"):
            return {"data": items, "meta": paging, **self._extra()}
        return {"items": items, **paging, **self._extra()}

    def date(self, value: str | None) -> Any:
        if value is None:
            return None
        when = dt.datetime.fromisoformat(value)
        if self.has("dates_epoch"):
            seconds = int(when.timestamp())
            return str(seconds) if self.has("string_numbers") else seconds
        if self.has("dates_date_only"):
            return when.date().isoformat()
        if self.has("dates_offset"):
            return when.astimezone(dt.timezone(dt.timedelta(hours=2))).isoformat()
        if self.has("dates_naive"):
            return when.replace(tzinfo=None).isoformat()
        return value

    def status(self, value: str) -> str:
        if self.has("status_new"):
            value = NEW_STATUSES.get(value, value)
        return value.upper() if self.has("status_upper") else value

    def error(self, err: SimError) -> tuple[str, bytes]:
        """(content type, body) of an error answer."""
        if self.has("error_empty"):
            return "application/json", b""
        if self.has("error_html"):
            page = (f"<!DOCTYPE html><html><head><title>{err.status} Error</title></head><body>"
                    f"<h1>Error {err.status}</h1><p>{err.message}</p><hr><address>nginx</address></body></html>")
            return "text/html; charset=utf-8", page.encode()
        if self.has("error_text"):
            return "text/plain; charset=utf-8", f"{err.status} {err.message}".encode()
        if self.has("error_message"):
            body: dict[str, Any] = {"message": err.message, "status": err.status}
        elif self.has("error_errors"):
            body = {"errors": [{"code": err.code, "message": m, "field": name}
                               for name, msgs in (err.fields or {}).items() for m in msgs]
                    or [{"code": err.code, "message": err.message}]}
        elif self.has("error_string"):
            body = {"error": err.message}
        else:
            error: dict[str, Any] = {"code": err.code, "message": err.message}
            if err.fields:
                error["fields"] = err.fields
            if self.has("extra_fields"):
                error["help_url"] = "https://example.invalid/docs/errors"
            body = {"error": error}
        return "application/json", json.dumps({**body, **self._extra()}).encode()

    def _extra(self) -> dict[str, Any]:
        return {"request_id": "req-" + secrets.token_hex(4), "api_version": "1.7"} if self.has("extra_fields") else {}


@dataclass
class DomainDcv:
    """One domain's control validation. `token` is what the customer publishes."""

    method: str  # EMAIL | FILE | DNS
    token: str
    state: str = "pending"  # pending | validated | failed
    email: str | None = None
    reason: str | None = None  # why a DNS check in a Route 53 zone did not validate it (invented)


@dataclass
class SslCertificate:
    id: str
    plan: str
    dcv_type: str
    client_reference: str | None
    csr_pem: str
    common_name: str
    dns_names: list[str]
    details: dict[str, str]
    created_at: dt.datetime
    status: str = "pending"
    updated_at: dt.datetime | None = None
    cert: x509.Certificate | None = None
    pending: str | None = "create"  # what completes on advance: create | renew | None
    due_at: float | None = None  # monotonic time at which pending work completes
    rejection_reason: str | None = None
    dcv: dict[str, DomainDcv] = field(default_factory=dict)
    invalidated_serials: list[str] = field(default_factory=list)  # replaced by reissue/renew
    seq: int = 0  # creation order (created_at has one-second resolution)

    def public(self) -> dict[str, Any]:
        cert = self.cert
        return {
            "id": self.id,
            "status": self.status,
            "common_name": self.common_name,
            "dns_names": list(self.dns_names),
            "valid_from": iso(cert.not_valid_before_utc) if cert else None,
            "valid_until": iso(cert.not_valid_after_utc) if cert else None,
            "serial_number": format(cert.serial_number, "x") if cert else None,
            "client_reference": self.client_reference,
            "plan": self.plan,
            "dcv_type": self.dcv_type,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at or self.created_at),
            "rejection_reason": self.rejection_reason,
        }


class ReselloSim(Simulator):
    """The Resello `/ssl-certificate` API. Every option has a default fit for tests."""

    name = "resello"
    state_attributes = ("certs", "_seed_counter", "shape")

    def __init__(self, *, issue_delay_s: float | None = None, reject_domains: Iterable[str] = ("reject",),
                 username: str = defaults.RESELLO_USERNAME, api_key: str = defaults.RESELLO_API_KEY,
                 plans: dict[str, str] | None = None, validity_days: int | None = None,
                 clock: Callable[[], float] = time.monotonic, dns: Route53Lookup | None = None) -> None:
        self.issue_delay_s = issue_delay_s
        self.reject_domains = tuple(m.lower() for m in reject_domains if m)
        self.username = username
        self.api_key = api_key
        # product kind -> plan uuid; the kind decides whether OV/EV fields are required.
        self.plans = dict(plans or defaults.RESELLO_PLANS)
        self.validity_days = validity_days  # None: the CA/B Forum maximum on the issuance date
        self.clock = clock
        self.dns = dns  # the "DNS lookup" of names inside a Route 53 zone (simulators/dns.py); None: none
        self.certs: dict[str, SslCertificate] = {}
        self._seed_counter = 0
        self.shape = Shape()
        super().__init__()

    def _store(self, cert: SslCertificate) -> None:
        cert.seq = len(self.certs) + 1
        self.certs[cert.id] = cert

    def _ordered(self) -> list[SslCertificate]:
        return sorted(self.certs.values(), key=lambda c: c.seq)

    # -- Simulator hooks -----------------------------------------------------------------
    def register_routes(self) -> None:
        a = self._authenticated
        self.route("GET", "/ssl-certificate", a(self.list_certificates))
        self.route("POST", "/ssl-certificate", a(self.create))
        self.route("GET", "/ssl-certificate/{id}", a(self.get))
        self.route("DELETE", "/ssl-certificate/{id}", a(self.delete))
        self.route("POST", "/ssl-certificate/{id}/renew", a(self.renew))
        self.route("POST", "/ssl-certificate/{id}/reissue", a(self.reissue))
        self.route("POST", "/ssl-certificate/{id}/validate", a(self.validate))
        self.route("GET", "/ssl-certificate/{id}/validation-details", a(self.validation_details))
        self.route("GET", "/ssl-certificate/{id}/download-{fmt}", a(self.download))

    def reset_state(self) -> None:
        self.certs = {}
        self._seed_counter = 0
        self.shape = Shape()

    def error_response(self, err: SimError) -> Response:
        headers = dict(err.headers)
        if err.status == 401:
            headers.setdefault("WWW-Authenticate", 'Basic realm="Resello API"')
        content_type, body = self.shape.error(err)
        return Response(err.status, body, content_type, headers)

    def _answer(self, status: int, cert: SslCertificate) -> Response:
        return json_response(status, self.shape.one(self.shape.certificate(cert.public(), cert.seq)))

    def fault_error(self, status: int) -> Response:
        code = {502: "bad_gateway", 503: "service_unavailable", 504: "gateway_timeout"}.get(status, "internal_error")
        return self.error_response(SimError(status, code, "the service is temporarily unavailable"))

    def rate_limit_error(self, retry_after: float) -> Response:
        return self.error_response(SimError(429, "too_many_requests", "API rate limit exceeded",
                                            headers={"Retry-After": str(int(max(1, retry_after)))}))

    def tick(self) -> None:
        now = self.clock()
        for cert in self.certs.values():
            if cert.pending and cert.due_at is not None and cert.due_at <= now:
                if self._check_dns(cert):
                    continue  # a DNS record in a Route 53 zone is missing: still pending
                self._complete(cert)
        self._expire()

    def advance(self) -> dict[str, Any]:
        done: dict[str, list[str]] = {"active": [], "rejected": []}
        for cert in self.certs.values():
            if cert.pending:
                self._complete(cert)
                done.setdefault(cert.status, []).append(cert.id)
        self._expire()
        return {"completed": sum(len(v) for v in done.values()), **done}

    def admin(self, req: Request) -> Response:
        sub = req.path[len("/_sim"):]
        if sub == "/orders" and req.method == "GET":
            with self.lock:
                self.tick()
                return json_response(200, [c.public() for c in self._ordered()])
        if sub == "/shape":
            return self._shape_admin(req)
        if sub == "/seed" and req.method == "POST":
            try:
                body = req.json()
                if not isinstance(body, dict):
                    raise ValueError("body must be a JSON object")
                with self.lock:
                    ids = self.seed(int(body.get("count", 1)), status=body.get("status") or "active",
                                    days_valid=body.get("days_valid"),
                                    common_name_prefix=body.get("common_name_prefix") or "seed-")
            except (ValueError, TypeError) as exc:
                return json_response(400, {"error": str(exc)})
            return json_response(201, {"count": len(ids), "ids": ids})
        return super().admin(req)

    def _shape_admin(self, req: Request) -> Response:
        """PUT {"variant": name | [names]} sets the answer shape, DELETE restores the documented one."""
        if req.method == "PUT":
            try:
                body = req.json()
                variants = parse_variants(body.get("variant") if isinstance(body, dict) else None)
            except ValueError as exc:
                return json_response(400, {"error": str(exc), "variants": VARIANTS})
            with self.lock:
                self.shape = Shape(variants)
        elif req.method == "DELETE":
            with self.lock:
                self.shape = Shape()
        elif req.method != "GET":
            return json_response(405, {"error": f"{req.method} not allowed on /_sim/shape"})
        return json_response(200, {"variant": sorted(self.shape.variants) or ["documented"]})

    # -- auth ----------------------------------------------------------------------------
    def _authenticated(self, handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
        def wrapped(req: Request) -> Response:
            self._check_auth(req.headers.get("authorization"))
            return handler(req)
        return wrapped

    def _check_auth(self, header: str | None) -> None:
        scheme, _, value = (header or "").partition(" ")
        if scheme.lower() != "basic" or not value:
            raise SimError(401, "unauthorized", "authentication required")
        try:
            user, sep, key = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise SimError(401, "unauthorized", "malformed basic credentials") from exc
        # Compare both halves every time so timing does not tell which one was wrong.
        ok_user = hmac.compare_digest(user.encode(), self.username.encode())
        ok_key = hmac.compare_digest(key.encode(), self.api_key.encode())
        if not (sep and ok_user and ok_key):
            raise SimError(401, "unauthorized", "invalid API username or API key")

    # -- handlers ------------------------------------------------------------------------
    def list_certificates(self, req: Request) -> Response:
        page = _positive_int(req.arg("page"), "page", 1)
        per_page = min(_positive_int(req.arg("per_page"), "per_page", MAX_PER_PAGE), MAX_PER_PAGE)
        plan, ref = req.arg("plan"), req.arg("client_reference")
        items = [c for c in self._ordered()
                 if (plan is None or c.plan == plan) and (ref is None or c.client_reference == ref)]
        start = (page - 1) * per_page
        shown = [self.shape.certificate(c.public(), c.seq) for c in items[start:start + per_page]]
        next_url = None
        if start + per_page < len(items):
            query = {k: v for k, v in (("plan", plan), ("client_reference", ref)) if v is not None}
            query.update(page=str(page + 1), per_page=str(per_page))
            next_url = f"http://{req.headers.get('host', 'resello.invalid')}/ssl-certificate?{urlencode(query)}"
        return json_response(200, self.shape.listing(shown, len(items), page, per_page, next_url))

    def create(self, req: Request) -> Response:
        body = _json_object(req)
        plan = body.get("plan")
        errors: dict[str, list[str]] = {}
        if not isinstance(plan, str) or not plan:
            errors.setdefault("plan", []).append("plan is required")
        elif plan not in self.plans.values():
            errors.setdefault("plan", []).append("unknown plan")
        cert = self._new_from_body(body, plan if isinstance(plan, str) else "", errors)
        cert.due_at = self._due()
        self._store(cert)
        return self._answer(201, cert)

    def get(self, req: Request) -> Response:
        return self._answer(200, self._find(req))

    def delete(self, req: Request) -> Response:
        cert = self._find(req)
        # The seed: DELETE "disables it directly" -- pending or active alike.
        if cert.status not in ("pending", "active"):
            raise SimError(409, "invalid_state", f"certificate is {cert.status} and cannot be deleted")
        cert.status, cert.pending, cert.due_at = "cancelled", None, None
        cert.updated_at = _utcnow()
        return self._answer(200, cert)

    def renew(self, req: Request) -> Response:
        cert = self._find(req)
        if cert.status not in ("active", "expired") or cert.pending:
            raise SimError(409, "invalid_state", f"certificate is {cert.status} and cannot be renewed")
        body = _json_object(req)
        plan = body.get("plan", cert.plan)
        errors: dict[str, list[str]] = {}
        if not isinstance(plan, str) or plan not in self.plans.values():
            errors.setdefault("plan", []).append("unknown plan")
            plan = cert.plan
        fresh = self._new_from_body(body, plan, errors)
        # The same object goes back to pending; the current certificate stays downloadable.
        self._adopt_request(cert, fresh)
        cert.plan = plan
        cert.status, cert.pending, cert.due_at = "pending", "renew", self._due()
        return self._answer(200, cert)

    def reissue(self, req: Request) -> Response:
        cert = self._find(req)
        if cert.status != "active" or cert.pending:
            raise SimError(409, "invalid_state", f"certificate is {cert.status} and cannot be reissued")
        fresh = self._new_from_body(_json_object(req), cert.plan, {})
        self._adopt_request(cert, fresh)
        # "activated right away, making the current one invalid"
        self._issue(cert)
        for dcv in cert.dcv.values():
            dcv.state = "validated"
        return self._answer(200, cert)

    def validate(self, req: Request) -> Response:
        cert = self._find(req)
        if cert.status != "pending":
            raise SimError(409, "invalid_state", f"certificate is {cert.status}; nothing to validate")
        body = _json_object(req)
        errors: dict[str, list[str]] = {}
        dcv_type = body.get("dcv_type")
        if dcv_type is not None and dcv_type not in DCV_TYPES:
            errors.setdefault("dcv_type", []).append(f"must be one of {', '.join(DCV_TYPES)}")
        domain = body.get("domain")
        if domain is not None and not (isinstance(domain, str) and domain.lower() in cert.dcv):
            errors.setdefault("domain", []).append("not a domain of this certificate")
        # The seed: email_address is "applicable for the dcv_type EMAIL" (not said to be required):
        # without one, the approver address given at create is used; with neither, EMAIL cannot work.
        email = body.get("email_address")
        if email is not None and not (isinstance(email, str) and _EMAIL.match(email)):
            errors.setdefault("email_address", []).append("not a valid email address")
        elif dcv_type == "EMAIL" and email is None:
            email = cert.details.get("approver_email_address")
            if email is None:
                errors.setdefault("email_address", []).append("required for EMAIL: no approver email address is known")
        if errors:
            raise SimError(422, "validation_failed", "the request contains invalid fields", errors)
        for name in ([domain.lower()] if isinstance(domain, str) else list(cert.dcv)):
            dcv = cert.dcv[name]
            dcv.method = dcv_type or dcv.method
            dcv.email = email if dcv.method == "EMAIL" else None
            if dcv.state != "failed":
                dcv.state = "pending"
        if domain is None and dcv_type:
            cert.dcv_type = dcv_type
        cert.due_at = self._due()  # a retried validation starts its clock again
        if self.dns is not None and not self._check_dns(cert) and cert.pending \
                and all(d.state == "validated" for d in cert.dcv.values()):
            self._complete(cert)  # every domain found in its zone: issued at once
        cert.updated_at = _utcnow()
        return json_response(200, self.shape.one(self._validation_doc(cert)))

    def validation_details(self, req: Request) -> Response:
        return json_response(200, self.shape.one(self._validation_doc(self._find(req))))

    def download(self, req: Request) -> Response:
        cert = self._find(req)
        fmt = req.params["fmt"]
        if fmt not in ("zip", "pkcs7", "crt", "csr", "ca"):
            raise SimError(404, "not_found", f"unknown download format {fmt!r}")
        base = re.sub(r"[^A-Za-z0-9.-]", "_", cert.common_name.replace("*", "star"))
        if fmt == "csr":
            return bytes_response(cert.csr_pem.encode(), filename=f"{base}.csr")
        if cert.cert is None or cert.status in ("cancelled", "rejected"):
            raise SimError(409, "invalid_state", f"certificate is {cert.status}; nothing to download")
        leaf = cert.cert.public_bytes(serialization.Encoding.PEM)
        chain = self.ca.chain_pem.encode()
        if fmt == "crt":
            return bytes_response(leaf, filename=f"{base}.crt")
        if fmt == "ca":
            return bytes_response(chain, filename=f"{base}.ca-bundle")
        if fmt == "pkcs7":
            p7 = pkcs7.serialize_certificates([cert.cert, self.ca.intermediate], serialization.Encoding.DER)
            return bytes_response(p7, filename=f"{base}.p7b")
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(f"{base}.crt", leaf)
            zf.writestr(f"{base}.ca-bundle", chain)
        return bytes_response(buf.getvalue(), filename=f"{base}.zip")

    # -- seeding (admin) -----------------------------------------------------------------
    def seed(self, count: int, *, status: str = "active", days_valid: Any = None,
             common_name_prefix: str = "seed-") -> list[str]:
        """Create `count` certificates at once, expiry dates spread over the validity period.
        EC keys (one per call) keep this fast; the CA signs each leaf separately."""
        if not 1 <= count <= 5000:
            raise ValueError("count must be between 1 and 5000")
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}")
        days = int(days_valid) if days_valid is not None else self.lifetime_days(_utcnow())
        if days < 1:
            raise ValueError("days_valid must be >= 1")
        key = generate_key("ec")
        now = _utcnow()
        ids: list[str] = []
        for i in range(count):
            self._seed_counter += 1
            cn = f"{common_name_prefix}{self._seed_counter}.example.com"
            csr_pem = build_csr(key, cn).public_bytes(serialization.Encoding.PEM).decode()
            cert = SslCertificate(
                id=str(uuid.uuid4()), plan=self.plans.get("dv", next(iter(self.plans.values()))),
                dcv_type="DNS", client_reference=None, csr_pem=csr_pem, common_name=cn, dns_names=[cn],
                details={}, created_at=now - dt.timedelta(seconds=count - i),
                dcv={cn: DomainDcv("DNS", secrets.token_hex(16))})
            if status in ("active", "expired", "cancelled"):
                if status == "expired":
                    start = now - dt.timedelta(days=days + 1 + i)
                else:
                    start = now - dt.timedelta(days=days - 1) * i / count
                cert.cert = self.ca.issue(key.public_key(), cn, [("dns", cn)], days=days, not_before=start).cert
                cert.dcv[cn].state = "validated"
                cert.pending = None
            elif status == "rejected":
                cert.pending, cert.rejection_reason = None, "domain control validation failed"
                cert.dcv[cn].state = "failed"
            cert.status = status
            if status == "pending":
                cert.due_at = self._due()
            self._store(cert)
            ids.append(cert.id)
        return ids

    # -- internals -----------------------------------------------------------------------
    def _find(self, req: Request) -> SslCertificate:
        ident = req.params["id"]
        # Invented: a certificate also answers to its number (what the numeric-id variants show).
        cert = self.certs.get(ident) or (self._by_seq(int(ident)) if ident.isdigit() else None)
        if cert is None:
            raise SimError(404, "not_found", "SSL certificate not found")
        return cert

    def _by_seq(self, seq: int) -> SslCertificate | None:
        return next((c for c in self.certs.values() if c.seq == seq), None)

    def _due(self) -> float | None:
        return None if self.issue_delay_s is None else self.clock() + self.issue_delay_s

    def _new_from_body(self, body: dict[str, Any], plan: str, errors: dict[str, list[str]]) -> SslCertificate:
        """Validate a create/renew/reissue body (the seed's rules) into a fresh pending object;
        raise 422 with every failing field at once."""

        def err(name: str, message: str) -> None:
            errors.setdefault(name, []).append(message)

        for name in (*OPTIONAL_FIELDS, "plan", "csr", "dcv_type"):
            if name in body and body[name] is not None and not isinstance(body[name], str):
                err(name, "must be a string")
        dcv_type = body.get("dcv_type")
        if dcv_type not in DCV_TYPES:
            err("dcv_type", f"required, one of {', '.join(DCV_TYPES)}")
        if plan and plan in (self.plans.get("ov"), self.plans.get("ev")):
            for name in ORG_REQUIRED:
                if not (isinstance(body.get(name), str) and body[name].strip()):
                    err(name, "required for OV and EV plans")
        email = body.get("approver_email_address")
        if dcv_type == "EMAIL" and not (isinstance(email, str) and email):
            err("approver_email_address", "required for EMAIL domain control validation")
        elif isinstance(email, str) and email and not _EMAIL.match(email):
            err("approver_email_address", "not a valid email address")
        ref = body.get("client_reference")
        if isinstance(ref, str) and len(ref) > 255:
            err("client_reference", "at most 255 characters")
        cn, names = "", list[str]()
        csr_text = body.get("csr")
        if not isinstance(csr_text, str) or not csr_text.strip():
            err("csr", "csr is required")
        else:
            cn, names = self._check_csr(csr_text, err)
        if errors:
            raise SimError(422, "validation_failed", "the request contains invalid fields", errors)
        assert isinstance(csr_text, str) and isinstance(dcv_type, str)
        details = {k: body[k] for k in OPTIONAL_FIELDS if isinstance(body.get(k), str)}
        return SslCertificate(
            id=str(uuid.uuid4()), plan=plan, dcv_type=dcv_type, client_reference=ref if isinstance(ref, str) else None,
            csr_pem=csr_text, common_name=cn, dns_names=names, details=details, created_at=_utcnow(),
            dcv={n: DomainDcv(dcv_type, secrets.token_hex(16), email=email if dcv_type == "EMAIL" else None)
                 for n in names})

    def _check_csr(self, csr_text: str, err: Callable[[str, str], None]) -> tuple[str, list[str]]:
        try:
            csr = parse_csr(csr_text)
        except BadCSR as exc:
            err("csr", str(exc))
            return "", []
        kind, bits = csr_key_bits(csr)
        if kind == "rsa" and bits < 2048:
            err("csr", f"the CSR key is {bits} bits; at least 2048 bits are required")
        elif kind == "ec" and bits not in EC_CURVE_BITS:
            err("csr", f"unsupported elliptic curve ({bits} bits)")
        elif kind not in ("rsa", "ec"):
            err("csr", f"unsupported key type {kind}")
        cn = (common_name_of(csr.subject) or "").lower()
        sans = csr_sans(csr)
        if any(t != "dns" for t, _ in sans):
            err("csr", "only DNS names are supported in the subject alternative names")
        names = [n.lower() for t, n in sans if t == "dns"]
        if not cn and names:
            cn = names[0]
        if not cn:
            err("csr", "the CSR has no common name")
            return "", []
        names = list(dict.fromkeys([cn, *names]))
        bad = [n for n in names if not valid_dns_name(n)]
        if bad:
            err("csr", f"invalid domain name(s): {', '.join(bad)}")
        return cn, names

    @staticmethod
    def _adopt_request(cert: SslCertificate, fresh: SslCertificate) -> None:
        """Take the names, CSR and DCV of a renew/reissue request onto the existing object."""
        cert.csr_pem, cert.common_name, cert.dns_names = fresh.csr_pem, fresh.common_name, fresh.dns_names
        cert.dcv_type, cert.dcv, cert.details = fresh.dcv_type, fresh.dcv, fresh.details
        cert.rejection_reason = None
        if fresh.client_reference is not None:
            cert.client_reference = fresh.client_reference
        cert.updated_at = _utcnow()

    def _complete(self, cert: SslCertificate) -> None:
        """Finish pending work: DCV passes unless a name carries a reject marker."""
        rejected = [n for n in cert.dns_names if any(m in n for m in self.reject_domains)]
        for name, dcv in cert.dcv.items():
            dcv.state = "failed" if name in rejected else "validated"
        if rejected:
            cert.status = "rejected"
            cert.rejection_reason = f"domain control validation failed for {', '.join(rejected)}"
        else:
            self._issue(cert)
        cert.pending, cert.due_at = None, None
        cert.updated_at = _utcnow()

    def _check_dns(self, cert: SslCertificate) -> list[str]:
        """Look up the DNS record of each pending DNS domain inside a Route 53 zone (simulators/dns.py):
        found with the token -> validated; the names whose record is missing. Domains in no zone are
        left to the issue delay / advance, as documented."""
        missing = []
        if self.dns is None:
            return missing
        for name, dcv in cert.dcv.items():
            if dcv.method != "DNS" or dcv.state != "pending":
                continue
            bare = name[2:] if name.startswith("*.") else name
            found = self.dns.lookup(f"_dnsauth.{bare}", "TXT")
            if found is None:
                continue
            if dcv.token in found:
                dcv.state, dcv.reason = "validated", None
            else:
                dcv.reason = f"no TXT record _dnsauth.{bare} with the token"
                missing.append(name)
        return missing

    def lifetime_days(self, issued_at: dt.datetime) -> int:
        """How long a certificate issued at `issued_at` lives: `validity_days` when set, else the
        CA/B Forum maximum of that date (Baseline Requirements 6.3.2 / SC-081: 398 days, 200 from
        15 Mar 2026, 100 from 15 Mar 2027, 47 from 15 Mar 2029). Resello documents no validity
        field, so a public CA behind it issuing at the maximum is our assumption."""
        if self.validity_days is not None:
            return self.validity_days
        return next((days for start, days in CABF_SCHEDULE if issued_at >= start), 398)

    def _issue(self, cert: SslCertificate) -> None:
        if cert.cert is not None:
            cert.invalidated_serials.append(format(cert.cert.serial_number, "x"))
        csr = parse_csr(cert.csr_pem)
        cert.cert = self.ca.issue(csr.public_key(), cert.common_name, [("dns", n) for n in cert.dns_names],
                                  days=self.lifetime_days(_utcnow())).cert
        cert.status = "active"
        cert.pending, cert.due_at = None, None
        cert.updated_at = _utcnow()

    def _expire(self) -> None:
        now = dt.datetime.now(dt.UTC)
        for cert in self.certs.values():
            if cert.status == "active" and cert.cert is not None and cert.cert.not_valid_after_utc < now:
                cert.status = "expired"

    def _validation_doc(self, cert: SslCertificate) -> dict[str, Any]:
        domains = []
        for name, dcv in cert.dcv.items():
            bare = name[2:] if name.startswith("*.") else name
            state = dcv.state.upper() if self.shape.has("status_upper") else dcv.state
            entry: dict[str, Any] = {"domain": name, "dcv_type": dcv.method, "status": state}
            if dcv.reason and dcv.state == "pending":
                entry["reason"] = dcv.reason
            if dcv.method == "DNS":
                entry["dns"] = {"name": f"_dnsauth.{bare}", "type": "TXT", "value": dcv.token}
            elif dcv.method == "FILE":
                file_name = hashlib.md5(dcv.token.encode(), usedforsecurity=False).hexdigest().upper()
                path = f"/.well-known/pki-validation/{file_name}.txt"
                entry["file"] = {"url": f"http://{bare}{path}", "path": path,
                                 "content": f"{dcv.token}\nresello.example\n{cert.id}"}
            else:
                entry["email"] = {"approver_email_address": dcv.email, "approver_emails": _approver_emails(bare)}
            domains.append(entry)
        shown_id: Any = cert.seq if self.shape.has("numeric_ids") else \
            str(cert.seq) if self.shape.has("string_numbers") else cert.id
        return {"certificate_id": shown_id, "status": self.shape.status(cert.status), "domains": domains}


def _approver_emails(domain: str) -> list[str]:
    """The usual WHOIS-independent approver mailboxes, for the name and its registrable parent."""
    labels = domain.split(".")
    candidates = [domain] + ([".".join(labels[-2:])] if len(labels) > 2 else [])
    return [f"{box}@{d}" for d in candidates for box in APPROVER_MAILBOXES]


def _json_object(req: Request) -> dict[str, Any]:
    try:
        body = req.json()
    except ValueError as exc:
        raise SimError(400, "bad_request", "the request body is not valid JSON") from exc
    if not isinstance(body, dict):
        raise SimError(400, "bad_request", "the request body must be a JSON object")
    return body


def _positive_int(raw: str | None, name: str, default: int) -> int:
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise SimError(400, "bad_request", f"{name} must be a positive integer",
                       {name: ["must be a positive integer"]}) from exc
    if value < 1:
        raise SimError(400, "bad_request", f"{name} must be a positive integer", {name: ["must be >= 1"]})
    return value



def from_env() -> ReselloSim:
    """The simulator as `make run` starts it; toggles from the environment."""
    markers = os.environ.get("SIM_RESELLO_REJECT_DOMAINS", "reject")
    return ReselloSim(issue_delay_s=optional_float(os.environ.get("SIM_ISSUE_DELAY_S", "20")),
                      reject_domains=[m.strip() for m in markers.split(",") if m.strip()],
                      validity_days=int(os.environ["SIM_RESELLO_VALIDITY_DAYS"])
                      if os.environ.get("SIM_RESELLO_VALIDITY_DAYS") else None, dns=dns_from_env())


# -- what the stack discovers (simulators/__init__.py) ------------------------------------------
SIMULATOR = ReselloSim
DEFAULT_PORT = 8102


def secret_payload(url: str) -> dict[str, Any]:
    """certgate's secret for this simulator listening at `url` (design.md section 7)."""
    return {"base_url": url, "api_username": defaults.RESELLO_USERNAME, "api_key": defaults.RESELLO_API_KEY,
            "plans": dict(defaults.RESELLO_PLANS)}


if __name__ == "__main__":
    main(from_env, DEFAULT_PORT)
