"""The shared HTTP layer: retries only for safe calls, full jitter, Retry-After, typed errors."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from chalicelib.core.errors import (
    ProviderError,
    ProviderProtocolError,
    ProviderRejected,
    ProviderUnavailable,
    RateLimited,
)
from chalicelib.providers.http import (
    REDACTED,
    ErrorReading,
    HttpSettings,
    ProviderHttp,
    full_jitter,
    retry_after_seconds,
)


class Script(BaseHTTPRequestHandler):
    """Answers from a script of (status, headers, body), one per request."""

    script: list = []
    seen: list = []

    def log_message(self, *a):
        pass

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        type(self).seen.append(self.command)
        status, headers, body = type(self).script.pop(0) if type(self).script else (200, {}, b"{}")
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer


@pytest.fixture()
def server():
    Script.script, Script.seen = [], []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Script)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def client(url: str, sleeps: list) -> ProviderHttp:
    return ProviderHttp("p", url, settings=HttpSettings(max_attempts=3, backoff_base=0.01), sleep=sleeps.append)


def test_safe_calls_retry_5xx_then_succeed(server):
    Script.script = [(503, {}, b"{}"), (502, {}, b"{}"), (200, {}, json.dumps({"ok": 1}).encode())]
    sleeps: list = []
    assert client(server, sleeps).json("GET", "/x", safe=True) == {"ok": 1}
    assert Script.seen == ["GET"] * 3 and len(sleeps) == 2


def test_unsafe_calls_are_tried_once_and_flag_unknown_outcome(server):
    Script.script = [(503, {}, b"{}"), (200, {}, b"{}")]
    with pytest.raises(ProviderUnavailable) as err:
        client(server, []).request("POST", "/create", safe=False)
    assert Script.seen == ["POST"] and err.value.outcome_unknown


def test_retry_after_is_honoured_within_bounds(server):
    Script.script = [(429, {"Retry-After": "2"}, b"{}"), (200, {}, b"{}")]
    sleeps: list = []
    client(server, sleeps).request("GET", "/x", safe=True)
    assert sleeps and sleeps[0] >= 2


def test_a_long_retry_after_is_left_to_the_scheduler(server):
    Script.script = [(429, {"Retry-After": "600"}, b"{}")] * 3
    with pytest.raises(RateLimited) as err:
        client(server, []).request("GET", "/x", safe=True)
    assert err.value.retry_after == 600 and Script.seen == ["GET"]


def test_connection_refused_is_unavailable_without_unknown_outcome():
    with pytest.raises(ProviderUnavailable) as err:
        ProviderHttp("p", "http://127.0.0.1:9", settings=HttpSettings(max_attempts=1)).request("POST", "/", safe=False)
    assert not err.value.outcome_unknown


def test_full_jitter_stays_under_the_cap():
    assert full_jitter(10, 0.2, 5.0, rng=lambda: 1.0) == 5.0
    assert full_jitter(0, 0.2, 5.0, rng=lambda: 0.5) == pytest.approx(0.1)


def test_retry_after_parses_seconds_and_dates():
    assert retry_after_seconds("7") == 7
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0
    assert retry_after_seconds(None) is None and retry_after_seconds("soon") is None


# -- one retry loop: count what reaches the server ------------------------------------------------

@pytest.mark.parametrize("max_attempts", [1, 3, 5])
def test_a_safe_call_failing_with_503_makes_exactly_max_attempts_sends(server, max_attempts):
    Script.script = [(503, {}, b"{}")] * 10
    http = ProviderHttp("p", server, settings=HttpSettings(max_attempts=max_attempts), sleep=lambda s: None)
    with pytest.raises(ProviderUnavailable):
        http.json("GET", "/x", safe=True)
    assert len(Script.seen) == max_attempts and http.calls == max_attempts


def test_unreadable_answers_and_5xx_share_one_attempt_budget(server):
    # Two layers of retries (request() inside json()) sent this script nine times; one loop sends it three.
    Script.script = [(503, {}, b"{}"), (503, {}, b"{}"), (200, {}, b'{"trunc')] * 3
    http = ProviderHttp("p", server, settings=HttpSettings(max_attempts=3), sleep=lambda s: None)
    with pytest.raises(ProviderProtocolError):
        http.json("GET", "/x", safe=True)
    assert len(Script.seen) == 3 and http.calls == 3


def test_an_unreadable_answer_is_asked_again_within_the_budget(server):
    Script.script = [(200, {}, b"not json"), (200, {}, json.dumps({"ok": 2}).encode())]
    assert client(server, []).json("GET", "/x", safe=True) == {"ok": 2}
    assert Script.seen == ["GET", "GET"]


def test_an_unsafe_unreadable_answer_is_sent_once_and_flags_unknown_outcome(server):
    Script.script = [(200, {}, b"not json")] * 3
    with pytest.raises(ProviderProtocolError) as err:
        client(server, []).json("POST", "/create", safe=False)
    assert Script.seen == ["POST"] and err.value.outcome_unknown


def test_error_messages_are_scrubbed_of_every_secret(server):
    body = json.dumps({"message": "key s3cr3t and token tok-1 rejected"}).encode()
    Script.script = [(400, {}, body)]
    token = ["tok-1"]
    http = ProviderHttp("p", server, read_error=lambda status, b: ErrorReading(b["message"], "bad"),
                        secrets=lambda: ("s3cr3t", None, *token))
    with pytest.raises(ProviderRejected) as err:
        http.json("GET", "/x", safe=True)
    assert "s3cr3t" not in str(err.value) and "tok-1" not in str(err.value) and REDACTED in str(err.value)
    assert err.value.args == (err.value.message,)


# -- 429 without Retry-After (DigiCert "Rate limits") ------------------------------------------------
def test_a_429_without_retry_after_backs_off_on_our_own_capped_schedule(server):
    Script.script = [(429, {}, b"{}"), (429, {}, b"{}"), (200, {}, b'{"ok": 1}')]
    sleeps: list = []
    settings = HttpSettings(max_attempts=3, backoff_base=0.01, rate_limit_backoff_base=1.0, rate_limit_backoff_cap=1.5)
    http = ProviderHttp("p", server, settings=settings, sleep=sleeps.append)
    assert http.json("GET", "/x", safe=True) == {"ok": 1}
    assert http.calls == 3 and len(sleeps) == 2
    # Full jitter under min(cap, base * 2**attempt): 1.0 then 1.5 (capped), never the 5xx schedule's 0.01 bound.
    assert 0 <= sleeps[0] <= 1.0 and 0 <= sleeps[1] <= 1.5
    # The 5xx schedule would sleep 0 here (base 0); the 429 one sleeps, capped at 0.5.
    capped = HttpSettings(max_attempts=3, backoff_base=0.0, rate_limit_backoff_base=10.0, rate_limit_backoff_cap=0.5)
    http = ProviderHttp("p", server, settings=capped, sleep=sleeps.append)
    Script.script = [(429, {}, b"{}"), (429, {}, b"{}"), (429, {}, b"{}")]
    sleeps.clear()
    with pytest.raises(RateLimited) as caught:
        http.json("GET", "/x", safe=True)
    assert len(sleeps) == 2 and all(0 < s <= 0.5 for s in sleeps) and caught.value.retry_after is None
    assert full_jitter(1, 10.0, 0.5, rng=lambda: 1.0) == 0.5


def test_a_429_on_an_unsafe_call_is_not_repeated(server):
    Script.script = [(429, {}, b"{}")]
    sleeps: list = []
    with pytest.raises(RateLimited) as caught:
        client(server, sleeps).json("POST", "/x", safe=False)
    assert Script.seen == ["POST"] and sleeps == [] and not caught.value.outcome_unknown


# -- the client-side limiter ------------------------------------------------------------------------------
class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_the_limiter_never_lets_a_window_overflow():
    from chalicelib.providers.http import RateLimiter

    clock = FakeClock()
    limiter = RateLimiter("p", ((3, 5.0), (5, 60.0)), clock=clock, sleep=clock.sleep)
    sent: list[float] = []
    for _ in range(7):
        limiter.acquire(max_wait=120.0)
        sent.append(clock.now)
        clock.now += 0.1  # each send takes a moment
    for t in sent:  # every window, wherever it starts, holds at most its count
        assert sum(1 for u in sent if t <= u < t + 5.0) <= 3, sent
        assert sum(1 for u in sent if t <= u < t + 60.0) <= 5, sent
    # The first three go at once; the fourth waits for the first to leave the 5 s window; the sixth
    # for the first to leave the 60 s one.
    assert sent[:3] == [1000.0, 1000.1, 1000.2]
    assert sent[3] == pytest.approx(1005.0) and sent[5] == pytest.approx(1060.0)
    assert len(clock.sleeps) == 2  # the fifth and seventh fit without waiting


def test_the_limiter_raises_rate_limited_when_the_wait_exceeds_the_budget():
    from chalicelib.providers.http import RateLimiter

    clock = FakeClock()
    limiter = RateLimiter("digicert", ((2, 5.0),), clock=clock, sleep=clock.sleep)
    limiter.acquire(max_wait=0.0)
    limiter.acquire(max_wait=0.0)
    with pytest.raises(RateLimited) as caught:
        limiter.acquire(max_wait=4.0)
    assert caught.value.retry_after == pytest.approx(5.0) and caught.value.provider_code == "client_rate_limit"
    assert clock.sleeps == []  # it did not sleep in vain
    limiter.acquire(max_wait=5.0)
    assert clock.sleeps == [pytest.approx(5.0)]


def test_the_http_layer_takes_a_slot_per_send_including_retries(server):
    from chalicelib.providers.http import RateLimiter

    clock = FakeClock()
    limiter = RateLimiter("p", ((2, 5.0),), clock=clock, sleep=clock.sleep)
    Script.script = [(503, {}, b"{}"), (200, {}, b"{}"), (200, {}, b"{}")]
    http = ProviderHttp("p", server, settings=HttpSettings(max_attempts=3, backoff_base=0.0, max_limiter_wait=60.0),
                        sleep=lambda s: None, limiter=limiter)
    http.json("GET", "/x", safe=True)  # two sends: the 503 and its retry
    assert http.calls == 2 and clock.sleeps == []
    http.json("GET", "/x", safe=True)  # the third send waits for the window
    assert http.calls == 3 and clock.sleeps == [pytest.approx(5.0)]
    http.json("GET", "/x", safe=True)  # the window (2 per 5 s) is full again
    tight = ProviderHttp("p", server, settings=HttpSettings(max_limiter_wait=1.0), sleep=lambda s: None,
                         limiter=limiter)
    with pytest.raises(RateLimited):
        tight.json("GET", "/x", safe=True)
    assert tight.calls == 0  # refused before anything was sent


def test_adapters_of_one_account_share_one_limiter():
    from chalicelib.providers.http import shared_limiter

    first = shared_limiter("p", "https://a.example/v2", ((100, 5.0),))
    assert shared_limiter("p", "https://a.example/v2", ((100, 5.0),)) is first
    assert shared_limiter("p", "https://b.example/v2", ((100, 5.0),)) is not first
    assert shared_limiter("p", "https://a.example/v2", ()) is None


class RecordingObserver:
    """An observer (HttpSettings.observer) that keeps what the layer told it about each call."""

    def __init__(self) -> None:
        self.calls: list[dict] = []

    def call(self, provider, method, path):
        import contextlib

        @contextlib.contextmanager
        def observed():
            seen: dict = {}
            try:
                yield seen
            finally:
                self.calls.append(seen)

        return observed()


@pytest.mark.parametrize(("status", "kind"), [
    (503, "provider_unavailable"), (429, "provider_rate_limited"), (422, "provider_rejected"),
    (401, "provider_authentication_failed")])
def test_the_observer_is_told_the_typed_error_of_each_failed_call(server, status, kind):
    Script.script = [(status, {}, json.dumps({"error": "no"}).encode())]
    observer = RecordingObserver()
    http = ProviderHttp("p", server, settings=HttpSettings(max_attempts=1, observer=observer),
                        read_error=lambda s, body: ErrorReading("no") if body else None)
    with pytest.raises(ProviderError):
        http.request("POST", "/x", safe=False)
    assert observer.calls == [{"status": status, "error": kind}]


def test_the_observer_is_told_a_refused_connection_is_the_provider_unavailable():
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    observer = RecordingObserver()
    http = ProviderHttp("p", f"http://127.0.0.1:{port}", settings=HttpSettings(max_attempts=1, observer=observer))
    with pytest.raises(ProviderUnavailable):
        http.request("GET", "/x", safe=True)
    assert observer.calls == [{"error": "provider_unavailable"}]
