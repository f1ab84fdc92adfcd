"""DigiCert CertCentral Services API adapter (`X-DC-DEVKEY`, JSON, base `.../services/v2`).

What the adapter decides (providers.md, design.md 2.1):
- Products map to `product.type_hint`: ov, ev, private. DigiCert has no DV type_hint, so `dv` is
  refused here (422) rather than silently sold as OV.
- `alternative_order_id` always carries our certificate id (shortened deterministically when it
  exceeds 64 characters); a renewal gets `<id>.renew.<order id>` so it stays unique per account.
- Creates are unsafe: tried once; after an ambiguous failure the order is looked up by its
  alternative id and the create is repeated at most once, only when the lookup proves it absent.
- Approval is skipped by default (`provider_options.skip_approval` may turn it back on): the
  gateway's caller has already been authorised, and a waiting approval would stall the poller."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import urllib.parse
from collections.abc import Mapping
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
from chalicelib.core.model import Status
from chalicelib.core.provider import Capabilities, CertificateMaterial, DcvDetail, OrderRequest, Page, ProviderOrder
from chalicelib.core.vocabulary import REVOCATION_REASONS
from chalicelib.providers.base import Endpoint, Provider, material_from_pem, stated_by_certificate
from chalicelib.providers.http import ErrorReading, decode_body

log = logging.getLogger(__name__)

PROVIDER = "digicert"

CAPABILITIES = Capabilities(
    accepts_csr=True, generates_key=False, products=("ov", "ev", "private"), default_product="ov",
    dcv_methods=("dns", "email", "file"), default_dcv_method="dns", max_validity_days=397,
    reissue=True, renew=True, revoke=True, cancel=True,
    download_formats=("pem", "chain", "fullchain", "der", "pkcs7"), authorities=False, async_issuance=True,
)

# The one DigiCert status table (order info `status`); anything else stays pending.
STATUS_MAP: Mapping[str, Status] = {
    "needs_approval": Status.PENDING,
    "pending": Status.PENDING,
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

TYPE_HINTS = {"ov": "ov", "ev": "ev", "private": "private"}
PRODUCT_BY_NAME_ID = {"ssl_basic": "ov", "ssl_plus": "ov", "ssl_securesite_flex": "ov", "ssl_ev_basic": "ev",
                      "ssl_ev_plus": "ev", "ssl_ev_securesite_flex": "ev", "private_ssl_plus": "private"}
DCV_TO_DIGICERT = {"dns": "dns-txt-token", "file": "http-token", "email": "email"}
DCV_FROM_DIGICERT = {"dns-txt-token": "dns", "dns-cname-token": "dns", "http-token": "file", "email": "email"}
DOWNLOAD_FORMAT = {"pem": "pem_noroot", "chain": "pem_noroot", "fullchain": "pem_noroot", "der": "der",
                   "pkcs7": "p7b"}
FILE_DCV_PATH = "/.well-known/pki-validation/fileauth.txt"
CNAME_TARGET = "dcv.digicert.com"

MAX_ALTERNATIVE_ORDER_ID = 64
MAX_LIST_LIMIT = 1000
PAGE_SIZE = 100
# A lookup after a failed create only needs orders placed since shortly before it (clock skew).
LOOKUP_SKEW = dt.timedelta(minutes=15)

AUTH_CODES = frozenset({"invalid_api_key", "missing_api_key", "access_denied"})
CONFLICT_CODES = frozenset({"duplicate_alternative_order_id", "invalid_order_status", "invalid_certificate_status",
                            "invalid_request_status"})
DUPLICATE_ALT_ID = "duplicate_alternative_order_id"
# DigiCert parameter paths -> the names of our API (design.md 2.1), for 422 field lists.
FIELD_NAMES = {
    "certificate": "csr", "certificate.csr": "csr", "certificate.common_name": "common_name",
    "certificate.dns_names": "sans", "certificate.signature_hash": "provider_options.signature_hash",
    "certificate.cert_validity": "validity_days", "order_validity": "validity_days", "validity": "validity_days",
    "dcv_method": "dcv_method", "organization": "organization", "organization.id": "organization.digicert_org_id",
    "product": "product", "product.type_hint": "product", "alternative_order_id": "client_reference",
    "auto_renew": "auto_renew", "revocation_reason": "reason",
}
CODE_FIELDS = {"invalid_csr": "csr", "invalid_dcv_method": "dcv_method", "ambiguous_product": "product"}


class DigiCertProvider(Provider):
    name = PROVIDER
    capabilities = CAPABILITIES
    statuses = STATUS_MAP
    listing_position = 3
    dcv_names = DCV_TO_DIGICERT
    required_credentials = ("base_url", "api_key")
    # alternative_order_id is unique per account: a late duplicate create is refused.
    unique_client_reference = True

    def _configure(self, credentials: Mapping[str, Any]) -> Endpoint:
        api_key = str(credentials["api_key"])
        self._default_org = credentials.get("default_organization_id")
        self.lookup_page_size = MAX_LIST_LIMIT
        return Endpoint(str(credentials["base_url"]), headers={"X-DC-DEVKEY": api_key}, secrets=(api_key,))

    def _read_error(self, status: int, body: Any) -> ErrorReading | None:
        return read_error(status, body)

    # -- ordering (the template's hooks) ----------------------------------------------------
    def _create(self, req: OrderRequest) -> ProviderOrder:
        return self._place(build_order_body(req, self._organization_id(req)), req)

    def _lookup(self, req: OrderRequest, since: dt.datetime | None) -> ProviderOrder | None:
        """By alternative_order_id. A renewal placed through `renew` is found when
        `req.options["renewal_of_order_id"]` names the renewed order."""
        renewal_of = req.options.get("renewal_of_order_id")
        alt_id = alternative_order_id(req.client_reference, None if renewal_of is None else str(renewal_of))
        return self._find_by_alternative_id(alt_id, req.common_name, since)

    def _already_placed(self, failure: ProviderError) -> bool:
        return failure.provider_code == DUPLICATE_ALT_ID

    def renew(self, provider_order_id: str, req: OrderRequest) -> ProviderOrder:
        body = build_order_body(req, self._organization_id(req), renewal_of=_order_number(provider_order_id))
        alt_id = body["alternative_order_id"]
        return self.create_once(lambda: self._place(body, req),
                                lambda since: self._find_by_alternative_id(alt_id, req.common_name, since))

    def _place(self, body: dict[str, Any], req: OrderRequest) -> ProviderOrder:
        data = self.http.json("POST", "order/certificate/ssl", safe=False, json_body=body)
        return order_from_create(data, req, body["alternative_order_id"])

    def _organization_id(self, req: OrderRequest) -> int:
        raw = req.options.get("organization_id", self._default_org)
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

    def _find_by_alternative_id(self, alt_id: str, common_name: str,
                                since: dt.datetime | None) -> ProviderOrder | None:
        """Page the orders for this common name, newest first, to the end (or past `since`)."""
        offset = 0
        floor = since - LOOKUP_SKEW if since is not None else None
        while True:
            data = self._list_page({"offset": offset, "limit": self.lookup_page_size, "sort": "-date_created",
                                    "filters[common_name]": common_name.lower()})
            orders = data["orders"]
            for item in orders:
                if item.get("alternative_order_id") == alt_id:
                    return order_from_info(item)
                created = _parse_time(item.get("date_created"))
                if floor is not None and created is not None and created < floor:
                    return None
            offset += len(orders)
            if not orders or offset >= _page_total(data):
                return None

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
            before, status=Status.PENDING, raw_status="reissue_pending",
            certificate_id=str(new_cert) if new_cert is not None else before.certificate_id,
            common_name=req.common_name.lower(), sans=_dns_names(req), not_before=None, not_after=None, serial=None,
            material=None, request_id=_str_or_none(requests_out[0].get("id")) or before.request_id)

    def revoke(self, provider_order_id: str, reason: str = "unspecified") -> ProviderOrder:
        if reason not in REVOCATION_REASONS:
            raise ProviderRejected(PROVIDER, f"unknown revocation reason {reason!r}",
                                   field_errors=[FieldError("reason", f"must be one of {', '.join(REVOCATION_REASONS)}")])
        order = self.get_order(provider_order_id, with_material=False)
        if order.certificate_id is None or order.status is not Status.ISSUED:
            if order.status is Status.REVOKED:
                return order
            raise ProviderConflict(PROVIDER, f"order {provider_order_id} has no issued certificate to revoke",
                                   provider_code=order.raw_status)
        body = {"revocation_reason": reason, "comments": "revoked through certgate", "skip_approval": True}
        try:
            resp = self.http.request("PUT", f"certificate/{_segment(order.certificate_id)}/revoke",
                                      safe=False, json_body=body)
        except ProviderError as exc:
            return self._reached(provider_order_id, Status.REVOKED, exc)
        if resp.status_code == 204:
            return dataclasses.replace(order, status=Status.REVOKED, raw_status="revoked")
        # 201: a revoke request waits for an approver; the certificate stays issued until then.
        answer = decode_body(resp.content)  # read only for the request id: unreadable means absent
        request_id = _str_or_none(answer.get("id")) if isinstance(answer, dict) else None
        return dataclasses.replace(order, request_id=request_id or order.request_id)

    def cancel(self, provider_order_id: str) -> ProviderOrder:
        path = f"order/certificate/{_segment(provider_order_id)}/status"
        try:
            self.http.request("PUT", path, safe=False, json_body={"status": "canceled",
                                                                   "note": "canceled through certgate"})
        except ProviderError as exc:
            return self._reached(provider_order_id, Status.CANCELLED, exc)
        return self.get_order(provider_order_id, with_material=False)

    def _reached(self, provider_order_id: str, target: Status, failure: ProviderError) -> ProviderOrder:
        """After a revoke/cancel failed ambiguously or as a state conflict: the order, when it
        already is in `target` (an earlier attempt went through); otherwise the failure."""
        return self.confirm(failure, lambda: self._in_status(provider_order_id, target), also=(ProviderConflict,))

    def _in_status(self, provider_order_id: str, target: Status) -> ProviderOrder | None:
        order = self.get_order(provider_order_id, with_material=False)
        return order if order.status is target else None

    def _reissued(self, provider_order_id: str, before: ProviderOrder) -> ProviderOrder | None:
        after = self.get_order(provider_order_id, with_material=False)
        return after if after.raw_status == "reissue_pending" or after.certificate_id != before.certificate_id else None

    # -- validation --------------------------------------------------------------------
    def validation(self, provider_order_id: str) -> list[DcvDetail]:
        return dcv_details(self._order_info(provider_order_id))

    def retry_validation(self, provider_order_id: str, *, method: str | None = None,
                         email: str | None = None, domain: str | None = None) -> list[DcvDetail]:
        """Switch the DCV method when asked (change-dcv), then ask DigiCert to check now
        (check-dcv). DigiCert validates every domain of the order with one method, so `domain`
        and `email` select nothing here; the approver emails are DigiCert's own."""
        if method is not None:
            wanted = self.dcv_word(method)
            if self._order_info(provider_order_id).get("dcv_method") != wanted:
                self.http.json("PUT", f"order/certificate/{_segment(provider_order_id)}/change-dcv", safe=False,
                                json_body={"dcv_method": wanted})
        # Asking for a check changes nothing but the check's timing: safe to repeat.
        self.http.json("PUT", f"order/certificate/{_segment(provider_order_id)}/check-dcv", safe=True)
        return self.validation(provider_order_id)


# -- request building (pure) -------------------------------------------------------------------
def alternative_order_id(client_reference: str, renewal_of: str | None = None) -> str:
    """Our id as DigiCert's alternative_order_id (<= 64 chars, stable for the same input)."""
    base = client_reference if renewal_of is None else f"{client_reference}.renew.{renewal_of}"
    if len(base) <= MAX_ALTERNATIVE_ORDER_ID:
        return base
    digest = hashlib.sha256(base.encode()).hexdigest()[:16]
    return f"{base[:MAX_ALTERNATIVE_ORDER_ID - 17]}.{digest}"


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


def build_order_body(req: OrderRequest, organization_id: int, *, renewal_of: int | None = None) -> dict[str, Any]:
    """The POST /order/certificate/ssl body for `req`."""
    errors: list[FieldError] = []
    type_hint = TYPE_HINTS.get(req.product)
    if type_hint is None:
        errors.append(FieldError("product", f"DigiCert offers {', '.join(CAPABILITIES.products)}"))
    dcv = DCV_TO_DIGICERT.get(req.dcv_method or CAPABILITIES.default_dcv_method or "dns")
    if dcv is None:
        errors.append(FieldError("dcv_method", f"must be one of {', '.join(DCV_TO_DIGICERT)}"))
    days = CAPABILITIES.max_validity_days if req.validity_days is None else req.validity_days
    if not 1 <= days <= CAPABILITIES.max_validity_days:
        errors.append(FieldError("validity_days", f"must be 1-{CAPABILITIES.max_validity_days}"))
    certificate = _certificate_fields(req, errors)
    _refuse_if(errors)
    certificate["cert_validity"] = {"days": days}
    body: dict[str, Any] = {
        "certificate": certificate,
        "order_validity": {"days": days},
        "product": {"type_hint": type_hint},
        "dcv_method": dcv,
        "organization": {"id": organization_id},
        "alternative_order_id": alternative_order_id(req.client_reference,
                                                     None if renewal_of is None else str(renewal_of)),
        "skip_approval": bool(req.options.get("skip_approval", True)),
        "auto_renew": 1 if req.auto_renew else 0,
    }
    if renewal_of is not None:
        body["renewal_of_order_id"] = renewal_of
    return body


def build_reissue_body(req: OrderRequest) -> dict[str, Any]:
    errors: list[FieldError] = []
    certificate = _certificate_fields(req, errors)
    _refuse_if(errors)
    return {"certificate": certificate, "skip_approval": bool(req.options.get("skip_approval", True)),
            "comments": "reissued through certgate"}


# -- answers (pure) ----------------------------------------------------------------------------
def order_from_create(data: Any, req: OrderRequest, alt_id: str) -> ProviderOrder:
    if not isinstance(data, dict) or not isinstance(data.get("id"), int):
        # The create went through (2xx) but its answer is unusable: the order may exist.
        raise ProviderProtocolError(PROVIDER, "order created without an id in the answer", outcome_unknown=True)
    requests_out = data.get("requests") or [{}]
    first = requests_out[0] if isinstance(requests_out[0], dict) else {}
    raw = ORDER_STATUS_OF_REQUEST.get(str(first.get("status", "")).lower(), "pending")
    return ProviderOrder(
        provider_order_id=str(data["id"]), status=DigiCertProvider.status_of(raw), raw_status=raw,
        client_reference=alt_id, certificate_id=_str_or_none(data.get("certificate_id")),
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
        client_reference=info.get("alternative_order_id"), certificate_id=_str_or_none(cert.get("id")),
        common_name=common_name, sans=names, not_before=not_before, not_after=not_after, serial=serial,
        material=material if status is Status.ISSUED else None, failure_reason=failure,
        request_id=_str_or_none(requests_in[-1].get("id")) if requests_in else None,
        product=PRODUCT_BY_NAME_ID.get(str(product.get("name_id") or info.get("product_name_id") or "")))
    return order if material is None else stated_by_certificate(PROVIDER, order, material.certificate_pem)


def dcv_details(info: Mapping[str, Any]) -> list[DcvDetail]:
    """What the user must publish per domain, from order info (dcv_method, dcv_token, domains)."""
    raw_method = str(info.get("dcv_method") or "")
    method = DCV_FROM_DIGICERT.get(raw_method, raw_method or "dns")
    token_info = info.get("dcv_token") or {}
    token = token_info.get("token")
    failed = _raw_status(info) == "rejected"
    domains = [d for d in info.get("domains") or [] if isinstance(d, dict) and d.get("name")]
    if not domains:  # older answers list no domains: the certificate's names stand in
        cert = info.get("certificate") or {}
        domains = [{"name": n} for n in dict.fromkeys([cert.get("common_name"), *(cert.get("dns_names") or [])]) if n]
    out: list[DcvDetail] = []
    for domain in domains:
        name = str(domain["name"])
        base = name[2:] if name.startswith("*.") else name
        done = str(domain.get("dcv_status", "")).lower() in ("complete", "completed", "valid", "validated")
        state = "valid" if done else "failed" if failed else "pending"
        if raw_method == "dns-cname-token":
            out.append(DcvDetail(name, "dns", state, dns_record_name=f"{token}.{base}", dns_record_type="CNAME",
                                 dns_value=token_info.get("verification_value") or CNAME_TARGET))
        elif method == "dns":
            out.append(DcvDetail(name, "dns", state, dns_record_name=f"_dnsauth.{base}", dns_record_type="TXT",
                                 dns_value=token))
        elif method == "file":
            out.append(DcvDetail(name, "file", state, file_path=token_info.get("http_token_url") or FILE_DCV_PATH,
                                 file_content=token))
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
