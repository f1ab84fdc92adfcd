"""Route 53 DNS validation on fakes (issue 19 item 1): the records a provider asks for are written
into the allowed zone found by longest-suffix match, the provider is asked to check once Route 53
is in sync, the order issues through poll_pending with no manual step, and the records are
removed afterwards; domains outside the zones stay manual; explicit requests that cannot be met
are 422s naming the field; failures are recorded per domain, evented and counted."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.core import dns
from chalicelib.core.errors import ValidationFailed
from chalicelib.core.model import Certificate, Status
from chalicelib.service import jobs
from chalicelib.service.certificates import CertificateService
from tests.fakes import FakeDns
from tests.unit.service_kit import Fakes, remaining

ZONES = {"ZEXAMPLE": "example.com.", "ZTEAM": "team.example.com", "ZOTHER": "other.net"}


def with_dns(fx: Fakes, *, pending_polls: int = 0, provider_checks_dns: bool = True) -> FakeDns:
    zones = FakeDns(ZONES, pending_polls=pending_polls)
    fx.svc = CertificateService(cfg=fx.svc.cfg, store=fx.store, artifacts=fx.artifacts, publisher=fx.publisher,
                                vault=fx.vault, directory=fx.providers, clock=fx.clock, dns=zones)
    for provider in fx.providers.providers.values():
        provider.dns = zones if provider_checks_dns else None
    return zones


def poll(fx: Fakes, cert: Certificate) -> Certificate:
    fx.clock.advance(hours=7)  # past any backoff
    jobs.poll_pending(fx.svc, remaining)
    return fx.current(cert)


def progress(cert: Certificate, domain: str) -> dns.DomainProgress:
    auto = cert.dns_automation
    assert auto is not None
    found = auto.progress(domain)
    assert found is not None, auto
    return found


# -- pure -------------------------------------------------------------------------------------------------
def test_longest_suffix_match_and_wildcards_validate_their_base() -> None:
    zones = [dns.DnsZone(i, dns.fqdn(n)) for i, n in ZONES.items()]
    assert dns.zone_for("www.example.com", zones).zone_id == "ZEXAMPLE"  # type: ignore[union-attr]
    assert dns.zone_for("a.team.example.com", zones).zone_id == "ZTEAM"  # type: ignore[union-attr]
    assert dns.zone_for("*.team.example.com", zones).zone_id == "ZTEAM"  # type: ignore[union-attr]
    assert dns.zone_for("EXAMPLE.COM.", zones).zone_id == "ZEXAMPLE"  # type: ignore[union-attr]
    assert dns.zone_for("notexample.com", zones) is None
    assert dns.zone_for("*.other.org", zones) is None


def test_a_wildcard_and_its_base_share_one_record_set() -> None:
    both = [dns.DomainProgress("a.example.com", "Z", "_dnsauth.a.example.com", "TXT", "v1"),
            dns.DomainProgress("*.a.example.com", "Z", "_dnsauth.a.example.com", "TXT", "v1")]
    assert dns.records(both) == {("Z", "_dnsauth.a.example.com", "TXT"):
                                 dns.DnsRecord("_dnsauth.a.example.com", "TXT", ("v1",))}


def test_progress_round_trips_through_its_stored_form() -> None:
    auto = dns.DnsAutomation("on", "ZTEAM", 2, (dns.DomainProgress("a.example.com", "ZTEAM", written=True,
                                                                   error="x"),))
    assert dns.DnsAutomation.from_item(auto.to_item()) == auto


# -- the use case ---------------------------------------------------------------------------------------------
def test_an_order_in_an_allowed_zone_issues_through_the_poller_and_its_record_is_removed(fx: Fakes) -> None:
    zones = with_dns(fx)
    cert = fx.order("digicert", "www.team.example.com", dcv_method="dns")
    assert cert.status is Status.PENDING
    assert progress(cert, "www.team.example.com").zone_id == "ZTEAM"  # the longer suffix wins
    after = poll(fx, cert)
    assert after.status is Status.ISSUED, after
    done = progress(after, "www.team.example.com")
    assert done.written and done.in_sync and done.checked and done.validated and done.removed and done.error is None
    assert done.record_name == "_dcv.www.team.example.com" and done.record_type == "TXT"
    upserts = [arg for name, arg in zones.calls if name == "upsert"]
    assert upserts == [("ZTEAM", "_dcv.www.team.example.com", "TXT", (f"token-{cert.provider_order_id}",))]
    assert zones.records == {}  # removed after issuance
    assert fx.provider("digicert").called("retry_validation") == [cert.provider_order_id]


def test_the_check_waits_for_insync_and_a_rerun_writes_nothing_twice(fx: Fakes) -> None:
    zones = with_dns(fx, pending_polls=1)
    cert = fx.order("digicert", "slow.example.com")
    first = poll(fx, cert)
    p = progress(first, "slow.example.com")
    assert first.status is Status.PENDING and p.written and not p.in_sync and not p.checked
    assert fx.provider("digicert").called("retry_validation") == []  # never asked before INSYNC
    second = poll(fx, first)
    assert second.status is Status.ISSUED
    assert len([c for c in zones.calls if c[0] == "upsert"]) == 1  # the same record is not written again


def test_a_wildcard_order_validates_its_base_name_with_one_record(fx: Fakes) -> None:
    zones = with_dns(fx)
    cert = fx.order("digicert", "*.w.example.com", sans=[{"value": "*.w.example.com"}, {"value": "w.example.com"}])
    after = poll(fx, cert)
    assert after.status is Status.ISSUED, after.dns_automation
    upserts = [arg for name, arg in zones.calls if name == "upsert"]
    assert upserts == [("ZEXAMPLE", "_dcv.w.example.com", "TXT", (f"token-{cert.provider_order_id}",))]


def test_a_san_outside_the_zones_stays_manual_and_the_order_pending(fx: Fakes) -> None:
    zones = with_dns(fx)
    cert = fx.order("digicert", "m.example.com", sans=[{"value": "m.example.com"}, {"value": "www.elsewhere.org"}])
    assert progress(cert, "www.elsewhere.org").zone_id is None
    after = poll(fx, cert)
    assert after.status is Status.PENDING  # the provider still waits for the manual one
    assert progress(after, "m.example.com").in_sync and progress(after, "m.example.com").checked
    assert not progress(after, "www.elsewhere.org").written
    assert [k[1] for k in zones.records] == ["_dcv.m.example.com"]
    summary = fx.svc.validation(after).to_public()
    by_domain = {d["domain"]: d for d in summary["domains"]}
    assert by_domain["m.example.com"]["automation"]["record_written"] is True
    assert "automation" not in by_domain["www.elsewhere.org"]  # publish it yourself, as before
    fx.provider("digicert").issue(after.provider_order_id or "")  # the user published it: the CA issues
    assert poll(fx, after).status is Status.ISSUED
    assert zones.records == {}


def test_a_missing_record_keeps_the_order_pending_with_the_provider_check_recorded(fx: Fakes) -> None:
    with_dns(fx, provider_checks_dns=False)  # this provider's resolver never sees the zone
    cert = fx.order("resello", "lost.example.com")
    after = poll(fx, cert)
    p = progress(after, "lost.example.com")
    assert after.status is Status.PENDING and p.in_sync and p.checked and not p.validated


def test_route53_failure_is_recorded_per_domain_evented_and_counted_once(fx: Fakes) -> None:
    zones = with_dns(fx)
    cert = fx.order("digicert", "broken.example.com")
    zones.fail(1)
    after = poll(fx, cert)
    assert after.status is Status.PENDING
    assert progress(after, "broken.example.com").error == "route53: ServiceUnavailable"
    zones.fail(1)
    poll(fx, after)  # the same reason again: no second event
    failed = [e for e in fx.publisher.published if e.kind == "certificate.dcv_failed"]
    assert [e.detail["domain"] for e in failed] == ["broken.example.com"]
    assert failed[0].detail["certificate"]["id"] == cert.id
    assert poll(fx, after).status is Status.ISSUED  # Route 53 back: it goes on
    assert progress(fx.current(cert), "broken.example.com").error is None


def test_cancel_removes_the_records(fx: Fakes) -> None:
    zones = with_dns(fx, pending_polls=10)
    cert = fx.order("digicert", "gone.example.com")
    after = poll(fx, cert)
    assert zones.records
    fx.svc.cancel(fx.principal, after)
    assert fx.current(cert).status is Status.CANCELLED and zones.records == {}
    assert progress(fx.current(cert), "gone.example.com").removed


def test_opting_out_keeps_every_domain_manual(fx: Fakes) -> None:
    zones = with_dns(fx)
    cert = fx.order("digicert", "manual.example.com", dns_automation={"enabled": False})
    assert cert.dns_automation is None
    assert poll(fx, cert).status is Status.PENDING and zones.records == {}


def test_explicit_automation_that_cannot_be_had_is_a_422_naming_the_field(fx: Fakes) -> None:
    with_dns(fx)
    with pytest.raises(ValidationFailed) as outside:
        fx.order("digicert", "a.example.com", sans=[{"value": "a.example.com"}, {"value": "b.example.org"}],
                 dns_automation={"enabled": True})
    assert [(e.field, "b.example.org" in e.message) for e in outside.value.errors] == [("dns_automation", True)]
    with pytest.raises(ValidationFailed) as zone:
        fx.order("digicert", "a.example.com", dns_automation={"zone_id": "ZNOTALLOWED"})
    assert [e.field for e in zone.value.errors] == ["dns_automation.zone_id"]
    with pytest.raises(ValidationFailed) as pinned:
        fx.order("digicert", "a.example.com", dns_automation={"zone_id": "ZOTHER"})
    assert [e.field for e in pinned.value.errors] == ["dns_automation"]
    with pytest.raises(ValidationFailed) as method:
        fx.order("digicert", "a.example.com", dcv_method="email", approver={"email": "a@example.com"},
                 dns_automation={"enabled": True})
    assert [e.field for e in method.value.errors] == ["dcv_method"]
    with pytest.raises(ValidationFailed) as tinycert:
        fx.order("tinycert", "a.example.com", dns_automation={"enabled": True})
    assert [e.field for e in tinycert.value.errors] == ["dns_automation"]
    assert fx.store.certificates() == []


def test_explicit_automation_without_any_allowed_zone_is_a_422(fx: Fakes) -> None:
    with pytest.raises(ValidationFailed) as exc:
        fx.order("digicert", "a.example.com", dns_automation={"enabled": True})
    assert [e.field for e in exc.value.errors] == ["dns_automation"]


def test_zones_unreadable_at_order_time_leave_it_to_the_first_poll(fx: Fakes) -> None:
    zones = with_dns(fx)
    zones.fail(1)
    cert = fx.order("digicert", "later.example.com")  # no 503: automation was not asked for explicitly
    assert cert.status is Status.PENDING and cert.dns_automation is not None
    assert poll(fx, cert).status is Status.ISSUED


def test_a_mixed_order_is_checked_one_automated_domain_at_a_time(fx: Fakes, monkeypatch: pytest.MonkeyPatch) -> None:
    with_dns(fx)
    provider = fx.provider("resello")
    asked: list[tuple[str, str | None]] = []
    real = provider.retry_validation

    def spy(order_id: str, **kw: Any) -> Any:
        asked.append((order_id, kw.get("domain")))
        return real(order_id, **kw)

    monkeypatch.setattr(provider, "retry_validation", spy)
    cert = fx.order("resello", "x.example.com", sans=[{"value": "x.example.com"}, {"value": "x.elsewhere.org"}])
    poll(fx, cert)
    assert asked == [(cert.provider_order_id, "x.example.com")]  # the manual x.elsewhere.org is left alone
    alone = fx.order("resello", "y.example.com")
    poll(fx, alone)
    assert [d for o, d in asked if o == alone.provider_order_id] == [None]  # all automated: the whole order
