"""Read-only use cases: a caller's certificates and a certificate's audit trail."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from chalicelib.core.errors import FieldError, ValidationFailed
from chalicelib.core.model import Certificate, Event, iso
from chalicelib.service.certificates import CertificateService


@dataclass(frozen=True)
class CertificateFilter:
    status: str | None = None
    provider: str | None = None
    common_name: str | None = None
    expires_before: str | None = None
    # not_after within this long from now (and not past): "expiring soon"
    expiring_within: dt.timedelta | None = None
    # A DNS name the certificate is for (CN or dns SAN), exact; with a leading dot, every name under it.
    domain: str | None = None


_WITHIN = re.compile(r"^([1-9][0-9]{0,4})([dh])$")
MAX_EXPIRING_WITHIN = dt.timedelta(days=3650)


def parse_expiring_within(raw: str) -> dt.timedelta:
    """`30d` or `12h` (days or hours, a positive integer); ValidationFailed naming expiring_within."""
    m = _WITHIN.match(raw)
    span = dt.timedelta(**{"days" if m.group(2) == "d" else "hours": int(m.group(1))}) if m else None
    if span is None or span > MAX_EXPIRING_WITHIN:
        raise ValidationFailed([FieldError("expiring_within", "must be a number of days or hours such as 30d or "
                                                              "12h (at most 3650d)")])
    return span


def parse_domain(raw: str) -> str:
    """The domain search in the form the store matches: an exact name (`example.com`, and
    `*.example.com` for the wildcard name itself) in lower-case A-labels, or `.example.com`: every
    name under example.com (not example.com itself)."""
    from chalicelib.x509.names import validate_dns_name

    if raw.startswith("."):
        # "x" + ".com" so that a one-label suffix (.com, .internal) passes the two-label rule
        return validate_dns_name("x" + raw, "domain", allow_wildcard=False)[1:]
    return validate_dns_name(raw, "domain")


def list_certificates(svc: CertificateService, principal: str, flt: CertificateFilter, *, limit: int,
                      next_token: str | None) -> tuple[list[Certificate], str | None]:
    """One page of the principal's own certificates (a token is bound to its owner)."""
    expires_before, expires_after = flt.expires_before, None
    if flt.expiring_within is not None:
        now = svc.clock()
        expires_after = iso(now)
        horizon = iso(now + flt.expiring_within) or ""
        expires_before = min(expires_before, horizon) if expires_before else horizon
    return svc.store.list_by_owner(principal, limit=limit, next_token=next_token, status=flt.status,
                                   provider=flt.provider, common_name=flt.common_name,
                                   expires_before=expires_before, expires_after=expires_after, domain=flt.domain)


def certificate_events(svc: CertificateService, principal: str, cert: Certificate, *, limit: int,
                       next_token: str | None) -> tuple[list[Event], str | None]:
    return svc.store.events(cert.id, limit=limit, next_token=next_token, owner=principal,
                            first_events=cert.first_events)
