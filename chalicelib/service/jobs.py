"""Scheduled jobs (design.md section 4): loops over service calls, within the Lambda time budget."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from chalicelib.core import renewal
from chalicelib.core.errors import CertgateError, ConcurrentModification, ProviderError, ProviderFailure, RateLimited
from chalicelib.core.model import Certificate, Event, Status, iso, parse_iso
from chalicelib.observability import count
from chalicelib.service import delivery, fleet
from chalicelib.service.certificates import CertificateService
from chalicelib.service.ports import Remaining
from chalicelib.service.sweeps import LEFT, OVER_BUDGET, RUN_STATS, CallBudget, Sweep, isolated, run_sweep

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


def poll_pending(svc: CertificateService, remaining: Remaining, now: dt.datetime | None = None, *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """Refresh the due pending certificates (sparse `due` index only) from where the last run
    left (service/sweeps.py), bounded concurrency per provider, backoff per certificate, 429
    honoured per provider, each provider's calls kept inside its share of its rate limits
    (`clock`/`sleep` pace them), stopping before the budget ends."""
    cfg = svc.cfg
    now = now or svc.clock()
    started = time.monotonic()
    gate = _ProviderGate()
    budget = CallBudget({name: svc.capabilities(name).rate_limits for name in svc.directory.names()},
                        share=cfg.poll_rate_share, interval_s=cfg.poll_interval_s, clock=clock, sleep=sleep)

    def check(cert: Certificate) -> str:
        if remaining() < cfg.poll_safety_margin_ms:
            return LEFT
        wait = gate.blocked(cert.provider)
        if wait is not None:
            svc.postpone(cert, wait)
            return "rate_limited"
        if not budget.take(cert.provider):
            return OVER_BUDGET  # stays due: the next run (the place is past it: the next cycle)
        try:
            after = svc.refresh(cert, actor="poll_pending")
        except ProviderFailure as f:
            return _provider_failed(svc, gate, cert, f.error)
        return after.status.value if after.status is not cert.status else "unchanged"

    def back_off(cert: Certificate, exc: Exception) -> str:
        svc.save(svc.rescheduled(cert, svc.clock()))  # a broken secret or bucket: not every minute
        return "failed"

    executors: dict[str, ThreadPoolExecutor] = {}

    def work(page: Sequence[Certificate]) -> list[str]:
        futures = []
        for cert in page:
            ex = executors.get(cert.provider)
            if ex is None:
                ex = executors[cert.provider] = ThreadPoolExecutor(
                    max_workers=max(1, cfg.poll_concurrency_per_provider), thread_name_prefix=f"poll-{cert.provider}")
            futures.append(ex.submit(isolated, svc, "poll_pending", cert, check, back_off))
        return [f.result() for f in futures]

    sweep = Sweep("poll_pending", read=lambda after, n: svc.store.due_page("P", now, after, n),
                  due_at=lambda cert: parse_iso(cert.next_poll_at or cert.updated_at), limit=cfg.poll_batch_limit,
                  page_size=500, backlog_peek=cfg.sweep_backlog_peek)
    try:
        stats = run_sweep(svc, sweep, work, remaining, now)
    finally:
        for ex in executors.values():
            ex.shutdown(wait=True)
    stats["due"] = sum(n for k, n in stats.items() if k not in RUN_STATS)
    for provider in executors:
        if budget.quota(provider) is not None:
            count("PollProviderCalls", budget.used(provider), provider=provider)
    if remaining() > cfg.poll_safety_margin_ms:
        stats["events_flushed"] = svc.flush_outbox()
    result: dict[str, Any] = dict(stats)
    result["seconds"] = round(time.monotonic() - started, 3)
    log.info("poll_pending done", extra={"stats": result})
    return result


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


def reconcile(svc: CertificateService, remaining: Remaining, now: dt.datetime | None = None) -> dict[str, Any]:
    """Two sweeps from where the last run left each (service/sweeps.py): the intents still
    `submitting` after the threshold (the `due` index, kind S) — adopt, resubmit once, or fail
    with a reason; then the pending index (kind P) for every interrupted step (a reissue, renewal,
    revoke or cancel with its operation still recorded), finished to the provider's truth
    (service/recovery.py). Then the failed ACM imports due for a retry (service/delivery.py).

    The stats are those of the intents' sweep; the second sweep's are prefixed `interrupted_`
    (its backlog metrics carry its own job name, `reconcile_interrupted`)."""
    now = now or svc.clock()
    cfg = svc.cfg

    def work(page: Sequence[Certificate]) -> list[str]:
        return [isolated(svc, "reconcile", cert, lambda c: svc.recover(c, actor="reconcile").status.value)
                if remaining() >= cfg.poll_safety_margin_ms else LEFT for cert in page]

    # An intent is filed for its next look-up (reconcile_after_s after its create, then after each resubmit).
    intents = Sweep("reconcile", read=lambda after, n: svc.store.due_page("S", now, after, n),
                    due_at=lambda c: parse_iso(c.next_poll_at or c.updated_at), limit=cfg.poll_batch_limit,
                    page_size=500, backlog_peek=cfg.sweep_backlog_peek)
    stats = run_sweep(svc, intents, work, remaining, now)
    if remaining() >= cfg.poll_safety_margin_ms:
        for key, n in _interrupted(svc, remaining, now).items():
            stats[key if key not in RUN_STATS else f"interrupted_{key}"] += n
    if remaining() > cfg.poll_safety_margin_ms:
        stats["events_flushed"] = svc.flush_outbox()
    if retried := delivery.retry_failed(svc, remaining):  # failed ACM imports (service/delivery.py)
        stats["deliveries_retried"] = retried
    log.info("reconcile done", extra={"stats": dict(stats)})
    return dict(stats)


def _interrupted(svc: CertificateService, remaining: Remaining, now: dt.datetime) -> Counter[str]:
    """The sweep over the due pending certificates for those with a reissue, renewal, revoke or
    cancel in flight; the others (orders waiting for validation: poll_pending's) cost no call."""
    from chalicelib.service.recovery import RECOVERABLE

    cfg = svc.cfg

    def step(cert: Certificate) -> str:
        if cert.operation not in RECOVERABLE:
            return "not_interrupted"
        return svc.recover(cert, actor="reconcile").status.value

    def work(page: Sequence[Certificate]) -> list[str]:
        return [isolated(svc, "reconcile", cert, step) if remaining() >= cfg.poll_safety_margin_ms else LEFT
                for cert in page]

    sweep = Sweep("reconcile_interrupted", read=lambda after, n: svc.store.due_page("P", now, after, n),
                  due_at=lambda c: parse_iso(c.next_poll_at or c.updated_at) if c.operation in RECOVERABLE else None,
                  limit=cfg.poll_batch_limit, page_size=500, backlog_peek=cfg.sweep_backlog_peek)
    stats = run_sweep(svc, sweep, work, remaining, now)
    del stats["not_interrupted"]
    return stats


def renew_expiring(svc: CertificateService, remaining: Remaining, now: dt.datetime | None = None, *,
                   clock: Callable[[], float] = time.monotonic,
                   sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """From where the last run left (service/sweeps.py), over the certificates that have
    something due — the sparse `action` index up to now (each filed at its `next_action_at`,
    core/renewal.py: windows relative to each lifetime), not the whole fleet: `expired` when
    not_after passes, expiry notices (once per offset), and the renewal of auto_renew
    certificates inside their window — a free reissue inside the paid plan, a paid renewal at its
    end — through the same use cases as POST .../reissue and .../renew, paced inside the job's
    share of each provider's rate limits (`clock`/`sleep`). Each one handled is saved, which files
    it at its next action (in the future): it leaves the head of the index.

    Certificates written before the index existed carry no `next_action_at` and are in none of
    it: a one-off backfill (`_file_unfiled`) walks the expiry index once, across runs, and files
    them, before the sweep of each run until its first cycle is complete."""
    at = now or svc.clock()
    cfg = svc.cfg
    budget = CallBudget({name: svc.capabilities(name).rate_limits for name in svc.directory.names()},
                        share=cfg.renew_rate_share, interval_s=cfg.renew_interval_s, clock=clock, sleep=sleep)
    filed = _file_unfiled(svc, remaining, at)

    def work(page: Sequence[Certificate]) -> list[str]:
        return [isolated(svc, "renew_expiring", cert, lambda c: _expiry_step(svc, c, at, budget))
                if remaining() >= cfg.poll_safety_margin_ms else LEFT for cert in page]

    sweep = Sweep("renew_expiring", read=lambda after, n: svc.store.action_page(at, after, n),
                  due_at=lambda cert: renewal.due_at(cert, at, cfg.renewal), limit=cfg.renew_sweep_limit,
                  page_size=500, backlog_peek=cfg.sweep_backlog_peek)
    stats = run_sweep(svc, sweep, work, remaining, at)
    if filed:
        stats["filed"] = filed
    if remaining() >= cfg.poll_safety_margin_ms:
        fleet.report_fleet_expiry(svc, at)  # the expiry gauges the alarms watch (service/fleet.py)
    stats["events_flushed"] = svc.flush_outbox()
    log.info("renew_expiring done", extra={"stats": dict(stats)})
    return dict(stats)


BACKFILL = "renew_expiring_backfill"  # the sweep that files certificates written before the action index


def _file_unfiled(svc: CertificateService, remaining: Remaining, now: dt.datetime) -> int:
    """The one-off backfill of the action index: one cycle over the expiry index (every issued
    certificate), from a persisted place, at most `renew_sweep_limit` per run; each certificate
    without a `next_action_at` that should have one is saved as it is (the save files it — a
    missing one is treated as due now: the sweep that follows in the same run handles what is
    due). Once the cycle is complete, it costs one read of its state per run."""
    if svc.store.sweep_state(BACKFILL).cycles > 0:
        return 0
    rules = svc.cfg.renewal

    def step(cert: Certificate) -> str:
        if cert.next_action_at is not None or renewal.next_action_at(cert, rules) is None:
            return "already_filed"
        svc.save(cert.updated(now))
        return "filed"

    def work(page: Sequence[Certificate]) -> list[str]:
        return [isolated(svc, BACKFILL, cert, step) if remaining() >= svc.cfg.poll_safety_margin_ms else LEFT
                for cert in page]

    until = dt.datetime.max.replace(tzinfo=dt.UTC)
    sweep = Sweep(BACKFILL, read=lambda after, n: svc.store.expiring_page(until, after, n),
                  due_at=lambda cert: None, limit=svc.cfg.renew_sweep_limit, page_size=500, backlog_peek=0)
    return run_sweep(svc, sweep, work, remaining, now)["filed"]


def _expiry_step(svc: CertificateService, cert: Certificate, now: dt.datetime, budget: CallBudget) -> str:
    """One certificate of renew_expiring: expire it, tell its holder, renew it (core/renewal.py).
    One filed for now that has nothing due (the rules changed since it was filed) is filed anew."""
    rules = svc.cfg.renewal
    end = parse_iso(cert.not_after)
    if end is None or cert.status is not Status.ISSUED:
        return "skipped"
    if end <= now:
        after = cert.moved_to(Status.EXPIRED, now)
        svc.save(after, [svc.event_for(cert, after, "renew_expiring")])
        return "expired"
    caps = svc.capabilities(cert.provider)
    coverage = renewal.coverage_until(cert, caps.renewal)
    saved = False
    if iso(coverage) != cert.coverage_until:  # a paid renewal moved the plan on
        cert, saved = svc.save(cert.updated(now, coverage_until=iso(coverage))), True
    outcome = "watched"
    offset = renewal.notice_due(cert, now, rules)
    if offset is not None:
        after = cert.updated(now, notice_offset=offset, notice_not_after=cert.not_after)
        days_left = round((end - now).total_seconds() / 86400, 2)
        ev = Event(certificate_id=cert.id, kind="certificate.expiring", occurred_at=iso(now) or "",
                   actor="renew_expiring", revision=cert.revision, provider=cert.provider,
                   detail={"remaining_fraction": f"1/{offset}", "days_left": days_left, "not_after": cert.not_after,
                           "auto_renew": cert.auto_renew, "certificate": after.event_summary()})
        cert, saved = svc.save(after, [ev]), True
        outcome = f"notice_1_{offset}"
    if cert.operation is not None or cert.revocation_waiting:
        return outcome  # a step in flight (revoke, cancel) or a revoke request awaiting approval: no renewal
    if renewal.renewal_due(cert, now, rules):
        if not budget.take(cert.provider):
            return OVER_BUDGET  # still due: the next run
        cert = svc.save(cert.updated(now, renewal_attempted_at=iso(now)))  # one try per retry interval
        op = renewal.renewal_operation(cert, caps.renewal, coverage)
        if op == "reissue" and caps.reissue:
            svc.reissue(cert.owner, cert, None, actor="renew_expiring")
            return "reissued"
        svc.renew(cert.owner, cert, None, actor="renew_expiring")
        return "renewed"
    filed_at = parse_iso(cert.next_action_at)
    if not saved and (filed_at is None or filed_at <= now) and svc.filed(cert).next_action_at != cert.next_action_at:
        svc.save(cert.updated(now))  # would otherwise stay at the head of the index, read on every run
        return "refiled"
    return outcome


class UnknownJob(CertgateError, LookupError):
    """A scheduled event named a job that does not exist (never silently run another one)."""


def _sync_inventory(svc: CertificateService, remaining: Remaining) -> dict[str, Any]:
    """Imports due for a re-run, then the check for CAs deleted out of band (service/admin.py)."""
    from chalicelib.service.admin import check_authorities
    from chalicelib.service.inventory import sync_inventory

    stats = sync_inventory(svc, remaining)
    if remaining() > svc.cfg.poll_safety_margin_ms:
        stats["authorities"] = check_authorities(svc, remaining)
    return stats


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
        # Counts of items only: the backlog has its own metrics (SweepBacklog, SweepBacklogAge).
        if isinstance(value, int) and not isinstance(value, bool) and value and key not in _NOT_OUTCOMES:
            count("JobOutcomes", value, job=name, outcome=key)
    return stats


_NOT_OUTCOMES = frozenset({"backlog", "backlog_age_s"})
