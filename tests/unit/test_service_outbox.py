"""The transactional outbox on fakes: a state change and its event rows land together; published
kinds are sent right away, and what the topic refused stays in the outbox until a job's
`flush_outbox` sends it — once, whoever else is flushing."""

from __future__ import annotations

from chalicelib.core.model import PUBLISHED_EVENTS
from tests.unit.service_kit import Fakes


def test_audit_only_kinds_never_enter_the_outbox(fx: Fakes) -> None:
    cert = fx.order("resello")
    assert {e.kind for e in fx.store.all_events(cert.id)} == {"certificate.requested", "order.submitted"}
    assert not {"certificate.requested", "order.submitted"} & PUBLISHED_EVENTS
    assert fx.store.outbox() == [] and fx.publisher.published == []


def test_a_published_event_leaves_the_outbox(fx: Fakes) -> None:
    cert = fx.order("tinycert")
    assert fx.publisher.kinds() == ["certificate.issued"]
    assert fx.store.outbox() == [] and fx.svc.flush_outbox() == 0
    assert fx.publisher.published[0].certificate_id == cert.id


def test_a_refused_publish_leaves_the_event_for_the_next_flush_which_sends_it_once(fx: Fakes) -> None:
    fx.publisher.fail()  # the topic is unreachable
    cert = fx.order("tinycert")
    assert fx.current(cert).status.value == "issued"  # the change itself is not held up
    assert [e.kind for e in fx.store.outbox()] == ["certificate.issued"] and fx.publisher.published == []
    fx.publisher.recover()
    assert fx.svc.flush_outbox() == 0  # younger than the grace period: an inline publish may still be running
    fx.clock.advance(seconds=61)
    assert fx.svc.flush_outbox() == 1
    assert fx.publisher.kinds() == ["certificate.issued"] and fx.store.outbox() == []
    assert fx.svc.flush_outbox() == 0 and len(fx.publisher.published) == 1


def test_a_flush_while_the_topic_is_still_down_keeps_everything(fx: Fakes) -> None:
    fx.publisher.fail()
    fx.order("tinycert", "a.example.com")
    fx.order("tinycert", "b.example.com")
    fx.clock.advance(seconds=120)
    assert fx.svc.flush_outbox() == 0 and len(fx.store.outbox()) == 2
    fx.publisher.fail(times=1)  # one more refusal, then the topic is back
    assert fx.svc.flush_outbox() == 1 and len(fx.store.outbox()) == 1
    assert fx.svc.flush_outbox() == 1 and fx.store.outbox() == []


def test_marking_published_is_won_once(fx: Fakes) -> None:
    """Two flushers read the same outbox row: only one takes it out (the other's send is the
    at-least-once duplicate subscribers dedupe by event_id)."""
    fx.publisher.fail()
    fx.order("tinycert")
    fx.publisher.recover()
    fx.clock.advance(seconds=120)
    seen_by_both = list(fx.store.unpublished(10, older_than=fx.clock()))
    assert len(seen_by_both) == 1
    event = seen_by_both[0]
    assert fx.store.mark_published(event, fx.clock()) is True
    assert fx.store.mark_published(event, fx.clock()) is False
    assert fx.svc.flush_outbox() == 0 and fx.publisher.published == []  # nothing left for a later flush


def test_an_event_snapshot_says_what_the_certificate_was_when_it_happened(fx: Fakes) -> None:
    fx.publisher.fail()
    cert = fx.order("digicert")
    fx.provider("digicert").issue(cert.provider_order_id or "")
    issued = fx.svc.refresh(cert, actor="test")
    fx.svc.revoke(fx.principal, issued, None)
    fx.publisher.recover()
    fx.clock.advance(seconds=120)
    assert fx.svc.flush_outbox() == 2
    by_kind = {e.kind: e.detail["certificate"]["status"] for e in fx.publisher.published}
    assert by_kind == {"certificate.issued": "issued", "certificate.revoked": "revoked"}


def test_concurrent_flushers_publish_each_event_once(fx: Fakes) -> None:
    """Three flush_outbox runs at once over the same twelve rows (overlapping schedules): every
    row is claimed before it is sent, so twelve messages go out, not thirty-six."""
    import threading

    fx.publisher.fail()
    for i in range(12):
        fx.order("tinycert", f"c{i}.example.com")
    fx.publisher.recover()
    fx.clock.advance(seconds=120)
    start = threading.Barrier(3)
    publish = fx.publisher.publish

    def slow_publish(ev):  # every flusher reads the whole outbox before anyone marks a row
        import time

        time.sleep(0.01)
        publish(ev)

    fx.publisher.publish = slow_publish  # type: ignore[method-assign]
    sent: list[int] = []

    def flusher() -> None:
        rows = list(fx.store.unpublished(100, older_than=fx.clock()))
        assert len(rows) == 12
        start.wait()
        sent.append(fx.svc.flush_outbox())

    threads = [threading.Thread(target=flusher) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(sent) == 12 and len(fx.publisher.published) == 12
    assert len({e.event_id for e in fx.publisher.published}) == 12 and fx.store.outbox() == []


def test_a_flusher_that_died_holding_a_row_delays_it_by_the_lease_only(fx: Fakes) -> None:
    from chalicelib.service.outbox import PUBLISH_LEASE_S

    fx.publisher.fail()
    fx.order("tinycert")
    fx.publisher.recover()
    fx.clock.advance(seconds=120)
    [row] = list(fx.store.unpublished(10, older_than=fx.clock()))
    assert fx.store.claim_for_publish(row, fx.clock(), PUBLISH_LEASE_S)  # ... and then the process dies
    assert fx.svc.flush_outbox() == 0 and fx.publisher.published == []
    fx.clock.advance(seconds=PUBLISH_LEASE_S)
    assert fx.svc.flush_outbox() == 1 and len(fx.publisher.published) == 1
