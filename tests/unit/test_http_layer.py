"""The shared HTTP layer: retries only for safe calls, full jitter, Retry-After, typed errors."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from chalicelib.core.errors import ProviderProtocolError, ProviderRejected, ProviderUnavailable, RateLimited
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
