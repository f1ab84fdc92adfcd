"""Use cases of the certificate lifecycle. Routes and jobs call these; nothing else decides.

Ordering follows design.md 2.1: validate everything, write the intent (status `submitting`,
our certificate id as the provider's client reference), then call the provider; whatever happens
after that is recorded, and an unanswered create is left for `reconcile` — never retried blindly."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from chalicelib.core.errors import (
    AlreadyExists,
    BadMaterial,
    Conflict,
    DependencyFailed,
    FieldError,
    KeyVaultError,
    NotFound,
    ProviderError,
    SealedKeyInvalid,
    ServiceUnavailable,
    TransitionNotAllowed,
    ValidationFailed,
)
from chalicelib.core.model import (
    FINAL,
    Certificate,
    Event,
    IdempotencyRecord,
    Revision,
    Status,
    iso,
    new_certificate_id,
    parse_iso,
    transition_event,
    utcnow,
)
from chalicelib.core.provider import Approver, Capabilities, OrderRequest, Organization, ProviderOrder, San
from chalicelib.observability import count
from chalicelib.service.policy import Policy
from chalicelib.service.ports import ArtifactStore, CertificateStore, EventPublisher, KeyVault, Provider, Providers
from chalicelib.service.requests import OrderSpec

log = logging.getLogger("certgate.service")
_CERT_ID = re.compile(r"^crt_[0-9a-f]{32}$")
CHANGE_FIELDS = {"csr", "key", "sans", "common_name", "dcv_method", "validity_days", "organization", "approver"}


class ProviderFailure(Exception):
    """A provider error that happened while working on a certificate we already recorded."""

    def __init__(self, cert: Certificate, error: ProviderError) -> None:
        super().__init__(str(error))
        self.cert, self.error = cert, error


@dataclass
class OrderResult:
    certificate: Certificate
    replayed: bool = False


class CertificateService:
    def __init__(self, cfg: Policy, store: CertificateStore, artifacts: ArtifactStore, publisher: EventPublisher,
                 vault: KeyVault, directory: Providers, clock: Callable[[], dt.datetime] = utcnow) -> None:
        self.cfg = cfg
        self.store = store
        self.artifacts = artifacts
        self.publisher = publisher
        self.vault = vault
        self.directory = directory
        self.clock = clock

    def providers(self, name: str) -> Provider:
        """The configured adapter of provider `name` (ProviderNotConfigured when it has no secret)."""
        return self.directory.get(name)

    def capabilities(self, name: str) -> Capabilities:
        return self.directory.capabilities(name)

    def provider_defaults(self, name: str) -> Mapping[str, Any]:
        return self.directory.defaults(name)

    # -- access -------------------------------------------------------------------------------
    def owned(self, principal: str, cert_id: str, *, admin: bool = False) -> Certificate:
        """The certificate if `principal` owns it; 404 otherwise (never 403: no existence leak)."""
        if not _CERT_ID.match(cert_id or ""):
            raise NotFound(f"no certificate {cert_id!r}")
        cert = self.store.get(cert_id)
        if cert is None or (cert.owner != principal and not admin):
            raise NotFound(f"no certificate {cert_id!r}")
        return cert

    # -- ordering -----------------------------------------------------------------------------
    def order(self, principal: str, body: Any, idempotency_key: str | None) -> OrderResult:
        from chalicelib.service.requests import validate_order

        provider_name = body.get("provider") if isinstance(body, dict) else None
        defaults: Mapping[str, Any] = {}
        if isinstance(provider_name, str) and provider_name in self.directory.names():
            defaults = self.provider_defaults(provider_name)
        spec = validate_order(body, self.capabilities, defaults, providers=self.directory.names())
        body_hash = hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
        if idempotency_key:
            replay = self._replay(principal, idempotency_key, body_hash)
            if replay:
                return replay
        provider = self.providers(spec.provider)  # not configured -> 503 before anything is written
        cert = self._new_certificate(principal, spec)
        idem = IdempotencyRecord(principal, idempotency_key, body_hash, cert.id, cert.created_at) \
            if idempotency_key else None
        requested = Event(certificate_id=cert.id, kind="certificate.requested", occurred_at=cert.created_at,
                          actor=principal, to_status="pending", revision=1, provider=cert.provider,
                          detail={"common_name": cert.common_name, "product": cert.product,
                                  "idempotency_key": bool(idempotency_key)})
        try:
            self.store.create(cert, [requested], idem, ttl_s=self.cfg.idempotency_ttl_s)
        except AlreadyExists as exc:
            if exc.what == "idempotency" and idempotency_key:
                replay = self._replay(principal, idempotency_key, body_hash)
                if replay:
                    return replay
            raise
        try:
            placed = self._submit(cert, provider, principal, idempotency_key)
        except ProviderFailure as failure:
            count("Orders", provider=cert.provider, status=failure.cert.public_status, outcome=failure.error.code)
            raise
        count("Orders", provider=cert.provider, status=placed.public_status, outcome="placed")
        return OrderResult(placed)

    def _replay(self, principal: str, key: str, body_hash: str) -> OrderResult | None:
        rec = self.store.idempotency(principal, key)
        if rec is None:
            return None
        if rec.body_hash != body_hash:
            raise Conflict("Idempotency-Key was already used with a different request body",
                           code="idempotency_key_reused")
        cert = self.store.get(rec.certificate_id)
        if cert is None:
            return None
        if cert.status is Status.SUBMITTING:
            # The first attempt did not learn the provider's answer: find out now, never re-order blindly.
            cert = self.reconcile_one(cert, actor=principal, force=True)
        return OrderResult(cert, replayed=True)

    def _new_certificate(self, principal: str, spec: OrderSpec) -> Certificate:
        now = self.clock()
        cid = new_certificate_id()
        key_source, csr_pem, sealed = "provider", spec.csr_pem, None
        if spec.csr_pem:
            key_source = "csr"
        elif spec.key_type:
            from chalicelib.x509 import csr as x509_csr

            private_pem, csr_pem = x509_csr.generate_key_and_csr(spec.key_type, spec.key_size, spec.common_name,
                                                               spec.sans, spec.organization)
            sealed = self.vault.seal(private_pem, {"certificate_id": cid})
            key_source = "gateway"
        return Certificate(
            id=cid, owner=principal, provider=spec.provider, common_name=spec.common_name,
            status=Status.SUBMITTING, created_at=iso(now) or "", updated_at=iso(now) or "", version=1,
            product=spec.product, sans=tuple({"type": t, "value": v} for t, v in spec.sans),
            dcv_method=spec.dcv_method, validity_days=spec.validity_days, auto_renew=spec.auto_renew,
            client_reference=spec.client_reference, organization=spec.organization, approver=spec.approver,
            provider_options=dict(spec.provider_options), key_source=key_source, csr_pem=csr_pem,
            sealed_key=sealed, revision=1, revisions=(Revision(1, "order"),), operation="order",
            next_poll_at=iso(now + dt.timedelta(seconds=self.cfg.reconcile_after_s)), submit_attempts=1,
            submitted_at=iso(now),
        )

    def order_request(self, cert: Certificate) -> OrderRequest:
        org = cert.organization or {}
        app = cert.approver or {}
        options = dict(cert.provider_options)
        if org.get("digicert_org_id") and "organization_id" not in options:
            options["organization_id"] = org["digicert_org_id"]
        return OrderRequest(
            client_reference=cert.id, common_name=cert.common_name, product=cert.product,
            sans=tuple(San(s["type"], s["value"]) for s in cert.sans), csr_pem=cert.csr_pem,
            validity_days=cert.validity_days, dcv_method=cert.dcv_method,
            organization=Organization(**{k: v for k, v in org.items() if k in Organization.__dataclass_fields__})
            if org else None,
            approver=Approver(**{k: v for k, v in app.items() if k in Approver.__dataclass_fields__}) if app else None,
            auto_renew=cert.auto_renew, options=options,
        )

    def _submit(self, cert: Certificate, provider: Provider, actor: str, idempotency_key: str | None) -> Certificate:
        try:
            po = provider.submit_order(self.order_request(cert))
        except ProviderError as exc:
            raise ProviderFailure(self._after_failed_submit(cert, exc, actor, idempotency_key), exc) from exc
        return self.apply(cert, po, actor)

    def _after_failed_submit(self, cert: Certificate, exc: ProviderError, actor: str,
                             idempotency_key: str | None) -> Certificate:
        now = self.clock()
        if exc.outcome_unknown:
            # The provider may have the order: leave the intent for reconcile (lookup by client reference).
            after = cert.updated(now, next_poll_at=iso(now + dt.timedelta(seconds=self.cfg.reconcile_after_s)))
            ev = Event(certificate_id=cert.id, kind="order.unconfirmed", occurred_at=iso(now) or "", actor=actor,
                       provider=cert.provider, revision=cert.revision,
                       detail={"error": exc.code, "message": exc.message})
            return self.save(after, [ev])
        after = cert.moved_to(Status.FAILED, now, operation=None,
                              failure={"code": exc.code, "reason": exc.message})
        # Surely not placed and worth retrying: let the same key place it next time.
        release = idempotency_key if idempotency_key and exc.retryable else None
        return self.save(after, [self.event_for(cert, after, actor, error=exc.code)], release_idempotency=release)

    # -- applying what the provider says --------------------------------------------------------
    def apply(self, cert: Certificate, po: ProviderOrder, actor: str) -> Certificate:
        """Move `cert` to what the provider reports (the one code path for submit, refresh,
        poll, reconcile and import sync). Conditional on the version we read."""
        now = self.clock()
        refs = {"provider_order_id": po.provider_order_id, "provider_status": po.raw_status, "on_hold": po.on_hold}
        if po.certificate_id:
            refs["provider_certificate_id"] = po.certificate_id
        claims: tuple[str, ...] = ()
        if po.provider_order_id and po.provider_order_id != cert.provider_order_id:
            claims = (po.provider_order_id,)
        target = po.status
        try:
            if target is Status.ISSUED:
                return self._apply_issued(cert, po, actor, refs, claims)
            if target is Status.PENDING:
                if cert.status is Status.SUBMITTING:
                    after = cert.moved_to(Status.PENDING, now, **refs, poll_attempts=0,
                                          next_poll_at=iso(now + dt.timedelta(seconds=self.cfg.poll_min_interval_s)))
                    ev = self.event_for(cert, after, actor, kind="order.submitted", provider_status=po.raw_status)
                    return self.save(after, [ev], claim_refs=claims)
                if cert.status is Status.PENDING:
                    return self.save(self.rescheduled(cert, now, **refs), claim_refs=claims)
                return cert  # e.g. an issued certificate the provider shows as being reissued
            if target is Status.FAILED and cert.status is Status.PENDING and cert.operation in ("reissue", "renew"):
                return self._revert_operation(cert, actor, po.failure_reason or po.raw_status)
            if cert.status is target:
                return cert
            if target is Status.CANCELLED and cert.status is Status.ISSUED:
                target = Status.REVOKED  # disabled at the provider after issuance: no longer valid
            after = cert.moved_to(target, now, **refs, operation=None,
                                  failure={"code": "provider_" + po.raw_status.lower(),
                                           "reason": po.failure_reason or f"provider status {po.raw_status}"}
                                  if target is Status.FAILED else cert.failure)
            return self.save(after, [self.event_for(cert, after, actor, provider_status=po.raw_status)], claim_refs=claims)
        except TransitionNotAllowed:
            log.info("provider state ignored", extra={"certificate_id": cert.id, "status": cert.status.value,
                                                       "provider_status": po.raw_status})
            return cert

    def _apply_issued(self, cert: Certificate, po: ProviderOrder, actor: str, refs: dict[str, Any],
                      claims: tuple[str, ...]) -> Certificate:
        from chalicelib.x509 import certificates as x509_certificates

        now = self.clock()
        material = po.material
        if material is None:
            material = self.providers(cert.provider).get_order(po.provider_order_id, with_material=True).material
        if material is None:
            raise ProviderFailure(cert, _protocol(cert.provider, "issued order without a certificate"))
        try:
            info = x509_certificates.certificate_info(material.certificate_pem)
        except BadMaterial as exc:
            raise ProviderFailure(cert, _protocol(cert.provider, f"issued certificate does not parse: {exc}")) from exc
        if cert.status is Status.ISSUED and info.serial == cert.serial:
            if refs.get("on_hold") != cert.on_hold:
                return self.save(cert.updated(now, **refs), [self.event_for(cert, cert, actor, kind="certificate.hold",
                                                                           on_hold=refs.get("on_hold"))])
            return cert
        revision = cert.revision
        if cert.status is Status.ISSUED:
            revision = cert.revision + 1  # changed at the provider (out-of-band reissue): a new revision
        sealed = cert.sealed_key
        if material.private_key_pem:
            sealed = self.vault.seal(material.private_key_pem, {"certificate_id": cert.id})
        prefix = cert.s3_prefix(revision)
        rev = Revision(number=revision,
                       reason=(cert.current_revision.reason if cert.current_revision and revision == cert.revision
                               else "provider"),
                       provider_order_id=po.provider_order_id, provider_certificate_id=po.certificate_id,
                       serial=info.serial, not_before=iso(info.not_before), not_after=iso(info.not_after),
                       issued_at=iso(now), s3_prefix=prefix)
        metadata = {
            "certificate_id": cert.id, "revision": revision, "provider": cert.provider,
            "provider_order_id": po.provider_order_id, "provider_certificate_id": po.certificate_id,
            "common_name": info.common_name, "sans": [v for _, v in info.sans], "serial": info.serial,
            "not_before": iso(info.not_before), "not_after": iso(info.not_after),
            "fingerprint_sha256": info.sha256_fingerprint, "issuer": info.issuer_common_name, "issued_at": iso(now),
        }
        self.artifacts.write_revision(cert, revision, material.certificate_pem, material.chain_pem, metadata)
        after = cert.moved_to(
            Status.ISSUED, now, **refs, revision=revision, revisions=cert.with_revision(rev), operation=None,
            not_before=iso(info.not_before), not_after=iso(info.not_after), serial=info.serial,
            fingerprint_sha1=info.sha1_fingerprint, fingerprint_sha256=info.sha256_fingerprint, issuer=info.issuer_common_name, failure=None,
            poll_attempts=0, next_poll_at=None, expiry_notices=(), sealed_key=sealed,
            key_source="provider" if material.private_key_pem else cert.key_source,
        )
        ev = self.event_for(cert, after, actor, kind="certificate.issued", s3_prefix=prefix, serial=info.serial)
        return self.save(after, [ev], claim_refs=claims)

    def rescheduled(self, cert: Certificate, now: dt.datetime, **changes: Any) -> Certificate:
        """Back off: min interval doubling per unanswered check, capped, with full jitter above the floor."""
        attempts = cert.poll_attempts + 1
        ceiling = min(self.cfg.poll_max_interval_s, self.cfg.poll_min_interval_s * (2 ** min(attempts, 20)))
        delay = self.cfg.poll_min_interval_s + random.uniform(0, max(0, ceiling - self.cfg.poll_min_interval_s))  # jitter, not crypto  # nosec B311
        return cert.updated(now, poll_attempts=attempts, next_poll_at=iso(now + dt.timedelta(seconds=delay)), **changes)

    def postpone(self, cert: Certificate, seconds: float) -> Certificate:
        """Leave a due certificate alone for `seconds` (rate limits), without counting an attempt."""
        now = self.clock()
        return self.save(cert.updated(now, next_poll_at=iso(now + dt.timedelta(seconds=seconds))))

    def _revert_operation(self, cert: Certificate, actor: str, reason: str) -> Certificate:
        now = self.clock()
        good = cert.issued_revision
        if good is None:
            after = cert.moved_to(Status.FAILED, now, operation=None, failure={"code": "provider_rejected",
                                                                                "reason": reason})
            return self.save(after, [self.event_for(cert, after, actor)])
        after = cert.moved_to(Status.ISSUED, now, operation=None, revision=good.number,
                              revisions=tuple(r for r in cert.revisions if r.number <= good.number or r.issued_at),
                              next_poll_at=None, poll_attempts=0)
        ev = self.event_for(cert, after, actor, kind="certificate.failed", operation=cert.operation, reason=reason)
        return self.save(after, [ev])

    # -- persistence and events ------------------------------------------------------------------
    def event_for(self, before: Certificate, after: Certificate, actor: str, kind: str | None = None,
               **detail: Any) -> Event:
        ev = transition_event(before, after, actor, self.clock(), kind=kind, **detail)
        if ev.published:
            ev.detail["certificate"] = after.event_summary()
        return ev

    def save(self, after: Certificate, events: list[Event] | None = None, *,
             claim_refs: tuple[str, ...] = (), release_idempotency: str | None = None) -> Certificate:
        """Persist a change with its events (one transaction), then publish what is published."""
        self.store.save(after, events or [], claim_refs=claim_refs, release_idempotency=release_idempotency)
        for ev in events or []:
            if ev.published:
                self.publish_one(ev)
        return after

    def publish_one(self, ev: Event) -> bool:
        """Publish now; on failure the outbox row stays and the next job run retries it."""
        try:
            self.publisher.publish(ev)
        except DependencyFailed as exc:
            log.warning("event publish deferred to the outbox", extra={"event_id": ev.event_id, "error": exc.code})
            return False
        self.store.mark_published(ev, self.clock())
        count("EventsPublished", event=ev.kind, provider=ev.provider or "unknown")
        return True

    def flush_outbox(self, limit: int = 500, grace_s: int = 60) -> int:
        """Publish events whose inline publish did not happen (older than `grace_s`)."""
        sent = 0
        cutoff = self.clock() - dt.timedelta(seconds=grace_s)
        for ev in list(self.store.unpublished(limit, older_than=cutoff)):
            sent += int(self.publish_one(ev))
        return sent

    # -- refresh / reconcile --------------------------------------------------------------------
    def refresh(self, cert: Certificate, actor: str) -> Certificate:
        """Ask the provider now; the same path the poller takes."""
        if cert.status is Status.SUBMITTING:
            return self.reconcile_one(cert, actor, force=True)
        if cert.status in FINAL or not cert.provider_order_id:
            return cert
        provider = self.providers(cert.provider)
        try:
            po = provider.get_order(cert.provider_order_id, with_material=cert.status is Status.PENDING)
        except ProviderError as exc:
            if cert.status is Status.PENDING and not exc.retryable and exc.code == "provider_not_found":
                after = cert.moved_to(Status.FAILED, self.clock(), operation=None,
                                      failure={"code": exc.code, "reason": exc.message})
                return self.save(after, [self.event_for(cert, after, actor)])
            raise ProviderFailure(cert, exc) from exc
        if self._still_the_old_certificate(cert, po):
            found = self._find_replacement(cert, provider)
            if found is None:
                return self.save(self.rescheduled(cert, self.clock()))
            po = found
        return self.apply(cert, po, actor)

    def _still_the_old_certificate(self, cert: Certificate, po: ProviderOrder) -> bool:
        """A reissue/renewal in progress whose order still shows the certificate we already hold
        (e.g. the renewal's own create went unanswered): not an issuance of the new revision."""
        old = cert.issued_revision
        if cert.status is not Status.PENDING or cert.operation not in ("reissue", "renew") or old is None:
            return False
        if po.status is not Status.ISSUED:
            return False
        return bool(po.serial and old.serial and po.serial.lower().lstrip("0") == old.serial.lower().lstrip("0"))

    def _find_replacement(self, cert: Certificate, provider: Provider) -> ProviderOrder | None:
        """Look for the reissued/renewed certificate at the provider (a renewal may be a new order)."""
        old = cert.issued_revision
        req = self.order_request(cert)
        if old and old.provider_order_id:
            req = replace(req, options={**req.options, "renewal_of_order_id": old.provider_order_id})
        try:
            found = provider.find_order(req, since=parse_iso(cert.updated_at))
        except ProviderError as exc:
            raise ProviderFailure(cert, exc) from exc
        if found is None or (old and found.serial and old.serial and found.serial == old.serial):
            return None
        if found.status is Status.ISSUED and found.material is None:
            found = provider.get_order(found.provider_order_id, with_material=True)
        return found

    def reconcile_one(self, cert: Certificate, actor: str, *, force: bool = False) -> Certificate:
        """An intent whose create was never confirmed: adopt the provider's order if it exists,
        otherwise place it once more, otherwise fail it with a reason. `force` looks up now
        (a user refresh or an idempotent replay); placing again waits until the earlier attempt
        can no longer be in flight at the provider, whatever `force` says."""
        if cert.status is not Status.SUBMITTING:
            return cert
        now = self.clock()
        created = parse_iso(cert.created_at) or now
        if not force and (now - created).total_seconds() < self.cfg.reconcile_after_s:
            return cert
        provider = self.providers(cert.provider)
        req = self.order_request(cert)
        try:
            found = provider.find_order(req, since=created - dt.timedelta(minutes=5))
        except ProviderError as exc:
            raise ProviderFailure(cert, exc) from exc
        if found is not None:
            owner = self.store.cert_id_for_ref(cert.provider, found.provider_order_id)
            if owner is None or owner == cert.id:
                adopted = self.apply(cert, found, actor)
                self._audit(adopted, actor, "order.adopted", provider_order_id=found.provider_order_id)
                return adopted
        last_try = parse_iso(cert.submitted_at) or created
        if (now - last_try).total_seconds() < self.resubmit_after_s():
            return cert  # the first create may still be running at the provider: look again later
        if cert.submit_attempts < 2:
            claimed = self.save(cert.updated(now, submit_attempts=cert.submit_attempts + 1, submitted_at=iso(now),
                                              next_poll_at=iso(now + dt.timedelta(seconds=self.resubmit_after_s()))))
            self._audit(claimed, actor, "order.resubmitted", reason="not found at the provider")
            return self._submit(claimed, provider, actor, None)
        after = cert.moved_to(Status.FAILED, now, operation=None,
                              failure={"code": "not_found_at_provider",
                                       "reason": "the order was not found at the provider after a retry"})
        return self.save(after, [self.event_for(cert, after, actor)])

    def resubmit_after_s(self) -> float:
        """How long an unanswered create may still be running at the provider."""
        return max(float(self.cfg.reconcile_after_s), 2 * self.cfg.provider_read_timeout_s + 1)

    def _audit(self, cert: Certificate, actor: str, kind: str, **detail: Any) -> None:
        ev = Event(certificate_id=cert.id, kind=kind, occurred_at=iso(self.clock()) or "", actor=actor,
                   provider=cert.provider, revision=cert.revision, detail={k: v for k, v in detail.items() if v})
        self.store.append_events(cert.id, [ev])

    # -- reissue / renew ---------------------------------------------------------------------------
    def reissue(self, principal: str, cert: Certificate, body: Any) -> Certificate:
        return self._change(principal, cert, body, "reissue")

    def renew(self, principal: str, cert: Certificate, body: Any, actor: str | None = None) -> Certificate:
        return self._change(principal, cert, body, "renew", actor=actor)

    def _change(self, principal: str, cert: Certificate, body: Any, op: str, actor: str | None = None) -> Certificate:
        from chalicelib.service.requests import validate_change

        caps = self.capabilities(cert.provider)
        if not getattr(caps, op):
            raise ValidationFailed([FieldError("operation", f"{cert.provider} cannot {op}")],
                                   code="unsupported_operation")
        changes = validate_change(body, CHANGE_FIELDS)
        if cert.status is not Status.ISSUED or cert.operation == "revoke":
            state = "being revoked" if cert.operation == "revoke" else cert.public_status
            raise Conflict(f"only an issued certificate can be {op}ed; this one is {state}",
                           code="invalid_state")
        draft = self._changed_spec(cert, changes)
        provider = self.providers(cert.provider)
        now = self.clock()
        n = cert.revision + 1
        started = cert.moved_to(Status.PENDING, now, revision=n, revisions=cert.with_revision(Revision(n, op)),
                                operation=op, poll_attempts=0, common_name=draft.common_name, sans=draft.sans,
                                csr_pem=draft.csr_pem, sealed_key=draft.sealed_key, key_source=draft.key_source,
                                dcv_method=draft.dcv_method, validity_days=draft.validity_days,
                                organization=draft.organization, approver=draft.approver,
                                next_poll_at=iso(now + dt.timedelta(seconds=self.cfg.poll_min_interval_s)))
        started = self.save(started, [self.event_for(cert, started, actor or principal, kind=f"certificate.{op}_requested")])
        req = self.order_request(started)
        try:
            po = (provider.reissue if op == "reissue" else provider.renew)(cert.provider_order_id or "", req)
        except ProviderError as exc:
            if exc.outcome_unknown:
                raise ProviderFailure(started, exc) from exc  # stays pending; the poller finds out
            raise ProviderFailure(self._revert_operation(started, actor or principal, exc.message), exc) from exc
        return self.apply(started, po, actor or principal)

    def _changed_spec(self, cert: Certificate, changes: Mapping[str, Any]) -> Certificate:
        """Validate a reissue/renew body against the certificate's provider and fold it in."""
        from chalicelib.service.requests import validate_order

        base: dict[str, Any] = {"provider": cert.provider, "product": cert.product, "common_name": cert.common_name,
                                "sans": [dict(s) for s in cert.sans], "validity_days": cert.validity_days,
                                "dcv_method": cert.dcv_method}
        if cert.organization:
            base["organization"] = cert.organization
        if cert.approver:
            base["approver"] = cert.approver
        base.update({k: v for k, v in changes.items() if k not in ("csr", "key")})
        if "common_name" in changes and "sans" not in changes:
            base.pop("sans")
        caps = self.capabilities(cert.provider)
        if "csr" in changes:
            base["csr"] = changes["csr"]
        elif "key" in changes:
            base["key"] = changes["key"]
        elif cert.key_source == "csr" and caps.accepts_csr:
            base["csr"] = cert.csr_pem
        spec = validate_order(base, self.capabilities, {}, providers=self.directory.names())
        key_source, csr_pem, sealed = cert.key_source, cert.csr_pem, cert.sealed_key
        if spec.csr_pem:
            key_source, csr_pem, sealed = "csr", spec.csr_pem, None
        elif spec.key_type and caps.accepts_csr:
            from chalicelib.x509 import csr as x509_csr

            private_pem, csr_pem = x509_csr.generate_key_and_csr(spec.key_type, spec.key_size, spec.common_name,
                                                               spec.sans, spec.organization)
            sealed = self.vault.seal(private_pem, {"certificate_id": cert.id})
            key_source = "gateway"
        return replace(cert, common_name=spec.common_name, sans=tuple({"type": t, "value": v} for t, v in spec.sans),
                       csr_pem=csr_pem, sealed_key=sealed, key_source=key_source, dcv_method=spec.dcv_method,
                       validity_days=spec.validity_days, organization=spec.organization, approver=spec.approver)

    # -- revoke / cancel -----------------------------------------------------------------------------
    def revoke(self, principal: str, cert: Certificate, body: Any) -> Certificate:
        from chalicelib.service.requests import validate_revoke

        reason, comments = validate_revoke(body)
        if not self.capabilities(cert.provider).revoke:
            raise ValidationFailed([FieldError("provider", f"{cert.provider} cannot revoke certificates")],
                                   code="unsupported_operation")
        if cert.status is not Status.ISSUED:
            raise Conflict(f"only an issued certificate can be revoked; this one is {cert.public_status}",
                           code="invalid_state")
        provider = self.providers(cert.provider)
        # Claim the certificate first (conditional on the version we read): a reissue or renewal
        # racing this revoke either claimed it before us (we stop here with a 409) or fails to.
        cert = self.save(cert.updated(self.clock(), operation="revoke"))
        try:
            po = provider.revoke(cert.provider_order_id or "", reason)
        except ProviderError as exc:
            raise ProviderFailure(self.save(cert.updated(self.clock(), operation=None)), exc) from exc
        now = self.clock()
        if po.status is Status.REVOKED:
            after = cert.moved_to(Status.REVOKED, now, provider_status=po.raw_status, operation=None)
            return self.save(after, [self.event_for(cert, after, principal, reason=reason, comments=comments)])
        self._audit(cert, principal, "certificate.revocation_requested", reason=reason, comments=comments,
                    provider_status=po.raw_status)
        return self.save(cert.updated(now, operation=None))

    def cancel(self, principal: str, cert: Certificate) -> Certificate:
        if not self.capabilities(cert.provider).cancel:
            raise ValidationFailed([FieldError("provider", f"{cert.provider} orders cannot be cancelled")],
                                   code="unsupported_operation")
        if cert.status not in (Status.PENDING, Status.SUBMITTING) or cert.operation in ("reissue", "renew"):
            raise Conflict(f"only a pending order can be cancelled; this one is {cert.public_status}"
                           + (f" ({cert.operation} in progress)" if cert.operation in ("reissue", "renew") else ""),
                           code="invalid_state")
        if not cert.provider_order_id:
            cert = self.reconcile_one(cert, principal, force=True)
            if cert.status is not Status.PENDING:
                raise Conflict(f"the order is {cert.public_status} and cannot be cancelled", code="invalid_state")
        provider = self.providers(cert.provider)
        try:
            po = provider.cancel(cert.provider_order_id or "")
        except ProviderError as exc:
            raise ProviderFailure(cert, exc) from exc
        if po.status is Status.ISSUED:
            return self.apply(cert, po, principal)
        now = self.clock()
        after = cert.moved_to(Status.CANCELLED, now, provider_status=po.raw_status, operation=None)
        return self.save(after, [self.event_for(cert, after, principal)])

    # -- validation (DCV) ----------------------------------------------------------------------------
    def validation(self, cert: Certificate) -> dict[str, Any]:
        caps = self.capabilities(cert.provider)
        details: list[Any] = []
        if caps.dcv_methods and cert.provider_order_id and cert.status in (Status.PENDING, Status.ISSUED):
            try:
                details = self.providers(cert.provider).validation(cert.provider_order_id)
            except ProviderError as exc:
                raise ProviderFailure(cert, exc) from exc
        return {"certificate_id": cert.id, "status": cert.public_status, "method": cert.dcv_method,
                "domains": [d.to_dict() for d in details]}

    def retry_validation(self, principal: str, cert: Certificate, body: Any) -> dict[str, Any]:
        from chalicelib.service.requests import validate_dcv_retry

        caps = self.capabilities(cert.provider)
        if not caps.dcv_methods:
            raise ValidationFailed([FieldError("provider", f"{cert.provider} has no domain control validation")],
                                   code="unsupported_operation")
        args = validate_dcv_retry(body, caps)
        if cert.status is not Status.PENDING or not cert.provider_order_id:
            raise Conflict(f"validation applies to pending orders; this one is {cert.public_status}",
                           code="invalid_state")
        try:
            details = self.providers(cert.provider).retry_validation(cert.provider_order_id, **args)
        except ProviderError as exc:
            raise ProviderFailure(cert, exc) from exc
        if args.get("method") and args["method"] != cert.dcv_method:
            self.save(cert.updated(self.clock(), dcv_method=args["method"]))
        self._audit(cert, principal, "validation.retried", method=args.get("method"), domain=args.get("domain"))
        return {"certificate_id": cert.id, "status": cert.public_status, "method": args.get("method") or cert.dcv_method,
                "domains": [d.to_dict() for d in details]}

    # -- downloads ---------------------------------------------------------------------------------
    def download(self, cert: Certificate, fmt: str, *, revision: int | None = None,
                 passphrase: str | None = None) -> tuple[bytes, str, str]:
        from chalicelib.x509 import formats as x509_formats

        rev = self._downloadable_revision(cert, revision)
        leaf, chain = self.artifacts.read_revision(cert, rev.number)
        if fmt == "pkcs12":
            if not cert.sealed_key:
                raise Conflict("certgate holds no private key for this certificate (you keep your own key)",
                               code="no_private_key")
            if passphrase is None:
                raise ValidationFailed([FieldError("passphrase", "is required for pkcs12 (POST the download)")])
            try:
                key_pem = self.vault.open(cert.sealed_key, {"certificate_id": cert.id})
            except SealedKeyInvalid:
                raise  # corrupted at rest: an internal error, reported with a request id
            except KeyVaultError as exc:
                raise ServiceUnavailable("the key vault (KMS) is unreachable; retry later",
                                         code="key_vault_unavailable", headers={"Retry-After": "10"}) from exc
            data = x509_formats.render_pkcs12(leaf, chain, key_pem, passphrase, cert.common_name)
            return data, "application/x-pkcs12", f"{cert.id}-r{rev.number}.p12"
        data, ctype, ext = x509_formats.render(fmt, leaf, chain)
        return data, ctype, f"{cert.id}-r{rev.number}-{fmt}.{ext.lstrip('.')}"

    def _downloadable_revision(self, cert: Certificate, revision: int | None) -> Revision:
        if revision is not None:
            for r in cert.revisions:
                if r.number == revision and r.issued_at:
                    return r
            raise NotFound(f"revision {revision} of {cert.id} was never issued")
        rev = cert.issued_revision
        if rev is None:
            raise Conflict(f"the certificate is {cert.public_status}; nothing to download yet", code="not_issued")
        return rev


def _protocol(provider: str, message: str) -> ProviderError:
    from chalicelib.core.errors import ProviderProtocolError

    return ProviderProtocolError(provider, message)
