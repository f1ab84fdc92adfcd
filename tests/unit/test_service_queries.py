"""Read-only use cases and provider administration on fakes: a caller's certificates (pages,
filters, tokens bound to their owner), a certificate's audit trail, the providers overview and
TinyCert's certificate authorities (never deleting the default one)."""

from __future__ import annotations

import pytest

from chalicelib.core.errors import BadRequest, Conflict, Forbidden, NotFound, ProviderNotConfigured, ValidationFailed
from chalicelib.core.model import Status
from chalicelib.service import admin, queries
from chalicelib.service.queries import CertificateFilter
from tests.unit.service_kit import ALICE, BOB, Fakes, build, reach

S = Status


ANY = CertificateFilter()


def everything(fx: Fakes, principal: str, flt: CertificateFilter = ANY, limit: int = 2) -> list[str]:
    ids: list[str] = []
    token = None
    for _ in range(50):
        page, token = queries.list_certificates(fx.svc, principal, flt, limit=limit, next_token=token)
        assert len(page) <= limit
        ids += [c.id for c in page]
        if token is None:
            return ids
    raise AssertionError("the listing never ended")


def test_a_listing_pages_through_the_callers_certificates_newest_first(fx: Fakes) -> None:
    mine = []
    for i in range(5):
        mine.append(fx.order("resello", f"l{i}.example.com").id)
        fx.clock.advance(seconds=1)
    theirs = fx.order("resello", "theirs.example.com", principal=BOB).id
    assert everything(fx, ALICE) == list(reversed(mine))
    assert everything(fx, BOB) == [theirs]
    first, token = queries.list_certificates(fx.svc, ALICE, CertificateFilter(), limit=2, next_token=None)
    assert [c.id for c in first] == mine[:-3:-1] and token
    with pytest.raises(BadRequest) as other:
        queries.list_certificates(fx.svc, BOB, CertificateFilter(), limit=2, next_token=token)
    assert other.value.code == "invalid_next_token" and "another listing" in other.value.detail
    with pytest.raises(BadRequest, match="not a token this API issued"):
        queries.list_certificates(fx.svc, ALICE, CertificateFilter(), limit=2, next_token="bm9wZQ")


def test_filters_apply_and_pending_covers_unanswered_intents(fx: Fakes) -> None:
    pending = fx.order("resello", "p.example.com")
    intent = reach(fx, S.SUBMITTING, cn="i.example.com")
    fx.provider("digicert").days = 30
    issued = fx.issued("digicert", "d.example.com")
    tiny = fx.order("tinycert", "t.example.com")  # valid for 90 days
    assert set(everything(fx, ALICE, CertificateFilter(status="pending"))) == {pending.id, intent.id}
    assert set(everything(fx, ALICE, CertificateFilter(status="issued"))) == {issued.id, tiny.id}
    assert everything(fx, ALICE, CertificateFilter(provider="resello")) == [pending.id]
    assert everything(fx, ALICE, CertificateFilter(common_name="d.example.com")) == [issued.id]
    assert everything(fx, ALICE, CertificateFilter(expires_before=tiny.not_after)) == [issued.id]
    assert everything(fx, ALICE, CertificateFilter(status="issued", provider="resello")) == []


def test_a_sparse_filter_still_fills_pages_across_reads(fx: Fakes) -> None:
    wanted = [fx.issued("digicert", f"w{i}.example.com").id for i in range(2)]
    for i in range(6):
        fx.order("resello", f"noise{i}.example.com")
    assert set(everything(fx, ALICE, CertificateFilter(status="issued"), limit=2)) == set(wanted)


def test_the_audit_trail_pages_and_its_token_is_bound_to_owner_and_certificate(fx: Fakes) -> None:
    cert = fx.issued("digicert")
    fx.svc.revoke(ALICE, fx.current(cert), None)
    events, token = queries.certificate_events(fx.svc, ALICE, cert, limit=2, next_token=None)
    assert len(events) == 2 and token
    rest, end = queries.certificate_events(fx.svc, ALICE, cert, limit=10, next_token=token)
    assert end is None
    assert {e.kind for e in events + rest} == {e.kind for e in fx.store.all_events(cert.id)}
    assert len(events + rest) == len(fx.store.all_events(cert.id))
    other = fx.order("digicert", "other.example.com")
    with pytest.raises(BadRequest):
        queries.certificate_events(fx.svc, ALICE, other, limit=2, next_token=token)
    with pytest.raises(BadRequest):
        queries.certificate_events(fx.svc, BOB, cert, limit=2, next_token=token)


# -- providers and authorities ---------------------------------------------------------------------------

def test_the_overview_lists_configured_and_unconfigured_providers() -> None:
    fx = build(issuance={"tinycert": "sync", "resello": "async"}, unconfigured=("digicert",))
    overview = {p.name: p for p in admin.providers_overview(fx.svc)}
    assert list(overview) == ["tinycert", "resello", "digicert"]
    assert [p.configured for p in overview.values()] == [True, True, False]
    assert overview["digicert"].capabilities.revoke and not overview["resello"].capabilities.revoke


def test_authorities_are_listed_created_read_and_deleted(fx: Fakes) -> None:
    created = admin.create_authority(fx.svc, {"C": "US", "O": "Example CA"})
    assert [a.ca_id for a in admin.list_authorities(fx.svc)] == [created.ca_id]
    assert admin.get_authority(fx.svc, created.ca_id) == created
    with pytest.raises(Forbidden):
        admin.delete_authority(fx.svc, created.ca_id, actor=fx.principal, admin=False)
    admin.delete_authority(fx.svc, created.ca_id, actor="ops", admin=True)
    assert admin.list_authorities(fx.svc) == []
    for missing in (created.ca_id, "12345"):
        with pytest.raises(NotFound):
            admin.get_authority(fx.svc, missing)
        with pytest.raises(NotFound):
            admin.delete_authority(fx.svc, missing, actor="ops", admin=True)


def test_an_authority_pem_is_the_cas_certificate_and_a_provider_without_one_is_a_502(fx: Fakes) -> None:
    import dataclasses

    from chalicelib.core.errors import ProviderProtocolError

    created = admin.create_authority(fx.svc, {"C": "US", "O": "Example CA"})
    pem = admin.authority_pem(fx.svc, created.ca_id)
    assert pem.startswith("-----BEGIN CERTIFICATE-----") and pem.strip() == created.certificate_pem.strip()
    fake = fx.provider("tinycert")
    for broken in (None, "", "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n"):
        fake.authorities[created.ca_id] = dataclasses.replace(created, certificate_pem=broken)
        with pytest.raises(ProviderProtocolError):
            admin.authority_pem(fx.svc, created.ca_id)
    with pytest.raises(NotFound):
        admin.authority_pem(fx.svc, "12345")


def test_a_malformed_authority_id_is_not_found_without_asking_the_provider(fx: Fakes) -> None:
    for bad in ("abc", "1" * 13, "../1"):
        with pytest.raises(NotFound):
            admin.get_authority(fx.svc, bad)
        with pytest.raises(NotFound):
            admin.delete_authority(fx.svc, bad, actor="ops", admin=True)
    assert fx.provider("tinycert").calls == []


def test_the_default_authority_of_the_secret_is_never_deleted() -> None:
    fx = build()
    ca = admin.create_authority(fx.svc, {"C": "US", "O": "Default CA"})
    fx = build(defaults={"tinycert": {"default_ca_id": int(ca.ca_id)}})
    fx.provider("tinycert").authorities[ca.ca_id] = ca
    with pytest.raises(Conflict) as info:
        admin.delete_authority(fx.svc, ca.ca_id, actor="ops", admin=True)
    assert info.value.code == "authority_in_use"
    assert fx.provider("tinycert").called("delete_authority") == []
    assert admin.get_authority(fx.svc, ca.ca_id) == ca


def test_an_authority_with_live_certificates_is_kept_unless_forced_and_then_they_are_revoked(fx: Fakes) -> None:
    ca = admin.create_authority(fx.svc, {"C": "US", "O": "Team CA"})
    mine = fx.order("tinycert", "a.example.com", provider_options={"ca_id": int(ca.ca_id)})
    theirs = fx.order("tinycert", "b.example.com", principal="bob", provider_options={"ca_id": int(ca.ca_id)})
    elsewhere = fx.order("tinycert", "c.example.com")
    assert {c.status for c in (mine, theirs, elsewhere)} == {Status.ISSUED}
    with pytest.raises(Conflict) as info:
        admin.delete_authority(fx.svc, ca.ca_id, actor="ops", admin=True)
    assert info.value.code == "authority_has_certificates"
    assert mine.id in info.value.detail and theirs.id in info.value.detail and elsewhere.id not in info.value.detail
    assert fx.provider("tinycert").called("delete_authority") == []
    admin.delete_authority(fx.svc, ca.ca_id, actor="ops", admin=True, force=True)
    after = {c.id: fx.current(c) for c in (mine, theirs, elsewhere)}
    assert after[mine.id].status is Status.REVOKED and after[theirs.id].status is Status.REVOKED
    assert after[mine.id].failure is not None and after[mine.id].failure.code == "authority_deleted"
    assert after[elsewhere.id].status is Status.ISSUED
    assert "certificate.revoked" in fx.publisher.kinds(mine.id)


def test_authorities_need_a_configured_tinycert() -> None:
    fx = build(issuance={"resello": "async"}, unconfigured=("tinycert",))
    with pytest.raises(ProviderNotConfigured):
        admin.list_authorities(fx.svc)
    with pytest.raises(ProviderNotConfigured):
        admin.delete_authority(fx.svc, "7", actor="ops", admin=True)


def test_health_reports_each_dependency_by_its_error_code(fx: Fakes) -> None:
    from chalicelib.core.errors import DependencyFailed
    from chalicelib.service import health

    checks = {"table": fx.store.ping, "bucket": fx.artifacts.ping, "topic": fx.publisher.ping}
    assert health.check(checks) == (True, {"table": "ok", "bucket": "ok", "topic": "ok"})
    fx.store.down = DependencyFailed("table", "ResourceNotFoundException")
    fx.publisher.fail()
    assert health.check(checks) == (False, {"table": "error: ResourceNotFoundException", "bucket": "ok",
                                            "topic": "error: InternalError"})


def test_expiring_within_lists_what_expires_from_now_to_that_horizon(fx: Fakes) -> None:
    digicert = fx.provider("digicert")
    digicert.days = 20
    soon = fx.issued("digicert", "soon.example.com")
    digicert.days = 90
    later = fx.issued("digicert", "later.example.com")
    fx.order("resello", "pending.example.com")  # no not_after yet: never "expiring"
    within = queries.parse_expiring_within
    assert everything(fx, ALICE, CertificateFilter(expiring_within=within("30d"))) == [soon.id]
    assert everything(fx, ALICE, CertificateFilter(expiring_within=within("19d"))) == []  # 20 days: not within
    assert everything(fx, ALICE, CertificateFilter(expiring_within=within("500h"))) == [soon.id]
    assert everything(fx, ALICE, CertificateFilter(expiring_within=within("100d"),
                                                   expires_before=soon.not_after)) == []  # the earlier bound
    fx.clock.advance(days=21)  # soon has expired: no longer "expiring"
    assert everything(fx, ALICE, CertificateFilter(expiring_within=within("70d"))) == [later.id]
    for bad in ("30", "d", "0d", "1.5d", "30D", "3w", "3651d", "-1d", " 30d"):
        with pytest.raises(ValidationFailed) as refused:
            within(bad)
        assert [e.field for e in refused.value.errors] == ["expiring_within"], bad


def test_a_domain_search_is_exact_or_with_a_leading_dot_every_name_under_the_domain(fx: Fakes) -> None:
    apex = fx.issued("digicert", "www.example.com", sans=[{"type": "dns", "value": "example.com"}])
    wildcard = fx.issued("digicert", "*.example.com")
    deep = fx.issued("digicert", "deep.a.example.com")
    other = fx.issued("digicert", "example.org")
    fx.issued("digicert", "notexample.com")

    def found(raw: str) -> set[str]:
        return set(everything(fx, ALICE, CertificateFilter(domain=queries.parse_domain(raw)), limit=10))

    assert found("example.com") == {apex.id}  # a SAN, not the common name
    assert found("WWW.Example.COM.") == {apex.id}
    assert found("*.example.com") == {wildcard.id}  # the wildcard name itself
    assert found(".example.com") == {apex.id, wildcard.id, deep.id}  # not notexample.com
    assert found(".a.example.com") == {deep.id}
    assert found(".org") == {other.id}
    assert set(everything(fx, BOB, CertificateFilter(domain="example.com"))) == set()  # only the caller's
    for bad in ("exa mple.com", "..example.com", "*", ".", "a*.example.com"):
        with pytest.raises(ValidationFailed) as refused:
            queries.parse_domain(bad)
        assert [e.field for e in refused.value.errors] == ["domain"], bad


def test_a_revoked_certificate_says_why_and_when(fx: Fakes) -> None:
    cert = fx.issued("digicert", "rev.example.com")
    revoked = fx.svc.revoke(ALICE, fx.current(cert), {"reason": "key_compromise"})
    assert revoked.status is S.REVOKED
    now = fx.clock().isoformat().replace("+00:00", "Z")
    shown = revoked.to_public()["revocation"]
    assert shown["status"] == "revoked" and shown["reason"] == "key_compromise"
    assert shown["requested_at"][:19] == shown["revoked_at"][:19] == now[:19]
    elsewhere = fx.issued("digicert", "oob.example.com")
    fx.provider("digicert").set_status(elsewhere.provider_order_id or "", S.REVOKED)
    fx.clock.advance(minutes=5)
    after = fx.svc.refresh(fx.current(elsewhere), actor="test")
    shown = after.to_public()["revocation"]
    assert (after.status, shown["reason"], shown["requested_at"]) == (S.REVOKED, "unspecified", None)
    assert shown["revoked_at"][:16] == fx.clock().isoformat()[:16]
