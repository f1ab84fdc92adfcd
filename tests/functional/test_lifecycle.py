"""Every lifecycle route through chalice.test.Client, on moto and the simulators."""

from __future__ import annotations

import io
import uuid
import zipfile

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12

from simulators.ca import build_csr, generate_key
from tests.functional.conftest import call


def cn() -> str:
    return f"f{uuid.uuid4().hex[:10]}.example.com"


def csr_for(name: str, kind: str = "rsa", size: int = 2048) -> str:
    from cryptography.hazmat.primitives import serialization

    key = generate_key(kind, size)
    return build_csr(key, name, [("dns", name)]).public_bytes(serialization.Encoding.PEM).decode()


def who() -> str:
    return f"arn:aws:iam::123456789012:user/t-{uuid.uuid4().hex[:6]}"


def order(client, body, principal, headers=None):
    return call(client, "POST", "/certificates", body, principal, headers)


def test_tinycert_order_is_issued_synchronously_with_every_download(client, world):
    me = who()
    name = cn()
    status, headers, body = order(client, {"provider": "tinycert", "common_name": name,
                                           "sans": [{"type": "dns", "value": "www." + name}]}, me)
    assert status == 201, body
    assert headers["location"] == f"/certificates/{body['id']}"
    assert body["status"] == "issued" and body["private_key_held"] is True
    cid = body["id"]
    s3 = world.aws("s3")
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=world.env["CERTGATE_BUCKET"],
                                                 Prefix=f"certificates/{cid}/")["Contents"]}
    assert keys == {f"certificates/{cid}/r1/{f}" for f in ("cert.pem", "chain.pem", "fullchain.pem", "metadata.json")}
    head = s3.head_object(Bucket=world.env["CERTGATE_BUCKET"], Key=f"certificates/{cid}/r1/cert.pem")
    assert head["ContentType"] == "application/x-pem-file" and head.get("ServerSideEncryption")

    st, h, pem = call(client, "GET", f"/certificates/{cid}/download?format=pem", principal=me)
    assert st == 200 and h["content-type"] == "application/x-pem-file"
    leaf = x509.load_pem_x509_certificate(pem)
    assert leaf.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == name
    st, _, full = call(client, "GET", f"/certificates/{cid}/download?format=fullchain", principal=me)
    assert full.count(b"BEGIN CERTIFICATE") >= 2
    st, h, der = call(client, "GET", f"/certificates/{cid}/download?format=der", principal=me)
    assert h["content-type"] == "application/pkix-cert" and x509.load_der_x509_certificate(der) == leaf
    st, h, prob = call(client, "GET", f"/certificates/{cid}/download?format=der", principal=me,
                       headers={"Accept": "application/json"})
    assert st == 406 and h["content-type"] == "application/problem+json"
    st, h, p7 = call(client, "GET", f"/certificates/{cid}/download?format=pkcs7", principal=me)
    assert len(pkcs7.load_der_pkcs7_certificates(p7)) >= 2
    st, h, z = call(client, "GET", f"/certificates/{cid}/download?format=zip", principal=me)
    assert {"cert.pem", "chain.pem", "fullchain.pem"} <= set(zipfile.ZipFile(io.BytesIO(z)).namelist())
    st, h, p12 = call(client, "POST", f"/certificates/{cid}/download", {"passphrase": "correct horse"}, me)
    assert st == 200 and h["content-type"] == "application/x-pkcs12"
    key, cert, _ = pkcs12.load_key_and_certificates(p12, b"correct horse")
    assert cert == leaf and key is not None
    st, _, prob = call(client, "GET", f"/certificates/{cid}/download?format=pkcs12", principal=me)
    assert st == 422 and prob["errors"][0]["field"] == "format"

    st, _, events = call(client, "GET", f"/certificates/{cid}/events", principal=me)
    kinds = [e["event"] for e in events["items"]]
    assert "certificate.requested" in kinds and "certificate.issued" in kinds


@pytest.mark.parametrize("provider", ["tinycert", "resello", "digicert"])
def test_every_download_format_providers_lists_is_served(client, world, provider):
    """GET /providers says what the download route really serves: every format it lists answers
    200 for an issued certificate of that provider whose key certgate holds."""
    me = who()
    st, _, listing = call(client, "GET", "/providers")
    listed = next(p for p in listing["items"] if p["name"] == provider)["capabilities"]["download_formats"]
    assert set(listed) == {"pem", "chain", "fullchain", "der", "pkcs7", "zip", "pkcs12"}, listed
    _, _, body = order(client, {"provider": provider, "common_name": cn()}, me)
    if body["status"] != "issued":
        world.advance(provider)
        body = call(client, "POST", f"/certificates/{body['id']}/refresh", principal=me)[2]
    assert body["status"] == "issued" and body["private_key_held"] is True, body
    for fmt in listed:
        if fmt == "pkcs12":
            st, h, data = call(client, "POST", f"/certificates/{body['id']}/download",
                               {"passphrase": "correct horse"}, me)
        else:
            st, h, data = call(client, "GET", f"/certificates/{body['id']}/download?format={fmt}", principal=me)
        assert st == 200 and data, (provider, fmt, data)


def test_resello_order_with_gateway_key_pending_then_issued_on_refresh(client, world):
    me = who()
    status, _, body = order(client, {"provider": "resello", "common_name": cn()}, me)
    assert status == 202, body
    assert body["status"] == "pending" and body["key_source"] == "gateway"
    cid = body["id"]
    st, _, prob = call(client, "GET", f"/certificates/{cid}/download?format=pem", principal=me)
    assert st == 409 and prob["code"] == "not_issued"
    st, _, val = call(client, "GET", f"/certificates/{cid}/validation", principal=me)
    assert st == 200 and val["domains"], val
    world.advance("resello")
    st, _, body = call(client, "POST", f"/certificates/{cid}/refresh", principal=me)
    assert st == 200 and body["status"] == "issued", body
    st, h, p12 = call(client, "POST", f"/certificates/{cid}/download", {"passphrase": "long enough"}, me)
    assert st == 200
    key, cert, _ = pkcs12.load_key_and_certificates(p12, b"long enough")
    assert key is not None and cert is not None


def test_digicert_order_with_csr_finishes_on_the_poller(client, world):
    me = who()
    name = cn()
    status, _, body = order(client, {"provider": "digicert", "common_name": name, "csr": csr_for(name)}, me)
    assert status == 202, body
    cid = body["id"]
    assert body["provider_refs"]["order_id"]
    world.advance("digicert")
    import time

    deadline = time.time() + 20
    while time.time() < deadline:
        client.lambda_.invoke("poll_pending", client.events.generate_cw_event(
            source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]))
        st, _, body = call(client, "GET", f"/certificates/{cid}", principal=me)
        if body["status"] == "issued":
            break
        time.sleep(0.5)
    assert body["status"] == "issued", body
    assert body["not_after"] and body["serial"] and body["fingerprints"]["sha256"]


@pytest.mark.parametrize("payload, fields", [
    ({}, {"provider", "common_name"}),
    ({"provider": "nope", "common_name": "a.example.com"}, {"provider"}),
    ({"provider": "tinycert", "common_name": "a.example.com", "csr": "x"}, {"csr"}),
    ({"provider": "resello", "common_name": "a.example.com", "product": "private"}, {"product"}),
    ({"provider": "digicert", "common_name": "a.*.example.com"}, {"common_name"}),
    ({"provider": "digicert", "common_name": "*.*.example.com"}, {"common_name"}),
    ({"provider": "digicert", "common_name": "a.example.com", "validity_days": 9999, "validity_strict": True},
     {"validity_days"}),
    ({"provider": "tinycert", "common_name": "a.example.com", "validity_days": 90}, {"validity_days"}),
    ({"provider": "digicert", "common_name": "a.example.com", "dcv_method": "carrier-pigeon"}, {"dcv_method"}),
    ({"provider": "digicert", "common_name": "a.example.com", "organization": {"country": "XX"}},
     {"organization.country"}),
    ({"provider": "resello", "common_name": "a.example.com", "product": "ov"},
     {"organization.chamber_of_commerce", "organization.unit", "approver.first_name", "approver.last_name"}),
    ({"provider": "digicert", "common_name": "a.example.com", "surprise": 1}, {"surprise"}),
    ({"provider": "digicert", "common_name": "pаypal.example.com"}, {"common_name"}),
    ({"provider": "digicert", "common_name": "a.example.com", "sans": [{"type": "ip", "value": "999.1.1.1"}]},
     {"sans[0].value"}),
])
def test_bad_orders_are_422_naming_each_field(client, payload, fields):
    status, headers, body = order(client, payload, who())
    assert status == 422, body
    assert headers["content-type"] == "application/problem+json"
    assert {e["field"] for e in body["errors"]} >= fields


def test_weak_and_forged_csrs_are_rejected(client):
    name = cn()
    weak = csr_for(name, "rsa", 1024)
    st, _, body = order(client, {"provider": "digicert", "common_name": name, "csr": weak}, who())
    assert st == 422 and body["errors"][0]["field"] == "csr"
    other = csr_for("other.example.org")
    st, _, body = order(client, {"provider": "digicert", "common_name": name, "csr": other}, who())
    assert st == 422 and {e["field"] for e in body["errors"]} & {"common_name", "csr"}, body


def test_idempotency_key_replays_and_guards_the_body(client, world):
    me = who()
    key = uuid.uuid4().hex
    body = {"provider": "resello", "common_name": cn()}
    s1, _, b1 = order(client, body, me, {"Idempotency-Key": key})
    s2, h2, b2 = order(client, body, me, {"Idempotency-Key": key})
    assert s1 == s2 == 202 and b1["id"] == b2["id"] and h2["idempotent-replayed"] == "true"
    s3, _, b3 = order(client, {**body, "auto_renew": True}, me, {"Idempotency-Key": key})
    assert s3 == 409 and b3["code"] == "idempotency_key_reused"
    refs = [o for o in world.sim_orders("resello") if o.get("client_reference") == b1["id"]]
    assert len(refs) == 1


def test_another_principal_sees_nothing(client):
    owner, stranger = who(), who()
    _, _, body = order(client, {"provider": "tinycert", "common_name": cn()}, owner)
    cid = body["id"]
    for method, path, payload in [("GET", f"/certificates/{cid}", None),
                                  ("POST", f"/certificates/{cid}/refresh", None),
                                  ("POST", f"/certificates/{cid}/revoke", {}),
                                  ("POST", f"/certificates/{cid}/reissue", {}),
                                  ("POST", f"/certificates/{cid}/renew", {}),
                                  ("DELETE", f"/certificates/{cid}", None),
                                  ("GET", f"/certificates/{cid}/download?format=pem", None),
                                  ("GET", f"/certificates/{cid}/events", None),
                                  ("GET", f"/certificates/{cid}/validation", None),
                                  ("POST", f"/certificates/{cid}/validate", {})]:
        st, _, prob = call(client, method, path, payload, stranger)
        assert st == 404, (method, path, st, prob)
        assert cid not in str(prob.get("errors", ""))
    _, _, listing = call(client, "GET", "/certificates", principal=stranger)
    assert listing["items"] == []
    _, _, mine = call(client, "GET", "/certificates", principal=owner)
    assert [c["id"] for c in mine["items"]] == [cid]


def test_listing_pages_and_filters(client):
    me = who()
    ids = [order(client, {"provider": "tinycert", "common_name": cn()}, me)[2]["id"] for _ in range(5)]
    seen, token = [], None
    while True:
        path = "/certificates?limit=2" + (f"&next_token={token}" if token else "")
        st, _, page = call(client, "GET", path, principal=me)
        assert st == 200 and len(page["items"]) <= 2
        seen += [c["id"] for c in page["items"]]
        token = page["next_token"]
        if not token:
            break
    assert sorted(seen) == sorted(ids)
    st, _, page = call(client, "GET", "/certificates?provider=resello", principal=me)
    assert page["items"] == []
    st, _, prob = call(client, "GET", "/certificates?status=bogus&limit=0", principal=me)
    assert st == 422 and {e["field"] for e in prob["errors"]} == {"status"}
    st, _, prob = call(client, "GET", "/certificates?next_token=garbage", principal=me)
    assert st == 400 and prob["code"] == "invalid_next_token"


def test_expiring_soon_and_domain_search(client):
    """expiring_within=30d (TinyCert issues for a year: not expiring; 400d: it is), domain= exact
    (a SAN) and with a leading dot (everything under the domain); bad values are 422 naming them."""
    me = who()
    base = cn()
    _, _, apex = order(client, {"provider": "tinycert", "common_name": f"www.{base}",
                                "sans": [{"type": "dns", "value": base}]}, me)
    _, _, deep = order(client, {"provider": "tinycert", "common_name": f"a.b.{base}"}, me)

    def listed(query: str) -> set[str]:
        st, _, page = call(client, "GET", f"/certificates?{query}", principal=me)
        assert st == 200, page
        return {c["id"] for c in page["items"]}

    assert listed("expiring_within=30d") == set()
    assert listed("expiring_within=400d") == listed("expiring_within=9600h") == {apex["id"], deep["id"]}
    assert listed(f"domain={base}") == {apex["id"]}
    assert listed(f"domain=.{base}") == {apex["id"], deep["id"]}
    assert listed(f"domain=.b.{base}&expiring_within=400d") == {deep["id"]}
    st, _, prob = call(client, "GET", "/certificates?expiring_within=30&domain=a..b", principal=me)
    assert st == 422 and sorted(e["field"] for e in prob["errors"]) == ["domain", "expiring_within"], prob
    assert "30d" in next(e["message"] for e in prob["errors"] if e["field"] == "expiring_within")


def test_reissue_makes_a_new_revision_and_keeps_the_old(client, world):
    me = who()
    _, _, body = order(client, {"provider": "tinycert", "common_name": cn()}, me)
    cid = body["id"]
    st, _, after = call(client, "POST", f"/certificates/{cid}/reissue", {}, me)
    assert st == 200 and after["status"] == "issued" and after["revision"] == 2, after
    assert after["serial"] != body["serial"]
    keys = {o["Key"] for o in world.aws("s3").list_objects_v2(Bucket=world.env["CERTGATE_BUCKET"],
                                                              Prefix=f"certificates/{cid}/")["Contents"]}
    assert f"certificates/{cid}/r1/cert.pem" in keys and f"certificates/{cid}/r2/cert.pem" in keys
    st, _, old = call(client, "GET", f"/certificates/{cid}/download?format=pem&revision=1", principal=me)
    assert st == 200 and x509.load_pem_x509_certificate(old).serial_number != int(after["serial"], 16)


def test_renew_at_digicert_goes_pending_then_issued(client, world):
    me = who()
    name = cn()
    _, _, body = order(client, {"provider": "digicert", "common_name": name, "csr": csr_for(name)}, me)
    cid = body["id"]
    world.advance("digicert")
    call(client, "POST", f"/certificates/{cid}/refresh", principal=me)
    st, _, renewing = call(client, "POST", f"/certificates/{cid}/renew", {}, me)
    assert st in (200, 202), renewing
    if renewing["status"] != "issued":
        assert renewing["status"] == "pending" and renewing["operation"] == "renew"
        world.advance("digicert")
        st, _, renewing = call(client, "POST", f"/certificates/{cid}/refresh", principal=me)
    assert renewing["status"] == "issued" and renewing["revision"] == 2


def test_revoke_and_unsupported_revoke(client):
    me = who()
    _, _, t = order(client, {"provider": "tinycert", "common_name": cn()}, me)
    st, _, bad = call(client, "POST", f"/certificates/{t['id']}/revoke", {"reason": "because"}, me)
    assert st == 422 and bad["errors"][0]["field"] == "reason"
    st, _, rev = call(client, "POST", f"/certificates/{t['id']}/revoke", {"reason": "key_compromise"}, me)
    assert st == 200 and rev["status"] == "revoked"
    assert rev["revocation"]["reason"] == "key_compromise" and rev["revocation"]["revoked_at"], rev["revocation"]
    assert call(client, "GET", f"/certificates/{t['id']}", principal=me)[2]["revocation"] == rev["revocation"]
    st, _, again = call(client, "POST", f"/certificates/{t['id']}/revoke", {}, me)
    assert st == 409
    _, _, r = order(client, {"provider": "resello", "common_name": cn()}, me)
    st, _, prob = call(client, "POST", f"/certificates/{r['id']}/revoke", {}, me)
    assert st == 422 and prob["code"] == "unsupported_operation"
    assert prob["title"] == "Unsupported operation"  # its type's title, not "Validation failed"


def test_provider_rules_refuse_before_anything_is_written_or_sent(client, world):
    """An IP SAN at Resello is refused on `sans` (not blamed on the CSR at the provider, no failed
    record left), an EV wildcard on `common_name`, an OV order without the organization's name on
    `organization.name`."""
    me = who()
    before = len(world.sim_orders("resello"))
    name = cn()
    for body, fields in (
        ({"provider": "resello", "common_name": name, "sans": [{"type": "ip", "value": "192.0.2.7"}]}, ["sans"]),
        ({"provider": "digicert", "product": "ev", "common_name": f"*.{name}"}, ["common_name"]),
        ({"provider": "resello", "product": "ov", "common_name": name,
          "organization": {"country": "NL", "unit": "IT", "chamber_of_commerce": "1234"},
          "approver": {"first_name": "A", "last_name": "B"}}, ["organization.name"]),
    ):
        st, _, prob = call(client, "POST", "/certificates", body, me)
        assert st == 422 and sorted(e["field"] for e in prob["errors"]) == fields, (body, prob)
        assert prob["title"] == "Validation failed"
    assert call(client, "GET", "/certificates", principal=me)[2]["items"] == []  # no record
    assert len(world.sim_orders("resello")) == before  # nothing sent
    st, _, listing = call(client, "GET", "/providers")
    caps = {p["name"]: p["capabilities"] for p in listing["items"]}
    assert caps["resello"]["san_types"] == ["dns"] and "ip" in caps["digicert"]["san_types"]


def test_cancel_pending_and_refuse_issued(client):
    me = who()
    _, _, r = order(client, {"provider": "resello", "common_name": cn()}, me)
    st, _, body = call(client, "DELETE", f"/certificates/{r['id']}", principal=me)
    assert st == 200 and body["status"] == "cancelled"
    _, _, t = order(client, {"provider": "tinycert", "common_name": cn()}, me)
    st, _, prob = call(client, "DELETE", f"/certificates/{t['id']}", principal=me)
    assert st in (409, 422)


def test_retry_validation(client):
    me = who()
    _, _, r = order(client, {"provider": "resello", "common_name": cn()}, me)
    st, _, prob = call(client, "POST", f"/certificates/{r['id']}/validate", {"dcv_method": "email"}, me)
    assert st == 422 and prob["errors"][0]["field"] == "email"
    st, _, ok = call(client, "POST", f"/certificates/{r['id']}/validate",
                     {"dcv_method": "dns"}, me)
    assert st == 202, ok


def test_provider_down_is_a_typed_503_and_nothing_is_half_done(client, world):
    me = who()
    world.faults("tinycert", error_rate=1.0, error_status=503)
    st, h, prob = order(client, {"provider": "tinycert", "common_name": cn()}, me)
    world.clear_faults()
    assert st == 503, prob
    assert h["content-type"] == "application/problem+json" and int(h["retry-after"]) >= 1
    assert prob["provider"] == "tinycert" and prob["certificate_id"]


def test_unanswered_create_is_reconciled_not_duplicated(client, world):
    me = who()
    world.faults("resello", drop_after_commit_rate=1.0, max_faults=20, paths=["/ssl-certificate"])
    st, h, prob = order(client, {"provider": "resello", "common_name": cn()}, me)
    world.clear_faults()
    assert st in (202, 502, 503, 504), prob
    cid = prob.get("certificate_id") or prob.get("id")
    client.lambda_.invoke("reconcile", client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]))
    st, _, body = call(client, "GET", f"/certificates/{cid}", principal=me)
    assert body["status"] == "pending" and body["provider_refs"]["order_id"], body
    assert len([o for o in world.sim_orders("resello") if o.get("client_reference") == cid]) == 1


def test_tinycert_authorities_crud(client):
    st, _, listing = call(client, "GET", "/providers/tinycert/authorities")
    assert st == 200 and listing["items"]
    st, _, prob = call(client, "POST", "/providers/tinycert/authorities", {"organization": "Acme"})
    assert st == 422 and prob["errors"][0]["field"] == "country"
    st, h, ca = call(client, "POST", "/providers/tinycert/authorities", {"country": "NL", "organization": "Acme"})
    assert st == 201, ca
    st, _, got = call(client, "GET", f"/providers/tinycert/authorities/{ca['id']}")
    assert st == 200 and got["id"] == ca["id"]
    st, _, prob = call(client, "DELETE", f"/providers/tinycert/authorities/{ca['id']}")
    assert st == 403 and prob["code"] == "forbidden"  # shared by everyone: administrators only
    st, _, _ = call(client, "DELETE", f"/providers/tinycert/authorities/{ca['id']}", principal="certgate-admin")
    assert st == 204
    st, _, _ = call(client, "GET", "/providers/tinycert/authorities/abc")
    assert st == 404
    st, _, prob = call(client, "DELETE", "/providers/tinycert/authorities/1",  # the secret's default_ca_id
                       principal="certgate-admin")
    assert st == 409 and prob["code"] == "authority_in_use"


def test_a_validity_above_the_day_s_maximum_is_clamped_and_reported(client):
    """SC-081 through the routes: GET /providers shows each product's schedule, an order above
    today's maximum is clamped (and says so), and validity_strict refuses it instead."""
    import datetime as dt

    from chalicelib.core.lifetimes import DIGICERT_PUBLIC

    st, _, providers = call(client, "GET", "/providers", principal=who())
    caps = {p["name"]: p["capabilities"] for p in providers["items"]}
    today = dt.datetime.now(dt.UTC).date()
    limit = DIGICERT_PUBLIC.max_days(today)
    assert caps["digicert"]["max_validity_days"] == limit and caps["digicert"]["validity_selectable"]
    assert caps["digicert"]["validity_schedules"]["ov"][-1] == {"from": "2029-03-15", "max_validity_days": 46}
    assert caps["digicert"]["validity_schedules"]["private"] == [{"from": "0001-01-01", "max_validity_days": 397}]
    assert caps["tinycert"]["validity_selectable"] is False and caps["resello"]["validity_selectable"] is False
    status, _, body = order(client, {"provider": "digicert", "common_name": cn(), "validity_days": 397}, who())
    assert status == 202, body
    assert (body["validity_days"], body["validity_clamped"], body["validity_requested"]) == (limit, True, 397)
    status, _, body = order(client, {"provider": "digicert", "common_name": cn(), "validity_days": limit + 1,
                                     "validity_strict": True}, who())
    assert status == 422 and [e["field"] for e in body["errors"]] == ["validity_days"]
