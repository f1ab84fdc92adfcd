"""Ordering (design.md 2.1): validate everything, write the intent (status `submitting`, our
certificate id as the provider's client reference), then call the provider; whatever happens after
that is recorded, and an unanswered create is left for `reconcile` — never retried blindly."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from chalicelib.core import renewal
from chalicelib.core.errors import (
    AlreadyExists,
    ConcurrentModification,
    Conflict,
    DependencyFailed,
    DependencyFailure,
    FieldError,
    OwnershipUnproven,
    ProviderError,
    ProviderFailure,
    ValidationFailed,
)
from chalicelib.core.model import (
    AcmImport,
    Certificate,
    Event,
    Failure,
    IdempotencyRecord,
    Revision,
    San,
    Status,
    approver_from,
    iso,
    new_certificate_id,
    organization_from,
    parse_iso,
)
from chalicelib.core.provider import OrderRequest, ProviderOrder
from chalicelib.observability import count
from chalicelib.service import dns_validation
from chalicelib.service.ports import Provider
from chalicelib.service.requests import OrderSpec

if TYPE_CHECKING:
    from chalicelib.service.certificates import CertificateService

log = logging.getLogger("certgate.service")


@dataclass
class OrderResult:
    certificate: Certificate
    replayed: bool = False


def order(svc: CertificateService, principal: str, body: Any, idempotency_key: str | None) -> OrderResult:
    from chalicelib.service.requests import validate_order

    provider_name = body.get("provider") if isinstance(body, dict) else None
    defaults: Mapping[str, Any] = {}
    if isinstance(provider_name, str) and provider_name in svc.directory.names():
        defaults = svc.provider_defaults(provider_name)
    spec = validate_order(body, svc.capabilities, defaults, providers=svc.directory.names(), on=svc.clock().date(),
                          acm_default_region=svc.cfg.acm_default_region)
    body_hash = hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    if idempotency_key:
        replay = _replay(svc, principal, idempotency_key, body_hash)
        if replay:
            return replay
    provider = svc.providers(spec.provider)  # not configured -> 503 before anything is written
    _check_authority(svc, spec, provider)  # an unknown CA -> 422 before anything is written
    automation = dns_validation.plan_order(svc, spec)  # a domain in no allowed zone, when asked -> 422
    cert = replace(_new_certificate(svc, principal, spec), dns_automation=automation)
    idem = IdempotencyRecord(principal, idempotency_key, body_hash, cert.id, cert.created_at) \
        if idempotency_key else None
    requested = Event(certificate_id=cert.id, kind="certificate.requested", occurred_at=cert.created_at,
                      actor=principal, to_status="pending", revision=1, provider=cert.provider,
                      detail={"common_name": cert.common_name, "product": cert.product,
                              "idempotency_key": bool(idempotency_key)})
    try:
        # `requested` travels inside the intent's item (one write before the provider call) until
        # the first save of the certificate files it: the provider's answer, a failure, or reconcile.
        cert = replace(svc.filed(cert), first_events=(requested,))
        svc.store.create(cert, [], idem, ttl_s=svc.cfg.idempotency_ttl_s)
    except AlreadyExists as exc:
        if exc.what == "idempotency" and idempotency_key:
            replay = _replay(svc, principal, idempotency_key, body_hash)
            if replay:
                return replay
        raise
    try:
        placed = _submit(svc, cert, provider, principal, idempotency_key)
    except ProviderFailure as failure:
        count("Orders", provider=cert.provider, status=failure.cert.public_status, outcome=failure.error.code)
        raise
    except DependencyFailed as exc:
        # The intent is recorded (reconcile finishes it): say which certificate to follow.
        count("Orders", provider=cert.provider, status="pending", outcome=exc.code)
        raise DependencyFailure(_as_stored(svc, cert), exc) from exc
    count("Orders", provider=cert.provider, status=placed.public_status, outcome="placed")
    return OrderResult(placed)


AUTHORITIES_TTL_S = 300.0  # how long a provider's CA list is trusted before it is read again


def _check_authority(svc: CertificateService, spec: OrderSpec, provider: Provider) -> None:
    """`provider_options.ca_id` names a CA of the provider (its CA list, cached a few minutes and
    read again before a refusal, so a CA created a moment ago is found). When the list cannot
    be read the order goes on: the provider's own answer decides, as before."""
    ca_id = spec.provider_options.get("ca_id")
    if ca_id in (None, "") or not svc.capabilities(spec.provider).authorities:
        return
    try:
        known = svc.authority_ids(spec.provider, provider)
        if str(ca_id) not in known:
            known = svc.authority_ids(spec.provider, provider, fresh=True)
    except ProviderError as exc:
        log.warning("CA list unreadable; the provider will judge ca_id",
                    extra={"provider": spec.provider, "error": exc.code})
        return
    if str(ca_id) not in known:
        raise ValidationFailed([FieldError("provider_options.ca_id",
                                           f"{spec.provider} has no certificate authority {ca_id} "
                                           f"(GET /authorities lists them)")])


def _as_stored(svc: CertificateService, cert: Certificate) -> Certificate:
    """The certificate as the store holds it now (`cert` when the store itself is what failed)."""
    try:
        return svc.store.get(cert.id) or cert
    except DependencyFailed:
        return cert


def _replay(svc: CertificateService, principal: str, key: str, body_hash: str) -> OrderResult | None:
    rec = svc.store.idempotency(principal, key)
    if rec is None:
        return None
    if rec.body_hash != body_hash:
        raise Conflict("Idempotency-Key was already used with a different request body",
                       code="idempotency_key_reused")
    cert = svc.store.get(rec.certificate_id)
    if cert is None:
        return None
    if cert.status is Status.SUBMITTING and not _may_be_in_flight(svc, cert):
        # The first attempt did not learn the provider's answer: find out now, never re-order blindly.
        try:
            cert = svc.reconcile_one(cert, actor=principal, force=True)
        except ConcurrentModification:
            # Someone else (the first attempt finishing, a poller) moved it meanwhile: theirs stands.
            cert = svc.store.get(rec.certificate_id) or cert
    # A replay racing the first attempt (the same key sent N times at once) answers with the same
    # certificate as it stands — pending while the first create runs — as a later retry would.
    return OrderResult(cert, replayed=True)


def _may_be_in_flight(svc: CertificateService, cert: Certificate) -> bool:
    """Whether the first create of `cert` may still be running in another request: the intent is
    untouched since it was written (the first attempt saves whatever it learns, even a lost answer)
    and younger than a create can take. A lookup then proves nothing, could adopt the order under
    the first attempt's feet, and N concurrent replays would make N provider lookups."""
    started = parse_iso(cert.created_at)
    window = 2 * svc.cfg.provider_read_timeout_s + 1
    return cert.version == 1 and started is not None and (svc.clock() - started).total_seconds() < window


def _new_certificate(svc: CertificateService, principal: str, spec: OrderSpec) -> Certificate:
    now = svc.clock()
    cid = new_certificate_id()
    key_source, csr_pem, sealed = "provider", spec.csr_pem, None
    if spec.csr_pem:
        key_source = "csr"
    elif spec.key_type:
        from chalicelib.x509 import csr as x509_csr

        private_pem, csr_pem = x509_csr.generate_key_and_csr(spec.key_type, spec.key_size, spec.common_name,
                                                           spec.sans, spec.organization)
        sealed = svc.vault.seal(private_pem, {"certificate_id": cid})
        key_source = "gateway"
    cert = Certificate(
        id=cid, owner=principal, provider=spec.provider, common_name=spec.common_name,
        status=Status.SUBMITTING, created_at=iso(now) or "", updated_at=iso(now) or "", version=1,
        product=spec.product, sans=tuple(San(t, v) for t, v in spec.sans),
        dcv_method=spec.dcv_method, validity_days=spec.validity_days, validity_requested=spec.validity_requested,
        validity_clamped=spec.validity_clamped, auto_renew=spec.auto_renew,
        client_reference=spec.client_reference, organization=organization_from(spec.organization), approver=approver_from(spec.approver),
        provider_options=dict(spec.provider_options), acm=AcmImport(spec.acm_region) if spec.acm_region else None, key_source=key_source,
        csr_pem=csr_pem,
        sealed_key=sealed, revision=1, revisions=(Revision(1, "order"),), operation="order",
        next_poll_at=iso(now + dt.timedelta(seconds=svc.cfg.reconcile_after_s)), submit_attempts=1,
        submitted_at=iso(now),
    )
    # The paid plan runs from the order (core/renewal.py); the renewal sweep keeps it current.
    return replace(cert, coverage_until=iso(renewal.coverage_until(cert, svc.capabilities(spec.provider).renewal)))


def order_request(svc: CertificateService, cert: Certificate) -> OrderRequest:
    options = dict(cert.provider_options)
    org_id = cert.organization.digicert_org_id if cert.organization else None
    if org_id and "organization_id" not in options:
        options["organization_id"] = org_id
    return OrderRequest(
        client_reference=cert.id, common_name=cert.common_name, product=cert.product, sans=cert.sans,
        csr_pem=cert.csr_pem, validity_days=cert.validity_days, dcv_method=cert.dcv_method,
        organization=cert.organization, approver=cert.approver, auto_renew=cert.auto_renew, options=options,
    )


def _submit(svc: CertificateService, cert: Certificate, provider: Provider, actor: str, idempotency_key: str | None) -> Certificate:
    try:
        po = provider.submit_order(order_request(svc, cert))
    except ProviderError as exc:
        try:
            after = _after_failed_submit(svc, cert, exc, actor, idempotency_key)
        except ConcurrentModification:
            after = _as_it_stands(svc, cert)
            if after.provider_order_id:
                return after  # reconcile found the order this error hid: the caller's order stands
        raise ProviderFailure(after, exc) from exc
    try:
        return adopt(svc, cert, po, actor)
    except ConcurrentModification:
        # A create that outlived reconcile_after_s: reconcile found the intent stale and recorded
        # the order meanwhile. Theirs stands; the caller gets its certificate as it now is (an
        # anonymous conflict would make a client without an Idempotency-Key order again).
        return _as_it_stands(svc, cert)


def _as_it_stands(svc: CertificateService, cert: Certificate) -> Certificate:
    current = svc.store.get(cert.id)
    if current is None:  # a record is never deleted: the conflict was not a move
        raise ConcurrentModification(f"certificate {cert.id} vanished while it was ordered")
    return current


def adopt(svc: CertificateService, cert: Certificate, po: ProviderOrder, actor: str) -> Certificate:
    """Take `po` as `cert`'s order — unless another record already references it: a provider
    object is never shared, so that outcome is unknown (for an operator), never an adoption."""
    holder = None if _claimed_on_save(cert, po) else svc.store.cert_id_for_ref(cert.provider, po.provider_order_id)
    if holder is None or holder == cert.id:
        try:
            return svc.apply(cert, po, actor)
        except AlreadyExists as taken:
            if taken.what != "reference":
                raise
    exc = OwnershipUnproven(cert.provider, f"the provider's order {po.provider_order_id} found for this certificate "
                                           "belongs to another certgate record", candidates=(po.provider_order_id,))
    raise ProviderFailure(outcome_unknown(svc, cert, exc, actor), exc)


def _claimed_on_save(cert: Certificate, po: ProviderOrder) -> bool:
    """A create answered pending is recorded by the one save that claims the order's reference
    (CertificateService.apply): its condition refuses an order another record holds, and nothing
    is written before it, so no read is needed first (one DynamoDB call less per order). An issued
    answer is read first: apply seals and stores its material before that save."""
    return cert.status is Status.SUBMITTING and po.status is Status.PENDING and bool(po.provider_order_id)


def outcome_unknown(svc: CertificateService, cert: Certificate, exc: OwnershipUnproven, actor: str) -> Certificate:
    """End an intent whose order cannot be told apart (design: ownership is proven, never
    guessed): failed with reason `outcome_unknown` naming the provider's candidates, for an
    operator to decide. Neither adopted nor placed again."""
    now = svc.clock()
    after = cert.moved_to(Status.FAILED, now, operation=None, failure=Failure("outcome_unknown", exc.message))
    ev = svc.event_for(cert, after, actor, error=exc.code, candidates=list(exc.candidates))
    return svc.save(after, [ev])


def _after_failed_submit(svc: CertificateService, cert: Certificate, exc: ProviderError, actor: str,
                         idempotency_key: str | None) -> Certificate:
    now = svc.clock()
    if isinstance(exc, OwnershipUnproven):
        return outcome_unknown(svc, cert, exc, actor)
    if exc.outcome_unknown:
        # The provider may have the order: leave the intent for reconcile (lookup by client reference).
        after = cert.updated(now, next_poll_at=iso(now + dt.timedelta(seconds=svc.cfg.reconcile_after_s)))
        ev = Event(certificate_id=cert.id, kind="order.unconfirmed", occurred_at=iso(now) or "", actor=actor,
                   provider=cert.provider, revision=cert.revision,
                   detail={"error": exc.code, "message": exc.message})
        return svc.save(after, [ev])
    after = cert.moved_to(Status.FAILED, now, operation=None,
                          failure=Failure(exc.code, exc.message))
    # Surely not placed and worth retrying: let the same key place it next time.
    release = idempotency_key if idempotency_key and exc.retryable else None
    return svc.save(after, [svc.event_for(cert, after, actor, error=exc.code)], release_idempotency=release)
