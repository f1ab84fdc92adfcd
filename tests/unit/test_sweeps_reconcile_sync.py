"""reconcile and sync_inventory on the sweep machinery (service/sweeps.py), on fakes, at their
boundaries: intents the provider cannot settle passed over instead of re-read at the head, a batch
exactly full of pending orders with an interrupted step behind it, the place wrapping with an
intent added behind it, a duplicate invocation, more imports due than a batch (bounded runs and
the backlog with its age), and an import whose time runs out mid-page resumed at the first item
not done."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import replace
from typing import Any

import pytest

from chalicelib.core.errors import ProviderFailure, ProviderTimeout, ProviderUnavailable
from chalicelib.core.model import Certificate, Status
from chalicelib.service import jobs
from chalicelib.service.inventory import get_import, start_import, sync_inventory
from tests.unit.service_kit import ALICE, POLICY, Fakes, build, console_order, remaining

S = Status
BATCH = 4


def batched(**policy: Any) -> Fakes:
    fx = build(replace(POLICY, poll_batch_limit=BATCH, import_inline_s=0, **policy))
    fx.store.shards = 1  # one walk order: the order of creation
    return fx


def lost_intent(fx: Fakes, provider: str, cn: str) -> Certificate:
    """An order placed at the provider whose answer was lost: an intent left `submitting`."""
    fx.provider(provider).fail_next("submit_order", ProviderTimeout(provider, "read timed out", outcome_unknown=True),
                                    commit=True)
    with pytest.raises(ProviderFailure) as info:
        fx.order(provider, cn)
    fx.clock.advance(seconds=1)
    return info.value.cert


def looked_up(fx: Fakes, provider: str) -> Counter[str]:
    """How often each intent was looked up at `provider` (by its client reference, our id)."""
    return Counter(fx.provider(provider).called("find_order"))


# -- reconcile -----------------------------------------------------------------------------------------------

def test_reconcile_goes_past_intents_it_cannot_settle_instead_of_reading_them_again() -> None:
    fx = batched()
    stuck = [lost_intent(fx, "digicert", f"stuck{i}.example.com") for i in range(BATCH)]
    behind = [lost_intent(fx, "resello", f"behind{i}.example.com") for i in range(BATCH)]
    fx.provider("digicert").fail_next("find_order", ProviderUnavailable("digicert", "down"), times=100)
    fx.clock.advance(seconds=fx.svc.cfg.reconcile_after_s + 1)
    assert jobs.reconcile(fx.svc, remaining)["provider_error"] == BATCH  # the head stays due, unchanged
    second = jobs.reconcile(fx.svc, remaining)
    assert second["pending"] == BATCH  # the ones behind it, adopted; not the same head again
    assert all(fx.current(c).status is S.PENDING for c in behind)
    assert all(fx.current(c).status is S.SUBMITTING for c in stuck)
    assert looked_up(fx, "digicert") == Counter({c.id: 1 for c in stuck})  # once each in two runs


def test_a_batch_exactly_full_of_orders_waiting_for_validation_then_the_interrupted_revoke_behind_it() -> None:
    fx = batched()
    waiting = [fx.order("resello", f"w{i}.example.com") for i in range(BATCH)]  # poll_pending's, due
    fx.clock.advance(minutes=10)
    cert = fx.issued("tinycert", "revoked.example.com")
    tinycert = fx.provider("tinycert")
    tinycert.fail_next("revoke", ProviderTimeout("tinycert", "timed out", outcome_unknown=True), commit=True)
    with pytest.raises(ProviderFailure):  # revoked at the provider, the answer lost: the claim is left
        fx.svc.revoke(fx.principal, cert, {"reason": "superseded"})
    assert fx.current(cert).operation == "revoke"
    assert all((fx.current(w).next_poll_at or "") < (fx.current(cert).next_poll_at or "") for w in waiting)
    fx.clock.advance(hours=2)
    first = jobs.reconcile(fx.svc, remaining)  # the batch: exactly the waiting orders, no call for any
    assert fx.current(cert).operation == "revoke"
    assert fx.provider("resello").called("get_order") == [] and "interrupted_cycles_completed" not in first
    second = jobs.reconcile(fx.svc, remaining)
    after = fx.current(cert)
    assert after.status is S.REVOKED and after.operation is None
    assert second["interrupted_cycles_completed"] == 1
    assert fx.provider("resello").called("get_order") == []  # the waiting orders stay poll_pending's


def test_the_place_wraps_and_an_intent_added_behind_it_is_reached_within_the_cycle() -> None:
    fx = batched()
    t0 = fx.clock()
    stuck = [lost_intent(fx, "digicert", f"stuck{i}.example.com") for i in range(BATCH + 2)]
    fx.provider("digicert").fail_next("find_order", ProviderUnavailable("digicert", "down"), times=100)
    fx.clock.advance(seconds=fx.svc.cfg.reconcile_after_s + 1)
    now = fx.clock()
    assert jobs.reconcile(fx.svc, remaining)["provider_error"] == BATCH
    place = fx.store.sweep_state("reconcile").position
    assert place is not None
    fx.clock.now = t0 - dt.timedelta(seconds=10)  # written with an earlier clock: filed before the place
    late = lost_intent(fx, "resello", "late.example.com")
    fx.clock.now = now
    assert (fx.current(late).next_poll_at or "") < place.key
    second = jobs.reconcile(fx.svc, remaining)  # the last two, then from the head: the late one, stuck0
    assert second["cycles_completed"] == 1 and second["provider_error"] == 3 and second["pending"] == 1
    assert fx.current(late).status is S.PENDING
    assert looked_up(fx, "digicert") == Counter({c.id: 2 if i == 0 else 1 for i, c in enumerate(stuck)})


def test_a_duplicate_reconcile_while_a_run_holds_the_sweep_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    fx = batched()
    intents = [lost_intent(fx, "resello", f"dup{i}.example.com") for i in range(2)]
    fx.clock.advance(seconds=fx.svc.cfg.reconcile_after_s + 1)
    resello = fx.provider("resello")
    real = resello.find_order
    duplicates: list[dict[str, Any]] = []

    def meanwhile(*args: Any, **kw: Any) -> Any:  # EventBridge delivers the same schedule again
        if not duplicates:
            duplicates.append(jobs.reconcile(fx.svc, remaining))
        return real(*args, **kw)

    monkeypatch.setattr(resello, "find_order", meanwhile)
    stats = jobs.reconcile(fx.svc, remaining)
    assert duplicates[0].get("duplicate_run") == 1 and "pending" not in duplicates[0]
    assert stats["pending"] == 2 and all(fx.current(c).status is S.PENDING for c in intents)
    assert len(resello.called("find_order")) == 2 and len(resello.orders) == 2  # each looked up once
    assert fx.store.sweep_state("reconcile").lease_owner is None


# -- sync_inventory --------------------------------------------------------------------------------------

def sync(fx: Fakes, when: Any = remaining, **later: float) -> dict[str, Any]:
    return sync_inventory(fx.svc, when, now=fx.clock() + dt.timedelta(**later))


def test_more_imports_due_than_a_batch_bounded_runs_every_one_reached_once_and_the_backlog_with_its_age() -> None:
    fx = batched()
    jobs_ = [start_import(fx.svc, f"arn:aws:iam::123456789012:user/u{i}", {"provider": "resello"})
             for i in range(BATCH + 1)]
    fx.clock.advance(minutes=10)
    first = sync(fx)
    assert first["completed"] == BATCH and first["backlog"] == 1
    assert first["backlog_age_s"] >= 600  # due since it was started, ten minutes ago
    second = sync(fx)
    assert second["completed"] == 1 and second["backlog"] == 0 and second["cycles_completed"] == 1
    runs = [get_import(fx.svc, f"arn:aws:iam::123456789012:user/u{i}", j["id"])["runs"] for i, j in enumerate(jobs_)]
    assert runs == [1] * (BATCH + 1)
    assert len(fx.provider("resello").called("list_certificates")) == BATCH + 1  # each listed once


def test_a_duplicate_sync_while_a_run_holds_the_sweep_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    fx = batched()
    for i in range(2):
        start_import(fx.svc, f"arn:aws:iam::123456789012:user/d{i}", {"provider": "resello"})
    resello = fx.provider("resello")
    real = resello.list_certificates
    duplicates: list[dict[str, Any]] = []

    def meanwhile(*args: Any, **kw: Any) -> Any:
        if not duplicates:
            duplicates.append(sync(fx))
        return real(*args, **kw)

    monkeypatch.setattr(resello, "list_certificates", meanwhile)
    stats = sync(fx)
    assert duplicates[0].get("duplicate_run") == 1 and duplicates[0]["due"] == 0
    assert stats["completed"] == 2 and len(resello.called("list_certificates")) == 2


def test_an_import_out_of_time_mid_page_resumes_at_the_first_item_not_done_without_double_handling() -> None:
    fx = batched()
    orders = [console_order(fx, "digicert", f"mid{i}.example.com") for i in range(5)]
    job = start_import(fx.svc, ALICE, {"provider": "digicert", "page_size": 10})  # one page of five

    def two_then_out() -> int:  # the Lambda's time runs out once two certificates are imported
        return 600_000 if len([c for c in fx.store.certificates() if c.origin == "imported"]) < 2 else 0

    first = sync(fx, two_then_out)
    assert first["left_for_next_run"] == 1 and "completed" not in first and "backlog" not in first
    paused = get_import(fx.svc, ALICE, job["id"])
    assert paused["status"] == "running" and paused["counters"]["created"] == 2
    assert fx.store.sweep_state("sync_inventory").lease_owner is None  # released for the next run
    second = sync(fx, minutes=5)  # the next scheduled run
    assert second["completed"] == 1 and second["created"] == 3
    done = get_import(fx.svc, ALICE, job["id"])
    assert done["counters"]["created"] == 5 and done["counters"]["pages"] == 1
    fetched = Counter(fx.provider("digicert").called("get_order"))
    assert fetched == Counter({o.id: 1 for o in orders})  # every item fetched once across both runs
    assert fx.provider("digicert").called("list_certificates") == [None, None]  # the page, read again
