"""When a certificate is renewed, how, and when its holder is told it will expire. Pure: no I/O.

- The renewal window is relative to the certificate's lifetime (not_before .. not_after): renewal
  starts when `remaining_fraction` of it remains (default one third, as cert-manager and ACME
  clients do), a little earlier per certificate — a deterministic jitter from a hash of its id, up
  to `jitter` of the window — so a fleet issued in one day does not renew in one minute. The
  jitter only moves the start earlier: every certificate starts renewing by the time the fraction
  remains.
- `certificate.expiring` notices go to certificates that will not be renewed automatically, when
  1/3, 1/6 and 1/30 of the lifetime remains (`notice_offsets`, denominators), once per offset
  (the last offset sent is recorded on the certificate with the not_after it was about; a new
  certificate starts over). A certificate seen late gets only the nearest offset, not all. An
  auto-renewed certificate still gets the offsets that come after its renewal window: its
  renewal has not happened (failed, or the provider holds it).
- Plan-aware: inside the paid plan (`coverage_until`, DigiCert's order_validity) a new
  certificate is a free reissue on the same order; at the end of the plan a paid renewal."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from chalicelib.core.model import Certificate, Status, parse_iso

DEFAULT_LIFETIME_DAYS = 397  # a certificate whose not_before is unknown (and validity_days unset)


@dataclass(frozen=True)
class RenewalRules:
    remaining_fraction: float = 1 / 3
    jitter: float = 0.1  # of the renewal window, at most (earlier start)
    notice_offsets: tuple[int, ...] = (3, 6, 30)  # notices when 1/n of the lifetime remains
    max_lifetime_days: int = 398  # the longest lifetime any certificate has (the sweep's horizon)
    retry_after_s: float = 12 * 3600  # a renewal the provider refused is tried again this much later

    def horizon(self, now: dt.datetime) -> dt.datetime:
        """The latest not_after a sweep must look at: the earliest of any certificate's
        renewal or notice starts lies before this."""
        widest = max(self.remaining_fraction * (1 + self.jitter),
                     *(1 / n for n in self.notice_offsets if n > 0))
        return now + dt.timedelta(days=self.max_lifetime_days * widest)


def lifetime(cert: Certificate) -> dt.timedelta:
    end, start = parse_iso(cert.not_after), parse_iso(cert.not_before)
    if end is not None and start is not None and end > start:
        return end - start
    return dt.timedelta(days=cert.validity_days or DEFAULT_LIFETIME_DAYS)


def jitter_share(cert_id: str) -> float:
    """A number in [0, 1) fixed per certificate (the same on every run and every process)."""
    return int.from_bytes(hashlib.sha256(cert_id.encode()).digest()[:8], "big") / 2 ** 64


def renewal_starts_at(cert: Certificate, rules: RenewalRules) -> dt.datetime | None:
    end = parse_iso(cert.not_after)
    if end is None:
        return None
    window = lifetime(cert) * rules.remaining_fraction
    return end - window * (1 + rules.jitter * jitter_share(cert.id))


def renewal_due(cert: Certificate, now: dt.datetime, rules: RenewalRules) -> bool:
    """An auto-renewed, issued certificate whose renewal window has begun, and which the sweep
    has not tried to renew in the last `retry_after_s` (a refused renewal is not retried on
    every run)."""
    start = renewal_starts_at(cert, rules)
    tried = parse_iso(cert.renewal_attempted_at)
    if tried is not None and (now - tried).total_seconds() < rules.retry_after_s:
        return False
    return (cert.auto_renew and cert.status is Status.ISSUED and start is not None and start <= now
            and now < (parse_iso(cert.not_after) or now))


def _notified(cert: Certificate) -> int:
    """The last notice offset sent for the current certificate (0: none)."""
    return cert.notice_offset or 0 if cert.notice_not_after == cert.not_after else 0


def _offsets(cert: Certificate, rules: RenewalRules) -> list[int]:
    """The offsets that apply: all without auto-renewal, only those past the renewal window with it."""
    offsets = sorted(n for n in rules.notice_offsets if n > 0)
    if cert.auto_renew:
        offsets = [n for n in offsets if 1 / n < rules.remaining_fraction]
    return offsets


def notice_at(cert: Certificate, offset: int) -> dt.datetime | None:
    end = parse_iso(cert.not_after)
    return None if end is None else end - lifetime(cert) / offset


def notice_due(cert: Certificate, now: dt.datetime, rules: RenewalRules) -> int | None:
    """The notice offset crossed and not yet sent (only the nearest), if any."""
    end = parse_iso(cert.not_after)
    if end is None or cert.status is not Status.ISSUED or now >= end:
        return None
    crossed = [n for n in _offsets(cert, rules) if (notice_at(cert, n) or end) <= now]
    if not crossed or max(crossed) <= _notified(cert):
        return None
    return max(crossed)


def due_at(cert: Certificate, now: dt.datetime, rules: RenewalRules) -> dt.datetime | None:
    """When the certificate's pending action (expiry, renewal, a notice) became due, if one is
    due now (None: nothing to do for it now). For the backlog's age."""
    end = parse_iso(cert.not_after)
    if end is None or cert.status is not Status.ISSUED:
        return None
    if end <= now:
        return end
    times = []
    if renewal_due(cert, now, rules):
        times.append(renewal_starts_at(cert, rules))
    offset = notice_due(cert, now, rules)
    if offset is not None:
        times.append(notice_at(cert, offset))
    found = [t for t in times if t is not None]
    return min(found) if found else None


# -- the plan ---------------------------------------------------------------------------------------

def coverage_until(cert: Certificate, renewal: str, default_years: int = 1) -> dt.datetime | None:
    """The end of the paid plan the certificate is on: where the provider sells plans
    (`renewal == "plan"`), `order_validity_years` (default `default_years`) from the date of the
    latest paid order (the certificate's creation, or the last paid renewal's issuance); None
    where it does not."""
    if renewal != "plan":
        return None
    years = int(cert.provider_options.get("order_validity_years") or default_years)
    renewals = [r for r in cert.revisions if r.reason == "renew" and r.issued_at]
    start = (parse_iso(max(renewals, key=lambda r: r.number).issued_at) if renewals
             else parse_iso(cert.created_at))  # the order date (the first order: the certificate's)
    if start is None:
        return None
    try:
        return start.replace(year=start.year + years)
    except ValueError:  # 29 February
        return start.replace(year=start.year + years, day=28)


def renewal_operation(cert: Certificate, renewal: str, coverage: dt.datetime | None) -> str:
    """How the automatic renewal gets the next certificate: a free "reissue" on the same order
    while the plan outlasts the current certificate, a paid "renew" at its end; providers
    without plans renew as their `renewal` capability says."""
    if renewal == "plan":
        end = parse_iso(cert.not_after)
        return "reissue" if coverage is not None and end is not None and coverage > end else "renew"
    return "reissue" if renewal == "reissue" else "renew"


# -- the next-action index ----------------------------------------------------------------------------

def next_action_at(cert: Certificate, rules: RenewalRules) -> dt.datetime | None:
    """The earliest time renew_expiring has something to do for the certificate, as it stands:
    its `expired` step (not_after), its next notice not yet sent, its renewal (the window's
    start, or the retry after a refused try). None when nothing will ever be due (not issued,
    no not_after). The certificate is filed under it (the sparse `action` index), so that a run
    reads only what is due; every save recomputes it. The same boundaries as the steps:
    each is due from the instant given here (inclusive)."""
    end = parse_iso(cert.not_after)
    if end is None or cert.status is not Status.ISSUED:
        return None
    times = [end]
    sent = _notified(cert)
    pending = [n for n in _offsets(cert, rules) if n > sent]
    if pending:
        times.append(notice_at(cert, min(pending)) or end)  # the nearest: offsets come in order
    start = renewal_starts_at(cert, rules)
    if cert.auto_renew and start is not None:
        tried = parse_iso(cert.renewal_attempted_at)
        retry = tried + dt.timedelta(seconds=rules.retry_after_s) if tried is not None else start
        times.append(max(start, retry))
    return min(times)


# -- the fleet's expiry (service/fleet.py) -------------------------------------------------------------

def successor_under_way(cert: Certificate) -> bool:
    """A reissue or renewal is getting the certificate's successor: pending again after an issuance."""
    return cert.status is Status.PENDING and cert.issued_revision is not None


def lacks_successor(cert: Certificate) -> bool:
    """An issued certificate nothing is replacing: no reissue or renewal under way, and no revoke
    or cancel either (a certificate being withdrawn is not waiting for a successor)."""
    return cert.status is Status.ISSUED and cert.operation is None and not cert.revocation_waiting


def in_window_not_renewing(cert: Certificate, now: dt.datetime, rules: RenewalRules) -> bool:
    """An auto-renewed certificate inside its renewal window (and not expired) with no successor
    under way: one the renewal sweep has not reached yet, or whose renewal the provider refused."""
    start, end = renewal_starts_at(cert, rules), parse_iso(cert.not_after)
    return (cert.auto_renew and lacks_successor(cert) and start is not None and end is not None
            and start <= now < end)
