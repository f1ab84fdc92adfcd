"""Steps the provider may have taken without our record saying so, finished to the provider's truth.

A revoke or cancel claims the certificate (`operation`) before the provider call; a reissue or
renewal writes its pending revision before it. When the answer is never recorded (the process
died, the store write failed, the answer was lost), the claim is what is left: `recover` reads
the provider and ends it — revoked, revoke request pending, cancelled, reissued — or, once no call
can still be running, releases a claim the provider shows no trace of. A revoke the provider holds
for approval is followed here too (`follow_revocation`), until it is approved or rejected.
Each function takes one certificate; the jobs (service/jobs.py) decide which."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import TYPE_CHECKING

from chalicelib.core.errors import ProviderError, ProviderFailure
from chalicelib.core.model import Certificate, Event, Revocation, Status, iso, parse_iso
from chalicelib.core.provider import ProviderOrder

if TYPE_CHECKING:
    from chalicelib.service.certificates import CertificateService

# The operations whose interruption `recover` finishes (an `order` is reconcile_one's).
RECOVERABLE = frozenset({"reissue", "renew", "revoke", "cancel"})


def needs_recovery(cert: Certificate) -> bool:
    return cert.operation in RECOVERABLE or cert.revocation_waiting


def recover(svc: CertificateService, cert: Certificate, actor: str) -> Certificate:
    """Finish whatever `cert` has in flight at its provider, as far as the provider says."""
    if cert.operation == "revoke":
        return _recover_revoke(svc, cert, actor)
    if cert.operation == "cancel":
        return _recover_cancel(svc, cert, actor)
    if cert.revocation_waiting:
        return follow_revocation(svc, cert, actor)
    return svc.refresh(cert, actor)  # reissue / renew: the poller's own path finds the new certificate


def _claim_stale(svc: CertificateService, cert: Certificate) -> bool:
    """No call made under this claim can still be running at the provider."""
    started = parse_iso(cert.submitted_at) or parse_iso(cert.updated_at) or svc.clock()
    return (svc.clock() - started).total_seconds() >= svc.resubmit_after_s()


def _get(svc: CertificateService, cert: Certificate) -> ProviderOrder:
    try:
        return svc.providers(cert.provider).get_order(cert.provider_order_id or "", with_material=False)
    except ProviderError as exc:
        raise ProviderFailure(cert, exc) from exc


# -- revoke ----------------------------------------------------------------------------------------
def settle_revocation(svc: CertificateService, cert: Certificate, po: ProviderOrder, actor: str) -> Certificate:
    """Record what the provider answered to a revoke (or shows after one): revoked, or a request
    held for approval that the poller follows."""
    now = svc.clock()
    rev = cert.revocation or Revocation(reason="unspecified", requested_at=iso(now) or "")
    detail = {"reason": rev.reason, "comments": rev.comments, "provider_status": po.raw_status}
    if po.status is Status.REVOKED:
        after = cert.moved_to(Status.REVOKED, now, provider_status=po.raw_status, operation=None,
                              revocation=replace(rev, state="revoked"), next_poll_at=None)
        return svc.save(after, [svc.event_for(cert, after, actor, **detail)])
    if po.revocation_pending:
        after = cert.updated(now, operation=None, poll_attempts=0,
                             revocation=replace(rev, state="pending", request_id=po.revocation_request_id),
                             next_poll_at=iso(now + dt.timedelta(seconds=svc.cfg.poll_min_interval_s)))
        return svc.save(after, [_audit(svc, after, actor, "certificate.revocation_requested",
                                       request_id=po.revocation_request_id, **detail)])
    # Answered, yet neither revoked nor held: nothing is in flight any more.
    after = cert.updated(now, operation=None, revocation=None, next_poll_at=None)
    return svc.save(after, [_audit(svc, after, actor, "certificate.revocation_requested", **detail)])


def follow_revocation(svc: CertificateService, cert: Certificate, actor: str) -> Certificate:
    """A revoke request held for approval: revoked once approved (certificate.revoked), cleared
    when rejected (certificate.revocation_rejected), otherwise looked at again later."""
    rev = cert.revocation
    if rev is None or not rev.waiting:
        return cert
    if rev.request_id is None:
        return _recover_revoke(svc, cert, actor)
    try:
        po = svc.providers(cert.provider).revocation_outcome(cert.provider_order_id or "", rev.request_id)
    except ProviderError as exc:
        raise ProviderFailure(cert, exc) from exc
    now = svc.clock()
    if po.status is Status.REVOKED:
        return settle_revocation(svc, cert, po, actor)
    if po.revocation_pending:
        return svc.save(svc.rescheduled(cert, now))
    after = cert.updated(now, revocation=None, operation=None, next_poll_at=None, poll_attempts=0)
    ev = svc.event_for(cert, after, actor, kind="certificate.revocation_rejected", request_id=rev.request_id,
                       reason=rev.reason, rejection=po.failure_reason or "rejected at the provider")
    return svc.save(after, [ev])


def _recover_revoke(svc: CertificateService, cert: Certificate, actor: str) -> Certificate:
    """A revoke claimed and never answered. The order shows it revoked, or a request held for
    approval: recorded. Otherwise, once no call can still be running, the revoke is sent once more —
    safe to repeat at every provider that revokes (TinyCert sets a status; DigiCert's adapter
    files no second request and reads "already revoked" as revoked, which is how a revoke that
    skipped approval shows at all: order info keeps the order issued). A refusal ends the claim."""
    po = _get(svc, cert)
    if po.status is Status.REVOKED or po.revocation_pending:
        return settle_revocation(svc, cert, po, actor)
    if not _claim_stale(svc, cert):
        return cert  # the revoke may still be running: its own answer will be recorded
    reason = cert.revocation.reason if cert.revocation else "unspecified"
    try:
        po = svc.providers(cert.provider).revoke(cert.provider_order_id or "", reason)
    except ProviderError as exc:
        if exc.outcome_unknown or exc.retryable:
            raise ProviderFailure(cert, exc) from exc  # still claimed: the next run asks again
        after = cert.updated(svc.clock(), operation=None, revocation=None, next_poll_at=None)
        svc.save(after, [_audit(svc, after, actor, "certificate.revocation_abandoned", reason=exc.message,
                                provider_status=po.raw_status)])
        return after
    return settle_revocation(svc, cert, po, actor)


# -- cancel ----------------------------------------------------------------------------------------
def settle_cancel(svc: CertificateService, cert: Certificate, po: ProviderOrder, actor: str) -> Certificate:
    if po.status is Status.ISSUED:
        return svc.apply(cert, po, actor)  # too late: it was issued (apply ends the claim)
    if po.status is not Status.CANCELLED:
        return svc.save(cert.updated(svc.clock(), operation="order"))
    after = cert.moved_to(Status.CANCELLED, svc.clock(), provider_status=po.raw_status, operation=None)
    return svc.save(after, [svc.event_for(cert, after, actor)])


def _recover_cancel(svc: CertificateService, cert: Certificate, actor: str) -> Certificate:
    po = _get(svc, cert)
    if po.status in (Status.ISSUED, Status.CANCELLED):
        if po.status is Status.ISSUED:
            po = svc.providers(cert.provider).get_order(po.provider_order_id, with_material=True)
        return settle_cancel(svc, cert, po, actor)
    if not _claim_stale(svc, cert):
        return cert
    return svc.apply(svc.save(cert.updated(svc.clock(), operation="order")), po, actor)


def _audit(svc: CertificateService, cert: Certificate, actor: str, kind: str, **detail: object) -> Event:
    return Event(certificate_id=cert.id, kind=kind, occurred_at=iso(svc.clock()) or "", actor=actor,
                 provider=cert.provider, revision=cert.revision,
                 detail={k: v for k, v in detail.items() if v is not None})
