"""How long a certificate may live, by issuance date: the one table of lifetime rules.

Public TLS certificates follow CA/Browser Forum ballot SC-081 (Baseline Requirements 6.3.2): at
most 398 days before 15 Mar 2026, 200 days from then, 100 days from 15 Mar 2027 and 47 days from
15 Mar 2029. DigiCert applies its own cut one day under each step, and its first came early: 199
days since 24 Feb 2026 ("End of 397-day public TLS/SSL certificates", DigiCert notice; see
providers.md). Private CAs are not bound by the ballot: TinyCert issues for one year (no validity
parameter exists), DigiCert private SSL keeps the 397 days it always had (no source says
otherwise: marked as our assumption in providers.md terms).

`Lifetime.decide` turns a request into the validity to ask for: the provider's maximum on the
issuance date by default; a longer request is clamped to it (reported as `validity_clamped`) or,
when the caller asked for `validity_strict`, refused. Pure: no clock, no I/O.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

__all__ = ["CABF_TLS", "DIGICERT_PUBLIC", "Lifetime", "LifetimeDecision", "Schedule", "fixed"]


@dataclass(frozen=True)
class Schedule:
    """Maximum validity in days, in steps: `steps[i] = (first issuance date, max days)`, ascending."""

    name: str
    steps: tuple[tuple[dt.date, int], ...]

    def max_days(self, on: dt.date) -> int:
        best = self.steps[0][1]
        for start, days in self.steps:
            if on >= start:
                best = days
        return best

    def to_list(self) -> list[dict[str, object]]:
        return [{"from": start.isoformat(), "max_validity_days": days} for start, days in self.steps]


def fixed(name: str, days: int) -> Schedule:
    return Schedule(name, ((dt.date.min, days),))


# CA/B Forum Baseline Requirements 6.3.2 as amended by SC-081v3.
CABF_TLS = Schedule("CA/B Forum SC-081", (
    (dt.date.min, 398),
    (dt.date(2026, 3, 15), 200),
    (dt.date(2027, 3, 15), 100),
    (dt.date(2029, 3, 15), 47),
))

# DigiCert: "a day under" each step, the first from 24 Feb 2026 (providers.md, DigiCert notice).
DIGICERT_PUBLIC = Schedule("DigiCert public TLS", (
    (dt.date.min, 397),
    (dt.date(2026, 2, 24), 199),
    (dt.date(2027, 3, 15), 99),
    (dt.date(2029, 3, 15), 46),
))


@dataclass(frozen=True)
class LifetimeDecision:
    days: int  # what to ask the provider for (or, without a parameter, what it issues)
    clamped: bool  # the caller asked for more than the provider may issue on that date
    requested: int | None  # what the caller asked for (None: the default)


@dataclass(frozen=True)
class Lifetime:
    """One provider's lifetime rules: a schedule per product (`default` for the rest), and whether
    the provider takes a validity at all (`parameter`; without one, a requested validity is refused
    rather than silently ignored)."""

    default: Schedule
    by_product: tuple[tuple[str, Schedule], ...] = ()
    parameter: bool = True

    def schedule(self, product: str) -> Schedule:
        return next((s for p, s in self.by_product if p == product), self.default)

    def max_days(self, product: str, on: dt.date) -> int:
        return self.schedule(product).max_days(on)

    def decide(self, product: str, on: dt.date, requested: int | None, *, strict: bool = False) -> LifetimeDecision:
        """The validity for an order issued `on`; raises ValueError (the message names the limit)
        for a request that cannot be honoured."""
        limit = self.max_days(product, on)
        if requested is None:
            return LifetimeDecision(limit, False, None)
        if requested < 1:
            raise ValueError("must be at least 1")
        if not self.parameter:
            raise ValueError(f"cannot be chosen here: certificates are issued for {limit} days "
                             "(the provider takes no validity)")
        if requested <= limit:
            return LifetimeDecision(requested, False, requested)
        if strict:
            raise ValueError(f"must be at most {limit} on {on.isoformat()} ({self.schedule(product).name}); "
                             "without validity_strict it would be clamped")
        return LifetimeDecision(limit, True, requested)
