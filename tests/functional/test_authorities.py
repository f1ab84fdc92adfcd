"""TinyCert CAs are shared by everyone who orders from TinyCert, and deleting one deletes its
certificates: administrators only, and not while it has live certificates unless forced."""

from __future__ import annotations

import uuid

from tests.functional.conftest import call

ADMIN = "certgate-admin"  # CERTGATE_ADMIN_PRINCIPALS of the test stage


def test_deleting_a_ca_with_live_certificates_is_refused_then_forced_by_an_admin(client, world):
    st, _, ca = call(client, "POST", "/providers/tinycert/authorities", {"country": "NL", "organization": "Team"})
    assert st == 201, ca
    alice, bob = (f"arn:aws:iam::123456789012:user/{n}-{uuid.uuid4().hex[:6]}" for n in ("alice", "bob"))
    ids = []
    for who in (alice, bob):
        st, _, cert = call(client, "POST", "/certificates", {
            "provider": "tinycert", "common_name": f"a{uuid.uuid4().hex[:8]}.example.com",
            "provider_options": {"ca_id": int(ca["id"])}}, principal=who)
        assert st == 201 and cert["status"] == "issued", cert
        ids.append((who, cert["id"]))
    path = f"/providers/tinycert/authorities/{ca['id']}"
    st, _, prob = call(client, "DELETE", path, principal=alice)
    assert st == 403 and prob["code"] == "forbidden"  # alice may not destroy bob's certificate
    st, _, prob = call(client, "DELETE", path, principal=ADMIN)
    assert st == 409 and prob["code"] == "authority_has_certificates"
    assert all(cid in prob["detail"] for _, cid in ids)
    st, _, prob = call(client, "DELETE", path + "?force=maybe", principal=ADMIN)
    assert st == 422 and prob["errors"][0]["field"] == "force"
    st, _, _ = call(client, "DELETE", path + "?force=true", principal=ADMIN)
    assert st == 204
    for who, cid in ids:
        st, _, cert = call(client, "GET", f"/certificates/{cid}", principal=who)
        assert cert["status"] == "revoked" and cert["failure"]["code"] == "authority_deleted", cert
    st, _, _ = call(client, "GET", path, principal=ADMIN)
    assert st == 404


def test_an_order_naming_a_ca_that_does_not_exist_is_refused_before_anything_is_written_or_sent(client, world):
    who = f"arn:aws:iam::123456789012:user/ca-{uuid.uuid4().hex[:6]}"
    before = len(world.sim_orders("tinycert"))
    for attempt in range(2):  # a miss reads the CA list again (a CA created a moment ago is found)
        st, _, prob = call(client, "POST", "/certificates", {
            "provider": "tinycert", "common_name": f"n{uuid.uuid4().hex[:8]}.example.com",
            "provider_options": {"ca_id": 99999999}}, principal=who)
        assert st == 422 and [e["field"] for e in prob["errors"]] == ["provider_options.ca_id"], (attempt, prob)
    assert call(client, "GET", "/certificates", principal=who)[2]["items"] == []  # no record
    assert len(world.sim_orders("tinycert")) == before  # no create sent


def test_a_ca_deleted_outside_certgate_marks_its_certificates_revoked_on_the_next_sync(client, world):
    """TinyCert's /ca/delete, called at TinyCert itself, deletes every certificate of that CA:
    the next sync_inventory run marks certgate's revoked (authority_deleted), once; the other
    CAs' certificates are untouched."""
    from chalicelib.bootstrap import service
    from tests.functional.test_jobs import run_job

    svc = service()
    who = f"arn:aws:iam::123456789012:user/carol-{uuid.uuid4().hex[:6]}"
    made = []
    for _ in range(2):
        st, _, ca = call(client, "POST", "/providers/tinycert/authorities", {"country": "NL", "organization": "Oob"})
        assert st == 201, ca
        st, _, cert = call(client, "POST", "/certificates", {
            "provider": "tinycert", "common_name": f"o{uuid.uuid4().hex[:8]}.example.com",
            "provider_options": {"ca_id": int(ca["id"])}}, principal=who)
        assert st == 201 and cert["status"] == "issued", cert
        made.append((str(ca["id"]), cert["id"]))
    (gone_ca, gone_cert), (kept_ca, kept_cert) = made
    svc.providers("tinycert").delete_authority(gone_ca)  # out of band: not through certgate's route
    # The walk runs once per sync interval: a previous test's walk must not hide this one.
    state = svc.store.sweep_state("authority_check")
    if state.version:
        import dataclasses

        svc.store.save_sweep(dataclasses.replace(state, position=None, cycles=0, cycle_started_at=None,
                                                 lease_owner=None, lease_until=None).next_version())
    out = run_job(client, "sync_inventory")
    assert out["authorities"]["authority_deleted"] >= 1, out
    st, _, cert = call(client, "GET", f"/certificates/{gone_cert}", principal=who)
    assert cert["status"] == "revoked" and cert["failure"]["code"] == "authority_deleted", cert
    assert gone_ca in cert["failure"]["reason"]
    st, _, kept = call(client, "GET", f"/certificates/{kept_cert}", principal=who)
    assert kept["status"] == "issued"
    _, _, events = call(client, "GET", f"/certificates/{gone_cert}/events?limit=50", principal=who)
    assert [e["event"] for e in events["items"]].count("certificate.revoked") == 1
    again = run_job(client, "sync_inventory")
    assert again["authorities"] == {"not_due": 1}  # once per sync interval, not every 5 minutes


def test_the_ca_id_the_listing_gives_out_is_the_one_an_order_and_an_import_take(client, world):
    """One type everywhere: GET /providers/tinycert/authorities lists integer ids, and exactly
    that value is what provider_options.ca_id and filters.ca_id accept (the digit strings earlier
    listings gave out are still accepted, and answered as integers)."""
    who = f"arn:aws:iam::123456789012:user/ids-{uuid.uuid4().hex[:6]}"
    st, _, created = call(client, "POST", "/providers/tinycert/authorities", {"country": "NL", "organization": "Ids"})
    assert st == 201 and isinstance(created["id"], int), created
    st, _, listing = call(client, "GET", "/providers/tinycert/authorities", principal=who)
    listed = next(a for a in listing["items"] if a["id"] == created["id"])
    assert isinstance(listed["id"], int)
    for given in (listed["id"], str(listed["id"])):
        st, _, cert = call(client, "POST", "/certificates", {
            "provider": "tinycert", "common_name": f"i{uuid.uuid4().hex[:8]}.example.com",
            "provider_options": {"ca_id": given}}, principal=who)
        assert st == 201 and cert["status"] == "issued", (given, cert)
        st, _, job = call(client, "POST", "/imports", {"provider": "tinycert", "filters": {"ca_id": given}}, who)
        assert st == 202 and job["filters"] == {"ca_id": listed["id"]}, (given, job)
    st, _, prob = call(client, "POST", "/certificates", {
        "provider": "tinycert", "common_name": "x.example.com", "provider_options": {"ca_id": "x7"}}, principal=who)
    assert st == 422 and [e["field"] for e in prob["errors"]] == ["provider_options.ca_id"], prob


def test_a_cas_certificate_downloads_as_pem(client):
    from cryptography import x509

    st, _, ca = call(client, "POST", "/providers/tinycert/authorities", {"country": "NL", "organization": "Trust"})
    assert st == 201, ca
    st, headers, body = call(client, "GET", f"/providers/tinycert/authorities/{ca['id']}/pem", principal="pem-user")
    assert st == 200 and headers["content-type"] == "application/x-pem-file", body
    assert headers["content-disposition"] == f'attachment; filename="tinycert-ca-{ca["id"]}.pem"'
    text = body.decode() if isinstance(body, bytes) else body
    cert = x509.load_pem_x509_certificate(text.encode())
    assert x509.load_pem_x509_certificate(ca["certificate_pem"].encode()) == cert
    for missing in ("99999999", "abc"):
        st, _, prob = call(client, "GET", f"/providers/tinycert/authorities/{missing}/pem", principal="pem-user")
        assert st == 404 and prob["code"] == "not_found", prob
