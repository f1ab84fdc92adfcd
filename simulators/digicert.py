"""DigiCert CertCentral Services API simulator: `/services/v2/...` with `X-DC-DEVKEY` and JSON.

Built from seeds/digicert-order-ssl.txt, seeds/digicert-reissue.txt and providers.md. Shapes the
seeds leave open (order info, list items, DCV token, request objects, error codes) are defined
here and documented in simulators/README_digicert.md.

Life of an order: created with a request that needs approval (`needs_approval`) unless approval
is skipped or automatic; once approved it is `pending` (validation) for `issue_delay_s` (forever
when None, until `POST /_sim/advance`), then `issued` -- or `rejected` when one of its names
contains a `reject_domains` marker. A reissue moves an issued order to `reissue_pending` and then
back to `issued` with a new certificate id."""

from __future__ import annotations

import collections
import datetime as dt
import hmac
import math
import os
import re
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

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
from simulators.ca import BadCSR, build_csr, csr_key_bits, generate_key, parse_csr, pem

PREFIX = "/services/v2"
APPROVAL_MODES = ("one-step", "two-step", "auto")
DCV_METHODS = ("dns-txt-token", "dns-cname-token", "http-token", "email")
TOKEN_DCV_METHODS = ("dns-txt-token", "dns-cname-token", "http-token")
SIGNATURE_HASHES = ("sha256", "sha384", "sha512")
REVOCATION_REASONS = ("unspecified", "key_compromise", "affiliation_change", "superseded",
                      "cessation_of_operation")
DOWNLOAD_FORMATS = ("pem_all", "pem_noroot", "p7b", "der")
# type_hint -> the product the order is placed for (name_id as CertCentral reports it).
PRODUCTS = {
    "ov": {"name_id": "ssl_basic", "name": "Basic OV", "type": "ssl_certificate"},
    "ev": {"name_id": "ssl_ev_basic", "name": "Basic EV", "type": "ssl_certificate"},
    "grid": {"name_id": "grid_premium", "name": "Grid Premium", "type": "grid_host_ssl_certificate"},
    "private": {"name_id": "private_ssl_plus", "name": "Private SSL", "type": "private_ssl_certificate"},
}
PUBLIC_TYPES = ("ov", "ev")  # the CA/B Forum 397-day limit binds only publicly trusted certificates
MAX_PUBLIC_CERT_DAYS = 397
MAX_ORDER_DAYS = 2190
MAX_LIST_LIMIT = 1000
MAX_ALTERNATIVE_ORDER_ID = 64
MAX_SEED = 5000
RATE_WINDOW_S = 5.0
APPROVER_MAILBOXES = ("admin", "administrator", "hostmaster", "postmaster", "webmaster")
FILE_DCV_PATH = "/.well-known/pki-validation/fileauth.txt"
CNAME_TARGET = "dcv.digicert.com"
EC_CURVE_BITS = (256, 384)
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
# The seed says "alphanumeric"; our ids also carry '_', '-' and '.', which the sim accepts.
_ALT_ID = re.compile(r"^[A-Za-z0-9_.-]+$")


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat()


def _date(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d") if value else None


def valid_dns_name(name: str) -> bool:
    """Hostname syntax; a wildcard only as the whole left-most label."""
    if not isinstance(name, str) or len(name) > 253:
        return False
    labels = name.lower().split(".")
    if labels[0] == "*":
        labels = labels[1:]
    return len(labels) >= 2 and all(_LABEL.match(label) for label in labels)


class DigiCertErrors(SimError):
    """Several errors answered at once, as CertCentral lists every problem of a request."""

    def __init__(self, status: int, errors: list[tuple[str, str]]) -> None:
        super().__init__(status, errors[0][0], errors[0][1])
        self.errors = errors


@dataclass
class SimCertificate:
    id: int
    order_id: int
    common_name: str
    dns_names: list[str]
    csr: str
    signature_hash: str
    days: int
    status: str = "pending"  # pending | issued | revoked | rejected
    pem: str | None = None
    cert: x509.Certificate | None = None
    serial_number: str | None = None
    valid_from: dt.datetime | None = None
    valid_till: dt.datetime | None = None
    revocation_reason: str | None = None


@dataclass
class SimRequest:
    id: int
    order_id: int
    type: str  # new_request | reissue | revoke
    status: str  # submitted | pending | approved | rejected
    date: dt.datetime
    comments: str | None = None
    processor_comment: str | None = None
    certificate_id: int | None = None  # reissue: the certificate it creates; revoke: the one it revokes
    revocation_reason: str | None = None


@dataclass
class SimOrder:
    id: int
    type_hint: str
    organization_id: int
    common_name: str
    dns_names: list[str]
    csr: str
    signature_hash: str
    server_platform: int
    cert_days: int
    order_days: int
    dcv_method: str
    dcv_token: str
    dcv_expires: dt.datetime
    date_created: dt.datetime
    status: str = "needs_approval"
    alternative_order_id: str | None = None
    auto_renew: int = 0
    comments: str | None = None
    renewal_of_order_id: int | None = None
    renewed_order_id: int | None = None
    certificate_id: int | None = None  # the latest certificate of the order (pending while a reissue runs)
    domain_ids: dict[str, int] = field(default_factory=dict)
    dcv_complete: bool = False
    request_ids: list[int] = field(default_factory=list)
    ready_at: float | None = None  # monotonic time validation completes (None: only /_sim/advance)


class DigiCertSim(Simulator):
    """CertCentral as one account (API key, organization 123) sees it."""

    name = "digicert"

    def __init__(self, *, issue_delay_s: float | None = None, approval: str = "one-step",
                 unique_alternative_order_id: bool = True, rate_limit_per_5s: int | None = 100,
                 reject_domains: Iterable[str] = ("reject",), api_key: str = defaults.DIGICERT_API_KEY,
                 organization_id: int = defaults.DIGICERT_ORGANIZATION_ID,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if approval not in APPROVAL_MODES:
            raise ValueError(f"approval must be one of {APPROVAL_MODES}")
        self.issue_delay_s = issue_delay_s
        self.approval = approval
        self.unique_alternative_order_id = unique_alternative_order_id
        self.rate_limit_per_5s = rate_limit_per_5s
        self.reject_domains = tuple(m.lower() for m in reject_domains if m)
        self.api_key = api_key
        self.organization_id = organization_id
        self.clock = clock
        super().__init__()

    # -- state -------------------------------------------------------------------------
    def reset_state(self) -> None:
        self.orders: dict[int, SimOrder] = {}
        self.certificates: dict[int, SimCertificate] = {}
        self.requests: dict[int, SimRequest] = {}
        self.organizations: dict[int, dict[str, Any]] = {
            self.organization_id: {"id": self.organization_id, "name": "Certgate Local Inc.", "country": "us"}}
        # Distinct ranges make an adapter that confuses order, certificate and request ids fail loudly.
        self._next = {"order": 1_000_001, "certificate": 2_000_001, "request": 3_000_001,
                      "domain": 4_000_001, "organization": 5_000_001}
        self._recent: collections.deque[float] = collections.deque()

    def _new_id(self, kind: str) -> int:
        value = self._next[kind]
        self._next[kind] = value + 1
        return value

    def register_routes(self) -> None:
        routes: list[tuple[str, str, Callable[[Request], Response]]] = [
            ("POST", "/order/certificate/ssl", self.create_order),
            ("GET", "/order/certificate", self.list_orders),
            ("GET", "/order/certificate/{order_id}", self.order_info),
            ("POST", "/order/certificate/{order_id}/reissue", self.reissue),
            ("PUT", "/order/certificate/{order_id}/status", self.update_order_status),
            ("PUT", "/order/certificate/{order_id}/check-dcv", self.check_dcv),
            ("PUT", "/order/certificate/{order_id}/change-dcv", self.change_dcv),
            ("PUT", "/certificate/{certificate_id}/revoke", self.revoke),
            ("GET", "/certificate/{certificate_id}/download/format/{fmt}", self.download),
            ("PUT", "/request/{request_id}/status", self.update_request_status),
        ]
        for method, pattern, handler in routes:
            self.route(method, PREFIX + pattern, self._guarded(handler))

    def _guarded(self, handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
        """Every provider route counts against the short-term limit, then authenticates."""

        def guarded(req: Request) -> Response:
            self._check_rate_limit()
            self._authenticate(req)
            return handler(req)

        guarded.__name__ = handler.__name__
        return guarded

    def _check_rate_limit(self) -> None:
        if not self.rate_limit_per_5s:
            return
        now = self.clock()
        while self._recent and now - self._recent[0] >= RATE_WINDOW_S:
            self._recent.popleft()
        if len(self._recent) >= self.rate_limit_per_5s:
            wait = max(1, math.ceil(RATE_WINDOW_S - (now - self._recent[0])))
            raise SimError(429, "request_limit_exceeded",
                           f"Request limit exceeded: at most {self.rate_limit_per_5s} requests per 5 seconds.",
                           headers={"Retry-After": str(wait)})
        self._recent.append(now)

    def _authenticate(self, req: Request) -> None:
        given = req.headers.get("x-dc-devkey", "")
        if not given or not hmac.compare_digest(given.encode(), self.api_key.encode()):
            # Never echo the presented key.
            raise SimError(401, "invalid_api_key", "The API key is missing or invalid.")

    # -- error shape -------------------------------------------------------------------
    def error_response(self, err: SimError) -> Response:
        pairs = getattr(err, "errors", None) or [(str(err.code), err.message)]
        return json_response(err.status, {"errors": [{"code": c, "message": m} for c, m in pairs]}, err.headers)

    def fault_error(self, status: int) -> Response:
        code = "service_unavailable" if status == 503 else "internal_error"
        return self.error_response(SimError(status, code, "An unexpected error occurred. Please try again later."))

    def rate_limit_error(self, retry_after: float) -> Response:
        return self.error_response(SimError(429, "request_limit_exceeded", "Request limit exceeded.",
                                            headers={"Retry-After": str(int(max(1, retry_after)))}))

    def not_found(self, req: Request) -> Response:
        return self.error_response(SimError(404, "not_found", f"No such endpoint: {req.method} {req.path}"))

    # -- time --------------------------------------------------------------------------
    def tick(self) -> None:
        now = self.clock()
        today = _utcnow()
        for order in self.orders.values():
            if order.status in ("pending", "reissue_pending") and order.ready_at is not None and order.ready_at <= now:
                self._complete(order)
            elif order.status == "issued":
                cert = self.certificates.get(order.certificate_id or 0)
                if cert and cert.valid_till and cert.valid_till < today:
                    order.status = "expired"

    def advance(self) -> dict[str, Any]:
        """Act as the account's approvers and as DigiCert's validation staff: approve every
        waiting request, then finish every validation now."""
        summary = {"approved": 0, "issued": 0, "rejected": 0, "revoked": 0}
        for request in list(self.requests.values()):
            if request.status in ("pending", "submitted"):
                self._approve(request, final=True)
                summary["approved"] += 1
                if request.type == "revoke":
                    summary["revoked"] += 1
        for order in self.orders.values():
            if order.status in ("pending", "reissue_pending"):
                self._complete(order)
                summary["issued" if order.status == "issued" else "rejected"] += 1
        return summary

    # -- orders ------------------------------------------------------------------------
    def create_order(self, req: Request) -> Response:
        body = _json_object(req)
        errors: list[tuple[str, str]] = []
        cert_in = body.get("certificate")
        if not isinstance(cert_in, dict):
            raise DigiCertErrors(400, [("required_param:certificate", "certificate is required.")])
        common_name, dns_names, csr, signature_hash = self._certificate_fields(cert_in, errors)
        product_in = body.get("product") or {}
        type_hint = product_in.get("type_hint", "ov") if isinstance(product_in, dict) else None
        if type_hint not in PRODUCTS:
            errors.append(("ambiguous_product", "A product could not be determined for the request (type_hint)."))
        dcv_method = body.get("dcv_method")
        if dcv_method is None:
            errors.append(("required_param:dcv_method", "dcv_method is required."))
        elif dcv_method not in DCV_METHODS:
            errors.append(("invalid_dcv_method", f"dcv_method must be one of {', '.join(DCV_METHODS)}."))
        org_id = self._organization(body.get("organization"), errors)
        order_days = _order_days(body, errors)
        cert_days = _cert_days(cert_in.get("cert_validity"), order_days,
                               type_hint if type_hint in PRODUCTS else "ov", errors)
        alt_id = body.get("alternative_order_id")
        if alt_id is not None and (not isinstance(alt_id, str) or not alt_id
                                   or len(alt_id) > MAX_ALTERNATIVE_ORDER_ID or not _ALT_ID.match(alt_id)):
            errors.append(("invalid_param:alternative_order_id",
                           f"alternative_order_id must be 1-{MAX_ALTERNATIVE_ORDER_ID} alphanumeric characters."))
            alt_id = None
        renewal_of = body.get("renewal_of_order_id")
        if renewal_of is not None:
            previous = self.orders.get(renewal_of) if isinstance(renewal_of, int) else None
            if previous is None:
                errors.append(("invalid_param:renewal_of_order_id", "The order to renew does not exist."))
            elif previous.status not in ("issued", "expired"):
                errors.append(("invalid_param:renewal_of_order_id",
                               f"Order {renewal_of} cannot be renewed in status {previous.status}."))
        auto_renew = body.get("auto_renew", 0)
        if auto_renew not in (0, 1, True, False):
            errors.append(("invalid_param:auto_renew", "auto_renew must be 0 or 1."))
        if errors:
            raise DigiCertErrors(400, errors)
        if alt_id and self.unique_alternative_order_id and any(
                o.alternative_order_id == alt_id for o in self.orders.values()):
            raise SimError(409, "duplicate_alternative_order_id",
                           "The alternative order ID is already assigned to an order in this account.")
        assert org_id is not None and type_hint is not None and dcv_method is not None
        order = SimOrder(
            id=self._new_id("order"), type_hint=type_hint, organization_id=org_id[0], common_name=common_name,
            dns_names=dns_names, csr=csr, signature_hash=signature_hash,
            server_platform=_platform(cert_in.get("server_platform")), cert_days=cert_days, order_days=order_days,
            dcv_method=dcv_method, dcv_token=_token(), dcv_expires=_utcnow() + dt.timedelta(days=30),
            date_created=_utcnow(), alternative_order_id=alt_id, auto_renew=int(bool(auto_renew)),
            comments=body.get("comments"), renewal_of_order_id=renewal_of)
        order.domain_ids = {name: self._new_id("domain") for name in _names(common_name, dns_names)}
        self.orders[order.id] = order
        if renewal_of is not None:
            self.orders[renewal_of].renewed_order_id = order.id
        request = self._new_request(order, "new_request", comments=body.get("comments"))
        if body.get("skip_approval") is True or self.approval == "auto":
            self._approve(request, final=True)
        out: dict[str, Any] = {
            "id": order.id,
            "requests": [{"id": request.id, "status": request.status}],
            "domains": [{"id": i, "name": n} for n, i in order.domain_ids.items()],
        }
        if request.status == "approved":
            out["certificate_id"] = order.certificate_id
        if dcv_method in TOKEN_DCV_METHODS:
            out["dcv_random_value"] = order.dcv_token
        if org_id[1]:
            out["organization"] = {"id": org_id[0]}
        return json_response(201, out)

    def _certificate_fields(self, cert_in: dict[str, Any],
                            errors: list[tuple[str, str]]) -> tuple[str, list[str], str, str]:
        common_name = cert_in.get("common_name")
        if not common_name:
            errors.append(("required_param:certificate.common_name", "certificate.common_name is required."))
            common_name = ""
        elif not valid_dns_name(common_name):
            errors.append(("invalid_param:certificate.common_name", f"{common_name!r} is not a valid domain name."))
        raw_names = cert_in.get("dns_names") or []
        if not isinstance(raw_names, list):
            errors.append(("invalid_param:certificate.dns_names", "certificate.dns_names must be an array."))
            raw_names = []
        for name in raw_names:
            if not valid_dns_name(name):
                errors.append(("invalid_param:certificate.dns_names", f"{name!r} is not a valid domain name."))
        dns_names = [n.lower() for n in raw_names if valid_dns_name(n)]
        csr = cert_in.get("csr")
        if not csr:
            errors.append(("required_param:certificate.csr", "certificate.csr is required."))
            csr = ""
        else:
            problem = _csr_problem(csr)
            if problem:
                errors.append(("invalid_csr", problem))
        signature_hash = cert_in.get("signature_hash")
        if not signature_hash:
            errors.append(("required_param:certificate.signature_hash", "certificate.signature_hash is required."))
        elif signature_hash not in SIGNATURE_HASHES:
            errors.append(("invalid_param:certificate.signature_hash",
                           f"signature_hash must be one of {', '.join(SIGNATURE_HASHES)}."))
        return str(common_name).lower(), dns_names, str(csr), str(signature_hash or "")

    def _organization(self, org: Any, errors: list[tuple[str, str]]) -> tuple[int, bool] | None:
        """(organization id, created now) -- an existing id, or details matched or added (the seed)."""
        if not isinstance(org, dict):
            errors.append(("required_param:organization", "organization is required."))
            return None
        if "id" in org:
            if isinstance(org["id"], int) and org["id"] in self.organizations:
                return org["id"], False
            errors.append(("invalid_param:organization.id", f"Organization {org['id']} does not exist."))
            return None
        name = org.get("name")
        if not name:
            errors.append(("required_param:organization.id", "organization.id or organization.name is required."))
            return None
        if not org.get("skip_duplicate_org_check"):
            for existing in sorted(self.organizations.values(), key=lambda o: o["id"]):
                if existing["name"].lower() == str(name).lower():
                    return existing["id"], False
        new_id = self._new_id("organization")
        self.organizations[new_id] = {"id": new_id, "name": str(name), "country": org.get("country")}
        return new_id, True

    def order_info(self, req: Request) -> Response:
        return json_response(200, self._order_json(self._order(req), full=True))

    def list_orders(self, req: Request) -> Response:
        offset = _int_arg(req, "offset", 0, 0, None)
        limit = _int_arg(req, "limit", MAX_LIST_LIMIT, 1, MAX_LIST_LIMIT)
        orders = list(self.orders.values())
        status = req.arg("filters[status]")
        if status:
            orders = [o for o in orders if o.status == status]
        common_name = req.arg("filters[common_name]")
        if common_name:
            orders = [o for o in orders if o.common_name == common_name.lower()]
        serial = req.arg("filters[serial_number]")
        if serial:
            wanted = serial.upper().lstrip("0")
            orders = [o for o in orders if self._serial_of(o).lstrip("0") == wanted]
        sort = req.arg("sort", "id") or "id"
        key = sort.lstrip("-")
        if key not in ("id", "date_created"):
            raise SimError(400, "invalid_param:sort", "sort must be id or date_created, optionally prefixed by -.")
        orders.sort(key=(lambda o: (o.date_created, o.id)) if key == "date_created" else (lambda o: o.id),
                    reverse=sort.startswith("-"))
        page = orders[offset:offset + limit]
        return json_response(200, {"orders": [self._order_json(o, full=False) for o in page],
                                   "page": {"total": len(orders), "offset": offset, "limit": limit}})

    def _serial_of(self, order: SimOrder) -> str:
        cert = self.certificates.get(order.certificate_id or 0)
        return (cert.serial_number or "") if cert else ""

    def _order_json(self, order: SimOrder, *, full: bool) -> dict[str, Any]:
        cert_out: dict[str, Any] = {"common_name": order.common_name, "dns_names": _names(order.common_name,
                                                                                            order.dns_names),
                                    "signature_hash": order.signature_hash}
        cert = self.certificates.get(order.certificate_id or 0)
        if cert is not None:
            cert_out.update({"id": cert.id, "common_name": cert.common_name,
                             "dns_names": _names(cert.common_name, cert.dns_names)})
            if cert.pem is not None:
                cert_out.update({"serial_number": cert.serial_number, "valid_from": _date(cert.valid_from),
                                 "valid_till": _date(cert.valid_till)})
        out: dict[str, Any] = {
            "id": order.id,
            "status": order.status,
            "date_created": _iso(order.date_created),
            "certificate": cert_out,
            "organization": {"id": order.organization_id,
                             "name": self.organizations.get(order.organization_id, {}).get("name")},
            "product": dict(PRODUCTS[order.type_hint]),
            "is_renewal": order.renewal_of_order_id is not None,
        }
        if order.alternative_order_id is not None:
            out["alternative_order_id"] = order.alternative_order_id
        if order.renewal_of_order_id is not None:
            out["renewal_of_order_id"] = order.renewal_of_order_id
        if order.renewed_order_id is not None:
            out["renewed_order_id"] = order.renewed_order_id
        if not full:
            return out
        cert_out.update({"csr": order.csr if cert is None else cert.csr,
                         "server_platform": {"id": order.server_platform},
                         "cert_validity": {"days": order.cert_days}})
        requests = [self.requests[i] for i in order.request_ids]
        out.update({
            "order_validity": {"days": order.order_days},
            "auto_renew": order.auto_renew,
            "comments": order.comments,
            "has_pending_request": any(r.status in ("pending", "submitted") for r in requests),
            "requests": [_request_json(r) for r in requests],
            "dcv_method": order.dcv_method,
            "domains": [self._domain_json(order, name, domain_id) for name, domain_id in order.domain_ids.items()],
        })
        if order.dcv_method in TOKEN_DCV_METHODS:
            token: dict[str, Any] = {"token": order.dcv_token,
                                     "status": "valid" if order.dcv_complete else "pending",
                                     "expiration_date": _date(order.dcv_expires)}
            if order.dcv_method == "dns-cname-token":
                token["verification_value"] = CNAME_TARGET
            if order.dcv_method == "http-token":
                token["http_token_url"] = FILE_DCV_PATH
            out["dcv_token"] = token
        return out

    def _domain_json(self, order: SimOrder, name: str, domain_id: int) -> dict[str, Any]:
        out: dict[str, Any] = {"id": domain_id, "name": name, "dcv_method": order.dcv_method,
                               "dcv_status": "complete" if order.dcv_complete else "pending"}
        if order.dcv_method == "email":
            base = name[2:] if name.startswith("*.") else name
            out["dcv_emails"] = [f"{box}@{base}" for box in APPROVER_MAILBOXES]
        return out

    def reissue(self, req: Request) -> Response:
        order = self._order(req)
        body = _json_object(req)
        cert_in = body.get("certificate")
        if not isinstance(cert_in, dict):
            raise DigiCertErrors(400, [("required_param:certificate", "certificate is required.")])
        if order.status != "issued":
            raise SimError(409, "invalid_order_status", f"Order {order.id} cannot be reissued in status {order.status}.")
        errors: list[tuple[str, str]] = []
        common_name, dns_names, csr, signature_hash = self._certificate_fields(cert_in, errors)
        if errors:
            raise DigiCertErrors(400, errors)
        order.common_name, order.dns_names, order.csr, order.signature_hash = (common_name, dns_names, csr,
                                                                                signature_hash)
        order.server_platform = _platform(cert_in.get("server_platform"), order.server_platform)
        for name in _names(common_name, dns_names):
            order.domain_ids.setdefault(name, self._new_id("domain"))
        order.status = "reissue_pending"
        order.dcv_complete = False
        request = self._new_request(order, "reissue", comments=body.get("comments"))
        if body.get("skip_approval") is True or self.approval == "auto":
            self._approve(request, final=True)
            return json_response(201, {"id": order.id, "certificate_id": order.certificate_id})
        return json_response(201, {"id": order.id, "requests": [{"id": request.id}]})

    def update_order_status(self, req: Request) -> Response:
        order = self._order(req)
        body = _json_object(req)
        if body.get("status") != "canceled":
            raise SimError(400, "invalid_param:status", "status must be canceled.")
        if order.status == "canceled":
            return Response(204)
        if order.status not in ("needs_approval", "pending"):
            raise SimError(409, "invalid_order_status", f"Order {order.id} cannot be canceled in status {order.status}.")
        order.status = "canceled"
        order.ready_at = None
        for request_id in order.request_ids:
            if self.requests[request_id].status in ("pending", "submitted"):
                self.requests[request_id].status = "rejected"
                self.requests[request_id].processor_comment = body.get("note") or "order canceled"
        return Response(204)

    def check_dcv(self, req: Request) -> Response:
        order = self._order(req)
        if order.status in ("canceled", "rejected", "revoked", "expired"):
            raise SimError(409, "invalid_order_status", f"Order {order.id} has no validation in status {order.status}.")
        out: dict[str, Any] = {"order_status": order.status,
                               "dcv_status": "valid" if order.dcv_complete else "pending"}
        if order.certificate_id is not None:
            out["certificate_id"] = order.certificate_id
        return json_response(200, out)

    def change_dcv(self, req: Request) -> Response:
        order = self._order(req)
        method = _json_object(req).get("dcv_method")
        if method not in DCV_METHODS:
            raise SimError(400, "invalid_dcv_method", f"dcv_method must be one of {', '.join(DCV_METHODS)}.")
        if order.status not in ("needs_approval", "pending", "reissue_pending"):
            raise SimError(409, "invalid_order_status",
                           f"The DCV method of order {order.id} cannot change in status {order.status}.")
        order.dcv_method = method
        order.dcv_token = _token()
        order.dcv_expires = _utcnow() + dt.timedelta(days=30)
        order.dcv_complete = False
        if order.ready_at is not None:  # validation starts over with the new method
            order.ready_at = self._ready_at()
        out: dict[str, Any] = {"dcv_method": method}
        if method in TOKEN_DCV_METHODS:
            out["dcv_token"] = {"token": order.dcv_token, "status": "pending",
                                "expiration_date": _date(order.dcv_expires)}
        return json_response(200, out)

    # -- certificates --------------------------------------------------------------------
    def revoke(self, req: Request) -> Response:
        cert = self._certificate(req)
        body = _json_object(req)
        reason = body.get("revocation_reason", "unspecified")
        if reason not in REVOCATION_REASONS:
            raise SimError(400, "invalid_param:revocation_reason",
                           f"revocation_reason must be one of {', '.join(REVOCATION_REASONS)}.")
        if cert.status != "issued":
            raise SimError(409, "invalid_certificate_status",
                           f"Certificate {cert.id} cannot be revoked in status {cert.status}.")
        order = self.orders[cert.order_id]
        request = self._new_request(order, "revoke", comments=body.get("comments"), certificate_id=cert.id,
                                    revocation_reason=reason)
        if body.get("skip_approval") is True or self.approval == "auto":
            self._approve(request, final=True)
            return Response(204)
        return json_response(201, _request_json(request))

    def download(self, req: Request) -> Response:
        cert = self._certificate(req)
        fmt = req.params["fmt"]
        if fmt not in DOWNLOAD_FORMATS:
            raise SimError(400, "invalid_param:format", f"format must be one of {', '.join(DOWNLOAD_FORMATS)}.")
        if cert.pem is None or cert.cert is None:
            raise SimError(409, "invalid_certificate_status", f"Certificate {cert.id} has not been issued.")
        name = cert.common_name.replace("*", "star").replace(".", "_")
        if fmt == "der":
            return bytes_response(cert.cert.public_bytes(serialization.Encoding.DER), "application/pkix-cert",
                                  f"{name}.cer")
        if fmt == "p7b":
            data = pkcs7.serialize_certificates([cert.cert, self.ca.intermediate], serialization.Encoding.DER)
            return bytes_response(data, "application/x-pkcs7-certificates", f"{name}.p7b")
        chain = cert.pem + self.ca.chain_pem + (self.ca.root_pem if fmt == "pem_all" else "")
        return bytes_response(chain.encode(), "application/x-pem-file", f"{name}.pem")

    def update_request_status(self, req: Request) -> Response:
        try:
            request = self.requests[int(req.params["request_id"])]
        except (KeyError, ValueError):
            raise SimError(404, "not_found", "Request not found.") from None
        body = _json_object(req)
        status = body.get("status")
        if status not in ("approved", "rejected"):
            raise SimError(400, "invalid_param:status", "status must be approved or rejected.")
        if request.status not in ("pending", "submitted"):
            raise SimError(409, "invalid_request_status", f"Request {request.id} is already {request.status}.")
        if status == "rejected":
            self._reject_request(request, body.get("processor_comment") or "rejected by the approver")
        else:
            self._approve(request, final=False)
        return Response(204)

    # -- transitions ---------------------------------------------------------------------
    def _new_request(self, order: SimOrder, kind: str, **kw: Any) -> SimRequest:
        # One-step approval: waiting for the approver ("pending"); two-step: submitted for the first
        # of two approvals.
        status = "submitted" if self.approval == "two-step" else "pending"
        request = SimRequest(id=self._new_id("request"), order_id=order.id, type=kind, status=status,
                             date=_utcnow(), **kw)
        self.requests[request.id] = request
        order.request_ids.append(request.id)
        return request

    def _approve(self, request: SimRequest, *, final: bool) -> None:
        """One approval step; two-step requests need a second one unless `final`."""
        if request.status == "submitted" and not final:
            request.status = "pending"
            return
        request.status = "approved"
        order = self.orders[request.order_id]
        if request.type == "revoke":
            cert = self.certificates[request.certificate_id or 0]
            if cert.status == "issued":
                cert.status = "revoked"
                cert.revocation_reason = request.revocation_reason
                if order.certificate_id == cert.id:
                    order.status = "revoked"
            return
        cert = SimCertificate(id=self._new_id("certificate"), order_id=order.id, common_name=order.common_name,
                              dns_names=list(order.dns_names), csr=order.csr, signature_hash=order.signature_hash,
                              days=order.cert_days)
        self.certificates[cert.id] = cert
        request.certificate_id = cert.id
        order.certificate_id = cert.id
        if request.type == "new_request":
            order.status = "pending"
        order.ready_at = self._ready_at()

    def _reject_request(self, request: SimRequest, comment: str) -> None:
        request.status = "rejected"
        request.processor_comment = comment
        order = self.orders[request.order_id]
        if request.type == "new_request":
            order.status = "rejected"
        elif request.type == "reissue":
            order.status = "issued"  # the current certificate stays

    def _ready_at(self) -> float | None:
        return None if self.issue_delay_s is None else self.clock() + self.issue_delay_s

    def _complete(self, order: SimOrder) -> None:
        """Validation finished: issue the pending certificate, or reject the order."""
        order.ready_at = None
        cert = self.certificates[order.certificate_id or 0]
        names = _names(cert.common_name, cert.dns_names)
        request = next((self.requests[i] for i in reversed(order.request_ids)
                        if self.requests[i].certificate_id == cert.id), None)
        if any(marker in name for name in names for marker in self.reject_domains):
            if request is not None:
                request.processor_comment = "Domain control validation failed."
            if order.status == "reissue_pending":
                previous = [c for c in self.certificates.values() if c.order_id == order.id and c.status == "issued"]
                order.certificate_id = previous[-1].id if previous else None
                order.status = "issued" if previous else "rejected"
            else:
                order.status = "rejected"
            cert.status = "rejected"
            return
        issued = self.ca.issue_from_csr(cert.csr, cert.common_name, [("dns", n) for n in names], days=cert.days)
        self._store_issued(cert, issued.cert, issued.serial_hex)
        order.status = "issued"
        order.dcv_complete = True

    def _store_issued(self, cert: SimCertificate, issued: x509.Certificate, serial_hex: str) -> None:
        cert.status = "issued"
        cert.cert = issued
        cert.pem = pem(issued)
        # CertCentral reports serials as upper-case hex.
        cert.serial_number = serial_hex.upper().zfill(len(serial_hex) + len(serial_hex) % 2)
        cert.valid_from = issued.not_valid_before_utc
        cert.valid_till = issued.not_valid_after_utc

    # -- lookups -------------------------------------------------------------------------
    def _order(self, req: Request) -> SimOrder:
        try:
            return self.orders[int(req.params["order_id"])]
        except (KeyError, ValueError):
            raise SimError(404, "not_found", "Order not found.") from None

    def _certificate(self, req: Request) -> SimCertificate:
        try:
            return self.certificates[int(req.params["certificate_id"])]
        except (KeyError, ValueError):
            raise SimError(404, "not_found", "Certificate not found.") from None

    # -- admin ---------------------------------------------------------------------------
    def admin(self, req: Request) -> Response:
        sub = req.path[len("/_sim"):]
        if sub == "/orders" and req.method == "GET":
            with self.lock:
                return json_response(200, [
                    {"id": o.id, "client_reference": o.alternative_order_id, "status": o.status,
                     "common_name": o.common_name, "certificate_id": o.certificate_id, "type_hint": o.type_hint,
                     "request_ids": list(o.request_ids)}
                    for o in self.orders.values()])
        if sub == "/seed" and req.method == "POST":
            try:
                spec = req.json()
                if not isinstance(spec, dict):
                    raise ValueError("seed body must be a JSON object")
                with self.lock:
                    ids = self.seed(count=int(spec.get("count", 1)), status=spec.get("status") or "issued",
                                    days_valid=int(spec.get("days_valid") or MAX_PUBLIC_CERT_DAYS),
                                    common_name_prefix=spec.get("common_name_prefix") or "seed")
            except (ValueError, TypeError) as exc:
                return json_response(400, {"error": str(exc)})
            return json_response(201, {"created": len(ids), "ids": ids})
        return super().admin(req)

    def seed(self, *, count: int, status: str = "issued", days_valid: int = MAX_PUBLIC_CERT_DAYS,
             common_name_prefix: str = "seed") -> list[int]:
        """Create `count` already-issued orders fast (EC keys), expiries spread over `days_valid`."""
        if not 1 <= count <= MAX_SEED:
            raise ValueError(f"count must be 1-{MAX_SEED}")
        if status not in ("issued", "expired", "revoked"):
            raise ValueError("status must be issued, expired or revoked")
        if days_valid < 2:
            raise ValueError("days_valid must be at least 2")
        now = _utcnow()
        ids: list[int] = []
        for i in range(count):
            common_name = f"{common_name_prefix}-{self._next['order']}.example.com"
            if status == "expired":
                not_before = now - dt.timedelta(days=days_valid + 1 + i % days_valid)
            else:  # expiries evenly spread from "in a day" to "in days_valid days"
                not_before = now - dt.timedelta(days=(i * (days_valid - 1)) // count)
            key = generate_key("ec")
            csr_pem = build_csr(key, common_name).public_bytes(serialization.Encoding.PEM).decode()
            order = SimOrder(
                id=self._new_id("order"), type_hint="ov", organization_id=self.organization_id,
                common_name=common_name, dns_names=[], csr=csr_pem, signature_hash="sha256", server_platform=-1,
                cert_days=days_valid, order_days=days_valid, dcv_method="dns-txt-token", dcv_token=_token(),
                dcv_expires=not_before + dt.timedelta(days=30), date_created=not_before, status=status,
                dcv_complete=True)
            order.domain_ids = {common_name: self._new_id("domain")}
            self.orders[order.id] = order
            request = self._new_request(order, "new_request")
            request.status = "approved"
            cert = SimCertificate(id=self._new_id("certificate"), order_id=order.id, common_name=common_name,
                                  dns_names=[], csr=csr_pem, signature_hash="sha256", days=days_valid)
            issued = self.ca.issue(key.public_key(), common_name, [("dns", common_name)], days=days_valid,
                                   not_before=not_before)
            self._store_issued(cert, issued.cert, issued.serial_hex)
            cert.status = "revoked" if status == "revoked" else "issued"
            self.certificates[cert.id] = cert
            request.certificate_id = order.certificate_id = cert.id
            ids.append(order.id)
        return ids


# -- request parsing helpers ---------------------------------------------------------------
def _json_object(req: Request) -> dict[str, Any]:
    try:
        body = req.json()
    except ValueError:
        raise SimError(400, "invalid_json", "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise SimError(400, "invalid_json", "The request body must be a JSON object.")
    return body


def _int_arg(req: Request, name: str, default: int, low: int, high: int | None) -> int:
    raw = req.arg(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SimError(400, f"invalid_param:{name}", f"{name} must be an integer.") from None
    if value < low or (high is not None and value > high):
        raise SimError(400, f"invalid_param:{name}", f"{name} must be between {low} and {high or 'any'}.")
    return value


def _csr_problem(csr_pem: Any) -> str | None:
    if not isinstance(csr_pem, str):
        return "The CSR must be a PEM string."
    try:
        csr = parse_csr(csr_pem)
    except BadCSR as exc:
        return f"The CSR is invalid: {exc}"
    kind, bits = csr_key_bits(csr)
    if kind == "rsa" and bits < 2048:
        return f"The CSR key is too small (RSA {bits} bits; at least 2048 required)."
    if kind == "ec" and bits not in EC_CURVE_BITS:
        return f"The CSR curve is not supported (EC {bits} bits; P-256 or P-384 required)."
    if kind not in ("rsa", "ec"):
        return f"The CSR key type {kind} is not supported."
    return None


def _parse_day(value: Any, fmt: str) -> dt.datetime | None:
    try:
        return dt.datetime.strptime(str(value), fmt).replace(tzinfo=dt.UTC)
    except ValueError:
        return None


def _order_days(body: dict[str, Any], errors: list[tuple[str, str]]) -> int:
    """Order validity in days: order_validity (custom date > days > years), else the deprecated
    top-level custom_expiration_date > validity_days > validity_years."""
    validity = body.get("order_validity")
    if isinstance(validity, dict):
        days = _validity_days(validity, "order_validity", "%d %b %Y", 6, MAX_ORDER_DAYS, errors)
    else:
        legacy = {"custom_expiration_date": body.get("custom_expiration_date"), "days": body.get("validity_days"),
                  "years": body.get("validity_years")}
        if not any(v is not None for v in legacy.values()):
            errors.append(("required_param:order_validity", "order_validity is required."))
            return 365
        days = _validity_days(legacy, "validity", "%Y-%m-%d", 6, MAX_ORDER_DAYS, errors)
    return days or 365


def _cert_days(validity: Any, order_days: int, type_hint: str, errors: list[tuple[str, str]]) -> int:
    cap = MAX_PUBLIC_CERT_DAYS if type_hint in PUBLIC_TYPES else order_days
    if validity is None:
        return min(order_days, cap)
    if not isinstance(validity, dict):
        errors.append(("invalid_param:certificate.cert_validity", "cert_validity must be an object."))
        return min(order_days, cap)
    days = _validity_days(validity, "certificate.cert_validity", "%d %b %Y", 1, cap, errors)
    if days and days > order_days:
        errors.append(("invalid_param:certificate.cert_validity",
                       "The certificate validity cannot exceed the order validity."))
    return min(days or cap, cap)


def _validity_days(spec: dict[str, Any], name: str, date_fmt: str, max_years: int, max_days: int,
                   errors: list[tuple[str, str]]) -> int | None:
    if spec.get("custom_expiration_date") is not None:
        when = _parse_day(spec["custom_expiration_date"], date_fmt)
        days = (when - _utcnow()).days if when else None
        if days is None or not 1 <= days <= max_days:
            errors.append((f"invalid_param:{name}.custom_expiration_date",
                           f"custom_expiration_date must be a date ({date_fmt}) within {max_days} days."))
            return None
        return days
    if spec.get("days") is not None:
        days = spec["days"]
        if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= max_days:
            errors.append((f"invalid_param:{name}.days", f"days must be 1-{max_days}."))
            return None
        return days
    years = spec.get("years")
    if not isinstance(years, int) or isinstance(years, bool) or not 1 <= years <= max_years:
        errors.append((f"invalid_param:{name}.years", f"years must be 1-{max_years}."))
        return None
    return min(years * 365, max_days)


def _platform(spec: Any, default: int = -1) -> int:
    if isinstance(spec, dict) and isinstance(spec.get("id"), int):
        return int(spec["id"])
    return default


def _names(common_name: str, dns_names: list[str]) -> list[str]:
    """The names a certificate covers: the common name first, then the others, once each."""
    return list(dict.fromkeys([common_name, *dns_names]))


def _token() -> str:
    return secrets.token_hex(16)


def _request_json(request: SimRequest) -> dict[str, Any]:
    out: dict[str, Any] = {"id": request.id, "date": _iso(request.date), "type": request.type,
                           "status": request.status, "comments": request.comments}
    if request.processor_comment:
        out["processor_comment"] = request.processor_comment
    if request.revocation_reason:
        out["revocation_reason"] = request.revocation_reason
    return out


# -- entry point -------------------------------------------------------------------------

def from_env() -> DigiCertSim:
    """The simulator as `make run` starts it; every toggle readable from the environment."""
    env = os.environ
    rate = env.get("SIM_DIGICERT_RATE_LIMIT_PER_5S", "100")
    markers = env.get("SIM_DIGICERT_REJECT_DOMAINS", "reject")
    return DigiCertSim(
        issue_delay_s=optional_float(env.get("SIM_ISSUE_DELAY_S", "20")),
        approval=env.get("SIM_DIGICERT_APPROVAL", "one-step"),
        unique_alternative_order_id=env.get("SIM_DIGICERT_UNIQUE_ALTERNATIVE_ORDER_ID", "1").lower()
        not in ("0", "false", "no"),
        rate_limit_per_5s=int(rate) if rate.strip() not in ("", "0") else None,
        reject_domains=[m.strip() for m in markers.split(",") if m.strip()],
    )


# -- what the stack discovers (simulators/__init__.py) ------------------------------------------
SIMULATOR = DigiCertSim
DEFAULT_PORT = 8103


def secret_payload(url: str) -> dict[str, Any]:
    """certgate's secret for this simulator listening at `url` (design.md section 7)."""
    return {"base_url": f"{url}/services/v2", "api_key": defaults.DIGICERT_API_KEY,
            "default_organization_id": defaults.DIGICERT_ORGANIZATION_ID}


if __name__ == "__main__":
    main(from_env, DEFAULT_PORT)
