"""The sweeps of service/sweeps.py under renew_expiring and poll_pending, on fakes, at their
boundaries: more due than one batch (every certificate reached, none twice), a batch exactly
full, the place wrapping at the end of the index, a certificate added behind the place, the time
running out mid-page, a duplicate (concurrent) invocation and a lease left by a crashed one,
one certificate failing without stopping the run, the backlog metric, and the per-provider
call budget that keeps DigiCert inside its rate limits."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import replace

import pytest

from chalicelib.core.errors import DependencyFailed
from chalicelib.core.model import Certificate, Status, iso
from chalicelib.core.renewal import RenewalRules, renewal_starts_at
from chalicelib.service import jobs
from chalicelib.service.sweeps import CallBudget
from tests.unit.service_kit import POLICY, Fakes, build, remaining

BATCH = 4


def fleet(n: int, *, shards: int = 4, days: int = 90, batch: int = BATCH) -> tuple[Fakes, list[Certificate]]:
    """`n` TinyCert certificates of a `days` lifetime (issued at once), a sweep batch of `batch`."""
    fx = build(replace(POLICY, poll_batch_limit=batch, renew_sweep_limit=batch))
    fx.store.shards = shards
    fx.provider("tinycert").days = days
    return fx, [fx.order("tinycert", f"f{i}.example.com") for i in range(n)]


def notices(fx: Fakes) -> Counter[str]:
    return Counter(e.certificate_id for e in fx.publisher.published if e.kind == "certificate.expiring")


def into_the_notice_window(fx: Fakes) -> None:
    fx.clock.advance(days=61)  # 1/3 of 90 days left: every certificate is due its first notice


# -- reaching every certificate ------------------------------------------------------------------------------

def test_with_three_batches_due_three_runs_reach_every_certificate_once() -> None:
    fx, certs = fleet(3 * BATCH)
    into_the_notice_window(fx)
    reached = []
    for _ in range(3):
        stats = jobs.renew_expiring(fx.svc, remaining)
        assert stats["notice_1_3"] == BATCH  # each run a batch of new ones, never the same head
        reached.append(set(notices(fx)))
    assert notices(fx) == Counter({c.id: 1 for c in certs})
    assert [len(r) for r in reached] == [BATCH, 2 * BATCH, 3 * BATCH]
    again = jobs.renew_expiring(fx.svc, remaining)
    assert "notice_1_3" not in again and "watched" not in again  # a new cycle: nothing twice, nothing read


def test_a_batch_exactly_full_ends_the_cycle_on_the_next_run_without_handling_anything_twice() -> None:
    fx, certs = fleet(BATCH)
    into_the_notice_window(fx)
    first = jobs.renew_expiring(fx.svc, remaining)
    assert first["notice_1_3"] == BATCH
    second = jobs.renew_expiring(fx.svc, remaining)
    assert second.get("notice_1_3") is None and second["cycles_completed"] == 1
    assert "watched" not in second  # nothing due is left: the handled ones left the action index
    assert notices(fx) == Counter({c.id: 1 for c in certs})


def test_the_place_wraps_at_the_end_and_the_run_goes_on_from_the_head_up_to_where_it_began() -> None:
    fx, certs = fleet(2 * BATCH + 2)
    into_the_notice_window(fx)
    jobs.renew_expiring(fx.svc, remaining)
    jobs.renew_expiring(fx.svc, remaining)
    third = jobs.renew_expiring(fx.svc, remaining)
    assert third["notice_1_3"] == 2 and third["cycles_completed"] == 1
    assert "watched" not in third  # from the head again: the handled ones are filed later, not read
    assert notices(fx) == Counter({c.id: 1 for c in certs})
    state = fx.store.sweep_state("renew_expiring")
    # Nothing due lies ahead (the handled ones moved on in the action index): back at the head.
    assert state.cycles == 1 and state.position is None and state.lease_owner is None


def test_a_certificate_added_behind_the_place_is_reached_within_the_cycle() -> None:
    fx, certs = fleet(2 * BATCH, shards=1)
    into_the_notice_window(fx)
    jobs.renew_expiring(fx.svc, remaining)
    place = fx.store.sweep_state("renew_expiring").position
    assert place is not None
    # A shorter lifetime (the fake CA signs from the wall clock, 61 days before our clock): its
    # next action (the 1/3 notice) sorts before the place, and has come already.
    fx.provider("tinycert").days = 80
    late = fx.current(fx.order("tinycert", "late.example.com"))
    assert (late.next_action_at or "") < place.key
    jobs.renew_expiring(fx.svc, remaining)  # the rest of the cycle (after the place)
    jobs.renew_expiring(fx.svc, remaining)  # wraps: the head, where the late one is
    assert notices(fx)[late.id] == 1
    assert notices(fx) == Counter({c.id: 1 for c in [*certs, late]})


def test_out_of_time_mid_page_the_next_run_continues_at_the_first_certificate_left() -> None:
    fx, certs = fleet(2 * BATCH, batch=2 * BATCH - 3)  # a batch the second run fills with the rest
    into_the_notice_window(fx)
    def three_then_out() -> int:  # the time runs out once three notices are out
        return 600_000 if sum(notices(fx).values()) < 3 else 0

    first = jobs.renew_expiring(fx.svc, three_then_out)
    assert first["notice_1_3"] == 3 and first["left_for_next_run"] == 2  # the rest of its page
    assert "backlog" not in first  # no look ahead once the time is up
    second = jobs.renew_expiring(fx.svc, remaining)
    assert second["notice_1_3"] == 2 * BATCH - 3  # the rest, not the head again
    assert notices(fx) == Counter({c.id: 1 for c in certs})


# -- duplicate invocations ------------------------------------------------------------------------------------

def test_a_duplicate_invocation_while_a_run_holds_the_sweep_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    fx, certs = fleet(BATCH)
    into_the_notice_window(fx)
    real = fx.publisher.publish
    duplicates: list[dict] = []

    def meanwhile(ev):  # the scheduler delivers the same event again while the first run works
        if not duplicates:
            duplicates.append(jobs.renew_expiring(fx.svc, remaining))
        real(ev)

    monkeypatch.setattr(fx.publisher, "publish", meanwhile)
    stats = jobs.renew_expiring(fx.svc, remaining)
    assert duplicates[0].get("duplicate_run") == 1 and "notice_1_3" not in duplicates[0]
    assert stats["notice_1_3"] == BATCH
    assert notices(fx) == Counter({c.id: 1 for c in certs})
    assert fx.store.sweep_state("renew_expiring").lease_owner is None  # released after the run


def test_a_lease_left_by_a_crashed_run_is_taken_over_once_it_ends() -> None:
    fx, certs = fleet(BATCH)
    into_the_notice_window(fx)
    state = fx.store.sweep_state("renew_expiring")
    crashed = state.claimed("crashed-run", fx.clock(), fx.clock() + dt.timedelta(minutes=5)).next_version()
    fx.store.save_sweep(crashed)
    assert jobs.renew_expiring(fx.svc, remaining).get("duplicate_run") == 1
    fx.clock.advance(minutes=5)
    assert jobs.renew_expiring(fx.svc, remaining)["notice_1_3"] == BATCH


# -- isolation ---------------------------------------------------------------------------------------------

def test_one_certificate_failing_is_counted_and_the_run_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    fx = build(POLICY)
    certs = [fx.order("resello", f"iso{i}.example.com") for i in range(4)]
    for c in certs:
        fx.provider("resello").issue(c.provider_order_id or "")
    broken = certs[1]
    real = fx.artifacts.write_revision

    def missing_bucket(cert, *args, **kw):
        if cert.id == broken.id:
            raise DependencyFailed("bucket", "NoSuchBucket")
        return real(cert, *args, **kw)

    monkeypatch.setattr(fx.artifacts, "write_revision", missing_bucket)
    fx.clock.advance(seconds=61)
    stats = jobs.poll_pending(fx.svc, remaining)
    assert stats["issued"] == 3 and stats["failed"] == 1
    assert all(fx.current(c).status is Status.ISSUED for c in certs if c.id != broken.id)
    after = fx.current(broken)
    assert after.status is Status.PENDING and (after.next_poll_at or "") > (iso(fx.clock()) or "")  # backed off


def test_a_broken_provider_secret_fails_its_certificates_only() -> None:
    fx = build(POLICY)
    lost = fx.order("resello", "lost.example.com")
    kept = fx.order("digicert", "kept.example.com")
    fx.provider("digicert").issue(kept.provider_order_id or "")
    fx.providers.unconfigured = ("resello",)
    del fx.providers.providers["resello"]  # its secret can no longer be read
    fx.clock.advance(seconds=61)
    stats = jobs.poll_pending(fx.svc, remaining)
    assert stats["failed"] == 1 and stats["issued"] == 1
    assert fx.current(kept).status is Status.ISSUED and fx.current(lost).status is Status.PENDING


def test_the_table_failing_ends_the_run() -> None:
    fx, _ = fleet(2)
    into_the_notice_window(fx)
    fx.store.down = DependencyFailed("table", "ResourceNotFoundException")
    with pytest.raises(DependencyFailed):
        jobs.renew_expiring(fx.svc, remaining)


# -- the window and the backlog -----------------------------------------------------------------------------

def test_renewal_starts_exactly_at_the_window_start() -> None:
    fx = build(replace(POLICY, renewal=RenewalRules(jitter=0.0)))
    fx.provider("tinycert").days = 90
    cert = fx.order("tinycert", "edge.example.com", auto_renew=True)
    start = renewal_starts_at(fx.current(cert), fx.svc.cfg.renewal)
    assert start is not None
    fx.clock.now = start - dt.timedelta(seconds=1)
    assert "reissued" not in jobs.renew_expiring(fx.svc, remaining)
    fx.clock.now = start
    assert jobs.renew_expiring(fx.svc, remaining)["reissued"] == 1


def test_the_backlog_counts_the_due_left_for_later_and_their_age() -> None:
    fx, _ = fleet(3 * BATCH)
    into_the_notice_window(fx)
    first = jobs.renew_expiring(fx.svc, remaining)
    assert first["backlog"] == 2 * BATCH
    assert first["backlog_age_s"] >= 86400 - 60  # due since the 1/3 mark, a day ago (jitter: none here)
    jobs.renew_expiring(fx.svc, remaining)
    assert jobs.renew_expiring(fx.svc, remaining)["backlog"] == 0


def test_poll_pending_reaches_every_due_certificate_across_runs() -> None:
    fx = build(replace(POLICY, poll_batch_limit=BATCH))
    certs = [fx.order("resello", f"p{i}.example.com") for i in range(3 * BATCH)]
    fx.clock.advance(seconds=61)
    seen: Counter[str] = Counter()
    for _ in range(3):
        stats = jobs.poll_pending(fx.svc, remaining)
        assert stats["unchanged"] == BATCH
    for c in certs:
        seen[c.id] = fx.current(c).poll_attempts
    assert set(seen.values()) == {1}  # every one checked once


# -- the call budget -----------------------------------------------------------------------------------------

class FakeTime:
    def __init__(self) -> None:
        self.t = 0.0
        self.calls: list[float] = []

    def clock(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.t += s


def test_a_poll_run_keeps_digicert_inside_its_rate_limits_and_leaves_the_rest_due() -> None:
    fx = build(replace(POLICY, poll_batch_limit=1000, poll_concurrency_per_provider=1))
    certs = [fx.order("digicert", f"d{i:03}.example.com") for i in range(130)]
    fx.clock.advance(seconds=61)
    t = FakeTime()
    digicert = fx.provider("digicert")
    real = digicert.get_order

    def timed(order_id: str, *, with_material: bool = True):
        t.calls.append(t.t)
        return real(order_id, with_material=with_material)

    digicert.get_order = timed  # type: ignore[method-assign]
    stats = jobs.poll_pending(fx.svc, remaining, clock=t.clock, sleep=t.sleep)
    # 1,000 per 5 min, half of it for this job, runs a minute apart: 100 calls a run
    assert stats["unchanged"] == 100 and stats["over_budget"] == 30
    busiest = max(sum(1 for c in t.calls if s <= c < s + 5 - 1e-9) for s in t.calls)
    assert busiest <= 50, busiest  # 100 per 5 s, halved
    untouched = [c for c in certs if fx.current(c).poll_attempts == 0]
    assert len(untouched) == 30 and all(fx.current(c).next_poll_at == c.next_poll_at for c in untouched)
    fx.clock.advance(seconds=61)
    jobs.poll_pending(fx.svc, remaining, clock=t.clock, sleep=t.sleep)
    assert all(fx.current(c).poll_attempts >= 1 for c in untouched)  # the next run reaches them


def test_the_call_budget_follows_the_limits() -> None:
    t = FakeTime()
    budget = CallBudget({"digicert": ((100, 5.0), (1000, 300.0)), "free": ()}, share=0.5, interval_s=60,
                        clock=t.clock, sleep=t.sleep)
    assert budget.quota("digicert") == 100 and budget.quota("free") is None
    taken = 0
    while budget.take("digicert"):
        taken += 1
    assert taken == 100 and t.t == pytest.approx(99 * 0.1)  # 10 a second: 50 per 5 s
    assert all(budget.take("free") for _ in range(1000))


def test_automatic_renewals_at_digicert_are_paced_inside_their_share_of_the_limits() -> None:
    fx = build(POLICY)
    fx.provider("digicert").days = 90
    certs = [fx.issued("digicert", f"r{i}.example.com", auto_renew=True) for i in range(5)]
    fx.clock.advance(days=61)
    t = FakeTime()
    digicert = fx.provider("digicert")
    real = digicert.reissue

    def timed(order_id, req):
        t.calls.append(t.t)
        return real(order_id, req)

    digicert.reissue = timed  # type: ignore[method-assign]
    stats = jobs.renew_expiring(fx.svc, remaining, clock=t.clock, sleep=t.sleep)
    assert stats["reissued"] == 5 and all(fx.current(c).operation == "reissue" for c in certs)
    gaps = [b - a for a, b in zip(t.calls, t.calls[1:], strict=False)]
    assert gaps and min(gaps) >= 1.2 - 1e-9  # a quarter of 1,000 per 5 min: one every 1.2 s, never a burst
