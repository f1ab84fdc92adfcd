"""The fleet's expiry gauges (service/fleet.py) and the outbox age: what the alarms of
infra/resources.yaml watch — counted right, and read from the sparse indexes near their head,
never by walking the fleet."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

import pytest

from chalicelib.core.model import Certificate, Revision, Status, iso
from chalicelib.service import fleet, jobs, outbox
from tests.unit.service_kit import Fakes, build, remaining

DAY = dt.timedelta(days=1)


def cert(fx: Fakes, n: int, ends_in_days: float, lifetime_days: float = 90, **fields: Any) -> Certificate:
    now = fx.clock()
    end = now + ends_in_days * DAY
    base = Certificate(id=f"crt_{n:032x}", owner="o", provider="tinycert", common_name=f"c{n}.example.com",
                       status=Status.ISSUED, created_at=iso(now) or "", updated_at=iso(now) or "", version=1,
                       not_before=iso(end - lifetime_days * DAY), not_after=iso(end),
                       revisions=(Revision(1, "order", issued_at=iso(end - lifetime_days * DAY)),))
    c = fx.svc.filed(replace(base, **fields))  # as every write files it (the action index)
    assert fx.store.insert(c)
    return c


@pytest.fixture()
def fx() -> Fakes:
    return build()


@pytest.fixture()
def the_fleet(fx: Fakes) -> dict[str, Certificate]:
    now = fx.clock()
    return {
        "far": cert(fx, 1, 60, auto_renew=True),  # its window begins in about 27 days
        "manual_near": cert(fx, 2, 3),  # no auto-renewal: nothing will replace it
        # auto-renewed, inside its window, the provider refused the renewal an hour ago (retried in 11 h)
        "refused": cert(fx, 3, 20, auto_renew=True, renewal_attempted_at=iso(now - dt.timedelta(hours=1))),
        "due": cert(fx, 4, 5, auto_renew=True),  # inside its window, not reached by the sweep yet
        # a reissue under way: its successor is coming
        "renewing": cert(fx, 5, 2, status=Status.PENDING, operation="reissue", revision=2, auto_renew=True,
                         revisions=(Revision(1, "order", issued_at=iso(now - 88 * DAY)), Revision(2, "reissue"))),
        "revoking": cert(fx, 6, 1, operation="revoke"),  # being withdrawn: not waiting for a successor
    }


def test_the_gauges_count_what_the_alarms_are_about(fx: Fakes, the_fleet: dict[str, Certificate]) -> None:
    got = fleet.fleet_expiry(fx.svc, fx.clock())
    assert got.min_days_to_expiry == 1.0  # the revoking one is still out there, expiring first
    assert got.expiring_without_successor == 2  # manual_near and due; not renewing, revoking, refused (20 days)
    assert got.in_window_not_renewing == 2  # refused and due; not far (not yet), not manual_near (not auto)
    assert got.complete


def test_the_gauges_read_near_the_head_of_the_indexes_not_the_fleet(fx: Fakes, the_fleet: dict[str, Certificate],
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    read: set[str] = set()
    for name in ("expiring", "actionable", "expiring_page", "action_page", "due_page", "list_by_owner"):
        real = getattr(fx.store, name)

        def recorded(*args: Any, _real: Any = real, **kw: Any) -> Any:
            out = _real(*args, **kw)
            if hasattr(out, "items"):
                read.update(c.id for _, c in out.items)
                return out
            items = list(out)
            read.update(c.id for c in items)
            return iter(items)

        monkeypatch.setattr(fx.store, name, recorded)
    fleet.fleet_expiry(fx.svc, fx.clock())
    assert the_fleet["far"].id not in read  # fine for weeks: never read
    assert the_fleet["refused"].id in read


def test_the_counts_are_lower_bounds_when_a_walk_is_cut_short(fx: Fakes, the_fleet: dict[str, Certificate]) -> None:
    got = fleet.fleet_expiry(fx.svc, fx.clock(), limit=1)
    assert not got.complete
    assert got.expiring_without_successor <= 2 and got.in_window_not_renewing <= 2


def test_an_empty_fleet_has_no_earliest_expiry(fx: Fakes) -> None:
    assert fleet.fleet_expiry(fx.svc, fx.clock()) == fleet.FleetExpiry(None, 0, 0, True)


def test_renew_expiring_reports_the_gauges(fx: Fakes, the_fleet: dict[str, Certificate],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    emitted: dict[str, float] = {}
    monkeypatch.setattr(fleet, "count", lambda name, value=1, **dims: emitted.__setitem__(name, value))
    jobs.renew_expiring(fx.svc, remaining)
    assert set(emitted) == {"FleetMinDaysToExpiry", "ExpiringWithoutSuccessor", "RenewalWindowNotRenewing"}
    # The run's renewal of `due` failed (these certificates carry no CSR to reissue with): after the run
    # it is still inside its window with no successor, and counted so.
    assert emitted["ExpiringWithoutSuccessor"] == 2 and emitted["RenewalWindowNotRenewing"] == 2
    assert emitted["FleetMinDaysToExpiry"] == 1.0


def test_the_outbox_age_is_the_oldest_unpublished_event(fx: Fakes, monkeypatch: pytest.MonkeyPatch) -> None:
    emitted: list[float] = []
    monkeypatch.setattr(outbox, "count", lambda name, value=1, **dims: emitted.append(value)
                        if name == "OutboxAge" else None)
    fx.svc.flush_outbox()
    assert emitted == [0.0]  # empty: 0, so the alarm has a value
    fx.publisher.fail(None)  # the topic refuses everything
    fx.order("tinycert", "o.example.com")
    fx.clock.advance(minutes=20)
    fx.svc.flush_outbox()
    assert emitted[-1] == pytest.approx(20 * 60, abs=5)
    fx.publisher.fail(0)
    fx.svc.flush_outbox()
    assert emitted[-1] == 0.0


def test_with_nothing_near_the_earliest_expiry_is_read_from_the_head_of_the_index(fx: Fakes) -> None:
    cert(fx, 1, 60, auto_renew=True)
    cert(fx, 2, 45)
    got = fleet.fleet_expiry(fx.svc, fx.clock())
    assert got.min_days_to_expiry == 45.0 and got.expiring_without_successor == 0
