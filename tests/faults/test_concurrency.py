"""Races: two pollers and a user refresh on the same certificates; a reissue racing a revoke.
Conditional writes on `version` must give 0 double transitions and 0 lost updates."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections import Counter
from typing import Any

from chalicelib.core.model import Status
from tests.functional.conftest import call
from tests.functional.test_lifecycle import cn, order, who


def _svc() -> Any:
    from chalicelib.bootstrap import service

    return service()


def _events(client: Any, cid: str, principal: str) -> list[dict[str, Any]]:
    return call(client, "GET", f"/certificates/{cid}/events?limit=500", principal=principal)[2]["items"]


def test_two_pollers_and_a_user_refresh_apply_each_transition_once(client, world):
    from chalicelib.service import jobs

    me = who()
    ids = [order(client, {"provider": "resello", "common_name": cn()}, me)[2]["id"] for _ in range(8)]
    world.advance("resello")
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
    barrier = threading.Barrier(3)
    errors: list[BaseException] = []

    def poller() -> None:
        try:
            barrier.wait()
            jobs.poll_pending(_svc(), remaining=lambda: 60_000, now=later)
        except BaseException as exc:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(exc)

    def user() -> None:
        try:
            barrier.wait()
            for cid in ids:
                call(client, "POST", f"/certificates/{cid}/refresh", principal=me)
        except BaseException as exc:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=poller), threading.Thread(target=poller), threading.Thread(target=user)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    for cid in ids:
        body = call(client, "GET", f"/certificates/{cid}", principal=me)[2]
        if body["status"] != "issued":  # a racer lost and backed off: one more refresh finishes it
            body = call(client, "POST", f"/certificates/{cid}/refresh", principal=me)[2]
        assert body["status"] == "issued"
        kinds = Counter(e["event"] for e in _events(client, cid, me))
        assert kinds["certificate.issued"] == 1, (cid, kinds)
        cert = _svc().store.get(cid)
        assert cert.revision == 1 and len([r for r in cert.revisions if r.issued_at]) == 1


def test_reissue_racing_revoke_ends_in_one_consistent_state(client, world):
    """Raced at the service (one Lambda per request; chalice's test client is not thread-safe)."""
    from chalicelib.core.errors import ConcurrentModification, Conflict, ProviderFailure

    me = who()
    svc = _svc()
    outcomes: Counter[str] = Counter()
    for _ in range(6):
        cid = order(client, {"provider": "tinycert", "common_name": cn()}, me)[2]["id"]
        barrier = threading.Barrier(2)
        results: dict[str, str] = {}

        def act(name: str, cid: str = cid, barrier: threading.Barrier = barrier,
                results: dict[str, str] = results) -> None:
            cert = svc.store.get(cid)
            barrier.wait()
            try:
                if name == "reissue":
                    svc.reissue(me, cert, {})
                else:
                    svc.revoke(me, cert, {"reason": "superseded"})
                results[name] = "ok"
            except (ConcurrentModification, Conflict) as exc:
                results[name] = type(exc).__name__
            except ProviderFailure as exc:
                results[name] = exc.error.code

        threads = [threading.Thread(target=act, args=(n,)) for n in ("reissue", "revoke")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        final = svc.store.get(cid)
        kinds = Counter(e["event"] for e in _events(client, cid, me))
        assert list(results.values()).count("ok") >= 1, results
        if results["revoke"] == "ok":
            assert final.status is Status.REVOKED and kinds["certificate.revoked"] == 1, (results, kinds)
            assert kinds["certificate.issued"] == 1  # the reissue never landed on top
        else:
            assert final.status is Status.ISSUED and final.revision == 2, (results, final.status)
            assert kinds["certificate.revoked"] == 0 and kinds["certificate.issued"] == 2
        outcomes[f"reissue={results['reissue']} revoke={results['revoke']}"] += 1
    print(dict(outcomes))


def test_conditional_write_refuses_a_stale_version(world, client):
    from chalicelib.core.errors import ConcurrentModification

    me = who()
    cid = order(client, {"provider": "tinycert", "common_name": cn()}, me)[2]["id"]
    store = _svc().store
    a = store.get(cid)
    b = store.get(cid)
    now = dt.datetime.now(dt.UTC)
    store.save(a.updated(now, auto_renew=True))
    try:
        store.save(b.updated(now, client_reference="lost-update-" + uuid.uuid4().hex[:6]))
    except ConcurrentModification:
        pass
    else:
        raise AssertionError("a write based on a stale version must be refused")
    assert store.get(cid).auto_renew is True


def test_one_idempotency_key_sent_ten_times_at_once_gives_one_certificate_and_ten_answers_with_it(client, world):
    """The same Idempotency-Key from 10 threads at once (a client library retrying aggressively):
    one order at the provider, and every answer carries that certificate's id — none a 409."""
    me, name = who(), cn()
    body = {"provider": "resello", "common_name": name}
    key = f"k-{uuid.uuid4().hex}"
    world.faults("resello", latency_ms=400, paths=["/ssl-certificate"])  # the first create is still running
    barrier = threading.Barrier(10)
    answers: list[tuple[int, dict[str, str], Any]] = []
    errors: list[BaseException] = []

    def send() -> None:
        try:
            barrier.wait()
            answers.append(call(client, "POST", "/certificates", body, me, {"Idempotency-Key": key}))
        except BaseException as exc:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=send) for _ in range(10)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        world.clear_faults()
    assert not errors, errors
    statuses = Counter(st for st, _, _ in answers)
    assert set(statuses) <= {201, 202}, statuses
    ids = {b["id"] for _, _, b in answers}
    assert len(ids) == 1, ids
    assert sum(1 for _, h, _ in answers if h.get("idempotent-replayed") == "true") == 9
    orders = [o for o in world.sim_orders("resello") if o.get("common_name") == name]
    assert len(orders) == 1, orders
