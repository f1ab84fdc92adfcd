"""--wait: follow a pending certificate until it leaves `pending`, with a progress display on stderr.

Each check asks the provider now (POST /certificates/{id}/refresh, the poller's own code path);
when that fails for a passing reason (provider unavailable, a concurrent update) the check reads
GET /certificates/{id} instead, so the display stays current and the background poller's progress
still shows. Checks back off from INITIAL_DELAY_S by BACKOFF up to MAX_DELAY_S: a provider that
takes an hour to validate gets ~a hundred checks, not thousands. Clock and sleep are injected."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from certgate_cli.client import ApiError, Client, ConnectionFailed

INITIAL_DELAY_S = 2.0
BACKOFF = 1.5
MAX_DELAY_S = 30.0
TRANSIENT = frozenset({409, 502, 503, 504})
SPINNER = "|/-\\"


class WaitTimeout(Exception):
    def __init__(self, cert: dict[str, Any], waited_s: float) -> None:
        super().__init__(f"{cert['id']} still {cert['status']} after {waited_s:.0f} s")
        self.cert, self.waited_s = cert, waited_s


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
    """One line rewritten in place on a terminal; one line per check otherwise (logs, CI)."""

    out: TextIO
    tty: bool
    _ticks: int = 0
    _width: int = 0
    _hinted: set[str] = field(default_factory=set)

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

    def pending(self, cert: dict[str, Any], elapsed: float, next_in: float) -> None:
        if cert.get("dcv_method") and "validation" not in self._hinted:
            self._hinted.add("validation")
            self.note(f"{cert['id']}: waiting for domain validation ({cert['dcv_method']}); "
                      f"`certgate validation {cert['id']}` shows what to publish")
        self._ticks += 1
        raw = (cert.get("provider_refs") or {}).get("status")
        what = cert.get("operation") or "order"
        spin = SPINNER[self._ticks % len(SPINNER)] + " " if self.tty else ""
        self._line(f"{spin}{cert['id']} {cert['status']} ({what}" + (f", provider: {raw}" if raw else "")
                   + f"), {fmt_duration(elapsed)} elapsed, next check in {fmt_duration(next_in)}")

    def done(self, cert: dict[str, Any], elapsed: float) -> None:
        detail = ""
        if cert["status"] == "issued":
            detail = f" (serial {cert.get('serial')}, not after {cert.get('not_after')})"
        elif cert.get("failure"):
            detail = f" ({cert['failure'].get('reason') or cert['failure'].get('code')})"
        self.note(f"{cert['id']} {cert['status']} after {fmt_duration(elapsed)}{detail}")


def check(client: Client, cert_id: str, display: Display) -> dict[str, Any] | None:
    """The certificate now: refreshed at the provider if possible, else as last recorded."""
    try:
        return client.json("POST", f"/certificates/{cert_id}/refresh")
    except ApiError as err:
        if err.status not in TRANSIENT:
            raise
        display.note(f"refresh: {err.status} {err.problem.get('detail') or err.problem.get('title')}; reading the "
                     "recorded state instead")
    except ConnectionFailed as err:
        display.note(f"refresh: {err}; will retry")
        return None
    try:
        return client.json("GET", f"/certificates/{cert_id}")
    except ConnectionFailed as err:
        display.note(f"read: {err}; will retry")
        return None


def wait_for(client: Client, cert: dict[str, Any], *, timeout_s: float, display: Display,
             clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """Follow `cert` until it is no longer pending; the final certificate. WaitTimeout past timeout_s."""
    started = clock()
    delay = INITIAL_DELAY_S
    while cert["status"] == "pending":
        elapsed = clock() - started
        if elapsed >= timeout_s:
            display.end_line()
            raise WaitTimeout(cert, elapsed)
        pause = min(delay, timeout_s - elapsed)
        # Sleep in one-second steps so a terminal shows the countdown move.
        until = clock() + pause
        while (left := until - clock()) > 0:
            display.pending(cert, clock() - started, left)
            sleep(min(1.0, left) if display.tty else left)
        delay = min(delay * BACKOFF, MAX_DELAY_S)
        cert = check(client, cert["id"], display) or cert
    display.done(cert, clock() - started)
    return cert
