"""Domain control validation: what the user must publish, and retrying or switching the method."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chalicelib.core.dns import DomainProgress, fqdn
from chalicelib.core.errors import (
    Conflict,
    FieldError,
    ProviderError,
    ProviderFailure,
    ValidationFailed,
)
from chalicelib.core.model import (
    Certificate,
    Status,
)
from chalicelib.core.provider import DcvDetail
from chalicelib.service import dns_validation

if TYPE_CHECKING:
    from chalicelib.service.certificates import CertificateService

log = logging.getLogger("certgate.service")


@dataclass(frozen=True)
class ValidationSummary:
    """What GET /certificates/{id}/validation answers: per domain, what to publish and its state."""

    certificate_id: str
    status: str
    method: str | None
    domains: tuple[DcvDetail, ...]
    # Route 53 automation progress (service/dns_validation.py), by domain as core/dns.py fqdn() has it.
    automation: Mapping[str, DomainProgress] = field(default_factory=dict)

    def to_public(self) -> dict[str, Any]:
        out = []
        for d in self.domains:
            entry = d.to_dict()
            progress = self.automation.get(fqdn(d.domain))
            if progress is not None:
                entry["automation"] = progress.to_public()
            out.append(entry)
        return {"certificate_id": self.certificate_id, "status": self.status, "method": self.method, "domains": out}


def validation(svc: CertificateService, cert: Certificate) -> ValidationSummary:
    caps = svc.capabilities(cert.provider)
    details: list[DcvDetail] = []
    if caps.dcv_methods and cert.provider_order_id and cert.status in (Status.PENDING, Status.ISSUED):
        try:
            details = svc.providers(cert.provider).validation(cert.provider_order_id)
        except ProviderError as exc:
            raise ProviderFailure(cert, exc) from exc
    return ValidationSummary(cert.id, cert.public_status, cert.dcv_method, tuple(details),
                             dns_validation.progress_by_domain(cert))


def retry_validation(svc: CertificateService, principal: str, cert: Certificate, body: Any) -> ValidationSummary:
    from chalicelib.service.requests import validate_dcv_retry

    caps = svc.capabilities(cert.provider)
    if not caps.dcv_methods:
        raise ValidationFailed([FieldError("provider", f"{cert.provider} has no domain control validation")],
                               code="unsupported_operation")
    args = validate_dcv_retry(body, caps)
    if cert.status is not Status.PENDING or not cert.provider_order_id:
        raise Conflict(f"validation applies to pending orders; this one is {cert.public_status}",
                       code="invalid_state")
    try:
        details = svc.providers(cert.provider).retry_validation(cert.provider_order_id, **args)
    except ProviderError as exc:
        raise ProviderFailure(cert, exc) from exc
    if args.get("method") and args["method"] != cert.dcv_method:
        svc.save(cert.updated(svc.clock(), dcv_method=args["method"]))
    svc.audit(cert, principal, "validation.retried", method=args.get("method"), domain=args.get("domain"))
    return ValidationSummary(cert.id, cert.public_status, args.get("method") or cert.dcv_method, tuple(details))
