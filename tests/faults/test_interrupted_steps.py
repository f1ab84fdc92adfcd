"""Every interrupted step recovers (issue 18, High): reissue, renew, revoke and cancel, for every
provider that offers them, through the simulators. The provider commits the change, then the
process dies before our write (the store write after the provider call raises); one `reconcile`
run must end the record at the provider's truth, with no operation left, and the provider must
have been asked to change something exactly once."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tests.functional.conftest import call
from tests.functional.test_lifecycle import cn, csr_for, order, who

CASES = [("tinycert", "reissue"), ("tinycert", "renew"), ("tinycert", "revoke"),
         ("resello", "reissue"), ("resello", "renew"), ("resello", "cancel"),
         ("digicert", "reissue"), ("digicert", "renew"), ("digicert", "revoke"), ("digicert", "cancel")]
TRUTH = {"reissue": "issued", "renew": "issued", "revoke": "revoked", "cancel": "cancelled"}


class Died(BaseException):
    """The process ended between the provider's answer and our write."""


def _svc() -> Any:
    from chalicelib.bootstrap import service

    return service()


def _body(provider: str, name: str) -> dict[str, Any]:
    body: dict[str, Any] = {"provider": provider, "common_name": name}
    if provider == "digicert":
        body["csr"] = csr_for(name)
    return body


def _issued(client: Any, world: Any, provider: str, name: str, me: str) -> dict[str, Any]:
    status, _, body = order(client, _body(provider, name), me)
    assert status in (201, 202), body
    if body["status"] != "issued":
        world.advance(provider)
        body = call(client, "POST", f"/certificates/{body['id']}/refresh", principal=me)[2]
    assert body["status"] == "issued", body
    return body


@pytest.mark.parametrize(("provider", "op"), CASES)
def test_one_reconcile_run_finishes_a_step_interrupted_after_the_provider_committed(
        client, world, monkeypatch, provider, op):
    from chalicelib.service import jobs

    me, name = who(), cn()
    if op == "cancel":
        status, _, body = order(client, _body(provider, name), me)
        assert status in (201, 202) and body["status"] == "pending", body
    else:
        body = _issued(client, world, provider, name, me)
    cid = body["id"]
    svc = _svc()
    cert = svc.store.get(cid)
    adapter_class = type(svc.providers(provider))
    sent: list[str] = []
    real_op = getattr(adapter_class, op)

    def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(op)
        return real_op(self, *args, **kwargs)

    monkeypatch.setattr(adapter_class, op, counted)
    real_save = svc.store.save
    writes = {"n": 0}

    def dies_after_the_claim(*args: Any, **kwargs: Any) -> None:
        writes["n"] += 1
        if writes["n"] > 1:  # the claim (or pending revision) lands; what the provider answered does not
            monkeypatch.setattr(svc.store, "save", real_save)
            raise Died()
        real_save(*args, **kwargs)

    monkeypatch.setattr(svc.store, "save", dies_after_the_claim)
    with pytest.raises(Died):
        if op == "revoke":
            svc.revoke(me, cert, {"reason": "superseded"})
        elif op == "cancel":
            svc.cancel(me, cert)
        else:
            getattr(svc, op)(me, cert, None)
    assert svc.store.get(cid).operation == op, "what was in flight is recorded"
    if op in ("reissue", "renew"):
        world.advance(provider)  # the provider finishes its side (validation of a new order/reissue)
    # The next reconcile run, past the claim's window (no call made under it can still be running).
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=svc.resubmit_after_s() + 1)
    monkeypatch.setattr(svc, "clock", lambda: later)
    jobs.reconcile(svc, lambda: 60_000, now=later)
    monkeypatch.undo()

    after = call(client, "GET", f"/certificates/{cid}", principal=me)[2]
    assert after["operation"] is None, after
    if (provider, op) == ("digicert", "revoke"):
        # certgate's DigiCert key files revoke requests for approval: the truth is a request held.
        assert after["status"] == "issued" and after["revocation"]["status"] == "pending", after
        _approve(world, after["revocation"]["request_id"])
        jobs.poll_pending(svc, lambda: 60_000, now=later + dt.timedelta(minutes=5))
        after = call(client, "GET", f"/certificates/{cid}", principal=me)[2]
    assert after["status"] == TRUTH[op], after
    assert (after.get("revocation") or {}).get("status") in (None, "revoked"), after
    if op in ("reissue", "renew"):
        assert after["revision"] == body["revision"] + 1 and after["serial"] != body["serial"], after
    assert sent == [op], "exactly one change asked of the provider"
    mine = [o for o in world.sim_orders(provider) if o.get("common_name") == name]
    new_object = op == "renew" and provider != "resello" or (provider, op) == ("tinycert", "reissue")
    assert len(mine) == (2 if new_object else 1), mine


def _approve(world: Any, request_id: str) -> None:
    """An administrator approves the revoke request at DigiCert ("Update request status")."""
    import requests

    from simulators import defaults

    resp = requests.put(f"{world.sim_url('digicert')}/services/v2/request/{request_id}/status",
                        json={"status": "approved", "processor_comment": "ok"},
                        headers={"X-DC-DEVKEY": defaults.DIGICERT_API_KEY}, timeout=10)
    assert resp.status_code == 204, resp.text


def _trail(client: Any, cid: str, me: str) -> list[str]:
    status, _, body = call(client, "GET", f"/certificates/{cid}/events", principal=me)
    assert status == 200, body
    return [e["event"] for e in body["items"]]


@pytest.mark.parametrize("provider", ["tinycert", "resello", "digicert"])
def test_an_order_interrupted_after_its_intent_keeps_certificate_requested_once(client, world, monkeypatch,
                                                                                  provider):
    """The create is one write before the provider call (issue 17 item 6): `certificate.requested`
    lives in the intent's item until the next write of the record. The provider commits the order,
    then the process dies before that write: the trail still shows the request, and the reconcile run
    that adopts the order files it as a row — once, with one order at the provider."""
    from chalicelib.service import jobs

    me, name = who(), cn()
    svc = _svc()
    real_save = svc.store.save

    def dies(*args: Any, **kwargs: Any) -> None:
        monkeypatch.setattr(svc.store, "save", real_save)
        raise Died()

    monkeypatch.setattr(svc.store, "save", dies)
    with pytest.raises(Died):
        svc.order(me, _body(provider, name), None)
    [intent] = svc.store.list_by_owner(me, limit=10, next_token=None)[0]
    assert intent.status.value == "submitting" and intent.version == 1
    assert _trail(client, intent.id, me) == ["certificate.requested"]

    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=svc.resubmit_after_s() + 1)
    monkeypatch.setattr(svc, "clock", lambda: later)
    jobs.reconcile(svc, lambda: 60_000, now=later)
    monkeypatch.undo()

    after = call(client, "GET", f"/certificates/{intent.id}", principal=me)[2]
    assert after["status"] in ("pending", "issued"), after
    kinds = _trail(client, intent.id, me)
    assert kinds.count("certificate.requested") == 1 and kinds[0] == "certificate.requested", kinds
    assert "order.adopted" in kinds, kinds
    assert svc.store.get(intent.id).first_events == ()  # filed as a row, no longer in the item
    mine = [o for o in world.sim_orders(provider) if o.get("common_name") == name]
    assert len(mine) == 1, mine


def test_an_order_without_idempotency_key_writes_one_item_before_the_provider_call(client, world, monkeypatch):
    """Counted at the boto3 client: before `submit_order` one PutItem (no transaction), after it the
    one transaction recording the answer (certificate, certificate.requested, order.submitted, the
    provider reference), whose condition on the reference replaces a read of it."""
    svc = _svc()
    ddb = svc.store.client
    writes: list[tuple[str, int]] = []

    def seen(model: Any, params: dict[str, Any], **_: Any) -> None:
        writes.append((model.name, len(params.get("TransactItems") or [params])))

    adapter_class = type(svc.providers("resello"))
    real_submit = adapter_class.submit_order
    before_call: list[list[tuple[str, int]]] = []

    def submit(self: Any, req: Any) -> Any:
        before_call.append(list(writes))
        return real_submit(self, req)

    monkeypatch.setattr(adapter_class, "submit_order", submit)
    ddb.meta.events.register("provide-client-params.dynamodb.*", seen)
    try:
        me, name = who(), cn()
        status, _, body = order(client, {"provider": "resello", "common_name": name, "csr": csr_for(name)}, me)
    finally:
        ddb.meta.events.unregister("provide-client-params.dynamodb.*", seen)
    assert status == 202 and body["status"] == "pending", body
    assert before_call == [[("PutItem", 1)]]
    assert writes == [("PutItem", 1), ("TransactWriteItems", 4)], writes
    assert _trail(client, body["id"], me) == ["certificate.requested", "order.submitted"]
