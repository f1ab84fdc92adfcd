"""DigiCert CertCentral Services API simulator: `/services/v2/...` with `X-DC-DEVKEY` and JSON.

Strict to DigiCert's own pages (dev.digicert.com "CertCentral Services API", the seeds) and to
providers.md, never to our adapter. Every behaviour, its source, and what is invented because no
source exists, is listed in simulators/README_digicert.md.

Life of an order: created with a request that needs approval (`needs_approval`) unless approval is
skipped or automatic; once approved it is `pending` (validation) until DigiCert finds the DCV
token (`check-dcv` after `/_sim/orders/{id}/dcv`), `issue_delay_s` passes, or `POST /_sim/advance`;
then `issued` -- or `rejected` when a name contains a `reject_domains` marker. The order is a
coverage plan (`order_validity`, 1-3 years); its certificates are cut to the SC-081 maximum of
their issuance date, and each new one inside the plan is a free reissue."""

from __future__ import annotations

import collections
import datetime as dt
import hmac
import os
import re
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7

from simulators import defaults
from simulators._digicert_catalog import (
    PRODUCTS,
    TYPE_HINTS,
    Product,
    Validity,
    ValidityError,
    certificate_validity,
    max_public_days,
    order_validity,
    plan_end,
)
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
from simulators.dns import Route53Lookup
from simulators.dns import from_env as dns_from_env

PREFIX = "/services/v2"
APPROVAL_MODES = ("one-step", "two-step", "auto")
DCV_METHODS = ("dns-txt-token", "dns-cname-token", "http-token", "email")
TOKEN_DCV_METHODS = ("dns-txt-token", "dns-cname-token", "http-token")
# dns-cname-token: a CNAME {random value}.{domain} -> dcv.digicert.com (DigiCert's "DNS CNAME" DCV page).
DCV_CNAME_TARGET = "dcv.digicert.com"
SIGNATURE_HASHES = ("sha256", "sha384", "sha512")
REVOCATION_REASONS = ("unspecified", "key_compromise", "affiliation_change", "superseded",
                      "cessation_of_operation")
DOWNLOAD_FORMATS = ("pem_all", "pem_noroot", "p7b", "der")
CANCELABLE = ("pending", "waiting_pickup", "reissue_pending")  # "Update order status"
# "Rate limits": 100 requests per 5 seconds and 1,000 per 5 minutes, per API key, rolling windows.
DEFAULT_RATE_LIMITS: tuple[tuple[int, float], ...] = ((100, 5.0), (1000, 300.0))
MAX_LIST_LIMIT = 1000
MAX_ALTERNATIVE_ORDER_ID = 64
MAX_SEED = 5000
DCV_VALUE_LIFETIME = dt.timedelta(days=30)
EC_CURVE_BITS = (256, 384)
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_ALT_ID = re.compile(r"^[A-Za-z0-9]{1,64}$")  # "a custom alphanumeric ID", "Maximum length: 64"


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


@dataclass(frozen=True)
class User:
    """The CertCentral user an API key belongs to."""

    id: int
    first_name: str
    last_name: str
    email: str
    admin: bool

    def json(self) -> dict[str, Any]:
        return {"id": self.id, "first_name": self.first_name, "last_name": self.last_name, "email": self.email}


DEFAULT_USERS = {
    defaults.DIGICERT_API_KEY: User(7001, "Ada", "Admin", "admin@certgate.local", admin=True),
    defaults.DIGICERT_USER_API_KEY: User(7002, "Uri", "User", "user@certgate.local", admin=False),
}


class RateLimiter:
    """Rolling windows per API key; a refused request is not counted (invented)."""

    def __init__(self, limits: Sequence[tuple[int, float]], clock: Callable[[], float]) -> None:
        self.clock = clock
        self.set(limits)

    def set(self, limits: Sequence[tuple[int, float]]) -> None:
        self.limits = tuple((int(count), float(seconds)) for count, seconds in limits)
        self._hits: dict[str, collections.deque[float]] = {}

    def allow(self, key: str) -> bool:
        if not self.limits:
            return True
        now = self.clock()
        hits = self._hits.setdefault(key, collections.deque())
        longest = max(seconds for _, seconds in self.limits)
        while hits and now - hits[0] >= longest:
            hits.popleft()
        for count, seconds in self.limits:
            if sum(1 for t in hits if now - t < seconds) >= count:
                return False
        hits.append(now)
        return True


@dataclass
class SimCertificate:
    id: int
    order_id: int
    common_name: str
    dns_names: list[str]
    csr: str
    signature_hash: str
    requested_days: int
    status: str = "pending"  # pending | issued | revoked | rejected | canceled
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
    requester: User
    comments: str | None = None
    processor_comment: str | None = None
    date_processed: dt.datetime | None = None
    certificate_id: int | None = None  # new_request/reissue: the certificate it creates
    revoke_certificate_ids: list[int] = field(default_factory=list)
    revoke_whole_order: bool = False
    revocation_reason: str | None = None


@dataclass
class SimOrder:
    id: int
    product: Product
    organization_id: int | None
    common_name: str
    dns_names: list[str]
    csr: str
    signature_hash: str
    server_platform: int
    plan: Validity
    first_cert: Validity | None
    dcv_method: str
    dcv_random_value: str
    dcv_expires: dt.datetime
    date_created: dt.datetime
    status: str = "needs_approval"
    ca_cert_id: str | None = None
    alternative_order_id: str | None = None
    auto_renew: int = 0
    comments: str | None = None
    renewal_of_order_id: int | None = None
    renewed_order_id: int | None = None
    certificate_id: int | None = None  # the latest certificate of the order (pending while a reissue runs)
    valid_from: dt.datetime | None = None  # the plan's start: the first issuance
    valid_till: dt.datetime | None = None  # the plan's end
    domain_ids: dict[str, int] = field(default_factory=dict)
    dcv_placed: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (method, value)
    dcv_approved: set[str] = field(default_factory=set)
    request_ids: list[int] = field(default_factory=list)
    ready_at: float | None = None  # monotonic time validation completes (None: only check-dcv/advance)


class DigiCertSim(Simulator):
    """CertCentral as one account (two users, organization 123) sees it."""

    name = "digicert"
    state_attributes = ("orders", "certificates", "requests", "organizations", "_next", "clock_offset")

    def __init__(self, *, issue_delay_s: float | None = None, approval: str = "one-step",
                 unique_alternative_order_id: bool = True,
                 rate_limits: Sequence[tuple[int, float]] = DEFAULT_RATE_LIMITS,
                 revoke_order_with_last_certificate: bool = False,
                 reject_domains: Iterable[str] = ("reject",), users: dict[str, User] | None = None,
                 organization_id: int = defaults.DIGICERT_ORGANIZATION_ID,
                 clock: Callable[[], float] = time.monotonic, dns: Route53Lookup | None = None) -> None:
        if approval not in APPROVAL_MODES:
            raise ValueError(f"approval must be one of {APPROVAL_MODES}")
        self.issue_delay_s = issue_delay_s
        self.approval = approval
        self.unique_alternative_order_id = unique_alternative_order_id
        self.default_rate_limits = tuple(rate_limits)
        self.revoke_order_with_last_certificate = revoke_order_with_last_certificate
        self.reject_domains = tuple(m.lower() for m in reject_domains if m)
        self.users = dict(users or DEFAULT_USERS)
        self.organization_id = organization_id
        self.clock = clock
        self.dns = dns  # the "DNS lookup" of names inside a Route 53 zone (simulators/dns.py); None: none
        self.rate_limiter = RateLimiter(self.default_rate_limits, clock)
        self.caller = next(iter(self.users.values()))
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
        self.clock_offset = dt.timedelta(0)
        self.rate_limiter.set(self.default_rate_limits)

    def now(self) -> dt.datetime:
        """The simulator's wall clock: real time, shifted by PUT /_sim/clock."""
        return dt.datetime.now(dt.UTC).replace(microsecond=0) + self.clock_offset

    def _new_id(self, kind: str) -> int:
        value = self._next[kind]
        self._next[kind] = value + 1
        return value

    def register_routes(self) -> None:
        routes: list[tuple[str, str, Callable[[Request], Response]]] = [
            ("GET", "/order/certificate", self.list_orders),
            ("POST", "/order/certificate/{product}", self.create_order),
            ("GET", "/order/certificate/{order_id}", self.order_info),
            ("GET", "/order/alternate/{alternative_order_id}", self.orders_by_alternative_id),
            ("POST", "/order/certificate/{order_id}/reissue", self.reissue),
            ("PUT", "/order/certificate/{order_id}/status", self.update_order_status),
            ("PUT", "/order/certificate/{order_id}/dcv-random-value", self.dcv_random_value),
            ("PUT", "/order/certificate/{order_id}/dcv-method", self.change_dcv_method),
            ("PUT", "/order/certificate/{order_id}/check-dcv", self.check_dcv),
            ("PUT", "/order/certificate/{order_id}/revoke", self.revoke_order),
            ("PUT", "/certificate/{certificate_id}/revoke", self.revoke_certificate),
            ("GET", "/certificate/{certificate_id}/download/format/{fmt}", self.download),
            ("GET", "/request/{request_id}", self.request_info),
            ("PUT", "/request/{request_id}/status", self.update_request_status),
        ]
        for method, pattern, handler in routes:
            self.route(method, PREFIX + pattern, self._guarded(handler))

    def _guarded(self, handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
        """Every provider route authenticates, then counts against the caller's rate limits."""

        def guarded(req: Request) -> Response:
            key = self._authenticate(req)
            if not self.rate_limiter.allow(key):
                raise _rate_limited()
            return handler(req)

        guarded.__name__ = handler.__name__
        return guarded

    def _authenticate(self, req: Request) -> str:
        given = req.headers.get("x-dc-devkey", "")
        for key, user in self.users.items():
            if given and hmac.compare_digest(given.encode(), key.encode()):
                self.caller = user  # handlers run one at a time, under self.lock
                return key
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
        # DigiCert answers 429 without Retry-After ("Rate limits"), injected faults included.
        return self.error_response(_rate_limited())

    def not_found(self, req: Request) -> Response:
        return self.error_response(SimError(404, "not_found", f"No such endpoint: {req.method} {req.path}"))

    # -- time --------------------------------------------------------------------------
    def tick(self) -> None:
        now, today = self.clock(), self.now()
        for order in self.orders.values():
            if order.status in ("pending", "reissue_pending") and order.ready_at is not None and order.ready_at <= now:
                if self._dns_missing(order):
                    continue  # the automatic check finds no record in the zone: still validating
                self._complete(order)
            elif order.status == "issued" and order.valid_till and order.valid_till <= today:
                cert = self.certificates.get(order.certificate_id or 0)
                if cert is None or cert.valid_till is None or cert.valid_till <= today:
                    order.status = "expired"

    def advance(self) -> dict[str, Any]:
        """Act as the account's approvers and as DigiCert's validation staff: approve every
        waiting request, then finish every validation now."""
        summary = {"approved": 0, "issued": 0, "rejected": 0, "revoked": 0}
        for request in list(self.requests.values()):
            if request.status in ("pending", "submitted"):
                self._approve(request, final=True)
                summary["approved"] += 1
                summary["revoked"] += int(request.type == "revoke")
        for order in self.orders.values():
            if order.status in ("pending", "reissue_pending") and order.certificate_id is not None:
                self._complete(order)
                summary["issued" if order.status == "issued" else "rejected"] += 1
        return summary

    # -- orders ------------------------------------------------------------------------
    def create_order(self, req: Request) -> Response:
        body = _json_object(req)
        product = self._product(req.params["product"], body)
        cert_in = body.get("certificate")
        if not isinstance(cert_in, dict):
            raise DigiCertErrors(400, [("required_param:certificate", "certificate is required.")])
        errors: list[tuple[str, str]] = []
        common_name, dns_names, csr, signature_hash = self._certificate_fields(cert_in, errors,
                                                                               hash_required=product.kind != "dv")
        dcv_method = body.get("dcv_method")
        if dcv_method is None:
            errors.append(("required_param:dcv_method", "dcv_method is required."))
        elif dcv_method not in DCV_METHODS:
            errors.append(("invalid_dcv_method", f"dcv_method must be one of {', '.join(DCV_METHODS)}."))
        org = self._organization(body.get("organization"), errors) if product.kind != "dv" else (None, False)
        ca_cert_id = _ca_cert_id(cert_in, product, errors)
        plan, first_cert = self._validity(body, cert_in, product, errors)
        alt_id = _alternative_order_id(body.get("alternative_order_id"), errors)
        renewal_of = self._renewal_of(body.get("renewal_of_order_id"), errors)
        if body.get("auto_renew", 0) not in (0, 1, True, False):
            errors.append(("invalid_param:auto_renew", "auto_renew must be 0 or 1."))
        if errors:
            raise DigiCertErrors(400, errors)
        if alt_id and self.unique_alternative_order_id and any(
                o.alternative_order_id == alt_id for o in self.orders.values()):
            raise SimError(409, "duplicate_alternative_order_id",
                           "The alternative order ID is already assigned to an order in this account.")
        assert plan is not None and org is not None and dcv_method is not None
        now = self.now()
        order = SimOrder(
            id=self._new_id("order"), product=product, organization_id=org[0], common_name=common_name,
            dns_names=dns_names, csr=csr, signature_hash=signature_hash or "sha256",
            server_platform=_platform(cert_in.get("server_platform")), plan=plan, first_cert=first_cert,
            dcv_method=dcv_method, dcv_random_value=_token(), dcv_expires=now + DCV_VALUE_LIFETIME,
            date_created=now, ca_cert_id=ca_cert_id, alternative_order_id=alt_id,
            auto_renew=int(bool(body.get("auto_renew", 0))), comments=body.get("comments"),
            renewal_of_order_id=renewal_of)
        order.domain_ids = {name: self._new_id("domain") for name in _names(common_name, dns_names)}
        self.orders[order.id] = order
        if renewal_of is not None:
            self.orders[renewal_of].renewed_order_id = order.id
        request = self._new_request(order, "new_request", comments=body.get("comments"))
        if body.get("skip_approval") is True or self.approval == "auto":
            self._approve(request, final=True)
        return json_response(201, self._created_json(order, request, org[1]))

    def _created_json(self, order: SimOrder, request: SimRequest, new_organization: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": order.id,
            "requests": [{"id": request.id, "status": request.status}],
            "domains": [{"id": i, "name": n} for n, i in order.domain_ids.items()],
        }
        if request.status == "approved":
            out["certificate_id"] = order.certificate_id
        if order.dcv_method in TOKEN_DCV_METHODS:
            out["dcv_random_value"] = order.dcv_random_value
        if new_organization:
            out["organization"] = {"id": order.organization_id}
        return out

    def _product(self, path_product: str, body: dict[str, Any]) -> Product:
        if path_product == "ssl":
            product_in = body.get("product") or {}
            hint = product_in.get("type_hint", "ov") if isinstance(product_in, dict) else None
            if hint not in TYPE_HINTS:
                raise DigiCertErrors(400, [("ambiguous_product",
                                            "A product could not be determined for the request (type_hint).")])
            return PRODUCTS[TYPE_HINTS[hint]]
        if path_product not in PRODUCTS:
            raise SimError(404, "not_found", f"No such product: {path_product}.")
        return PRODUCTS[path_product]

    def _validity(self, body: dict[str, Any], cert_in: dict[str, Any], product: Product,
                  errors: list[tuple[str, str]]) -> tuple[Validity | None, Validity | None]:
        now = self.now()
        try:
            plan = order_validity(body, product, now)
        except ValidityError as exc:
            errors.append((exc.code, str(exc)))
            return None, None
        try:
            return plan, certificate_validity(cert_in.get("cert_validity"), plan.days, now)
        except ValidityError as exc:
            errors.append((exc.code, str(exc)))
            return plan, None

    def _renewal_of(self, renewal_of: Any, errors: list[tuple[str, str]]) -> int | None:
        if renewal_of is None:
            return None
        previous = self.orders.get(renewal_of) if isinstance(renewal_of, int) else None
        if previous is None:
            errors.append(("invalid_param:renewal_of_order_id", "The order to renew does not exist."))
        elif previous.status not in ("issued", "expired"):
            errors.append(("invalid_param:renewal_of_order_id",
                           f"Order {renewal_of} cannot be renewed in status {previous.status}."))
        return renewal_of if isinstance(renewal_of, int) else None

    def _certificate_fields(self, cert_in: dict[str, Any], errors: list[tuple[str, str]], *,
                            hash_required: bool = True) -> tuple[str, list[str], str, str]:
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
        elif problem := _csr_problem(csr):
            errors.append(("invalid_csr", problem))
        signature_hash = cert_in.get("signature_hash")
        if not signature_hash and hash_required:
            errors.append(("required_param:certificate.signature_hash", "certificate.signature_hash is required."))
        elif signature_hash and signature_hash not in SIGNATURE_HASHES:
            errors.append(("invalid_param:certificate.signature_hash",
                           f"signature_hash must be one of {', '.join(SIGNATURE_HASHES)}."))
        return str(common_name).lower(), dns_names, str(csr), str(signature_hash or "")

    def _organization(self, org: Any, errors: list[tuple[str, str]]) -> tuple[int | None, bool]:
        """(organization id, created now) -- an existing id, or details matched or added (the seed)."""
        if not isinstance(org, dict):
            errors.append(("required_param:organization", "organization is required."))
            return None, False
        if "id" in org:
            if isinstance(org["id"], int) and org["id"] in self.organizations:
                return org["id"], False
            errors.append(("invalid_param:organization.id", f"Organization {org['id']} does not exist."))
            return None, False
        name = org.get("name")
        if not name:
            errors.append(("required_param:organization.id", "organization.id or organization.name is required."))
            return None, False
        if not org.get("skip_duplicate_org_check"):
            for existing in sorted(self.organizations.values(), key=lambda o: o["id"]):
                if existing["name"].lower() == str(name).lower():
                    return existing["id"], False
        new_id = self._new_id("organization")
        self.organizations[new_id] = {"id": new_id, "name": str(name), "country": org.get("country")}
        return new_id, True

    # -- reading -----------------------------------------------------------------------
    def order_info(self, req: Request) -> Response:
        return json_response(200, self._order_json(self._order(req), full=True))

    def orders_by_alternative_id(self, req: Request) -> Response:
        """"Get orders by alternative order ID": every order carrying it, paged."""
        wanted = req.params["alternative_order_id"]
        offset = _int_arg(req, "offset", 0, 0, None)
        limit = _int_arg(req, "limit", MAX_LIST_LIMIT, 1, MAX_LIST_LIMIT)
        matching = [o for o in self.orders.values() if o.alternative_order_id == wanted]
        page = []
        for order in matching[offset:offset + limit]:
            item: dict[str, Any] = {"order_id": order.id, "status": order.status}
            if order.certificate_id is not None:
                item["certificate_id"] = order.certificate_id
            page.append(item)
        return json_response(200, {"orders": page, "page": {"total": len(matching), "limit": limit, "offset": offset}})

    def list_orders(self, req: Request) -> Response:
        offset = _int_arg(req, "offset", 0, 0, None)
        limit = _int_arg(req, "limit", MAX_LIST_LIMIT, 1, MAX_LIST_LIMIT)
        orders = list(self.orders.values())
        if status := req.arg("filters[status]"):
            orders = [o for o in orders if o.status == status]
        if common_name := req.arg("filters[common_name]"):
            orders = [o for o in orders if o.common_name == common_name.lower()]
        if serial := req.arg("filters[serial_number]"):
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
        cert_out = self._order_certificate_json(order)
        out: dict[str, Any] = {
            "id": order.id,
            "status": order.status,
            "date_created": _iso(order.date_created),
            "certificate": cert_out,
            "product": {"name_id": order.product.name_id, "name": order.product.name, "type": order.product.type},
            "is_renewal": order.renewal_of_order_id is not None,
        }
        if order.organization_id is not None:
            out["organization"] = {"id": order.organization_id,
                                   "name": self.organizations.get(order.organization_id, {}).get("name")}
        for name in ("renewal_of_order_id", "renewed_order_id"):
            if getattr(order, name) is not None:
                out[name] = getattr(order, name)
        if not full:
            return out  # the list's documented fields carry no alternative_order_id
        cert = self.certificates.get(order.certificate_id or 0)
        cert_out.update({"csr": order.csr if cert is None else cert.csr,
                         "server_platform": {"id": order.server_platform}})
        if order.first_cert is not None:
            cert_out["cert_validity"] = dict(order.first_cert.spec)
        if order.ca_cert_id is not None:
            cert_out["ca_cert"] = {"id": order.ca_cert_id}
        requests = [self.requests[i] for i in order.request_ids]
        out.update({
            "order_validity": dict(order.plan.spec),
            "auto_renew": order.auto_renew,
            "comments": order.comments,
            "has_pending_request": any(r.status in ("pending", "submitted") for r in requests),
            "requests": [_request_summary(r) for r in requests],
            "dcv_method": order.dcv_method,
        })
        if order.alternative_order_id is not None:
            out["alternative_order_id"] = order.alternative_order_id
        if order.valid_from is not None and order.valid_till is not None:
            out["order_valid_from"], out["order_valid_till"] = _date(order.valid_from), _date(order.valid_till)
        return out

    def _order_certificate_json(self, order: SimOrder) -> dict[str, Any]:
        cert_out: dict[str, Any] = {"common_name": order.common_name,
                                    "dns_names": _names(order.common_name, order.dns_names),
                                    "signature_hash": order.signature_hash}
        cert = self.certificates.get(order.certificate_id or 0)
        if cert is not None:
            cert_out.update({"id": cert.id, "common_name": cert.common_name,
                             "dns_names": _names(cert.common_name, cert.dns_names)})
            if cert.pem is not None:
                cert_out.update({"serial_number": cert.serial_number, "valid_from": _date(cert.valid_from),
                                 "valid_till": _date(cert.valid_till)})
        return cert_out

    # -- changes -----------------------------------------------------------------------
    def reissue(self, req: Request) -> Response:
        order = self._order(req)
        body = _json_object(req)
        cert_in = body.get("certificate")
        if not isinstance(cert_in, dict):
            raise DigiCertErrors(400, [("required_param:certificate", "certificate is required.")])
        if order.status != "issued":  # an expired order's plan has ended: it needs a (paid) renewal
            raise SimError(400, "invalid_order_status", f"Order {order.id} cannot be reissued in status {order.status}.")
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
        order.dcv_approved = set()
        request = self._new_request(order, "reissue", comments=body.get("comments"))
        if body.get("skip_approval") is True or self.approval == "auto":
            self._approve(request, final=True)
            return json_response(201, {"id": order.id, "certificate_id": order.certificate_id})
        return json_response(201, {"id": order.id, "requests": [{"id": request.id}]})

    def update_order_status(self, req: Request) -> Response:
        """"Update order status": cancel from pending/waiting_pickup; a reissue_pending order goes
        back to issued and its reissue request is rejected with the note as processor_comment."""
        order = self._order(req)
        body = _json_object(req)
        if body.get("status") != "canceled":
            raise SimError(400, "invalid_param:status", "status must be canceled (case-sensitive).")
        note = body.get("note")
        if not note:
            raise SimError(400, "required_param:note", "note is required to cancel an order.")
        if order.status not in CANCELABLE:
            raise SimError(400, "invalid_order_status", f"Order {order.id} cannot be canceled in status {order.status}.")
        for request_id in order.request_ids:
            request = self.requests[request_id]
            if request.status in ("pending", "submitted") and request.type != "revoke":
                self._close_request(request, "rejected", str(note))
        order.ready_at = None
        if order.status == "reissue_pending":
            self._abandon_reissue(order)
        else:
            order.status = "canceled"
        return Response(204)

    def _abandon_reissue(self, order: SimOrder) -> None:
        pending = self.certificates.get(order.certificate_id or 0)
        if pending is not None and pending.status == "pending":
            pending.status = "canceled"
        issued = [c for c in self.certificates.values() if c.order_id == order.id and c.status == "issued"]
        order.certificate_id = issued[-1].id if issued else order.certificate_id
        order.status = "issued"

    # -- DCV ---------------------------------------------------------------------------
    def _dcv_order(self, req: Request) -> SimOrder:
        order = self._order(req)
        if order.status not in ("needs_approval", "pending", "reissue_pending"):
            raise SimError(400, "invalid_order_status", f"Order {order.id} has no pending validation ({order.status}).")
        return order

    def _current_random_value(self, order: SimOrder) -> dict[str, Any]:
        if order.dcv_expires <= self.now():  # expired: a new value (the page)
            order.dcv_random_value, order.dcv_expires = _token(), self.now() + DCV_VALUE_LIFETIME
        return {"dcv_random_value": order.dcv_random_value, "expiration_date": _iso(order.dcv_expires)}

    def dcv_random_value(self, req: Request) -> Response:
        order = self._dcv_order(req)
        if order.dcv_method not in TOKEN_DCV_METHODS:
            raise SimError(400, "invalid_dcv_method", "The order's DCV method uses no random value.")
        return json_response(200, self._current_random_value(order))

    def change_dcv_method(self, req: Request) -> Response:
        order = self._dcv_order(req)
        method = _json_object(req).get("dcv_method")
        if method not in DCV_METHODS:
            raise SimError(400, "invalid_dcv_method", f"dcv_method must be one of {', '.join(DCV_METHODS)}.")
        order.dcv_method = method
        order.dcv_approved = set()
        if order.ready_at is not None:  # validation starts over with the new method
            order.ready_at = self._ready_at()
        if method not in TOKEN_DCV_METHODS:
            return Response(204)  # the page's "// empty" answer for email
        return json_response(200, self._current_random_value(order))

    def check_dcv(self, req: Request) -> Response:
        """"Check order DCV": DNS methods list every name; http-token is a 400 while a file is absent."""
        order = self._dcv_order(req)
        if order.dcv_method not in TOKEN_DCV_METHODS:
            raise SimError(400, "invalid_dcv_method", "check-dcv needs dns-txt-token, dns-cname-token or http-token.")
        value = self._current_random_value(order)["dcv_random_value"]
        in_dns = self._dns_verdicts(order, value)
        for name in order.domain_ids:
            # In place: found by the DNS lookup (a name inside a Route 53 zone), or put there by
            # PUT /_sim/orders/{id}/dcv (which stands for "the record is published" anywhere).
            if in_dns.get(name, "") is None or order.dcv_placed.get(name) == (order.dcv_method, value):
                order.dcv_approved.add(name)
        missing = [n for n in order.domain_ids if n not in order.dcv_approved]
        if missing and order.dcv_method == "http-token":
            raise SimError(400, "file_random_value_not_found",
                           "Could not find the random value at the expected file location for one or more domains.")
        if not missing and order.status in ("pending", "reissue_pending") and order.certificate_id is not None:
            self._complete(order)
        out: dict[str, Any] = {
            "order_status": order.status,
            "dcv_status": "pending" if missing else "valid",
            "dns_name_validations": [{"dns_name": n, "status": "approved" if n in order.dcv_approved else "pending",
                                      **({"reason": in_dns[n]} if in_dns.get(n) and n not in order.dcv_approved
                                         else {})}
                                     for n in order.domain_ids],
        }
        if order.certificate_id is not None:
            out["certificate_id"] = order.certificate_id
        return json_response(200, out)

    def _dns_verdicts(self, order: SimOrder, value: str) -> dict[str, str | None]:
        """For each name of a DNS-validated order inside a Route 53 zone (the DNS lookup of
        simulators/dns.py): None when its record is there with the random value, else why not.
        Names in no zone are absent (the `_sim` placement and the issue delay decide for them)."""
        if self.dns is None or order.dcv_method not in ("dns-txt-token", "dns-cname-token"):
            return {}
        out: dict[str, str | None] = {}
        for name in order.domain_ids:
            base = name[2:] if name.startswith("*.") else name
            if order.dcv_method == "dns-txt-token":
                record, rtype, wanted = f"_dnsauth.{base}", "TXT", value
            else:
                record, rtype, wanted = f"{value}.{base}", "CNAME", DCV_CNAME_TARGET
            found = self.dns.lookup(record, rtype)
            if found is None:
                continue
            ok = any(v.rstrip(".").lower() == wanted.lower() for v in found) if rtype == "CNAME" else wanted in found
            out[name] = None if ok else (f"no {rtype} record {record} with the random value" if not found
                                         else f"{rtype} record {record} does not hold the random value")
        return out

    def _dns_missing(self, order: SimOrder) -> bool:
        verdicts = self._dns_verdicts(order, order.dcv_random_value)
        placed = {n for n, v in order.dcv_placed.items() if v == (order.dcv_method, order.dcv_random_value)}
        return any(v is not None and n not in placed for n, v in verdicts.items())

    # -- revocation --------------------------------------------------------------------
    def revoke_certificate(self, req: Request) -> Response:
        """"Revoke certificate": one certificate, by id or serial number."""
        cert = self._certificate_by_identifier(req.params["certificate_id"])
        body = _json_object(req)
        reason = _revocation_reason(body)
        order = self.orders[cert.order_id]
        if order.status == "reissue_pending":
            raise SimError(400, "pending_reissue", "Certificates with a pending reissue cannot be revoked.")
        if cert.status != "issued":
            raise SimError(400, "invalid_certificate_status",
                           f"Certificate {cert.id} cannot be revoked in status {cert.status}.")
        return self._revoke(order, [cert.id], body, reason, whole_order=False)

    def revoke_order(self, req: Request) -> Response:
        """"Revoke order certificates": every certificate of the order (duplicates, reissues)."""
        order = self._order(req)
        body = _json_object(req)
        reason = _revocation_reason(body)
        if order.status == "reissue_pending":
            raise SimError(400, "pending_reissue", "Certificates with a pending reissue cannot be revoked.")
        if order.status != "issued":
            raise SimError(400, "invalid_order_status", f"Order {order.id} cannot be revoked in status {order.status}.")
        ids = [c.id for c in self.certificates.values() if c.order_id == order.id and c.status == "issued"]
        return self._revoke(order, ids, body, reason, whole_order=True)

    def _revoke(self, order: SimOrder, certificate_ids: list[int], body: dict[str, Any], reason: str, *,
                whole_order: bool) -> Response:
        if body.get("skip_approval") is True and self.caller.admin:
            # "DigiCert revokes the certificate without creating a request": an empty answer.
            self._apply_revoke(order, certificate_ids, reason, whole_order=whole_order)
            return Response(204)
        request = SimRequest(id=self._new_id("request"), order_id=order.id, type="revoke", status="pending",
                             date=self.now(), requester=self.caller, comments=body.get("comments"),
                             revoke_certificate_ids=list(certificate_ids), revoke_whole_order=whole_order,
                             revocation_reason=reason)
        self.requests[request.id] = request
        order.request_ids.append(request.id)
        return json_response(201, {"id": request.id, "date": _iso(request.date), "type": "revoke",
                                   "status": "pending", "requester": self.caller.json(),
                                   "comments": request.comments})

    def _apply_revoke(self, order: SimOrder, certificate_ids: list[int], reason: str, *, whole_order: bool) -> None:
        for cert_id in certificate_ids:
            cert = self.certificates[cert_id]
            if cert.status == "issued":
                cert.status, cert.revocation_reason = "revoked", reason
        still_issued = any(c.status == "issued" for c in self.certificates.values() if c.order_id == order.id)
        if whole_order or (self.revoke_order_with_last_certificate and not still_issued):
            order.status = "revoked"
            order.ready_at = None

    # -- requests ----------------------------------------------------------------------
    def _request(self, req: Request) -> SimRequest:
        try:
            return self.requests[int(req.params["request_id"])]
        except (KeyError, ValueError):
            raise SimError(404, "not_found", "Request not found.") from None

    def request_info(self, req: Request) -> Response:
        request = self._request(req)
        out: dict[str, Any] = {"id": request.id, "date": _iso(request.date), "type": request.type,
                               "status": request.status, "requester": request.requester.json(),
                               "order": {"id": request.order_id}, "comments": request.comments}
        if request.date_processed is not None:
            out["date_processed"] = _iso(request.date_processed)
        if request.processor_comment is not None:
            out["processor_comment"] = request.processor_comment
        if request.type == "revoke":
            out["revocation_reason"] = request.revocation_reason
            out["order"]["certificate_ids"] = list(request.revoke_certificate_ids)
        return json_response(200, out)

    def update_request_status(self, req: Request) -> Response:
        request = self._request(req)
        if not self.caller.admin:
            raise SimError(403, "access_denied", "Only an administrator can approve or reject requests.")
        body = _json_object(req)
        status = body.get("status")
        if status not in ("approved", "rejected"):
            raise SimError(400, "invalid_param:status", "status must be approved or rejected.")
        if request.status not in ("pending", "submitted"):
            raise SimError(400, "invalid_request_status", f"Request {request.id} is already {request.status}.")
        if status == "rejected":
            self._reject_request(request, body.get("processor_comment") or "rejected by the approver")
        else:
            request.processor_comment = body.get("processor_comment")
            self._approve(request, final=False)
        return Response(204)

    # -- transitions ---------------------------------------------------------------------
    def _new_request(self, order: SimOrder, kind: str, **kw: Any) -> SimRequest:
        # One-step approval: waiting for the approver ("pending"); two-step: submitted for the first
        # of two approvals.
        status = "submitted" if self.approval == "two-step" else "pending"
        request = SimRequest(id=self._new_id("request"), order_id=order.id, type=kind, status=status,
                             date=self.now(), requester=self.caller, **kw)
        self.requests[request.id] = request
        order.request_ids.append(request.id)
        return request

    def _close_request(self, request: SimRequest, status: str, comment: str | None) -> None:
        request.status, request.date_processed = status, self.now()
        if comment is not None:
            request.processor_comment = comment

    def _approve(self, request: SimRequest, *, final: bool) -> None:
        """One approval step; two-step certificate requests need a second one unless `final`."""
        if request.status == "submitted" and not final:
            request.status = "pending"
            return
        self._close_request(request, "approved", None)
        order = self.orders[request.order_id]
        if request.type == "revoke":
            self._apply_revoke(order, request.revoke_certificate_ids, request.revocation_reason or "unspecified",
                               whole_order=request.revoke_whole_order)
            return
        days = order.first_cert.days if request.type == "new_request" and order.first_cert else order.plan.days
        cert = SimCertificate(id=self._new_id("certificate"), order_id=order.id, common_name=order.common_name,
                              dns_names=list(order.dns_names), csr=order.csr, signature_hash=order.signature_hash,
                              requested_days=days)
        self.certificates[cert.id] = cert
        request.certificate_id = order.certificate_id = cert.id
        if request.type == "new_request":
            order.status = "pending"
        order.ready_at = self._ready_at()

    def _reject_request(self, request: SimRequest, comment: str) -> None:
        self._close_request(request, "rejected", comment)
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
        if any(marker in name for name in names for marker in self.reject_domains):
            self._fail_validation(order, cert)
            return
        now = self.now()
        if order.valid_from is None:  # the plan starts with its first certificate
            order.valid_from, order.valid_till = now, plan_end(order.plan, now)
        days = self._certificate_days(order, cert, now)
        issued = self.ca.issue_from_csr(cert.csr, cert.common_name, [("dns", n) for n in names], days=days,
                                        not_before=now)
        self._store_issued(cert, issued.cert, issued.serial_hex)
        order.status = "issued"
        order.dcv_approved = set(order.domain_ids)

    def _certificate_days(self, order: SimOrder, cert: SimCertificate, now: dt.datetime) -> int:
        """The requested length, cut to the SC-081 maximum of today (public TLS) and to the plan's end."""
        days = cert.requested_days
        if order.product.public:
            days = min(days, max_public_days(now))
        if order.valid_till is not None:
            days = min(days, max(1, (order.valid_till - now).days))
        return days

    def _fail_validation(self, order: SimOrder, cert: SimCertificate) -> None:
        request = next((self.requests[i] for i in reversed(order.request_ids)
                        if self.requests[i].certificate_id == cert.id), None)
        if request is not None:
            request.processor_comment = "Domain control validation failed."
        cert.status = "rejected"
        if order.status == "reissue_pending":
            previous = [c for c in self.certificates.values() if c.order_id == order.id and c.status == "issued"]
            order.certificate_id = previous[-1].id if previous else None
            order.status = "issued" if previous else "rejected"
        else:
            order.status = "rejected"

    def _store_issued(self, cert: SimCertificate, issued: x509.Certificate, serial_hex: str) -> None:
        cert.status = "issued"
        cert.cert = issued
        cert.pem = pem(issued)
        # CertCentral reports serials as upper-case hex.
        cert.serial_number = serial_hex.upper().zfill(len(serial_hex) + len(serial_hex) % 2)
        cert.valid_from = issued.not_valid_before_utc
        cert.valid_till = issued.not_valid_after_utc

    # -- certificates --------------------------------------------------------------------
    def download(self, req: Request) -> Response:
        cert = self._certificate_by_identifier(req.params["certificate_id"])
        fmt = req.params["fmt"]
        if fmt not in DOWNLOAD_FORMATS:
            raise SimError(400, "invalid_param:format", f"format must be one of {', '.join(DOWNLOAD_FORMATS)}.")
        if cert.pem is None or cert.cert is None:
            raise SimError(400, "invalid_certificate_status", f"Certificate {cert.id} has not been issued.")
        name = cert.common_name.replace("*", "star").replace(".", "_")
        if fmt == "der":
            return bytes_response(cert.cert.public_bytes(serialization.Encoding.DER), "application/pkix-cert",
                                  f"{name}.cer")
        if fmt == "p7b":
            data = pkcs7.serialize_certificates([cert.cert, self.ca.intermediate], serialization.Encoding.DER)
            return bytes_response(data, "application/x-pkcs7-certificates", f"{name}.p7b")
        chain = cert.pem + self.ca.chain_pem + (self.ca.root_pem if fmt == "pem_all" else "")
        return bytes_response(chain.encode(), "application/x-pem-file", f"{name}.pem")

    # -- lookups -------------------------------------------------------------------------
    def _order(self, req: Request) -> SimOrder:
        try:
            return self.orders[int(req.params["order_id"])]
        except (KeyError, ValueError):
            raise SimError(404, "not_found", "Order not found.") from None

    def _certificate_by_identifier(self, identifier: str) -> SimCertificate:
        """A certificate id, or its serial number (the revoke page's certificate_identifier)."""
        if identifier.isdigit() and int(identifier) in self.certificates:
            return self.certificates[int(identifier)]
        wanted = identifier.upper().lstrip("0")
        for cert in self.certificates.values():
            if cert.serial_number and cert.serial_number.lstrip("0") == wanted:
                return cert
        raise SimError(404, "not_found", "Certificate not found.")

    # -- admin ---------------------------------------------------------------------------
    def admin(self, req: Request) -> Response:
        sub = req.path[len("/_sim"):]
        handlers: list[tuple[str, re.Pattern[str], Callable[..., Response]]] = [
            ("GET", re.compile(r"^/orders$"), self._admin_orders),
            ("POST", re.compile(r"^/seed$"), self._admin_seed),
            ("PUT", re.compile(r"^/orders/(\d+)/dcv$"), self._admin_place_dcv),
            ("PUT", re.compile(r"^/orders/(\d+)/status$"), self._admin_force_status),
            ("GET", re.compile(r"^/clock$"), self._admin_clock),
            ("PUT", re.compile(r"^/clock$"), self._admin_clock),
            ("DELETE", re.compile(r"^/clock$"), self._admin_clock),
            ("GET", re.compile(r"^/rate-limits$"), self._admin_rate_limits),
            ("PUT", re.compile(r"^/rate-limits$"), self._admin_rate_limits),
        ]
        for method, pattern, handler in handlers:
            found = pattern.match(sub)
            if found and req.method == method:
                try:
                    with self.lock:
                        return handler(req, *found.groups())
                except (ValueError, TypeError, KeyError) as exc:
                    return json_response(400, {"error": str(exc)})
        return super().admin(req)

    def _admin_orders(self, req: Request) -> Response:
        self.tick()
        return json_response(200, [
            {"id": o.id, "client_reference": o.alternative_order_id, "status": o.status,
             "common_name": o.common_name, "certificate_id": o.certificate_id, "product": o.product.name_id,
             "request_ids": list(o.request_ids)}
            for o in self.orders.values()])

    def _admin_seed(self, req: Request) -> Response:
        spec = req.json()
        if not isinstance(spec, dict):
            raise ValueError("seed body must be a JSON object")
        ids = self.seed(count=int(spec.get("count", 1)), status=spec.get("status") or "issued",
                        days_valid=int(spec.get("days_valid") or 199),
                        common_name_prefix=spec.get("common_name_prefix") or "seed")
        return json_response(201, {"created": len(ids), "ids": ids})

    def _admin_place_dcv(self, req: Request, order_id: str) -> Response:
        """Put the DCV record or file in place (invented): for every name, or `dns_names`, with the
        order's current method and random value; `check-dcv` then finds it."""
        order = self.orders[int(order_id)]
        body = req.json() if req.body else {}
        names = body.get("dns_names") or list(order.domain_ids)
        unknown = sorted(set(names) - set(order.domain_ids))
        if unknown:
            raise ValueError(f"not names of order {order.id}: {unknown}")
        value = self._current_random_value(order)["dcv_random_value"]
        for name in names:
            order.dcv_placed[name] = (order.dcv_method, value)
        return json_response(200, {"placed": names, "dcv_method": order.dcv_method, "dcv_random_value": value})

    def _admin_force_status(self, req: Request, order_id: str) -> Response:
        """Force any status, known or not (invented), to test adapters against new values."""
        order = self.orders[int(order_id)]
        status = req.json().get("status")
        if not isinstance(status, str) or not status:
            raise ValueError("status must be a non-empty string")
        order.status, order.ready_at = status, None
        return json_response(200, {"id": order.id, "status": order.status})

    def _admin_clock(self, req: Request) -> Response:
        """PUT {"now": iso} shifts the wall clock (time keeps flowing); DELETE goes back to real time."""
        if req.method == "PUT":
            when = dt.datetime.fromisoformat(str(req.json()["now"]))
            when = when if when.tzinfo else when.replace(tzinfo=dt.UTC)
            self.clock_offset = dt.timedelta(0)
            self.clock_offset = when.replace(microsecond=0) - self.now()
        elif req.method == "DELETE":
            self.clock_offset = dt.timedelta(0)
        return json_response(200, {"now": _iso(self.now()), "offset_s": self.clock_offset.total_seconds()})

    def _admin_rate_limits(self, req: Request) -> Response:
        """PUT {"limits": [[count, seconds], ...]} replaces the windows ([] = no limit; invented)."""
        if req.method == "PUT":
            limits = req.json()["limits"]
            if not isinstance(limits, list) or any(len(pair) != 2 or pair[0] < 1 or pair[1] <= 0 for pair in limits):
                raise ValueError("limits must be a list of [count >= 1, seconds > 0]")
            self.rate_limiter.set([(int(c), float(s)) for c, s in limits])
        return json_response(200, {"limits": [list(pair) for pair in self.rate_limiter.limits]})

    def seed(self, *, count: int, status: str = "issued", days_valid: int = 199,
             common_name_prefix: str = "seed") -> list[int]:
        """Create `count` already-issued orders fast (EC keys), expiries spread over `days_valid`."""
        if not 1 <= count <= MAX_SEED:
            raise ValueError(f"count must be 1-{MAX_SEED}")
        if status not in ("issued", "expired", "revoked"):
            raise ValueError("status must be issued, expired or revoked")
        if days_valid < 2:
            raise ValueError("days_valid must be at least 2")
        now = self.now()
        ids: list[int] = []
        for i in range(count):
            if status == "expired":
                not_before = now - dt.timedelta(days=days_valid + 1 + i % days_valid)
            else:  # expiries evenly spread from "in a day" to "in days_valid days"
                not_before = now - dt.timedelta(days=(i * (days_valid - 1)) // count)
            ids.append(self._seed_one(f"{common_name_prefix}-{self._next['order']}.example.com", status,
                                      days_valid, not_before))
        return ids

    def _seed_one(self, common_name: str, status: str, days_valid: int, not_before: dt.datetime) -> int:
        key = generate_key("ec")
        csr_pem = build_csr(key, common_name).public_bytes(serialization.Encoding.PEM).decode()
        plan = Validity({"days": days_valid}, days_valid)
        order = SimOrder(
            id=self._new_id("order"), product=PRODUCTS["ssl_basic"], organization_id=self.organization_id,
            common_name=common_name, dns_names=[], csr=csr_pem, signature_hash="sha256", server_platform=-1,
            plan=plan, first_cert=None, dcv_method="dns-txt-token", dcv_random_value=_token(),
            dcv_expires=not_before + DCV_VALUE_LIFETIME, date_created=not_before, status=status,
            valid_from=not_before, valid_till=not_before + dt.timedelta(days=days_valid))
        order.domain_ids = {common_name: self._new_id("domain")}
        self.orders[order.id] = order
        request = self._new_request(order, "new_request")
        self._close_request(request, "approved", None)
        cert = SimCertificate(id=self._new_id("certificate"), order_id=order.id, common_name=common_name,
                              dns_names=[], csr=csr_pem, signature_hash="sha256", requested_days=days_valid)
        issued = self.ca.issue(key.public_key(), common_name, [("dns", common_name)], days=days_valid,
                               not_before=not_before)
        self._store_issued(cert, issued.cert, issued.serial_hex)
        cert.status = "revoked" if status == "revoked" else "issued"
        self.certificates[cert.id] = cert
        request.certificate_id = order.certificate_id = cert.id
        return order.id


# -- request parsing helpers ---------------------------------------------------------------
def _request_summary(request: SimRequest) -> dict[str, Any]:
    out: dict[str, Any] = {"id": request.id, "date": _iso(request.date), "type": request.type,
                           "status": request.status, "comments": request.comments}
    if request.processor_comment is not None:
        out["processor_comment"] = request.processor_comment
    return out


def _rate_limited() -> SimError:
    return SimError(429, "request_limit_exceeded", "Service unavailable, please limit request volume")


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


def _alternative_order_id(value: Any, errors: list[tuple[str, str]]) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _ALT_ID.match(value):
        errors.append(("invalid_param:alternative_order_id",
                       f"alternative_order_id must be 1-{MAX_ALTERNATIVE_ORDER_ID} alphanumeric characters."))
        return None
    return value


def _ca_cert_id(cert_in: dict[str, Any], product: Product, errors: list[tuple[str, str]]) -> str | None:
    """Private SSL is signed by a named intermediate: certificate.ca_cert_id ("Required if type_hint is
    private"). Public products ignore it (ICA selection is not enabled for this account)."""
    if product.kind != "private":
        return None
    value = cert_in.get("ca_cert_id")
    if not value:
        errors.append(("required_param:certificate.ca_cert_id", "certificate.ca_cert_id is required for private SSL."))
        return None
    if value != defaults.DIGICERT_PRIVATE_CA_CERT_ID:
        errors.append(("invalid_param:certificate.ca_cert_id", f"Intermediate {value!r} is not allowed."))
        return None
    return str(value)


def _revocation_reason(body: dict[str, Any]) -> str:
    reason = body.get("revocation_reason", "unspecified")
    if reason not in REVOCATION_REASONS:
        raise SimError(400, "invalid_param:revocation_reason",
                       f"revocation_reason must be one of {', '.join(REVOCATION_REASONS)}.")
    return str(reason)


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


def _platform(spec: Any, default: int = -1) -> int:
    if isinstance(spec, dict) and isinstance(spec.get("id"), int):
        return int(spec["id"])
    return default


def _names(common_name: str, dns_names: list[str]) -> list[str]:
    """The names a certificate covers: the common name first, then the others, once each."""
    return list(dict.fromkeys([common_name, *dns_names]))


def _token() -> str:
    return secrets.token_hex(16)


def parse_rate_limits(raw: str) -> tuple[tuple[int, float], ...]:
    """`100/5,1000/300` -> ((100, 5.0), (1000, 300.0)); '' or '0' = no limit."""
    if raw.strip() in ("", "0"):
        return ()
    pairs = []
    for part in raw.split(","):
        count, seconds = part.strip().split("/")
        pairs.append((int(count), float(seconds)))
    return tuple(pairs)


# -- entry point -------------------------------------------------------------------------

def from_env() -> DigiCertSim:
    """The simulator as `make run` starts it; every toggle readable from the environment."""
    env = os.environ
    markers = env.get("SIM_DIGICERT_REJECT_DOMAINS", "reject")
    return DigiCertSim(
        issue_delay_s=optional_float(env.get("SIM_ISSUE_DELAY_S", "20")),
        approval=env.get("SIM_DIGICERT_APPROVAL", "one-step"),
        unique_alternative_order_id=env.get("SIM_DIGICERT_UNIQUE_ALTERNATIVE_ORDER_ID", "1").lower()
        not in ("0", "false", "no"),
        rate_limits=parse_rate_limits(env.get("SIM_DIGICERT_RATE_LIMITS", "100/5,1000/300")),
        revoke_order_with_last_certificate=env.get("SIM_DIGICERT_REVOKE_ORDER_WITH_LAST_CERTIFICATE", "0").lower()
        in ("1", "true", "yes"),
        reject_domains=[m.strip() for m in markers.split(",") if m.strip()],
        dns=dns_from_env(),
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
