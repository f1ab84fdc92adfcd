"""The sweep loop of the scheduled jobs (design.md section 4): every due certificate is reached,
however many are due, with a bounded amount of work per invocation.

A sweep walks its index (core/sweeps.py) from the place the last invocation left, a page at a
time, and saves its place after each page: the next invocation continues there instead of
re-reading the head. At the end of the index it wraps to the head (a new cycle) and goes on up to
where it started, so that no invocation handles an item twice. It stops when its item budget is
used or its time runs out (the Lambda's remaining time, `Remaining`), leaving the rest for the
next invocation. A lease on the sweep's state makes a duplicate invocation (EventBridge delivers
at least once; a late run overlapping the next) a no-op instead of a second walk.

Each certificate is isolated: one that fails (a broken secret, a provider error, a missing
bucket) is counted (`JobCertificateFailed`) and the sweep carries on. Only the table itself
failing ends the run (the sweep could not keep its place).

Each run reports its backlog — due items it left for later, and the age of the oldest — from a
bounded look ahead of its place (`SweepBacklog`, `SweepBacklogAge`), and the length of the last
complete cycle (`SweepCycleSeconds`: no due item waits longer than one cycle)."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

from chalicelib.core.errors import CertgateError, ConcurrentModification, DependencyFailed, ProviderFailure
from chalicelib.core.model import Certificate
from chalicelib.core.sweeps import Position, SweepPage, SweepState
from chalicelib.observability import count
from chalicelib.service.ports import CertificateStore, Remaining

if TYPE_CHECKING:
    from chalicelib.service.certificates import CertificateService

log = logging.getLogger("certgate.sweeps")

LEFT = "left_for_next_run"  # the outcome of an item the run had no time for (the place stays before it)
OVER_BUDGET = "over_budget"  # the provider's call budget of this run is spent (reached next cycle)
FAILED = "failed"
# What a run's stats count besides the outcomes of its items.
RUN_STATS = frozenset({LEFT, "duplicate_run", "lease_lost", "cycles_completed", "backlog", "backlog_age_s"})

T = TypeVar("T")  # what the sweep's index holds (a Certificate, an ImportJob)
Reader = Callable[[Position | None, int], SweepPage[T]]
DueAt = Callable[[T], dt.datetime | None]
# Works one page: the outcome of each item, in the page's order.
Work = Callable[[Sequence[T]], list[str]]


@dataclass(frozen=True)
class Sweep(Generic[T]):
    """What one sweep walks: its name (the key of its persisted place), how to read a page of its
    index from a position, and when an item became due (None: not due now; for the backlog)."""

    name: str
    read: Reader[T]
    due_at: DueAt[T]
    limit: int  # items handled per invocation at most
    page_size: int = 100
    backlog_peek: int = 200  # items looked at beyond the place, for the backlog metric


def run_sweep(svc: CertificateService, sweep: Sweep[T], work: Work[T], remaining: Remaining,
              now: dt.datetime) -> Counter[str]:
    """One invocation of `sweep` as of `now`: claim its lease, walk from its place, keep the place,
    release it; then report the backlog."""
    stats: Counter[str] = Counter()
    store, margin = svc.store, svc.cfg.poll_safety_margin_ms
    state = store.sweep_state(sweep.name)
    wall = svc.clock()  # leases and cycles run on the service's clock (`now` bounds the index read)
    if state.leased(wall):
        stats["duplicate_run"] += 1
        return stats
    run_id = uuid.uuid4().hex
    try:
        lease_until = wall + dt.timedelta(milliseconds=max(0, remaining()) + 60_000)
        state = _save(store, state.claimed(run_id, wall, lease_until))
    except ConcurrentModification:
        stats["duplicate_run"] += 1  # another invocation claimed it between our read and write
        return stats
    start, position, wrapped, handled = state.position, state.position, False, 0
    caught_up = False  # the run went all the way round: nothing due is left ahead of it
    # The next page is read while the current one is worked (provider round trips dominate).
    reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"sweep-{sweep.name}")
    ahead: Future[SweepPage[T]] | None = None
    try:
        while handled < sweep.limit:
            if remaining() < margin:
                stats[LEFT] += 1
                break
            page = ahead.result() if ahead is not None else sweep.read(position, min(sweep.page_size,
                                                                                     sweep.limit - handled))
            ahead = None
            items, back_at_start = page.items, False
            if wrapped and start is not None:  # the second lap ends where this run began
                kept = [(p, c) for p, c in items if p <= start]
                back_at_start, items = len(kept) < len(items), kept
            room = sweep.limit - handled - len(items)
            if items and not page.end and not back_at_start and room > 0:
                ahead = reader.submit(sweep.read, items[-1][0], min(sweep.page_size, room))
            outcomes = work([c for _, c in items]) if items else []
            stats.update(outcomes)
            done = _handled_prefix(outcomes)
            handled += done
            if done:
                position = items[done - 1][0]
            if done < len(items) or back_at_start:  # out of time inside the page, or a lap done
                state = _save(store, state.moved(position))
                caught_up = done == len(items)
                break
            if page.end and wrapped:
                # The second lap ran off the end before reaching where the run began (what lay
                # ahead of it left the index: handled ones move on in the action index): back at
                # the head, not another cycle.
                state = _save(store, state.moved(None))
                caught_up = True
                break
            if page.end:
                state = _save(store, state.wrapped(svc.clock()))
                stats["cycles_completed"] += 1
                if start is None:
                    caught_up = True
                    break
                wrapped, position = True, None
                continue
            state = _save(store, state.moved(position))
    except ConcurrentModification:
        # The lease ran out and another invocation took the sweep over: it keeps the place now.
        log.warning("sweep lost its lease", extra={"sweep": sweep.name})
        stats["lease_lost"] += 1
        return stats
    finally:
        reader.shutdown(wait=True)
        if stats["lease_lost"] == 0:
            try:
                state = _save(store, state.released())
            except ConcurrentModification:
                stats["lease_lost"] += 1
    if caught_up or remaining() >= margin:  # the look ahead is one more read: not when the time is up
        _backlog(sweep, state, now, stats, look_ahead=not caught_up)
    return stats


def _save(store: CertificateStore, state: SweepState) -> SweepState:
    saved = state.next_version()
    store.save_sweep(saved)
    return saved


def _handled_prefix(outcomes: list[str]) -> int:
    """How many items from the start of the page are behind us (up to the first one left)."""
    for i, outcome in enumerate(outcomes):
        if outcome == LEFT:
            return i
    return len(outcomes)


def _backlog(sweep: Sweep[T], state: SweepState, now: dt.datetime, stats: Counter[str], *, look_ahead: bool) -> None:
    """Due items beyond the place (a bounded look ahead; none when the run went all the way
    round: `look_ahead` False) and the age of the oldest, as metrics."""
    due: list[dt.datetime] = []
    if look_ahead and sweep.backlog_peek > 0:
        page = sweep.read(state.position, sweep.backlog_peek)
        due = [t for t in (sweep.due_at(c) for _, c in page.items) if t is not None and t <= now]
    age = max(0.0, (now - min(due)).total_seconds()) if due else 0.0
    stats["backlog"] = len(due)
    stats["backlog_age_s"] = int(age)
    count("SweepBacklog", len(due), job=sweep.name)
    count("SweepBacklogAge", age, job=sweep.name)
    if state.last_cycle_s is not None:
        count("SweepCycleSeconds", state.last_cycle_s, job=sweep.name)


# -- one certificate, isolated --------------------------------------------------------------------

def isolated(svc: CertificateService, job: str, cert: Certificate, step: Callable[[Certificate], str],
             on_failure: Callable[[Certificate, Exception], str] | None = None) -> str:
    """`step(cert)`, with its failure kept to this certificate: a lost race is `raced`, a
    provider error `provider_error`, anything else of ours (a broken secret, a missing bucket)
    `failed`; each failure is counted as JobCertificateFailed. The table failing is re-raised
    (nothing else can be done in this run)."""
    try:
        return step(cert)
    except ConcurrentModification:
        return "raced"
    except DependencyFailed as exc:
        if exc.dependency == "table":
            raise
        return _failed(svc, job, cert, exc, FAILED, on_failure)
    except ProviderFailure as exc:
        return _failed(svc, job, cert, exc, "provider_error", on_failure)
    except CertgateError as exc:
        return _failed(svc, job, cert, exc, FAILED, on_failure)


def _failed(svc: CertificateService, job: str, cert: Certificate, exc: Exception, outcome: str,
            on_failure: Callable[[Certificate, Exception], str] | None) -> str:
    error = getattr(getattr(exc, "error", exc), "code", None) or type(exc).__name__
    log.warning(f"{job}: one certificate failed; the run goes on",
                extra={"certificate_id": cert.id, "provider": cert.provider, "error": error})
    count("JobCertificateFailed", 1, job=job, provider=cert.provider, error=str(error))
    if on_failure is not None:
        try:
            return on_failure(cert, exc)
        except ConcurrentModification:
            return "raced"
        except CertgateError:
            return outcome
    return outcome


# -- a per-provider call budget for one run ----------------------------------------------------------

RateLimits = tuple[tuple[int, float], ...]  # (at most this many calls, per this many seconds), ...


class CallBudget:
    """The provider calls one run may make, spread out in time, so that our own schedule never
    exceeds a provider's documented limits (e.g. DigiCert: 100 per 5 s, 1,000 per 5 min).

    Per provider, from its limits, the share of them this job may use (the rest is left to the
    API, the other jobs and retries) and how often the job runs:
    - at most `share × count × interval / window` calls per run for each window longer than the
      interval between runs (`interval_s`): however the runs fall, a window holds its share,
    - calls no closer than `window / (share × count)` apart for the shorter windows (no burst).
    `take(provider)` waits for the next slot (injected sleep/clock) and is False once the run's
    quota is spent: the certificate stays due for the next run."""

    def __init__(self, limits: Mapping[str, RateLimits], *, share: float, interval_s: float,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        self._quota: dict[str, int] = {}
        self._gap: dict[str, float] = {}
        for provider, windows in limits.items():
            if not windows:
                continue
            quotas = [max(1, int(share * n * interval_s / w)) for n, w in windows if w > interval_s]
            self._quota[provider] = min(quotas) if quotas else -1
            self._gap[provider] = max((w / max(1.0, share * n) for n, w in windows if w <= interval_s), default=0.0)
        self._next: dict[str, float] = {}
        self._used: Counter[str] = Counter()
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()

    def quota(self, provider: str) -> int | None:
        """Calls per run for `provider` (None: unlimited)."""
        q = self._quota.get(provider)
        return None if q is None or q < 0 else q

    def take(self, provider: str) -> bool:
        if provider not in self._gap:
            return True
        with self._lock:
            quota = self.quota(provider)
            if quota is not None and self._used[provider] >= quota:
                return False
            self._used[provider] += 1
            now = self._clock()
            at = max(now, self._next.get(provider, now))
            self._next[provider] = at + self._gap[provider]
        if at > now:
            self._sleep(at - now)
        return True

    def used(self, provider: str) -> int:
        return self._used[provider]
