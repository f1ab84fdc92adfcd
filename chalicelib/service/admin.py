"""Provider administration: which providers exist and are configured, and TinyCert's
certificate authorities (list, details, create; delete by administrators only, never the default
one, and not while the CA has live certificates unless forced).

A TinyCert CA is shared by every caller who orders from it, and TinyCert's `/ca/delete` deletes
all its certificates with it: one caller deleting it would destroy everyone's. So deleting is an
administrator's act, refused (409, naming the certificates) while live certificates remain; a
forced delete marks the certificates certgate holds as revoked (reason authority_deleted), so no
record keeps calling a deleted certificate issued.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.core.errors import Conflict, Forbidden, NotFound, ProviderNotFound
from chalicelib.core.model import FINAL, Certificate, Failure, Revocation, Status, iso
from chalicelib.core.provider import Authority, Capabilities
from chalicelib.service.certificates import CertificateService
from chalicelib.service.ports import Remaining

log = logging.getLogger("certgate.service")

AUTHORITY_PROVIDER = "tinycert"


@dataclass(frozen=True)
class ProviderInfo:
    name: str
    configured: bool
    capabilities: Capabilities


def providers_overview(svc: CertificateService) -> list[ProviderInfo]:
    directory = svc.directory
    return [ProviderInfo(name, directory.configured(name), directory.capabilities(name)) for name in directory.names()]


def _checked_ca_id(ca_id: str) -> str:
    if not ca_id.isdigit() or len(ca_id) > 12:
        raise NotFound(f"no certificate authority {ca_id!r}")
    return ca_id


def list_authorities(svc: CertificateService) -> list[Authority]:
    return svc.providers(AUTHORITY_PROVIDER).list_authorities()


def get_authority(svc: CertificateService, ca_id: str) -> Authority:
    try:
        return svc.providers(AUTHORITY_PROVIDER).get_authority(_checked_ca_id(ca_id))
    except ProviderNotFound as exc:
        raise NotFound(f"no certificate authority {ca_id!r} at {AUTHORITY_PROVIDER}") from exc


def authority_pem(svc: CertificateService, ca_id: str) -> str:
    """The CA's certificate as PEM (what clients add to their trust store for TinyCert's
    private certificates); 502 when TinyCert hands out none, or something that is not one."""
    from chalicelib.core.errors import BadMaterial, ProviderProtocolError
    from chalicelib.x509.pem import split_pem_chain

    authority = get_authority(svc, ca_id)
    try:
        pems = split_pem_chain(authority.certificate_pem or "")
    except BadMaterial as exc:
        raise ProviderProtocolError(AUTHORITY_PROVIDER, f"/ca/get answered a broken PEM for CA {ca_id}") from exc
    if not pems:
        raise ProviderProtocolError(AUTHORITY_PROVIDER, f"/ca/get answered no certificate for CA {ca_id}")
    return "".join(pems)


def create_authority(svc: CertificateService, fields: Mapping[str, str]) -> Authority:
    try:
        return svc.providers(AUTHORITY_PROVIDER).create_authority(fields)
    finally:
        svc.forget_authorities(AUTHORITY_PROVIDER)


def delete_authority(svc: CertificateService, ca_id: str, *, actor: str, admin: bool, force: bool = False) -> None:
    """Delete a CA: administrators only (403); never the provider secret's `default_ca_id` (409
    authority_in_use); not while it has live certificates (409 authority_has_certificates, naming
    certgate's) unless `force`, which then marks certgate's certificates of that CA revoked."""
    _checked_ca_id(ca_id)
    if not admin:
        raise Forbidden(f"only an administrator may delete a certificate authority: {AUTHORITY_PROVIDER} deletes "
                        "every certificate of the CA with it, whoever ordered them")
    provider = svc.providers(AUTHORITY_PROVIDER)  # not configured -> 503 before anything else
    if str(svc.provider_defaults(AUTHORITY_PROVIDER).get("default_ca_id")) == ca_id:
        raise Conflict(f"certificate authority {ca_id} is the default_ca_id of the {AUTHORITY_PROVIDER} secret; "
                       "change the default first", code="authority_in_use")
    try:
        live = _live_certificates(svc, ca_id)
    except ProviderNotFound as exc:
        raise NotFound(f"no certificate authority {ca_id!r} at {AUTHORITY_PROVIDER}") from exc
    ours = sorted(cid for cid in (svc.store.cert_id_for_ref(AUTHORITY_PROVIDER, ref) for ref in live) if cid)
    if live and not force:
        named = ", ".join(ours[:20]) + (" …" if len(ours) > 20 else "")
        raise Conflict(f"certificate authority {ca_id} still has {len(live)} live certificate(s)"
                       + (f", {len(ours)} of them in certgate: {named}" if ours else "")
                       + "; revoke them first, or delete with force=true (they are deleted with it)",
                       code="authority_has_certificates")
    try:
        provider.delete_authority(ca_id)
    except ProviderNotFound as exc:
        raise NotFound(f"no certificate authority {ca_id!r} at {AUTHORITY_PROVIDER}") from exc
    finally:
        svc.forget_authorities(AUTHORITY_PROVIDER)
    for cid in ours:
        _mark_deleted_with_authority(svc, cid, ca_id, actor)


def _live_certificates(svc: CertificateService, ca_id: str) -> list[str]:
    """Provider ids of the CA's certificates that are still good (or on hold)."""
    provider = svc.providers(AUTHORITY_PROVIDER)
    refs: list[str] = []
    token: str | None = None
    while True:
        page = provider.list_certificates({"ca_id": ca_id, "status": ["issued"]}, token)
        refs += [o.provider_order_id for o in page.items]
        token = page.next_token
        if token is None:
            return refs


def _mark_deleted_with_authority(svc: CertificateService, cert_id: str, ca_id: str, actor: str) -> None:
    cert = svc.store.get(cert_id)
    if cert is None or cert.status in FINAL:
        return
    reason = Failure("authority_deleted", f"{AUTHORITY_PROVIDER} deleted it with its certificate authority {ca_id}")
    target = Status.REVOKED if cert.status is Status.ISSUED else Status.FAILED
    changes: dict[str, Any] = {}
    if target is Status.REVOKED:  # the CA stopped: its certificates with it
        changes["revocation"] = Revocation(reason="cessation_of_operation", requested_at=iso(svc.clock()))
    after = cert.moved_to(target, svc.clock(), operation=None, failure=reason, next_poll_at=None, **changes)
    svc.save(after, [svc.event_for(cert, after, actor, reason="authority_deleted", ca_id=ca_id)])


# -- certificate authorities deleted out of band -----------------------------------------------------
AUTHORITY_SWEEP = "authority_check"


def check_authorities(svc: CertificateService, remaining: Remaining, now: dt.datetime | None = None) -> dict[str, Any]:
    """Certificates of a TinyCert CA deleted outside certgate (TinyCert's `/ca/delete` deletes
    every certificate of that CA) are marked revoked, reason `authority_deleted`, on the next sync
    (issue 18). One walk over the certificates still valid out there (the expiry index) per
    TinyCert sync interval, from a persisted place (service/sweeps.py), bounded per run; the CA
    list is read once per run. A CA list that cannot be read marks nothing."""
    from chalicelib.core.errors import ProviderError
    from chalicelib.core.model import iso, parse_iso
    from chalicelib.service.sweeps import Sweep, run_sweep

    at = now or svc.clock()
    directory = svc.directory
    if AUTHORITY_PROVIDER not in directory.names() or not directory.configured(AUTHORITY_PROVIDER):
        return {"skipped": 1}
    state = svc.store.sweep_state(AUTHORITY_SWEEP)
    last = parse_iso(state.cycle_started_at)
    interval = svc.cfg.sync_interval_for(AUTHORITY_PROVIDER)
    if state.position is None and state.cycles and last is not None and (at - last).total_seconds() < interval:
        return {"not_due": 1}  # the last walk ended less than a sync interval ago
    try:
        live = {str(a.ca_id) for a in svc.providers(AUTHORITY_PROVIDER).list_authorities()}
    except ProviderError as exc:
        log.warning("authority check skipped: the CA list cannot be read", extra={"error": exc.code})
        return {"provider_error": 1}
    default_ca = svc.provider_defaults(AUTHORITY_PROVIDER).get("default_ca_id")

    def step(cert: Certificate) -> str:
        if cert.provider != AUTHORITY_PROVIDER or cert.status in FINAL:
            return "skipped"
        ca_id = str(cert.provider_options.get("ca_id") or default_ca or "")
        if not ca_id or ca_id in live:
            return "ok"
        _mark_deleted_with_authority(svc, cert.id, ca_id, "check_authorities")
        return "authority_deleted"

    until = at + dt.timedelta(days=366 * 100)
    sweep = Sweep(AUTHORITY_SWEEP, read=lambda after, n: svc.store.expiring_page(until, after, n),
                  due_at=lambda cert: None, limit=svc.cfg.renew_sweep_limit, page_size=500, backlog_peek=0)
    stats = run_sweep(svc, sweep, lambda page: [step(c) for c in page], remaining, at)
    log.info("authority check done", extra={"stats": dict(stats), "at": iso(at)})
    return dict(stats)
