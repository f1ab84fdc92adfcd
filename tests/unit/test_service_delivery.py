"""ACM delivery on fakes (issue 19 item 2): opt-in per certificate, only where certgate holds the
key; imported on issue, re-imported into the same ARN on every new revision; a failed import
never fails the issuance and is retried by the reconcile job; revocation tags the ACM copy."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

import pytest

from chalicelib.core.errors import DependencyFailed, ValidationFailed
from chalicelib.core.model import DELIVERY_GRACE_S, AcmImport, parse_iso
from chalicelib.service import delivery, jobs
from chalicelib.service.certificates import CertificateService
from chalicelib.x509 import certificates as x509_certificates
from tests.fakes import FakeAcm
from tests.unit.service_kit import Fakes, remaining

ACM = {"acm": {"region": "eu-west-1"}}


def with_acm(fx: Fakes) -> FakeAcm:
    acm = FakeAcm()
    fx.svc = CertificateService(cfg=fx.svc.cfg, store=fx.store, artifacts=fx.artifacts, publisher=fx.publisher,
                                vault=fx.vault, directory=fx.providers, clock=fx.clock, delivery=acm)
    return acm


def fields(exc: pytest.ExceptionInfo[ValidationFailed]) -> set[str]:
    return {e.field for e in exc.value.errors}


def test_issue_imports_certificate_chain_and_key_and_the_arn_is_on_the_resource_and_event(fx: Fakes) -> None:
    acm = with_acm(fx)
    cert = fx.order("tinycert", deliver_to=ACM)  # TinyCert issues at once and makes the key
    stored = fx.current(cert)
    state = stored.acm
    assert state is not None and state.status == "imported" and state.region == "eu-west-1" and state.revision == 1
    (arn, imported), = acm.certificates.items()
    assert state.arn == arn and imported["region"] == "eu-west-1"
    assert x509_certificates.certificate_info(imported["certificate"]).serial == stored.serial
    assert imported["key"] == fx.vault.open(stored.sealed_key or {}, {"certificate_id": stored.id})
    assert stored.to_public()["delivery"]["acm"]["arn"] == arn
    delivered = [e for e in fx.publisher.published if e.kind == "certificate.delivered"]
    assert [e.detail["acm_arn"] for e in delivered] == [arn]
    assert delivered[0].detail["certificate"]["acm_arn"] == arn


def test_reissue_reimports_into_the_same_arn(fx: Fakes) -> None:
    acm = with_acm(fx)
    cert = fx.issued("resello", "r.example.com", key={"type": "ec"}, deliver_to=ACM)
    arn = fx.current(cert).acm.arn
    first_serial = fx.current(cert).serial
    again = fx.svc.reissue(fx.principal, fx.current(cert), {})
    fx.provider("resello").issue(again.provider_order_id or "")
    after = fx.svc.refresh(fx.current(cert), actor="test")
    assert after.revision == 2 and after.serial != first_serial
    assert list(acm.certificates) == [arn] and acm.imports == 2
    assert after.acm == AcmImport(region="eu-west-1", arn=arn, status="imported", revision=2)
    assert x509_certificates.certificate_info(acm.certificates[arn]["certificate"]).serial == after.serial
    issued = [e for e in fx.publisher.published if e.kind == "certificate.issued"]
    assert issued[-1].detail["certificate"]["acm_arn"] == arn  # later events carry the ARN


def test_a_failed_import_never_fails_the_issuance_and_the_reconcile_job_retries_it(fx: Fakes) -> None:
    acm = with_acm(fx)
    acm.fail(times=1)
    cert = fx.order("tinycert", deliver_to=ACM)
    stored = fx.current(cert)
    assert stored.status.value == "issued" and "certificate.issued" in fx.publisher.kinds(cert.id)
    assert stored.acm.status == "failed" and stored.acm.error == "ServiceUnavailable" and stored.acm.attempts == 1
    jobs.reconcile(fx.svc, remaining)
    assert fx.current(cert).acm.status == "failed"  # not due yet
    fx.clock.advance(seconds=901)
    jobs.reconcile(fx.svc, remaining)
    assert fx.current(cert).acm.status == "imported" and len(acm.certificates) == 1


def test_revocation_tags_the_acm_certificate(fx: Fakes) -> None:
    acm = with_acm(fx)
    cert = fx.issued("digicert", "d.example.com", key={"type": "ec"}, deliver_to=ACM)
    arn = fx.current(cert).acm.arn
    revoked = fx.svc.revoke(fx.principal, fx.current(cert), {"reason": "superseded"})
    assert acm.certificates[arn]["tags"]["certgate:status"] == "revoked"
    assert fx.current(revoked).acm.status == "revoked"
    assert fx.current(revoked).version == revoked.version  # the returned certificate is the stored one


def test_no_deliver_to_no_import(fx: Fakes) -> None:
    acm = with_acm(fx)
    cert = fx.order("tinycert")
    assert acm.certificates == {} and fx.current(cert).acm is None
    assert "delivery" not in fx.current(cert).to_public()


def test_a_csr_order_cannot_ask_for_acm_and_the_region_must_be_one(fx: Fakes) -> None:
    with_acm(fx)
    with pytest.raises(ValidationFailed) as exc:
        fx.order("resello", deliver_to=ACM)  # the kit sends a CSR: the caller keeps the key
    assert fields(exc) == {"deliver_to.acm"}
    with pytest.raises(ValidationFailed) as exc:
        fx.order("tinycert", deliver_to={"acm": {"region": "mars-1"}})
    assert fields(exc) == {"deliver_to.acm.region"}


def test_failed_imports_back_off_doubling_up_to_a_day(fx: Fakes) -> None:
    acm = with_acm(fx)
    acm.fail(times=None)  # ACM stays down
    cert = fx.order("tinycert", deliver_to=ACM)
    waits = []
    for _ in range(9):
        state = fx.current(cert).acm
        due = parse_iso(state.retry_at)
        waits.append(round((due - fx.clock()).total_seconds()))
        fx.clock.now = due + dt.timedelta(seconds=1)
        jobs.reconcile(fx.svc, remaining)
    assert waits == [900, 1800, 3600, 7200, 14400, 28800, 57600, 86400, 86400]
    assert fx.current(cert).acm.attempts == 10
    acm.fail(times=0)
    fx.clock.now = parse_iso(fx.current(cert).acm.retry_at) + dt.timedelta(seconds=1)
    jobs.reconcile(fx.svc, remaining)
    assert fx.current(cert).acm.status == "imported" and fx.current(cert).acm.attempts == 0


def test_an_import_whose_answer_was_lost_is_found_by_its_tag_never_made_twice(fx: Fakes) -> None:
    """ACM imported it but the answer never came back (a timeout): the retry finds the ACM
    certificate tagged with our id and re-imports into it, leaving no orphan ARN."""
    acm = with_acm(fx)
    real = acm.import_certificate

    def lost(*args: Any, **kw: Any) -> str:
        real(*args, **kw)
        raise DependencyFailed("acm", "ReadTimeoutError")

    acm.import_certificate = lost  # type: ignore[method-assign]
    cert = fx.order("tinycert", deliver_to=ACM)
    assert fx.current(cert).acm.status == "failed" and len(acm.certificates) == 1
    acm.import_certificate = real  # type: ignore[method-assign]
    fx.clock.advance(seconds=901)
    jobs.reconcile(fx.svc, remaining)
    (arn,) = acm.certificates
    assert fx.current(cert).acm.arn == arn and fx.current(cert).acm.status == "imported"


def test_an_import_never_recorded_because_the_process_died_is_retried(fx: Fakes) -> None:
    """The issuance was saved; the process died before the import (or before recording it)."""
    acm = with_acm(fx)
    real = delivery.after_issued
    delivery.after_issued = lambda svc, cert, *a, **k: cert  # type: ignore[assignment]
    try:
        cert = fx.order("tinycert", deliver_to=ACM)
    finally:
        delivery.after_issued = real  # type: ignore[assignment]
    assert fx.current(cert).acm.status is None and acm.certificates == {}
    jobs.reconcile(fx.svc, remaining)
    assert acm.certificates == {}  # inside the grace: the request that issued it may still import
    fx.clock.advance(seconds=DELIVERY_GRACE_S + 1)
    jobs.reconcile(fx.svc, remaining)
    assert fx.current(cert).acm.status == "imported" and len(acm.certificates) == 1


def test_an_arn_is_recorded_even_when_the_certificate_changed_meanwhile(fx: Fakes) -> None:
    acm = with_acm(fx)
    real = acm.import_certificate

    def racing(*args: Any, **kw: Any) -> str:
        arn = real(*args, **kw)
        current = fx.store.get(cert_id[0])
        fx.store.save(current.updated(fx.clock(), client_reference="changed"))  # someone else's write
        return arn

    cert_id: list[str] = []
    orig_create = fx.store.create

    def create(c: Any, *a: Any, **k: Any) -> Any:
        cert_id.append(c.id)
        return orig_create(c, *a, **k)

    fx.store.create = create  # type: ignore[method-assign]
    acm.import_certificate = racing  # type: ignore[method-assign]
    cert = fx.order("tinycert", deliver_to=ACM)
    (arn,) = acm.certificates
    stored = fx.current(cert)
    assert stored.acm.arn == arn and stored.acm.status == "imported" and stored.client_reference == "changed"


def test_a_stage_default_region_imports_orders_whose_key_certgate_holds(fx: Fakes) -> None:
    acm = with_acm(fx)
    fx.svc.cfg = replace(fx.svc.cfg, acm_default_region="us-west-2")
    held = fx.order("tinycert", cn="default.example.com")
    assert held.acm is not None and fx.current(held).acm.region == "us-west-2" and len(acm.certificates) == 1
    opted_out = fx.order("tinycert", cn="out.example.com", deliver_to={})
    assert fx.current(opted_out).acm is None
    csr = fx.order("resello", cn="csr.example.com")  # the caller keeps the key: nothing to import
    assert fx.current(csr).acm is None and len(acm.certificates) == 1
