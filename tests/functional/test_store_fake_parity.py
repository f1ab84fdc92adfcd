"""The fake store is honest: every test here runs twice, against tests/fakes.py's FakeStore and
against the DynamoDB adapter on the world's moto server (a fresh table each time), with the same
assertions — conditional writes, lost races, round trips, listings and their tokens, the sparse
indexes, the outbox, idempotency and import jobs."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from chalicelib.core.errors import AlreadyExists, BadRequest, ConcurrentModification, DependencyFailed
from chalicelib.core.imports import ImportJob
from chalicelib.core.model import (
    AcmImport,
    Approver,
    Certificate,
    Event,
    Failure,
    IdempotencyRecord,
    Organization,
    Revision,
    San,
    Status,
    iso,
)
from tests.fakes import FakeStore

T0 = dt.datetime(2031, 5, 6, 7, 8, 9, tzinfo=dt.UTC)
OWNER, OTHER = "owner-a", "owner-b"


@pytest.fixture(params=["fake", "dynamodb"])
def store(request: pytest.FixtureRequest) -> Iterator[Any]:
    if request.param == "fake":
        yield FakeStore(shards=4)
        return
    from chalicelib.adapters.dynamodb import schema
    from chalicelib.adapters.dynamodb.store import CertificateStore

    world = request.getfixturevalue("world")
    ddb = world.aws("dynamodb")
    table = f"parity-{uuid.uuid4().hex[:10]}"
    ddb.create_table(**schema.table_definition(table))
    try:
        yield CertificateStore(lambda: ddb, table, shards=4)
    finally:
        ddb.delete_table(TableName=table)


def at(minutes: float) -> str:
    return iso(T0 + dt.timedelta(minutes=minutes)) or ""


def cert(n: int = 1, *, status: Status = Status.PENDING, owner: str = OWNER, **fields: Any) -> Certificate:
    base = Certificate(id=f"crt_{n:032x}", owner=owner, provider="digicert", common_name=f"c{n}.example.com",
                       status=status, created_at=at(n), updated_at=at(n), version=1,
                       sans=(San("dns", f"c{n}.example.com"),), next_poll_at=at(n))
    return replace(base, **fields)


def event(c: Certificate, kind: str = "certificate.issued", minutes: float = 0, **detail: Any) -> Event:
    return Event(certificate_id=c.id, kind=kind, occurred_at=at(minutes), actor="test",
                 event_id=f"evt_{uuid.uuid4().hex}", detail=detail)


# -- conditional writes --------------------------------------------------------------------------------

def test_a_certificate_is_created_once_and_reads_back_as_stored(store: Any) -> None:
    c = cert(organization=Organization(name="ACME", country="NL"), approver=Approver(email="ann@example.com"),
             failure=Failure("provider_rejected", "no"), provider_options={"ca_id": 7})
    store.create(c, [event(c, "certificate.requested")])
    assert store.get(c.id) == c
    with pytest.raises(ConcurrentModification):
        store.create(c, [])
    assert store.get("crt_" + "e" * 32) is None


def test_the_renewal_bookkeeping_reads_back_as_stored(store: Any) -> None:
    c = cert(status=Status.ISSUED, next_poll_at=None, not_after=at(9000), notice_offset=6, notice_not_after=at(9000),
             coverage_until=at(500_000), renewal_attempted_at=at(5), provider_options={"order_validity_years": 2})
    store.create(c, [])
    back = store.get(c.id)
    assert back == c and isinstance(back.notice_offset, int)


def test_a_save_needs_the_version_it_was_made_from(store: Any) -> None:
    c = cert()
    store.create(c, [])
    store.save(c.updated(T0, common_name="renamed.example.com"))
    with pytest.raises(ConcurrentModification):  # made from version 1 too: lost the race
        store.save(c.updated(T0, common_name="other.example.com"), [event(c)])
    assert store.get(c.id).common_name == "renamed.example.com" and store.get(c.id).version == 2
    assert store.events(c.id)[0] == []  # the loser's event was not written either
    with pytest.raises(ConcurrentModification):
        store.save(replace(cert(9), version=2))  # never created


def test_an_issued_certificate_keeps_no_next_check(store: Any) -> None:
    c = cert()
    store.create(c, [])
    issued = c.moved_to(Status.ISSUED, T0, not_after=at(60 * 24 * 90))
    store.save(issued)
    assert store.get(c.id) == replace(issued, next_poll_at=None)


def test_a_provider_reference_is_claimed_for_one_certificate_only(store: Any) -> None:
    a, b = cert(1), cert(2)
    store.create(a, [])
    store.create(b, [])
    store.save(a.updated(T0), claim_refs=["1001"])
    store.save(a.updated(T0).updated(T0), claim_refs=["1001"])  # its own claim again: fine
    with pytest.raises(AlreadyExists) as info:
        store.save(b.updated(T0), [event(b)], claim_refs=["1001"])
    assert info.value.what == "reference"
    assert store.get(b.id).version == 1 and store.events(b.id)[0] == []
    assert store.cert_id_for_ref("digicert", "1001") == a.id
    assert store.claim_ref("digicert", "1001", b.id) == a.id and store.claim_ref("digicert", "2002", b.id) == b.id
    store.ref_set("digicert", "1001", b.id)
    assert store.cert_id_for_ref("digicert", "1001") == b.id


def test_events_are_written_once(store: Any) -> None:
    c = cert()
    first = event(c, "certificate.requested")
    store.create(c, [first])
    with pytest.raises(AlreadyExists):
        store.append_events(c.id, [first])
    with pytest.raises(DependencyFailed):
        store.append_events(c.id, [])  # an empty transaction is refused
    assert store.insert(c, [event(c)]) is False and len(store.events(c.id)[0]) == 1


def test_insert_writes_a_new_certificate_and_its_events(store: Any) -> None:
    c = cert(3, status=Status.ISSUED, not_after=at(1000), next_poll_at=None)
    assert store.insert(c, [event(c, "certificate.imported")]) is True
    assert store.get(c.id) == c and [e.kind for e in store.events(c.id)[0]] == ["certificate.imported"]


# -- idempotency ------------------------------------------------------------------------------------------

def test_an_idempotency_key_is_taken_once_and_can_be_released(store: Any) -> None:
    a, b = cert(1), cert(2)
    rec = IdempotencyRecord(OWNER, "key-1", "hash", a.id, a.created_at)
    store.create(a, [], rec)
    assert store.idempotency(OWNER, "key-1") == rec and store.idempotency(OTHER, "key-1") is None
    with pytest.raises(AlreadyExists) as info:
        store.create(b, [], replace(rec, certificate_id=b.id))
    assert info.value.what == "idempotency" and store.get(b.id) is None
    store.save(a.moved_to(Status.FAILED, T0), release_idempotency="key-1")
    assert store.idempotency(OWNER, "key-1") is None
    store.create(b, [], replace(rec, certificate_id=b.id))
    assert store.idempotency(OWNER, "key-1").certificate_id == b.id


def test_an_expired_idempotency_record_reads_as_absent(store: Any) -> None:
    c = cert()
    store.create(c, [], IdempotencyRecord(OWNER, "short", "h", c.id, c.created_at), ttl_s=-5)
    assert store.idempotency(OWNER, "short") is None


# -- listings -------------------------------------------------------------------------------------------------

def test_listings_page_newest_first_with_tokens_bound_to_their_owner(store: Any) -> None:
    mine = [cert(n, status=Status.ISSUED if n % 2 else Status.PENDING, not_after=at(5000 + n)) for n in range(1, 8)]
    for c in mine:
        store.create(c, [])
    store.create(cert(20, owner=OTHER), [])
    seen, token, pages = [], None, 0
    while True:
        page, token = store.list_by_owner(OWNER, limit=3, next_token=token)
        seen += [c.id for c in page]
        pages += 1
        if not token:
            break
    assert seen == [c.id for c in reversed(mine)] and pages == 3
    issued, token = store.list_by_owner(OWNER, limit=2, next_token=None, status="issued")
    assert [c.id for c in issued] == [mine[6].id, mine[4].id] and token
    rest, _ = store.list_by_owner(OWNER, limit=10, next_token=token, status="issued")
    assert [c.id for c in rest] == [mine[2].id, mine[0].id]
    with pytest.raises(BadRequest):
        store.list_by_owner(OTHER, limit=2, next_token=token)
    with pytest.raises(BadRequest):
        store.list_by_owner(OWNER, limit=2, next_token="garbage!")
    assert [c.id for c in store.list_by_owner(OWNER, limit=10, next_token=None, expires_before=at(5003))[0]] == \
        [mine[1].id, mine[0].id]
    intent = cert(30, status=Status.SUBMITTING)
    store.create(intent, [])
    assert intent.id in {c.id for c in store.list_by_owner(OWNER, limit=20, next_token=None, status="pending")[0]}


def test_the_audit_trail_pages_oldest_first(store: Any) -> None:
    c = cert()
    events = [event(c, "certificate.requested", minutes=m) for m in range(5)]
    store.create(c, events)
    page, token = store.events(c.id, limit=2, owner=OWNER)
    assert [e.event_id for e in page] == [e.event_id for e in events[:2]]
    rest, end = store.events(c.id, limit=10, next_token=token, owner=OWNER)
    assert [e.event_id for e in rest] == [e.event_id for e in events[2:]] and end is None
    with pytest.raises(BadRequest):
        store.events(c.id, limit=2, next_token=token, owner=OTHER)


# -- the sparse indexes and the outbox ---------------------------------------------------------------------

def test_the_due_index_holds_waiting_certificates_by_their_next_check(store: Any) -> None:
    pending = [cert(n, next_poll_at=at(n)) for n in range(1, 6)]
    intent = cert(9, status=Status.SUBMITTING, next_poll_at=at(2))
    done = cert(10, status=Status.ISSUED, not_after=at(9999), next_poll_at=None)
    for c in (*pending, intent, done):
        store.create(c, [])
    assert {c.id for c in store.due("P", T0 + dt.timedelta(minutes=3), 100)} == {c.id for c in pending[:3]}
    assert [c.id for c in store.due("S", T0 + dt.timedelta(minutes=3), 100)] == [intent.id]
    assert len(list(store.due("P", T0 + dt.timedelta(days=1), 2))) == 2
    assert list(store.due("P", T0, 100)) == []


def test_the_expiry_index_holds_what_is_still_valid_out_there(store: Any) -> None:
    issued = cert(1, status=Status.ISSUED, not_after=at(100), next_poll_at=None)
    reissuing = cert(2, status=Status.PENDING, not_after=at(200),
                     revisions=(Revision(1, "order", issued_at=at(0)), Revision(2, "reissue")), revision=2)
    revoked = cert(3, status=Status.REVOKED, not_after=at(50), next_poll_at=None)
    never = cert(4, status=Status.PENDING)
    for c in (issued, reissuing, revoked, never):
        store.create(c, [])
    assert {c.id for c in store.expiring(T0 + dt.timedelta(minutes=300), 100)} == {issued.id, reissuing.id}
    assert [c.id for c in store.expiring(T0 + dt.timedelta(minutes=150), 100)] == [issued.id]


def test_the_earliest_expiry_is_the_least_not_after_of_every_shard(store: Any) -> None:
    assert store.earliest_expiry() is None
    certs = [cert(n, status=Status.ISSUED, not_after=at(1000 - n), next_poll_at=None) for n in range(1, 9)]
    revoked = cert(20, status=Status.REVOKED, not_after=at(1), next_poll_at=None)  # not in the index
    for c in (*certs, revoked):
        store.create(c, [])
    assert store.earliest_expiry() == at(1000 - 8)


def test_actionable_reads_the_action_index_up_to_a_time(store: Any) -> None:
    soon = [cert(n, status=Status.ISSUED, not_after=at(9999), next_poll_at=None, next_action_at=at(n))
            for n in range(1, 5)]
    later = cert(9, status=Status.ISSUED, not_after=at(9999), next_poll_at=None, next_action_at=at(500))
    for c in (*soon, later):
        store.create(c, [])
    assert {c.id for c in store.actionable(T0 + dt.timedelta(minutes=10), 100)} == {c.id for c in soon}
    assert len(list(store.actionable(T0 + dt.timedelta(days=1), 100))) == 5


def test_the_oldest_unpublished_event_is_the_head_of_the_outbox(store: Any) -> None:
    assert store.oldest_unpublished() is None
    certs = [cert(n) for n in range(1, 6)]
    events = [event(c, "certificate.issued", 10 + n) for n, c in enumerate(certs)]
    for c, ev in zip(certs, events, strict=True):
        store.create(c, [ev, event(c, "order.submitted", 1)])  # an audit-only event is never in the outbox
    assert store.oldest_unpublished() == at(10)
    store.mark_published(events[0], T0)
    assert store.oldest_unpublished() == at(11)


def test_the_outbox_holds_published_kinds_until_marked_once(store: Any) -> None:
    c = cert()
    published, audit = event(c, "certificate.issued", 1, days_left=7.0), event(c, "order.submitted", 2)
    store.create(c, [published, audit])
    out = list(store.unpublished(10, older_than=T0 + dt.timedelta(minutes=5)))
    assert out == [replace(published, detail={"days_left": 7})]  # numbers come back as DynamoDB keeps them
    assert list(store.unpublished(10, older_than=T0)) == []  # not older than that
    assert store.mark_published(published, T0) is True
    assert store.mark_published(published, T0) is False
    assert store.mark_published(audit, T0) is False  # never in the outbox
    assert list(store.unpublished(10, older_than=T0 + dt.timedelta(days=1))) == []


def test_an_outbox_row_is_claimed_by_one_publisher_until_its_lease_ends(store: Any) -> None:
    c = cert()
    published, audit = event(c, "certificate.issued", 1), event(c, "order.submitted", 2)
    store.create(c, [published, audit])
    assert store.claim_for_publish(published, T0, 120) is True
    assert store.claim_for_publish(published, T0 + dt.timedelta(seconds=119), 120) is False  # the lease runs
    assert store.claim_for_publish(audit, T0, 120) is False  # never in the outbox
    assert store.claim_for_publish(published, T0 + dt.timedelta(seconds=120), 120) is True  # lease over: taken
    store.release_publish_claim(published)
    assert store.claim_for_publish(published, T0 + dt.timedelta(seconds=121), 120) is True  # released: at once
    assert store.mark_published(published, T0) is True
    assert store.claim_for_publish(published, T0 + dt.timedelta(days=1), 120) is False  # left the outbox
    assert list(store.unpublished(10, older_than=T0 + dt.timedelta(days=1))) == []


def test_concurrent_claims_of_one_row_have_one_winner(store: Any) -> None:
    from concurrent.futures import ThreadPoolExecutor

    c = cert()
    ev = event(c, "certificate.issued", 1)
    store.create(c, [ev])
    with ThreadPoolExecutor(8) as pool:
        wins = list(pool.map(lambda _: store.claim_for_publish(ev, T0, 120), range(8)))
    assert wins.count(True) == 1


# -- import jobs ------------------------------------------------------------------------------------------

def test_import_jobs_are_versioned_and_filed_by_their_next_run(store: Any) -> None:
    job = ImportJob(id=f"imp_{uuid.uuid4().hex}", owner=OWNER, provider="digicert", filters={"status": "issued"},
                    status="queued", started_at=at(0), updated_at=at(0), version=1, next_run_at=at(1),
                    last_error={"code": "x", "provider_order_id": None})
    store.create_import(job)
    assert store.get_import(job.id) == replace(job, last_error={"code": "x"})
    with pytest.raises(AlreadyExists):
        store.create_import(job)
    assert store.import_carrying(job.schedule_key) == job.id and store.import_carrying("nope") is None
    assert [j.id for _, j in store.imports_page(T0 + dt.timedelta(minutes=2), None, 10).items] == [job.id]
    assert store.imports_page(T0, None, 10).items == []
    store.save_import(replace(job, version=2, status="completed", next_run_at=None, runs=1))
    with pytest.raises(ConcurrentModification):
        store.save_import(replace(job, version=2, status="running"))
    assert store.get_import(job.id).status == "completed"
    assert store.imports_page(T0 + dt.timedelta(days=9), None, 10).items == []  # no next run: out of the index
    newer = replace(job, id=f"imp_{uuid.uuid4().hex}")
    store.create_import(newer)
    assert store.import_carrying(job.schedule_key) == newer.id
    assert store.get_import("imp_" + "0" * 32) is None


def test_the_imports_index_pages_on_from_a_position_as_the_sync_sweep_walks_it(store: Any) -> None:
    store.shards = 1
    jobs = [ImportJob(id=f"imp_{uuid.uuid4().hex}", owner=f"{OWNER}{i}", provider="digicert", filters={},
                      status="queued", started_at=at(0), updated_at=at(0), version=1, next_run_at=at(i))
            for i in range(3)]
    for job in jobs:
        store.create_import(job)
    until = T0 + dt.timedelta(minutes=10)
    first = store.imports_page(until, None, 2)
    assert [j.id for _, j in first.items] == [jobs[0].id, jobs[1].id] and not first.end
    rest = store.imports_page(until, first.items[-1][0], 2)
    assert [j.id for _, j in rest.items] == [jobs[2].id] and rest.end
    assert rest.items[0][0].item_id == jobs[2].id and rest.items[0][1] == jobs[2]


def test_listings_filter_by_expiry_window_and_by_domain_exact_or_under(store: Any) -> None:
    made = [
        cert(1, common_name="www.example.com", sans=(San("dns", "www.example.com"), San("dns", "Example.com")),
             not_after=at(100)),
        cert(2, common_name="*.example.com", sans=(San("dns", "*.example.com"),), not_after=at(200)),
        cert(3, common_name="deep.a.example.com", sans=(San("dns", "deep.a.example.com"),
                                                        San("ip", "192.0.2.1")), not_after=at(300)),
        cert(4, common_name="notexample.com", sans=(), not_after=at(400)),
    ]
    for c in made:
        store.create(c, [])

    def ids(**flt: Any) -> set[str]:
        return {c.id for c in store.list_by_owner(OWNER, limit=10, next_token=None, **flt)[0]}

    one, two, three, four = (c.id for c in made)
    assert ids(domain="example.com") == {one}
    assert ids(domain="*.example.com") == {two}
    assert ids(domain=".example.com") == {one, two, three}
    assert ids(domain=".a.example.com") == {three}
    assert ids(domain="notexample.com") == {four}  # the common name alone counts
    assert ids(domain="192.0.2.1") == set()  # dns names only
    assert ids(expires_after=at(200), expires_before=at(400)) == {two, three}
    assert ids(expires_after=at(150), domain=".example.com") == {two, three}


def test_imports_are_listed_newest_first_per_owner_or_all_paged_and_out_of_certificate_listings(
        store: Any) -> None:
    def job(n: int, owner: str, provider: str = "digicert") -> ImportJob:
        return ImportJob(id=f"imp_{n:032x}", owner=owner, provider=provider, filters={}, status="queued",
                         started_at=at(n), updated_at=at(n), version=1, next_run_at=at(n))

    jobs = [job(1, OWNER), job(2, OTHER), job(3, OWNER, "resello"), job(4, OWNER)]
    for j in jobs:
        store.create_import(j)
    store.create(cert(9), [])
    mine, token = store.list_imports(OWNER, owner=OWNER, limit=10, next_token=None)
    assert [j.id for j in mine] == [jobs[3].id, jobs[2].id, jobs[0].id] and token is None
    assert mine[0] == jobs[3]  # read back whole, its own owner included
    everyone, _ = store.list_imports("admin", owner=None, limit=10, next_token=None)
    assert [j.id for j in everyone] == [j.id for j in reversed(jobs)]
    first, token = store.list_imports(OWNER, owner=OWNER, limit=2, next_token=None)
    rest, end = store.list_imports(OWNER, owner=OWNER, limit=2, next_token=token)
    assert [j.id for j in first + rest] == [jobs[3].id, jobs[2].id, jobs[0].id] and token and end is None
    with pytest.raises(BadRequest):
        store.list_imports(OTHER, owner=OTHER, limit=2, next_token=token)  # bound to its viewer
    assert [j.id for j in store.list_imports(OWNER, owner=OWNER, limit=10, next_token=None, provider="resello",
                                             status="queued")[0]] == [jobs[2].id]
    assert [c.id for c in store.list_by_owner(OWNER, limit=10, next_token=None)[0]] == [cert(9).id]


def test_an_outbox_row_records_the_targets_that_took_it(store: Any) -> None:
    c = cert()
    ev = event(c, "certificate.issued", 1)
    store.create(c, [ev])
    assert store.mark_target_published(ev, "sns") is True
    assert store.mark_target_published(ev, "sns") is True  # a set: recording twice changes nothing
    (row,) = store.unpublished(10, older_than=T0 + dt.timedelta(minutes=5))
    assert tuple(row.published_targets) == ("sns",)  # still in the outbox, for the other targets
    assert store.mark_published(ev, T0) is True
    assert store.mark_target_published(ev, "eventbridge") is False  # it has left the outbox


def test_a_failed_acm_delivery_waits_in_the_due_index_under_kind_d(store: Any) -> None:
    failed = AcmImport(region="eu-west-1", status="failed", error="X", retry_at=at(10), attempts=2)
    issued = (Revision(1, "order", issued_at=at(0)),)
    waiting = cert(1, status=Status.ISSUED, not_after=at(9999), next_poll_at=None, acm=failed, revisions=issued)
    imported = cert(2, status=Status.ISSUED, not_after=at(9999), next_poll_at=None, revisions=issued,
                    acm=AcmImport(region="eu-west-1", status="imported", arn="arn:x", revision=1))
    # never recorded (the process died after the issuance's save): due DELIVERY_GRACE_S after it
    untried = cert(3, status=Status.ISSUED, not_after=at(9999), next_poll_at=None, revisions=issued,
                   acm=AcmImport(region="eu-west-1"))
    for c in (waiting, imported, untried):
        store.create(c, [])
    assert store.get(waiting.id) == waiting and store.get(imported.id) == imported
    assert list(store.due("D", T0 + dt.timedelta(minutes=5), 100)) == []
    assert [c.id for c in store.due("D", T0 + dt.timedelta(minutes=7), 100)] == []
    assert [c.id for c in store.due("D", T0 + dt.timedelta(minutes=8.5), 100)] == [untried.id]  # at(3) + 5 min
    assert sorted(c.id for c in store.due("D", T0 + dt.timedelta(minutes=11), 100)) == sorted([waiting.id, untried.id])
    assert list(store.due("P", T0 + dt.timedelta(days=1), 100)) == []


# -- the sweeps: pages from a position, the persisted place ---------------------------------------------

def test_a_due_page_walks_the_index_from_a_position_to_its_end(store: Any) -> None:
    from chalicelib.core.sweeps import Position

    pending = [cert(n, next_poll_at=at(n)) for n in range(1, 11)]
    for c in pending:
        store.create(c, [])
    now = T0 + dt.timedelta(minutes=8)  # eight of them due
    seen: list[str] = []
    after: Position | None = None
    pages = 0
    while True:
        page = store.due_page("P", now, after, 3)
        pages += 1
        assert len(page.items) <= 3
        positions = [p for p, _ in page.items]
        assert positions == sorted(positions) and all(after is None or p > after for p in positions)
        seen += [c.id for _, c in page.items]
        if page.end:
            break
        after = positions[-1]
    assert sorted(seen) == sorted(c.id for c in pending[:8]) and len(seen) == 8  # each once
    assert pages <= 4
    # a position whose item has moved on still marks the place
    first = store.due_page("P", now, None, 1).items[0]
    moved = replace(store.get(first[1].id), version=2, next_poll_at=at(500))
    store.save(moved)
    rest = store.due_page("P", now, first[0], 100)
    assert rest.end and {c.id for _, c in rest.items} == {c.id for c in pending[:8]} - {first[1].id}


def test_an_expiring_page_is_the_expiry_index_in_walk_order(store: Any) -> None:
    issued = [cert(n, status=Status.ISSUED, not_after=at(100 + n), next_poll_at=None) for n in range(1, 6)]
    for c in issued:
        store.create(c, [])
    page = store.expiring_page(T0 + dt.timedelta(minutes=103), None, 10)
    assert page.end and {c.id for _, c in page.items} == {c.id for c in issued[:3]}
    full = store.expiring_page(T0 + dt.timedelta(minutes=200), None, 5)
    assert len(full.items) == 5


def test_an_action_page_is_the_next_action_index_in_walk_order_and_sparse(store: Any) -> None:
    from chalicelib.core.sweeps import Position

    filed = [cert(n, status=Status.ISSUED, not_after=at(1000 + n), next_poll_at=None, next_action_at=at(100 + n))
             for n in range(1, 8)]
    unfiled = cert(9, status=Status.ISSUED, not_after=at(50), next_poll_at=None)  # written before the index
    for c in [*filed, unfiled]:
        store.create(c, [])
    assert store.get(filed[0].id).next_action_at == at(101)  # round trip
    now = T0 + dt.timedelta(minutes=105)  # five due
    seen: list[str] = []
    after: Position | None = None
    while True:
        page = store.action_page(now, after, 2)
        positions = [p for p, _ in page.items]
        assert positions == sorted(positions) and all(after is None or p > after for p in positions)
        assert all(p.key == c.next_action_at for p, c in page.items)
        seen += [c.id for _, c in page.items]
        if page.end:
            break
        after = positions[-1]
    assert sorted(seen) == sorted(c.id for c in filed[:5])  # each once; the unfiled one is in none of it
    assert store.action_page(T0 + dt.timedelta(minutes=100), None, 10).items == []
    # handled: filed later (or no longer: nothing will be due), it leaves the head
    store.save(replace(store.get(filed[0].id), version=2, next_action_at=at(900)))
    store.save(replace(store.get(filed[1].id), version=2, status=Status.EXPIRED, next_action_at=None))
    left = {c.id for _, c in store.action_page(now, None, 10).items}
    assert left == {c.id for c in filed[2:5]}
    assert filed[0].id in {c.id for _, c in store.action_page(T0 + dt.timedelta(minutes=900), None, 10).items}


def test_a_sweeps_place_is_saved_conditionally(store: Any) -> None:
    from chalicelib.core.sweeps import Position

    state = store.sweep_state("renew_expiring")
    assert state.version == 0 and state.position is None
    claimed = state.claimed("run-1", T0, T0 + dt.timedelta(minutes=5)).next_version()
    store.save_sweep(claimed)
    with pytest.raises(ConcurrentModification):  # a duplicate invocation that read the same state
        store.save_sweep(state.claimed("run-2", T0, T0 + dt.timedelta(minutes=5)).next_version())
    moved = claimed.moved(Position(2, at(7), "crt_x")).next_version()
    store.save_sweep(moved)
    back = store.sweep_state("renew_expiring")
    assert back == moved and back.leased(T0) and not back.leased(T0 + dt.timedelta(minutes=6))
    store.save_sweep(back.wrapped(T0 + dt.timedelta(minutes=3)).released().next_version())
    done = store.sweep_state("renew_expiring")
    assert (done.position, done.cycles, done.last_cycle_s, done.lease_owner) == (None, 1, 180.0, None)


# -- a create as one write (issue 17 item 6): the first events inside the certificate's item -----------

def _trail(store: Any, c: Certificate, limit: int) -> list[str]:
    """The whole trail, page by page, as the API reads it (the stored certificate's first events merged)."""
    got: list[str] = []
    token = None
    for _ in range(20):
        first = store.get(c.id).first_events
        page, token = store.events(c.id, limit=limit, next_token=token, owner=OWNER, first_events=first)
        got += [e.event_id for e in page]
        if token is None:
            return got
    raise AssertionError("the trail never ended")


def test_the_first_events_read_back_in_their_place_until_the_first_save_files_them(store: Any) -> None:
    c = cert()
    requested = event(c, "certificate.requested", minutes=1)
    created = replace(c, first_events=(requested,))
    store.create(created, [])
    assert store.get(c.id) == created  # carried by the item, round trip included
    noted = [event(c, "order.noted", minutes=m) for m in (0, 2, 3)]  # rows before and after it
    store.append_events(c.id, noted)
    want = [noted[0].event_id, requested.event_id, noted[1].event_id, noted[2].event_id]
    for limit in (1, 2, 3, 100):
        assert _trail(store, c, limit) == want, limit
    assert not list(store.unpublished(10, older_than=T0 + dt.timedelta(days=1)))  # audit only: no outbox row

    submitted = event(c, "order.submitted", minutes=4)
    store.save(replace(created, version=2, status=Status.PENDING), [submitted])
    stored = store.get(c.id)
    assert stored.first_events == () and stored.version == 2
    assert _trail(store, c, 2) == [*want, submitted.event_id]  # now a row: listed once
    store.save(replace(stored, version=3))  # later saves carry nothing
    assert _trail(store, c, 100) == [*want, submitted.event_id]


def test_a_first_event_is_filed_once_whichever_save_comes_first(store: Any) -> None:
    c = cert()
    requested = event(c, "certificate.requested", minutes=1)
    created = replace(c, first_events=(requested,))
    store.create(created, [])
    store.save(replace(created, version=2))  # a save without events of its own files it too
    with pytest.raises(ConcurrentModification):  # a stale copy carrying it writes nothing
        store.save(replace(created, version=2, status=Status.FAILED), [event(c, "certificate.failed", 2)])
    with pytest.raises(AlreadyExists):  # a value carrying it past the first save: refused, not doubled
        store.save(replace(created, version=3))
    assert store.get(c.id).version == 2
    assert [e.event_id for e in store.events(c.id)[0]] == [requested.event_id]


def test_a_create_with_an_idempotency_key_carries_its_first_events_too(store: Any) -> None:
    c = cert()
    requested = event(c, "certificate.requested", minutes=1)
    store.create(replace(c, first_events=(requested,)), [], IdempotencyRecord(OWNER, "k-1", "h", c.id, at(1)))
    assert store.idempotency(OWNER, "k-1") is not None
    assert store.get(c.id).first_events == (requested,)
    with pytest.raises(AlreadyExists):
        store.create(replace(cert(2), first_events=(event(cert(2), "certificate.requested"),)), [],
                     IdempotencyRecord(OWNER, "k-1", "h", cert(2).id, at(2)))
    assert store.get(cert(2).id) is None


def test_a_create_without_idempotency_key_is_one_conditional_put_item(world: Any) -> None:
    """What ordering writes before the provider call: one PutItem, not a transaction; the lost race
    still reads as ConcurrentModification; with a key, one transaction of two items."""
    from chalicelib.adapters.dynamodb import schema
    from chalicelib.adapters.dynamodb.store import CertificateStore

    ddb = world.aws("dynamodb")
    table = f"single-{uuid.uuid4().hex[:10]}"
    ddb.create_table(**schema.table_definition(table))
    calls: list[tuple[str, int]] = []

    def seen(model: Any, params: dict[str, Any], **_: Any) -> None:
        calls.append((model.name, len(params.get("TransactItems") or [params])))

    ddb.meta.events.register("provide-client-params.dynamodb.*", seen)
    try:
        s = CertificateStore(lambda: ddb, table, shards=4)
        c = cert()
        s.create(replace(c, first_events=(event(c, "certificate.requested"),)), [])
        assert calls == [("PutItem", 1)]
        with pytest.raises(ConcurrentModification):
            s.create(c, [])
        calls.clear()
        c2 = cert(2)
        s.create(replace(c2, first_events=(event(c2, "certificate.requested"),)), [],
                 IdempotencyRecord(OWNER, "k-1", "h", c2.id, at(2)))
        assert calls == [("TransactWriteItems", 2)]  # the certificate and the idempotency record
    finally:
        ddb.meta.events.unregister("provide-client-params.dynamodb.*", seen)
        ddb.delete_table(TableName=table)
