"""Resello reseller platform adapter (`{base_url}/ssl-certificate...`, basic auth, JSON).

Resello takes a CSR and issues asynchronously (`pending` -> `active`). Its create call is not
idempotent, but it stores our `client_reference` (our certificate id) and lets us filter the
listing by it: after an ambiguous create we look the order up before anything else, so a
network failure never buys a second certificate.

Resello documents its requests but none of its response bodies (seeds/resello-ssl-certificate.txt),
so everything read here is read tolerantly (the parsers at the end of this module): unknown fields
are ignored; a certificate bare or in an envelope (`{"data": {...}}`); a listing as an array,
`{"items"|"data": [...]}` with paging numbers or a `next` link; ids and numbers as numbers or
strings; dates in any ISO form or as epoch seconds; statuses in any case, an unknown one reported
with `status_recognized=False`; errors in any of the usual envelopes, and whatever else as a typed
error carrying the body's text. A shape that cannot be read is a ProviderProtocolError, never a
KeyError or TypeError; after a create it is `outcome_unknown`, so create-once looks the order up.
The shapes our simulator answers in are those of simulators/README_resello.md."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from chalicelib.core.errors import (
    FieldError,
    ProviderConflict,
    ProviderError,
    ProviderNotConfigured,
    ProviderNotFound,
    ProviderProtocolError,
    ProviderRejected,
    UnsupportedOperation,
)
from chalicelib.core.lifetimes import CABF_TLS, Lifetime
from chalicelib.core.model import Status
from chalicelib.core.provider import Capabilities, CertificateMaterial, DcvDetail, OrderRequest, Page, ProviderOrder
from chalicelib.core.vocabulary import DOWNLOAD_FORMATS
from chalicelib.providers.base import Endpoint, Provider
from chalicelib.providers.http import ErrorReading

log = logging.getLogger(__name__)

NAME = "resello"
PER_PAGE = 100  # the listing's maximum page size
MAX_LOOKUP_PAGES = 50  # a client_reference matches a handful of orders; more pages mean a listing gone wrong

# Resello has no revoke endpoint; its DELETE only disables (our `cancel`).
CAPABILITIES = Capabilities(
    accepts_csr=True, generates_key=False, products=("dv", "ov", "ev"), default_product="dv",
    dcv_methods=("dns", "email", "file"), default_dcv_method="dns",
    # Resello documents no validity field: the CA issues for the public maximum of the day.
    lifetime=Lifetime(CABF_TLS, parameter=False),
    reissue=True, renew=True, revoke=False, cancel=True, download_formats=DOWNLOAD_FORMATS,
    authorities=False, async_issuance=True,
    # Public TLS through resellers: DNS names only (the simulator refuses IP, email and URI SANs).
    san_types=("dns",),
)

# The one Resello status table. "deleted"/"disabled" are how the seed words a DELETE.
STATUS_MAP: Mapping[str, Status] = {
    "pending": Status.PENDING, "active": Status.ISSUED, "rejected": Status.FAILED, "expired": Status.EXPIRED,
    **dict.fromkeys(("cancelled", "canceled", "deleted", "disabled"), Status.CANCELLED),
}

DCV_TYPES: Mapping[str, str] = {"dns": "DNS", "email": "EMAIL", "file": "FILE"}
DCV_STATES: Mapping[str, str] = {"validated": "valid", "valid": "valid", "failed": "failed", "pending": "pending"}

# Resello's request fields (the seed's create/renew/reissue body) -> where the same value is in our
# API's request (chalicelib/core/shapes.py OrderRequest/ChangeRequest), so a provider's field error
# names the field our caller sent. Names not listed are passed on as Resello spelled them.
ORDER_FIELDS: Mapping[str, str] = {
    "csr": "csr", "plan": "provider_options.plan", "dcv_type": "dcv_method", "common_name": "common_name",
    "company_name": "organization.name", "chamber_of_commerce": "organization.chamber_of_commerce",
    "department": "organization.unit", "address": "organization.address", "city": "organization.locality",
    "zip_code": "organization.zip_code", "approver_first_name": "approver.first_name",
    "approver_last_name": "approver.last_name", "approver_email_address": "approver.email",
    "approver_phone_number": "approver.phone",
}
# ... and of the validate body (our DcvRetryRequest).
VALIDATE_FIELDS: Mapping[str, str] = {"dcv_type": "dcv_method", "email_address": "email", "domain": "domain"}
# Names a provider may give the certificate's domain names (mapped to our `sans[i]`).
SAN_FIELDS = frozenset({"dns_names", "dns_name", "domains", "domain", "sans", "san", "names",
                        "subject_alternative_names", "alt_names"})


class ReselloProvider(Provider):
    name = NAME
    capabilities = CAPABILITIES
    statuses = STATUS_MAP
    listing_position = 2
    dcv_names = DCV_TYPES
    required_credentials = ("base_url", "api_username", "api_key")
    # Resello stores our client_reference and filters by it, so the lookup needs no time bound
    # (and Resello's clock is not ours).
    lookup_since_create = False

    def _configure(self, credentials: Mapping[str, Any]) -> Endpoint:
        plans = credentials.get("plans") or {}
        if not isinstance(plans, Mapping):
            raise ProviderNotConfigured(NAME, "secret field plans must be an object {product: plan uuid}")
        self.plans: dict[str, str] = {str(k): str(v) for k, v in plans.items() if v}
        self._products_by_plan = {v: k for k, v in self.plans.items()}
        api_key = str(credentials["api_key"])
        return Endpoint(str(credentials["base_url"]), auth=(str(credentials["api_username"]), api_key),
                        secrets=(api_key,))

    # -- ordering (the template's hooks) --------------------------------------------------
    def _create(self, req: OrderRequest) -> ProviderOrder:
        data = self._send_order("POST", "/ssl-certificate", req, with_plan=True)
        try:
            return self.to_order(data)
        except ProviderProtocolError as exc:
            # A 2xx without a usable object: the order probably exists; create-once looks it up.
            exc.outcome_unknown = True
            raise

    def _lookup(self, req: OrderRequest, since: dt.datetime | None) -> ProviderOrder | None:
        """The order placed for `req.client_reference`. Resello does not make client_reference
        unique, so among several we prefer the same common name, not cancelled/rejected, and
        then the earliest (the one placed first for this intent). An item that does not say its
        client_reference proves nothing either way: the lookup cannot tell (protocol error)."""
        candidates: list[tuple[ProviderOrder, dt.datetime | None]] = []
        cursor: Cursor | None = Cursor()
        pages = 0
        while cursor is not None:
            pages += 1
            if pages > MAX_LOOKUP_PAGES:
                raise ProviderProtocolError(NAME, f"the lookup by client_reference ran past {MAX_LOOKUP_PAGES} pages")
            items, cursor = self._list_page({"client_reference": req.client_reference}, cursor)
            for item in items:
                order = self.to_order(item)
                if order.client_reference is None:
                    raise ProviderProtocolError(NAME, "a listed certificate does not say its client_reference")
                if order.client_reference == req.client_reference:
                    candidates.append((order, parse_time(item.get("created_at"))))
        if since is not None:
            candidates = [(o, created) for o, created in candidates if (created or since) >= since]
        if not candidates:
            return None
        cn = req.common_name.lower()
        oldest = dt.datetime.min.replace(tzinfo=dt.UTC)

        def rank(candidate: tuple[ProviderOrder, dt.datetime | None]) -> tuple[int, int, dt.datetime]:
            order, created = candidate
            return (0 if (order.common_name or "").lower() == cn else 1,
                    1 if order.status in (Status.CANCELLED, Status.FAILED) or not order.status_recognized else 0,
                    created or oldest)

        return min(candidates, key=rank)[0]

    def get_order(self, provider_order_id: str, *, with_material: bool = True) -> ProviderOrder:
        data = self.http.json("GET", self._path(provider_order_id), safe=True)
        order = self.to_order(data)
        if with_material and order.status is Status.ISSUED:
            order = self.to_order(data, material=self._issued_material(order.provider_order_id))
        return order

    def reissue(self, provider_order_id: str, req: OrderRequest) -> ProviderOrder:
        # Not idempotent (each call replaces the certificate): tried once.
        data = self._send_order("POST", self._path(provider_order_id, "reissue"), req, with_plan=False)
        # Reissue activates at once: hand over the new material.
        return self._changed(provider_order_id, data, with_material=True)

    def renew(self, provider_order_id: str, req: OrderRequest) -> ProviderOrder:
        data = self._send_order("POST", self._path(provider_order_id, "renew"), req, with_plan=True)
        return self._changed(provider_order_id, data, with_material=False)

    def _changed(self, provider_order_id: str, data: Any, *, with_material: bool) -> ProviderOrder:
        """The object a change answered with; when the 2xx answer does not read, the change was
        made all the same, so the certificate's state is read instead (never the change again)."""
        order = self.readable_order(data)
        if order is None:
            log.warning("a change answered in no readable shape; reading the certificate",
                        extra={"provider": NAME, "provider_order_id": provider_order_id})
            return self.get_order(provider_order_id, with_material=with_material)
        if with_material and order.status is Status.ISSUED:
            order = self.to_order(data, material=self._issued_material(order.provider_order_id))
        return order

    def cancel(self, provider_order_id: str) -> ProviderOrder:
        """Cancel a pending order. Resello's DELETE would also disable an active certificate;
        that is not a cancel in our model (issued -> 409), so it is refused here -- and so it is
        for a status we do not know, which may well be an active certificate."""
        current = self.get_order(provider_order_id, with_material=False)
        if current.status is Status.CANCELLED and current.status_recognized:
            return current
        if current.status is not Status.PENDING or not current.status_recognized:
            raise ProviderConflict(NAME, f"only a pending order can be cancelled; it is {current.raw_status!r}")
        try:
            data = self.http.json("DELETE", self._path(provider_order_id), safe=False)
        except ProviderError as exc:
            # The DELETE may have been applied; a repeat would answer 409, so look instead.
            return self.confirm(exc, lambda: self._cancelled(provider_order_id))
        return self.readable_order(data) or self.get_order(provider_order_id, with_material=False)

    def _cancelled(self, provider_order_id: str) -> ProviderOrder | None:
        order = self.get_order(provider_order_id, with_material=False)
        return order if order.status is Status.CANCELLED else None

    def _send_order(self, method: str, path: str, req: OrderRequest, *, with_plan: bool) -> Any:
        """Send a create/renew/reissue body (tried once); Resello's field errors name our fields."""
        try:
            return self.http.json(method, path, safe=False, json_body=self.order_body(req, with_plan=with_plan))
        except ProviderRejected as exc:
            exc.field_errors = [FieldError(our_order_field(e.field, e.message, req), e.message)
                                for e in exc.field_errors]
            raise

    # -- validation ----------------------------------------------------------------------
    def validation(self, provider_order_id: str) -> list[DcvDetail]:
        data = self.http.json("GET", self._path(provider_order_id, "validation-details"), safe=True)
        details = read_dcv(data)
        if details is None:
            raise ProviderProtocolError(NAME, "validation details without a list of domains")
        return details

    def retry_validation(self, provider_order_id: str, *, method: str | None = None,
                         email: str | None = None, domain: str | None = None) -> list[DcvDetail]:
        body: dict[str, str] = {}
        if method is not None:
            body["dcv_type"] = self.dcv_word(method)
        if email is not None:
            body["email_address"] = email
        if domain is not None:
            body["domain"] = domain
        # Setting the same DCV method again lands in the same state: safe to repeat.
        try:
            data = self.http.json("POST", self._path(provider_order_id, "validate"), safe=True, json_body=body)
        except ProviderRejected as exc:
            exc.field_errors = [FieldError(VALIDATE_FIELDS.get(normal_field(e.field), e.field), e.message)
                                for e in exc.field_errors]
            raise
        details = read_dcv(data)
        return details if details is not None else self.validation(provider_order_id)

    # -- material ------------------------------------------------------------------------
    def _native_download(self, provider_order_id: str, fmt: str) -> bytes | None:
        # Resello builds these files itself; the PEM and DER forms are rendered from its PEMs.
        return self._download(provider_order_id, fmt) if fmt in ("pkcs7", "zip") else None

    def _download(self, provider_order_id: str, what: str) -> bytes:
        resp = self.http.request("GET", self._path(provider_order_id, f"download-{what}"), safe=True,
                                 headers={"Accept": "application/octet-stream"})
        if not resp.content:
            raise ProviderProtocolError(NAME, f"empty download-{what}")
        return resp.content

    def _issued_material(self, provider_order_id: str) -> CertificateMaterial:
        # download-crt is the leaf; should Resello ever bundle more, the rest belongs to the chain.
        crt = self._download(provider_order_id, "crt")
        return self.material_from(crt + b"\n" + self._download(provider_order_id, "ca"), "download-crt")

    # -- listing -------------------------------------------------------------------------
    def list_certificates(self, filters: Mapping[str, Any] | None = None,
                          page_token: str | None = None) -> Page:
        query: dict[str, str] = {}
        filters = filters or {}
        if filters.get("client_reference"):
            query["client_reference"] = str(filters["client_reference"])
        plan = filters.get("plan") or (self.plans.get(str(filters["product"])) if filters.get("product") else None)
        if filters.get("product") and not plan:
            return Page(items=(), next_token=None)  # no plan for that product: nothing can match
        if plan:
            query["plan"] = str(plan)
        items, cursor = self._list_page(query, Cursor.decode(page_token))
        return Page(items=tuple(map(self.to_order, items)), next_token=cursor.encode() if cursor else None)

    def _list_page(self, query: Mapping[str, str], cursor: Cursor) -> tuple[list[Mapping[str, Any]], Cursor | None]:
        """One page of the listing: its certificate objects and where the next page is (None: the end)."""
        if cursor.link is not None:
            # The provider's own next link: its query only (our filters first, its paging over
            # them); the host and path are ours -- the credentials never go anywhere else.
            params = {**query, **dict(urllib.parse.parse_qsl(cursor.link, keep_blank_values=True))}
        else:
            params = {**query, "page": str(cursor.page), "per_page": str(PER_PAGE)}
        listing = read_listing(self.http.json("GET", "/ssl-certificate", safe=True, params=params))
        if listing is None:
            raise ProviderProtocolError(NAME, "a listing in no shape we can read")
        skipped = len(listing.entries) - len(listing.items)
        if skipped:
            log.warning("listed entries without a certificate id skipped", extra={"provider": NAME, "count": skipped})
        mark = _fingerprint(listing.items)
        if listing.items and mark == cursor.after:
            # The same page again: the provider ignores our paging; nothing more to read.
            log.warning("the listing repeated its last page; stopping", extra={"provider": NAME})
            return [], None
        return listing.items, self._next(listing, cursor, params, mark)

    @staticmethod
    def _next(listing: Listing, cursor: Cursor, params: Mapping[str, str], mark: str) -> Cursor | None:
        page = _int(params.get("page")) or cursor.page
        if listing.next_given:
            return _cursor_of_next(listing.next, page, mark)
        if not listing.items:
            return None
        per_page = listing.per_page or _int(params.get("per_page")) or PER_PAGE
        total = listing.total
        more = (listing.page or page) * per_page < total if total is not None else len(listing.entries) >= per_page
        return Cursor(page=(listing.page or page) + 1, after=mark) if more else None

    # -- request building ------------------------------------------------------------------
    def plan_for(self, req: OrderRequest) -> str:
        override = req.options.get("plan") if req.options else None
        if override:
            return str(override)
        if req.product not in CAPABILITIES.products:
            raise UnsupportedOperation(NAME, f"product {req.product!r} is not sold by Resello")
        plan = self.plans.get(req.product)
        if not plan:
            raise ProviderNotConfigured(NAME, f"no plan configured for product {req.product!r}")
        return plan

    def order_body(self, req: OrderRequest, *, with_plan: bool) -> dict[str, Any]:
        """The create/renew/reissue body (renew and create carry the plan; reissue does not)."""
        if not req.csr_pem:
            raise ProviderRejected(NAME, "Resello requires a CSR",
                                   field_errors=[FieldError("csr", "required by Resello")])
        body: dict[str, Any] = {
            "csr": req.csr_pem,
            "dcv_type": self.dcv_word(req.dcv_method or CAPABILITIES.default_dcv_method or "dns"),
            "client_reference": req.client_reference,  # always: it is how we find the order again
        }
        if with_plan:
            body["plan"] = self.plan_for(req)
        org, approver = req.organization, req.approver
        optional = {
            "company_name": org and org.name,
            "chamber_of_commerce": org and org.chamber_of_commerce,
            "department": org and org.unit,
            "address": org and org.address,
            "city": org and org.locality,
            "zip_code": org and org.zip_code,
            "approver_first_name": approver and approver.first_name,
            "approver_last_name": approver and approver.last_name,
            "approver_email_address": approver and approver.email,
            "approver_phone_number": approver and approver.phone,
        }
        body.update({k: v for k, v in optional.items() if v})
        if req.options and req.options.get("ee_reference_order_id"):
            body["ee_reference_order_id"] = str(req.options["ee_reference_order_id"])
        return body

    # -- response reading --------------------------------------------------------------------
    def readable_order(self, data: Any) -> ProviderOrder | None:
        """The certificate object in `data` read, or None when there is none (without material)."""
        obj = certificate_object(data)
        return None if obj is None else self._order_of(obj)

    def to_order(self, data: Any, material: CertificateMaterial | None = None) -> ProviderOrder:
        """The certificate object in `data` (bare or in an envelope); ProviderProtocolError without one."""
        obj = certificate_object(data)
        if obj is None:
            raise ProviderProtocolError(NAME, "no certificate object with an id in the answer")
        order = self._order_of(obj, material)
        return order if material is None else self.stated_by(order, material.certificate_pem)

    def _order_of(self, obj: Mapping[str, Any], material: CertificateMaterial | None = None) -> ProviderOrder:
        raw = _status_text(_first(obj, "status", "state"))
        status = self.status_of(raw)
        serial = _text(_first(obj, "serial_number", "serial"))
        failure_reason = None
        if status is Status.FAILED:
            failure_reason = _text(_first(obj, "rejection_reason", "reason", "status_reason")) or "rejected by Resello"
        ident = _ident(obj.get("id"))
        if ident is None:
            raise ProviderProtocolError(NAME, "a certificate object carries no id")
        return ProviderOrder(
            provider_order_id=ident,
            status=status,
            raw_status=raw or "",
            status_recognized=self.recognizes(raw),
            client_reference=_text(obj.get("client_reference")),
            certificate_id=ident,
            common_name=_text(_first(obj, "common_name", "domain")),
            sans=_names(_first(obj, "dns_names", "domains", "sans", "subject_alternative_names")),
            not_before=parse_time(_first(obj, "valid_from", "not_before", "start_date")),
            not_after=parse_time(_first(obj, "valid_until", "valid_to", "not_after", "expires_at", "end_date")),
            serial=serial.lower() if serial else None,
            material=material,
            failure_reason=failure_reason,
            product=self._products_by_plan.get(_text(_plan_id(obj.get("plan"))) or ""),
        )

    @staticmethod
    def to_dcv(data: Any) -> list[DcvDetail]:
        details = read_dcv(data)
        if details is None:
            raise ProviderProtocolError(NAME, "validation details without a list of domains")
        return details

    def _read_error(self, status: int, body: Any) -> ErrorReading | None:
        """Resello's error body in any of the usual envelopes; None for anything else (then the
        HTTP status class decides and the message carries the body's text)."""
        reading = read_error_body(body)
        if reading is None:
            return None
        return replace(reading, message=f"{reading.message} (HTTP {status})")

    @staticmethod
    def _path(provider_order_id: str, action: str | None = None) -> str:
        if not provider_order_id:
            raise ProviderNotFound(NAME, "empty certificate id")
        ident = urllib.parse.quote(str(provider_order_id), safe="")
        return f"/ssl-certificate/{ident}" + (f"/{action}" if action else "")


# == the tolerant readers (pure) ================================================================
# Envelopes a single object may come in, and the keys a listing's array may be under.
OBJECT_ENVELOPES = ("data", "certificate", "ssl_certificate", "result", "item")
LIST_KEYS = ("items", "data", "results", "certificates", "ssl_certificates", "records")
PAGING_PARTS = ("meta", "pagination", "paging", "page_info", "page")
LINK_PARTS = ("links", "_links")
MAX_DEPTH = 3  # envelopes inside envelopes we look into


def certificate_object(data: Any, depth: int = 0) -> Mapping[str, Any] | None:
    """The certificate object of an answer: a mapping with an id, bare or in an envelope."""
    if not isinstance(data, Mapping) or depth > MAX_DEPTH:
        return None
    if _ident(data.get("id")) is not None:
        return data
    for key in OBJECT_ENVELOPES:
        found = certificate_object(data.get(key), depth + 1)
        if found is not None:
            return found
    return None


@dataclass(frozen=True)
class Listing:
    """What a listing answer says: its certificate objects and whatever it tells about paging."""

    entries: tuple[Any, ...]  # everything in the array
    items: list[Mapping[str, Any]]  # the certificate objects among them
    total: int | None = None
    page: int | None = None
    per_page: int | None = None
    next_given: bool = False  # the answer has a `next` (null included: then it is the last page)
    next: Any = None


def read_listing(data: Any, depth: int = 0) -> Listing | None:
    """A listing as a bare array, or an object holding one (under LIST_KEYS, possibly one envelope
    down) with paging numbers beside it or in a `meta`-like part, and maybe a `next` link."""
    if isinstance(data, list):
        return _listing(data, [])
    if not isinstance(data, Mapping) or depth > MAX_DEPTH:
        return None
    for key in LIST_KEYS:
        value = data.get(key)
        if isinstance(value, list):
            return _listing(value, [data, *_parts(data, PAGING_PARTS), *_parts(data, LINK_PARTS)])
        inner = read_listing(value, depth + 1) if isinstance(value, Mapping) else None
        if inner is not None:
            outer = _listing([], [data, *_parts(data, PAGING_PARTS), *_parts(data, LINK_PARTS)])
            return replace(inner, total=_or(inner.total, outer.total), page=_or(inner.page, outer.page),
                           per_page=_or(inner.per_page, outer.per_page),
                           next_given=inner.next_given or outer.next_given,
                           next=inner.next if inner.next_given else outer.next)
    return None


def _listing(entries: Sequence[Any], sources: list[Mapping[str, Any]]) -> Listing:
    items = [obj for obj in map(certificate_object, entries) if obj is not None]
    given = [s for s in sources if any(k in s for k in ("next", "next_page", "next_url"))]
    nxt = _first(given[0], "next", "next_page", "next_url") if given else None
    if isinstance(nxt, Mapping):  # {"next": {"href": ...}}; without one it stays unusable
        nxt = _first(nxt, "href", "url", "page") or nxt
    return Listing(entries=tuple(entries), items=items,
                   total=_from(sources, "total", "total_count", "total_items"),
                   page=_from(sources, "page", "current_page", "page_number"),
                   per_page=_from(sources, "per_page", "page_size", "limit"),
                   next_given=bool(given), next=nxt)


def _parts(data: Mapping[str, Any], names: Sequence[str]) -> list[Mapping[str, Any]]:
    return [data[n] for n in names if isinstance(data.get(n), Mapping)]


def _from(sources: Sequence[Mapping[str, Any]], *names: str) -> int | None:
    for source in sources:
        for name in names:
            value = _int(source.get(name))
            if value is not None and value >= 0:
                return value
    return None


def _or(first: int | None, second: int | None) -> int | None:
    return first if first is not None else second


def _cursor_of_next(value: Any, page: int, mark: str) -> Cursor | None:
    """Where a listing's `next` points: a link (its query is followed), a page number, `true`
    (the page after this one); null, false or "" end the listing. Anything else is a protocol
    error: guessing could skip certificates or, in a lookup, miss an order we placed."""
    if value is None or value is False or value == "":
        return None
    if value is True:
        return Cursor(page=page + 1, after=mark)
    number = _int(value)
    if number is not None and number >= 1:
        return Cursor(page=number, after=mark)
    if isinstance(value, str):
        query = urllib.parse.urlsplit(value).query
        if query:
            return Cursor(page=_int(dict(urllib.parse.parse_qsl(query)).get("page")) or page + 1,
                          link=query, after=mark)
    raise ProviderProtocolError(NAME, "the listing's next link is in no form we can follow")


@dataclass(frozen=True)
class Cursor:
    """Where the next page of a listing is: a page number, or the query of the provider's own next
    link; `after` marks the page before it, so a provider that ignores our paging cannot loop us."""

    page: int = 1
    link: str | None = None
    after: str | None = None

    def encode(self) -> str:
        parts = {"p": str(self.page), "l": self.link, "a": self.after}
        return urllib.parse.urlencode({k: v for k, v in parts.items() if v is not None})

    @classmethod
    def decode(cls, token: str | None) -> Cursor:
        if not token:
            return cls()
        fields = dict(urllib.parse.parse_qsl(token)) if "=" in token else {"p": token}
        page = _int(fields.get("p"))
        if page is None or page < 1 or set(fields) - {"p", "l", "a"}:
            raise ProviderRejected(NAME, "invalid page token", field_errors=[FieldError("next_token", "invalid")])
        return cls(page=page, link=fields.get("l"), after=fields.get("a"))


def _fingerprint(items: Sequence[Mapping[str, Any]]) -> str:
    joined = "\n".join(str(_ident(i.get("id"))) for i in items)
    return hashlib.sha256(joined.encode()).hexdigest()[:12]


def read_dcv(data: Any) -> list[DcvDetail] | None:
    """Validation details: a list of per-domain entries, bare or under `domains`-like keys in
    (an envelope of) the answer; None when there is no such list."""
    entries = _dcv_entries(data, 0)
    if entries is None:
        return None
    out: list[DcvDetail] = []
    for entry in entries:
        domain = _text(_first(entry, "domain", "name")) if isinstance(entry, Mapping) else None
        if domain is None:
            continue
        method = {v: k for k, v in DCV_TYPES.items()}.get((_text(_first(entry, "dcv_type", "method")) or "").upper(),
                                                           "dns")
        state = DCV_STATES.get((_status_text(_first(entry, "status", "state")) or "").lower(), "pending")
        dns, file, email = (_mapping(entry.get(part)) for part in ("dns", "file", "email"))
        chosen = _text(email.get("approver_email_address"))
        out.append(DcvDetail(
            domain=domain, method=method, state=state,
            dns_record_name=_text(dns.get("name")), dns_record_type=_text(dns.get("type")),
            dns_value=_text(dns.get("value")), file_path=_text(file.get("path")),
            file_content=_text(file.get("content")),
            emails=(chosen,) if chosen else _names(email.get("approver_emails"))))
    return out


def _dcv_entries(data: Any, depth: int) -> list[Any] | None:
    if isinstance(data, list):
        return data
    if not isinstance(data, Mapping) or depth > MAX_DEPTH:
        return None
    for key in ("domains", "validations", "items"):
        if isinstance(data.get(key), list):
            return list(data[key])
    for key in OBJECT_ENVELOPES:
        found = _dcv_entries(data.get(key), depth + 1) if isinstance(data.get(key), Mapping) else None
        if found is not None:
            return found
    return None


def read_error_body(body: Any) -> ErrorReading | None:
    """An error in one of the envelopes APIs use: {"error": {code, message, fields}}, {"error":
    "text"}, {"errors": [{code, message, field}]} or {"errors": {field: [messages]}}, {"message"}
    or {"detail"/"title"} (problem+json), a bare [{message}] list. None: no message anywhere."""
    if isinstance(body, list):
        body = {"errors": body}
    if not isinstance(body, Mapping):
        return None
    error = body.get("error")
    if isinstance(error, Mapping):
        inner = read_error_body({k: v for k, v in error.items() if k != "error"})
        if inner is not None:
            return inner
    errors = body.get("errors")
    listed = [e for e in errors if isinstance(e, Mapping | str)] if isinstance(errors, list) else []
    messages = [m for m in (_text(e) if isinstance(e, str) else _text(_first(e, "message", "detail", "title"))
                            for e in listed) if m]
    message = (_text(error) if isinstance(error, str) else None) or \
        _text(_first(body, "message", "detail", "title", "error_description")) or "; ".join(messages) or None
    fields = (*field_errors(body.get("fields")), *field_errors(errors if isinstance(errors, Mapping) else listed))
    if message is None and not fields:
        return None
    code = _text(_first(body, "code", "error_code", "type")) or \
        next((c for c in (_text(_first(e, "code")) for e in listed if isinstance(e, Mapping)) if c), None)
    return ErrorReading(message or "invalid fields", provider_code=code, field_errors=tuple(fields))


def field_errors(fields: Any) -> tuple[FieldError, ...]:
    """`fields` as {name: [messages] | message} or [{field|name|source: {pointer}, message}]."""
    out: list[FieldError] = []
    if isinstance(fields, Mapping):
        for name, msgs in fields.items():
            for msg in (msgs if isinstance(msgs, list) else [msgs]):
                out.append(FieldError(str(name), _text(msg) or "invalid"))
    elif isinstance(fields, list):
        for item in fields:
            if not isinstance(item, Mapping):
                continue
            source = _mapping(item.get("source"))
            name = _text(_first(item, "field", "name", "param", "path")) or _text(source.get("pointer"))
            if name:
                out.append(FieldError(name, _text(_first(item, "message", "detail")) or "invalid"))
    return tuple(out)


_CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])")
_INDEXED = re.compile(r"^(?P<base>[a-z_]+)(?:\[(?P<a>\d+)\]|\.(?P<b>\d+))?")


def normal_field(name: str) -> str:
    """A provider's field name in one spelling: snake case, no JSON-pointer slashes, no envelope prefix."""
    text = _CAMEL.sub(r"_\1", name.strip()).lower().strip("/").replace("/", ".")
    for prefix in ("body.", "data.", "certificate.", "request."):
        text = text.removeprefix(prefix)
    return text


def our_order_field(name: str, message: str, req: OrderRequest) -> str:
    """The path in our request of a field Resello names in a create/renew/reissue error."""
    normal = normal_field(name)
    if normal in ORDER_FIELDS:
        return ORDER_FIELDS[normal]
    found = _INDEXED.match(normal)
    if found is None or found["base"] not in SAN_FIELDS:
        return name
    values = [s.value.lower() for s in req.sans]
    lowered = message.lower()
    # The name the message quotes identifies the SAN best; else the provider's index, when it is one of ours.
    mentioned = [i for i, v in enumerate(values) if re.search(rf"(?<![\w.-]){re.escape(v)}(?![\w-])", lowered)]
    if len(mentioned) == 1:
        return f"sans[{mentioned[0]}]"
    index = _int(found["a"] or found["b"])
    return f"sans[{index}]" if index is not None and index < len(values) else "sans"


def parse_time(value: Any) -> dt.datetime | None:
    """A date in any ISO 8601 form (with Z, an offset, no zone = UTC, a day) or as epoch seconds
    (milliseconds past the year 5138); None for anything else."""
    if isinstance(value, str) and _is_number(value.strip().removeprefix("-")):
        value = int(value.strip())
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            seconds = value / 1000 if abs(value) >= 1e11 else value
            return dt.datetime.fromtimestamp(seconds, tz=dt.UTC)
        if isinstance(value, str) and value:
            parsed = dt.datetime.fromisoformat(value.strip().replace("z", "Z"))
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return None


def _first(obj: Mapping[str, Any], *names: str) -> Any:
    for name in names:
        value = obj.get(name)
        if value is not None and value != "":
            return value
    return None


def _ident(value: Any) -> str | None:
    """An id: a non-empty string or an integer (never a bool, float or object)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    return value.strip() or None if isinstance(value, str) else None


def _text(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        return value or None
    return str(value) if isinstance(value, int | float) else None


def _status_text(value: Any) -> str | None:
    if isinstance(value, Mapping):  # {"status": {"name": "active", ...}}
        value = _first(value, "name", "code", "value", "status")
    return _text(value)


def _plan_id(value: Any) -> Any:
    return _first(value, "id", "uuid") if isinstance(value, Mapping) else value


def _names(value: Any) -> tuple[str, ...]:
    """Names as a list of strings or of {name|domain|value} objects, or one comma-separated string."""
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list):
        return ()
    found = (_text(_first(v, "name", "domain", "value", "dns_name")) if isinstance(v, Mapping) else _text(v)
             for v in value)
    return tuple(n.strip() for n in found if n and n.strip())


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _is_number(value.strip()):
        return int(value.strip())
    return None


def _is_number(text: str) -> bool:
    """ASCII digits only, and few enough that int() takes them (its limit is 4300 digits)."""
    return text.isascii() and text.isdigit() and len(text) <= 30


ADAPTER = ReselloProvider
