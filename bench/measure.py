"""How every benchmark measures and reports.

Machines are shared and noisy, so a figure is never an absolute time: it is a ratio of two things
measured side by side in the same run (repetitions interleaved A, B, A, B, ... and the median of
each taken), or a count that does not depend on the machine. Every script ends with exactly one
line produced by `Figure.line()`, which `bench/run_all.py` collects."""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

RESULT_PREFIX = "RESULT"


@dataclass(frozen=True)
class Figure:
    name: str
    measured: float
    goal: float | None  # None: descriptive, no goal set
    unit: str  # "x" for ratios, " items", " MB", " s"
    how: str

    @property
    def met(self) -> bool:
        return self.goal is None or self.measured <= self.goal

    def line(self) -> str:
        if self.goal is None:
            return f"{RESULT_PREFIX} {self.name}: {self.measured:.3g}{self.unit} (no goal) | {self.how}"
        verdict = "MET" if self.met else "MISSED"
        return (f"{RESULT_PREFIX} {self.name}: {self.measured:.3g}{self.unit} (goal <= {self.goal:g}{self.unit}) "
                f"{verdict} | {self.how}")


def report(figure: Figure) -> None:
    """Print the figure as the script's last line (flushed: run_all reads it from a pipe)."""
    sys.stdout.flush()
    print(figure.line(), flush=True)


def say(text: str) -> None:
    print(text, flush=True)


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


@dataclass(frozen=True)
class Paired:
    a: list[float]
    b: list[float]

    @property
    def median_a(self) -> float:
        return statistics.median(self.a)

    @property
    def median_b(self) -> float:
        return statistics.median(self.b)

    @property
    def ratio(self) -> float:
        return self.median_a / self.median_b

    def describe(self, label_a: str, label_b: str, scale: float = 1000.0, unit: str = "ms") -> str:
        return (f"{label_a} median {self.median_a * scale:.1f} {unit} (min {min(self.a) * scale:.1f}, "
                f"max {max(self.a) * scale:.1f}) vs {label_b} median {self.median_b * scale:.1f} {unit} "
                f"(min {min(self.b) * scale:.1f}, max {max(self.b) * scale:.1f}), {len(self.a)} interleaved pairs")


def interleaved(run_a: Callable[[], float], run_b: Callable[[], float], repetitions: int) -> Paired:
    """Run A and B alternately, `repetitions` times each; each callable returns its own duration
    (so set-up outside the measured part is not counted). The order flips every round so neither
    side always runs right after the other."""
    a: list[float] = []
    b: list[float] = []
    for i in range(repetitions):
        if i % 2 == 0:
            a.append(run_a())
            b.append(run_b())
        else:
            b.append(run_b())
            a.append(run_a())
    return Paired(a, b)
