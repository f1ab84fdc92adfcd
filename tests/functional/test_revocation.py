"""Revocation as a request we follow (issue 16 point 2), through the routes and the DigiCert
simulator: certgate's DigiCert key files revoke requests an administrator approves."""

from __future__ import annotations

import datetime as dt
from typing import Any

import requests

from simulators import defaults
from tests.functional.conftest import call
from tests.functional.test_jobs import run_job
from tests.functional.test_lifecycle import cn, csr_for, order, who


def _issued_digicert(client: Any, world: Any, me: str) -> dict[str, Any]:
    name = cn()
    body = order(client, {"provider": "digicert", "common_name": name, "csr": csr_for(name)}, me)[2]
    world.advance("digicert")
    body = call(client, "POST", f"/certificates/{body['id']}/refresh", principal=me)[2]
    assert body["status"] == "issued", body
    return body


def _decide(world: Any, request_id: str, status: str) -> None:
    resp = requests.put(f"{world.sim_url('digicert')}/services/v2/request/{request_id}/status",
                        json={"status": status, "processor_comment": f"{status} by the approver"},
                        headers={"X-DC-DEVKEY": defaults.DIGICERT_API_KEY}, timeout=10)
    assert resp.status_code == 204, resp.text


def _poll(client: Any) -> None:
    from chalicelib.bootstrap import service
    from chalicelib.service import jobs

    jobs.poll_pending(service(), lambda: 60_000, now=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10))


def test_a_revoke_request_is_pending_until_approved_and_blocks_other_changes(client, world):
    me = who()
    cid = _issued_digicert(client, world, me)["id"]
    st, _, pending = call(client, "POST", f"/certificates/{cid}/revoke", {"reason": "key_compromise"}, me)
    assert st == 202 and pending["status"] == "issued", pending
    rev = pending["revocation"]
    assert rev["status"] == "pending" and rev["reason"] == "key_compromise" and rev["request_id"], rev
    st, _, again = call(client, "POST", f"/certificates/{cid}/revoke", {"reason": "superseded"}, me)
    assert st == 409 and again["code"] == "revocation_pending" and rev["request_id"] in again["detail"], again
    for action in ("reissue", "renew"):
        st, _, refused = call(client, "POST", f"/certificates/{cid}/{action}", {}, me)
        assert st == 409 and refused["code"] == "revocation_pending", refused
    _poll(client)
    assert call(client, "GET", f"/certificates/{cid}", principal=me)[2]["status"] == "issued"
    _decide(world, rev["request_id"], "approved")
    _poll(client)
    done = call(client, "GET", f"/certificates/{cid}", principal=me)[2]
    assert done["status"] == "revoked" and done["revocation"]["status"] == "revoked", done
    kinds = [e["event"] for e in call(client, "GET", f"/certificates/{cid}/events", principal=me)[2]["items"]]
    assert kinds.count("certificate.revoked") == 1 and "certificate.revocation_requested" in kinds


def test_a_rejected_revoke_request_is_cleared_and_announced(client, world):
    me = who()
    cid = _issued_digicert(client, world, me)["id"]
    rev = call(client, "POST", f"/certificates/{cid}/revoke", {"reason": "superseded"}, me)[2]["revocation"]
    _decide(world, rev["request_id"], "rejected")
    _poll(client)
    after = call(client, "GET", f"/certificates/{cid}", principal=me)[2]
    assert after["status"] == "issued" and after["revocation"] is None, after
    events = call(client, "GET", f"/certificates/{cid}/events", principal=me)[2]["items"]
    rejected = [e for e in events if e["event"] == "certificate.revocation_rejected"]
    assert len(rejected) == 1 and rejected[0]["detail"]["rejection"] == "rejected by the approver", rejected
    assert run_job(client, "poll_pending") is not None
