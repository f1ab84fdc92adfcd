"""Scheduled jobs (design.md section 4): loops over service calls, within the Lambda time budget."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from chalicelib.core.errors import CertgateError, ConcurrentModification, ProviderError, ProviderFailure, RateLimited
from chalicelib.core.model import Certificate, Event, Status, iso, parse_iso
from chalicelib.observability import count
from chalicelib.service import delivery
from chalicelib.service.certificates import CertificateService
from chalicelib.service.ports import Remaining

log = logging.getLogger("certgate.jobs")


def remaining_from(context: Any, default_ms: int = 60_000) -> Remaining:
    fn = getattr(context, "get_remaining_time_in_millis", None)
    if callable(fn):
        return lambda: int(fn())
    end = time.monotonic() + default_ms / 1000
    return lambda: int((end - time.monotonic()) * 1000)


class _ProviderGate:
    """Per-provider stop sign: once a provider says 429, leave its remaining work for later."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.retry_after: dict[str, float] = {}

    def block(self, provider: str, seconds: float) -> None:
        with self._lock:
            self.retry_after[provider] = max(seconds, self.retry_after.get(provider, 0))

    def blocked(self, provider: str) -> float | None:
        with self._lock:
            return self.retry_after.get(provider)


def poll_pending(svc: CertificateService, remaining: Remaining, now: dt.datetime | None = None) -> dict[str, Any]:
    """Refresh every due pending certificate (sparse `due` index only), bounded concurrency per
    provider, backoff per certificate, 429 honoured per provider, stopping before the budget ends."""
    cfg = svc.cfg
    now = now or svc.clock()
    stats: Counter[str] = Counter()
    started = time.monotonic()
    gate = _ProviderGate()
    backlog: Counter[str] = Counter()

    def work(cert: Certificate) -> str:
        if remaining() < cfg.poll_safety_margin_ms:
            return "left_for_next_run"
        wait = gate.blocked(cert.provider)
        if wait is not None:
            svc.postpone(cert, wait)
            return "rate_limited"
        try:
            after = svc.refresh(cert, actor="poll_pending")
        except ConcurrentModification:
            return "raced"
        except ProviderFailure as f:
            return _provider_failed(svc, gate, cert, f.error)
        return after.status.value if after.status is not cert.status else "unchanged"

    # Work starts as soon as the first page of the due index arrives: reading the rest overlaps
    # the provider round trips instead of preceding them.
    executors: dict[str, ThreadPoolExecutor] = {}
    futures = []
    try:
        for cert in svc.store.due("P", now, cfg.poll_batch_limit):
            if remaining() < cfg.poll_safety_margin_ms:
                stats["left_for_next_run"] += 1  # the rest of the index is not even read
                break
            ex = executors.get(cert.provider)
            if ex is None:
                ex = executors[cert.provider] = ThreadPoolExecutor(
                    max_workers=max(1, cfg.poll_concurrency_per_provider), thread_name_prefix=f"poll-{cert.provider}")
            backlog[cert.provider] += 1
            futures.append(ex.submit(work, cert))
        for fut in futures:
            stats[fut.result()] += 1
    finally:
        for ex in executors.values():
            ex.shutdown(wait=True)
    stats["due"] = sum(backlog.values())
    for provider, n in backlog.items():
        count("PollBacklog", n, provider=provider)
    if remaining() > cfg.poll_safety_margin_ms:
        stats["events_flushed"] = svc.flush_outbox()
    stats["seconds"] = round(time.monotonic() - started, 3)  # type: ignore[assignment]
    log.info("poll_pending done", extra={"stats": dict(stats)})
    return dict(stats)


def _provider_failed(svc: CertificateService, gate: _ProviderGate, cert: Certificate, err: ProviderError) -> str:
    if isinstance(err, RateLimited):
        wait = err.retry_after or 30
        gate.block(cert.provider, wait)
        svc.postpone(cert, wait)
        return "rate_limited"
    log.warning("poll failed; backing off", extra={"certificate_id": cert.id, "provider": cert.provider,
                                                   "error": err.code})
    try:
        svc.save(svc.rescheduled(cert, svc.clock()))
    except ConcurrentModification:
        return "raced"
    return "provider_error"


def _sweep(svc: CertificateService, job: str, certs: Iterable[Certificate], remaining: Remaining,
           step: Callable[[Certificate], str]) -> dict[str, Any]:
    """One sweep of a job over `certs`: `step` each within the time budget (the rest is left for
    the next run), count its outcomes and lost races, log provider failures, then flush the outbox."""
    stats: Counter[str] = Counter()
    for cert in certs:
        if remaining() < svc.cfg.poll_safety_margin_ms:
            stats["left_for_next_run"] += 1
            continue
        try:
            stats[step(cert)] += 1
        except ConcurrentModification:
            stats["raced"] += 1
        except ProviderFailure as f:
            stats["provider_error"] += 1
            log.warning(f"{job} failed", extra={"certificate_id": cert.id, "error": f.error.code})
    stats["events_flushed"] = svc.flush_outbox()
    log.info(f"{job} done", extra={"stats": dict(stats)})
    return dict(stats)


def reconcile(svc: CertificateService, remaining: Remaining, now: dt.datetime | None = None) -> dict[str, Any]:
    """Intents still `submitting` after the threshold: adopt, resubmit once, or fail with a reason."""
    now = now or svc.clock()
    due = list(svc.store.due("S", now, svc.cfg.poll_batch_limit))
    stats = _sweep(svc, "reconcile", due, remaining,
                   lambda cert: svc.reconcile_one(cert, actor="reconcile").status.value)
    if retried := delivery.retry_failed(svc, remaining):  # failed ACM imports (service/delivery.py)
        stats["deliveries_retried"] = retried
    return stats


def renew_expiring(svc: CertificateService, remaining: Remaining, now: dt.datetime | None = None) -> dict[str, Any]:
    """Expiry notices at 30/14/7/1 days (once each), `expired` when not_after passes, and renewal
    of auto_renew certificates inside their window — through the same use case as POST .../renew."""
    at = now or svc.clock()
    horizon = at + dt.timedelta(days=max(30, svc.cfg.renew_window_days))
    expiring = list(svc.store.expiring(horizon, svc.cfg.poll_batch_limit))
    return _sweep(svc, "renew_expiring", expiring, remaining, lambda cert: _expiry_step(svc, cert, at))


def _expiry_step(svc: CertificateService, cert: Certificate, now: dt.datetime) -> str:
    end = parse_iso(cert.not_after)
    if end is None or cert.status is not Status.ISSUED:
        return "skipped"
    if end <= now:
        after = cert.moved_to(Status.EXPIRED, now)
        svc.save(after, [svc.event_for(cert, after, "renew_expiring")])
        return "expired"
    outcome = "watched"
    notice = cert.due_expiry_notice(now)
    if notice is not None:
        after = cert.updated(now, expiry_notices=(*cert.expiry_notices, notice))
        days_left = round((end - now).total_seconds() / 86400, 2)
        ev = Event(certificate_id=cert.id, kind="certificate.expiring", occurred_at=iso(now) or "",
                   actor="renew_expiring", revision=cert.revision, provider=cert.provider,
                   detail={"threshold_days": notice, "days_left": days_left, "not_after": cert.not_after,
                           "certificate": after.event_summary()})
        cert = svc.save(after, [ev])
        outcome = f"notice_{notice}d"
    if cert.auto_renew and end - now <= dt.timedelta(days=svc.cfg.renew_window_days):
        svc.renew(cert.owner, cert, None, actor="renew_expiring")
        outcome = "renewed"
    return outcome


class UnknownJob(CertgateError, LookupError):
    """A scheduled event named a job that does not exist (never silently run another one)."""


def _sync_inventory(svc: CertificateService, remaining: Remaining) -> dict[str, Any]:
    from chalicelib.service.inventory import sync_inventory

    return sync_inventory(svc, remaining)


JOBS: dict[str, Callable[[CertificateService, Remaining], dict[str, Any]]] = {
    "poll_pending": poll_pending,
    "reconcile": reconcile,
    "renew_expiring": renew_expiring,
    "sync_inventory": _sync_inventory,
}


def run(svc: CertificateService, name: str, remaining: Remaining) -> dict[str, Any]:
    """Run the scheduled job `name`; UnknownJob for a name that is not in JOBS."""
    job = JOBS.get(name)
    if job is None:
        raise UnknownJob(f"no scheduled job {name!r} (known: {', '.join(sorted(JOBS))})")
    stats = job(svc, remaining)
    for key, value in stats.items():
        if isinstance(value, int) and value:
            count(f"job_{key}", value, job=name)
    return stats
