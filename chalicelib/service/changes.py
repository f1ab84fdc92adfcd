"""Changes to an issued certificate: reissue and renew (a new revision), revoke, and cancel of a
pending order."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from chalicelib.core.errors import (
    Conflict,
    FieldError,
    ProviderError,
    ProviderFailure,
    ValidationFailed,
)
from chalicelib.core.model import (
    Certificate,
    Revision,
    Revocation,
    San,
    Status,
    approver_from,
    fields_of,
    iso,
    organization_from,
)
from chalicelib.service import ordering

if TYPE_CHECKING:
    from chalicelib.service.certificates import CertificateService

log = logging.getLogger("certgate.service")


def reissue(svc: CertificateService, principal: str, cert: Certificate, body: Any,
            actor: str | None = None) -> Certificate:
    return _change(svc, principal, cert, body, "reissue", actor=actor)


def renew(svc: CertificateService, principal: str, cert: Certificate, body: Any, actor: str | None = None) -> Certificate:
    return _change(svc, principal, cert, body, "renew", actor=actor)


def _change(svc: CertificateService, principal: str, cert: Certificate, body: Any, op: str, actor: str | None = None) -> Certificate:
    from chalicelib.service.requests import validate_change

    caps = svc.capabilities(cert.provider)
    if not getattr(caps, op):
        raise ValidationFailed([FieldError("operation", f"{cert.provider} cannot {op}")],
                               code="unsupported_operation")
    changes = validate_change(body)
    if cert.revocation_waiting and cert.revocation:
        named = f" (request {cert.revocation.request_id})" if cert.revocation.request_id else ""
        raise Conflict(f"this certificate has a revocation {cert.revocation.state}{named}: it cannot be {op}ed",
                       code="revocation_pending")
    if cert.status is not Status.ISSUED or cert.operation is not None:
        state = f"{cert.public_status} ({cert.operation} in progress)" if cert.operation else cert.public_status
        raise Conflict(f"only an issued certificate can be {op}ed; this one is {state}",
                       code="invalid_state")
    draft = _changed_spec(svc, cert, changes)
    provider = svc.providers(cert.provider)
    now = svc.clock()
    n = cert.revision + 1
    started = cert.moved_to(Status.PENDING, now, revision=n, revisions=cert.with_revision(Revision(n, op)),
                            operation=op, poll_attempts=0, common_name=draft.common_name, sans=draft.sans,
                            csr_pem=draft.csr_pem, sealed_key=draft.sealed_key, key_source=draft.key_source,
                            dcv_method=draft.dcv_method, validity_days=draft.validity_days,
                            validity_requested=draft.validity_requested, validity_clamped=draft.validity_clamped,
                            organization=draft.organization, approver=draft.approver,
                            next_poll_at=iso(now + dt.timedelta(seconds=svc.cfg.poll_min_interval_s)))
    started = svc.save(started, [svc.event_for(cert, started, actor or principal, kind=f"certificate.{op}_requested")])
    req = ordering.order_request(svc, started)
    try:
        po = (provider.reissue if op == "reissue" else provider.renew)(cert.provider_order_id or "", req)
    except ProviderError as exc:
        if exc.outcome_unknown:
            raise ProviderFailure(started, exc) from exc  # stays pending; the poller finds out
        raise ProviderFailure(svc.revert_operation(started, actor or principal, exc.message), exc) from exc
    return svc.apply(started, po, actor or principal)


def _defaults(svc: CertificateService, provider: str) -> Mapping[str, Any]:
    """The provider secret's defaults, as an order reads them (organization, approver, the
    DigiCert organization id an OV/EV certificate names); none when the secret cannot be read
    (the provider call that follows says so)."""
    try:
        return svc.provider_defaults(provider)
    except ProviderError:
        return {}


def _changed_spec(svc: CertificateService, cert: Certificate, changes: Mapping[str, Any]) -> Certificate:
    """Validate a reissue/renew body against the certificate's provider and fold it in."""
    from chalicelib.service.requests import validate_order

    base: dict[str, Any] = {"provider": cert.provider, "product": cert.product, "common_name": cert.common_name,
                            "sans": [{"type": s.type, "value": s.value} for s in cert.sans], "dcv_method": cert.dcv_method}
    if cert.validity_requested is not None:
        # What the caller asked for, decided again on this date: a default follows the schedule down.
        base["validity_days"] = cert.validity_requested
    if cert.organization:
        base["organization"] = fields_of(cert.organization)
    if cert.approver:
        base["approver"] = fields_of(cert.approver)
    base.update({k: v for k, v in changes.items() if k not in ("csr", "key")})
    if "common_name" in changes and "sans" not in changes:
        base.pop("sans")
    caps = svc.capabilities(cert.provider)
    if "csr" in changes:
        base["csr"] = changes["csr"]
    elif "key" in changes:
        base["key"] = changes["key"]
    elif cert.key_source == "csr" and caps.accepts_csr:
        base["csr"] = cert.csr_pem
    spec = validate_order(base, svc.capabilities, _defaults(svc, cert.provider), providers=svc.directory.names(),
                          on=svc.clock().date())
    key_source, csr_pem, sealed = cert.key_source, cert.csr_pem, cert.sealed_key
    if spec.csr_pem:
        key_source, csr_pem, sealed = "csr", spec.csr_pem, None
    elif spec.key_type and caps.accepts_csr:
        from chalicelib.x509 import csr as x509_csr

        private_pem, csr_pem = x509_csr.generate_key_and_csr(spec.key_type, spec.key_size, spec.common_name,
                                                           spec.sans, spec.organization)
        sealed = svc.vault.seal(private_pem, {"certificate_id": cert.id})
        key_source = "gateway"
    return replace(cert, common_name=spec.common_name, sans=tuple(San(t, v) for t, v in spec.sans),
                   csr_pem=csr_pem, sealed_key=sealed, key_source=key_source, dcv_method=spec.dcv_method,
                   validity_days=spec.validity_days, validity_requested=spec.validity_requested,
                   validity_clamped=spec.validity_clamped, organization=organization_from(spec.organization),
                   approver=approver_from(spec.approver))


def revoke(svc: CertificateService, principal: str, cert: Certificate, body: Any) -> Certificate:
    from chalicelib.service import recovery
    from chalicelib.service.requests import validate_revoke

    reason, comments = validate_revoke(body)
    if not svc.capabilities(cert.provider).revoke:
        raise ValidationFailed([FieldError("provider", f"{cert.provider} cannot revoke certificates")],
                               code="unsupported_operation")
    if cert.revocation_waiting and cert.revocation:
        rev = cert.revocation
        named = f" (request {rev.request_id})" if rev.request_id else ""
        raise Conflict(f"a revocation is already {rev.state}{named}, asked on {rev.requested_at} "
                       f"for reason {rev.reason!r}", code="revocation_pending")
    if cert.status is not Status.ISSUED or cert.operation is not None:
        state = f"{cert.public_status} ({cert.operation} in progress)" if cert.operation else cert.public_status
        raise Conflict(f"only an issued certificate can be revoked; this one is {state}", code="invalid_state")
    provider = svc.providers(cert.provider)
    # Claim the certificate first (conditional on the version we read): a reissue or renewal
    # racing this revoke either claimed it before us (we stop here with a 409) or fails to. The
    # claim says what is in flight, so reconcile can finish it if our answer is never recorded.
    now = svc.clock()
    cert = svc.save(cert.updated(now, operation="revoke", submitted_at=iso(now),
                                 revocation=Revocation(reason=reason, requested_at=iso(now) or "", comments=comments),
                                 next_poll_at=iso(now + dt.timedelta(seconds=svc.cfg.poll_min_interval_s))))
    try:
        po = provider.revoke(cert.provider_order_id or "", reason)
    except ProviderError as exc:
        if exc.outcome_unknown:
            raise ProviderFailure(cert, exc) from exc  # claimed: reconcile looks at the provider
        raise ProviderFailure(svc.save(cert.updated(svc.clock(), operation=None, revocation=None,
                                                    next_poll_at=None)), exc) from exc
    return recovery.settle_revocation(svc, cert, po, principal)


def cancel(svc: CertificateService, principal: str, cert: Certificate) -> Certificate:
    if not svc.capabilities(cert.provider).cancel:
        raise ValidationFailed([FieldError("provider", f"{cert.provider} orders cannot be cancelled")],
                               code="unsupported_operation")
    if cert.status not in (Status.PENDING, Status.SUBMITTING) or cert.operation in ("reissue", "renew"):
        raise Conflict(f"only a pending order can be cancelled; this one is {cert.public_status}"
                       + (f" ({cert.operation} in progress)" if cert.operation in ("reissue", "renew") else ""),
                       code="invalid_state")
    if not cert.provider_order_id:
        cert = svc.reconcile_one(cert, principal, force=True)
        if cert.status is not Status.PENDING:
            raise Conflict(f"the order is {cert.public_status} and cannot be cancelled", code="invalid_state")
    provider = svc.providers(cert.provider)
    # Claimed before the call (a repeated cancel of an interrupted one may take it over).
    now = svc.clock()
    cert = svc.save(cert.updated(now, operation="cancel", submitted_at=iso(now)))
    try:
        po = provider.cancel(cert.provider_order_id or "")
    except ProviderError as exc:
        if exc.outcome_unknown:
            raise ProviderFailure(cert, exc) from exc  # claimed: reconcile looks at the provider
        raise ProviderFailure(svc.save(cert.updated(svc.clock(), operation="order")), exc) from exc
    from chalicelib.service import recovery

    return recovery.settle_cancel(svc, cert, po, principal)
