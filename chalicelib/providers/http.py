"""The one HTTP layer the adapters share: a requests Session per provider, connect/read
timeouts, TLS verification, bounded retries with full-jitter backoff for safe calls only,
`Retry-After` honoured, and every transport failure turned into a typed error.

Adapters supply `parse_error(response) -> ProviderError` for their provider's error shape."""

from __future__ import annotations

import contextlib
import json
import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

from chalicelib.core.errors import (
    AuthenticationFailed,
    ProviderError,
    ProviderNotFound,
    ProviderProtocolError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)

if TYPE_CHECKING:
    import requests


@dataclass(frozen=True)
class HttpSettings:
    connect_timeout: float = 3.05
    read_timeout: float = 20.0
    max_attempts: int = 3
    backoff_base: float = 0.2
    backoff_cap: float = 5.0
    max_retry_after: float = 10.0  # never sleep longer than this inside one request
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


def default_parse_error(provider: str, response: requests.Response) -> ProviderError:
    status = response.status_code
    msg = f"HTTP {status}"
    if status in (401, 403):
        return AuthenticationFailed(provider, msg)
    if status == 404:
        return ProviderNotFound(provider, msg)
    if status == 429:
        return RateLimited(provider, msg, retry_after=retry_after_seconds(response.headers.get("Retry-After")))
    if status >= 500:
        return ProviderUnavailable(provider, msg, retry_after=retry_after_seconds(response.headers.get("Retry-After")))
    return ProviderProtocolError(provider, msg)


class ProviderHttp:
    """Calls one provider. `safe=True` marks calls that may be repeated (reads, or writes the
    provider makes idempotent); unsafe calls are tried exactly once."""

    def __init__(self, provider: str, base_url: str, *, settings: HttpSettings | None = None,
                 auth: tuple[str, str] | None = None, headers: Mapping[str, str] | None = None,
                 parse_error: Callable[[requests.Response], ProviderError] | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.provider = provider
        self.base_url = base_url.rstrip("/")
        self.settings = settings or HttpSettings()
        self._auth = auth
        self._headers = dict(headers or {})
        self._parse_error = parse_error or (lambda r: default_parse_error(provider, r))
        self._sleep = sleep
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

    def request(self, method: str, path: str, *, safe: bool, params: Any = None, json_body: Any = None,
                data: Any = None, headers: Mapping[str, str] | None = None,
                timeout: tuple[float, float] | None = None) -> requests.Response:
        """Send, retrying safe calls; return a 2xx response or raise a typed ProviderError."""
        import requests

        st = self.settings
        attempts = st.max_attempts if safe else 1
        url = path if path.startswith("http") else f"{self.base_url}/{path.lstrip('/')}"
        last: ProviderError | None = None
        for attempt in range(attempts):
            self.calls += 1
            try:
                with _observed(st.observer, self.provider, method, path) as seen:
                    try:
                        resp = self.session.request(method, url, params=params, json=json_body, data=data,
                                                    headers=dict(headers or {}),
                                                    timeout=timeout or (st.connect_timeout, st.read_timeout))
                    except requests.exceptions.RequestException as exc:
                        seen["error"] = type(exc).__name__
                        raise
                    seen["status"] = resp.status_code
            except requests.exceptions.ConnectTimeout as exc:
                # Nothing reached the provider: even an unsafe call may be retried by the caller.
                last = ProviderTimeout(self.provider, f"connect timeout: {type(exc).__name__}")
            except requests.exceptions.Timeout as exc:
                last = ProviderTimeout(self.provider, f"read timeout after {st.read_timeout}s",
                                       outcome_unknown=not safe)
                last.__cause__ = exc
            except requests.exceptions.ConnectionError as exc:
                last = ProviderUnavailable(self.provider, f"connection failed: {type(exc).__name__}",
                                           outcome_unknown=not safe and _may_have_sent(exc))
            else:
                if resp.status_code < 400:
                    return resp
                last = self._parse_error(resp)
                if not last.retryable:
                    raise last
                if not safe and resp.status_code >= 500:
                    last.outcome_unknown = True
            if attempt + 1 >= attempts:
                break
            delay = full_jitter(attempt, st.backoff_base, st.backoff_cap)
            hinted = getattr(last, "retry_after", None)
            if hinted is not None:
                if hinted > st.max_retry_after:
                    break  # waiting that long belongs to the scheduler, not to this request
                delay = max(delay, hinted)
            self._sleep(delay)
        if last is None:  # unreachable: the loop runs at least once
            raise ProviderUnavailable(self.provider, "no attempt was made")
        raise last

    def json(self, method: str, path: str, *, safe: bool, **kw: Any) -> Any:
        """`request` and decode the JSON answer (empty body -> None); a safe call whose answer
        does not parse is asked again, within the same attempt budget."""
        attempts = self.settings.max_attempts if safe else 1
        for attempt in range(attempts):
            resp = self.request(method, path, safe=safe, **kw)
            try:
                return decode_json(self.provider, resp, safe=safe)
            except ProviderProtocolError:
                if attempt + 1 >= attempts:
                    raise
                self._sleep(full_jitter(attempt, self.settings.backoff_base, self.settings.backoff_cap))
        return None


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
