"""bench/fleet_year at a small size, so that a service rule which breaks the benchmark (as OV's
organization rule once did) fails here rather than on the next person's bench run. The outcome
figures are the benchmark's own goals: nothing expires without a successor, no order, notice or
late renewal beyond its window, and the year really renewed, lost answers and crossed the 3-day outage (days 100–103)."""

from __future__ import annotations

from bench.fleet_year import Run, fleet_year


def test_a_short_47_day_fleet_renews_everything_on_time_through_lost_answers_and_an_outage() -> None:
    out = fleet_year(Run(certs=60, rules="47d", days=105, lost_rate=0.1))

    assert out["_renewals"] >= 60  # every certificate renewed at least once in 105 days of 47-day lifetimes
    assert out["_lost_answers"] > 0  # and some renewals lost their answer on the way
    assert out["expired_without_successor"] == 0
    assert out["duplicate_orders"] == 0
    assert out["late_renewals"] == 0
    assert out["late_notices"] == 0
    assert out["duplicate_notices"] == 0
    assert out["_events_published_twice"] == 0
