"""The scheduled jobs of service/jobs.py on fakes: poll_pending (due index only, backoff, 429s
per provider, time budget, races), reconcile, renew_expiring (notices once each, expiry,
auto-renewal), sync_inventory through `jobs.run`, and `jobs.run` refusing an unknown name."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from chalicelib.core.errors import ProviderUnavailable, RateLimited
from chalicelib.core.model import Status, parse_iso
from chalicelib.service import jobs
from chalicelib.service.inventory import start_import
from chalicelib.service.jobs import UnknownJob
from tests.unit.service_kit import POLICY, Fakes, build, console_order, outcomes, remaining

S = Status


def later(fx: Fakes, seconds: float) -> None:
    fx.clock.advance(seconds=seconds)


# -- poll_pending --------------------------------------------------------------------------------------------

def test_poll_pending_refreshes_only_what_is_due(fx: Fakes) -> None:
    a, b = fx.order("resello", "a.example.com"), fx.order("digicert", "b.example.com")
    issued_early = fx.order("tinycert", "c.example.com")
    assert issued_early.status is S.ISSUED
    assert jobs.poll_pending(fx.svc, remaining)["due"] == 0  # nothing due before the first interval
    assert fx.provider("resello").called("get_order") == []
    fx.provider("resello").issue(a.provider_order_id or "")
    later(fx, fx.svc.cfg.poll_min_interval_s)
    stats = jobs.poll_pending(fx.svc, remaining)
    assert (stats["due"], stats["issued"], stats["unchanged"]) == (2, 1, 1)
    assert fx.current(a).status is S.ISSUED and fx.publisher.kinds(a.id) == ["certificate.issued"]
    waiting = fx.current(b)
    assert waiting.poll_attempts == 1
    wait = (parse_iso(waiting.next_poll_at) - fx.clock()).total_seconds()  # type: ignore[operator]
    assert fx.svc.cfg.poll_min_interval_s <= wait <= 2 * 2 * fx.svc.cfg.poll_min_interval_s  # backoff, jittered


def test_a_rate_limit_stops_that_providers_work_and_postpones_it() -> None:
    fx = build(replace(POLICY, poll_concurrency_per_provider=1))
    certs = [fx.order("digicert", f"r{i}.example.com") for i in range(3)]
    other = fx.order("resello", "other.example.com")
    fx.provider("digicert").fail_next("get_order", RateLimited("digicert", "slow down", retry_after=120))
    later(fx, 61)
    stats = jobs.poll_pending(fx.svc, remaining)
    assert stats["rate_limited"] == 3 and stats["unchanged"] == 1
    assert len(fx.provider("digicert").called("get_order")) == 1  # the rest were not even tried
    for cert in certs:
        assert parse_iso(fx.current(cert).next_poll_at) == fx.clock() + dt.timedelta(seconds=120)
        assert fx.current(cert).poll_attempts == 0  # a postponement is not an unanswered check
    assert fx.current(other).poll_attempts == 1


def test_a_provider_error_backs_off_one_certificate(fx: Fakes) -> None:
    cert = fx.order("digicert")
    fx.provider("digicert").fail_next("get_order", ProviderUnavailable("digicert", "502"))
    later(fx, 61)
    assert jobs.poll_pending(fx.svc, remaining)["provider_error"] == 1
    after = fx.current(cert)
    assert after.status is S.PENDING and after.poll_attempts == 1 and parse_iso(after.next_poll_at) > fx.clock()


def test_poll_pending_stops_before_its_time_budget_ends(fx: Fakes) -> None:
    fx.order("digicert")
    later(fx, 61)
    stats = jobs.poll_pending(fx.svc, lambda: fx.svc.cfg.poll_safety_margin_ms - 1)
    assert stats["left_for_next_run"] == 1 and "events_flushed" not in stats
    assert fx.provider("digicert").called("get_order") == []


def test_a_certificate_changed_while_polled_is_counted_as_raced(fx: Fakes, monkeypatch: pytest.MonkeyPatch) -> None:
    cert = fx.order("digicert")
    fx.provider("digicert").issue(cert.provider_order_id or "")
    digicert = fx.provider("digicert")
    real = digicert.get_order

    def meanwhile(order_id: str, *, with_material: bool = True):  # a user refresh lands first
        fx.svc.postpone(fx.current(cert), 5)
        return real(order_id, with_material=with_material)

    monkeypatch.setattr(digicert, "get_order", meanwhile)
    later(fx, 61)
    assert jobs.poll_pending(fx.svc, remaining)["raced"] == 1
    assert fx.current(cert).status is S.PENDING  # nothing overwritten; the next run picks it up


# -- reconcile ---------------------------------------------------------------------------------------------

def test_reconcile_reads_only_intents_that_are_due(fx: Fakes) -> None:
    fx.order("digicert")  # a confirmed order is none of reconcile's business
    later(fx, 10_000)
    assert outcomes(jobs.reconcile(fx.svc, remaining)) == {"events_flushed": 0}
    assert fx.provider("digicert").called("find_order") == []


# -- renew_expiring -----------------------------------------------------------------------------------------

def expiring_soon(fx: Fakes, days: int, **fields) -> object:
    fx.provider("tinycert").days = days
    return fx.order("tinycert", f"exp{days}.example.com", **fields)


def days(fx: Fakes, n: float) -> None:
    fx.clock.advance(days=n)


def test_expiry_notices_at_a_third_a_sixth_and_a_thirtieth_of_the_lifetime_once_each(fx: Fakes) -> None:
    cert = expiring_soon(fx, 90)  # TinyCert issues at once: a 90-day lifetime from now
    assert "watched" not in jobs.renew_expiring(fx.svc, remaining)  # nothing due: not even read
    days(fx, 60)
    assert jobs.renew_expiring(fx.svc, remaining)["notice_1_3"] == 1
    assert "notice_1_3" not in jobs.renew_expiring(fx.svc, remaining)  # not twice
    notice = fx.publisher.published[-1]
    assert notice.kind == "certificate.expiring" and notice.detail["remaining_fraction"] == "1/3"
    assert notice.detail["certificate"]["id"] == cert.id and notice.detail["auto_renew"] is False
    days(fx, 15)
    assert jobs.renew_expiring(fx.svc, remaining)["notice_1_6"] == 1
    days(fx, 12)
    assert jobs.renew_expiring(fx.svc, remaining)["notice_1_30"] == 1
    days(fx, 3)
    assert jobs.renew_expiring(fx.svc, remaining)["expired"] == 1
    assert fx.current(cert).status is S.EXPIRED
    assert fx.publisher.kinds(cert.id) == ["certificate.issued", *["certificate.expiring"] * 3, "certificate.expired"]
    assert "expired" not in jobs.renew_expiring(fx.svc, remaining)  # out of the expiry index


def test_a_certificate_first_seen_close_to_expiry_gets_only_the_nearest_notice(fx: Fakes) -> None:
    expiring_soon(fx, 90)
    days(fx, 88)
    assert jobs.renew_expiring(fx.svc, remaining)["notice_1_30"] == 1
    assert fx.publisher.kinds().count("certificate.expiring") == 1


def test_auto_renew_starts_when_a_third_of_the_lifetime_remains_by_reissue_at_tinycert(fx: Fakes) -> None:
    cert = expiring_soon(fx, 90, auto_renew=True)
    far = expiring_soon(fx, 300, auto_renew=True)
    days(fx, 56)  # before the earliest jittered start (60 days, at most 3 earlier)
    assert "reissued" not in jobs.renew_expiring(fx.svc, remaining)
    days(fx, 4)
    assert jobs.renew_expiring(fx.svc, remaining)["reissued"] == 1
    renewed = fx.current(cert)
    assert renewed.status is S.ISSUED and renewed.revision == 2  # TinyCert reissues at once: a fresh certificate
    assert [r.reason for r in renewed.revisions] == ["order", "reissue"]
    assert any(e.kind == "certificate.reissue_requested" and e.actor == "renew_expiring"
               for e in fx.store.all_events(cert.id))
    assert fx.current(far).revision == 1
    assert fx.publisher.kinds().count("certificate.expiring") == 0  # renewed automatically: no notices


def test_digicert_renews_by_free_reissue_inside_the_plan_and_by_paid_renewal_at_its_end(fx: Fakes) -> None:
    digicert = fx.provider("digicert")
    digicert.days = 199
    cert = fx.issued("digicert", "plan.example.com", auto_renew=True,
                     provider_options={"order_validity_years": 1})
    plan = fx.current(cert).coverage_until
    assert plan is not None and plan[:4] == str(fx.clock().year + 1)  # one year from the order
    assert fx.current(cert).to_public()["coverage_until"] == plan

    def renewal_run() -> dict:
        stats = jobs.renew_expiring(fx.svc, remaining)
        now = fx.current(cert)
        if now.status is S.PENDING:
            digicert.issue(now.provider_order_id or "")
            fx.svc.refresh(now, actor="test")
        return stats

    days(fx, 140)  # 1/3 of 199 days left (and the jitter's earliest): inside the plan
    digicert.days = 400  # (the fake CA signs from the wall clock: this one outlasts the one-year plan)
    assert renewal_run()["reissued"] == 1
    first = fx.current(cert)
    assert first.revisions[-1].reason == "reissue" and first.provider_order_id == cert.provider_order_id
    assert first.coverage_until == plan  # a reissue does not extend the plan
    days(fx, 130)  # inside the reissued certificate's window, which ends after the plan: a paid renewal
    assert renewal_run()["renewed"] == 1
    second = fx.current(cert)
    assert second.revisions[-1].reason == "renew" and second.provider_order_id != cert.provider_order_id
    assert len(digicert.called("renew")) == 1 and len(digicert.called("reissue")) == 1
    jobs.renew_expiring(fx.svc, remaining)
    assert (fx.current(cert).coverage_until or "") > plan  # the paid renewal's own plan


# -- jobs.run ----------------------------------------------------------------------------------------------

def test_run_dispatches_by_name(fx: Fakes) -> None:
    fx.order("digicert")
    later(fx, 61)
    assert jobs.run(fx.svc, "poll_pending", remaining)["due"] == 1
    assert outcomes(jobs.run(fx.svc, "reconcile", remaining)) == {"events_flushed": 0}


def test_run_sync_inventory_imports_what_the_provider_holds() -> None:
    fx = build(replace(POLICY, import_inline_s=0))
    for i in range(3):
        console_order(fx, "resello", f"console{i}.example.com")
    job = start_import(fx.svc, fx.principal, {"provider": "resello"})
    assert job["status"] == "queued"
    stats = jobs.run(fx.svc, "sync_inventory", remaining)
    assert stats["due"] == 1 and stats["completed"] == 1 and stats["created"] == 3
    imported = [c for c in fx.store.certificates() if c.origin == "imported"]
    assert sorted(c.common_name for c in imported) == [f"console{i}.example.com" for i in range(3)]


def test_an_unknown_job_name_is_an_error_and_runs_nothing(fx: Fakes) -> None:
    fx.order("digicert")
    later(fx, 61)
    with pytest.raises(UnknownJob, match="known: poll_pending, reconcile, renew_expiring, sync_inventory"):
        jobs.run(fx.svc, "poll_pendng", remaining)
    assert fx.provider("digicert").called("get_order") == []
    assert isinstance(UnknownJob("x"), LookupError)


def test_a_refused_automatic_renewal_is_not_retried_on_every_run(fx: Fakes) -> None:
    from chalicelib.core.errors import ProviderRejected

    cert = expiring_soon(fx, 90, auto_renew=True)
    days(fx, 61)
    fx.provider("tinycert").fail_next("reissue", ProviderRejected("tinycert", "not now"))
    assert jobs.renew_expiring(fx.svc, remaining)["provider_error"] == 1
    assert fx.current(cert).status is S.ISSUED and fx.current(cert).revision == 1  # back to the good one
    fx.clock.advance(hours=1)
    assert "reissued" not in jobs.renew_expiring(fx.svc, remaining)  # the next hourly run waits
    assert len(fx.provider("tinycert").called("reissue")) == 1
    fx.clock.advance(hours=12)
    assert jobs.renew_expiring(fx.svc, remaining)["reissued"] == 1
