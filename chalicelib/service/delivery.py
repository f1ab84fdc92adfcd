"""Delivery of issued certificates into ACM (issue 19 item 2), opt-in per certificate
(`deliver_to: {"acm": {"region": ...}}`), only where certgate holds the key.

Called after an issuance is saved (certificates.py `_apply_issued`) and never fails it: the
outcome is recorded on the certificate (`delivery.acm`: arn, status, revision, error). A failed
import is filed in the `due` index under kind `D` and retried by the reconcile job. The first
import creates the ACM certificate; every later revision is re-imported into that same ARN.
A successful import publishes `certificate.delivered` (with the ARN); later events carry the ARN
in their certificate summary (`acm_arn`).

Revocation policy: the ACM certificate is kept (deleting it would break the listeners that use
it at once) and tagged `certgate:status=revoked`; users alarm or clean up on that tag."""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING, Any

from chalicelib.core.errors import CertgateError, ConcurrentModification
from chalicelib.core.model import Certificate, Status, iso
from chalicelib.service.ports import Remaining

if TYPE_CHECKING:
    from chalicelib.service.certificates import CertificateService

log = logging.getLogger("certgate.service")
RETRY_AFTER_S = 900  # a failed import is tried again by the next reconcile run after this


def wanted(cert: Certificate) -> bool:
    return bool(cert.deliver_to.get("acm"))


def after_issued(svc: CertificateService, cert: Certificate, actor: str = "delivery") -> Certificate:
    """Import the issued revision of `cert` into ACM if it asks for it; `cert` as saved after."""
    if not wanted(cert) or svc.delivery is None or cert.status is not Status.ISSUED:
        return cert
    rev = cert.issued_revision
    if rev is None:
        return cert
    state = dict(cert.delivery.get("acm") or {})
    if state.get("status") == "imported" and state.get("revision") == rev.number:
        return cert
    region = str(cert.deliver_to["acm"]["region"])
    now = svc.clock()
    try:
        if cert.sealed_key is None:
            raise _NoKey()
        leaf, chain = svc.artifacts.read_revision(cert, rev.number)
        key = svc.vault.open(cert.sealed_key, {"certificate_id": cert.id})
        arn = svc.delivery.import_certificate(region, leaf, chain, key, state.get("arn"),
                                              {"certgate:certificate_id": cert.id, "certgate:status": "issued"})
    except CertgateError as exc:
        code = getattr(exc, "code", type(exc).__name__)
        log.warning("ACM import failed; retried later", extra={"certificate_id": cert.id, "error": code})
        failed = {**state, "region": region, "status": "failed", "error": str(code),
                  "retry_at": iso(now + dt.timedelta(seconds=RETRY_AFTER_S))}
        return _record(svc, cert, failed, now, actor, ok=False)
    done = {"region": region, "arn": arn, "status": "imported", "revision": rev.number, "error": None}
    return _record(svc, cert, done, now, actor, ok=True)


def _record(svc: CertificateService, cert: Certificate, state: dict[str, Any], now: dt.datetime, actor: str, *,
            ok: bool) -> Certificate:
    after = cert.updated(now, delivery={**cert.delivery, "acm": state})
    kind = "certificate.delivered" if ok else "delivery.failed"
    ev = svc.event_for(cert, after, actor, kind=kind, acm_arn=state.get("arn"), region=state.get("region"),
                       error=state.get("error"))
    try:
        return svc.save(after, [ev])
    except ConcurrentModification:
        return cert  # changed meanwhile; the next change or the retry job delivers


def after_saved(svc: CertificateService, cert: Certificate) -> Certificate:
    """A revoked certificate imported into ACM: tag it `certgate:status=revoked` (kept, see the
    module doc); `cert` as saved after. A failed tag is logged and left (the revocation stands)."""
    state = cert.delivery.get("acm") or {}
    if cert.status is not Status.REVOKED or svc.delivery is None or not state.get("arn") \
            or state.get("status") == "revoked":
        return cert
    try:
        svc.delivery.tag(str(state["region"]), str(state["arn"]), {"certgate:status": "revoked"})
    except CertgateError as exc:
        log.warning("ACM tag failed", extra={"certificate_id": cert.id, "error": getattr(exc, "code", "")})
        return cert
    try:
        return svc.save(cert.updated(svc.clock(), delivery={**cert.delivery, "acm": {**state, "status": "revoked"}}))
    except ConcurrentModification:
        return cert


def retry_failed(svc: CertificateService, remaining: Remaining, limit: int = 200) -> int:
    """Retry failed imports whose time has come (the `due` index, kind D); how many were tried."""
    tried = 0
    for cert in svc.store.due("D", svc.clock(), limit):
        if remaining() < svc.cfg.poll_safety_margin_ms:
            break
        after_issued(svc, cert, actor="job:reconcile")
        tried += 1
    return tried


class _NoKey(CertgateError):
    code = "private_key_not_held"
