"""Ownership of provider orders is proven, never guessed (issue 18): an order the provider cannot
tell apart (OwnershipUnproven) or one another certgate record already references ends the intent
as failed with reason `outcome_unknown` for an operator — neither adopted nor placed again."""

from __future__ import annotations

import dataclasses

import pytest

from chalicelib.core.errors import OwnershipUnproven, ProviderFailure, ProviderTimeout
from chalicelib.core.model import Status
from tests.unit.service_kit import BOB, build


def unproven(*ids: str) -> OwnershipUnproven:
    return OwnershipUnproven("tinycert", f"{len(ids)} certificates may be this order", candidates=ids)


def test_an_ambiguous_lookup_at_submit_ends_outcome_unknown_naming_the_candidates() -> None:
    f = build()
    f.provider("tinycert").fail_next("submit_order", unproven("7", "8"))
    with pytest.raises(ProviderFailure) as info:
        f.order("tinycert", "amb.example.com")
    cert = f.current(info.value.cert)
    assert cert.status is Status.FAILED and cert.failure is not None and cert.failure.code == "outcome_unknown"
    assert cert.provider_order_id is None
    failed = [e for e in f.store.all_events(cert.id) if e.kind == "certificate.failed"]
    assert failed and failed[0].detail["candidates"] == ["7", "8"]
    assert f.provider("tinycert").called("submit_order") == [cert.id]  # never placed again


def test_reconcile_ends_an_ambiguous_intent_outcome_unknown_and_places_nothing() -> None:
    f = build()
    tinycert = f.provider("tinycert")
    tinycert.fail_next("submit_order", ProviderTimeout("tinycert", "no answer", outcome_unknown=True))
    with pytest.raises(ProviderFailure):
        f.order("tinycert", "late.example.com")
    cert = f.store.certificates()[0]
    assert cert.status is Status.SUBMITTING
    tinycert.fail_next("find_order", unproven("9"))
    f.clock.advance(seconds=3600)
    after = f.svc.reconcile_one(f.current(cert), actor="reconcile")
    assert after.status is Status.FAILED and after.failure is not None and after.failure.code == "outcome_unknown"
    assert tinycert.called("submit_order") == [cert.id]  # no resubmission


def test_reconcile_never_adopts_an_order_another_record_references() -> None:
    f = build()
    theirs = f.order("tinycert", "shared.example.com", principal=BOB)
    tinycert = f.provider("tinycert")
    tinycert.fail_next("submit_order", ProviderTimeout("tinycert", "no answer", outcome_unknown=True))
    with pytest.raises(ProviderFailure) as info:
        f.order("tinycert", "shared.example.com")
    mine = f.current(info.value.cert)
    # The lookup (e.g. a name match) points at Bob's order.
    bobs = tinycert.orders[theirs.provider_order_id or ""]
    tinycert.orders["stolen"] = dataclasses.replace(bobs, request=dataclasses.replace(
        bobs.request, client_reference=mine.id))
    tinycert.orders["stolen"].id = theirs.provider_order_id or ""
    f.clock.advance(seconds=3600)
    with pytest.raises(ProviderFailure) as refused:
        f.svc.reconcile_one(mine, actor="reconcile")
    after = f.current(mine)
    assert refused.value.error.code == "outcome_unknown"
    assert after.status is Status.FAILED and after.provider_order_id is None and after.sealed_key is None
    assert tinycert.called("submit_order") == [theirs.id, mine.id]  # not placed a third time
    assert f.current(theirs).provider_order_id == theirs.provider_order_id


def test_submit_never_adopts_an_order_another_record_references() -> None:
    f = build()
    theirs = f.order("tinycert", "taken.example.com", principal=BOB)
    tinycert = f.provider("tinycert")
    real = tinycert.submit_order

    def adopts_bobs(req):  # a create-once that adopted the wrong order
        real(req)
        return tinycert.view(tinycert.orders[theirs.provider_order_id or ""])

    tinycert.submit_order = adopts_bobs  # type: ignore[method-assign]
    with pytest.raises(ProviderFailure) as info:
        f.order("tinycert", "taken.example.com")
    mine = f.current(info.value.cert)
    assert info.value.error.code == "outcome_unknown"
    assert mine.status is Status.FAILED and mine.failure is not None and mine.failure.code == "outcome_unknown"
    assert mine.sealed_key is None  # Bob's key was never sealed under Alice's record


def test_a_pending_answer_naming_an_order_another_record_references_is_never_adopted() -> None:
    """No read of the reference before a pending answer is recorded: the save's claim refuses it."""
    f = build()
    theirs = f.order("resello", "held.example.com", principal=BOB)
    assert theirs.status is Status.PENDING
    resello = f.provider("resello")
    real = resello.submit_order

    def answers_bobs(req):  # a create-once that found the wrong order
        real(req)
        return resello.view(resello.orders[theirs.provider_order_id or ""])

    resello.submit_order = answers_bobs  # type: ignore[method-assign]
    reads = []
    real_read = f.store.cert_id_for_ref
    f.store.cert_id_for_ref = lambda *a: reads.append(a) or real_read(*a)  # type: ignore[method-assign]
    with pytest.raises(ProviderFailure) as info:
        f.order("resello", "held.example.com")
    mine = f.current(info.value.cert)
    assert info.value.error.code == "outcome_unknown" and reads == []
    assert mine.status is Status.FAILED and mine.provider_order_id is None
    assert mine.failure is not None and mine.failure.code == "outcome_unknown"
    assert [e.kind for e in f.store.all_events(mine.id)].count("certificate.requested") == 1
    assert f.current(theirs).provider_order_id == theirs.provider_order_id
    assert f.store.cert_id_for_ref("resello", theirs.provider_order_id or "") == theirs.id
