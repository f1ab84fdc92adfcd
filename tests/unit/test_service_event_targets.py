"""Two publish targets from one outbox (issue 19 item 3): SNS and the EventBridge bus each take
every published event once; a target that refused is retried by `flush_outbox` alone, without
sending again to the one that already took the event."""

from __future__ import annotations

from chalicelib.service.certificates import CertificateService
from tests.fakes import FakePublisher
from tests.unit.service_kit import Fakes


def with_bus(fx: Fakes) -> FakePublisher:
    bus = FakePublisher(target="eventbridge")
    fx.svc = CertificateService(cfg=fx.svc.cfg, store=fx.store, artifacts=fx.artifacts, publisher=fx.publisher,
                                vault=fx.vault, directory=fx.providers, clock=fx.clock, more_publishers=[bus])
    return bus


def test_every_published_event_goes_to_both_targets_once(fx: Fakes) -> None:
    bus = with_bus(fx)
    cert = fx.order("tinycert")
    assert fx.publisher.kinds(cert.id) == ["certificate.issued"] and bus.kinds(cert.id) == ["certificate.issued"]
    assert bus.published[0].event_id == fx.publisher.published[0].event_id
    assert fx.store.outbox() == [] and fx.svc.flush_outbox(grace_s=0) == 0


def test_a_failing_bus_is_retried_by_the_flush_without_republishing_to_sns(fx: Fakes) -> None:
    bus = with_bus(fx)
    bus.fail()  # the bus refuses; SNS takes the event
    cert = fx.order("tinycert")
    assert fx.publisher.kinds(cert.id) == ["certificate.issued"] and bus.published == []
    [row] = fx.store.outbox()  # still in the outbox, for the bus only
    fx.clock.advance(seconds=61)
    assert fx.svc.flush_outbox() == 0  # the bus is still down: nothing sent anywhere
    [again] = list(fx.store.unpublished(10))
    assert again.event_id == row.event_id and list(again.published_targets) == ["sns"]
    bus.recover()
    assert fx.svc.flush_outbox() == 1
    assert bus.kinds(cert.id) == ["certificate.issued"]
    assert fx.publisher.kinds(cert.id) == ["certificate.issued"]  # SNS got it once, not once per flush
    assert fx.store.outbox() == [] and fx.svc.flush_outbox() == 0


def test_a_failing_topic_is_retried_alone_while_the_bus_took_the_event(fx: Fakes) -> None:
    bus = with_bus(fx)
    fx.publisher.fail(times=1)
    cert = fx.order("tinycert")
    assert fx.publisher.published == [] and bus.kinds(cert.id) == ["certificate.issued"]
    fx.clock.advance(seconds=61)
    assert fx.svc.flush_outbox() == 1
    assert fx.publisher.kinds(cert.id) == ["certificate.issued"] and bus.kinds(cert.id) == ["certificate.issued"]


def test_without_a_bus_only_sns_is_a_target(fx: Fakes) -> None:
    assert [p.target for p in fx.svc.publishers] == ["sns"]
