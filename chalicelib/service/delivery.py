"""Delivery of issued certificates into ACM (issue 19 item 2), opt-in per certificate
(`deliver_to: {"acm": {"region": ...}}`), only where certgate holds the key.

Called after an issuance is saved (certificates.py `_apply_issued`) and never fails it: the
outcome is recorded on the certificate (`Certificate.acm`: arn, status, revision, error). An
outstanding import — failed, or never recorded because the process died — is filed in the `due`
index under kind `D` (`Certificate.delivery_due_at`) and retried by the reconcile job, backing off
15 min, 30 min, 1 h, … up to a day. The first import creates the ACM certificate; every later
revision is re-imported into that same ARN. A retry without an ARN first looks for the ACM
certificate an earlier attempt may have made (tagged with our id) so that a lost answer never
leaves an orphan ARN behind.
A successful import publishes `certificate.delivered` (with the ARN); later events carry the ARN
in their certificate summary (`acm_arn`).

Revocation policy: the ACM certificate is kept (deleting it would break the listeners that use
it at once) and tagged `certgate:status=revoked`; users alarm or clean up on that tag."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import replace
from typing import TYPE_CHECKING

from chalicelib.core.errors import CertgateError, ConcurrentModification
from chalicelib.core.model import AcmImport, Certificate, Status, iso
from chalicelib.service.ports import Remaining

if TYPE_CHECKING:
    from chalicelib.service.certificates import CertificateService

log = logging.getLogger("certgate.service")
RETRY_AFTER_S = 900  # the first retry of a failed import; doubled per failure in a row
RETRY_MAX_S = 86400
ID_TAG = "certgate:certificate_id"


def retry_delay_s(attempts: int) -> int:
    """The wait after the `attempts`-th failure in a row (1: 15 min, 2: 30 min, ... at most a day)."""
    return int(min(RETRY_MAX_S, RETRY_AFTER_S * 2 ** max(0, attempts - 1)))


def wanted(cert: Certificate) -> bool:
    return cert.acm is not None


def after_issued(svc: CertificateService, cert: Certificate, actor: str = "delivery", *,
                 may_exist: bool = False) -> Certificate:
    """Import the issued revision of `cert` into ACM if it asks for it; `cert` as saved after.
    `may_exist`: an earlier attempt may have imported it without recording the ARN (a retry)."""
    acm = cert.acm
    if acm is None or svc.delivery is None or cert.status is not Status.ISSUED:
        return cert
    rev = cert.issued_revision
    if rev is None or (acm.status == "imported" and acm.revision == rev.number):
        return cert
    now = svc.clock()
    try:
        if cert.sealed_key is None:
            raise _NoKey()
        arn = acm.arn
        if arn is None and may_exist:
            arn = svc.delivery.find_imported(acm.region, cert.common_name, {ID_TAG: cert.id})
        leaf, chain = svc.artifacts.read_revision(cert, rev.number)
        key = svc.vault.open(cert.sealed_key, {"certificate_id": cert.id})
        arn = svc.delivery.import_certificate(acm.region, leaf, chain, key, arn,
                                              {ID_TAG: cert.id, "certgate:status": "issued"})
    except CertgateError as exc:
        code = str(getattr(exc, "code", type(exc).__name__))
        attempts = acm.attempts + 1
        log.warning("ACM import failed; retried later", extra={"certificate_id": cert.id, "error": code,
                                                                 "attempts": attempts})
        failed = replace(acm, status="failed", error=code, attempts=attempts,
                         retry_at=iso(now + dt.timedelta(seconds=retry_delay_s(attempts))))
        return _record(svc, cert, failed, now, actor, ok=False)
    done = AcmImport(region=acm.region, arn=arn, status="imported", revision=rev.number)
    return _record(svc, cert, done, now, actor, ok=True)


def _record(svc: CertificateService, cert: Certificate, state: AcmImport, now: dt.datetime, actor: str, *,
            ok: bool) -> Certificate:
    kind = "certificate.delivered" if ok else "delivery.failed"
    for _ in range(3):
        after = cert.updated(now, acm=state)
        ev = svc.event_for(cert, after, actor, kind=kind, acm_arn=state.arn, region=state.region, error=state.error)
        try:
            return svc.save(after, [ev])
        except ConcurrentModification:
            # Changed meanwhile (a poll, a job): an ARN ACM just gave out must not be lost, or the
            # next attempt would make a second ACM certificate. Record it on the current version.
            current = svc.store.get(cert.id)
            if current is None or current.acm is None or not ok:
                return cert  # a failure needs no record: the retry job finds the import outstanding
            cert = current
    return cert


def after_saved(svc: CertificateService, cert: Certificate) -> Certificate:
    """A revoked certificate imported into ACM: tag it `certgate:status=revoked` (kept, see the
    module doc); `cert` as saved after. A failed tag is logged and left (the revocation stands)."""
    acm = cert.acm
    if cert.status is not Status.REVOKED or svc.delivery is None or acm is None or not acm.arn \
            or acm.status == "revoked":
        return cert
    try:
        svc.delivery.tag(acm.region, acm.arn, {"certgate:status": "revoked"})
    except CertgateError as exc:
        log.warning("ACM tag failed", extra={"certificate_id": cert.id, "error": getattr(exc, "code", "")})
        return cert
    try:
        return svc.save(cert.updated(svc.clock(), acm=replace(acm, status="revoked")))
    except ConcurrentModification:
        return cert


def retry_failed(svc: CertificateService, remaining: Remaining, limit: int = 200) -> int:
    """Retry outstanding imports whose time has come (the `due` index, kind D); how many were tried."""
    tried = 0
    if svc.delivery is None:
        return tried  # no ACM here: nothing to try (each try would leave the item at the head)
    for cert in svc.store.due("D", svc.clock(), limit):
        if remaining() < svc.cfg.poll_safety_margin_ms:
            break
        after_issued(svc, cert, actor="job:reconcile", may_exist=True)
        tried += 1
    return tried


class _NoKey(CertgateError):
    code = "private_key_not_held"
