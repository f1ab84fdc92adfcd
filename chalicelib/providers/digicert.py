"""DigiCert CertCentral Services API adapter (`X-DC-DEVKEY`, JSON, base `.../services/v2`).

What the adapter decides (providers.md "DigiCert CertCentral Services API"; each call names the
CertCentral Services API page it follows):
- Products: `dv` is ordered on DV product endpoints ("Order DV SSL": `ssl_dv_geotrust`, and
  `wildcard_dv_geotrust` for a wildcard common name); ov/ev/private through
  `/order/certificate/ssl` with `product.type_hint` ("Order SSL (type_hint)"); private also sends
  `certificate.ca_cert_id` (provider option, else the secret's `default_ca_cert_id`).
- `alternative_order_id` is DigiCert's "custom alphanumeric ID" (<= 64 characters): derived from
  our reference by an alphanumeric escape (see `alternative_order_id`), so a retry after a crash
  sends the same one. After an ambiguous create the order is looked up with
  `GET /order/alternate/{id}` ("Get orders by alternative order ID"), never by scanning the list.
- Validity: `order_validity {years}` is the plan (1-3, default 1), `certificate.cert_validity
  {days}` the certificate (the service clamps it to the maximum on the issuance date).
- Revoke is a request ("Revoke certificate"): `skip_approval` only with an admin key (secret
  `admin_key: true`); a request left for an approver is followed by `revocation_outcome`.
- Order approval is skipped by default (`provider_options.skip_approval` may turn it back on): the
  gateway's caller has already been authorised, and a waiting approval would stall the poller.
- Requests stay inside "Rate limits" (100 per 5 s, 1,000 per 5 min) in each process."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.core.errors import (
    AuthenticationFailed,
    FieldError,
    ProviderConflict,
    ProviderError,
    ProviderNotFound,
    ProviderProtocolError,
    ProviderRejected,
    RateLimited,
)
from chalicelib.core.lifetimes import DIGICERT_PUBLIC, Lifetime, fixed
from chalicelib.core.model import Status
from chalicelib.core.provider import Capabilities, CertificateMaterial, DcvDetail, OrderRequest, Page, ProviderOrder
from chalicelib.core.vocabulary import REVOCATION_REASONS
from chalicelib.providers.base import Endpoint, Provider, material_from_pem, stated_by_certificate
from chalicelib.providers.http import ErrorReading, decode_body

log = logging.getLogger(__name__)

PROVIDER = "digicert"

# Public TLS follows DigiCert's SC-081 cuts (199 days since 24 Feb 2026, then 99, then 46: "End
# of 397-day public TLS/SSL certificates"); private SSL is not bound by the ballot.
LIFETIME = Lifetime(DIGICERT_PUBLIC, by_product=(("private", fixed("DigiCert private SSL", 397)),))

CAPABILITIES = Capabilities(
    accepts_csr=True, generates_key=False, products=("dv", "ov", "ev", "private"), default_product="ov",
    dcv_methods=("dns", "email", "file"), default_dcv_method="dns", lifetime=LIFETIME,
    reissue=True, renew=True, revoke=True, cancel=True,
    download_formats=("pem", "chain", "fullchain", "der", "pkcs7"), authorities=False, async_issuance=True,
    # "Rate limits": 100 requests per 5 seconds and 1,000 per 5 minutes, 429 without Retry-After.
    rate_limits=((100, 5.0), (1000, 300.0)),
    renewal="plan",  # order_validity: new certificates inside the plan are free reissues
)

# The one DigiCert status table (order info `status`, "Order info"); anything else stays pending
# and is reported unrecognized (ProviderOrder.status_recognized).
STATUS_MAP: Mapping[str, Status] = {
    "needs_approval": Status.PENDING,
    "pending": Status.PENDING,
    "waiting_pickup": Status.PENDING,
    "reissue_pending": Status.PENDING,
    "issued": Status.ISSUED,
    "rejected": Status.FAILED,
    "canceled": Status.CANCELLED,
    "revoked": Status.REVOKED,
    "expired": Status.EXPIRED,
}
# A create answers with the *request* status; this is the order status each one implies.
ORDER_STATUS_OF_REQUEST = {"pending": "needs_approval", "submitted": "needs_approval", "approved": "pending",
                           "rejected": "rejected"}
# "Update order status": an order may be canceled from these statuses only (reissue_pending
# cancels the reissue: the order reverts to issued).
CANCELABLE = ("pending", "waiting_pickup", "reissue_pending")
# Statuses in which the order still validates its domains (a DCV random value is worth asking for).
VALIDATING = ("needs_approval", "pending", "reissue_pending")

TYPE_HINTS = {"ov": "ov", "ev": "ev", "private": "private"}
# "Order DV SSL": DV has no type_hint; it is ordered on its product's endpoint.
DV_PRODUCT, WILDCARD_DV_PRODUCT = "ssl_dv_geotrust", "wildcard_dv_geotrust"
PRODUCT_BY_NAME_ID = {"ssl_basic": "ov", "ssl_plus": "ov", "ssl_securesite_flex": "ov", "ssl_ev_basic": "ev",
                      "ssl_ev_plus": "ev", "ssl_ev_securesite_flex": "ev", "private_ssl_plus": "private",
                      "ssl_dv_geotrust": "dv", "ssl_dv_rapidssl": "dv", "wildcard_dv_geotrust": "dv",
                      "wildcard_dv_rapidssl": "dv", "ssl_dv_geotrust_flex": "dv"}
DCV_TO_DIGICERT = {"dns": "dns-txt-token", "file": "http-token", "email": "email"}
DCV_FROM_DIGICERT = {"dns-txt-token": "dns", "dns-cname-token": "dns", "http-token": "file", "email": "email"}
TOKEN_DCV_METHODS = ("dns-txt-token", "dns-cname-token", "http-token")
# check-dcv for http-token while the file is not in place yet: a 400 that means "not yet".
FILE_NOT_YET = "file_random_value_not_found"
DOWNLOAD_FORMAT = {"pem": "pem_noroot", "chain": "pem_noroot", "fullchain": "pem_noroot", "der": "der",
                   "pkcs7": "p7b"}
FILE_DCV_PATH = "/.well-known/pki-validation/fileauth.txt"
CNAME_TARGET = "dcv.digicert.com"
# "Revoke certificate" / "Revoke order certificates" (dev.digicert.com, English pages, snake_case:
# the request example sends "superseded"); certmesh's public client sends the same five words.
# Ours are the same words; the table is kept so a spelling change touches one line.
REVOCATION_REASON_WORDS: Mapping[str, str] = {
    "unspecified": "unspecified", "key_compromise": "key_compromise", "affiliation_change": "affiliation_change",
    "superseded": "superseded", "cessation_of_operation": "cessation_of_operation",
}
REQUEST_PENDING = ("pending", "submitted")

MAX_ALTERNATIVE_ORDER_ID = 64
MAX_ORDER_VALIDITY_YEARS = 3  # providers.md: a plan of 1-3 years (more: 400 invalid_value:<unit>)
MAX_LIST_LIMIT = 1000
PAGE_SIZE = 100

AUTH_CODES = frozenset({"invalid_api_key", "missing_api_key", "access_denied"})
CONFLICT_CODES = frozenset({"duplicate_alternative_order_id", "invalid_order_status", "invalid_certificate_status",
                            "invalid_request_status", "pending_reissue"})
# Refusing to revoke a certificate that is not (any more) issued.
NOT_REVOCABLE = "invalid_certificate_status"
DUPLICATE_ALT_ID = "duplicate_alternative_order_id"
# DigiCert parameter paths -> the names of our API (design.md 2.1), for 422 field lists.
FIELD_NAMES = {
    "certificate": "csr", "certificate.csr": "csr", "certificate.common_name": "common_name",
    "certificate.dns_names": "sans", "certificate.signature_hash": "provider_options.signature_hash",
    "certificate.cert_validity": "validity_days", "order_validity": "provider_options.order_validity_years",
    "validity": "validity_days", "certificate.ca_cert_id": "provider_options.ca_cert_id",
    "dcv_method": "dcv_method", "organization": "organization", "organization.id": "organization.digicert_org_id",
    "product": "product", "product.type_hint": "product", "alternative_order_id": "client_reference",
    "auto_renew": "auto_renew", "revocation_reason": "reason",
}
CODE_FIELDS = {"invalid_csr": "csr", "invalid_dcv_method": "dcv_method", "ambiguous_product": "product"}


@dataclass(frozen=True)
class OrderCall:
    """One create: the product endpoint it goes to and its JSON body."""

    path: str
    body: dict[str, Any]

    @property
    def alternative_order_id(self) -> str:
        return str(self.body["alternative_order_id"])


class DigiCertProvider(Provider):
    name = PROVIDER
    capabilities = CAPABILITIES
    statuses = STATUS_MAP
    listing_position = 3
    dcv_names = DCV_TO_DIGICERT
    required_credentials = ("base_url", "api_key")
    rate_limits = CAPABILITIES.rate_limits
    # The lookup by alternative_order_id names the order exactly: no time window needed.
    lookup_since_create = False

    def _configure(self, credentials: Mapping[str, Any]) -> Endpoint:
        """Secret: base_url, api_key; optional default_organization_id, default_ca_cert_id,
        admin_key (the key has admin privileges: revokes skip approval), and
        unique_alternative_order_ids (the account's "Require unique alternative order IDs" is on:
        a create that timed out may be repeated, a late first one being refused)."""
        api_key = str(credentials["api_key"])
        self._default_org = credentials.get("default_organization_id")
        self._default_ca_cert_id = credentials.get("default_ca_cert_id")
        self.admin_key = credentials.get("admin_key") is True
        self.unique_alternative_order_ids = credentials.get("unique_alternative_order_ids") is True
        return Endpoint(str(credentials["base_url"]), headers={"X-DC-DEVKEY": api_key}, secrets=(api_key,))

    def _read_error(self, status: int, body: Any) -> ErrorReading | None:
        return read_error(status, body)

    # -- ordering (the template's hooks) ----------------------------------------------------
    def _create(self, req: OrderRequest) -> ProviderOrder:
        return self._place(self._order_call(req), req)

    def _lookup(self, req: OrderRequest, since: dt.datetime | None) -> ProviderOrder | None:
        """By alternative_order_id. A renewal placed through `renew` is found when
        `req.options["renewal_of_order_id"]` names the renewed order."""
        renewal_of = req.options.get("renewal_of_order_id")
        return self._find_by_alternative_id(
            alternative_order_id(req.client_reference, None if renewal_of is None else str(renewal_of)))

    def _already_placed(self, failure: ProviderError) -> bool:
        return failure.provider_code == DUPLICATE_ALT_ID

    def _may_repeat(self, failure: ProviderError) -> bool:
        # Where the account refuses a second order with the same alternative id, a timed-out create
        # that the lookup does not find may be repeated: a late first create is then refused.
        return super()._may_repeat(failure) or (self.unique_alternative_order_ids
                                                and not self._already_placed(failure))

    def renew(self, provider_order_id: str, req: OrderRequest) -> ProviderOrder:
        call = self._order_call(req, renewal_of=_order_number(provider_order_id))
        return self.create_once(lambda: self._place(call, req),
                                lambda since: self._find_by_alternative_id(call.alternative_order_id))

    def _order_call(self, req: OrderRequest, *, renewal_of: int | None = None) -> OrderCall:
        return build_order_body(req, self._organization_id(req), renewal_of=renewal_of,
                                default_ca_cert_id=self._default_ca_cert_id)

    def _place(self, call: OrderCall, req: OrderRequest) -> ProviderOrder:
        data = self.http.json("POST", call.path, safe=False, json_body=call.body)
        return order_from_create(data, req, client_reference_of(call.alternative_order_id))

    def _organization_id(self, req: OrderRequest) -> int | None:
        raw = req.options.get("organization_id", self._default_org)
        if raw is None and req.product == "dv":
            return None  # a DV certificate names no organization
        try:
            return int(raw)
        except (TypeError, ValueError):
            raise ProviderRejected(PROVIDER, "a DigiCert organization id is required", field_errors=[
                FieldError("organization.digicert_org_id", "an existing DigiCert organization id is required")]
            ) from None

    # -- reading -----------------------------------------------------------------------
    def get_order(self, provider_order_id: str, *, with_material: bool = True) -> ProviderOrder:
        info = self._order_info(provider_order_id)
        material = None
        certificate_id = (info.get("certificate") or {}).get("id")
        if with_material and certificate_id is not None and _raw_status(info) == "issued":
            material = self._bundle(str(certificate_id))
        return order_from_info(info, material)

    def _order_info(self, provider_order_id: str) -> dict[str, Any]:
        data = self.http.json("GET", f"order/certificate/{_segment(provider_order_id)}", safe=True)
        if not isinstance(data, dict) or "id" not in data:
            raise ProviderProtocolError(PROVIDER, "order info without an id")
        return data

    def _find_by_alternative_id(self, alt_id: str) -> ProviderOrder | None:
        """"Get orders by alternative order ID": `GET /order/alternate/{id}` -> {orders: [{order_id,
        certificate_id, status}], page}. The newest order carrying it, read in full; None when none."""
        try:
            data = self.http.json("GET", f"order/alternate/{_segment(alt_id)}", safe=True)
        except ProviderNotFound:
            return None  # DigiCert's own "not found" (its error shape): no order carries the id
        orders = data.get("orders") if isinstance(data, dict) else None
        if not isinstance(orders, list):
            raise ProviderProtocolError(PROVIDER, "alternate order lookup without orders[]")
        ids = [_int_or_none(o.get("order_id", o.get("id"))) for o in orders if isinstance(o, dict)]
        found = [i for i in ids if i is not None]
        if not found:
            if orders:
                raise ProviderProtocolError(PROVIDER, "alternate order lookup: orders without an order_id")
            return None
        return self.get_order(str(max(found)), with_material=False)

    def list_certificates(self, filters: Mapping[str, Any] | None = None,
                          page_token: str | None = None) -> Page:
        """Filters: `common_name`, `serial`, `status` (normalized), `limit`. `next_token` is the
        offset of the next page."""
        filters = dict(filters or {})
        offset = _offset_from_token(page_token)
        limit = _bounded_limit(filters.get("limit"))
        params: dict[str, Any] = {"offset": offset, "limit": limit, "sort": "id"}
        if filters.get("common_name"):
            params["filters[common_name]"] = str(filters["common_name"]).lower()
        if filters.get("serial"):
            params["filters[serial_number]"] = str(filters["serial"]).upper()
        wanted = _status_filter(filters.get("status"))
        raw_statuses = [raw for raw, st in STATUS_MAP.items() if st is wanted]
        if len(raw_statuses) == 1:
            params["filters[status]"] = raw_statuses[0]
        data = self._list_page(params)
        orders = data["orders"]
        items = [order_from_info(o) for o in orders]
        if wanted is not None:  # pending spans several DigiCert statuses: filter here
            items = [o for o in items if o.status is wanted]
        following = offset + len(orders)
        next_token = str(following) if orders and following < _page_total(data) else None
        return Page(items=tuple(items), next_token=next_token)

    def _list_page(self, params: Mapping[str, Any]) -> dict[str, Any]:
        data = self.http.json("GET", "order/certificate", safe=True, params=dict(params))
        if not isinstance(data, dict) or not isinstance(data.get("orders"), list):
            raise ProviderProtocolError(PROVIDER, "order list without orders[]")
        return data

    def _native_download(self, provider_order_id: str, fmt: str) -> bytes | None:
        if fmt not in ("der", "pkcs7"):
            return None  # the PEM forms are rendered from pem_noroot
        data = self._fetch(self._issued_certificate_id(provider_order_id), DOWNLOAD_FORMAT[fmt])
        check_binary(DOWNLOAD_FORMAT[fmt], data)
        return data

    def _issued_material(self, provider_order_id: str) -> CertificateMaterial:
        return self._bundle(self._issued_certificate_id(provider_order_id))

    def _issued_certificate_id(self, provider_order_id: str) -> str:
        info = self._order_info(provider_order_id)
        certificate_id = (info.get("certificate") or {}).get("id")
        if certificate_id is None or not (info.get("certificate") or {}).get("serial_number"):
            raise ProviderConflict(PROVIDER, f"order {provider_order_id} has no issued certificate yet",
                                   provider_code=_raw_status(info))
        return str(certificate_id)

    def _fetch(self, certificate_id: str, digicert_format: str) -> bytes:
        resp = self.http.request("GET", f"certificate/{_segment(certificate_id)}/download/format/{digicert_format}",
                                 safe=True, headers={"Accept": "*/*"})
        return resp.content

    def _bundle(self, certificate_id: str) -> CertificateMaterial:
        """Leaf + intermediates (pem_noroot); a garbled body is a protocol error."""
        return material_from_bundle(self._fetch(certificate_id, "pem_noroot"))

    # -- changes -----------------------------------------------------------------------
    def reissue(self, provider_order_id: str, req: OrderRequest) -> ProviderOrder:
        body = build_reissue_body(req)
        before = self.get_order(provider_order_id, with_material=False)
        path = f"order/certificate/{_segment(provider_order_id)}/reissue"
        try:
            data = self.http.json("POST", path, safe=False, json_body=body)
        except ProviderError as exc:
            return self.confirm(exc, lambda: self._reissued(provider_order_id, before))
        data = data if isinstance(data, dict) else {}
        requests_out = [r for r in data.get("requests") or [] if isinstance(r, dict)] or [{}]
        new_cert = data.get("certificate_id")
        return dataclasses.replace(
            before, status=Status.PENDING, raw_status="reissue_pending", status_recognized=True,
            certificate_id=str(new_cert) if new_cert is not None else before.certificate_id,
            common_name=req.common_name.lower(), sans=_dns_names(req), not_before=None, not_after=None, serial=None,
            material=None, request_id=_str_or_none(requests_out[0].get("id")) or before.request_id)

    def revoke(self, provider_order_id: str, reason: str = "unspecified") -> ProviderOrder:
        """"Revoke certificate": `PUT /certificate/{certificate_id}/revoke` creates a revoke request
        (201 {id, type: revoke, status: pending}) an administrator must approve, unless
        skip_approval with an admin key revokes at once (204, no request). A certificate with a
        pending reissue cannot be revoked (ProviderConflict)."""
        word = REVOCATION_REASON_WORDS.get(reason)
        if word is None:
            raise ProviderRejected(PROVIDER, f"unknown revocation reason {reason!r}",
                                   field_errors=[FieldError("reason", f"must be one of {', '.join(REVOCATION_REASONS)}")])
        order = self.get_order(provider_order_id, with_material=False)
        if order.status is Status.REVOKED or order.revocation_pending:
            return order  # revoked, or a request already awaits approval: never file a second one
        if order.raw_status.lower() == "reissue_pending":
            raise ProviderConflict(PROVIDER, f"order {provider_order_id} has a pending reissue: DigiCert revokes its "
                                   "certificate once the reissue is complete or canceled", provider_code="reissue_pending")
        if order.certificate_id is None or order.status is not Status.ISSUED:
            raise ProviderConflict(PROVIDER, f"order {provider_order_id} has no issued certificate to revoke",
                                   provider_code=order.raw_status)
        body = {"revocation_reason": word, "comments": "revoked through certgate", "skip_approval": self.admin_key}
        try:
            return self._send_revoke(order, body)
        except ProviderConflict as exc:
            return self.confirm(exc, lambda: self._revoke_applied(provider_order_id), also=(ProviderConflict,))
        except ProviderError as exc:
            return self.confirm(exc, lambda: self._revoke_applied(provider_order_id)
                                or self._revoke_again(order, body))

    def _send_revoke(self, order: ProviderOrder, body: Mapping[str, Any]) -> ProviderOrder:
        try:
            resp = self.http.request("PUT", f"certificate/{_segment(order.certificate_id or '')}/revoke",
                                     safe=False, json_body=dict(body))
        except ProviderConflict as exc:
            if exc.provider_code != NOT_REVOCABLE:
                raise
            # The order (read just before) is issued with this certificate and no pending reissue,
            # yet DigiCert will not revoke it: it is revoked already -- an earlier revoke whose
            # answer was lost, or one made in CertCentral. Revoking the only certificate of an
            # order leaves the order issued ("Revoke certificate").
            return revoked(order)
        if resp.status_code == 204:
            return revoked(order)
        answer = decode_body(resp.content)
        return self._revoke_requested(order, answer if isinstance(answer, dict) else {})

    def _revoke_again(self, order: ProviderOrder, body: Mapping[str, Any]) -> ProviderOrder | None:
        """After a lost answer to a revoke that skipped approval, nothing shows whether it was
        applied (no request is created). Sending it once more tells: it revokes now, or is refused
        because the certificate is revoked already -- either way nothing is bought or duplicated.
        Without an admin key a request is created, which `_revoke_applied` finds: never resent."""
        return self._send_revoke(order, body) if self.admin_key else None

    def _revoke_requested(self, order: ProviderOrder, request: Mapping[str, Any]) -> ProviderOrder:
        """The answer of a revoke that created a request: revoked when it came back approved,
        revocation_pending while an approver has it."""
        status = str(request.get("status") or "").lower()
        if status == "approved":
            return revoked(order)
        request_id = _str_or_none(request.get("id"))
        if request_id is None:
            # Accepted (2xx) without saying which request: look at the order before saying anything.
            found = self._revoke_applied(order.provider_order_id)
            if found is None:
                raise ProviderProtocolError(PROVIDER, "revoke answered without a request id", outcome_unknown=True)
            return found
        return dataclasses.replace(order, revocation_pending=True, revocation_request_id=request_id)

    def _revoke_applied(self, provider_order_id: str) -> ProviderOrder | None:
        """After an ambiguous revoke: the order when it is revoked, or carries a revoke request
        still waiting (then revocation_pending); None when neither."""
        info = self._order_info(provider_order_id)
        order = order_from_info(info)
        if order.status is Status.REVOKED:
            return order
        waiting = [r for r in info.get("requests") or [] if isinstance(r, dict)
                   and str(r.get("type") or "").lower() == "revoke"]
        for request in reversed(waiting):
            status = str(request.get("status") or "").lower()
            if status == "approved":
                return revoked(order)
            if status in REQUEST_PENDING and request.get("id") is not None:
                return dataclasses.replace(order, revocation_pending=True, revocation_request_id=str(request["id"]))
        return None

    def revocation_outcome(self, provider_order_id: str, request_id: str) -> ProviderOrder:
        """"Request info" `GET /request/{request_id}`: pending/submitted -> still revocation_pending;
        approved -> revoked; rejected -> not revoked, with the approver's comment as failure_reason."""
        data = self.http.json("GET", f"request/{_segment(request_id)}", safe=True)
        if not isinstance(data, dict) or "status" not in data:
            raise ProviderProtocolError(PROVIDER, "request info without a status")
        kind = str(data.get("type") or "revoke").lower()
        if kind != "revoke":
            raise ProviderProtocolError(PROVIDER, f"request {request_id} is a {kind} request, not a revoke")
        order = self.get_order(provider_order_id, with_material=False)
        status = str(data["status"]).lower()
        if status == "approved" or order.status is Status.REVOKED:
            return revoked(order)
        if status == "rejected":
            reason = data.get("processor_comment") or data.get("comments")
            return dataclasses.replace(order, revocation_pending=False, revocation_request_id=request_id,
                                       failure_reason=str(reason) if reason else "revoke request rejected at DigiCert")
        if status not in REQUEST_PENDING:
            log.warning("unknown revoke request status kept as pending",
                        extra={"provider": PROVIDER, "raw_status": data["status"]})
        return dataclasses.replace(order, revocation_pending=True, revocation_request_id=request_id)

    def cancel(self, provider_order_id: str) -> ProviderOrder:
        """"Update order status": `PUT /order/certificate/{id}/status` {status: "canceled" (case-
        sensitive), note} -> 204, only from pending, waiting_pickup or reissue_pending (which
        cancels the reissue: the order reverts to issued, and is returned as issued)."""
        before = self.get_order(provider_order_id, with_material=False)
        raw = before.raw_status.lower()
        if raw == "canceled":
            return before
        if raw not in CANCELABLE:
            raise ProviderConflict(PROVIDER, f"DigiCert cancels only {', '.join(CANCELABLE)} orders; order "
                                   f"{provider_order_id} is {before.raw_status}", provider_code=before.raw_status)
        path = f"order/certificate/{_segment(provider_order_id)}/status"
        try:
            self.http.request("PUT", path, safe=False, json_body={"status": "canceled",
                                                                  "note": "canceled through certgate"})
        except ProviderError as exc:
            return self.confirm(exc, lambda: self._canceled(provider_order_id, raw), also=(ProviderConflict,))
        return self.get_order(provider_order_id)

    def _canceled(self, provider_order_id: str, was: str) -> ProviderOrder | None:
        after = self.get_order(provider_order_id)
        if was == "reissue_pending":
            return after if after.raw_status.lower() == "issued" else None
        return after if after.status is Status.CANCELLED else None

    def _reissued(self, provider_order_id: str, before: ProviderOrder) -> ProviderOrder | None:
        after = self.get_order(provider_order_id, with_material=False)
        return after if after.raw_status == "reissue_pending" or after.certificate_id != before.certificate_id else None

    # -- validation --------------------------------------------------------------------
    def validation(self, provider_order_id: str) -> list[DcvDetail]:
        info = self._order_info(provider_order_id)
        token = None
        if str(info.get("dcv_method") or "") in TOKEN_DCV_METHODS and _raw_status(info).lower() in VALIDATING:
            token = self._random_value(provider_order_id)
        return dcv_details(info, token)

    def _random_value(self, provider_order_id: str) -> str | None:
        """`PUT .../dcv-random-value` -> {dcv_random_value, expiration_date}: the current value, or a
        new one once it expired -- repeating it changes nothing, so it is a safe call."""
        try:
            data = self.http.json("PUT", f"order/certificate/{_segment(provider_order_id)}/dcv-random-value",
                                  safe=True)
        except ProviderConflict:
            return None  # the order left validation meanwhile: nothing to publish
        value = data.get("dcv_random_value") if isinstance(data, dict) else None
        return str(value) if value else None

    def retry_validation(self, provider_order_id: str, *, method: str | None = None,
                         email: str | None = None, domain: str | None = None) -> list[DcvDetail]:
        """Switch the DCV method when asked (`PUT .../dcv-method`), then ask DigiCert to check now
        (`PUT .../check-dcv`). DigiCert validates every domain of the order with one method, so
        `domain` and `email` select nothing here; the approver emails are DigiCert's own."""
        wanted = None if method is None else self.dcv_word(method)
        current = str(self._order_info(provider_order_id).get("dcv_method") or "")
        if wanted is not None and current != wanted:
            self.http.json("PUT", f"order/certificate/{_segment(provider_order_id)}/dcv-method", safe=False,
                           json_body={"dcv_method": wanted})
            current = wanted
        if current in TOKEN_DCV_METHODS:  # email validation is the approver's click, not a check
            self._check_dcv(provider_order_id)
        return self.validation(provider_order_id)

    def _check_dcv(self, provider_order_id: str) -> None:
        try:
            # Asking for a check changes nothing but the check's timing: safe to repeat.
            self.http.json("PUT", f"order/certificate/{_segment(provider_order_id)}/check-dcv", safe=True)
        except ProviderRejected as exc:
            if exc.provider_code != FILE_NOT_YET:
                raise
            # http-token: the file is not in place (yet). The validation is still pending.
            log.info("DigiCert found no DCV file yet", extra={"provider": PROVIDER,
                                                              "provider_order_id": provider_order_id})


# -- request building (pure) -------------------------------------------------------------------
# alternative_order_id is "a custom alphanumeric ID", at most 64 characters ("Order SSL
# (type_hint)"). Ours is an escape of the reference: [a-y0-9] stand for themselves, every other
# byte of its UTF-8 (our `_` and `.`, `z`, capitals) becomes `z` + two lower-case hex digits.
# Prefix-free, so injective on every string, and invertible (an order read back names our
# certificate, which the import relies on); lower case only, so it stays injective even where
# DigiCert compared case-insensitively. `crt_` + 32 hex -> 38 characters; a renewal's
# `crt_....renew.<order id>` -> 49 + the order id's digits. Longer references (never ours) become
# `zz` + 62 hex of their SHA-256: `zz` never occurs in an escape (`z` is always followed by hex),
# so the two forms cannot meet.
_PLAIN = frozenset("abcdefghijklmnopqrstuvwxy0123456789")
_HEX = frozenset("0123456789abcdef")
DIGEST_PREFIX = "zz"


def alternative_order_id(client_reference: str, renewal_of: str | None = None) -> str:
    """Our reference (certificate id; `<id>.renew.<order id>` for a renewal) as DigiCert's
    alternative_order_id: alphanumeric, <= 64 characters, the same for the same input."""
    reference = client_reference if renewal_of is None else f"{client_reference}.renew.{renewal_of}"
    escaped = "".join(ch if ch in _PLAIN else "".join(f"z{b:02x}" for b in ch.encode()) for ch in reference)
    if len(escaped) <= MAX_ALTERNATIVE_ORDER_ID:
        return escaped
    digest = hashlib.sha256(reference.encode()).hexdigest()
    return DIGEST_PREFIX + digest[:MAX_ALTERNATIVE_ORDER_ID - len(DIGEST_PREFIX)]


def client_reference_of(alt_id: str | None) -> str | None:
    """The reference an alternative_order_id of ours stands for; a digest form or an id that is not
    ours (placed outside certgate) is returned as it is."""
    if not alt_id or alt_id.startswith(DIGEST_PREFIX):
        return alt_id
    out, i = bytearray(), 0
    while i < len(alt_id):
        ch = alt_id[i]
        if ch in _PLAIN:
            out += ch.encode()
            i += 1
        elif ch == "z" and len(alt_id) >= i + 3 and set(alt_id[i + 1:i + 3]) <= _HEX:
            out.append(int(alt_id[i + 1:i + 3], 16))
            i += 3
        else:
            return alt_id
    try:
        return out.decode()
    except UnicodeDecodeError:
        return alt_id


def _certificate_fields(req: OrderRequest, errors: list[FieldError]) -> dict[str, Any]:
    if not req.csr_pem:
        errors.append(FieldError("csr", "DigiCert signs a CSR: one is required"))
    if any(s.type != "dns" for s in req.sans):
        errors.append(FieldError("sans", "DigiCert TLS certificates take DNS names only"))
    cn = req.common_name.lower()
    return {
        "common_name": cn,
        "dns_names": [n for n in dict.fromkeys(v.lower() for v in req.dns_names()) if n != cn],
        "csr": req.csr_pem,
        "signature_hash": str(req.options.get("signature_hash", "sha256")),
        "server_platform": {"id": -1},  # "other", the seed's default
    }


def _refuse_if(errors: list[FieldError]) -> None:
    if errors:
        raise ProviderRejected(PROVIDER, "the request cannot be placed with DigiCert", field_errors=errors)


def _product_path(req: OrderRequest, errors: list[FieldError]) -> tuple[str, str | None]:
    """The create endpoint of `req.product` and its type_hint (None on a DV product endpoint)."""
    if req.product == "dv":
        name_id = WILDCARD_DV_PRODUCT if req.common_name.startswith("*.") else DV_PRODUCT
        return f"order/certificate/{name_id}", None
    type_hint = TYPE_HINTS.get(req.product)
    if type_hint is None:
        errors.append(FieldError("product", f"DigiCert offers {', '.join(CAPABILITIES.products)}"))
    return "order/certificate/ssl", type_hint


def _plan_years(req: OrderRequest, errors: list[FieldError]) -> int:
    years = req.options.get("order_validity_years", 1)
    if not isinstance(years, int) or isinstance(years, bool) or not 1 <= years <= MAX_ORDER_VALIDITY_YEARS:
        errors.append(FieldError("provider_options.order_validity_years", f"must be 1-{MAX_ORDER_VALIDITY_YEARS}"))
        return 1
    return years


def build_order_body(req: OrderRequest, organization_id: int | None, *, renewal_of: int | None = None,
                     default_ca_cert_id: Any = None) -> OrderCall:
    """The create call for `req`: its product endpoint and body ("Order SSL (type_hint)",
    "Order DV SSL")."""
    errors: list[FieldError] = []
    path, type_hint = _product_path(req, errors)
    dcv = DCV_TO_DIGICERT.get(req.dcv_method or CAPABILITIES.default_dcv_method or "dns")
    if dcv is None:
        errors.append(FieldError("dcv_method", f"must be one of {', '.join(DCV_TO_DIGICERT)}"))
    days = req.validity_days
    limit = CAPABILITIES.max_validity_days(req.product, dt.datetime.now(dt.UTC).date())
    if days is not None and not 1 <= days <= limit:
        errors.append(FieldError("validity_days", f"must be 1-{limit} for {req.product} issued today"))
    years = _plan_years(req, errors)
    certificate = _certificate_fields(req, errors)
    ca_cert_id = req.options.get("ca_cert_id", default_ca_cert_id)
    if req.product == "private":
        if ca_cert_id:
            certificate["ca_cert_id"] = str(ca_cert_id)
        else:
            errors.append(FieldError("provider_options.ca_cert_id",
                                     "DigiCert private SSL needs the issuing CA (certificate.ca_cert_id)"))
    _refuse_if(errors)
    if days is not None:
        certificate["cert_validity"] = {"days": days}
    body: dict[str, Any] = {
        "certificate": certificate,
        "order_validity": {"years": years},
        "dcv_method": dcv,
        "alternative_order_id": alternative_order_id(req.client_reference,
                                                     None if renewal_of is None else str(renewal_of)),
        "skip_approval": bool(req.options.get("skip_approval", True)),
        "auto_renew": 1 if req.auto_renew else 0,
    }
    if type_hint is not None:
        body["product"] = {"type_hint": type_hint}
    if organization_id is not None:
        body["organization"] = {"id": organization_id}
    if renewal_of is not None:
        body["renewal_of_order_id"] = renewal_of
    return OrderCall(path, body)


def build_reissue_body(req: OrderRequest) -> dict[str, Any]:
    errors: list[FieldError] = []
    certificate = _certificate_fields(req, errors)
    _refuse_if(errors)
    return {"certificate": certificate, "skip_approval": bool(req.options.get("skip_approval", True)),
            "comments": "reissued through certgate"}


# -- answers (pure) ----------------------------------------------------------------------------
def order_from_create(data: Any, req: OrderRequest, client_reference: str | None) -> ProviderOrder:
    if not isinstance(data, dict) or not isinstance(data.get("id"), int):
        # The create went through (2xx) but its answer is unusable: the order may exist.
        raise ProviderProtocolError(PROVIDER, "order created without an id in the answer", outcome_unknown=True)
    requests_out = data.get("requests") or [{}]
    first = requests_out[0] if isinstance(requests_out[0], dict) else {}
    raw = ORDER_STATUS_OF_REQUEST.get(str(first.get("status", "")).lower(), "pending")
    return ProviderOrder(
        provider_order_id=str(data["id"]), status=DigiCertProvider.status_of(raw), raw_status=raw,
        client_reference=client_reference, certificate_id=_str_or_none(data.get("certificate_id")),
        common_name=req.common_name.lower(), sans=_dns_names(req), request_id=_str_or_none(first.get("id")),
        product=req.product)


def order_from_info(info: Mapping[str, Any], material: CertificateMaterial | None = None) -> ProviderOrder:
    """An order info or list item as a ProviderOrder; dates, serial and names come from the
    certificate itself when `material` is given."""
    raw = _raw_status(info)
    status = DigiCertProvider.status_of(raw)
    cert = info.get("certificate") or {}
    common_name = cert.get("common_name")
    names = tuple(n for n in dict.fromkeys([common_name, *(cert.get("dns_names") or [])]) if n)
    serial = _normal_serial(cert.get("serial_number"))
    not_before, not_after = _parse_time(cert.get("valid_from")), _parse_time(cert.get("valid_till"))
    requests_in = [r for r in info.get("requests") or [] if isinstance(r, dict)]
    failure = None
    if status is Status.FAILED:
        # The approver's or the validation staff's word, on whichever request it was given.
        comments = [r.get("processor_comment") for r in requests_in]
        failure = next((str(c) for c in reversed(comments) if c), None) or "rejected by DigiCert"
    product = info.get("product") or {}
    order = ProviderOrder(
        provider_order_id=str(info["id"]), status=status, raw_status=raw,
        status_recognized=DigiCertProvider.recognizes(raw),
        client_reference=client_reference_of(info.get("alternative_order_id")),
        certificate_id=_str_or_none(cert.get("id")),
        common_name=common_name, sans=names, not_before=not_before, not_after=not_after, serial=serial,
        material=material if status is Status.ISSUED else None, failure_reason=failure,
        request_id=_str_or_none(requests_in[-1].get("id")) if requests_in else None,
        product=PRODUCT_BY_NAME_ID.get(str(product.get("name_id") or info.get("product_name_id") or "")))
    held = [r for r in requests_in if str(r.get("type") or "").lower() == "revoke"
            and str(r.get("status") or "").lower() in REQUEST_PENDING and r.get("id") is not None]
    if held and status is Status.ISSUED:
        # A revoke request awaiting approval ("Order info" requests[]): what an interrupted revoke left.
        order = dataclasses.replace(order, revocation_pending=True, revocation_request_id=str(held[-1]["id"]))
    return order if material is None else stated_by_certificate(PROVIDER, order, material.certificate_pem)


def revoked(order: ProviderOrder) -> ProviderOrder:
    """`order` once DigiCert revoked its certificate. (Revoking the only certificate leaves the
    order itself active unless an account setting says otherwise: the certificate is what we hold.)"""
    return dataclasses.replace(order, status=Status.REVOKED, raw_status="revoked", status_recognized=True,
                               material=None, revocation_pending=False)


def dcv_details(info: Mapping[str, Any], token: str | None) -> list[DcvDetail]:
    """What the user must publish per domain: order info (dcv_method, domains) and the order's
    DCV random value (`PUT .../dcv-random-value`; None for email or a finished validation)."""
    raw_method = str(info.get("dcv_method") or "")
    method = DCV_FROM_DIGICERT.get(raw_method, raw_method or "dns")
    failed = _raw_status(info) == "rejected"
    # An issued order passed DCV for every name, whatever the (undocumented) per-domain field says.
    issued = _raw_status(info).lower() == "issued"
    domains = [d for d in info.get("domains") or [] if isinstance(d, dict) and d.get("name")]
    if not domains:  # older answers list no domains: the certificate's names stand in
        cert = info.get("certificate") or {}
        domains = [{"name": n} for n in dict.fromkeys([cert.get("common_name"), *(cert.get("dns_names") or [])]) if n]
    out: list[DcvDetail] = []
    for domain in domains:
        name = str(domain["name"])
        base = name[2:] if name.startswith("*.") else name
        done = issued or str(domain.get("dcv_status", "")).lower() in ("complete", "completed", "valid", "validated")
        state = "valid" if done else "failed" if failed else "pending"
        if raw_method == "dns-cname-token":
            out.append(DcvDetail(name, "dns", state, dns_record_name=f"{token}.{base}" if token else None,
                                 dns_record_type="CNAME", dns_value=CNAME_TARGET))
        elif method == "dns":
            out.append(DcvDetail(name, "dns", state, dns_record_name=f"_dnsauth.{base}", dns_record_type="TXT",
                                 dns_value=token))
        elif method == "file":
            out.append(DcvDetail(name, "file", state, file_path=FILE_DCV_PATH, file_content=token))
        else:
            out.append(DcvDetail(name, method, state, emails=tuple(domain.get("dcv_emails") or ())))
    return out


def read_error(status: int, body: Any) -> ErrorReading | None:
    """DigiCert's `{"errors": [{"code", "message"}]}`; the first code names the error."""
    pairs = _error_pairs(body)
    if pairs is None:
        return None
    code = pairs[0][0]
    return ErrorReading("; ".join(m for _, m in pairs if m) or f"HTTP {status}", provider_code=code,
                        kind=_error_kind(code), field_errors=tuple(FieldError(_field_of(c), m or c) for c, m in pairs))


def _error_kind(code: str) -> type[ProviderError] | None:
    if code == "request_limit_exceeded":
        return RateLimited
    if code in AUTH_CODES:
        return AuthenticationFailed
    if code.startswith("not_found"):
        return ProviderNotFound
    if code in CONFLICT_CODES:
        return ProviderConflict
    return None


def _error_pairs(body: Any) -> list[tuple[str, str]] | None:
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list) or not errors:
        return None
    return [(str(e.get("code") or ""), str(e.get("message") or "")) for e in errors if isinstance(e, dict)] or None


def _field_of(code: str) -> str:
    """`required_param:certificate.csr` -> `csr`; known codes -> their field; else `request`."""
    if code in CODE_FIELDS:
        return CODE_FIELDS[code]
    _, sep, path = code.partition(":")
    if not sep:
        return "request"
    for prefix in sorted(FIELD_NAMES, key=len, reverse=True):
        if path == prefix or path.startswith(prefix + "."):
            return FIELD_NAMES[prefix]
    return path


# -- certificates (pure) -----------------------------------------------------------------------
def material_from_bundle(bundle: str | bytes) -> CertificateMaterial:
    """A pem_noroot bundle (leaf first, then intermediates) as leaf + chain."""
    return material_from_pem(PROVIDER, bundle, "certificate download")


def check_binary(digicert_format: str, data: bytes) -> None:
    """A der/p7b download must be what its format promises; a garbled body is a protocol error."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import pkcs7

    try:
        if digicert_format == "der":
            x509.load_der_x509_certificate(data)
        elif data.lstrip().startswith(b"-----BEGIN"):
            pkcs7.load_pem_pkcs7_certificates(data)
        else:
            pkcs7.load_der_pkcs7_certificates(data)
    except ValueError as exc:
        raise ProviderProtocolError(PROVIDER, f"{digicert_format} download does not parse") from exc


# -- small helpers -----------------------------------------------------------------------------
def _raw_status(info: Mapping[str, Any]) -> str:
    return str(info.get("status") or "")


def _dns_names(req: OrderRequest) -> tuple[str, ...]:
    return tuple(dict.fromkeys([req.common_name.lower(), *(n.lower() for n in req.dns_names())]))


def _segment(value: str) -> str:
    return urllib.parse.quote(str(value), safe="")


def _order_number(provider_order_id: str) -> int:
    try:
        return int(provider_order_id)
    except ValueError:
        raise ProviderNotFound(PROVIDER, f"{provider_order_id!r} is not a DigiCert order id") from None


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _int_or_none(value: Any) -> int | None:
    try:
        return None if value is None or isinstance(value, bool) else int(value)
    except (TypeError, ValueError):
        return None


def _normal_serial(value: Any) -> str | None:
    """DigiCert reports upper-case, zero-padded hex; we keep lower-case hex without padding
    (as cryptography formats `serial_number`)."""
    if not value:
        return None
    try:
        return format(int(str(value), 16), "x")
    except ValueError:
        return str(value).lower()


def _parse_time(value: Any) -> dt.datetime | None:
    """`2024-05-01` or an ISO timestamp, as an aware UTC datetime."""
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)


def _page_total(data: Mapping[str, Any]) -> int:
    page = data.get("page") or {}
    try:
        return int(page["total"])
    except (KeyError, TypeError, ValueError):
        raise ProviderProtocolError(PROVIDER, "order list without page.total") from None


def _offset_from_token(token: str | None) -> int:
    if not token:
        return 0
    if not token.isdigit():
        raise ProviderRejected(PROVIDER, "malformed page token",
                               field_errors=[FieldError("next_token", "not a token this API issued")])
    return int(token)


def _status_filter(raw: Any) -> Status | None:
    if not raw:
        return None
    try:
        return Status(str(raw))
    except ValueError:
        raise ProviderRejected(PROVIDER, f"unknown status filter {raw!r}",
                               field_errors=[FieldError("status", "not a certificate status")]) from None


def _bounded_limit(raw: Any) -> int:
    try:
        return max(1, min(MAX_LIST_LIMIT, int(raw))) if raw is not None else PAGE_SIZE
    except (TypeError, ValueError):
        raise ProviderRejected(PROVIDER, "limit must be an integer",
                               field_errors=[FieldError("limit", "must be an integer")]) from None


ADAPTER = DigiCertProvider
