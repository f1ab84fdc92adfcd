"""Never adopt another caller's order (issue 18), against the TinyCert simulator over HTTP.

TinyCert knows no client reference. Two principals order the same common name at once and both
create answers are lost after TinyCert committed them (the simulator's drop_after_commit fault);
both lookups run after both creates committed (a barrier: the interleaving that made B adopt A's
order and A's private key). Promises: one TinyCert order per certgate certificate, each record
holds its own order and its own key, and an ambiguous lookup (the create committed twice) ends
`failed` with reason `outcome_unknown` — never an adoption."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from typing import Any

import pytest
import requests

from chalicelib.core.model import Status
from tests.functional.conftest import call

CREATE = "/api/v1/cert/new"


def _svc() -> Any:
    from chalicelib.bootstrap import service

    return service()


@pytest.fixture()
def lookups_meet(monkeypatch: pytest.MonkeyPatch):
    """Every TinyCert lookup after a lost answer waits until `parties` lookups are ready (so all
    the creates have committed), and runs `before` once first."""
    from chalicelib.providers.tinycert import TinyCertProvider

    real = TinyCertProvider._lookup
    state: dict[str, Any] = {"barrier": None, "before": None}
    once = threading.Lock()

    def meeting(self: TinyCertProvider, req: Any, since: Any) -> Any:
        barrier = state["barrier"]
        if barrier is not None:
            try:
                barrier.wait(timeout=20)
            except threading.BrokenBarrierError:
                pass
        with once:
            before, state["before"] = state["before"], None
        if before is not None:
            before()
        return real(self, req, since)

    monkeypatch.setattr(TinyCertProvider, "_lookup", meeting)

    def arm(parties: int, before: Any = None) -> None:
        state["barrier"] = threading.Barrier(parties) if parties > 1 else None
        state["before"] = before

    return arm


def _order_at_once(principals: list[str], cn: str) -> dict[str, Any]:
    """Each principal orders `cn` in its own thread (one Lambda per request); what each got."""
    from chalicelib.core.errors import ProviderFailure

    results: dict[str, Any] = {}
    start = threading.Barrier(len(principals))

    def one(principal: str) -> None:
        start.wait()
        try:
            results[principal] = _svc().order(principal, {"provider": "tinycert", "common_name": cn}, None).certificate
        except ProviderFailure as failure:
            results[principal] = failure.cert
        except Exception as exc:  # noqa: BLE001 - the assertion names it
            results[principal] = exc

    threads = [threading.Thread(target=one, args=(p,)) for p in principals]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def _tinycert_orders(world: Any, cn: str) -> list[dict[str, Any]]:
    return [o for o in world.sim_orders("tinycert") if o.get("common_name") == cn]


def _order_through_a_hung_create(client: Any, world: Any, body: dict[str, Any], principal: str) -> dict[str, Any]:
    """POST /certificates while TinyCert's create hangs past our timeout (it commits late): the
    answer is a 5xx naming the pending record; returns once the late order exists at TinyCert."""
    import time

    world.faults("tinycert", hang_s=2.6, max_faults=1, paths=[CREATE])
    try:
        st, _, answer = call(client, "POST", "/certificates", body, principal)
    finally:
        world.clear_faults()
    assert st >= 500 and answer["certificate_status"] == "pending", answer
    deadline = time.monotonic() + 10
    while not _tinycert_orders(world, body["common_name"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    return answer


def _key_matches_certificate(cert: Any) -> bool:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    svc = _svc()
    key_pem = svc.vault.open(cert.sealed_key, {"certificate_id": cert.id})
    leaf_pem, _ = svc.artifacts.read_revision(cert, cert.revision)
    key = serialization.load_pem_private_key(key_pem.encode(), None)
    leaf = x509.load_pem_x509_certificate(leaf_pem.encode())
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    return key.public_key().public_bytes(serialization.Encoding.DER, spki) == \
        leaf.public_key().public_bytes(serialization.Encoding.DER, spki)


@pytest.mark.parametrize("round_", range(2))
def test_same_cn_two_principals_lost_answers_each_keeps_its_own_order(client, world, lookups_meet,
                                                                       round_: int) -> None:
    cn = f"same{uuid.uuid4().hex[:10]}.example.com"
    alice, bob = f"adopt-a-{uuid.uuid4().hex[:6]}", f"adopt-b-{uuid.uuid4().hex[:6]}"
    lookups_meet(2)
    world.faults("tinycert", drop_after_commit_rate=1.0, max_faults=2, paths=[CREATE])
    try:
        got = _order_at_once([alice, bob], cn)
    finally:
        world.clear_faults()
    assert all(not isinstance(v, Exception) for v in got.values()), got
    orders = _tinycert_orders(world, cn)
    records = {p: _svc().store.get(c.id) for p, c in got.items()}
    assert len(orders) == 2, orders  # one TinyCert order per certgate certificate
    held = Counter(r.provider_order_id for r in records.values())
    assert all(r.status is Status.ISSUED for r in records.values()), records
    assert len(held) == 2 and set(held) == {str(o["id"]) for o in orders}  # none shared, none foreign
    tinycert = _svc().providers("tinycert")
    for principal, record in records.items():
        assert record.owner == principal
        # Its order carries its own mark, and the key it holds is that certificate's key.
        order = tinycert.get_order(record.provider_order_id, with_material=False)
        assert order.owner_mark == tinycert.mark_for(_svc().order_request(record))
        assert _key_matches_certificate(record)
        other = bob if principal == alice else alice
        assert call(client, "GET", f"/certificates/{record.id}", principal=other)[0] == 404


def test_a_create_committed_twice_with_its_answer_lost_ends_outcome_unknown(client, world, lookups_meet) -> None:
    """A middlebox replayed the create (both copies carry this certificate's mark) and the answer
    was lost: which order is ours cannot be proven — none is adopted, the record says so."""
    cn = f"twice{uuid.uuid4().hex[:10]}.example.com"
    carol = f"adopt-c-{uuid.uuid4().hex[:6]}"

    def replay_the_create() -> None:
        journal = requests.get(world.sim_url("tinycert") + "/_sim/journal", timeout=5).json()
        sent = [e for e in journal if e["path"] == CREATE and cn in e["body"]][-1]
        requests.post(world.sim_url("tinycert") + CREATE, data=sent["body"].encode(), timeout=5,
                      headers={"Content-Type": "application/x-www-form-urlencoded"}).raise_for_status()

    lookups_meet(1, before=replay_the_create)
    world.faults("tinycert", drop_after_commit_rate=1.0, max_faults=1, paths=[CREATE])
    try:
        got = _order_at_once([carol], cn)
    finally:
        world.clear_faults()
    record = _svc().store.get(got[carol].id)
    assert len(_tinycert_orders(world, cn)) == 2
    assert record.status is Status.FAILED and record.failure is not None, record
    assert record.failure.code == "outcome_unknown"
    assert record.provider_order_id is None and record.sealed_key is None  # nothing adopted
    _, _, body = call(client, "GET", f"/certificates/{record.id}", principal=carol)
    assert body["status"] == "failed"
    # reconcile leaves it alone: nothing is placed again
    from chalicelib.service import jobs

    jobs.reconcile(_svc(), remaining=lambda: 60_000)
    assert len(_tinycert_orders(world, cn)) == 2


def test_an_import_never_takes_another_principals_order_whose_create_is_in_flight(client, world) -> None:
    """Alice's create hangs past the timeout (intent recorded, answer pending) and TinyCert commits
    it late; Bob imports that CA meanwhile: Alice's certificate (and key) is not Bob's. Reconcile
    then gives it to Alice."""

    alice, bob = f"adopt-a-{uuid.uuid4().hex[:6]}", f"adopt-b-{uuid.uuid4().hex[:6]}"
    st, _, ca = call(client, "POST", "/providers/tinycert/authorities",
                     {"country": "US", "organization": f"Adopt {uuid.uuid4().hex[:6]}"}, alice)
    assert st == 201, ca
    cn = f"flight{uuid.uuid4().hex[:10]}.example.com"
    answer = _order_through_a_hung_create(
        client, world, {"provider": "tinycert", "common_name": cn, "provider_options": {"ca_id": int(ca["id"])}}, alice)
    assert len(_tinycert_orders(world, cn)) == 1  # committed late, the record still submitting
    st, _, job = call(client, "POST", "/imports", {"provider": "tinycert", "filters": {"ca_id": ca["id"]}}, bob)
    assert st == 202 and job["status"] == "completed", job
    assert job["counters"]["created"] == 0 and sum(job["skipped"].values()) == 1, job
    _, _, bobs = call(client, "GET", "/certificates?limit=50", principal=bob)
    assert bobs["items"] == []
    from chalicelib.service import jobs

    jobs.reconcile(_svc(), remaining=lambda: 60_000)
    record = _svc().store.get(answer["certificate_id"])
    assert record.status is Status.ISSUED and record.owner == alice
    assert record.provider_order_id == str(_tinycert_orders(world, cn)[0]["id"]) and _key_matches_certificate(record)


def test_a_timed_out_create_committed_before_the_clients_retry_is_found_by_its_own_record(client, world) -> None:
    """The cause of the flaky `test_fault_mode[tinycert-hang past timeout-no-key]`: the create hangs
    past the timeout, the client retries without a key (a second record, same name), and when the
    retry is slower than the hang (a loaded machine) the first record's order is the older of two
    with that name. A lookup by name took the newest — the retry's, held by the other record — so
    the intent waited and placed a third order, leaving its own as an orphan. Here the retry is
    made to come after the late commit, every time."""

    from chalicelib.service import jobs

    me, cn = f"adopt-r-{uuid.uuid4().hex[:6]}", f"retry{uuid.uuid4().hex[:10]}.example.com"
    first = _order_through_a_hung_create(client, world, {"provider": "tinycert", "common_name": cn}, me)
    st, _, retry = call(client, "POST", "/certificates", {"provider": "tinycert", "common_name": cn}, me)
    assert st == 201, retry
    jobs.reconcile(_svc(), remaining=lambda: 60_000)
    orders = sorted(_tinycert_orders(world, cn), key=lambda o: o["id"])
    record = _svc().store.get(first["certificate_id"])
    assert len(orders) == 2
    assert record.status is Status.ISSUED and record.provider_order_id == str(orders[0]["id"])
    assert retry["provider_refs"]["order_id"] == str(orders[1]["id"])
