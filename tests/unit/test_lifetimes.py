"""Lifetime policy by issuance date (issue 17 item 1, issue 16 point 4): the one table in
core/lifetimes.py, at each boundary date, and the service ordering, clamping, refusing and
renewing by it."""

from __future__ import annotations

import datetime as dt

import pytest

from chalicelib.core.errors import ValidationFailed
from chalicelib.core.lifetimes import CABF_TLS, DIGICERT_PUBLIC, Lifetime, fixed
from chalicelib.core.model import Status
from chalicelib.providers import registry
from tests.unit.service_kit import Fakes

D = dt.date


@pytest.mark.parametrize(("on", "cabf", "digicert"), [
    (D(2026, 2, 23), 398, 397),
    (D(2026, 2, 24), 398, 199),  # DigiCert's own cut came three weeks early
    (D(2026, 3, 14), 398, 199),
    (D(2026, 3, 15), 200, 199),
    (D(2027, 3, 14), 200, 199),
    (D(2027, 3, 15), 100, 99),
    (D(2029, 3, 14), 100, 99),
    (D(2029, 3, 15), 47, 46),
    (D(2040, 1, 1), 47, 46),
])
def test_the_schedules_at_each_boundary(on: dt.date, cabf: int, digicert: int) -> None:
    assert (CABF_TLS.max_days(on), DIGICERT_PUBLIC.max_days(on)) == (cabf, digicert)


def test_each_provider_declares_its_rules() -> None:
    on = D(2029, 3, 15)
    assert registry.capabilities("digicert").max_validity_days("ov", on) == 46
    assert registry.capabilities("digicert").max_validity_days("private", on) == 397  # not bound by SC-081
    assert registry.capabilities("resello").max_validity_days("dv", on) == 47
    assert registry.capabilities("tinycert").max_validity_days("private", on) == 365
    assert not registry.capabilities("tinycert").lifetime.parameter
    assert not registry.capabilities("resello").lifetime.parameter
    assert registry.capabilities("digicert").lifetime.parameter


def test_decide_defaults_clamps_and_refuses() -> None:
    rules = Lifetime(DIGICERT_PUBLIC)
    on = D(2026, 12, 3)
    assert rules.decide("ov", on, None) == (d := rules.decide("ov", on, None)) and (d.days, d.clamped) == (199, False)
    exact = rules.decide("ov", on, 199)
    assert (exact.days, exact.clamped, exact.requested) == (199, False, 199)
    over = rules.decide("ov", on, 397)
    assert (over.days, over.clamped, over.requested) == (199, True, 397)
    with pytest.raises(ValueError, match="at most 199"):
        rules.decide("ov", on, 200, strict=True)
    assert rules.decide("ov", on, 199, strict=True).days == 199
    with pytest.raises(ValueError, match="takes no validity"):
        Lifetime(fixed("t", 365), parameter=False).decide("private", on, 365)


def _at(fx: Fakes, day: dt.date) -> None:
    fx.clock.now = dt.datetime(day.year, day.month, day.day, 12, tzinfo=dt.UTC)


def test_the_default_is_the_maximum_of_the_issuance_date(fx: Fakes) -> None:
    _at(fx, D(2026, 12, 3))
    cert = fx.order("digicert", "a.example.com")
    assert (cert.validity_days, cert.validity_clamped, cert.validity_requested) == (199, False, None)
    _at(fx, D(2027, 3, 15))
    later = fx.order("digicert", "b.example.com")
    assert later.validity_days == 99
    assert fx.order("resello", "c.example.com").validity_days == 100
    assert fx.order("digicert", "d.example.com", product="private",
                    provider_options={"ca_cert_id": "7D2A5B1C9E3F4A60"}).validity_days == 397


def test_a_longer_request_is_clamped_and_says_so(fx: Fakes) -> None:
    _at(fx, D(2026, 12, 3))
    cert = fx.order("digicert", "a.example.com", validity_days=397)
    assert (cert.validity_days, cert.validity_clamped, cert.validity_requested) == (199, True, 397)
    public = cert.to_public()
    assert (public["validity_days"], public["validity_clamped"], public["validity_requested"]) == (199, True, 397)
    order = fx.provider("digicert").orders[cert.provider_order_id or ""]
    assert order.request.validity_days == 199  # what the provider is asked for


def test_strict_refuses_instead_of_clamping(fx: Fakes) -> None:
    _at(fx, D(2026, 12, 3))
    with pytest.raises(ValidationFailed) as info:
        fx.order("digicert", "a.example.com", validity_days=200, validity_strict=True)
    assert [e.field for e in info.value.errors] == ["validity_days"]
    assert "at most 199" in info.value.errors[0].message
    assert fx.store.certificates() == []  # nothing written


@pytest.mark.parametrize("provider", ["tinycert", "resello"])
def test_a_provider_without_a_validity_parameter_refuses_one(fx: Fakes, provider: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        fx.order(provider, "a.example.com", validity_days=30)
    assert [e.field for e in info.value.errors] == ["validity_days"]
    assert "takes no validity" in info.value.errors[0].message


def test_a_renewal_follows_the_schedule_down(fx: Fakes) -> None:
    _at(fx, D(2027, 3, 1))
    defaulted = fx.issued("digicert", "a.example.com")
    asked = fx.issued("digicert", "b.example.com", validity_days=150)
    assert (defaulted.validity_days, asked.validity_days) == (199, 150)
    _at(fx, D(2027, 3, 20))
    renewed = fx.svc.renew(fx.principal, defaulted, None)
    assert renewed.validity_days == 99 and not renewed.validity_clamped
    again = fx.svc.renew(fx.principal, asked, None)
    assert (again.validity_days, again.validity_clamped, again.validity_requested) == (99, True, 150)
    assert renewed.status in (Status.PENDING, Status.ISSUED)
