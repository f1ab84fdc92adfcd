"""Where a scheduled sweep stands in its index (design.md section 4). Pure: no I/O.

A sweep (poll_pending, renew_expiring, reconcile, sync_inventory) walks a sharded sparse index in one fixed order —
shard by shard, each shard by its range key then the certificate id — a bounded amount per
invocation, and keeps its place between invocations in a `SweepState` the store persists. The
next invocation continues after that place instead of re-reading the index's head; at the end of
the index the walk wraps to the head (a new cycle). A lease on the state makes a duplicate
(concurrent) invocation of the same sweep a no-op instead of a second walk over the same items."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from typing import Generic, TypeVar

from chalicelib.core.model import iso, parse_iso

T = TypeVar("T")  # what a sweep's index holds: certificates, import records


@dataclass(frozen=True, order=True)
class Position:
    """A place in a sharded index: after the item (`key`, `item_id`) of `shard`; the empty key
    is the start of the shard. Positions order as the walk does."""

    shard: int
    key: str = ""
    item_id: str = ""


@dataclass(frozen=True)
class SweepPage(Generic[T]):
    """One read of a sweep's index from a position: the items in walk order, each with its own
    position, and whether the read reached the end of the index (the last shard's last item)."""

    items: list[tuple[Position, T]] = field(default_factory=list)
    end: bool = True


@dataclass(frozen=True)
class SweepState:
    """A sweep's persisted place: `position` (None: the next run starts a cycle at the head),
    the lease of the invocation working on it, and the bookkeeping of its cycles."""

    name: str
    position: Position | None = None
    version: int = 0  # 0: never saved; each save is conditional on the previous version
    lease_owner: str | None = None
    lease_until: str | None = None
    cycle_started_at: str | None = None
    last_cycle_s: float | None = None  # how long the last complete walk over the index took
    cycles: int = 0

    def leased(self, now: dt.datetime) -> bool:
        """Another invocation holds the lease (until it releases it or the lease runs out)."""
        until = parse_iso(self.lease_until)
        return self.lease_owner is not None and until is not None and until > now

    def claimed(self, owner: str, now: dt.datetime, until: dt.datetime) -> SweepState:
        return replace(self, lease_owner=owner, lease_until=iso(until),
                       cycle_started_at=self.cycle_started_at or iso(now))

    def moved(self, position: Position | None) -> SweepState:
        return replace(self, position=position)

    def wrapped(self, now: dt.datetime) -> SweepState:
        """The walk reached the end of the index: the next item is the head, a new cycle starts."""
        started = parse_iso(self.cycle_started_at)
        took = round((now - started).total_seconds(), 3) if started else None
        return replace(self, position=None, cycles=self.cycles + 1,
                       last_cycle_s=took, cycle_started_at=iso(now))

    def next_version(self) -> SweepState:
        """This state as the next save writes it (saves are conditional on the version before)."""
        return replace(self, version=self.version + 1)

    def released(self) -> SweepState:
        return replace(self, lease_owner=None, lease_until=None)
