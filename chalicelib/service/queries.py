"""Read-only use cases: a caller's certificates and a certificate's audit trail."""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.core.model import Certificate, Event
from chalicelib.service.certificates import CertificateService


@dataclass(frozen=True)
class CertificateFilter:
    status: str | None = None
    provider: str | None = None
    common_name: str | None = None
    expires_before: str | None = None


def list_certificates(svc: CertificateService, principal: str, flt: CertificateFilter, *, limit: int,
                      next_token: str | None) -> tuple[list[Certificate], str | None]:
    """One page of the principal's own certificates (a token is bound to its owner)."""
    return svc.store.list_by_owner(principal, limit=limit, next_token=next_token, status=flt.status,
                                   provider=flt.provider, common_name=flt.common_name,
                                   expires_before=flt.expires_before)


def certificate_events(svc: CertificateService, principal: str, cert: Certificate, *, limit: int,
                       next_token: str | None) -> tuple[list[Event], str | None]:
    return svc.store.events(cert.id, limit=limit, next_token=next_token, owner=principal,
                            first_events=cert.first_events)
