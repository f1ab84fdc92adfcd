"""The next-action index: each certificate is filed at the earliest time renew_expiring has
something to do for it (core/renewal.py next_action_at), the service files it on every write, and
a run reads only what is due — at the boundaries: exactly at the renewal start, a notice then the
renewal, the retry after a refused renewal, a certificate added behind the place, a duplicate
invocation, and certificates written before the index (the one-off backfill)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import replace
from typing import Any

import pytest

from chalicelib.core import renewal
from chalicelib.core.errors import ProviderRejected
from chalicelib.core.model import Certificate, Status, iso, parse_iso
from chalicelib.core.renewal import RenewalRules
from chalicelib.service import jobs
from tests.unit.service_kit import POLICY, Fakes, build, remaining

T0 = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
US = dt.timedelta(microseconds=1)
RULES = RenewalRules()


def issued(days: int = 90, **fields: Any) -> Certificate:
    base = Certificate(id="crt_" + "1" * 32, owner="o", provider="tinycert", common_name="a.example.com",
                       status=Status.ISSUED, created_at=iso(T0) or "", updated_at=iso(T0) or "", version=1,
                       not_before=iso(T0), not_after=iso(T0 + days * DAY))
    return replace(base, **fields)


# -- the pure rule ------------------------------------------------------------------------------------

def test_nothing_is_ever_due_for_a_certificate_that_is_not_issued() -> None:
    for status in (Status.SUBMITTING, Status.PENDING, Status.EXPIRED, Status.REVOKED):
        assert renewal.next_action_at(issued(status=status), RULES) is None
    assert renewal.next_action_at(issued(not_after=None), RULES) is None


def test_without_auto_renewal_the_notices_in_turn_then_the_expiry() -> None:
    cert = issued(90)
    end = T0 + 90 * DAY
    assert renewal.next_action_at(cert, RULES) == end - 30 * DAY  # 1/3
    sent3 = replace(cert, notice_offset=3, notice_not_after=cert.not_after)
    assert renewal.next_action_at(sent3, RULES) == end - 15 * DAY  # 1/6
    sent30 = replace(cert, notice_offset=30, notice_not_after=cert.not_after)
    assert renewal.next_action_at(sent30, RULES) == end  # the `expired` step
    # a notice about an earlier not_after does not count for this certificate
    stale = replace(cert, notice_offset=30, notice_not_after=iso(T0))
    assert renewal.next_action_at(stale, RULES) == end - 30 * DAY


def test_with_auto_renewal_the_renewal_start_then_the_retry_after_a_refused_try() -> None:
    cert = issued(90, auto_renew=True)
    start = renewal.renewal_starts_at(cert, RULES)
    assert start is not None and renewal.next_action_at(cert, RULES) == start
    tried = start + DAY
    refused = replace(cert, renewal_attempted_at=iso(tried))
    assert renewal.next_action_at(refused, RULES) == tried + dt.timedelta(seconds=RULES.retry_after_s)
    # a long retry: the 1/6 notice (past the renewal window) comes first
    slow = RenewalRules(retry_after_s=30 * 86400)
    assert renewal.next_action_at(refused, slow) == T0 + 75 * DAY


@pytest.mark.parametrize("fields", [
    {}, {"auto_renew": True}, {"notice_offset": 3}, {"notice_offset": 6}, {"notice_offset": 30},
    {"auto_renew": True, "renewal_attempted_at": iso(T0 + 61 * DAY)},
    {"auto_renew": True, "notice_offset": 6, "renewal_attempted_at": iso(T0 + 80 * DAY)},
])
def test_something_is_due_exactly_at_the_next_action_and_nothing_a_microsecond_before(fields: dict) -> None:
    cert = issued(90, **fields)
    if "notice_offset" in fields:
        cert = replace(cert, notice_not_after=cert.not_after)
    at = renewal.next_action_at(cert, RULES)
    assert at is not None
    assert renewal.due_at(cert, at, RULES) is not None
    assert renewal.due_at(cert, at - US, RULES) is None


# -- the service files every write -----------------------------------------------------------------

def read_counter(fx: Fakes, monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Certificates the store hands out from the sweeps' indexes, by index."""
    seen: Counter[str] = Counter()
    for name in ("action_page", "expiring_page"):
        real = getattr(fx.store, name, None)
        if real is None:
            continue

        def counted(*args: Any, _real: Any = real, _name: str = name, **kw: Any) -> Any:
            page = _real(*args, **kw)
            seen[_name] += len(page.items)
            return page

        monkeypatch.setattr(fx.store, name, counted)
    return seen


def fleet(n: int, **kw: Any) -> tuple[Fakes, list[Certificate]]:
    fx = build(POLICY)
    fx.provider("tinycert").days = 90
    return fx, [fx.current(fx.order("tinycert", f"n{i}.example.com", **kw)) for i in range(n)]


def test_an_issued_certificate_is_filed_at_its_next_action() -> None:
    fx, (cert,) = fleet(1, auto_renew=True)
    assert cert.status is Status.ISSUED
    assert cert.next_action_at == iso(renewal.renewal_starts_at(cert, fx.svc.cfg.renewal))


def test_a_run_reads_only_the_certificates_that_have_something_due(monkeypatch: pytest.MonkeyPatch) -> None:
    fx, certs = fleet(6)
    jobs.renew_expiring(fx.svc, remaining)  # the first run completes the one-off backfill
    seen = read_counter(fx, monkeypatch)
    fx.clock.advance(days=1)
    assert "watched" not in jobs.renew_expiring(fx.svc, remaining)
    assert sum(seen.values()) == 0  # none due: none read
    fx.clock.advance(days=59)  # into every 1/3 notice
    assert jobs.renew_expiring(fx.svc, remaining)["notice_1_3"] == 6
    assert sum(seen.values()) == 6
    assert jobs.renew_expiring(fx.svc, remaining).get("notice_1_3") is None
    assert sum(seen.values()) == 6  # the handled ones left the head: the next run reads nothing
    assert all((fx.current(c).next_action_at or "") > (iso(fx.clock()) or "") for c in certs)


def test_the_renewal_is_made_exactly_at_its_start(monkeypatch: pytest.MonkeyPatch) -> None:
    fx, (cert,) = fleet(1, auto_renew=True)
    start = parse_iso(cert.next_action_at)
    assert start is not None
    jobs.renew_expiring(fx.svc, remaining)
    seen = read_counter(fx, monkeypatch)
    fx.clock.now = start - US
    assert "reissued" not in jobs.renew_expiring(fx.svc, remaining) and sum(seen.values()) == 0
    fx.clock.now = start
    assert jobs.renew_expiring(fx.svc, remaining)["reissued"] == 1
    after = fx.current(cert)
    assert after.revision == 2 and (parse_iso(after.next_action_at) or start) > start  # moved on: off the head


def test_a_refused_renewal_is_filed_at_its_retry_then_a_notice_comes_between(monkeypatch: pytest.MonkeyPatch) -> None:
    rules = RenewalRules(jitter=0.0, retry_after_s=20 * 86400)  # a retry after the 1/6 notice
    fx = build(replace(POLICY, renewal=rules))
    fx.provider("tinycert").days = 90
    cert = fx.current(fx.order("tinycert", "retry.example.com", auto_renew=True))
    end = parse_iso(cert.not_after)
    assert end is not None
    jobs.renew_expiring(fx.svc, remaining)
    seen = read_counter(fx, monkeypatch)
    fx.clock.now = parse_iso(cert.next_action_at) or end
    fx.provider("tinycert").fail_next("reissue", ProviderRejected("tinycert", "not now"))
    assert jobs.renew_expiring(fx.svc, remaining)["provider_error"] == 1
    refused = fx.current(cert)
    tried = parse_iso(refused.renewal_attempted_at)
    assert tried == fx.clock.now
    notice = end - 15 * DAY
    assert parse_iso(refused.next_action_at) == notice  # the 1/6 notice before the retry (20 days)
    fx.clock.now = notice - US
    assert sum(seen.values()) == 1 and "notice_1_6" not in jobs.renew_expiring(fx.svc, remaining)
    assert sum(seen.values()) == 1
    fx.clock.now = notice
    assert jobs.renew_expiring(fx.svc, remaining)["notice_1_6"] == 1
    retry = tried + dt.timedelta(days=20)
    assert parse_iso(fx.current(cert).next_action_at) == retry
    fx.clock.now = retry
    assert jobs.renew_expiring(fx.svc, remaining)["reissued"] == 1
    assert len(fx.provider("tinycert").called("reissue")) == 2


def test_a_certificate_filed_behind_the_place_is_reached_by_the_next_run() -> None:
    fx = build(replace(POLICY, renew_sweep_limit=2))
    fx.store.shards = 1
    fx.provider("tinycert").days = 90
    certs = [fx.order("tinycert", f"p{i}.example.com") for i in range(4)]
    fx.clock.advance(days=61)
    assert jobs.renew_expiring(fx.svc, remaining)["notice_1_3"] == 2
    place = fx.store.sweep_state("renew_expiring").position
    assert place is not None
    fx.provider("tinycert").days = 80  # a shorter lifetime: its notice is due, and filed before the place
    late = fx.current(fx.order("tinycert", "late.example.com"))
    assert (late.next_action_at or "") < place.key
    stats = jobs.renew_expiring(fx.svc, remaining)
    assert stats["notice_1_3"] == 2
    assert jobs.renew_expiring(fx.svc, remaining)["notice_1_3"] == 1
    sent = Counter(e.certificate_id for e in fx.publisher.published if e.kind == "certificate.expiring")
    assert sent == Counter({c.id: 1 for c in [*certs, late]})


def test_a_duplicate_invocation_after_the_first_reads_nothing_and_sends_nothing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    fx, certs = fleet(3)
    fx.clock.advance(days=61)
    first = jobs.renew_expiring(fx.svc, remaining)
    assert first["notice_1_3"] == 3
    seen = read_counter(fx, monkeypatch)
    again = jobs.renew_expiring(fx.svc, remaining)  # the same event delivered again, the lease released
    assert "notice_1_3" not in again and sum(seen.values()) == 0
    assert len([e for e in fx.publisher.published if e.kind == "certificate.expiring"]) == 3


def test_certificates_written_before_the_index_are_filed_by_a_one_off_backfill(
        monkeypatch: pytest.MonkeyPatch) -> None:
    fx, certs = fleet(3)
    for c in certs:  # as the table holds them from before: no next_action_at, in none of the index
        fx.store._certs[c.id] = replace(fx.store._certs[c.id], next_action_at=None)
    assert fx.store.action_page(fx.clock() + 400 * DAY, None, 10).items == []
    fx.clock.advance(days=61)  # their 1/3 notice is due
    seen = read_counter(fx, monkeypatch)
    stats = jobs.renew_expiring(fx.svc, remaining)
    assert stats["filed"] == 3 and stats["notice_1_3"] == 3  # filed (due now), then handled in the same run
    assert all(fx.current(c).next_action_at for c in certs)
    assert fx.store.sweep_state(jobs.BACKFILL).cycles == 1
    before = seen["expiring_page"]
    fx.clock.advance(days=1)
    jobs.renew_expiring(fx.svc, remaining)
    assert seen["expiring_page"] == before  # done once: the expiry index is not read again
