"""Use cases of the certificate lifecycle. Routes and jobs call these; nothing else decides.

Ordering follows design.md 2.1: validate everything, write the intent (status `submitting`,
our certificate id as the provider's client reference), then call the provider; whatever happens
after that is recorded, and an unanswered create is left for `reconcile` — never retried blindly."""

from __future__ import annotations

import datetime as dt
import logging
import random
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from chalicelib.core import renewal
from chalicelib.core.errors import (
    BadMaterial,
    NotFound,
    OwnershipUnproven,
    ProviderError,
    ProviderFailure,
    TransitionNotAllowed,
)
from chalicelib.core.model import (
    FINAL,
    Certificate,
    Event,
    Failure,
    Revision,
    Status,
    iso,
    parse_iso,
    transition_event,
    utcnow,
)
from chalicelib.core.provider import Capabilities, OrderRequest, ProviderOrder
from chalicelib.observability import count
from chalicelib.service import changes, dcv, delivery, dns_validation, downloads, ordering, outbox, recovery
from chalicelib.service.ordering import OrderResult
from chalicelib.service.policy import Policy
from chalicelib.service.ports import (
    ArtifactStore,
    CertificateDelivery,
    CertificateStore,
    DnsZones,
    EventPublisher,
    KeyVault,
    Provider,
    Providers,
)

log = logging.getLogger("certgate.service")
_CERT_ID = re.compile(r"^crt_[0-9a-f]{32}$")


class CertificateService:
    def __init__(self, cfg: Policy, store: CertificateStore, artifacts: ArtifactStore, publisher: EventPublisher,
                 vault: KeyVault, directory: Providers, clock: Callable[[], dt.datetime] = utcnow, *,
                 more_publishers: Sequence[EventPublisher] = (), delivery: CertificateDelivery | None = None,
                 dns: DnsZones | None = None) -> None:
        self.cfg = cfg
        self.store = store
        self.artifacts = artifacts
        self.publisher = publisher
        # Every publish target, SNS first (e.g. the EventBridge bus after it): outbox.py sends to each.
        self.publishers: tuple[EventPublisher, ...] = (publisher, *more_publishers)
        self.delivery = delivery  # ACM import (service/delivery.py); None: not offered
        self.dns = dns  # Route 53 validation records (service/dns_validation.py); None: no zone allowed
        self.vault = vault
        self.directory = directory
        self.clock = clock
        self._authority_ids: dict[str, tuple[float, frozenset[str]]] = {}

    def providers(self, name: str) -> Provider:
        """The configured adapter of provider `name` (ProviderNotConfigured when it has no secret)."""
        return self.directory.get(name)

    def capabilities(self, name: str) -> Capabilities:
        return self.directory.capabilities(name)

    def authority_ids(self, name: str, provider: Provider, *, fresh: bool = False) -> frozenset[str]:
        """The ids of provider `name`'s CAs, read at most every ordering.AUTHORITIES_TTL_S (or now)."""
        now = time.monotonic()
        cached = self._authority_ids.get(name)
        if cached is None or fresh or now - cached[0] > ordering.AUTHORITIES_TTL_S:
            cached = (now, frozenset(str(a.ca_id) for a in provider.list_authorities()))
            self._authority_ids[name] = cached
        return cached[1]

    def forget_authorities(self, name: str) -> None:
        """A CA was created or deleted here: the next order reads the list again."""
        self._authority_ids.pop(name, None)

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
        if not po.status_recognized and cert.status is not Status.SUBMITTING:
            return self._unmapped(cert, po, actor, refs, claims)
        refs["provider_status_unmapped"] = False  # an unknown status of a create is surfaced on its first poll
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
                return self.revert_operation(cert, actor, po.failure_reason or po.raw_status)
            if cert.status is target:
                return cert
            if target is Status.CANCELLED and cert.status is Status.ISSUED:
                target = Status.REVOKED  # disabled at the provider after issuance: no longer valid
            after = cert.moved_to(target, now, **refs, operation=None,
                                  failure=Failure("provider_" + po.raw_status.lower(),
                                                  po.failure_reason or f"provider status {po.raw_status}")
                                  if target is Status.FAILED else cert.failure)
            return self.save(after, [self.event_for(cert, after, actor, provider_status=po.raw_status)], claim_refs=claims)
        except TransitionNotAllowed:
            log.info("provider state ignored", extra={"certificate_id": cert.id, "status": cert.status.value,
                                                       "provider_status": po.raw_status})
            return cert

    def _unmapped(self, cert: Certificate, po: ProviderOrder, actor: str, refs: dict[str, Any],
                  claims: tuple[str, ...]) -> Certificate:
        """A provider status the adapter does not know: keep our last known status (never demote
        an issued certificate to pending, where DELETE could cancel it), record the raw value and
        surface it once per value (event + metric), not on every poll."""
        now = self.clock()
        refs = {**refs, "provider_status_unmapped": True, "on_hold": cert.on_hold}
        if cert.provider_status_unmapped and cert.provider_status == po.raw_status:
            return self.save(self.rescheduled(cert, now)) if cert.due_kind else cert
        after = cert.updated(now, **refs)
        if after.due_kind:
            after = self.rescheduled(after, now)
        ev = Event(certificate_id=cert.id, kind="certificate.provider_state_unmapped", occurred_at=iso(now) or "",
                   actor=actor, provider=cert.provider, revision=cert.revision,
                   detail={"provider_status": po.raw_status, "kept_status": cert.status.public})
        log.warning("provider status not in the status table; last known status kept",
                    extra={"certificate_id": cert.id, "provider": cert.provider, "provider_status": po.raw_status,
                           "status": cert.status.value})
        count("ProviderStateUnmapped", 1, provider=cert.provider)
        return self.save(after, [ev], claim_refs=claims)

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
            if cert.provider_status_unmapped:
                return self.save(cert.updated(now, **refs))  # the provider speaks a known status again
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
            poll_attempts=0, next_poll_at=None, sealed_key=sealed,
            key_source="provider" if material.private_key_pem else cert.key_source,
        )
        # A paid renewal's issuance moves the plan on (core/renewal.py coverage_until).
        after = replace(after, coverage_until=iso(renewal.coverage_until(after, self.capabilities(cert.provider).renewal)))
        ev = self.event_for(cert, after, actor, kind="certificate.issued", s3_prefix=prefix, serial=info.serial)
        return delivery.after_issued(self, self.save(after, [ev], claim_refs=claims))

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

    def revert_operation(self, cert: Certificate, actor: str, reason: str) -> Certificate:
        now = self.clock()
        good = cert.issued_revision
        if good is None:
            after = cert.moved_to(Status.FAILED, now, operation=None, failure=Failure("provider_rejected", reason))
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

    def filed(self, cert: Certificate) -> Certificate:
        """`cert` with its `next_action_at` as it stands (core/renewal.py): what every write of a
        certificate stores (save here, the create of ordering.py, the insert of an import), so that
        renew_expiring reads only the certificates that have something due."""
        return replace(cert, next_action_at=iso(renewal.next_action_at(cert, self.cfg.renewal)))

    def save(self, after: Certificate, events: list[Event] | None = None, *,
             claim_refs: tuple[str, ...] = (), release_idempotency: str | None = None) -> Certificate:
        """Persist a change with its events (one transaction), then publish what is published.
        Returns the certificate as stored (with its next_action_at)."""
        after = self.filed(after)
        self.store.save(after, events or [], claim_refs=claim_refs, release_idempotency=release_idempotency)
        after = replace(after, first_events=())  # the save filed them as rows
        for ev in events or []:
            if ev.published:
                outbox.publish_one(self, ev)
        return dns_validation.after_saved(self, delivery.after_saved(self, after))



    # -- refresh / reconcile --------------------------------------------------------------------
    def refresh(self, cert: Certificate, actor: str) -> Certificate:
        """Ask the provider now; the same path the poller takes."""
        if cert.status is Status.SUBMITTING:
            return self.reconcile_one(cert, actor, force=True)
        if cert.status in FINAL or not cert.provider_order_id:
            return cert
        if cert.operation in ("revoke", "cancel") or cert.revocation_waiting:
            return recovery.recover(self, cert, actor)
        provider = self.providers(cert.provider)
        order_id = cert.provider_order_id
        cert = dns_validation.step(self, cert, provider, actor)  # Route 53 validation records, if automated
        try:
            po = provider.get_order(order_id, with_material=cert.status is Status.PENDING)
        except ProviderError as exc:
            if cert.status is Status.PENDING and not exc.retryable and exc.code == "provider_not_found":
                after = cert.moved_to(Status.FAILED, self.clock(), operation=None,
                                      failure=Failure(exc.code, exc.message))
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
        req = ordering.order_request(self, cert)
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
        req = ordering.order_request(self, cert)
        try:
            found = provider.find_order(req, since=created - dt.timedelta(minutes=5))
        except OwnershipUnproven as exc:
            return ordering.outcome_unknown(self, cert, exc, actor)  # never adopted, never placed again
        except ProviderError as exc:
            raise ProviderFailure(cert, exc) from exc
        if found is not None:
            adopted = ordering.adopt(self, cert, found, actor)  # another record's order: outcome_unknown
            self.audit(adopted, actor, "order.adopted", provider_order_id=found.provider_order_id)
            return adopted
        last_try = parse_iso(cert.submitted_at) or created
        if (now - last_try).total_seconds() < self.resubmit_after_s():
            return cert  # the first create may still be running at the provider: look again later
        if cert.submit_attempts < 2:
            claimed = self.save(cert.updated(now, submit_attempts=cert.submit_attempts + 1, submitted_at=iso(now),
                                              next_poll_at=iso(now + dt.timedelta(seconds=self.resubmit_after_s()))))
            self.audit(claimed, actor, "order.resubmitted", reason="not found at the provider")
            return ordering._submit(self, claimed, provider, actor, None)
        after = cert.moved_to(Status.FAILED, now, operation=None,
                              failure=Failure("not_found_at_provider", "the order was not found at the provider after a retry"))
        return self.save(after, [self.event_for(cert, after, actor)])

    def recover(self, cert: Certificate, actor: str) -> Certificate:
        """Finish an interrupted reissue, renewal, revoke or cancel to the provider's truth
        (service/recovery.py); an unconfirmed create goes to reconcile_one."""
        if cert.status is Status.SUBMITTING:
            return self.reconcile_one(cert, actor)
        return recovery.recover(self, cert, actor)

    def resubmit_after_s(self) -> float:
        """How long an unanswered create may still be running at the provider."""
        return max(float(self.cfg.reconcile_after_s), 2 * self.cfg.provider_read_timeout_s + 1)

    def audit(self, cert: Certificate, actor: str, kind: str, **detail: Any) -> None:
        ev = Event(certificate_id=cert.id, kind=kind, occurred_at=iso(self.clock()) or "", actor=actor,
                   provider=cert.provider, revision=cert.revision, detail={k: v for k, v in detail.items() if v})
        self.store.append_events(cert.id, [ev])

    # -- reissue / renew ---------------------------------------------------------------------------




    # -- revoke / cancel -----------------------------------------------------------------------------


    # -- validation (DCV) ----------------------------------------------------------------------------


    # -- downloads ---------------------------------------------------------------------------------

    # -- use cases by concern (one module each; these are the service's public face) ----------------
    def publish_one(self, ev: Event) -> bool:
        return outbox.publish_one(self, ev)

    def flush_outbox(self, limit: int = 500, grace_s: int = 60) -> int:
        return outbox.flush_outbox(self, limit, grace_s)

    def order(self, principal: str, body: Any, idempotency_key: str | None) -> OrderResult:
        return ordering.order(self, principal, body, idempotency_key)

    def order_request(self, cert: Certificate) -> OrderRequest:
        return ordering.order_request(self, cert)

    def reissue(self, principal: str, cert: Certificate, body: Any, actor: str | None = None) -> Certificate:
        return changes.reissue(self, principal, cert, body, actor)

    def renew(self, principal: str, cert: Certificate, body: Any, actor: str | None = None) -> Certificate:
        return changes.renew(self, principal, cert, body, actor)

    def revoke(self, principal: str, cert: Certificate, body: Any) -> Certificate:
        return changes.revoke(self, principal, cert, body)

    def cancel(self, principal: str, cert: Certificate) -> Certificate:
        return changes.cancel(self, principal, cert)

    def validation(self, cert: Certificate) -> dcv.ValidationSummary:
        return dcv.validation(self, cert)

    def retry_validation(self, principal: str, cert: Certificate, body: Any) -> dcv.ValidationSummary:
        return dcv.retry_validation(self, principal, cert, body)

    def download(self, cert: Certificate, fmt: str, *, revision: int | None = None,
                 passphrase: str | None = None) -> tuple[bytes, str, str]:
        return downloads.download(self, cert, fmt, revision=revision, passphrase=passphrase)



def _protocol(provider: str, message: str) -> ProviderError:
    from chalicelib.core.errors import ProviderProtocolError

    return ProviderProtocolError(provider, message)
