"""Inventory: import the certificates that already exist at a provider, and keep them in sync.

An import (core/imports.py, kept by the store) is owned by the principal that started it: provider,
filters, status (queued | running | completed | failed), counters, and the cursor to resume from
(the provider's page token plus how many items of that page are done). `POST /imports` does a
bounded amount of work inline (`Policy.import_inline_s`, 0 = none) and `sync_inventory` does the
rest: the store hands it only the imports whose time has come (`imports_page`) — a running one right
away (or after a provider's Retry-After), a completed one once per sync interval
(`Policy.sync_interval_for(provider)`), when it is re-run from the first page to notice
out-of-band changes. The knobs come from the settings (CERTGATE_IMPORT_INLINE_S,
CERTGATE_IMPORT_CONCURRENCY, CERTGATE_SYNC_INTERVAL_S[_<PROVIDER>]); this module reads no environment.

Never a duplicate: every listed item is looked up by its provider reference (REF#provider#id)
first, and a new one is claimed there (a conditional put) before its certificate is written under
the claimed id. Whatever a re-run, a resumed page or a concurrent import sees again is therefore
recognised, not created again. No transaction is needed: a claim whose certificate never got
written (a run that died in between) is found by the next run, which writes the certificate under
the claimed id — the conditional put of the certificate lets only one writer win.

What is imported: issued, revoked and expired certificates (their facts parsed from the downloaded
certificate, their PEMs in S3 as revision 1) and pending orders (left to poll_pending). Failed and
cancelled orders have no certificate and are skipped, as are certificates another principal already
holds in certgate and orders certgate itself placed: a client reference naming one of our
certificates, or certgate's ownership mark (TinyCert's OU; an intent that `reconcile` adopts, or an
order an operator must decide on) — and anything a live intent may own: while a certgate record of
this provider with the same common name is `submitting` (its create in flight or its answer lost),
an unmarked certificate of that name is left for a later sync. The import's `skipped` map counts
each reason: not_owned, placed_by_certgate, in_flight, not_wanted (a status filter), failed,
cancelled, superseded, no_certificate, raced.

Items of a page are handled by a few threads (`Policy.import_concurrency`): provider round trips
dominate. The cursor keeps the page token, the index below which everything is done
and the indexes done beyond it, so a run stopped by a 429 in the middle of a batch resumes exactly.

TinyCert reissues under a new certificate id with the same key, and the old id turns `obsolete`
(never listed again). The stable handle is therefore the key: every TinyCert certificate an import
records also gets a hint REF#tinycert#spki:<sha256 of the public key>; a new id whose key is on a
live certificate of the same owner is that certificate's next revision (certificate.issued), not a
new certificate. Certificates ordered through certgate carry no such hint, so a console reissue of
one of them shows up as a new imported certificate.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from chalicelib.core.errors import (
    AlreadyExists,
    BadMaterial,
    ConcurrentModification,
    DependencyFailed,
    FieldError,
    NotFound,
    ProviderError,
    ProviderNotFound,
    ProviderProtocolError,
    ValidationFailed,
)
from chalicelib.core.imports import COUNTERS as COUNTERS  # the counters an import reports (OpenAPI)
from chalicelib.core.imports import ImportJob, zero_counters
from chalicelib.core.model import Certificate, Event, Revision, San, Status, iso, new_certificate_id, parse_iso
from chalicelib.core.provider import CertificateMaterial, Page, ProviderOrder
from chalicelib.service.ports import Provider, Remaining
from chalicelib.service.requests import validate_import
from chalicelib.service.sweeps import LEFT, RUN_STATS, Sweep, run_sweep

if TYPE_CHECKING:
    from chalicelib.service.certificates import CertificateService

log = logging.getLogger("certgate.imports")


TINYCERT_STATE_BITS: Mapping[str, int] = {"expired": 1, "good": 2, "revoked": 4, "hold": 8}
IMPORTABLE = frozenset({Status.ISSUED, Status.REVOKED, Status.EXPIRED, Status.PENDING})
RETRY_AFTER_S = 60.0  # a retryable provider failure without Retry-After: resume this much later
LEASE_GRACE_S = 60.0  # a run's lease outlives its time budget by this much (then another run may resume)
CHECKPOINT_EVERY = 50  # items between cursor saves inside a long page
IN_FLIGHT_SCAN = 10_000  # live intents read per page (intents live seconds to minutes)
_IMPORT_ID = re.compile(r"^imp_[0-9a-f]{32}$")
_CERTGATE_REF = re.compile(r"^(crt_[0-9a-f]{32})")



def listing_filters(job: ImportJob) -> dict[str, Any]:
    """What the provider's list call is asked for. Status filters are applied by `wants` instead,
    and only to what gets created: a certificate revoked after its import must still be listed
    for the sync to notice."""
    out = {k: v for k, v in job.filters.items() if k in ("ca_id", "plan", "common_name")}
    if job.page_size:
        out["limit"] = job.page_size
    return out


def wants(job: ImportJob, po: ProviderOrder) -> bool:
    if "state" in job.filters:
        return bool(TINYCERT_STATE_BITS.get(po.raw_status.lower(), 0) & int(job.filters["state"]))
    if "status" in job.filters:
        return bool(po.status.value == job.filters["status"])
    return True


# -- one run over the provider's listing -------------------------------------------------------------

class _LeaseLost(Exception):
    """Another run took this import over (our lease had run out)."""


def _same_serial(a: str | None, b: str | None) -> bool:
    try:
        return int(str(a), 16) == int(str(b), 16)
    except ValueError:
        return a == b


def _unchanged(cert: Certificate, po: ProviderOrder) -> bool:
    """Whether the listing shows nothing new about a certificate we hold (no download needed).
    Final certificates cannot change; waiting ones belong to poll_pending."""
    if cert.status is not Status.ISSUED:
        return True
    if po.status is not Status.ISSUED or po.on_hold != cert.on_hold:
        return False
    if po.serial:  # Resello and DigiCert list the serial: a reissue changes it
        return _same_serial(po.serial, cert.serial)
    stored = parse_iso(cert.not_after)
    if po.not_after is not None and stored is not None:  # TinyCert lists only the expiry
        return abs((po.not_after - stored).total_seconds()) < 2
    return True


def _newer(candidate: str, current: str | None) -> bool:
    return candidate.isdigit() and (current or "").isdigit() and int(candidate) > int(current or "0")


def _key_ref(public_key_fingerprint: str) -> str:
    return "spki:" + public_key_fingerprint.replace(":", "").lower()


class _Run:
    """Reads the provider's listing from the import's cursor to the end, or until out of time."""

    def __init__(self, svc: CertificateService, job: ImportJob, *, actor: str, out_of_time: Callable[[], bool],
                 now: dt.datetime) -> None:
        self.svc, self.job, self.actor, self.out_of_time = svc, job, actor, out_of_time
        self.started, self.t0 = now, time.monotonic()
        self.since_checkpoint = 0
        self.tally: Counter[str] = Counter()
        self._provider: Provider | None = None
        self._in_flight: frozenset[str] | None = None  # common names of live intents (per page)
        self._in_flight_lock = threading.Lock()

    @property
    def provider(self) -> Provider:
        if self._provider is None:
            self._provider = self.svc.providers(self.job.provider)
        return self._provider

    def now(self) -> dt.datetime:
        """The run's clock: the time it was started for (jobs may be run 'as of' a time) plus elapsed."""
        return self.started + dt.timedelta(seconds=time.monotonic() - self.t0)

    # -- persistence -------------------------------------------------------------------------
    def save(self) -> None:
        job = self.job
        job.version += 1
        job.updated_at = iso(self.now()) or job.updated_at
        try:
            self.svc.store.save_import(job)
        except ConcurrentModification as exc:
            raise _LeaseLost(job.id) from exc
        self.since_checkpoint = 0

    def claim(self, lease_s: float, *, restart: bool) -> None:
        job = self.job
        if restart:  # an incremental re-run: from the first page, fresh counters
            job.counters, job.skipped = zero_counters(), {}
            job.cursor_token, job.cursor_index, job.cursor_done = None, 0, []
            job.last_error, job.finished_at = None, None
        job.status = "running"
        job.run_started_at = job.run_started_at if not restart and job.run_started_at else iso(self.now())
        job.next_run_at = iso(self.now() + dt.timedelta(seconds=lease_s))
        self.save()

    # -- the loop ---------------------------------------------------------------------------------
    def run(self, first: Page | None = None) -> ImportJob:
        workers = max(1, self.svc.cfg.import_concurrency)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"import-{self.job.provider}") as pool:
            try:
                self._pages(first, pool, workers)
            except _LeaseLost:
                log.info("import taken over by another run", extra={"import_id": self.job.id})
                self.tally["raced"] += 1
        return self.job

    def _pages(self, page: Page | None, pool: ThreadPoolExecutor, workers: int) -> None:
        job = self.job
        while True:
            if page is None:
                if self.out_of_time():
                    return self._pause()
                try:
                    page = self.provider.list_certificates(listing_filters(job), job.cursor_token)
                except ProviderError as exc:
                    return self._stopped_by(exc, None)
                if page.next_token is not None and page.next_token == job.cursor_token:
                    return self._stopped_by(ProviderError(job.provider, "the listing repeats its page"), None)
            self._in_flight = None  # read again for this page, after it was listed (see _may_be_in_flight)
            skip = set(job.cursor_done)
            todo = [i for i in range(job.cursor_index, len(page.items)) if i not in skip]
            for start in range(0, len(todo), workers):
                if self.out_of_time():
                    return self._pause()
                stop = self._batch(page, todo[start:start + workers], pool)
                if stop is not None:
                    return self._stopped_by(*stop)
                if self.since_checkpoint >= CHECKPOINT_EVERY:
                    self.save()
            job.counters["pages"] += 1
            if page.next_token is None:
                return self._complete()
            job.cursor_token, job.cursor_index, job.cursor_done = page.next_token, 0, []
            self.save()
            page = None

    def _batch(self, page: Page, indexes: list[int],
               pool: ThreadPoolExecutor) -> tuple[ProviderError, ProviderOrder] | None:
        """Handle these items of the page at once; count what finished, move the cursor over it,
        and hand back the first retryable failure (429/5xx: stop, resume from there later)."""
        job = self.job
        futures = [pool.submit(self._item, page.items[i]) for i in indexes]
        done = set(job.cursor_done)
        stop: tuple[ProviderError, ProviderOrder] | None = None
        for i, fut in zip(indexes, futures, strict=True):
            po = page.items[i]
            try:
                outcome = fut.result()
            except ProviderError as exc:
                # 429/5xx/timeouts pass: stop here and resume later. A malformed answer about one
                # certificate would fail the same way on every resume: count it and go on.
                if exc.retryable and not isinstance(exc, ProviderProtocolError):
                    stop = stop or (exc, po)
                    continue
                outcome = self._failed_item(exc.code, exc.message, po)
            except BadMaterial as exc:  # a certificate that does not parse
                outcome = self._failed_item("bad_certificate", str(exc), po)
            self._count(outcome)
            done.add(i)
        while job.cursor_index in done:
            done.discard(job.cursor_index)
            job.cursor_index += 1
        job.cursor_done = sorted(done)
        self.since_checkpoint += len(indexes)
        return stop

    def _count(self, outcome: str) -> None:
        job = self.job
        job.counters["found"] += 1
        if outcome.startswith("skipped:"):
            reason = outcome.split(":", 1)[1]
            job.counters["skipped"] += 1
            job.skipped[reason] = job.skipped.get(reason, 0) + 1
        else:
            job.counters[outcome] += 1
        self.tally[outcome.split(":", 1)[0]] += 1

    def _error(self, code: str, message: str, po: ProviderOrder | None) -> None:
        self.job.last_error = {"code": code, "message": message[:300], "at": iso(self.now()),
                               "provider_order_id": po.provider_order_id if po else None}

    def _failed_item(self, code: str, message: str, po: ProviderOrder) -> str:
        log.warning("import item failed", extra={"import_id": self.job.id, "provider_order_id": po.provider_order_id,
                                                 "error": code})
        self._error(code, message, po)
        return "errors"

    def _pause(self) -> None:
        """Out of time: the next sync_inventory run resumes from the cursor."""
        self.job.status = "running"
        self.job.next_run_at = iso(self.now())
        self.save()

    def _stopped_by(self, exc: ProviderError, po: ProviderOrder | None) -> None:
        job = self.job
        job.counters["errors"] += 1
        self._error(exc.code, exc.message, po)
        log.warning("import stopped by the provider", extra={"import_id": job.id, "error": exc.code,
                                                              "retryable": exc.retryable})
        if exc.retryable:  # 429/5xx/timeout: resume from this very item later
            wait = getattr(exc, "retry_after", None) or RETRY_AFTER_S
            job.status, job.next_run_at = "running", iso(self.now() + dt.timedelta(seconds=wait))
        else:
            # A first run that the provider refuses (credentials, a deleted CA) ends here; an import
            # that completed before keeps its recurring sync, which may succeed once that is fixed.
            job.status, job.finished_at = "failed", iso(self.now())
            interval = self.svc.cfg.sync_interval_for(job.provider)
            job.next_run_at = iso(self.now() + dt.timedelta(seconds=interval)) if job.runs else None
        self.save()

    def _complete(self) -> None:
        job = self.job
        job.status, job.finished_at, job.runs = "completed", iso(self.now()), job.runs + 1
        job.cursor_token, job.cursor_index, job.cursor_done = None, 0, []
        job.next_run_at = iso(self.now() + dt.timedelta(seconds=self.svc.cfg.sync_interval_for(job.provider)))
        self.save()
        log.info("import run completed", extra={"import_id": job.id, "provider": job.provider,
                                                "counters": dict(job.counters)})

    # -- one listed certificate ----------------------------------------------------------------
    def _item(self, po: ProviderOrder) -> str:
        """created | updated | unchanged | errors | skipped:<reason> (runs on a worker thread)"""
        store, job = self.svc.store, self.job
        held = store.cert_id_for_ref(job.provider, po.provider_order_id)
        cert = store.get(held) if held else None
        if cert is not None:
            if cert.owner != job.owner:
                return "skipped:not_owned"
            return self._sync_existing(cert, po)
        # `held` without a certificate: a claim whose certificate was not written (yet); it is
        # written below under the claimed id.
        if self._placed_by_certgate(po):
            return "skipped:placed_by_certgate"
        if self._may_be_in_flight(po):
            return "skipped:in_flight"
        if not wants(job, po):
            return "skipped:not_wanted"
        if po.raw_status.lower() == "obsolete":
            return "skipped:superseded"  # TinyCert: replaced by a reissue, which is listed itself
        if po.status not in IMPORTABLE:
            return f"skipped:{po.status.value}"
        if po.status is Status.PENDING:
            return self._create_pending(po, held)
        full, material = self._material(po)
        if self._placed_by_certgate(full):  # its mark is read with the certificate (TinyCert's OU)
            return "skipped:placed_by_certgate"
        if material is None:
            return "skipped:no_certificate"
        return self._create(full, material, held)

    def _claimed_id(self, po: ProviderOrder, held: str | None) -> str | None:
        """The id to write the certificate under: the one already claimed, or a new one claimed
        now; None when another run claimed the provider's id meanwhile (it writes it)."""
        if held:
            return held
        cid = new_certificate_id()
        return cid if self.svc.store.claim_ref(self.job.provider, po.provider_order_id, cid) == cid else None

    def _placed_by_certgate(self, po: ProviderOrder) -> bool:
        """An order whose client reference is one of our certificate ids but which no reference
        row names yet: an intent whose answer was lost. `reconcile` adopts it; importing it would
        make reconcile order it again."""
        if po.owner_mark:
            return True  # certgate made it, for a record that holds it, will, or an operator decides on
        m = _CERTGATE_REF.match(po.client_reference or "")
        return m is not None and self.svc.store.get(m.group(1)) is not None

    def _may_be_in_flight(self, po: ProviderOrder) -> bool:
        """Whether a live intent of this provider (a record still `submitting`) has this common
        name: its create may have made this very object. The intents are read after the page was
        listed, so every object listed was created after its intent was written, and is seen."""
        with self._in_flight_lock:
            if self._in_flight is None:
                far = self.now() + dt.timedelta(days=3650)
                self._in_flight = frozenset(
                    c.common_name.strip().lower() for c in self.svc.store.due("S", far, IN_FLIGHT_SCAN)
                    if c.provider == self.job.provider)
            names = self._in_flight
        return (po.common_name or "").strip().lower() in names

    def _sync_existing(self, cert: Certificate, po: ProviderOrder) -> str:
        if po.provider_order_id != cert.provider_order_id:
            return "unchanged"  # the id of an earlier revision (a renewal's or reissue's predecessor)
        if _unchanged(cert, po):
            return "unchanged"
        full = self.provider.get_order(po.provider_order_id, with_material=po.status is Status.ISSUED)
        return self._apply(cert, full)

    def _apply(self, cert: Certificate, po: ProviderOrder) -> str:
        """The provider's current state through the one lifecycle path (events, SNS, revisions)."""
        from chalicelib.core.errors import ProviderFailure

        for attempt in range(2):
            try:
                after = self.svc.apply(cert, po, self.actor)
            except ProviderFailure as failure:
                raise failure.error from failure
            except AlreadyExists:
                return "skipped:raced"  # the new provider id was claimed by another run meanwhile
            except ConcurrentModification:
                fresh = self.svc.store.get(cert.id)
                if attempt or fresh is None:
                    return "skipped:raced"
                cert = fresh
                continue
            return "updated" if after.version != cert.version else "unchanged"
        return "skipped:raced"  # pragma: no cover - the loop returns

    def _material(self, po: ProviderOrder) -> tuple[ProviderOrder, CertificateMaterial | None]:
        """The certificate itself: with the order for issued ones, downloaded for revoked/expired
        ones (providers hand out no material with those); None when the provider has none."""
        if po.status is Status.ISSUED:
            full = self.provider.get_order(po.provider_order_id, with_material=True)
            if full.status is Status.ISSUED and full.material is None:
                raise ProviderProtocolError(self.job.provider, "an issued certificate without its PEM")
            if full.material is not None:
                return full, full.material
            po = full  # changed since it was listed
            if po.status not in (Status.REVOKED, Status.EXPIRED):
                return full, None
        try:
            leaf = self.provider.download(po.provider_order_id, "pem").decode("utf-8", "replace")
            chain = self.provider.download(po.provider_order_id, "chain").decode("utf-8", "replace")
        except ProviderError as exc:
            if exc.retryable:
                raise
            return po, None
        return po, CertificateMaterial(certificate_pem=leaf, chain_pem=chain)

    def _create(self, po: ProviderOrder, material: CertificateMaterial, held: str | None) -> str:
        from chalicelib.x509 import certificates as x509_certificates

        svc, job = self.svc, self.job
        info = x509_certificates.certificate_info(material.certificate_pem)
        key_ref = _key_ref(info.public_key_fingerprint) if job.provider == "tinycert" else None
        if key_ref and not held:
            linked = self._link_reissue(po, key_ref)
            if linked:
                return linked
        cid = self._claimed_id(po, held)
        if cid is None:
            return "skipped:raced"
        now = svc.clock()
        caps = svc.capabilities(job.provider)
        sealed = svc.vault.seal(material.private_key_pem, {"certificate_id": cid}) if material.private_key_pem else None
        cert = Certificate(
            id=cid, owner=job.owner, provider=job.provider, common_name=info.common_name or po.common_name or "",
            status=po.status, created_at=iso(now) or "", updated_at=iso(now) or "", version=1,
            product=po.product or caps.default_product, sans=tuple(San(t, v) for t, v in info.sans),
            origin="imported", key_source="provider" if sealed else "csr", sealed_key=sealed,
            provider_order_id=po.provider_order_id, provider_certificate_id=po.certificate_id,
            provider_status=po.raw_status, on_hold=po.on_hold, not_before=iso(info.not_before),
            not_after=iso(info.not_after), serial=info.serial, fingerprint_sha1=info.sha1_fingerprint,
            fingerprint_sha256=info.sha256_fingerprint, issuer=info.issuer_common_name, import_id=job.id,
        )
        rev = Revision(number=1, reason="import", provider_order_id=po.provider_order_id,
                       provider_certificate_id=po.certificate_id, serial=info.serial,
                       not_before=cert.not_before, not_after=cert.not_after, issued_at=cert.not_before,
                       s3_prefix=cert.s3_prefix(1))
        cert = replace(cert, revisions=(rev,))
        metadata = {
            "certificate_id": cid, "revision": 1, "provider": job.provider, "origin": "imported",
            "import_id": job.id, "provider_order_id": po.provider_order_id,
            "provider_certificate_id": po.certificate_id, "common_name": info.common_name,
            "sans": [v for _, v in info.sans], "serial": info.serial, "not_before": cert.not_before,
            "not_after": cert.not_after, "fingerprint_sha256": info.sha256_fingerprint,
            "issuer": info.issuer_common_name, "imported_at": iso(now),
        }
        # S3 first: a certificate row never points at PEMs that are not there. A lost race below
        # leaves objects under an id nothing references.
        svc.artifacts.write_revision(cert, 1, material.certificate_pem, material.chain_pem, metadata)
        outcome = self._insert(cert, po)
        if outcome == "created" and key_ref:
            svc.store.ref_set("tinycert", key_ref, cid)
        return outcome

    def _link_reissue(self, po: ProviderOrder, key_ref: str) -> str | None:
        """A TinyCert id whose key is already on a live certificate is that certificate reissued."""
        store = self.svc.store
        holder = store.cert_id_for_ref("tinycert", key_ref)
        prior = store.get(holder) if holder else None
        if prior is None or prior.status is not Status.ISSUED or not _newer(po.provider_order_id,
                                                                                prior.provider_order_id):
            return None
        if prior.owner != self.job.owner:
            return "skipped:not_owned"  # another principal's certificate, reissued: theirs to sync
        return self._apply(prior, po)

    def _create_pending(self, po: ProviderOrder, held: str | None) -> str:
        """An order still being validated: recorded as pending, and poll_pending takes it from here."""
        svc, job = self.svc, self.job
        cid = self._claimed_id(po, held)
        if cid is None:
            return "skipped:raced"
        now = svc.clock()
        names = [n for n in po.sans if n]
        cert = Certificate(
            id=cid, owner=job.owner, provider=job.provider,
            common_name=po.common_name or (names[0] if names else po.provider_order_id), status=Status.PENDING,
            created_at=iso(now) or "", updated_at=iso(now) or "", version=1,
            product=po.product or svc.capabilities(job.provider).default_product,
            sans=tuple(San("dns", n) for n in names), origin="imported",
            provider_order_id=po.provider_order_id, provider_certificate_id=po.certificate_id,
            provider_status=po.raw_status, revision=1,
            revisions=(Revision(1, "import", provider_order_id=po.provider_order_id),), operation="order",
            next_poll_at=iso(now), import_id=job.id,
        )
        return self._insert(cert, po)

    def _insert(self, cert: Certificate, po: ProviderOrder) -> str:
        store = self.svc.store
        ev = Event(certificate_id=cert.id, kind="certificate.imported", occurred_at=cert.created_at,
                   actor=self.actor, to_status=cert.public_status, revision=1, provider=cert.provider,
                   detail={k: v for k, v in {"import_id": self.job.id, "provider_order_id": po.provider_order_id,
                                             "provider_status": po.raw_status, "serial": cert.serial}.items() if v})
        if not store.insert(self.svc.filed(cert), [ev]):
            return "skipped:raced"  # another run wrote it first (both were filling one claim)
        return "created"


# -- use cases ----------------------------------------------------------------------------------------

def start_import(svc: CertificateService, principal: str, body: Any) -> dict[str, Any]:
    """Validate, read the first page (provider errors surface here, before anything is written),
    record the import, work on it inline for up to `Policy.import_inline_s` seconds."""
    spec = validate_import(body, svc.directory.names())
    provider = svc.providers(spec.provider)  # not configured -> 503, nothing written
    now = svc.clock()
    budget = svc.cfg.import_inline_s
    job = ImportJob(id="imp_" + uuid.uuid4().hex, owner=principal, provider=spec.provider, filters=spec.filters,
                    page_size=spec.page_size, status="queued", started_at=iso(now) or "", updated_at=iso(now) or "",
                    next_run_at=iso(now))
    first = None
    if budget > 0:
        try:
            first = provider.list_certificates(listing_filters(job), None)
        except ProviderNotFound as exc:
            if spec.provider == "tinycert" and "ca_id" in spec.filters:
                raise ValidationFailed([FieldError("filters.ca_id", "no such TinyCert certificate authority")]) from exc
            raise
        job.status, job.run_started_at = "running", iso(now)
        job.next_run_at = iso(now + dt.timedelta(seconds=budget + LEASE_GRACE_S))  # the inline run's lease
    job.version = 1
    svc.store.create_import(job)
    if first is not None:
        deadline = time.monotonic() + budget
        job = _Run(svc, job, actor=principal, out_of_time=lambda: time.monotonic() >= deadline, now=now).run(first)
    return job.to_public()


def get_import(svc: CertificateService, principal: str, import_id: str, *, admin: bool = False) -> dict[str, Any]:
    """The import if `principal` started it (or is an administrator, as for certificates); 404
    otherwise (never 403: no existence leak)."""
    if not _IMPORT_ID.match(import_id or ""):
        raise NotFound(f"no import {import_id!r}")
    job = svc.store.get_import(import_id)
    if job is None or (job.owner != principal and not admin):
        raise NotFound(f"no import {import_id!r}")
    return job.to_public()


def list_imports(svc: CertificateService, principal: str, *, admin: bool, limit: int, next_token: str | None,
                 provider: str | None = None, status: str | None = None) -> tuple[list[ImportJob], str | None]:
    """One page of the imports `principal` may see, newest first: the ones they started; an
    administrator sees everyone's (design.md section 6: "an admin principal list may see all")."""
    return svc.store.list_imports(principal, owner=None if admin else principal, limit=limit,
                                  next_token=next_token, provider=provider, status=status)


SYNC_NOW_SCAN = 1000  # imports read (at most) to find the ones a sync-now request applies to


def sync_now(svc: CertificateService, principal: str, provider: str, *, admin: bool) -> list[ImportJob]:
    """Run the recurring syncs of `provider` now instead of at their interval: the imports
    `principal` started (an administrator: everyone's) that carry a sync (neither superseded nor
    failed on their first run). Each finished one is re-run from its first page inline for up to
    `Policy.import_inline_s` seconds in all, the rest made due now for sync_inventory (within
    5 minutes); a running one is left to the run that holds it. Returns them as they stand."""
    svc.providers(provider)  # not configured -> 503, nothing changed
    owner = None if admin else principal
    carriers: list[ImportJob] = []
    token: str | None = None
    while len(carriers) < SYNC_NOW_SCAN:
        page, token = svc.store.list_imports(principal, owner=owner, limit=100, next_token=token, provider=provider)
        carriers += [j for j in page if j.next_run_at is not None and j.superseded_by is None
                     and svc.store.import_carrying(j.schedule_key) in (None, j.id)]
        if token is None:
            break
    deadline = time.monotonic() + svc.cfg.import_inline_s
    out = []
    for job in carriers:
        if job.status == "running":
            out.append(job)
            continue
        run = _Run(svc, job, actor=principal, out_of_time=lambda: time.monotonic() >= deadline, now=svc.clock())
        try:
            if time.monotonic() >= deadline:
                job.next_run_at = iso(run.now())  # sync_inventory's next run takes it
                run.save()
            else:
                run.claim(max(0.0, deadline - time.monotonic()) + LEASE_GRACE_S,
                          restart=job.status in ("completed", "failed"))
                job = run.run()
        except _LeaseLost:
            job = svc.store.get_import(job.id) or job  # a concurrent run (or sync-now) took it: as it stands
        out.append(job)
    return out


def sync_inventory(svc: CertificateService, remaining: Remaining, now: dt.datetime | None = None) -> dict[str, Any]:
    """Resume running imports from their cursor and re-run completed ones whose sync interval has
    passed, within the Lambda's time budget; then flush the outbox.

    The due imports are one sweep (service/sweeps.py, `sync_inventory`): from where the last run
    left, at most `poll_batch_limit` imports per run, its lease making a duplicate invocation a
    no-op. Inside one import, its own cursor (the provider's page token, the items of that page
    done) and lease (its conditional `version`, `next_run_at` pushed past the run) do the same for
    the provider's listing: a run out of time mid-page saves the cursor and the next one resumes
    at the first item not done."""
    now = now or svc.clock()
    margin = svc.cfg.poll_safety_margin_ms
    started = time.monotonic()
    tallies: Counter[str] = Counter()

    def step(job: ImportJob) -> str:
        if remaining() < margin:
            return LEFT
        try:
            outcome, tally = _sync_one(svc, job, remaining, now + dt.timedelta(seconds=time.monotonic() - started))
        except DependencyFailed as exc:
            # This import's lease runs out and a later run resumes it; the others go on now.
            log.warning("import sync failed on AWS", extra={"import_id": job.id, "error": exc.code})
            return "aws_error"
        tallies.update({k: v for k, v in tally.items() if k in ("created", "updated", "errors")})
        if outcome == "running" and remaining() < margin:
            return LEFT  # paused by the time budget: its cursor is saved, the next run resumes it
        return outcome

    sweep: Sweep[ImportJob] = Sweep(
        "sync_inventory", read=lambda after, n: svc.store.imports_page(now, after, n),
        due_at=lambda job: parse_iso(job.next_run_at), limit=svc.cfg.poll_batch_limit, page_size=100,
        backlog_peek=svc.cfg.sweep_backlog_peek)
    stats = run_sweep(svc, sweep, lambda page: [step(job) for job in page], remaining, now)
    stats["due"] = sum(n for k, n in stats.items() if k not in RUN_STATS)
    stats.update(tallies)
    if remaining() > margin:
        stats["events_flushed"] = svc.flush_outbox()
    stats["seconds"] = round(time.monotonic() - started, 3)  # type: ignore[assignment]
    log.info("sync_inventory done", extra={"stats": dict(stats)})
    return dict(stats)


def _sync_one(svc: CertificateService, job: ImportJob, remaining: Remaining,
              now: dt.datetime) -> tuple[str, Counter[str]]:
    margin = svc.cfg.poll_safety_margin_ms
    run = _Run(svc, job, actor="sync_inventory", out_of_time=lambda: remaining() < margin, now=now)
    restart = job.status in ("completed", "failed")
    try:
        if restart:
            carrier = svc.store.import_carrying(job.schedule_key)
            if carrier is not None and carrier != job.id:
                # A newer import of the same owner, provider and filters carries the sync now.
                job.superseded_by, job.next_run_at = carrier, None
                run.save()
                return "superseded", run.tally
        run.claim(max(0.0, remaining() - margin) / 1000 + LEASE_GRACE_S, restart=restart)
    except _LeaseLost:
        return "raced", run.tally
    after = run.run()
    return ("raced" if run.tally["raced"] else after.status), run.tally
