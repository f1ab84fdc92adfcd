"""The fleet's expiry at a glance, as metrics after each renew_expiring run (infra/resources.yaml
alarms on them): the days left to the earliest expiry, the certificates expiring within
`ALARM_DAYS` with no successor under way, and the auto-renewed ones inside their renewal window
not yet renewing.

None of it is a scan of the fleet. The certificates near expiry are the expiry index up to now +
ALARM_DAYS; the earliest expiry is the first of them, or (none near) the head of each shard of
that index. The ones in their
renewal window are found in the `action` index up to now + the renewal retry interval: an
auto-renewed certificate inside its window is filed there no later than that (core/renewal.py
`next_action_at`: its renewal is due now, or again one retry interval after its last try). So a
run reads what falls due soon, not what is fine. Each walk stops at `limit` items (the counts
are then at least what is reported, `complete` False)."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chalicelib.core import renewal
from chalicelib.core.model import parse_iso
from chalicelib.observability import count

if TYPE_CHECKING:
    from chalicelib.service.certificates import CertificateService

log = logging.getLogger("certgate.fleet")

ALARM_DAYS = 7  # the ExpiringWithoutSuccessor window (the "within 7 days of expiry")


@dataclass(frozen=True)
class FleetExpiry:
    min_days_to_expiry: float | None  # None: no certificate out there
    expiring_without_successor: int
    in_window_not_renewing: int
    complete: bool = True  # False: a walk stopped at its limit; the counts are lower bounds


def fleet_expiry(svc: CertificateService, now: dt.datetime, *, limit: int = 2000) -> FleetExpiry:
    store, rules = svc.store, svc.cfg.renewal
    near = list(store.expiring(now + dt.timedelta(days=ALARM_DAYS), limit))
    # The walk holds the head of every shard up to its end: the earliest expiry, when anything is near.
    earliest = parse_iso(min((c.not_after or "" for c in near), default=None) or store.earliest_expiry())
    days = None if earliest is None else round((earliest - now).total_seconds() / 86400, 2)
    without = sum(1 for c in near if renewal.lacks_successor(c))
    soon = list(store.actionable(now + dt.timedelta(seconds=rules.retry_after_s), limit))
    not_renewing = sum(1 for c in soon if renewal.in_window_not_renewing(c, now, rules))
    complete = len(near) < limit and len(soon) < limit
    return FleetExpiry(days, without, not_renewing, complete)


def report_fleet_expiry(svc: CertificateService, now: dt.datetime) -> FleetExpiry:
    """`fleet_expiry` as metrics (no days metric for an empty fleet: nothing expires)."""
    fleet = fleet_expiry(svc, now)
    if fleet.min_days_to_expiry is not None:
        count("FleetMinDaysToExpiry", fleet.min_days_to_expiry)
    count("ExpiringWithoutSuccessor", fleet.expiring_without_successor)
    count("RenewalWindowNotRenewing", fleet.in_window_not_renewing)
    log.info("fleet expiry", extra={"fleet": fleet.__dict__})
    return fleet
