"""The one HTTP layer the adapters share: a requests Session per provider, connect/read
timeouts, TLS verification, ONE bounded retry loop with full-jitter backoff for safe calls only,
`Retry-After` honoured (and our own capped full-jitter schedule when a 429 carries none, as
DigiCert's does), a client-side limiter per adapter so one process stays inside a provider's
documented request limits, every failure turned into a typed error, and the one scrubber that
keeps credentials out of every error message.

Error answers are read in two steps. The adapter's `read_error(status, body)` recognises its
provider's error body (the decoded JSON, or None) and returns an `ErrorReading`, or None when the
body is not in its provider's shape; `error_of` turns that reading into the typed error. Only the
statuses that mean the same whoever answered (a proxy, a load balancer) are trusted on their own."""

from __future__ import annotations

import bisect
import collections
import contextlib
import json
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, TypeVar

from chalicelib.core import errors
from chalicelib.core.errors import (
    FieldError,
    ProviderError,
    ProviderProtocolError,
    ProviderRejected,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)

if TYPE_CHECKING:
    import requests

T = TypeVar("T")
REDACTED = "***"
MAX_MESSAGE = 500  # characters of provider text kept in an error


@dataclass(frozen=True)
class HttpSettings:
    connect_timeout: float = 3.05
    read_timeout: float = 20.0
    max_attempts: int = 3
    backoff_base: float = 0.2
    backoff_cap: float = 5.0
    max_retry_after: float = 10.0  # never sleep longer than this inside one request
    # A 429 without Retry-After (DigiCert "Rate limits": none is sent): our own full-jitter
    # schedule, slower than the 5xx one because the provider's window is seconds long.
    rate_limit_backoff_base: float = 1.0
    rate_limit_backoff_cap: float = 5.0
    # Longest wait for a free slot of the client-side limiter before RateLimited is raised
    # (the scheduler retries later; a Lambda's time is better spent elsewhere).
    max_limiter_wait: float = 10.0
    verify: bool | str = True
    # Sees every call (metrics, tracing): `observer.call(provider, method, path)` is a context
    # manager yielding a dict the layer fills with "status" or "error". None: unobserved.
    observer: Any = None


def full_jitter(attempt: int, base: float, cap: float, rng: Callable[[], float] = random.random) -> float:
    """AWS 'full jitter': uniform in [0, min(cap, base * 2**attempt)]."""
    return rng() * min(cap, base * (2 ** attempt))


def retry_after_seconds(value: str | None) -> float | None:
    """Parse a Retry-After header (seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


# -- error answers -----------------------------------------------------------------------------

@dataclass(frozen=True)
class ErrorReading:
    """What an adapter understood of an error body in its provider's shape. `kind` is the error
    class the provider's code means (None: decided by the HTTP status)."""

    message: str
    provider_code: str | None = None
    kind: type[ProviderError] | None = None
    field_errors: tuple[FieldError, ...] = ()


ErrorReader = Callable[[int, Any], ErrorReading | None]

# The error class an HTTP status means when the provider's code does not say more.
_BY_STATUS: Mapping[int, type[ProviderError]] = {
    400: errors.ProviderRejected, 422: errors.ProviderRejected, 401: errors.AuthenticationFailed,
    403: errors.AuthenticationFailed, 404: errors.ProviderNotFound, 409: errors.ProviderConflict,
    429: errors.RateLimited,
}


def no_error_shape(status: int, body: Any) -> ErrorReading | None:
    """The reader of a provider without an error body of its own: the HTTP status decides."""
    return None


def error_of(provider: str, status: int, headers: Mapping[str, str], reading: ErrorReading | None,
             raw: str = "") -> ProviderError:
    """The typed error of an error answer. 429 and 5xx mean the same whoever sent them (and decide
    whether to retry), so they win over any code; then the provider's code; then the status.
    `raw` (an excerpt of the body) is carried in the message of an answer in no known shape."""
    retry_after = retry_after_seconds(headers.get("Retry-After"))
    if reading is None:
        # Not the provider's error shape: a proxy, a wrong base_url. Only status classes that mean the
        # same from anyone are believed; a 404 from the wrong host is not "no such order".
        kind = {401: errors.AuthenticationFailed, 403: errors.AuthenticationFailed, 429: RateLimited}.get(status)
        kind = ProviderUnavailable if status >= 500 else kind or ProviderProtocolError
        message = f"HTTP {status}" if kind is not ProviderProtocolError else \
            f"unrecognized error answer (HTTP {status})"
        reading = ErrorReading(f"{message}: {raw}" if raw else message)
    elif status == 429 or status >= 500:
        kind = RateLimited if status == 429 else ProviderUnavailable
    else:
        kind = reading.kind or _BY_STATUS.get(status, ProviderProtocolError)
    kw: dict[str, Any] = {"provider_code": reading.provider_code}
    if issubclass(kind, RateLimited | ProviderUnavailable):
        kw["retry_after"] = retry_after
    if kind is ProviderRejected:
        kw["field_errors"] = list(reading.field_errors)
    return kind(provider, reading.message[:MAX_MESSAGE], **kw)


def body_excerpt(text: str, limit: int = 200) -> str:
    """Readable text of an error body we could not interpret (markup dropped, whitespace folded),
    cut to `limit` characters: what the operator needs to see what answered instead."""
    text = " ".join(_MARKUP.sub(" ", text[: limit * 50]).split())
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


_MARKUP = re.compile(r"<(script|style)\b.*?</\1\s*>|<[^>]*>", re.IGNORECASE | re.DOTALL)


def decode_body(content: bytes | None) -> Any:
    """An error body as JSON, or None when it is empty or not JSON (what a proxy may send)."""
    if not content:
        return None
    try:
        return json.loads(content.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None


class Scrubber:
    """The one scrubber: provider text travels into our errors and logs, never with a credential
    in it. `secrets()` is asked each time, so a session token opened later is covered too."""

    def __init__(self, secrets: Callable[[], Iterable[str | None]]) -> None:
        self._secrets = secrets

    def __call__(self, text: str) -> str:
        for secret in self._secrets():
            if secret:
                text = text.replace(secret, REDACTED)
        return text

    def error(self, exc: ProviderError) -> ProviderError:
        """`exc` with its message and field messages scrubbed (in place; returned for chaining)."""
        exc.message = self(exc.message)
        exc.args = (exc.message,)
        if isinstance(exc, ProviderRejected):
            exc.field_errors = [replace(e, message=self(e.message)) for e in exc.field_errors]
        return exc


# -- the client-side limiter -------------------------------------------------------------------

RateLimits = tuple[tuple[int, float], ...]  # (at most this many sends, per this many seconds), ...


class RateLimiter:
    """Sliding windows over the sends of one process: `acquire` returns once a send would keep
    every window within its limit, sleeping until a slot frees; RateLimited when that is further
    away than `max_wait`. Thread-safe (a Lambda may share one adapter between threads)."""

    def __init__(self, provider: str, limits: RateLimits, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if any(count < 1 or window <= 0 for count, window in limits):
            raise ValueError("rate limits are (count >= 1, seconds > 0) pairs")
        self.provider = provider
        self.limits = tuple(sorted(limits, key=lambda lim: lim[1]))
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._sent: collections.deque[float] = collections.deque()
        self._horizon = max((window for _, window in self.limits), default=0.0)

    def wait_needed(self, now: float) -> float:
        """Seconds until one more send fits every window (0: now). Caller holds the lock."""
        while self._sent and now - self._sent[0] >= self._horizon:
            self._sent.popleft()
        wait = 0.0
        for count, window in self.limits:
            recent = [t for t in self._sent if now - t < window]
            if len(recent) >= count:
                # The send that must leave the window first: the count-th most recent one.
                wait = max(wait, recent[-count] + window - now)
        return wait

    def acquire(self, max_wait: float) -> float:
        """Reserve a slot for one send (its time, for `settle`)."""
        deadline = self._clock() + max_wait
        while True:
            with self._lock:
                now = self._clock()
                wait = self.wait_needed(now)
                if wait <= 0:
                    self._sent.append(now)
                    return now
            if now + wait > deadline:
                raise RateLimited(self.provider, f"client-side limit of {self._describe()} reached",
                                  provider_code="client_rate_limit", retry_after=wait)
            self._sleep(wait)

    def settle(self, reserved: float) -> None:
        """The send `reserved` for is over: count it from now, the latest moment the provider can
        have received it (its windows start at arrival, after our send began)."""
        with self._lock:
            try:
                self._sent.remove(reserved)
            except ValueError:
                return  # already out of every window
            bisect.insort(self._sent, self._clock())

    def _describe(self) -> str:
        return ", ".join(f"{count} per {window:g} s" for count, window in self.limits)


_LIMITERS: dict[tuple[str, str], RateLimiter] = {}
_LIMITERS_LOCK = threading.Lock()


def shared_limiter(provider: str, base_url: str, limits: RateLimits) -> RateLimiter | None:
    """The process-wide limiter of one provider account (its base URL): every adapter instance
    built for it, e.g. again after a credential rotation, counts against the same windows."""
    if not limits:
        return None
    with _LIMITERS_LOCK:
        limiter = _LIMITERS.get((provider, base_url))
        if limiter is None or limiter.limits != tuple(sorted(limits, key=lambda lim: lim[1])):
            limiter = _LIMITERS[(provider, base_url)] = RateLimiter(provider, limits)
        return limiter


# -- the client --------------------------------------------------------------------------------

class ProviderHttp:
    """Calls one provider. `safe=True` marks calls that may be repeated (reads, or writes the
    provider makes idempotent); unsafe calls are sent exactly once."""

    def __init__(self, provider: str, base_url: str, *, settings: HttpSettings | None = None,
                 auth: tuple[str, str] | None = None, headers: Mapping[str, str] | None = None,
                 read_error: ErrorReader = no_error_shape,
                 secrets: Callable[[], Iterable[str | None]] = tuple,
                 sleep: Callable[[float], None] = time.sleep, limiter: RateLimiter | None = None) -> None:
        self.provider = provider
        self.base_url = base_url.rstrip("/")
        self.settings = settings or HttpSettings()
        self._auth = auth
        self._headers = dict(headers or {})
        self._read_error = read_error
        self.scrub = Scrubber(secrets)
        self._sleep = sleep
        self.limiter = limiter
        self._session: requests.Session | None = None
        self.calls = 0  # HTTP requests sent (for tests and metrics)

    @property
    def session(self) -> requests.Session:
        if self._session is None:
            import requests  # lazy: keep cold starts of paths that never call out cheap

            s = requests.Session()
            s.headers.update({"User-Agent": "certgate/1.0", "Accept": "application/json", **self._headers})
            if self._auth:
                s.auth = self._auth
            s.verify = self.settings.verify
            self._session = s
        return self._session

    def error_from(self, response: requests.Response) -> ProviderError:
        """The typed, scrubbed error of an error answer."""
        reading = self._read_error(response.status_code, decode_body(response.content))
        # Scrubbed before anything is cut short: a credential split by a cut would escape the scrubber.
        raw = body_excerpt(self.scrub(response.content.decode("utf-8", errors="replace"))) \
            if reading is None and response.content else ""
        if reading is not None:
            reading = replace(reading, message=self.scrub(reading.message))
        return self.scrub.error(error_of(self.provider, response.status_code, response.headers, reading, raw=raw))

    def request(self, method: str, path: str, *, safe: bool, **kw: Any) -> requests.Response:
        """Send (retrying safe calls); a 2xx response or a typed ProviderError."""
        return self.call(method, path, safe=safe, read=lambda resp: resp, **kw)

    def json(self, method: str, path: str, *, safe: bool, **kw: Any) -> Any:
        """`request` and decode the JSON answer (empty body -> None)."""
        return self.call(method, path, safe=safe, read=lambda resp: decode_json(self.provider, resp, safe=safe), **kw)

    def call(self, method: str, path: str, *, safe: bool, read: Callable[[requests.Response], T],
             **kw: Any) -> T:
        """The one retry loop: send, `read` the answer; a retryable failure of a safe call (a 5xx,
        a 429, a timeout, an answer that does not read) is tried again, `max_attempts` sends in all."""
        attempts = self.settings.max_attempts if safe else 1
        for attempt in range(attempts):
            # Outside the try: when no slot frees in time, the call ends here (no retry).
            slot = None if self.limiter is None else self.limiter.acquire(self.settings.max_limiter_wait)
            try:
                return read(self._send(method, path, safe=safe, slot=slot, **kw))
            except ProviderError as exc:
                if not exc.retryable or attempt + 1 >= attempts or not self._pause(attempt, exc):
                    raise
        raise ProviderUnavailable(self.provider, "no attempt was made")  # max_attempts < 1

    def _pause(self, attempt: int, failure: ProviderError) -> bool:
        """Sleep before the next attempt; False when the provider asks for a longer wait than
        one request may take (that belongs to the scheduler)."""
        st = self.settings
        hinted = getattr(failure, "retry_after", None)
        if isinstance(failure, RateLimited) and hinted is None:
            delay = full_jitter(attempt, st.rate_limit_backoff_base, st.rate_limit_backoff_cap)
        else:
            delay = full_jitter(attempt, st.backoff_base, st.backoff_cap)
        if hinted is not None:
            if hinted > st.max_retry_after:
                return False
            delay = max(delay, hinted)
        self._sleep(delay)
        return True

    def _send(self, method: str, path: str, *, safe: bool, params: Any = None, json_body: Any = None,
              data: Any = None, headers: Mapping[str, str] | None = None,
              timeout: tuple[float, float] | None = None, slot: float | None = None) -> requests.Response:
        """One send: a 2xx response, or the typed error of what happened."""
        import requests

        st = self.settings
        url = path if path.startswith("http") else f"{self.base_url}/{path.lstrip('/')}"
        self.calls += 1
        try:
            with _observed(st.observer, self.provider, method, path) as seen:
                try:
                    resp = self.session.request(method, url, params=params, json=json_body, data=data,
                                                headers=dict(headers or {}),
                                                timeout=timeout or (st.connect_timeout, st.read_timeout))
                except requests.exceptions.RequestException as exc:
                    seen["error"] = _transport_kind(exc)
                    raise
                finally:
                    if self.limiter is not None and slot is not None:
                        self.limiter.settle(slot)
                seen["status"] = resp.status_code
                if resp.status_code >= 400:
                    # Mapped inside the observed call: the observer counts the typed error's kind.
                    failure = self.error_from(resp)
                    if not safe and resp.status_code >= 500:
                        failure.outcome_unknown = True
                    seen["error"] = failure.code
                    raise failure
        except requests.exceptions.ConnectTimeout as exc:
            # Nothing reached the provider: even an unsafe call may be retried by the caller.
            raise ProviderTimeout(self.provider, f"connect timeout: {type(exc).__name__}") from None
        except requests.exceptions.Timeout as exc:
            raise ProviderTimeout(self.provider, f"read timeout after {st.read_timeout}s",
                                  outcome_unknown=not safe) from exc
        except requests.exceptions.ConnectionError as exc:
            raise ProviderUnavailable(self.provider, f"connection failed: {type(exc).__name__}",
                                      outcome_unknown=not safe and _may_have_sent(exc)) from None
        return resp


def _transport_kind(exc: Exception) -> str:
    """The error code `_send` turns a transport failure into (the class name of any other)."""
    import requests

    if isinstance(exc, requests.exceptions.Timeout):  # connect and read time-outs
        return ProviderTimeout.code
    if isinstance(exc, requests.exceptions.ConnectionError):
        return ProviderUnavailable.code
    return type(exc).__name__


@contextlib.contextmanager
def _observed(observer: Any, provider: str, method: str, path: str) -> Iterator[dict[str, Any]]:
    if observer is None:
        yield {}
        return
    with observer.call(provider, method, path) as seen:
        yield seen


def decode_json(provider: str, resp: requests.Response, *, safe: bool = True) -> Any:
    if not resp.content or resp.status_code == 204:
        return None
    try:
        return json.loads(resp.content.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProviderProtocolError(provider, f"unparseable JSON answer (HTTP {resp.status_code})",
                                    outcome_unknown=not safe) from exc


def _may_have_sent(exc: Exception) -> bool:
    """A refused connection never reached the provider; a reset/dropped one may have."""
    text = repr(exc)
    return not ("Connection refused" in text or "NewConnectionError" in text or "NameResolution" in text)
