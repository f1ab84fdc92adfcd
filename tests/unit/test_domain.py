"""The pure domain: transitions, revisions, public shape (expiry notices: test_renewal.py)."""

from __future__ import annotations

import datetime as dt

import pytest

from chalicelib.core.errors import TransitionNotAllowed
from chalicelib.core.model import ALLOWED, Certificate, Revision, Status, iso, transition_event

NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)


def cert(status: Status = Status.SUBMITTING, **kw) -> Certificate:
    base = dict(id="crt_" + "a" * 32, owner="o", provider="digicert", common_name="a.example.com", status=status,
                created_at=iso(NOW), updated_at=iso(NOW), version=1, revisions=(Revision(1, "order"),))
    base.update(kw)
    return Certificate(**base)


def test_the_allowed_transitions_are_design_2_2():
    assert ALLOWED[Status.SUBMITTING] == {Status.PENDING, Status.ISSUED, Status.FAILED}
    assert ALLOWED[Status.PENDING] == {Status.ISSUED, Status.FAILED, Status.CANCELLED}
    assert ALLOWED[Status.ISSUED] == {Status.REVOKED, Status.EXPIRED, Status.PENDING}
    for final in (Status.FAILED, Status.REVOKED, Status.CANCELLED, Status.EXPIRED):
        assert ALLOWED[final] == frozenset()


def test_moving_bumps_the_version_and_refuses_the_rest():
    c = cert()
    after = c.moved_to(Status.PENDING, NOW)
    assert after.version == 2 and after.status is Status.PENDING
    with pytest.raises(TransitionNotAllowed):
        c.moved_to(Status.REVOKED, NOW)
    with pytest.raises(TransitionNotAllowed):
        cert(Status.CANCELLED).moved_to(Status.ISSUED, NOW)


def test_submitting_is_shown_as_pending():
    assert cert().to_public()["status"] == "pending"


def test_issued_revision_serves_downloads_during_a_reissue():
    r1 = Revision(1, "order", issued_at=iso(NOW))
    c = cert(Status.PENDING, revision=2, revisions=(r1, Revision(2, "reissue")), operation="reissue")
    assert c.issued_revision == r1 and c.to_public()["issued_revision"] == 1


def test_transition_events_name_the_change():
    before = cert(Status.PENDING, version=2)
    after = before.moved_to(Status.ISSUED, NOW)
    ev = transition_event(before, after, "poll_pending", NOW)
    assert ev.kind == "certificate.issued" and ev.published
    assert (ev.from_status, ev.to_status, ev.actor) == ("pending", "issued", "poll_pending")
    assert not transition_event(before, before, "x", NOW, kind="order.submitted").published


def test_public_shape_never_carries_key_material():
    c = cert(Status.ISSUED, sealed_key={"alg": "x", "ct": "secret"}, csr_pem="-----BEGIN CERTIFICATE REQUEST-----")
    public = c.to_public()
    assert public["private_key_held"] is True
    assert "sealed_key" not in public and "secret" not in str(public) and "csr_pem" not in public
