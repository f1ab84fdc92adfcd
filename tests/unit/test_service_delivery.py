"""ACM delivery on fakes (issue 19 item 2): opt-in per certificate, only where certgate holds the
key; imported on issue, re-imported into the same ARN on every new revision; a failed import
never fails the issuance and is retried by the reconcile job; revocation tags the ACM copy."""

from __future__ import annotations

import pytest

from chalicelib.core.errors import ValidationFailed
from chalicelib.service import jobs
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
    state = stored.delivery["acm"]
    assert state["status"] == "imported" and state["region"] == "eu-west-1" and state["revision"] == 1
    (arn, imported), = acm.certificates.items()
    assert state["arn"] == arn and imported["region"] == "eu-west-1"
    assert x509_certificates.certificate_info(imported["certificate"]).serial == stored.serial
    assert imported["key"] == fx.vault.open(stored.sealed_key or {}, {"certificate_id": stored.id})
    assert stored.to_public()["delivery"]["acm"]["arn"] == arn
    delivered = [e for e in fx.publisher.published if e.kind == "certificate.delivered"]
    assert [e.detail["acm_arn"] for e in delivered] == [arn]
    assert delivered[0].detail["certificate"]["acm_arn"] == arn


def test_reissue_reimports_into_the_same_arn(fx: Fakes) -> None:
    acm = with_acm(fx)
    cert = fx.issued("resello", "r.example.com", key={"type": "ec"}, deliver_to=ACM)
    arn = fx.current(cert).delivery["acm"]["arn"]
    first_serial = fx.current(cert).serial
    again = fx.svc.reissue(fx.principal, fx.current(cert), {})
    fx.provider("resello").issue(again.provider_order_id or "")
    after = fx.svc.refresh(fx.current(cert), actor="test")
    assert after.revision == 2 and after.serial != first_serial
    assert list(acm.certificates) == [arn] and acm.imports == 2
    assert after.delivery["acm"] == {"region": "eu-west-1", "arn": arn, "status": "imported", "revision": 2,
                                     "error": None}
    assert x509_certificates.certificate_info(acm.certificates[arn]["certificate"]).serial == after.serial
    issued = [e for e in fx.publisher.published if e.kind == "certificate.issued"]
    assert issued[-1].detail["certificate"]["acm_arn"] == arn  # later events carry the ARN


def test_a_failed_import_never_fails_the_issuance_and_the_reconcile_job_retries_it(fx: Fakes) -> None:
    acm = with_acm(fx)
    acm.fail(times=1)
    cert = fx.order("tinycert", deliver_to=ACM)
    stored = fx.current(cert)
    assert stored.status.value == "issued" and "certificate.issued" in fx.publisher.kinds(cert.id)
    assert stored.delivery["acm"]["status"] == "failed" and stored.delivery["acm"]["error"] == "ServiceUnavailable"
    jobs.reconcile(fx.svc, remaining)
    assert fx.current(cert).delivery["acm"]["status"] == "failed"  # not due yet
    fx.clock.advance(seconds=901)
    jobs.reconcile(fx.svc, remaining)
    assert fx.current(cert).delivery["acm"]["status"] == "imported" and len(acm.certificates) == 1


def test_revocation_tags_the_acm_certificate(fx: Fakes) -> None:
    acm = with_acm(fx)
    cert = fx.issued("digicert", "d.example.com", key={"type": "ec"}, deliver_to=ACM)
    arn = fx.current(cert).delivery["acm"]["arn"]
    revoked = fx.svc.revoke(fx.principal, fx.current(cert), {"reason": "superseded"})
    assert acm.certificates[arn]["tags"]["certgate:status"] == "revoked"
    assert fx.current(revoked).delivery["acm"]["status"] == "revoked"
    assert fx.current(revoked).version == revoked.version  # the returned certificate is the stored one


def test_no_deliver_to_no_import(fx: Fakes) -> None:
    acm = with_acm(fx)
    cert = fx.order("tinycert")
    assert acm.certificates == {} and fx.current(cert).delivery == {}
    assert "delivery" not in fx.current(cert).to_public()


def test_a_csr_order_cannot_ask_for_acm_and_the_region_must_be_one(fx: Fakes) -> None:
    with_acm(fx)
    with pytest.raises(ValidationFailed) as exc:
        fx.order("resello", deliver_to=ACM)  # the kit sends a CSR: the caller keeps the key
    assert fields(exc) == {"deliver_to.acm"}
    with pytest.raises(ValidationFailed) as exc:
        fx.order("tinycert", deliver_to={"acm": {"region": "mars-1"}})
    assert fields(exc) == {"deliver_to.acm.region"}
