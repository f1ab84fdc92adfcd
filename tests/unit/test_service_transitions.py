"""Every transition of the table in core/model.py, allowed and refused: on the domain value
itself, and through the one code path that applies what a provider reports (`apply`), from
every status a certificate can be in to every status a provider can report."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import replace

import pytest

from chalicelib.core.errors import TransitionNotAllowed
from chalicelib.core.model import ALLOWED, FINAL, WAITING, Certificate, Status
from tests.unit.service_kit import Fakes, as_stored, reach

S = Status
NOW = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
BASE = Certificate(id="crt_" + "0" * 32, owner="o", provider="digicert", common_name="a.example.com",
                   status=S.PENDING, created_at="2030-01-01T00:00:00.000000Z",
                   updated_at="2030-01-01T00:00:00.000000Z", version=3)


@pytest.mark.parametrize(("current", "target"), list(itertools.product(Status, Status)))
def test_moved_to_follows_the_transition_table(current: Status, target: Status) -> None:
    cert = replace(BASE, status=current)
    if target is current or target in ALLOWED[current]:
        after = cert.moved_to(target, NOW, operation=None)
        assert (after.status, after.version, after.updated_at) == (target, 4, "2030-01-02T03:04:05.000000Z")
    else:
        with pytest.raises(TransitionNotAllowed) as info:
            cert.moved_to(target, NOW)
        assert (info.value.current, info.value.target) == (current, target)
        assert str(info.value) == f"cannot go from {current.public} to {target.public}"


def test_final_statuses_lead_nowhere_and_waiting_ones_are_shown_as_pending() -> None:
    assert all(ALLOWED[s] == frozenset() for s in FINAL)
    assert {s.public for s in WAITING} == {"pending"}
    assert set(ALLOWED) == set(Status)


# What `apply` makes of a provider's report, from each status (rows) to each reported status
# (columns); None: the report is ignored (refused by the table or nothing to do), the stored
# certificate is left exactly as it was.
REPORTED = (S.PENDING, S.ISSUED, S.FAILED, S.REVOKED, S.CANCELLED, S.EXPIRED)
APPLIED: dict[Status, tuple[Status | None, ...]] = {
    S.SUBMITTING: (S.PENDING, S.ISSUED, S.FAILED, None, None, None),
    S.PENDING: (S.PENDING, S.ISSUED, S.FAILED, None, S.CANCELLED, None),
    # issued: a new certificate is a new revision; cancelled after issuance means revoked
    S.ISSUED: (None, S.ISSUED, None, S.REVOKED, S.REVOKED, S.EXPIRED),
    S.FAILED: (None,) * 6,
    S.REVOKED: (None,) * 6,
    S.CANCELLED: (None,) * 6,
    S.EXPIRED: (None,) * 6,
}
EVENT = {S.PENDING: "order.submitted", S.ISSUED: "certificate.issued", S.FAILED: "certificate.failed",
         S.REVOKED: "certificate.revoked", S.CANCELLED: "certificate.cancelled", S.EXPIRED: "certificate.expired"}


@pytest.mark.parametrize(("current", "reported"), list(itertools.product(APPLIED, REPORTED)))
def test_apply_moves_a_certificate_only_where_the_table_allows(fx: Fakes, current: Status,
                                                               reported: Status) -> None:
    cert = reach(fx, current)
    assert cert.status is current
    digicert = fx.provider("digicert")
    order = digicert.orders.get(cert.provider_order_id or "") or digicert.place(fx.svc.order_request(cert),
                                                                                status=S.PENDING)
    if reported is S.ISSUED:
        digicert.issue(order.id)  # a certificate the service has not seen (a new serial)
    else:
        digicert.set_status(order.id, reported)
    published_before = len(fx.publisher.published)

    after = fx.svc.apply(cert, digicert.view(order), actor="test")

    expected = APPLIED[current][REPORTED.index(reported)]
    if expected is None:
        assert as_stored(after) == cert and fx.current(cert) == cert
        assert len(fx.publisher.published) == published_before
        return
    stored = fx.current(cert)
    assert after.status is expected and stored == as_stored(after) and stored.version == cert.version + 1
    assert stored.provider_order_id == order.id and stored.provider_status == order.raw_status
    if expected is not current:
        newest = max(fx.store.all_events(cert.id), key=lambda e: (e.occurred_at, e.kind == EVENT[expected]))
        assert newest.kind == EVENT[expected]
        assert (newest.from_status, newest.to_status) == (current.public, expected.public)
    if expected is S.ISSUED:
        assert stored.serial == order.serial and stored.issued_revision is not None
        assert stored.revision == (2 if current is S.ISSUED else 1)  # changed at the provider: a new revision
        assert f"certificates/{cert.id}/r{stored.revision}/cert.pem" in fx.artifacts.objects
    if expected is S.PENDING and current is S.PENDING:
        assert stored.poll_attempts == cert.poll_attempts + 1  # rescheduled with backoff


def test_an_issued_report_of_the_certificate_already_held_changes_nothing(fx: Fakes) -> None:
    cert = reach(fx, S.ISSUED)
    digicert = fx.provider("digicert")
    same = digicert.view(digicert.orders[cert.provider_order_id or ""])
    assert fx.svc.apply(cert, same, actor="test") == cert and fx.current(cert) == cert
    digicert.set_status(cert.provider_order_id or "", S.ISSUED, "issued", on_hold=True)
    held = fx.svc.apply(cert, digicert.view(digicert.orders[cert.provider_order_id or ""]), actor="test")
    assert held.on_hold and held.version == cert.version + 1 and held.serial == cert.serial
    assert "certificate.hold" in {e.kind for e in fx.store.all_events(cert.id)}


def test_a_failed_report_for_a_reissue_returns_to_the_last_good_revision(fx: Fakes) -> None:
    cert = reach(fx, S.ISSUED)
    started = fx.svc.reissue(fx.principal, cert, None)
    assert (started.status, started.operation, started.revision) == (S.PENDING, "reissue", 2)
    digicert = fx.provider("digicert")
    digicert.fail_order(cert.provider_order_id or "", "validation expired")
    after = fx.svc.apply(started, digicert.view(digicert.orders[cert.provider_order_id or ""]), actor="test")
    assert (after.status, after.revision, after.serial, after.operation) == (S.ISSUED, 1, cert.serial, None)
    assert [r.number for r in after.revisions] == [1]
    assert fx.publisher.kinds(cert.id)[-1] == "certificate.failed"
    failed = fx.publisher.published[-1]
    assert failed.detail["operation"] == "reissue" and failed.to_status == "issued"
