"""Inventory import and sync through chalice.test.Client, on moto and the simulators: certificates
seeded at the simulators (more than one provider page), imported once, re-imported without change,
changed out of band and synced, and imported through 429/503 faults without duplicates."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from typing import Any

import pytest
import requests
from cryptography import x509

from tests.functional.conftest import call
from tests.functional.test_jobs import drain
from tests.functional.test_lifecycle import who as new_principal

LONG = 600_000  # ms: a time budget no test run reaches
MADE: dict[str, set[str]] = {"principals": set(), "imports": set()}


def who() -> str:
    principal = new_principal()
    MADE["principals"].add(principal)
    return principal


@pytest.fixture(scope="module", autouse=True)
def leave_the_shared_table_as_found(world):
    """The world is shared by the whole session and these tests import hundreds of certificates:
    left in the table they would be renewal candidates for every later renew_expiring run (and
    moto's TransactWriteItems copies the whole table per item, so every later transaction would
    slow down). Afterwards, everything the imports of this module wrote to DynamoDB is deleted."""
    yield
    ddb, table = world.aws("dynamodb"), world.env["CERTGATE_TABLE"]
    items = [i for page in ddb.get_paginator("scan").paginate(
        TableName=table, ProjectionExpression="pk, sk, #o, certificate_id, import_id",
        ExpressionAttributeNames={"#o": "owner"}) for i in page["Items"]]

    def text(item: dict[str, Any], name: str) -> str | None:
        return item.get(name, {}).get("S")

    certs = {text(i, "pk") for i in items if text(i, "pk").startswith("CERT#") and text(i, "sk") == "META"
             and text(i, "owner") in MADE["principals"]}
    keys = [(text(i, "pk"), text(i, "sk")) for i in items
            if text(i, "pk") in certs  # the certificates, their events
            or f"CERT#{text(i, 'certificate_id')}" in certs  # their provider references and key hints
            or text(i, "import_id") in MADE["imports"]]  # the imports and their schedule pointers
    unique = list(dict.fromkeys(keys))
    for i in range(0, len(unique), 25):
        batch = [{"DeleteRequest": {"Key": {"pk": {"S": pk}, "sk": {"S": sk}}}} for pk, sk in unique[i:i + 25]]
        assert not ddb.batch_write_item(RequestItems={table: batch}).get("UnprocessedItems")


@pytest.fixture()
def topic_queue(world):
    """An SQS queue subscribed to the events topic (as in test_jobs)."""
    sqs, sns = world.aws("sqs"), world.aws("sns")
    url = sqs.create_queue(QueueName="imp-" + uuid.uuid4().hex[:12])["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sub = sns.subscribe(TopicArn=world.env["CERTGATE_TOPIC_ARN"], Protocol="sqs", Endpoint=arn)
    yield url
    sns.unsubscribe(SubscriptionArn=sub["SubscriptionArn"])
    sqs.delete_queue(QueueUrl=url)


def svc() -> Any:
    from chalicelib.bootstrap import service

    return service()


def tune(monkeypatch, **knobs: Any) -> None:
    """Change the service's import knobs (chalicelib/service/policy.py) for this test only."""
    from dataclasses import replace

    service = svc()
    monkeypatch.setattr(service, "cfg", replace(service.cfg, **knobs))


def seed(world, provider: str, **spec: Any) -> Any:
    resp = requests.post(world.sim_url(provider) + "/_sim/seed", json=spec, timeout=120)
    assert resp.status_code in (200, 201), resp.text
    return resp.json()


def prefix() -> str:
    return f"imp{uuid.uuid4().hex[:8]}-"


def new_ca(client, me: str) -> str:
    st, _, body = call(client, "POST", "/providers/tinycert/authorities",
                       {"country": "US", "organization": f"Import {uuid.uuid4().hex[:6]}"}, me)
    assert st == 201, body
    return str(body["id"])  # the integer id as digits: filters.ca_id takes both


def start(client, me: str, body: dict[str, Any]) -> dict[str, Any]:
    st, headers, job = call(client, "POST", "/imports", body, me)
    assert st == 202, job
    MADE["imports"].add(job["id"])
    assert headers["location"] == f"/imports/{job['id']}"
    return job


def get(client, me: str, import_id: str) -> dict[str, Any]:
    st, _, job = call(client, "GET", f"/imports/{import_id}", principal=me)
    assert st == 200, job
    return job


def sync(now: dt.datetime | None = None) -> dict[str, Any]:
    from chalicelib.service.inventory import sync_inventory

    return sync_inventory(svc(), lambda: LONG, now=now)


def finish(client, me: str, import_id: str, runs: int = 10) -> dict[str, Any]:
    """Run sync_inventory until the import is done (POST works only a few seconds inline)."""
    for _ in range(runs):
        job = get(client, me, import_id)
        if job["status"] in ("completed", "failed"):
            return job
        sync()
    raise AssertionError(f"import {import_id} still {job['status']} after {runs} runs: {job}")


def my_certs(client, me: str, provider: str | None = None) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    token = None
    while True:
        path = "/certificates?limit=200" + (f"&provider={provider}" if provider else "") + \
            (f"&next_token={token}" if token else "")
        st, _, body = call(client, "GET", path, principal=me)
        assert st == 200, body
        items += body["items"]
        token = body["next_token"]
        if not token:
            return items


def later(**delta: float) -> dt.datetime:
    return dt.datetime.now(dt.UTC) + dt.timedelta(**delta)


def _ts(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


# -- import, pages, ownership, re-import --------------------------------------------------------------

def test_resello_import_reads_every_page_once_and_a_reimport_changes_nothing(client, world):
    me, other, pre = who(), who(), prefix()
    seeded = set(seed(world, "resello", count=150, common_name_prefix=pre)["ids"])  # Resello pages hold 100
    job = start(client, me, {"provider": "resello"})
    assert job["provider"] == "resello" and job["status"] in ("running", "completed")
    job = finish(client, me, job["id"])
    assert job["status"] == "completed", job
    c = job["counters"]
    assert c["errors"] == 0 and c["pages"] >= 2 and c["created"] >= 150, job
    assert c["found"] == c["created"] + c["unchanged"] + c["updated"] + c["skipped"]

    mine = {m["provider_refs"]["order_id"]: m for m in my_certs(client, me, "resello")}
    assert seeded <= set(mine) and len(mine) == c["created"]
    at_sim = {o["id"]: o for o in world.sim_orders("resello")}
    for order_id in seeded:  # facts as the certificate says them, not as the listing does
        m, o = mine[order_id], at_sim[order_id]
        assert m["origin"] == "imported" and m["status"] == "issued" and m["revision"] == 1
        assert m["revisions"][0]["reason"] == "import" and m["private_key_held"] is False
        assert int(m["serial"], 16) == int(o["serial_number"], 16)
        assert _ts(m["not_after"]) == _ts(o["valid_until"])
    for order_id in sorted(seeded)[:3]:
        m = mine[order_id]
        st, _, pem = call(client, "GET", f"/certificates/{m['id']}/download?format=pem", principal=me)
        assert st == 200
        leaf = x509.load_pem_x509_certificate(pem)
        assert format(leaf.serial_number, "x") == m["serial"]
        assert leaf.not_valid_after_utc == _ts(m["not_after"])
        assert [s["value"] for s in m["sans"]] == [at_sim[order_id]["common_name"]]

    assert [m for m in my_certs(client, other, "resello") if m["provider_refs"]["order_id"] in seeded] == []
    st, _, prob = call(client, "GET", f"/imports/{job['id']}", principal=other)
    assert st == 404 and prob["status"] == 404

    again = finish(client, me, start(client, me, {"provider": "resello"})["id"])
    assert (again["counters"]["created"], again["counters"]["updated"]) == (0, 0), again
    assert again["counters"]["unchanged"] == len(mine)
    assert len(my_certs(client, me, "resello")) == len(mine)


# -- faults while paging ----------------------------------------------------------------------------

def _fault_on_listing(monkeypatch, world, provider: str, call_no: int, *, after: bool = False,
                      **faults: Any) -> list[str | None]:
    """Arm `faults` at the simulator just before (or just after) the adapter's `call_no`-th list
    call; the page tokens asked for are recorded."""
    adapter = svc().providers(provider)
    real = adapter.list_certificates
    tokens: list[str | None] = []

    def listing(filters=None, page_token=None):
        tokens.append(page_token)
        if len(tokens) == call_no and not after:
            world.faults(provider, **faults)
        page = real(filters, page_token)
        if len(tokens) == call_no and after:
            world.faults(provider, **faults)
        return page

    monkeypatch.setattr(adapter, "list_certificates", listing)
    return tokens


def _assert_imported_once(client, world, me: str, provider: str, job: dict[str, Any], pre: str) -> None:
    """Every simulator certificate of this test is one certificate of `me`, made by this import,
    and nothing was made twice."""
    mine = [m for m in my_certs(client, me, provider) if m["origin"] == "imported"]
    order_ids = [m["provider_refs"]["order_id"] for m in mine]
    assert len(order_ids) == len(set(order_ids)) == job["counters"]["created"]
    seeded = {str(o["id"]) for o in world.sim_orders(provider) if o["common_name"].startswith(pre)}
    assert seeded <= set(order_ids)
    store = svc().store
    for m in mine:
        assert store.cert_id_for_ref(provider, m["provider_refs"]["order_id"]) == m["id"]


def test_resello_429_on_a_later_page_is_resumed_by_sync_without_duplicates(client, world, monkeypatch):
    me, pre = who(), prefix()
    listed = len(world.sim_orders("resello"))
    seed(world, "resello", count=max(20, 101 - listed), common_name_prefix=pre)  # more than one page of 100
    tune(monkeypatch, import_inline_s=0)  # all in the background
    job = start(client, me, {"provider": "resello"})
    assert job["status"] == "queued" and job["counters"]["found"] == 0
    tokens = _fault_on_listing(monkeypatch, world, "resello", 2, rate_limit_per_s=0.001, retry_after_s=120,
                               max_faults=1)
    sync()
    job = get(client, me, job["id"])
    assert job["status"] == "running" and job["counters"]["errors"] == 1, job
    assert job["last_error"]["code"] == "provider_rate_limited"
    assert (job["counters"]["pages"], job["counters"]["found"]) == (1, 100)
    assert _ts(job["next_run_at"]) > later(seconds=60)  # Retry-After honoured: not due before then
    sync()
    assert get(client, me, job["id"])["counters"] == job["counters"]
    sync(now=later(minutes=3))
    done = get(client, me, job["id"])
    assert done["status"] == "completed", done
    assert tokens[0] is None and tokens.count(tokens[1]) == 2  # page 2 asked again, page 1 never again
    assert done["counters"]["errors"] == 1 and done["counters"]["pages"] >= 2
    _assert_imported_once(client, world, me, "resello", done, pre)


def test_digicert_503s_inside_a_page_are_resumed_without_duplicates(client, world, monkeypatch):
    me, pre = who(), prefix()
    seed(world, "digicert", count=25, common_name_prefix=pre.rstrip("-"))
    tune(monkeypatch, import_inline_s=0, import_concurrency=1)  # which item the faults hit is then certain
    job = start(client, me, {"provider": "digicert", "page_size": 10})
    # once the second page is listed, three 503s in a row: its first item fails all its attempts
    _fault_on_listing(monkeypatch, world, "digicert", 2, after=True, error_rate=1.0, error_status=503, max_faults=3)
    sync()
    job = get(client, me, job["id"])
    assert job["status"] == "running" and job["last_error"]["code"] == "provider_unavailable", job
    # Where the three 503s land depends on what else the (session-wide) simulator holds: an item of
    # page 2, or the listing after it if page 2 held only orders certgate placed itself (skipped).
    assert job["counters"]["errors"] == 1 and job["counters"]["pages"] >= 1, job
    stopped_at = job["counters"]["found"]
    sync(now=later(minutes=2))
    done = finish(client, me, job["id"])
    assert done["status"] == "completed" and done["counters"]["errors"] == 1, done
    assert done["counters"]["found"] > stopped_at
    assert done["counters"]["pages"] == -(-done["counters"]["found"] // 10)  # DigiCert pages by its total: no empty page
    _assert_imported_once(client, world, me, "digicert", done, pre.rstrip("-"))
    mine = {m["common_name"]: m for m in my_certs(client, me, "digicert")}
    assert all(mine[o["common_name"]]["status"] == "issued" for o in world.sim_orders("digicert")
               if o["common_name"].startswith(pre.rstrip("-")))


# -- the recurring sync ----------------------------------------------------------------------------------

def test_sync_picks_up_an_out_of_band_revoke_and_reissue(client, world, topic_queue, monkeypatch):
    from chalicelib.core.model import San
    from chalicelib.core.provider import OrderRequest

    tune(monkeypatch, sync_interval_s_by_provider={"tinycert": 300})  # so that only this import is due below
    me = who()
    ca = new_ca(client, me)
    ids = [str(i) for i in seed(world, "tinycert", count=4, ca_id=int(ca), common_name_prefix=prefix())["created"]]
    job = finish(client, me, start(client, me, {"provider": "tinycert", "filters": {"ca_id": ca}, "page_size": 3})["id"])
    assert (job["counters"]["created"], job["counters"]["pages"]) == (4, 2), job
    before = {m["provider_refs"]["order_id"]: m for m in my_certs(client, me)}
    assert set(before) == set(ids)
    at_sim = {str(o["id"]): o for o in world.sim_orders("tinycert") if str(o["ca_id"]) == ca}
    for order_id, m in before.items():
        assert m["private_key_held"] is True and m["key_source"] == "provider"  # TinyCert hands out its keys
        assert _ts(m["not_after"]) == _ts(at_sim[order_id]["not_after"])
    revoked, reissued = before[ids[0]], before[ids[1]]

    tinycert = svc().providers("tinycert")  # at the provider's own console, as it were
    tinycert.revoke(ids[0])
    name = reissued["common_name"]
    new = tinycert.reissue(ids[1], OrderRequest(client_reference="console", common_name=name,
                                                sans=(San("dns", name),), options={"ca_id": ca}))
    assert new.provider_order_id not in ids

    sync()  # not due yet: nothing happens before the sync interval
    assert {m["id"]: m["status"] for m in my_certs(client, me)}[revoked["id"]] == "issued"
    sync(now=later(minutes=10))
    after = {m["id"]: m for m in my_certs(client, me)}
    assert len(after) == 4  # the reissue is a new revision of the same certificate, not a new one
    assert after[revoked["id"]]["status"] == "revoked"
    r = after[reissued["id"]]
    assert r["status"] == "issued" and r["revision"] == 2 and r["provider_refs"]["order_id"] == new.provider_order_id
    assert r["serial"] == new.serial and r["serial"] != reissued["serial"]
    events = Counter((e["certificate"]["id"], e["event"]) for e in drain(world, topic_queue)
                     if e["certificate"]["id"] in after)
    assert events == Counter({(revoked["id"], "certificate.revoked"): 1, (reissued["id"], "certificate.issued"): 1})
    job = get(client, me, job["id"])
    assert job["runs"] == 2 and job["status"] == "completed"
    assert (job["counters"]["updated"], job["counters"]["created"]) == (2, 0)  # the revoke and the linked reissue
    sync(now=later(minutes=10))  # synced for this interval already: nothing is announced twice
    assert [e for e in drain(world, topic_queue) if e["certificate"]["id"] in after] == []
    assert get(client, me, job["id"])["runs"] == 2


def test_sync_interval_is_per_provider_and_a_newer_import_takes_over_the_schedule(client, world, monkeypatch):
    tune(monkeypatch, sync_interval_s_by_provider={"tinycert": 3600})
    me = who()
    ca = new_ca(client, me)
    seed(world, "tinycert", count=2, ca_id=int(ca), common_name_prefix=prefix())
    first = finish(client, me, start(client, me, {"provider": "tinycert", "filters": {"ca_id": ca}})["id"])
    assert (_ts(first["next_run_at"]) - _ts(first["finished_at"])).total_seconds() == pytest.approx(3600, abs=2)
    sync(now=later(minutes=30))
    assert get(client, me, first["id"])["runs"] == 1
    sync(now=later(hours=2))
    rerun = get(client, me, first["id"])
    assert rerun["runs"] == 2 and rerun["counters"]["unchanged"] == 2 and rerun["counters"]["created"] == 0

    second = finish(client, me, start(client, me, {"provider": "tinycert", "filters": {"ca_id": ca}})["id"])
    sync(now=later(hours=4))
    assert get(client, me, first["id"])["superseded_by"] == second["id"]
    assert get(client, me, first["id"])["next_run_at"] is None
    assert get(client, me, second["id"])["runs"] == 2


def test_imports_are_listed_for_their_owner_and_a_sync_now_picks_up_a_console_certificate(client, world):
    """GET /imports: the caller's own (an administrator: everyone's), paged; POST /imports/sync
    re-runs the caller's syncs of that provider now instead of an interval later."""
    me, other = who(), who()
    ca = new_ca(client, me)
    seed(world, "tinycert", count=2, ca_id=int(ca), common_name_prefix=prefix())
    mine = finish(client, me, start(client, me, {"provider": "tinycert", "filters": {"ca_id": ca}})["id"])
    theirs = start(client, other, {"provider": "resello", "filters": {"plan": "none-such"}})
    st, _, page = call(client, "GET", "/imports", principal=me)
    assert st == 200 and [j["id"] for j in page["items"]] == [mine["id"]] and page["next_token"] is None, page
    st, _, page = call(client, "GET", "/imports?provider=resello", principal=me)
    assert st == 200 and page["items"] == []
    st, _, page = call(client, "GET", "/imports?limit=200", principal="certgate-admin")
    assert {mine["id"], theirs["id"]} <= {j["id"] for j in page["items"]}
    assert call(client, "GET", f"/imports/{mine['id']}", principal="certgate-admin")[0] == 200
    assert call(client, "GET", f"/imports/{mine['id']}", principal=other)[0] == 404

    seed(world, "tinycert", count=1, ca_id=int(ca), common_name_prefix=prefix())  # made at the console
    st, _, synced = call(client, "POST", "/imports/sync", {"provider": "tinycert"}, me)
    assert st == 202 and [j["id"] for j in synced["items"]] == [mine["id"]], synced
    (job,) = synced["items"]
    assert job["status"] == "completed" and job["runs"] == 2, job
    assert (job["counters"]["created"], job["counters"]["unchanged"]) == (1, 2)
    assert len(my_certs(client, me)) == 3
    assert get(client, other, theirs["id"])["runs"] <= 1  # another owner's sync is theirs

    st, _, prob = call(client, "GET", "/imports?status=done&provider=acme&limit=0", principal=me)
    assert st == 422 and sorted(e["field"] for e in prob["errors"]) == ["provider", "status"], prob
    for body, fields in (({}, ["provider"]), ({"provider": "acme"}, ["provider"]),
                         ({"provider": "tinycert", "x": 1}, ["x"])):
        st, _, prob = call(client, "POST", "/imports/sync", body, me)
        assert st == 422 and sorted(e["field"] for e in prob["errors"]) == fields, (body, prob)


def test_imported_certificates_join_the_expiry_index(client, world, topic_queue):
    from chalicelib.service import jobs

    me = who()
    ca = new_ca(client, me)
    seed(world, "tinycert", count=3, ca_id=int(ca), days_valid=3, common_name_prefix=prefix())
    finish(client, me, start(client, me, {"provider": "tinycert", "filters": {"ca_id": ca}})["id"])
    mine = {m["id"] for m in my_certs(client, me)}
    assert len(mine) == 3
    # 3-day certificates: 1/3 of the lifetime is left 2 days in
    jobs.renew_expiring(svc(), lambda: LONG, now=dt.datetime.now(dt.UTC) + dt.timedelta(days=2.2))
    got = [(e["certificate"]["id"], e["event"], e["detail"]["remaining_fraction"])
           for e in drain(world, topic_queue) if e["certificate"]["id"] in mine]
    assert sorted(got) == sorted((cid, "certificate.expiring", "1/3") for cid in mine)


# -- input --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("body, fields", [
    ({"provider": "acme"}, ["provider"]),
    ({}, ["provider"]),
    ([{"provider": "tinycert"}], ["body"]),
    ({"provider": "tinycert", "filters": {"ca_id": "x1", "state": 16, "plan": "p"}},
     ["filters.ca_id", "filters.plan", "filters.state"]),
    ({"provider": "digicert", "filters": {"status": "lost", "common_name": "a b"}, "extra": 1},
     ["extra", "filters.common_name", "filters.status"]),
    ({"provider": "resello", "page_size": 50, "filters": {"plan": ""}}, ["filters.plan", "page_size"]),
    ({"provider": "digicert", "page_size": 1001}, ["page_size"]),
    ({"provider": "tinycert", "filters": ["ca_id"]}, ["filters"]),
])
def test_bad_import_requests_are_422_naming_each_field(client, body, fields):
    st, _, prob = call(client, "POST", "/imports", body, who())
    assert st == 422, prob
    assert sorted(e["field"] for e in prob["errors"]) == fields


def test_unknown_ca_is_422_and_unknown_imports_are_404(client):
    me = who()
    st, _, prob = call(client, "POST", "/imports", {"provider": "tinycert", "filters": {"ca_id": "987654"}}, me)
    assert st == 422 and [e["field"] for e in prob["errors"]] == ["filters.ca_id"], prob
    for path in (f"/imports/imp_{uuid.uuid4().hex}", "/imports/not-an-import"):
        st, _, prob = call(client, "GET", path, principal=me)
        assert st == 404 and prob["code"] == "not_found"
