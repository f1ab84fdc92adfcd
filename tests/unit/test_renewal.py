"""The renewal policy of core/renewal.py, pure, at its boundaries: the window relative to the
lifetime (exactly at its start), the per-certificate jitter (bounded, fixed, spread), the expiry
notices (once per offset, only the nearest when seen late, anew for a new certificate, only past
the window for auto-renewed ones), and the plan (reissue inside coverage, paid renewal at its end)."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from chalicelib.core.model import Certificate, Revision, Status, iso
from chalicelib.core.renewal import (
    RenewalRules,
    coverage_until,
    due_at,
    jitter_share,
    notice_due,
    renewal_due,
    renewal_operation,
    renewal_starts_at,
)

T0 = dt.datetime(2027, 3, 15, 0, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
NO_JITTER = RenewalRules(jitter=0.0)


def cert(days: int = 90, *, n: int = 1, auto_renew: bool = False, **kw) -> Certificate:
    base = Certificate(id=f"crt_{n:032x}", owner="o", provider="digicert", common_name="a.example.com",
                       status=Status.ISSUED, created_at=iso(T0) or "", updated_at=iso(T0) or "", version=1,
                       not_before=iso(T0), not_after=iso(T0 + days * DAY), auto_renew=auto_renew,
                       revisions=(Revision(1, "order", issued_at=iso(T0), not_before=iso(T0)),))
    return replace(base, **kw)


def test_renewal_starts_exactly_when_a_third_of_the_lifetime_remains() -> None:
    c = cert(90, auto_renew=True)
    start = T0 + 60 * DAY
    assert renewal_starts_at(c, NO_JITTER) == start
    assert not renewal_due(c, start - dt.timedelta(seconds=1), NO_JITTER)
    assert renewal_due(c, start, NO_JITTER)  # exactly at the window start
    assert not renewal_due(replace(c, auto_renew=False), start, NO_JITTER)
    assert not renewal_due(c, T0 + 90 * DAY, NO_JITTER)  # expired: no renewal, expiry
    short = cert(47, auto_renew=True)  # a 47-day certificate renews with 15.67 days left, not at 30
    assert renewal_starts_at(short, NO_JITTER) == T0 + 47 * DAY - 47 * DAY / 3


def test_the_jitter_is_bounded_fixed_per_certificate_and_spreads_a_fleet() -> None:
    rules = RenewalRules()  # up to 10% of the window earlier
    window = 30 * DAY
    starts = [renewal_starts_at(cert(90, n=i), rules) for i in range(1000)]
    latest, earliest = T0 + 60 * DAY, T0 + 60 * DAY - window * 0.1
    assert all(s is not None and earliest <= s <= latest for s in starts)
    assert renewal_starts_at(cert(90, n=7), rules) == starts[7]  # the same on every run
    hours = {int(((s or T0) - earliest).total_seconds() // 3600) for s in starts}
    assert len(hours) > 60  # a fleet issued the same minute starts renewing over ~72 hours
    assert 0 <= min(jitter_share(f"crt_{i}") for i in range(100)) < max(jitter_share(f"crt_{i}") for i in range(100)) < 1


def test_notices_at_a_third_a_sixth_and_a_thirtieth_of_the_lifetime_once_each() -> None:
    c = cert(90)
    assert notice_due(c, T0 + 60 * DAY - dt.timedelta(seconds=1), NO_JITTER) is None
    assert notice_due(c, T0 + 60 * DAY, NO_JITTER) == 3  # exactly at 1/3 left
    c = replace(c, notice_offset=3, notice_not_after=c.not_after)
    assert notice_due(c, T0 + 70 * DAY, NO_JITTER) is None  # once
    assert notice_due(c, T0 + 75 * DAY, NO_JITTER) == 6
    c = replace(c, notice_offset=6)
    assert notice_due(c, T0 + 87 * DAY, NO_JITTER) == 30
    assert notice_due(replace(c, notice_offset=30), T0 + 89 * DAY, NO_JITTER) is None
    assert notice_due(c, T0 + 90 * DAY, NO_JITTER) is None  # expired: the expiry event, no notice


def test_a_certificate_seen_late_gets_the_nearest_notice_only_and_a_new_one_starts_over() -> None:
    c = cert(90)
    assert notice_due(c, T0 + 88 * DAY, NO_JITTER) == 30
    sent = replace(c, notice_offset=30, notice_not_after=c.not_after)
    renewed = replace(sent, not_before=iso(T0 + 88 * DAY), not_after=iso(T0 + 178 * DAY))
    assert notice_due(renewed, T0 + 89 * DAY, NO_JITTER) is None
    assert notice_due(renewed, T0 + 148 * DAY, NO_JITTER) == 3  # the new certificate's own notices


def test_an_auto_renewed_certificate_is_told_only_when_its_renewal_is_overdue() -> None:
    c = cert(90, auto_renew=True)
    assert notice_due(c, T0 + 60 * DAY, NO_JITTER) is None  # its renewal starts instead
    assert notice_due(c, T0 + 75 * DAY, NO_JITTER) == 6
    assert due_at(c, T0 + 61 * DAY, NO_JITTER) == T0 + 60 * DAY  # due since its window began
    assert due_at(cert(90), T0 + 30 * DAY, NO_JITTER) is None


def test_the_horizon_covers_every_window_and_notice() -> None:
    rules = RenewalRules()
    longest = cert(rules.max_lifetime_days, auto_renew=True, n=3)
    start = renewal_starts_at(longest, rules)
    assert start is not None and longest.not_after is not None
    assert rules.horizon(start) >= T0 + rules.max_lifetime_days * DAY


def test_inside_the_plan_a_renewal_is_a_free_reissue_and_a_paid_renewal_at_its_end() -> None:
    c = cert(199, provider_options={"order_validity_years": 2})
    plan_end = coverage_until(c, "plan")
    assert plan_end == T0.replace(year=2029)
    assert renewal_operation(c, "plan", plan_end) == "reissue"
    last = replace(c, not_before=iso(T0 + 600 * DAY), not_after=iso(T0 + 799 * DAY),
                   revisions=(*c.revisions, Revision(2, "reissue", issued_at=iso(T0 + 600 * DAY))))
    assert coverage_until(last, "plan") == plan_end  # a reissue does not extend the plan
    assert renewal_operation(last, "plan", plan_end) == "renew"  # the certificate outlasts the plan
    paid = replace(last, revisions=(*last.revisions, Revision(3, "renew", issued_at=iso(T0 + 790 * DAY))))
    assert coverage_until(paid, "plan") == (T0 + 790 * DAY).replace(year=2031)  # the renewal's own plan
    assert coverage_until(cert(199), "plan") == T0.replace(year=2028)  # DigiCert's default: one year
    assert coverage_until(c, "renew") is None and coverage_until(c, "reissue") is None
    assert renewal_operation(c, "reissue", None) == "reissue"  # TinyCert: a fresh year, same order
    assert renewal_operation(c, "renew", None) == "renew"  # Resello: no known plan term


def test_a_refused_renewal_is_tried_again_only_after_the_retry_interval() -> None:
    c = cert(90, auto_renew=True)
    start = T0 + 60 * DAY
    tried = replace(c, renewal_attempted_at=iso(start))
    assert not renewal_due(tried, start + dt.timedelta(hours=11), NO_JITTER)
    assert renewal_due(tried, start + dt.timedelta(hours=12), NO_JITTER)
    assert due_at(tried, start + dt.timedelta(hours=1), NO_JITTER) is None
