"""The shared machinery of the three provider simulators.

A simulator is a `Simulator` subclass that registers routes and shapes its own errors; this
module gives it a threaded stdlib HTTP server, the `/_sim/*` admin endpoints and fault
injection (design.md section 7):

  PUT /_sim/faults     {latency_ms, error_rate, error_status, rate_limit_per_s, retry_after_s,
                        hang_s, malformed_rate, drop_after_commit_rate, paths, max_faults, seed}
  DELETE /_sim/faults  clear
  POST /_sim/advance   complete every pending validation now
  POST /_sim/reset     forget all state (faults included)
  GET  /_sim/ca.pem    the simulator's root CA
  GET  /_sim/stats     request and fault counters (for tests and the fault suite)

Faults apply only to provider routes (never to /_sim), to paths starting with one of `paths`
(default all). `max_faults` stops injecting after that many faults (a burst). Fault modes:
  latency_ms              sleep before handling
  rate_limit_per_s        more than this many requests in the current second -> 429 + Retry-After
  error_rate/error_status a share of requests answered with 500/502/503 before handling
  hang_s                  sleep this long before handling (past the client's read timeout)
  malformed_rate          handle the request (state changes!) but answer a truncated JSON body
  drop_after_commit_rate  handle the request (state changes!) and close the connection unanswered
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import socket
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from simulators import snapshot
from simulators.ca import SimCA

FAULT_FIELDS = ("latency_ms", "error_rate", "error_status", "rate_limit_per_s", "retry_after_s",
                "hang_s", "malformed_rate", "drop_after_commit_rate", "paths", "max_faults", "seed")


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    params: dict[str, str] = field(default_factory=dict)  # from the route pattern

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> Any:
        """Parsed JSON body; raises ValueError on anything else."""
        if not self.body:
            return {}
        return json.loads(self.body.decode("utf-8"))

    def form(self) -> dict[str, str]:
        """Form-encoded body as a flat dict (the last value of a repeated key wins)."""
        pairs = urllib.parse.parse_qsl(self.body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
        return dict(pairs)

    def form_pairs(self) -> list[tuple[str, str]]:
        return urllib.parse.parse_qsl(self.body.decode("utf-8"), keep_blank_values=True)


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(status, json.dumps(payload).encode(), "application/json", dict(headers or {}))


def bytes_response(data: bytes, content_type: str = "application/octet-stream",
                   filename: str | None = None, status: int = 200) -> Response:
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'} if filename else {}
    return Response(status, data, content_type, headers)


class SimError(Exception):
    """Raised by handlers; the simulator renders it in its provider's error shape."""

    def __init__(self, status: int, code: str | int, message: str, fields: dict | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.fields = fields
        self.headers = headers or {}


Handler = Callable[[Request], Response]


class Faults:
    def __init__(self) -> None:
        self.config: dict[str, Any] = {}
        self.injected = 0
        self._rng = random.Random()
        self._window_start = 0.0
        self._window_count = 0
        self._lock = threading.Lock()

    def set(self, config: dict[str, Any]) -> None:
        unknown = sorted(set(config) - set(FAULT_FIELDS))
        if unknown:
            raise ValueError(f"unknown fault fields: {unknown}")
        with self._lock:
            self.config = dict(config)
            self.injected = 0
            self._rng = random.Random(config.get("seed"))

    def clear(self) -> None:
        self.set({})

    def applies(self, path: str) -> bool:
        paths = self.config.get("paths")
        return not paths or any(path.startswith(p) for p in paths)

    def roll(self, name: str) -> bool:
        """Decide, under the burst budget, whether fault `name` fires for this request."""
        with self._lock:
            rate = float(self.config.get(name) or 0)
            if rate <= 0:
                return False
            budget = self.config.get("max_faults")
            if budget is not None and self.injected >= int(budget):
                return False
            if rate >= 1 or self._rng.random() < rate:
                self.injected += 1
                return True
            return False

    def rate_limited(self) -> bool:
        with self._lock:
            limit = self.config.get("rate_limit_per_s")
            if not limit:
                return False
            budget = self.config.get("max_faults")
            if budget is not None and self.injected >= int(budget):
                return False
            now = time.monotonic()
            if now - self._window_start >= 1.0:
                self._window_start, self._window_count = now, 0
            self._window_count += 1
            if self._window_count > float(limit):
                self.injected += 1
                return True
            return False

    def once(self, name: str) -> float:
        """A numeric fault (latency, hang) counted against the burst budget; 0 if none."""
        with self._lock:
            value = float(self.config.get(name) or 0)
            if value <= 0:
                return 0.0
            budget = self.config.get("max_faults")
            if budget is not None and self.injected >= int(budget):
                return 0.0
            if name == "hang_s":
                self.injected += 1
            return value


class Simulator:
    """Base of a provider simulator: routes, state lock, async progression hooks, faults."""

    name = "sim"
    # What reset_state() makes: the attributes `snapshot()` saves and `restore()` puts back (with
    # the CA), so that `make run` after `make run` finds the same orders under the same CA.
    # Settings (delays, keys, toggles) are not state: they come from the environment each start.
    state_attributes: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.faults = Faults()
        self.ca = SimCA(self.name)
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.stats: dict[str, int] = {"requests": 0, "faults": 0}
        self.changed: Callable[[], None] = _nothing  # called after every request that may change state
        self.register_routes()
        self.reset_state()

    # -- state across restarts (simulators/snapshot.py) ----------------------------------
    def snapshot(self) -> bytes:
        with self.lock:
            return snapshot.dumps({name: getattr(self, name) for name in ("ca", *self.state_attributes)})

    def restore(self, saved: dict[str, Any]) -> None:
        """Put back what `snapshot` saved; attributes this version does not have are ignored."""
        with self.lock:
            for name in ("ca", *self.state_attributes):
                if name in saved:
                    setattr(self, name, saved[name])

    # -- to override -------------------------------------------------------------------
    def register_routes(self) -> None:
        raise NotImplementedError

    def reset_state(self) -> None:
        """Forget every order/certificate (called at start and by POST /_sim/reset)."""

    def advance(self) -> dict[str, Any]:
        """Complete every pending validation now; returns a summary."""
        return {}

    def error_response(self, err: SimError) -> Response:
        """Render an error in this provider's shape."""
        return json_response(err.status, {"code": err.code, "message": err.message}, err.headers)

    def fault_error(self, status: int) -> Response:
        return self.error_response(SimError(status, "internal_error", "simulated provider failure"))

    def rate_limit_error(self, retry_after: float) -> Response:
        return self.error_response(SimError(429, "rate_limited", "too many requests",
                                            headers={"Retry-After": str(int(max(1, retry_after)))}))

    def tick(self) -> None:
        """Called before every provider request: lets time-based progression happen."""

    # -- helpers -----------------------------------------------------------------------
    def route(self, method: str, pattern: str, handler: Handler) -> None:
        """Register `handler` for `method` on `pattern` ({name} segments become params)."""
        regex = "^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern) + "$"
        self._routes.append((method.upper(), re.compile(regex), handler))

    def match(self, method: str, path: str) -> tuple[Handler | None, dict[str, str], bool]:
        path_known = False
        for m, regex, handler in self._routes:
            found = regex.match(path)
            if found:
                path_known = True
                if m == method:
                    return handler, found.groupdict(), True
        return None, {}, path_known

    def not_found(self, req: Request) -> Response:
        return self.error_response(SimError(404, "not_found", f"no such endpoint: {req.method} {req.path}"))

    def method_not_allowed(self, req: Request) -> Response:
        return self.error_response(SimError(405, "method_not_allowed", f"{req.method} not allowed on {req.path}"))

    # -- admin ---------------------------------------------------------------------------
    def admin(self, req: Request) -> Response:
        sub = req.path[len("/_sim"):]
        if sub == "/faults" and req.method == "PUT":
            try:
                cfg = req.json()
                if not isinstance(cfg, dict):
                    raise ValueError("faults must be a JSON object")
                self.faults.set(cfg)
            except ValueError as exc:
                return json_response(400, {"error": str(exc)})
            return json_response(200, self.faults.config)
        if sub == "/faults" and req.method == "DELETE":
            self.faults.clear()
            return json_response(200, {})
        if sub == "/faults" and req.method == "GET":
            return json_response(200, {**self.faults.config, "injected": self.faults.injected})
        if sub == "/advance" and req.method == "POST":
            with self.lock:
                return json_response(200, self.advance())
        if sub == "/reset" and req.method == "POST":
            with self.lock:
                self.faults.clear()
                self.stats = {"requests": 0, "faults": 0}
                self.reset_state()
            return json_response(200, {"reset": True})
        if sub == "/ca.pem" and req.method == "GET":
            return Response(200, self.ca.root_pem.encode(), "application/x-pem-file")
        if sub == "/stats" and req.method == "GET":
            return json_response(200, {**self.stats, "injected": self.faults.injected})
        return json_response(404, {"error": f"no admin endpoint {req.method} {req.path}"})

    # -- dispatch ------------------------------------------------------------------------
    def dispatch(self, req: Request) -> tuple[Response | None, str | None]:
        """Handle one request. Returns (response, post_fault) where post_fault is
        'drop' or 'malformed' when the handled response must be mangled after commit."""
        try:
            return self._dispatch(req)
        finally:
            # Even a GET may change state (tick() issues what is due).
            self.changed()

    def _dispatch(self, req: Request) -> tuple[Response | None, str | None]:
        if req.path.startswith("/_sim/"):
            return self.admin(req), None
        with self.lock:
            self.stats["requests"] += 1
        faults = self.faults
        post: str | None = None
        if faults.applies(req.path):
            delay = faults.once("latency_ms") / 1000.0
            if delay:
                time.sleep(delay)
            if faults.rate_limited():
                self._count_fault()
                return self.rate_limit_error(float(faults.config.get("retry_after_s") or 1)), None
            hang = faults.once("hang_s")
            if hang:
                self._count_fault()
                time.sleep(hang)
            if faults.roll("error_rate"):
                self._count_fault()
                return self.fault_error(int(faults.config.get("error_status") or 500)), None
            if faults.roll("drop_after_commit_rate"):
                post = "drop"
            elif faults.roll("malformed_rate"):
                post = "malformed"
            if post:
                self._count_fault()
        handler, params, known = self.match(req.method, req.path)
        if handler is None:
            return (self.method_not_allowed(req) if known else self.not_found(req)), None
        req.params = params
        try:
            with self.lock:
                self.tick()
                resp = handler(req)
        except SimError as err:
            resp = self.error_response(err)
        return resp, post

    def _count_fault(self) -> None:
        with self.lock:
            self.stats["faults"] += 1


class _HTTPHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # one write per response segment; avoids 40 ms delayed-ACK stalls
    sim: Simulator  # set on the subclass made per server

    def log_message(self, fmt: str, *args: Any) -> None:
        if os.environ.get("SIM_LOG"):
            sys.stderr.write(f"[{self.sim.name}] " + (fmt % args) + "\n")

    def _handle(self) -> None:
        parsed = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        req = Request(method=self.command, path=parsed.path.rstrip("/") or "/",
                      query=urllib.parse.parse_qs(parsed.query, keep_blank_values=True),
                      headers={k.lower(): v for k, v in self.headers.items()}, body=body)
        try:
            resp, post = self.sim.dispatch(req)
        except Exception as exc:  # noqa: BLE001 - a simulator bug must still answer, visibly
            resp, post = Response(500, json.dumps({"simulator_bug": repr(exc)}).encode()), None
        if post == "drop":
            # The request was processed (state committed); the client never hears about it.
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        payload = resp.body
        if post == "malformed":
            payload = (payload[: max(1, len(payload) // 2)] if payload else b"{") + b'<html>"'
        try:
            self.send_response(resp.status)
            self.send_header("Content-Type", resp.content_type)
            self.send_header("Content-Length", str(len(payload)))
            for k, v in resp.headers.items():
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (e.g. timed out during a hang fault): nobody is left to answer.
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle


class SimServer:
    """A running simulator on host:port (port 0 = pick a free one), in a daemon thread."""

    def __init__(self, sim: Simulator, host: str = "127.0.0.1", port: int = 0) -> None:
        handler = type("Handler", (_HTTPHandler,), {"sim": sim})
        ThreadingHTTPServer.allow_reuse_address = True
        self.sim = sim
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self.host, self.port = self.httpd.server_address[0], self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, name=f"sim-{sim.name}", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> SimServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> SimServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _nothing() -> None:
    pass


def optional_float(raw: str | None) -> float | None:
    """An env setting in seconds where '', 'none' or 'never' mean 'not at all'."""
    if raw is None or raw.strip().lower() in ("", "none", "never"):
        return None
    return float(raw)


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def main(factory: Callable[[], Simulator], default_port: int, argv: list[str] | None = None) -> None:
    """`python -m simulators.X [--host H] [--port P] [--state FILE]`; faults from env SIM_FAULTS (JSON).

    With `--state` (env SIM_STATE_FILE) the simulator starts from what FILE holds, saves its state
    there within a second of each change and on SIGTERM/Ctrl-C (simulators/snapshot.py)."""
    parser = argparse.ArgumentParser(description=f"{factory.__name__} provider simulator")
    parser.add_argument("--host", default=os.environ.get("SIM_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=default_port)
    parser.add_argument("--state", type=Path, default=os.environ.get("SIM_STATE_FILE") or None,
                        help="keep orders, certificates and the CA in this file across restarts")
    args = parser.parse_args(argv)
    sim = factory()
    if os.environ.get("SIM_FAULTS"):
        sim.faults.set(json.loads(os.environ["SIM_FAULTS"]))
    saver = None
    if args.state is not None:
        try:
            saved = snapshot.load(args.state)
        except Exception as exc:  # noqa: BLE001 - any unreadable snapshot: say so, start clean
            print(f"{sim.name} simulator: cannot restore {args.state} ({exc!r}); starting empty", flush=True)
            saved = None
        if saved is not None:
            sim.restore(saved)
            print(f"{sim.name} simulator state restored from {args.state}", flush=True)
        saver = snapshot.Saver(args.state, sim.snapshot).start()
        sim.changed = saver.mark
    signal.signal(signal.SIGTERM, _interrupt)  # stop as on Ctrl-C: the state is saved once more
    server = SimServer(sim, args.host, args.port)
    print(f"{sim.name} simulator listening on {server.url}", flush=True)
    try:
        server.httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.httpd.server_close()
        if saver is not None:
            saver.close()
