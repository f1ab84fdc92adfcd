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
