"""One poll_pending run over a prepared backlog, and the side-by-side baselines it is compared with
(shared by poll_throughput.py, read_amplification.py and scaling.py)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from bench import harness
from chalicelib.core.model import Certificate

LARGE_BUDGET_MS = 10**9  # "remaining": never the reason a benchmark run stops


@dataclass(frozen=True)
class PollRun:
    seconds: float
    stats: dict[str, Any]
    items_read: int  # CertificateStore.items_read during the run
    items_returned: int  # items in DynamoDB's responses during the run (ReadCounter)
    calls: dict[str, int]  # DynamoDB operations during the run
    listing_seconds: float  # reading the due index, which the job finishes before its first provider call

    @property
    def refreshed(self) -> int:
        skipped = ("due", "events_flushed", "seconds", "left_for_next_run", "rate_limited")
        return sum(int(v) for k, v in self.stats.items() if k not in skipped)


class PollBench:
    def __init__(self, w: harness.World, *, big_table: bool = False) -> None:
        self.world = w
        self.svc = w.service()
        self.store = harness.patient_store(self.svc) if big_table else self.svc.store
        self.counter = harness.ReadCounter(self.store.client)

    @property
    def concurrency(self) -> int:
        return int(self.svc.cfg.poll_concurrency_per_provider)

    @property
    def batch_limit(self) -> int:
        return int(self.svc.cfg.poll_batch_limit)

    def run(self, now: dt.datetime) -> PollRun:
        """One jobs.poll_pending run as of `now` (a `now` later than every next_poll_at makes the
        whole backlog due again, so runs can be repeated without rewriting the table)."""
        from chalicelib.service import jobs

        store = self.store
        listing = [0.0]
        due = store.due

        def timed_due(*args: Any, **kwargs: Any) -> Iterator[Certificate]:
            t0 = time.perf_counter()
            yield from due(*args, **kwargs)
            listing[0] += time.perf_counter() - t0

        items_before = store.items_read
        self.counter.reset()
        store.due = timed_due  # this instance only, for this run: times the listing phase
        try:
            started = time.perf_counter()
            stats = jobs.poll_pending(self.svc, lambda: LARGE_BUDGET_MS, now=now)
            seconds = time.perf_counter() - started
        finally:
            del store.due
        return PollRun(seconds, stats, store.items_read - items_before, self.counter.items,
                       dict(self.counter.calls), listing[0])

    def provider_calls_only(self, provider: str, certs: Sequence[Certificate]) -> float:
        """The floor: the same provider status checks through the same adapter, same concurrency,
        without certgate's store, service or job around them."""
        from chalicelib import bootstrap

        adapter = bootstrap.directory().get(provider)
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=self.concurrency) as ex:
            list(ex.map(lambda c: adapter.get_order(c.provider_order_id or "", with_material=True), certs))
        return time.perf_counter() - started

