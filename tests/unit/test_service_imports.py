"""Inventory imports (service/inventory.py) on fakes: what is imported and what is skipped, a
re-import changing nothing, resuming after a 429 without duplicates, the recurring sync noticing
out-of-band changes, one sync per owner+provider+filters, and the knobs of the Policy."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import replace

import pytest

from chalicelib.core.errors import AuthenticationFailed, NotFound, RateLimited, ValidationFailed
from chalicelib.core.model import Status, parse_iso
from chalicelib.service.inventory import get_import, list_imports, start_import, sync_inventory, sync_now
from tests.unit.service_kit import ALICE, BOB, POLICY, Fakes, build, console_order, reach, remaining

S = Status


def sync(fx: Fakes, **later: float) -> dict:
    return sync_inventory(fx.svc, remaining, now=fx.clock() + dt.timedelta(**later))


def gap(job: dict) -> float:
    """Seconds from a run's end to the next run (the run's clock moves on while it works)."""
    return (parse_iso(job["next_run_at"]) - parse_iso(job["finished_at"])).total_seconds()


def imported(fx: Fakes, owner: str = ALICE) -> list:
    return [c for c in fx.store.certificates() if c.origin == "imported" and c.owner == owner]


def test_an_import_records_issued_and_pending_orders_and_skips_those_without_a_certificate(fx: Fakes) -> None:
    issued = [console_order(fx, "resello", f"imp{i}.example.com") for i in range(3)]
    waiting = console_order(fx, "resello", "wait.example.com", S.PENDING)
    console_order(fx, "resello", "failed.example.com", S.FAILED)
    console_order(fx, "resello", "gone.example.com", S.CANCELLED)
    job = start_import(fx.svc, ALICE, {"provider": "resello"})
    assert job["status"] == "completed" and job["runs"] == 1, job
    assert job["counters"] == {"pages": 1, "found": 6, "created": 4, "updated": 0, "unchanged": 0,
                               "skipped": 2, "errors": 0}
    assert job["skipped"] == {"failed": 1, "cancelled": 1}
    by_order = {c.provider_order_id: c for c in imported(fx)}
    for order in issued:
        cert = by_order[order.id]
        assert (cert.status, cert.serial, cert.revision) == (S.ISSUED, order.serial, 1)
        assert cert.revisions[0].reason == "import" and cert.import_id == job["id"]
        assert cert.sealed_key is None and cert.key_source == "csr"  # Resello never had our key
        assert f"certificates/{cert.id}/r1/cert.pem" in fx.artifacts.objects
        assert fx.store.cert_id_for_ref("resello", order.id) == cert.id
        assert {e.kind for e in fx.store.all_events(cert.id)} == {"certificate.imported"}
    pending = by_order[waiting.id]
    assert pending.status is S.PENDING and parse_iso(pending.next_poll_at) == fx.clock()  # poll_pending's now
    assert get_import(fx.svc, ALICE, job["id"]) == job


def test_a_reimport_finds_everything_unchanged(fx: Fakes) -> None:
    for i in range(3):
        console_order(fx, "digicert", f"again{i}.example.com")
    start_import(fx.svc, ALICE, {"provider": "digicert"})
    again = start_import(fx.svc, ALICE, {"provider": "digicert"})
    assert (again["counters"]["created"], again["counters"]["unchanged"]) == (0, 3)
    assert len(imported(fx)) == 3


def test_tinycert_keys_are_sealed_for_the_imported_certificates(fx: Fakes) -> None:
    order = console_order(fx, "tinycert", "tiny.example.com")
    start_import(fx.svc, ALICE, {"provider": "tinycert"})
    cert = imported(fx)[0]
    assert cert.key_source == "provider" and cert.sealed_key is not None
    assert fx.vault.open(cert.sealed_key, {"certificate_id": cert.id}) == order.material.private_key_pem


def test_what_certgate_holds_for_others_or_placed_itself_is_not_imported(fx: Fakes) -> None:
    bobs = fx.order("resello", "bob.example.com", principal=BOB)
    mine = fx.order("resello", "mine.example.com")
    intent = reach(fx, S.SUBMITTING, provider="resello", cn="lost.example.com")  # the answer never came
    job = start_import(fx.svc, ALICE, {"provider": "resello"})
    assert job["skipped"] == {"not_owned": 1, "placed_by_certgate": 1} and job["counters"]["unchanged"] == 1
    assert imported(fx) == [] and fx.current(bobs).owner == BOB
    assert fx.current(intent).status is S.SUBMITTING and fx.current(mine).origin == "ordered"


def test_import_requests_are_validated_and_imports_are_private() -> None:
    fx = build()
    with pytest.raises(ValidationFailed) as bad:
        start_import(fx.svc, ALICE, {"provider": "tinycert", "filters": {"ca_id": "x"}, "page_size": 0})
    assert sorted(e.field for e in bad.value.errors) == ["filters.ca_id", "page_size"]
    job = start_import(fx.svc, ALICE, {"provider": "digicert"})
    for who, import_id in ((BOB, job["id"]), (ALICE, "imp_" + "0" * 32), (ALICE, "nope")):
        with pytest.raises(NotFound):
            get_import(fx.svc, who, import_id)


def test_a_429_on_a_later_page_is_resumed_from_there_without_duplicates() -> None:
    fx = build(replace(POLICY, import_inline_s=0))
    for i in range(5):
        console_order(fx, "digicert", f"page{i}.example.com")
    job = start_import(fx.svc, ALICE, {"provider": "digicert", "page_size": 2})
    assert job["status"] == "queued" and fx.provider("digicert").called("list_certificates") == []
    fx.provider("digicert").fail_next("list_certificates", RateLimited("digicert", "slow down", retry_after=120),
                                      skip=1)
    assert sync(fx)["running"] == 1
    stopped = get_import(fx.svc, ALICE, job["id"])
    assert stopped["status"] == "running" and stopped["last_error"]["code"] == "provider_rate_limited"
    assert (stopped["counters"]["pages"], stopped["counters"]["created"]) == (1, 2)
    assert parse_iso(stopped["next_run_at"]) >= fx.clock() + dt.timedelta(seconds=119)
    assert sync(fx)["due"] == 0  # Retry-After honoured
    assert sync(fx, minutes=3)["completed"] == 1
    done = get_import(fx.svc, ALICE, job["id"])
    assert done["counters"]["created"] == 5 and done["counters"]["pages"] == 3
    tokens = fx.provider("digicert").called("list_certificates")
    assert tokens == [None, "2", "2", "4"]  # page 2 asked again, page 1 never again
    order_ids = Counter(c.provider_order_id for c in imported(fx))
    assert len(order_ids) == 5 and set(order_ids.values()) == {1}


def test_a_refused_first_run_fails_the_import_for_good() -> None:
    fx = build(replace(POLICY, import_inline_s=0))
    job = start_import(fx.svc, ALICE, {"provider": "resello"})
    fx.provider("resello").fail_next("list_certificates", AuthenticationFailed("resello", "bad key"))
    sync(fx)
    failed = get_import(fx.svc, ALICE, job["id"])
    assert failed["status"] == "failed" and failed["next_run_at"] is None
    assert sync(fx, days=10)["due"] == 0


def test_the_recurring_sync_notices_an_out_of_band_revoke(fx: Fakes) -> None:
    order = console_order(fx, "digicert", "oob.example.com")
    job = start_import(fx.svc, ALICE, {"provider": "digicert"})
    interval = fx.svc.cfg.sync_interval_for("digicert")
    assert gap(job) == pytest.approx(interval, abs=1)
    fx.provider("digicert").set_status(order.id, S.REVOKED)
    assert sync(fx, seconds=interval - 60)["due"] == 0
    stats = sync(fx, seconds=interval + 1)
    assert stats["completed"] == 1 and stats["updated"] == 1
    cert = imported(fx)[0]
    assert cert.status is S.REVOKED and fx.publisher.kinds(cert.id) == ["certificate.revoked"]
    assert get_import(fx.svc, ALICE, job["id"])["runs"] == 2


def test_the_sync_interval_is_per_provider_and_a_newer_import_takes_the_schedule_over() -> None:
    fx = build(replace(POLICY, sync_interval_s=86400, sync_interval_s_by_provider={"tinycert": 600}))
    console_order(fx, "tinycert", "sched.example.com")
    first = start_import(fx.svc, ALICE, {"provider": "tinycert"})
    assert gap(first) == pytest.approx(600, abs=1)
    second = start_import(fx.svc, ALICE, {"provider": "tinycert"})
    other = start_import(fx.svc, BOB, {"provider": "tinycert"})  # another owner: its own schedule
    stats = sync(fx, seconds=601)
    assert stats["superseded"] == 1 and stats["completed"] == 2
    assert get_import(fx.svc, ALICE, first["id"])["superseded_by"] == second["id"]
    assert get_import(fx.svc, ALICE, first["id"])["next_run_at"] is None
    assert get_import(fx.svc, ALICE, second["id"])["runs"] == 2
    assert get_import(fx.svc, BOB, other["id"])["runs"] == 2


def _as_tinycert_shows_it(fx: Fakes, cert_id: str) -> None:
    """TinyCert knows no client reference: the order an intent made carries none."""
    fake = fx.provider("tinycert")
    for order in fake.orders.values():
        if order.request.client_reference == cert_id:
            order.request = replace(order.request, client_reference="")


def test_an_import_skips_what_a_live_intent_of_another_principal_may_own(fx: Fakes) -> None:
    """Bob's create went through at TinyCert, its answer is pending: Alice's import must not take
    Bob's certificate (and key). Once Bob's intent is resolved, it is Bob's."""
    fx.principal = BOB
    intent = reach(fx, S.SUBMITTING, provider="tinycert", cn="inflight.example.com")
    fx.principal = ALICE
    _as_tinycert_shows_it(fx, intent.id)
    console_order(fx, "tinycert", "other.example.com")
    job = start_import(fx.svc, ALICE, {"provider": "tinycert"})
    assert job["skipped"] == {"in_flight": 1} and job["counters"]["created"] == 1, job
    assert [c.common_name for c in imported(fx)] == ["other.example.com"]
    assert fx.current(intent).status is S.SUBMITTING


def test_an_import_skips_what_carries_certgates_ownership_mark(fx: Fakes) -> None:
    """E.g. the certificate of a record that ended outcome_unknown, waiting for an operator."""
    marked = console_order(fx, "tinycert", "marked.example.com")
    marked.owner_mark = "certgate:0123abcd:abcdefghijklmnopqrst"
    job = start_import(fx.svc, ALICE, {"provider": "tinycert"})
    assert job["skipped"] == {"placed_by_certgate": 1} and imported(fx) == []


def test_imports_are_listed_for_their_owner_and_an_administrator_sees_and_reads_all(fx: Fakes) -> None:
    mine = [start_import(fx.svc, ALICE, {"provider": p}) for p in ("resello", "digicert")]
    theirs = start_import(fx.svc, BOB, {"provider": "resello"})
    page, token = list_imports(fx.svc, ALICE, admin=False, limit=10, next_token=None)
    assert sorted(j.id for j in page) == sorted(j["id"] for j in mine) and token is None
    assert [j.id for j in list_imports(fx.svc, ALICE, admin=False, limit=10, next_token=None,
                                       provider="digicert")[0]] == [mine[1]["id"]]
    everyone, _ = list_imports(fx.svc, "root", admin=True, limit=10, next_token=None)
    assert {j.id for j in everyone} == {theirs["id"], *(j["id"] for j in mine)}
    assert get_import(fx.svc, "root", theirs["id"], admin=True) == theirs
    with pytest.raises(NotFound):
        get_import(fx.svc, ALICE, theirs["id"])


def test_sync_now_reruns_the_callers_syncs_of_that_provider_at_once_not_others() -> None:
    fx = build(replace(POLICY, sync_interval_s=3600))
    console_order(fx, "resello", "before.example.com")
    mine = start_import(fx.svc, ALICE, {"provider": "resello"})
    theirs = start_import(fx.svc, BOB, {"provider": "resello"})
    other_provider = start_import(fx.svc, ALICE, {"provider": "digicert"})
    console_order(fx, "resello", "after.example.com")  # made at the console after the imports
    (ran,) = sync_now(fx.svc, ALICE, "resello", admin=False)
    assert ran.id == mine["id"] and ran.status == "completed" and ran.runs == 2, ran
    assert ran.counters["created"] == 1 and ran.counters["unchanged"] == 1
    assert "after.example.com" in {c.common_name for c in imported(fx, ALICE)}
    assert get_import(fx.svc, BOB, theirs["id"])["runs"] == 1  # bob's sync is bob's
    assert get_import(fx.svc, ALICE, other_provider["id"])["runs"] == 1
    assert parse_iso(ran.next_run_at) >= fx.clock() + dt.timedelta(seconds=3599)  # the interval starts again
    ran_all = sync_now(fx.svc, "root", "resello", admin=True)
    assert {j.id for j in ran_all} == {mine["id"], theirs["id"]} and {j.runs for j in ran_all} == {2, 3}


def test_sync_now_leaves_to_sync_inventory_what_its_inline_budget_does_not_cover() -> None:
    fx = build(replace(POLICY, import_inline_s=0))
    job = start_import(fx.svc, ALICE, {"provider": "resello"})
    sync(fx)  # the first run, by the job
    done = get_import(fx.svc, ALICE, job["id"])
    assert done["status"] == "completed" and parse_iso(done["next_run_at"]) > fx.clock() + dt.timedelta(hours=1)
    (due,) = sync_now(fx.svc, ALICE, "resello", admin=False)
    assert due.runs == 1 and parse_iso(due.next_run_at) < fx.clock() + dt.timedelta(seconds=1)  # due now: the next sync_inventory runs it
    assert sync(fx, seconds=1)["completed"] == 1
