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
from tests.functional.test_jobs import drain, queue  # noqa: F401 - `queue` is a fixture used below
from tests.functional.test_lifecycle import who

LONG = 600_000  # ms: a time budget no test run reaches


def svc() -> Any:
    from chalicelib.container import service

    return service()


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
    return body["id"]


def start(client, me: str, body: dict[str, Any]) -> dict[str, Any]:
    st, headers, job = call(client, "POST", "/imports", body, me)
    assert st == 202, job
    assert headers["location"] == f"/imports/{job['id']}"
    return job


def get(client, me: str, import_id: str) -> dict[str, Any]:
    st, _, job = call(client, "GET", f"/imports/{import_id}", principal=me)
    assert st == 200, job
    return job


def sync(now: dt.datetime | None = None) -> dict[str, Any]:
    from chalicelib.imports import sync_inventory

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

def test_tinycert_import_reads_every_page_once_and_a_reimport_changes_nothing(client, world):
    me, other = who(), who()
    ca = new_ca(client, me)
    ids = seed(world, "tinycert", count=150, ca_id=int(ca), common_name_prefix=prefix())["created"]
    job = start(client, me, {"provider": "tinycert", "filters": {"ca_id": ca}})
    assert job["provider"] == "tinycert" and job["filters"] == {"ca_id": ca}
    job = finish(client, me, job["id"])
    assert job["status"] == "completed", job
    c = job["counters"]
    assert (c["found"], c["created"], c["errors"], c["pages"]) == (150, 150, 0, 2), job

    mine = my_certs(client, me, "tinycert")
    assert len(mine) == 150
    assert {m["provider_refs"]["order_id"] for m in mine} == {str(i) for i in ids}
    assert {m["origin"] for m in mine} == {"imported"} and {m["status"] for m in mine} == {"issued"}
    at_sim = {str(o["id"]): o for o in world.sim_orders("tinycert") if str(o["ca_id"]) == ca}
    for m in mine:
        assert abs((_ts(m["not_after"]) - _ts(at_sim[m["provider_refs"]["order_id"]]["not_after"]))
                   .total_seconds()) < 1
        assert m["private_key_held"] is True and m["revision"] == 1 and m["revisions"][0]["reason"] == "import"
    for m in mine[:3]:  # facts come from the certificate itself
        st, _, pem = call(client, "GET", f"/certificates/{m['id']}/download?format=pem", principal=me)
        leaf = x509.load_pem_x509_certificate(pem)
        assert format(leaf.serial_number, "x") == m["serial"]
        assert leaf.not_valid_after_utc == _ts(m["not_after"])

    assert my_certs(client, other, "tinycert") == []
    st, _, prob = call(client, "GET", f"/imports/{job['id']}", principal=other)
    assert st == 404 and prob["status"] == 404

    again = finish(client, me, start(client, me, {"provider": "tinycert", "filters": {"ca_id": ca}})["id"])
    assert again["counters"]["created"] == 0 and again["counters"]["updated"] == 0
    assert again["counters"]["unchanged"] == 150 and again["counters"]["found"] == 150
    assert len(my_certs(client, me, "tinycert")) == 150
