"""--wait's progress display on stderr: a certgate.WaitObserver for Client.wait_until_issued().

On a terminal one line is redrawn in place each second (a countdown to the next check); elsewhere
(logs, CI) a whole line is written per check."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TextIO

from certgate.cli.render import ts
from certgate.errors import ApiError, ConnectionFailed
from certgate.models import Certificate

SPINNER = "|/-\\"


def fmt_duration(seconds: float) -> str:
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m}m{s:02d}s"
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m"


@dataclass
class Display:
    out: TextIO
    tty: bool
    _ticks: int = 0
    _width: int = 0
    _hinted: set[str] = field(default_factory=set)

    @property
    def tick_s(self) -> float:
        return 1.0 if self.tty else math.inf

    def _line(self, text: str) -> None:
        if self.tty:
            pad = max(0, self._width - len(text))
            self.out.write("\r" + text + " " * pad)
            self._width = len(text)
        else:
            self.out.write(text + "\n")
        self.out.flush()

    def end_line(self) -> None:
        """Clear the progress line (a terminal only; elsewhere every line is already complete)."""
        if self.tty and self._width:
            self.out.write("\r" + " " * self._width + "\r")
            self._width = 0
            self.out.flush()

    def note(self, text: str) -> None:
        """A message that stays (on a terminal: on its own line, the progress line redrawn after it)."""
        self.end_line()
        self.out.write(text + "\n")
        self.out.flush()

    # -- WaitObserver ---------------------------------------------------------------------------------------
    def waiting(self, cert: Certificate, elapsed_s: float, next_check_in_s: float) -> None:
        if cert.dcv_method and "validation" not in self._hinted:
            self._hinted.add("validation")
            self.note(f"{cert.id}: waiting for domain validation ({cert.dcv_method}); "
                      f"`certgate validation {cert.id}` shows what to publish")
        self._ticks += 1
        raw = cert.provider_refs.status
        what = cert.operation or "order"
        spin = SPINNER[self._ticks % len(SPINNER)] + " " if self.tty else ""
        self._line(f"{spin}{cert.id} {cert.status} ({what}" + (f", provider: {raw}" if raw else "")
                   + f"), {fmt_duration(elapsed_s)} elapsed, next check in {fmt_duration(next_check_in_s)}")

    def check_failed(self, what: str, error: ApiError | ConnectionFailed) -> None:
        if isinstance(error, ApiError):
            self.note(f"{what}: {error.status} {error.detail or error.title}; reading the recorded state instead")
        else:
            self.note(f"{what}: {error}; will retry")

    def done(self, cert: Certificate, elapsed_s: float) -> None:
        detail = ""
        if cert.status == "issued":
            detail = f" (serial {cert.serial}, not after {ts(cert.not_after)})"
        elif cert.failure:
            detail = f" ({cert.failure.reason or cert.failure.code})"
        self.note(f"{cert.id} {cert.status} after {fmt_duration(elapsed_s)}{detail}")
