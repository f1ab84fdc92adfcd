"""Ordering (design.md 2.1) on fakes: validate, write the intent, call the provider once;
idempotency replays and conflicts; a surely-failed order releases its key only when worth
retrying; an unanswered create is left for reconcile, never re-placed blindly."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import load_pem_x509_certificate, load_pem_x509_csr

from chalicelib.core.errors import (
    Conflict,
    ProviderNotConfigured,
    ProviderRejected,
    ProviderTimeout,
    ProviderUnavailable,
    ValidationFailed,
)
from chalicelib.core.model import Failure, Status, parse_iso
from chalicelib.http import problems
from chalicelib.service import jobs
from chalicelib.service.certificates import ProviderFailure
from tests.unit.service_kit import ALICE, BOB, Fakes, build, outcomes, remaining


def kinds(fx: Fakes, cert_id: str) -> list[str]:
    """The audit trail's event kinds, sorted (events of one instant have no order: the clock is frozen)."""
    return sorted(e.kind for e in fx.store.all_events(cert_id))


def test_a_synchronous_provider_issues_at_once_and_its_key_is_sealed(fx: Fakes) -> None:
    cert = fx.order("tinycert", "a.example.com")
    assert cert.status is Status.ISSUED and cert.provider_order_id and cert.revision == 1
    assert cert.key_source == "provider" and cert.sealed_key is not None
    order = fx.provider("tinycert").orders[cert.provider_order_id]
    assert fx.vault.open(cert.sealed_key, {"certificate_id": cert.id}) == order.material.private_key_pem
    assert "PRIVATE KEY" not in str(cert.sealed_key)
    assert fx.current(cert) == cert
    assert kinds(fx, cert.id) == ["certificate.issued", "certificate.requested"]
    assert fx.publisher.kinds(cert.id) == ["certificate.issued"] and fx.store.outbox() == []
    leaf = load_pem_x509_certificate(fx.artifacts.objects[f"certificates/{cert.id}/r1/cert.pem"])
    assert format(leaf.serial_number, "x") == cert.serial
    assert fx.artifacts.metadata[f"certificates/{cert.id}/r1/"]["provider_order_id"] == cert.provider_order_id
    assert fx.store.cert_id_for_ref("tinycert", cert.provider_order_id) == cert.id


def test_an_asynchronous_order_is_pending_until_the_provider_issues_it(fx: Fakes) -> None:
    cert = fx.order("resello", "b.example.com")
    assert cert.status is Status.PENDING and cert.public_status == "pending" and cert.operation == "order"
    assert parse_iso(cert.next_poll_at) == fx.clock() + dt.timedelta(seconds=fx.svc.cfg.poll_min_interval_s)
    assert kinds(fx, cert.id) == ["certificate.requested", "order.submitted"]
    assert fx.publisher.published == [] and fx.store.outbox() == []  # audit kinds are not published
    assert fx.svc.refresh(cert, actor="test").status is Status.PENDING
    fx.provider("resello").issue(cert.provider_order_id or "")
    issued = fx.svc.refresh(fx.current(cert), actor="test")
    assert issued.status is Status.ISSUED and issued.operation is None and issued.next_poll_at is None
    assert issued.issued_revision is not None and issued.issued_revision.number == 1
    assert fx.publisher.kinds(cert.id) == ["certificate.issued"]
    summary = fx.publisher.published[0].detail["certificate"]
    assert summary["serial"] == issued.serial and "PRIVATE" not in str(summary)


def test_the_intent_carries_our_id_to_the_provider_as_client_reference(fx: Fakes) -> None:
    cert = fx.order("digicert", "c.example.com", client_reference="my-ref-7")
    assert fx.provider("digicert").called("submit_order") == [cert.id]
    assert cert.client_reference == "my-ref-7"


def test_a_gateway_key_is_generated_sealed_and_matches_the_csr_sent(fx: Fakes) -> None:
    cert = fx.order("resello", "d.example.com", key={"type": "ec", "size": 256})
    assert cert.key_source == "gateway" and cert.sealed_key is not None and cert.csr_pem
    private = serialization.load_pem_private_key(
        fx.vault.open(cert.sealed_key, {"certificate_id": cert.id}).encode(), password=None)
    sent = fx.provider("resello").orders[cert.provider_order_id or ""].request.csr_pem or ""
    assert load_pem_x509_csr(sent.encode()).public_key() == private.public_key()


def test_an_invalid_order_writes_nothing_and_calls_no_provider(fx: Fakes) -> None:
    with pytest.raises(ValidationFailed) as info:
        fx.svc.order(ALICE, {"provider": "resello", "common_name": "bad name!", "validity_days": 9999}, "k1")
    assert {e.field for e in info.value.errors} >= {"common_name", "validity_days"}
    assert fx.store.certificates() == [] and fx.provider("resello").calls == []
    assert fx.store.idempotency(ALICE, "k1") is None


def test_an_unconfigured_provider_is_refused_before_anything_is_written() -> None:
    fx = build(issuance={"resello": "async"}, unconfigured=("digicert",))
    with pytest.raises(ProviderNotConfigured):
        fx.order("digicert", "e.example.com")
    assert fx.store.certificates() == []


def test_provider_defaults_fill_the_order() -> None:
    org = {"name": "ACME", "country": "NL", "unit": "IT", "chamber_of_commerce": "12345678"}
    fx = build(defaults={"resello": {"organization": org}})
    cert = fx.order("resello", "f.example.com", product="ov",
                    approver={"first_name": "Ann", "last_name": "Lee", "email": "ann@example.com"})
    assert cert.organization is not None and cert.organization.name == "ACME"
    sent = fx.provider("resello").orders[cert.provider_order_id or ""].request
    assert sent.organization is not None and sent.organization.chamber_of_commerce == "12345678"


# -- idempotency ------------------------------------------------------------------------------------------

def test_the_same_key_and_body_replay_the_first_order(fx: Fakes) -> None:
    first = fx.order_result("resello", "g.example.com", idempotency_key="k-1")
    again = fx.order_result("resello", "g.example.com", idempotency_key="k-1")
    assert not first.replayed and again.replayed
    assert again.certificate.id == first.certificate.id
    assert len(fx.provider("resello").called("submit_order")) == 1 and len(fx.store.certificates()) == 1
    theirs = fx.order_result("resello", "g.example.com", idempotency_key="k-1", principal=BOB)
    assert not theirs.replayed and theirs.certificate.id != first.certificate.id  # keys are per caller


def test_the_same_key_with_another_body_is_a_conflict(fx: Fakes) -> None:
    fx.order_result("resello", "h.example.com", idempotency_key="k-2")
    with pytest.raises(Conflict) as info:
        fx.order_result("resello", "other.example.com", idempotency_key="k-2")
    assert info.value.code == "idempotency_key_reused"
    assert problems.from_api_error(info.value, None)[0] == 409
    assert len(fx.store.certificates()) == 1


def test_a_key_recorded_by_a_concurrent_request_replays_that_order(fx: Fakes, monkeypatch) -> None:
    first = fx.order_result("resello", "i.example.com", idempotency_key="k-3").certificate
    real = fx.store.idempotency
    lookups: list[str] = []

    def not_seen_yet(owner: str, key: str):  # the racing request had not written its record yet
        lookups.append(key)
        return None if len(lookups) == 1 else real(owner, key)

    monkeypatch.setattr(fx.store, "idempotency", not_seen_yet)
    again = fx.order_result("resello", "i.example.com", idempotency_key="k-3")
    assert again.replayed and again.certificate.id == first.id and len(lookups) == 2
    assert len(fx.store.certificates()) == 1  # the losing intent was never written


def test_a_retryable_failure_fails_the_order_and_releases_its_key(fx: Fakes) -> None:
    fx.provider("resello").fail_next("submit_order", ProviderUnavailable("resello", "503 from upstream"))
    with pytest.raises(ProviderFailure) as info:
        fx.order_result("resello", "j.example.com", idempotency_key="k-4")
    failed = info.value.cert
    assert failed.status is Status.FAILED and failed.failure == Failure("provider_unavailable",
                                                                         "503 from upstream")
    assert fx.current(failed).status is Status.FAILED and fx.store.idempotency(ALICE, "k-4") is None
    assert fx.publisher.kinds(failed.id) == ["certificate.failed"]
    retried = fx.order_result("resello", "j.example.com", idempotency_key="k-4")
    assert not retried.replayed and retried.certificate.id != failed.id
    assert retried.certificate.status is Status.PENDING


def test_a_refused_order_keeps_its_key_and_replays_the_failure(fx: Fakes) -> None:
    fx.provider("digicert").fail_next("submit_order", ProviderRejected("digicert", "domain is blocked"))
    with pytest.raises(ProviderFailure):
        fx.order_result("digicert", "k.example.com", idempotency_key="k-5")
    again = fx.order_result("digicert", "k.example.com", idempotency_key="k-5")
    assert again.replayed and again.certificate.status is Status.FAILED
    assert len(fx.provider("digicert").called("submit_order")) == 1


def test_an_expired_key_no_longer_replays(fx: Fakes) -> None:
    first = fx.order_result("resello", "l.example.com", idempotency_key="k-6").certificate
    fx.clock.advance(seconds=fx.svc.cfg.idempotency_ttl_s + 1)
    assert fx.store.idempotency(ALICE, "k-6") is None
    # DynamoDB's TTL sweep is lazy: the item is still there, so the new intent cannot claim the key.
    with pytest.raises(Exception, match="idempotency"):
        fx.order_result("resello", "l.example.com", idempotency_key="k-6")
    assert [c.id for c in fx.store.certificates()] == [first.id]


# -- an unanswered create ---------------------------------------------------------------------------------

def test_an_unanswered_create_is_left_for_reconcile_which_adopts_it(fx: Fakes) -> None:
    resello = fx.provider("resello")
    resello.fail_next("submit_order", ProviderTimeout("resello", "read timed out", outcome_unknown=True),
                      commit=True)
    with pytest.raises(ProviderFailure) as info:
        fx.order_result("resello", "m.example.com", idempotency_key="k-7")
    intent = info.value.cert
    assert intent.status is Status.SUBMITTING and intent.public_status == "pending"
    assert intent.provider_order_id is None and kinds(fx, intent.id) == ["certificate.requested", "order.unconfirmed"]
    assert parse_iso(intent.next_poll_at) == fx.clock() + dt.timedelta(seconds=fx.svc.cfg.reconcile_after_s)
    assert fx.store.idempotency(ALICE, "k-7") is not None  # the key stays: the order may exist
    assert len(resello.orders) == 1

    assert jobs.reconcile(fx.svc, remaining)["events_flushed"] == 0  # not due yet: left alone
    assert fx.current(intent).status is Status.SUBMITTING
    fx.clock.advance(seconds=fx.svc.cfg.reconcile_after_s + 1)
    stats = jobs.reconcile(fx.svc, remaining)
    adopted = fx.current(intent)
    assert stats.get("pending") == 1 and adopted.status is Status.PENDING
    assert adopted.provider_order_id == next(iter(resello.orders))
    assert "order.adopted" in kinds(fx, intent.id)
    assert len(resello.called("submit_order")) == 1 and len(resello.orders) == 1  # never placed twice


def test_replaying_an_unanswered_order_looks_it_up_instead_of_ordering_again(fx: Fakes) -> None:
    tinycert = fx.provider("tinycert")
    tinycert.fail_next("submit_order", ProviderTimeout("tinycert", "timed out", outcome_unknown=True), commit=True)
    with pytest.raises(ProviderFailure):
        fx.order_result("tinycert", "n.example.com", idempotency_key="k-8")
    replay = fx.order_result("tinycert", "n.example.com", idempotency_key="k-8")
    assert replay.replayed and replay.certificate.status is Status.ISSUED
    assert len(tinycert.called("submit_order")) == 1 and tinycert.called("find_order")


def test_a_create_that_never_arrived_is_placed_once_more_then_failed(fx: Fakes) -> None:
    digicert = fx.provider("digicert")
    lost = ProviderTimeout("digicert", "connect timeout", outcome_unknown=True)
    digicert.fail_next("submit_order", lost, times=2)  # neither attempt reaches the provider
    with pytest.raises(ProviderFailure):
        fx.order("digicert", "o.example.com")
    intent = fx.store.certificates()[0]
    fx.clock.advance(seconds=fx.svc.resubmit_after_s() - 10)
    assert jobs.reconcile(fx.svc, remaining).get("submitting") is None  # not due yet
    fx.clock.advance(seconds=20)
    stats = jobs.reconcile(fx.svc, remaining)
    assert outcomes(stats) == {"provider_error": 1, "events_flushed": 0}  # looked up, placed again, unanswered again
    again = fx.current(intent)
    assert again.submit_attempts == 2 and "order.resubmitted" in kinds(fx, intent.id)
    fx.clock.advance(seconds=fx.svc.resubmit_after_s() + 1)
    stats = jobs.reconcile(fx.svc, remaining)
    failed = fx.current(intent)
    assert stats.get("failed") == 1 and failed.status is Status.FAILED
    assert failed.failure is not None and failed.failure.code == "not_found_at_provider"
    assert len(digicert.called("submit_order")) == 2 and digicert.orders == {}
    assert fx.publisher.kinds(intent.id) == ["certificate.failed"]


def test_digicert_sells_dv_and_private_needs_its_issuing_ca(fx: Fakes) -> None:
    from tests.unit.service_kit import order_body

    dv = fx.svc.order(ALICE, order_body("digicert", "dv.example.com", product="dv"), None).certificate
    assert dv.product == "dv"
    with pytest.raises(ValidationFailed) as info:
        fx.svc.order(ALICE, order_body("digicert", "p.example.com", product="private"), None)
    assert [e.field for e in info.value.errors] == ["provider_options.ca_cert_id"]
    private = fx.svc.order(ALICE, order_body("digicert", "p.example.com", product="private",
                                             provider_options={"ca_cert_id": "7D2A5B1C9E3F4A60",
                                                               "order_validity_years": 2}), None).certificate
    assert private.provider_options == {"ca_cert_id": "7D2A5B1C9E3F4A60", "order_validity_years": 2}
    with pytest.raises(ValidationFailed) as bad:
        fx.svc.order(ALICE, order_body("digicert", "q.example.com", provider_options={"order_validity_years": 4}),
                     None)
    assert [e.field for e in bad.value.errors] == ["provider_options.order_validity_years"]


def _slow_create(fx: Fakes, provider: str, meanwhile: object) -> None:
    """The provider's create answers only after `meanwhile` ran (a job racing the request)."""
    fake = fx.provider(provider)
    real = fake.submit_order

    def submit_order(req: object) -> object:
        answer = real(req)  # type: ignore[arg-type]
        meanwhile()  # type: ignore[operator]
        return answer

    fake.submit_order = submit_order  # type: ignore[method-assign]


def test_a_create_answered_after_reconcile_adopted_it_answers_with_the_record(fx: Fakes) -> None:
    """The create outlives reconcile_after_s: reconcile finds the intent stale, looks the order up
    and adopts it; the request's own write then conflicts. The caller still gets its certificate
    (not an anonymous 409 that a client would answer by ordering again)."""
    def reconcile_meanwhile() -> None:
        fx.clock.advance(seconds=fx.svc.cfg.reconcile_after_s + 1)
        assert jobs.reconcile(fx.svc, remaining).get("issued") == 1

    _slow_create(fx, "tinycert", reconcile_meanwhile)
    result = fx.order_result("tinycert", "slow.example.com")
    cert = result.certificate
    assert cert.status is Status.ISSUED and cert.provider_order_id == next(iter(fx.provider("tinycert").orders))
    assert fx.current(cert).version == cert.version  # the record as it stands, not a stale copy
    assert kinds(fx, cert.id).count("order.adopted") == 1 and len(fx.provider("tinycert").orders) == 1


def test_a_failed_create_whose_record_reconcile_moved_names_the_record(fx: Fakes) -> None:
    """The create's error arrives after reconcile moved the intent: the failure still names it."""
    resello = fx.provider("resello")

    def reconcile_meanwhile() -> None:
        fx.clock.advance(seconds=fx.svc.cfg.reconcile_after_s + 1)
        jobs.reconcile(fx.svc, remaining)
        resello.fail_next("submit_order", ProviderUnavailable("resello", "503 after commit"))

    real = resello.submit_order

    def submit_order(req: object) -> object:
        reconcile_meanwhile()
        return real(req)  # type: ignore[arg-type]

    resello.submit_order = submit_order  # type: ignore[method-assign]
    with pytest.raises(ProviderFailure) as info:
        fx.order_result("resello", "moved.example.com")
    assert info.value.cert.id == fx.store.certificates()[0].id
    assert fx.current(info.value.cert).version == info.value.cert.version


# -- provider rules, checked before anything is written or sent ---------------------------------------------

def _refused(fx: Fakes, provider: str, cn: str, **fields: object) -> list[str]:
    with pytest.raises(ValidationFailed) as refused:
        fx.order(provider, cn, **fields)
    assert fx.store.certificates() == [] and fx.provider(provider).orders == {}  # no record, nothing sent
    return sorted(e.field for e in refused.value.errors)


def test_an_ip_san_at_resello_is_refused_on_sans_not_blamed_on_the_csr(fx: Fakes) -> None:
    from cryptography.hazmat.primitives import serialization

    from simulators.ca import build_csr, generate_key

    ip = [{"type": "dns", "value": "ip.example.com"}, {"type": "ip", "value": "192.0.2.10"}]
    assert _refused(fx, "resello", "ip.example.com", sans=ip, key={"type": "ec"}) == ["sans"]
    request = build_csr(generate_key("ec"), "ipcsr.example.com", [("dns", "ipcsr.example.com"), ("ip", "192.0.2.11")])
    pem = request.public_bytes(serialization.Encoding.PEM).decode()
    assert _refused(fx, "resello", "ipcsr.example.com", csr=pem) == ["sans"]  # the CSR's own SANs, sans left out
    assert fx.order("digicert", "ip.example.com", sans=ip, key={"type": "ec"}).sans[-1].type == "ip"  # DigiCert OV may


def test_an_ev_certificate_is_never_a_wildcard_nor_for_an_ip_address(fx: Fakes) -> None:
    assert _refused(fx, "digicert", "*.example.com", product="ev", key={"type": "ec"}) == ["common_name"]
    assert _refused(fx, "digicert", "ev.example.com", product="ev", key={"type": "ec"},
                    sans=[{"value": "*.ev.example.com"}]) == ["sans"]
    assert _refused(fx, "digicert", "ev.example.com", product="ev", key={"type": "ec"},
                    sans=[{"type": "ip", "value": "192.0.2.1"}]) == ["sans"]
    assert fx.order("digicert", "*.example.com", product="ov", key={"type": "ec"}).common_name == "*.example.com"


def test_ov_and_ev_need_the_organization_and_its_name_is_the_subjects_o() -> None:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    approver = {"first_name": "Ann", "last_name": "Lee", "email": "ann@example.com"}
    org = {"country": "NL", "unit": "IT", "chamber_of_commerce": "12345678"}
    fx = build()
    assert _refused(fx, "resello", "ov.example.com", product="ov", organization=org, approver=approver,
                    key={"type": "ec"}) == ["organization.name"]
    cert = fx.order("resello", "ov.example.com", product="ov", organization={**org, "name": "ACME B.V."},
                    approver=approver, key={"type": "ec"})
    sent = fx.provider("resello").orders[cert.provider_order_id or ""].request
    subject = x509.load_pem_x509_csr((sent.csr_pem or "").encode()).subject
    assert subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "ACME B.V."
    assert subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value == "NL"
    # DigiCert: the CertCentral organization (its id) is the organization; without one, refused up front
    bare = build(defaults={"digicert": {}})
    assert _refused(bare, "digicert", "ev.example.com", product="ev", key={"type": "ec"}) == ["organization.name"]
    assert bare.order("digicert", "ev.example.com", product="ev", key={"type": "ec"},
                      provider_options={"organization_id": 7}).product == "ev"
    assert bare.order("digicert", "dv.example.com", product="dv", key={"type": "ec"}).product == "dv"
