"""The lifecycle after ordering, on fakes: access, refresh, reissue, renew, revoke, cancel, domain
validation and its retry, downloads (every format, older revisions, PKCS#12 with the sealed key)."""

from __future__ import annotations

import io
import zipfile
from dataclasses import replace

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12

from chalicelib.core.errors import (
    ConcurrentModification,
    Conflict,
    NotFound,
    ProviderTimeout,
    ProviderUnavailable,
    SealedKeyInvalid,
    ServiceUnavailable,
    ValidationFailed,
)
from chalicelib.core.model import Status
from chalicelib.service.certificates import ProviderFailure
from tests.fakes import FakeProvider
from tests.unit.service_kit import ALICE, BOB, Fakes, csr, reach

S = Status


def kinds(fx: Fakes, cert_id: str) -> set[str]:
    return {e.kind for e in fx.store.all_events(cert_id)}


# -- access and refresh ---------------------------------------------------------------------------------

def test_a_certificate_is_found_only_by_its_owner_or_an_admin(fx: Fakes) -> None:
    cert = fx.order("resello")
    assert fx.svc.owned(ALICE, cert.id) == cert
    assert fx.svc.owned(BOB, cert.id, admin=True) == cert
    for who, cert_id in ((BOB, cert.id), (ALICE, "crt_" + "f" * 32), (ALICE, "../etc/passwd")):
        with pytest.raises(NotFound):
            fx.svc.owned(who, cert_id)


def test_refresh_of_a_final_certificate_asks_no_provider(fx: Fakes) -> None:
    cert = reach(fx, S.REVOKED)
    calls = len(fx.provider("digicert").calls)
    assert fx.svc.refresh(cert, actor="test") == cert and len(fx.provider("digicert").calls) == calls


def test_an_order_the_provider_lost_fails_on_refresh(fx: Fakes) -> None:
    cert = fx.order("digicert")
    fx.provider("digicert").orders.clear()
    failed = fx.svc.refresh(cert, actor="test")
    assert failed.status is S.FAILED and failed.failure is not None
    assert failed.failure.code == "provider_not_found"


def test_a_provider_outage_on_refresh_changes_nothing(fx: Fakes) -> None:
    cert = fx.order("digicert")
    fx.provider("digicert").fail_next("get_order", ProviderUnavailable("digicert", "down"))
    with pytest.raises(ProviderFailure) as info:
        fx.svc.refresh(cert, actor="test")
    assert info.value.error.code == "provider_unavailable" and fx.current(cert) == cert


def test_refresh_of_an_unanswered_intent_reconciles_it_at_once(fx: Fakes) -> None:
    intent = reach(fx, S.SUBMITTING)
    adopted = fx.svc.refresh(intent, actor="test")
    assert adopted.status is S.PENDING and adopted.provider_order_id
    assert "order.adopted" in kinds(fx, intent.id)


# -- reissue and renew ---------------------------------------------------------------------------------------

def test_a_synchronous_reissue_is_a_new_issued_revision_and_the_old_one_stays_downloadable(fx: Fakes) -> None:
    cert = fx.order("tinycert", "r.example.com")
    after = fx.svc.reissue(ALICE, cert, None)
    assert (after.status, after.revision, after.operation) == (S.ISSUED, 2, None)
    assert after.serial != cert.serial and [r.reason for r in after.revisions] == ["order", "reissue"]
    assert {"certificate.reissue_requested", "certificate.issued"} <= kinds(fx, cert.id)
    old, _, _ = fx.svc.download(after, "pem", revision=1)
    new, _, name = fx.svc.download(after, "pem")
    assert format(x509.load_pem_x509_certificate(old).serial_number, "x") == cert.serial
    assert format(x509.load_pem_x509_certificate(new).serial_number, "x") == after.serial
    assert name == f"{cert.id}-r2-pem.pem"


def test_an_asynchronous_reissue_keeps_serving_the_issued_revision_until_done(fx: Fakes) -> None:
    cert = fx.issued("resello", "s.example.com")
    new_csr = csr("s.example.com", "www.s.example.com")
    started = fx.svc.reissue(ALICE, cert, {"csr": new_csr, "sans": [{"type": "dns", "value": "www.s.example.com"}]})
    assert (started.status, started.operation, started.revision) == (S.PENDING, "reissue", 2)
    assert started.csr_pem == new_csr and started.issued_revision is not None
    assert started.issued_revision.number == 1
    assert fx.provider("resello").orders[cert.provider_order_id or ""].request.csr_pem == new_csr
    data, _, name = fx.svc.download(started, "pem")
    assert name.startswith(f"{cert.id}-r1-")
    fx.provider("resello").issue(cert.provider_order_id or "")
    done = fx.svc.refresh(fx.current(started), actor="test")
    assert (done.status, done.revision, done.operation) == (S.ISSUED, 2, None)
    assert {s.value for s in done.sans} == {"s.example.com", "www.s.example.com"}


def test_a_refused_reissue_goes_back_to_the_issued_revision(fx: Fakes) -> None:
    cert = fx.issued("digicert", "t.example.com")
    fx.provider("digicert").fail_next("reissue", ProviderUnavailable("digicert", "maintenance"))
    with pytest.raises(ProviderFailure) as info:
        fx.svc.reissue(ALICE, cert, None)
    back = fx.current(cert)
    assert info.value.cert == back and (back.status, back.revision, back.serial) == (S.ISSUED, 1, cert.serial)
    assert fx.publisher.kinds(cert.id)[-1] == "certificate.failed"


def test_an_unanswered_reissue_stays_pending_for_the_poller(fx: Fakes) -> None:
    cert = fx.issued("digicert", "u.example.com")
    fx.provider("digicert").fail_next("reissue", ProviderTimeout("digicert", "timeout", outcome_unknown=True),
                                      commit=True)
    with pytest.raises(ProviderFailure):
        fx.svc.reissue(ALICE, cert, None)
    pending = fx.current(cert)
    assert (pending.status, pending.operation, pending.revision) == (S.PENDING, "reissue", 2)
    fx.provider("digicert").issue(cert.provider_order_id or "")
    assert fx.svc.refresh(pending, actor="poll").status is S.ISSUED


def test_reissue_needs_an_issued_certificate_and_a_provider_that_can(fx: Fakes) -> None:
    with pytest.raises(Conflict) as info:
        fx.svc.reissue(ALICE, fx.order("digicert"), None)
    assert info.value.code == "invalid_state"
    caps = replace(fx.provider("resello").capabilities, reissue=False)
    fx.providers.providers["resello"] = FakeProvider("resello", caps, issuance="sync")
    with pytest.raises(ValidationFailed) as refused:
        fx.svc.reissue(ALICE, fx.order("resello", "v.example.com"), None)
    assert refused.value.code == "unsupported_operation"
    with pytest.raises(ValidationFailed):
        fx.svc.reissue(ALICE, fx.issued("digicert"), {"colour": "red"})


def test_a_renewal_is_a_new_order_claimed_for_the_same_certificate(fx: Fakes) -> None:
    cert = fx.issued("digicert", "w.example.com")
    started = fx.svc.renew(ALICE, cert, None)
    assert (started.status, started.operation, started.revision) == (S.PENDING, "renew", 2)
    assert started.provider_order_id != cert.provider_order_id
    assert fx.store.cert_id_for_ref("digicert", started.provider_order_id or "") == cert.id
    assert started.issued_revision is not None and started.issued_revision.provider_order_id == cert.provider_order_id
    fx.provider("digicert").issue(started.provider_order_id or "")
    renewed = fx.svc.refresh(fx.current(started), actor="test")
    assert (renewed.status, renewed.revision) == (S.ISSUED, 2)
    assert [r.reason for r in renewed.revisions] == ["order", "renew"]


def test_a_revoked_certificate_cannot_be_renewed(fx: Fakes) -> None:
    with pytest.raises(Conflict):
        fx.svc.renew(ALICE, reach(fx, S.REVOKED), None)


# -- revoke and cancel -----------------------------------------------------------------------------------------

def test_revoke_moves_to_revoked_and_publishes_with_the_reason(fx: Fakes) -> None:
    cert = fx.issued("digicert")
    after = fx.svc.revoke(ALICE, cert, {"reason": "key_compromise", "comments": "laptop stolen"})
    assert after.status is S.REVOKED and after.operation is None
    assert fx.provider("digicert").called("revoke") == [cert.provider_order_id]
    event = fx.publisher.published[-1]
    assert event.kind == "certificate.revoked" and event.detail["reason"] == "key_compromise"
    assert event.detail["comments"] == "laptop stolen"


def test_revoke_is_refused_where_it_cannot_happen(fx: Fakes) -> None:
    with pytest.raises(ValidationFailed) as unsupported:
        fx.svc.revoke(ALICE, fx.issued("resello"), None)  # Resello cannot revoke
    assert unsupported.value.code == "unsupported_operation"
    with pytest.raises(Conflict):
        fx.svc.revoke(ALICE, fx.order("digicert"), None)
    with pytest.raises(ValidationFailed) as bad:
        fx.svc.revoke(ALICE, fx.issued("digicert", "x.example.com"), {"reason": "because"})
    assert [e.field for e in bad.value.errors] == ["reason"]


def test_a_failed_revoke_releases_its_claim_on_the_certificate(fx: Fakes) -> None:
    cert = fx.issued("digicert")
    fx.provider("digicert").fail_next("revoke", ProviderUnavailable("digicert", "down"))
    with pytest.raises(ProviderFailure):
        fx.svc.revoke(ALICE, cert, None)
    after = fx.current(cert)
    assert after.status is S.ISSUED and after.operation is None
    assert fx.svc.revoke(ALICE, after, None).status is S.REVOKED


def test_a_revocation_the_provider_only_accepts_is_recorded_and_leaves_the_certificate_issued(
        fx: Fakes, monkeypatch: pytest.MonkeyPatch) -> None:
    cert = fx.issued("digicert")
    digicert = fx.provider("digicert")
    monkeypatch.setattr(digicert, "revoke", lambda order_id, reason="unspecified":
                        replace(digicert.view(digicert.orders[order_id]), raw_status="revocation_pending"))
    after = fx.svc.revoke(ALICE, cert, None)
    assert after.status is S.ISSUED and after.operation is None
    assert "certificate.revocation_requested" in kinds(fx, cert.id)


def test_a_revoke_racing_a_reissue_loses_cleanly(fx: Fakes) -> None:
    cert = fx.issued("digicert")
    fx.svc.reissue(ALICE, cert, None)  # claimed first, from the same version
    with pytest.raises(ConcurrentModification):
        fx.svc.revoke(ALICE, cert, None)
    assert fx.provider("digicert").called("revoke") == []


def test_cancel_of_a_pending_order(fx: Fakes) -> None:
    cert = fx.order("resello")
    after = fx.svc.cancel(ALICE, cert)
    assert after.status is S.CANCELLED and fx.publisher.kinds(cert.id) == ["certificate.cancelled"]


def test_cancel_too_late_records_the_issuance_instead(fx: Fakes) -> None:
    cert = fx.order("resello")
    fx.provider("resello").issue(cert.provider_order_id or "")
    assert fx.svc.cancel(ALICE, cert).status is S.ISSUED


def test_cancel_of_an_unanswered_intent_looks_the_order_up_first(fx: Fakes) -> None:
    intent = reach(fx, S.SUBMITTING)
    after = fx.svc.cancel(ALICE, intent)
    assert after.status is S.CANCELLED and after.provider_order_id


def test_cancel_is_refused_where_it_cannot_happen(fx: Fakes) -> None:
    with pytest.raises(ValidationFailed):
        fx.svc.cancel(ALICE, fx.order("tinycert"))  # TinyCert orders cannot be cancelled
    with pytest.raises(Conflict):
        fx.svc.cancel(ALICE, fx.issued("resello"))
    reissuing = fx.svc.reissue(ALICE, fx.issued("resello", "y.example.com"), None)
    with pytest.raises(Conflict, match="reissue in progress"):
        fx.svc.cancel(ALICE, reissuing)


# -- domain control validation -------------------------------------------------------------------------------

def test_validation_details_come_from_the_provider(fx: Fakes) -> None:
    cert = fx.order("resello", "dcv.example.com")
    out = fx.svc.validation(cert).to_public()
    assert out["status"] == "pending" and out["method"] == "dns"
    assert out["domains"] == [{"domain": "dcv.example.com", "method": "dns", "state": "pending",
                               "dns": {"name": "_dcv.dcv.example.com", "type": "TXT",
                                       "value": f"token-{cert.provider_order_id}"}}]
    assert fx.svc.validation(fx.order("tinycert")).domains == ()  # no DCV at TinyCert


def test_retry_validation_switches_the_method_and_is_audited(fx: Fakes) -> None:
    cert = fx.order("resello", "dcv2.example.com")
    out = fx.svc.retry_validation(ALICE, cert, {"dcv_method": "email", "email": "admin@dcv2.example.com"}).to_public()
    assert out["method"] == "email" and out["domains"][0]["emails"] == ["admin@dcv2.example.com"]
    assert fx.current(cert).dcv_method == "email" and "validation.retried" in kinds(fx, cert.id)


def test_retry_validation_is_refused_where_it_cannot_happen(fx: Fakes) -> None:
    with pytest.raises(ValidationFailed):
        fx.svc.retry_validation(ALICE, fx.order("tinycert"), None)
    with pytest.raises(ValidationFailed) as bad:
        fx.svc.retry_validation(ALICE, fx.order("resello"), {"dcv_method": "email"})
    assert [e.field for e in bad.value.errors] == ["email"]
    with pytest.raises(Conflict):
        fx.svc.retry_validation(ALICE, fx.issued("digicert"), None)


# -- downloads ------------------------------------------------------------------------------------------------

def test_every_format_renders_the_issued_certificate(fx: Fakes) -> None:
    cert = fx.issued("digicert", "dl.example.com")
    chain = x509.load_pem_x509_certificates(fx.provider("digicert").ca.chain_pem.encode())
    pem, ctype, name = fx.svc.download(cert, "pem")
    leaf = x509.load_pem_x509_certificate(pem)
    assert ctype == "application/x-pem-file" and name == f"{cert.id}-r1-pem.pem"
    assert x509.load_pem_x509_certificates(fx.svc.download(cert, "chain")[0]) == chain
    assert x509.load_pem_x509_certificates(fx.svc.download(cert, "fullchain")[0]) == [leaf, *chain]
    assert x509.load_der_x509_certificate(fx.svc.download(cert, "der")[0]) == leaf
    assert set(pkcs7.load_der_pkcs7_certificates(fx.svc.download(cert, "pkcs7")[0])) == {leaf, *chain}
    archive = zipfile.ZipFile(io.BytesIO(fx.svc.download(cert, "zip")[0]))
    assert sorted(archive.namelist()) == ["cert.pem", "chain.pem", "fullchain.pem"]
    with pytest.raises(ValidationFailed):
        fx.svc.download(cert, "jks")


def test_nothing_to_download_before_issuance_or_for_a_revision_never_issued(fx: Fakes) -> None:
    with pytest.raises(Conflict) as info:
        fx.svc.download(fx.order("resello"), "pem")
    assert info.value.code == "not_issued"
    with pytest.raises(NotFound):
        fx.svc.download(fx.issued("digicert"), "pem", revision=2)


def test_pkcs12_bundles_the_sealed_key_under_the_passphrase(fx: Fakes) -> None:
    cert = fx.order("tinycert", "p12.example.com")
    data, ctype, name = fx.svc.download(cert, "pkcs12", passphrase="correct horse")
    assert ctype == "application/x-pkcs12" and name == f"{cert.id}-r1.p12"
    key, leaf, _ = pkcs12.load_key_and_certificates(data, b"correct horse")
    assert leaf is not None and key is not None and key.public_key() == leaf.public_key()
    assert format(leaf.serial_number, "x") == cert.serial and fx.vault.opened == 1


def test_pkcs12_needs_a_held_key_a_passphrase_and_the_vault(fx: Fakes) -> None:
    with pytest.raises(Conflict) as no_key:
        fx.svc.download(fx.issued("digicert"), "pkcs12", passphrase="correct horse")
    assert no_key.value.code == "no_private_key"
    cert = fx.order("tinycert")
    with pytest.raises(ValidationFailed):
        fx.svc.download(cert, "pkcs12")
    fx.vault.down = True
    with pytest.raises(ServiceUnavailable) as down:
        fx.svc.download(cert, "pkcs12", passphrase="correct horse")
    assert down.value.code == "key_vault_unavailable" and down.value.headers == {"Retry-After": "10"}
    fx.vault.down = False
    other = fx.order("tinycert", "other.example.com")
    with pytest.raises(SealedKeyInvalid):  # a sealed key moved onto another certificate does not open
        fx.svc.download(replace(cert, sealed_key=other.sealed_key), "pkcs12", passphrase="correct horse")
