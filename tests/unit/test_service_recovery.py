"""Revocation as a request we follow, unknown provider statuses that never demote, and every
interrupted step (reissue, renew, revoke, cancel) finished by reconcile — on fakes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.core.errors import Conflict
from chalicelib.core.model import Status
from chalicelib.service import jobs
from tests.unit.service_kit import Fakes, remaining

S = Status


class Died(BaseException):
    """The process ended between the provider's answer and our write."""


def kinds(fx: Fakes, cert_id: str) -> list[str]:
    return [e.kind for e in fx.store.all_events(cert_id)]


def poll(fx: Fakes) -> dict[str, Any]:
    fx.clock.now += dt.timedelta(hours=2)  # past every backoff
    return jobs.poll_pending(fx.svc, remaining)


# -- A. revocation held for approval ------------------------------------------------------------------
@pytest.fixture()
def held(fx: Fakes) -> Iterator[Any]:
    cert = fx.issued("digicert", "held.example.com")
    fx.provider("digicert").revoke_approval = True
    yield fx.svc.revoke(fx.principal, cert, {"reason": "key_compromise"})


def test_a_revoke_held_for_approval_is_pending_and_the_certificate_stays_issued(fx: Fakes, held: Any) -> None:
    assert held.status is S.ISSUED and held.operation is None
    public = fx.current(held).to_public()
    assert public["status"] == "issued"
    assert public["revocation"]["status"] == "pending"
    assert public["revocation"]["reason"] == "key_compromise"
    assert public["revocation"]["request_id"].startswith("rq-")
    assert "certificate.revocation_requested" in kinds(fx, held.id)


def test_a_second_revoke_and_any_reissue_or_renew_are_refused_while_it_is_pending(fx: Fakes, held: Any) -> None:
    cert = fx.current(held)
    request = cert.revocation.request_id
    with pytest.raises(Conflict) as second:
        fx.svc.revoke(fx.principal, cert, {"reason": "superseded"})
    assert second.value.code == "revocation_pending" and request in str(second.value)
    for change in (fx.svc.reissue, fx.svc.renew):
        with pytest.raises(Conflict) as refused:
            change(fx.principal, cert, None)
        assert refused.value.code == "revocation_pending"
    assert len(fx.provider("digicert").called("revoke")) == 1


def test_the_poller_follows_an_approved_revoke_request_to_revoked(fx: Fakes, held: Any) -> None:
    poll(fx)
    assert fx.current(held).status is S.ISSUED  # still waiting: looked at, nothing changed
    fx.provider("digicert").decide_revocation(held.provider_order_id, approve=True)
    poll(fx)
    after = fx.current(held)
    assert after.status is S.REVOKED and after.revocation.state == "revoked"
    assert kinds(fx, held.id).count("certificate.revoked") == 1
    assert "certificate.revoked" in fx.publisher.kinds(held.id)


def test_a_rejected_revoke_request_is_cleared_with_its_event(fx: Fakes, held: Any) -> None:
    fx.provider("digicert").decide_revocation(held.provider_order_id, approve=False, reason="not ours to revoke")
    poll(fx)
    poll(fx)
    after = fx.current(held)
    assert after.status is S.ISSUED and after.revocation is None and after.due_kind is None
    assert kinds(fx, held.id).count("certificate.revocation_rejected") == 1
    rejected = [e for e in fx.store.all_events(held.id) if e.kind == "certificate.revocation_rejected"][0]
    assert rejected.detail["rejection"] == "not ours to revoke"
    fx.provider("digicert").revoke_approval = False
    assert fx.svc.revoke(fx.principal, after, {"reason": "superseded"}).status is S.REVOKED  # may ask again


# -- B. an unknown provider status never demotes ----------------------------------------------------
def test_an_unknown_status_keeps_issued_records_the_raw_value_and_is_surfaced_once(
        fx: Fakes, monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import replace

    from chalicelib.service import certificates

    metrics: list[tuple[str, dict[str, str]]] = []
    monkeypatch.setattr(certificates, "count", lambda name, value=1, **dims: metrics.append((name, dims)))
    cert = fx.issued("digicert", "weird.example.com")
    fake = fx.provider("digicert")
    real_view = fake.view
    monkeypatch.setattr(fake, "view", lambda order, **kw: replace(real_view(order, **kw), status=S.PENDING,
                                                                  raw_status="weird_status",
                                                                  status_recognized=False))
    first = fx.svc.refresh(fx.current(cert), actor="poll_pending")
    second = fx.svc.refresh(fx.current(cert), actor="poll_pending")
    assert first.status is S.ISSUED and second.status is S.ISSUED
    stored = fx.current(cert)
    assert stored.provider_status == "weird_status" and stored.provider_status_unmapped
    assert stored.to_public()["provider_refs"]["status"] == "weird_status"
    assert kinds(fx, cert.id).count("certificate.provider_state_unmapped") == 1
    assert metrics == [("ProviderStateUnmapped", {"provider": "digicert"})]
    with pytest.raises(Conflict):
        fx.svc.cancel(fx.principal, stored)
    assert fake.called("cancel") == []


# -- C. interrupted steps ----------------------------------------------------------------------------
def _dies_on_write(fx: Fakes, monkeypatch: pytest.MonkeyPatch, after_writes: int) -> None:
    """The store takes `after_writes` writes, then the process dies on the next one."""
    real = fx.store.save
    seen = {"n": 0}

    def save(*args: Any, **kwargs: Any) -> None:
        seen["n"] += 1
        if seen["n"] > after_writes:
            monkeypatch.setattr(fx.store, "save", real)
            raise Died()
        real(*args, **kwargs)

    monkeypatch.setattr(fx.store, "save", save)


CASES = [("digicert", "reissue"), ("digicert", "renew"), ("digicert", "revoke"), ("digicert", "cancel"),
         ("tinycert", "reissue"), ("tinycert", "revoke"), ("resello", "reissue"), ("resello", "cancel")]


@pytest.mark.parametrize(("provider", "op"), CASES)
def test_reconcile_finishes_a_step_interrupted_after_the_provider_committed(
        fx: Fakes, monkeypatch: pytest.MonkeyPatch, provider: str, op: str) -> None:
    fake = fx.provider(provider)
    if op == "cancel":
        cert = fx.order(provider, f"{op}.example.com")
    else:
        cert = fx.issued(provider, f"{op}.example.com")
    _dies_on_write(fx, monkeypatch, after_writes=1)  # the claim lands, the result does not
    with pytest.raises(Died):
        if op == "revoke":
            fx.svc.revoke(fx.principal, cert, {"reason": "superseded"})
        elif op == "cancel":
            fx.svc.cancel(fx.principal, cert)
        else:
            getattr(fx.svc, op)(fx.principal, cert, None)
    if op in ("reissue", "renew") and fake.issuance == "async":
        for order in list(fake.orders.values()):
            if order.status is S.PENDING:
                fake.issue(order.id)
    assert fx.current(cert).operation == op  # what was in flight is recorded
    changes = len(fake.called(op))
    fx.clock.now += dt.timedelta(minutes=2)  # past the next check, not past the claim's window
    jobs.reconcile(fx.svc, remaining)
    after = fx.current(cert)
    expected = {"revoke": S.REVOKED, "cancel": S.CANCELLED}.get(op, S.ISSUED)
    assert after.status is expected and after.operation is None, after
    if op in ("reissue", "renew"):
        assert after.revision == cert.revision + 1 and after.serial != cert.serial
    assert len(fake.called(op)) == changes == 1  # one change at the provider, never repeated
    assert after.due_kind is None


def test_a_revoke_claim_the_provider_shows_no_trace_of_is_sent_again_once_no_call_can_be_running(
        fx: Fakes) -> None:
    from chalicelib.core.errors import ProviderTimeout

    cert = fx.issued("tinycert", "lost.example.com")
    fake = fx.provider("tinycert")
    fake.fail_next("revoke", ProviderTimeout("tinycert", "timed out", outcome_unknown=True))  # never arrived
    with pytest.raises(Exception):  # noqa: B017 - the ProviderFailure of the lost call
        fx.svc.revoke(fx.principal, cert, {"reason": "superseded"})
    assert fx.current(cert).operation == "revoke"
    fx.clock.now += dt.timedelta(minutes=2)
    jobs.reconcile(fx.svc, remaining)
    assert fx.current(cert).operation == "revoke" and len(fake.called("revoke")) == 1  # may still be running
    fx.clock.now += dt.timedelta(hours=1)
    jobs.reconcile(fx.svc, remaining)
    after = fx.current(cert)
    assert after.status is S.REVOKED and after.operation is None and after.revocation.reason == "superseded"


def test_a_revoke_claim_the_provider_refuses_is_released_with_an_event(fx: Fakes) -> None:
    from chalicelib.core.errors import ProviderRejected, ProviderTimeout

    cert = fx.issued("tinycert", "refused.example.com")
    fake = fx.provider("tinycert")
    fake.fail_next("revoke", ProviderTimeout("tinycert", "timed out", outcome_unknown=True))
    fake.fail_next("revoke", ProviderRejected("tinycert", "not revocable"))
    with pytest.raises(Exception):  # noqa: B017 - the ProviderFailure of the lost call
        fx.svc.revoke(fx.principal, cert, {"reason": "superseded"})
    fx.clock.now += dt.timedelta(hours=1)
    jobs.reconcile(fx.svc, remaining)
    after = fx.current(cert)
    assert after.status is S.ISSUED and after.operation is None and after.revocation is None
    assert after.due_kind is None and "certificate.revocation_abandoned" in kinds(fx, cert.id)


def test_no_automatic_renewal_while_a_revoke_request_awaits_approval() -> None:
    from dataclasses import replace as dc_replace

    from chalicelib.core.renewal import RenewalRules, renewal_starts_at
    from tests.unit.service_kit import POLICY, build

    fx = build(dc_replace(POLICY, renewal=RenewalRules(jitter=0.0)))
    fake = fx.provider("tinycert")
    fake.days = 90
    cert = fx.order("tinycert", "held-renewal.example.com", auto_renew=True)
    fake.revoke_approval = True
    fx.svc.revoke(fx.principal, fx.current(cert), {"reason": "superseded"})
    start = renewal_starts_at(fx.current(cert), fx.svc.cfg.renewal)
    assert start is not None
    fx.clock.now = start
    stats = jobs.renew_expiring(fx.svc, remaining)
    assert stats.get("watched") == 1 and "failed" not in stats, stats  # not a 409 counted as a failure each run
    assert fx.current(cert).renewal_attempted_at is None
    assert fake.called("reissue") == [] and fake.called("renew") == []
