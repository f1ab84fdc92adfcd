"""The outbox (design.md 5): an event row is written with its state change; publishing happens
after, inline once and again from every job run until every target (SNS, the EventBridge bus
when one is configured) took it. At least once per target, never lost; a target that took the
event is recorded on the row (`published_targets`), so a retry sends only to the others."""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING

from chalicelib.core.errors import (
    DependencyFailed,
)
from chalicelib.core.model import (
    Event,
    parse_iso,
)
from chalicelib.observability import count

if TYPE_CHECKING:
    from chalicelib.service.certificates import CertificateService

log = logging.getLogger("certgate.service")


def publish_one(svc: CertificateService, ev: Event) -> bool:
    """Publish now to every target that has not taken `ev` yet; on any failure the outbox row
    stays (with the targets that took it recorded) and the next job run retries the rest."""
    done, failed = set(ev.published_targets), False
    for publisher in svc.publishers:
        if publisher.target in done:
            continue
        try:
            publisher.publish(ev)
        except DependencyFailed as exc:
            log.warning("event publish deferred to the outbox",
                        extra={"event_id": ev.event_id, "target": publisher.target, "error": exc.code})
            failed = True
            continue
        done.add(publisher.target)
        count("EventsPublished", event=ev.kind, provider=ev.provider or "unknown", target=publisher.target)
    if failed:
        for target in sorted(done - set(ev.published_targets)):
            svc.store.mark_target_published(ev, target)
        return False
    svc.store.mark_published(ev, svc.clock())
    return True


# How long a flusher holds an outbox row while it publishes: longer than one SNS publish with its
# retries takes, so a live flusher is never overtaken; short enough that a crashed one delays
# the event by minutes, not hours.
PUBLISH_LEASE_S = 120.0


def flush_outbox(svc: CertificateService, limit: int = 500, grace_s: int = 60) -> int:
    """Publish events whose inline publish did not happen (older than `grace_s`, so an inline
    publish still running is not raced). Each row is claimed before it is sent: flushers that
    run at once (overlapping schedules, a manual run) send each event once, not once each.
    Then reports the outbox's age (`OutboxAge`)."""
    sent = 0
    cutoff = svc.clock() - dt.timedelta(seconds=grace_s)
    due = list(svc.store.unpublished(limit, older_than=cutoff))
    for ev in due:
        if not svc.store.claim_for_publish(ev, svc.clock(), PUBLISH_LEASE_S):
            count("OutboxClaimLost", event=ev.kind)
            continue
        if publish_one(svc, ev):
            sent += 1
        else:
            svc.store.release_publish_claim(ev)
    report_outbox_age(svc, waited=bool(due))
    return sent


def report_outbox_age(svc: CertificateService, *, waited: bool) -> float:
    """The age of the oldest event still in the outbox, as OutboxAge: an event no flush could
    publish for long means a target is failing (alarmed at 15 minutes). When the flush found no
    event older than its grace (`waited` False: the usual case, inline publishes succeed) that
    is 0 at no cost; otherwise one read of the head of each outbox shard."""
    oldest = parse_iso(svc.store.oldest_unpublished()) if waited else None
    age = max(0.0, (svc.clock() - oldest).total_seconds()) if oldest is not None else 0.0
    count("OutboxAge", age)
    return age
