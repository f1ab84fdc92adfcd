"""The typed records that cross the provider port: what the service asks a provider for
(`OrderRequest`) and what a provider answers (`ProviderOrder`, `CertificateMaterial`, `Page`,
`DcvDetail`, `Authority`), and what a provider can do (`Capabilities`). Nothing here does I/O."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chalicelib.core.lifetimes import Lifetime
from chalicelib.core.model import Approver, Organization, San, Status
from chalicelib.core.vocabulary import FORMATS


@dataclass(frozen=True)
class Capabilities:
    accepts_csr: bool
    generates_key: bool
    products: tuple[str, ...]
    default_product: str
    dcv_methods: tuple[str, ...]
    default_dcv_method: str | None
    lifetime: Lifetime  # maximum validity by product and issuance date (core/lifetimes.py)
    reissue: bool
    renew: bool
    revoke: bool
    cancel: bool
    download_formats: tuple[str, ...]
    authorities: bool
    async_issuance: bool
    # The provider's documented request limits ((requests, per seconds), ...): the adapter keeps
    # them per process, the jobs plan their runs inside them (service/sweeps.py CallBudget).
    rate_limits: tuple[tuple[int, float], ...] = ()
    # The subject alternative name types the provider issues for (an order asking for another is
    # refused before anything is written: service/requests.py).
    san_types: tuple[str, ...] = ("dns", "ip", "email", "uri")
    # How an automatic renewal gets the next certificate: "renew" (a new paid order), "reissue"
    # (a fresh certificate on the same order, free), or "plan" (reissue while the paid plan,
    # `coverage_until`, outlasts the certificate; a paid renewal at its end).
    renewal: str = "renew"

    @property
    def served_formats(self) -> tuple[str, ...]:
        """The formats GET /certificates/{id}/download serves for this provider's certificates:
        certgate renders every one from the stored revision (x509/formats.py), whatever the
        provider's own downloads (`download_formats`, what the adapter fetches) offer; pkcs12 where
        certgate can hold the key (the provider hands it over, or certgate makes it for a CSR)."""
        holds_key = self.generates_key or self.accepts_csr
        return tuple(f for f in FORMATS if f != "pkcs12" or holds_key)

    def max_validity_days(self, product: str, on: dt.date) -> int:
        return self.lifetime.max_days(product, on)

    def to_dict(self, on: dt.date) -> dict[str, Any]:
        """As GET /providers shows it: `max_validity_days` for the default product on `on`, each
        product's schedule, and whether a validity can be asked for at all."""
        return {
            "accepts_csr": self.accepts_csr, "generates_key": self.generates_key,
            "products": list(self.products), "default_product": self.default_product,
            "dcv_methods": list(self.dcv_methods), "default_dcv_method": self.default_dcv_method,
            "max_validity_days": self.max_validity_days(self.default_product, on),
            "validity_schedules": {p: self.lifetime.schedule(p).to_list() for p in self.products},
            "validity_selectable": self.lifetime.parameter, "reissue": self.reissue,
            "renew": self.renew, "revoke": self.revoke, "cancel": self.cancel,
            "download_formats": list(self.served_formats), "authorities": self.authorities,
            "async_issuance": self.async_issuance, "san_types": list(self.san_types),
        }


@dataclass(frozen=True)
class OrderRequest:
    """A provider-neutral order (also used for reissue/renew). Fields are already validated and
    defaulted by the service; `options` carries per-provider overrides (plan, ca_id,
    organization_id, signature_hash, skip_approval)."""

    client_reference: str  # our certificate id (always sent where the provider accepts one)
    common_name: str
    product: str = "dv"
    sans: tuple[San, ...] = ()
    csr_pem: str | None = None
    validity_days: int | None = None
    dcv_method: str | None = None
    organization: Organization | None = None
    approver: Approver | None = None
    auto_renew: bool = False
    options: Mapping[str, Any] = field(default_factory=dict)

    def dns_names(self) -> list[str]:
        return [s.value for s in self.sans if s.type == "dns"]


@dataclass(frozen=True)
class CertificateMaterial:
    certificate_pem: str  # the leaf
    chain_pem: str = ""  # issuing chain without the leaf (intermediates, optionally the root)
    private_key_pem: str | None = None  # only from providers that generate keys (TinyCert)


@dataclass(frozen=True)
class ProviderOrder:
    """What a provider knows about one order/certificate, normalized."""

    provider_order_id: str  # TinyCert cert_id, Resello id, DigiCert order id
    status: Status
    raw_status: str
    client_reference: str | None = None
    certificate_id: str | None = None  # DigiCert certificate id (others: same as order id)
    common_name: str | None = None
    sans: tuple[str, ...] = ()
    not_before: dt.datetime | None = None
    not_after: dt.datetime | None = None
    serial: str | None = None
    material: CertificateMaterial | None = None
    failure_reason: str | None = None
    request_id: str | None = None  # the provider's request id, for the audit trail
    on_hold: bool = False
    product: str | None = None
    # False when `raw_status` is not in the adapter's status table: `status` is then only a guess
    # (pending) and the service keeps the certificate's last known status instead.
    status_recognized: bool = True
    # A revoke the provider holds for approval (DigiCert revoke requests): the certificate stays
    # valid, and issued, until `Provider.revocation_outcome` says the request was approved.
    revocation_pending: bool = False
    revocation_request_id: str | None = None
    # The certgate ownership mark the provider object carries (TinyCert: at the end of its OU),
    # None when it carries none: what certgate created is recognisable as certgate's.
    owner_mark: str | None = None


@dataclass(frozen=True)
class DcvDetail:
    domain: str
    method: str  # dns | email | file
    state: str  # pending | valid | failed
    dns_record_name: str | None = None
    dns_record_type: str | None = None
    dns_value: str | None = None
    file_path: str | None = None
    file_content: str | None = None
    emails: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"domain": self.domain, "method": self.method, "state": self.state}
        if self.method == "dns":
            out["dns"] = {"name": self.dns_record_name, "type": self.dns_record_type, "value": self.dns_value}
        if self.method == "file":
            out["file"] = {"path": self.file_path, "content": self.file_content}
        if self.method == "email":
            out["emails"] = list(self.emails)
        return out


@dataclass(frozen=True)
class Page:
    """One page of a provider listing; `next_token` is opaque to callers, None at the end."""

    items: tuple[ProviderOrder, ...]
    next_token: str | None


@dataclass(frozen=True)
class Authority:
    ca_id: str
    name: str
    details: Mapping[str, Any] = field(default_factory=dict)
    certificate_pem: str | None = None
