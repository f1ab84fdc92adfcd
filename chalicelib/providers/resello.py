"""Resello reseller platform adapter (`{base_url}/ssl-certificate...`, basic auth, JSON).

Resello takes a CSR and issues asynchronously (`pending` -> `active`). Its create call is not
idempotent, but it stores our `client_reference` (our certificate id) and lets us filter the
listing by it: after an ambiguous create we look the order up before anything else, so a
network failure never buys a second certificate. The response bodies are not documented by
Resello; the shapes are those of simulators/README_resello.md, read defensively (unknown
fields ignored, unknown statuses kept pending)."""

from __future__ import annotations

import datetime as dt
import logging
import urllib.parse
from collections.abc import Mapping
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
from chalicelib.core.model import Status
from chalicelib.core.provider import Capabilities, CertificateMaterial, DcvDetail, OrderRequest, Page, ProviderOrder
from chalicelib.core.vocabulary import DOWNLOAD_FORMATS
from chalicelib.providers.base import Endpoint, Provider
from chalicelib.providers.http import ErrorReading

log = logging.getLogger(__name__)

NAME = "resello"
PER_PAGE = 100  # the listing's maximum page size

# Resello has no revoke endpoint; its DELETE only disables (our `cancel`).
CAPABILITIES = Capabilities(
    accepts_csr=True, generates_key=False, products=("dv", "ov", "ev"), default_product="dv",
    dcv_methods=("dns", "email", "file"), default_dcv_method="dns", max_validity_days=397,
    reissue=True, renew=True, revoke=False, cancel=True, download_formats=DOWNLOAD_FORMATS,
    authorities=False, async_issuance=True,
)

# The one Resello status table. "deleted"/"disabled" are how the seed words a DELETE.
STATUS_MAP: Mapping[str, Status] = {
    "pending": Status.PENDING, "active": Status.ISSUED, "rejected": Status.FAILED, "expired": Status.EXPIRED,
    **dict.fromkeys(("cancelled", "canceled", "deleted", "disabled"), Status.CANCELLED),
}

DCV_TYPES: Mapping[str, str] = {"dns": "DNS", "email": "EMAIL", "file": "FILE"}
DCV_STATES: Mapping[str, str] = {"validated": "valid", "valid": "valid", "failed": "failed", "pending": "pending"}


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
        data = self.http.json("POST", "/ssl-certificate", safe=False, json_body=self.order_body(req, with_plan=True))
        try:
            return self.to_order(data)
        except ProviderProtocolError as exc:
            # A 2xx without a usable object: the order probably exists.
            exc.outcome_unknown = True
            raise

    def _lookup(self, req: OrderRequest, since: dt.datetime | None) -> ProviderOrder | None:
        """The order placed for `req.client_reference`. Resello does not make client_reference
        unique, so among several we prefer the same common name, not cancelled/rejected, and
        then the earliest (the one placed first for this intent)."""
        candidates: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            items, token = self._list_page({"client_reference": req.client_reference}, token)
            candidates += [i for i in items if i.get("client_reference") == req.client_reference]
            if token is None:
                break
        if since is not None:
            candidates = [c for c in candidates if (_parse_time(c.get("created_at")) or since) >= since]
        if not candidates:
            return None
        cn = req.common_name.lower()

        def rank(item: dict[str, Any]) -> tuple[int, int, str]:
            status = self.status_of(_str(item.get("status")))
            return (0 if str(item.get("common_name") or "").lower() == cn else 1,
                    1 if status in (Status.CANCELLED, Status.FAILED) else 0,
                    str(item.get("created_at") or ""))

        return self.to_order(min(candidates, key=rank))

    def get_order(self, provider_order_id: str, *, with_material: bool = True) -> ProviderOrder:
        data = self.http.json("GET", self._path(provider_order_id), safe=True)
        order = self.to_order(data)
        if with_material and order.status is Status.ISSUED:
            order = self.to_order(data, material=self._issued_material(provider_order_id))
        return order

    def reissue(self, provider_order_id: str, req: OrderRequest) -> ProviderOrder:
        # Not idempotent (each call replaces the certificate): tried once.
        data = self.http.json("POST", self._path(provider_order_id, "reissue"), safe=False,
                              json_body=self.order_body(req, with_plan=False))
        order = self.to_order(data)
        if order.status is Status.ISSUED:  # reissue activates at once: hand over the new material
            order = self.to_order(data, material=self._issued_material(order.provider_order_id))
        return order

    def renew(self, provider_order_id: str, req: OrderRequest) -> ProviderOrder:
        data = self.http.json("POST", self._path(provider_order_id, "renew"), safe=False,
                              json_body=self.order_body(req, with_plan=True))
        return self.to_order(data)

    def cancel(self, provider_order_id: str) -> ProviderOrder:
        """Cancel a pending order. Resello's DELETE would also disable an active certificate;
        that is not a cancel in our model (issued -> 409), so it is refused here."""
        current = self.get_order(provider_order_id, with_material=False)
        if current.status is Status.CANCELLED:
            return current
        if current.status is not Status.PENDING:
            raise ProviderConflict(NAME, f"only a pending order can be cancelled; it is {current.raw_status}")
        try:
            data = self.http.json("DELETE", self._path(provider_order_id), safe=False)
        except ProviderError as exc:
            # The DELETE may have been applied; a repeat would answer 409, so look instead.
            return self.confirm(exc, lambda: self._cancelled(provider_order_id))
        return self.to_order(data) if data else self.get_order(provider_order_id, with_material=False)

    def _cancelled(self, provider_order_id: str) -> ProviderOrder | None:
        order = self.get_order(provider_order_id, with_material=False)
        return order if order.status is Status.CANCELLED else None

    # -- validation ----------------------------------------------------------------------
    def validation(self, provider_order_id: str) -> list[DcvDetail]:
        data = self.http.json("GET", self._path(provider_order_id, "validation-details"), safe=True)
        return self.to_dcv(data)

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
        data = self.http.json("POST", self._path(provider_order_id, "validate"), safe=True, json_body=body)
        if isinstance(data, Mapping) and "domains" in data:
            return self.to_dcv(data)
        return self.validation(provider_order_id)

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
        items, token = self._list_page(query, page_token)
        return Page(items=tuple(self.to_order(i) for i in items), next_token=token)

    def _list_page(self, query: Mapping[str, str], page_token: str | None) -> tuple[list[dict[str, Any]], str | None]:
        page = decode_page_token(page_token)
        data = self.http.json("GET", "/ssl-certificate", safe=True,
                              params={**query, "page": str(page), "per_page": str(PER_PAGE)})
        if not isinstance(data, Mapping) or not isinstance(data.get("items"), list):
            raise ProviderProtocolError(NAME, "listing without an items array")
        items = [i for i in data["items"] if isinstance(i, dict)]
        per_page = _int(data.get("per_page")) or PER_PAGE
        total = _int(data.get("total"))
        more = page * per_page < total if total is not None else len(items) >= per_page
        return items, (encode_page_token(page + 1) if more and items else None)

    # -- request building and response parsing (pure) -------------------------------------
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

    def to_order(self, data: Any, material: CertificateMaterial | None = None) -> ProviderOrder:
        if not isinstance(data, Mapping) or not data.get("id"):
            raise ProviderProtocolError(NAME, "certificate object without an id")
        raw = _str(data.get("status"))
        status = self.status_of(raw)
        sans = tuple(str(n) for n in data.get("dns_names") or () if n)
        not_before, not_after = _parse_time(data.get("valid_from")), _parse_time(data.get("valid_until"))
        serial = _str(data.get("serial_number"))
        common_name = _str(data.get("common_name"))
        failure_reason = None
        if status is Status.FAILED:
            failure_reason = _str(data.get("rejection_reason")) or "rejected by Resello"
        order = ProviderOrder(
            provider_order_id=str(data["id"]),
            status=status,
            raw_status=raw or "",
            client_reference=_str(data.get("client_reference")),
            certificate_id=str(data["id"]),
            common_name=common_name,
            sans=sans,
            not_before=not_before,
            not_after=not_after,
            serial=serial.lower() if serial else None,
            material=material,
            failure_reason=failure_reason,
            product=self._products_by_plan.get(str(data.get("plan"))),
        )
        return order if material is None else self.stated_by(order, material.certificate_pem)

    @staticmethod
    def to_dcv(data: Any) -> list[DcvDetail]:
        if not isinstance(data, Mapping) or not isinstance(data.get("domains"), list):
            raise ProviderProtocolError(NAME, "validation details without a domains array")
        out: list[DcvDetail] = []
        for entry in data["domains"]:
            if not isinstance(entry, Mapping) or not entry.get("domain"):
                continue
            method = {v: k for k, v in DCV_TYPES.items()}.get(str(entry.get("dcv_type") or "").upper(), "dns")
            state = DCV_STATES.get(str(entry.get("status") or "").lower(), "pending")
            dns, file, email = (_mapping(entry.get(part)) for part in ("dns", "file", "email"))
            chosen = _str(email.get("approver_email_address"))
            emails = (chosen,) if chosen else tuple(str(e) for e in email.get("approver_emails") or () if e)
            out.append(DcvDetail(
                domain=str(entry["domain"]), method=method, state=state,
                dns_record_name=_str(dns.get("name")), dns_record_type=_str(dns.get("type")),
                dns_value=_str(dns.get("value")), file_path=_str(file.get("path")),
                file_content=_str(file.get("content")), emails=emails))
        return out

    def _read_error(self, status: int, body: Any) -> ErrorReading | None:
        """Resello's `{"error": {"code", "message", "fields"?}}`; the HTTP status decides the kind."""
        error = body.get("error") if isinstance(body, Mapping) else None
        if not isinstance(error, Mapping):
            return None  # a 4xx in some other shape did not come from the API we know (wrong base_url?)
        message = _str(error.get("message")) or f"HTTP {status}"
        return ErrorReading(f"{message} (HTTP {status})", provider_code=_str(error.get("code")),
                            field_errors=_field_errors(error.get("fields")))

    @staticmethod
    def _path(provider_order_id: str, action: str | None = None) -> str:
        if not provider_order_id:
            raise ProviderNotFound(NAME, "empty certificate id")
        ident = urllib.parse.quote(str(provider_order_id), safe="")
        return f"/ssl-certificate/{ident}" + (f"/{action}" if action else "")


# -- helpers (pure) ----------------------------------------------------------------------------
def encode_page_token(page: int) -> str:
    return str(page)


def decode_page_token(token: str | None) -> int:
    if not token:
        return 1
    try:
        page = int(token)
    except ValueError:
        page = 0
    if page < 1:
        raise ProviderRejected(NAME, "invalid page token", field_errors=[FieldError("next_token", "invalid")])
    return page


def _field_errors(fields: Any) -> tuple[FieldError, ...]:
    """`fields` is {name: [messages]}; a bare string or a [{field, message}] list is accepted too."""
    out: list[FieldError] = []
    if isinstance(fields, Mapping):
        for name, msgs in fields.items():
            for msg in (msgs if isinstance(msgs, list) else [msgs]):
                out.append(FieldError(str(name), str(msg) or "invalid"))
    elif isinstance(fields, list):
        for item in fields:
            if isinstance(item, Mapping) and item.get("field"):
                out.append(FieldError(str(item["field"]), _str(item.get("message")) or "invalid"))
    return tuple(out)


def _parse_time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _str(value: Any) -> str | None:
    return str(value) if value is not None and value != "" else None


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


ADAPTER = ReselloProvider
