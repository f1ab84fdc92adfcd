"""The local stack behind `make run` (design.md section 7).

  python -m devstack.run

Starts, in this order: moto in-process (DynamoDB, S3, SNS, SQS, EventBridge, ACM, Route 53, Secrets Manager, KMS), the seed
(devstack.seed), each provider simulator that exists (simulators/<provider>.py), `chalice local`
and the local scheduler, each child in its own process group. Waits until every URL answers, then
prints the URLs, exactly one line containing the word `ready` (tests and tools wait for it), and a
first request to try. Ctrl-C or SIGTERM stops every child (SIGKILL after a grace period) and exits 0;
a child that dies on its own stops the whole stack with exit status 1.

Until the stack answers, children's output goes only to .stack/logs/<name>.log (so nothing they
print can be mistaken for the `ready` line); after that it is also forwarded here, prefixed."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from devstack import conventions
from devstack.conventions import PROJECT_DIR, Conventions
from simulators.base import optional_float

LOG_DIR = PROJECT_DIR / ".stack" / "logs"
# What `make run` keeps across restarts (moto.pickle, <provider>.pickle); `make reset` empties it.
DEFAULT_STATE_DIR = PROJECT_DIR / ".stack" / "state"
MOTO_SAVE_INTERVAL_S = 2.0
DEFAULT_START_TIMEOUT_S = 120.0
STOP_GRACE_S = 10.0
POLL_S = 0.25
MOTO_SERVICES = "DynamoDB, S3, SNS, SQS, EventBridge, ACM, Route 53, Secrets Manager, KMS"

_print_lock = threading.Lock()


def say(source: str, line: str) -> None:
    with _print_lock:
        print(f"{source:<9} | {line}", flush=True)


class StopFlag:
    """Set by SIGINT/SIGTERM; polled by every waiting loop (signal handlers only set it)."""

    def __init__(self) -> None:
        self.signal: int | None = None

    def __bool__(self) -> bool:
        return self.signal is not None

    def handle(self, signum: int, _frame: FrameType | None) -> None:
        self.signal = signum


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    echo: threading.Event
    recent: deque[str] = field(default_factory=lambda: deque(maxlen=20))
    reader: threading.Thread | None = None

    @classmethod
    def start(cls, name: str, argv: list[str], env: dict[str, str], echo: threading.Event) -> Child:
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        # Own process group: a terminal's Ctrl-C reaches only the launcher, which then stops each
        # group as a whole (any grandchildren included).
        proc = subprocess.Popen(argv, cwd=PROJECT_DIR, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, process_group=0)
        child = cls(name, proc, LOG_DIR / f"{name}.log", echo)
        child.reader = threading.Thread(target=child._forward, name=f"out-{name}", daemon=True)
        child.reader.start()
        return child

    def _forward(self) -> None:
        assert self.proc.stdout is not None
        with open(self.log_path, "w", encoding="utf-8") as log:
            for raw in self.proc.stdout:
                line = raw.decode("utf-8", errors="replace").rstrip("\n")
                log.write(line + "\n")
                log.flush()
                self.recent.append(line)
                if self.echo.is_set():
                    say(self.name, line)

    def describe_exit(self) -> str:
        tail = "\n".join(f"    {line}" for line in self.recent) or "    (no output)"
        return f"{self.name} exited with status {self.proc.returncode}; its last output:\n{tail}"

    def signal_group(self, signum: int) -> None:
        try:
            os.killpg(self.proc.pid, signum)
        except ProcessLookupError:
            pass  # the whole group is gone


def probe(url: str, want_status: int | None) -> str | None:
    """None when `url` answers as wanted (any HTTP status if want_status is None), else why not."""
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            status = resp.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (urllib.error.URLError, OSError) as exc:
        return f"no answer ({getattr(exc, 'reason', exc)})"
    if want_status is None or status == want_status:
        return None
    return f"HTTP {status}, want {want_status}"


def wait_until_answering(checks: dict[str, tuple[str, int | None]], children: list[Child], stop: StopFlag,
                         timeout_s: float) -> str | None:
    """Poll every check until all answer. None on success, else what went wrong."""
    pending = dict(checks)
    why: dict[str, str] = {}
    deadline = time.monotonic() + timeout_s
    while pending:
        if stop:
            return "stopped before the stack answered"
        for child in children:
            if child.proc.poll() is not None:
                return child.describe_exit()
        for name, (url, want) in list(pending.items()):
            problem = probe(url, want)
            if problem is None:
                del pending[name]
            else:
                why[name] = f"{url}: {problem}"
        if pending and time.monotonic() > deadline:
            lines = "\n".join(f"    {why[n]}" for n in pending)
            return f"no answer after {timeout_s:g} s from:\n{lines}\n  (logs in {LOG_DIR.relative_to(PROJECT_DIR)}/)"
        time.sleep(POLL_S)
    return None


def supervise(children: list[Child], stop: StopFlag) -> str | None:
    """Block until a signal (None) or a child's death (its description)."""
    while not stop:
        for child in children:
            if child.proc.poll() is not None:
                return child.describe_exit()
        time.sleep(POLL_S)
    return None


def stop_children(children: list[Child]) -> None:
    for child in reversed(children):
        child.signal_group(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_S
    for child in reversed(children):
        try:
            child.proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            say("stack", f"{child.name} ignored SIGTERM for {STOP_GRACE_S:g} s; killing it")
            child.signal_group(signal.SIGKILL)
            child.proc.wait()
        # The group leader is gone; anything it left behind in its group goes too.
        child.signal_group(signal.SIGKILL)
    for child in children:
        if child.reader is not None:
            child.reader.join(timeout=2)


def start_moto(conv: Conventions) -> Any:
    from moto.server import ThreadedMotoServer

    from devstack import moto_patch

    # DynamoDB's atomic conditional writes, which moto alone does not give, and a cost per
    # operation that does not grow with the table (devstack/moto_patch.py)
    moto_patch.install()

    # werkzeug would log every AWS call the app makes; errors still show.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address=conv.host, port=conv.moto_port, verbose=False)
    server.start()
    return server


def state_dir(env: dict[str, str] | os._Environ[str] | None = None) -> Path:
    """Where the stack keeps its state: CERTGATE_STATE_DIR, else .stack/state."""
    env = os.environ if env is None else env
    return Path(env["CERTGATE_STATE_DIR"]) if env.get("CERTGATE_STATE_DIR") else DEFAULT_STATE_DIR


def reset_state(directory: Path) -> list[Path]:
    """Delete what the stack saved in `directory` (`make reset`); returns the files deleted."""
    gone = sorted(p for p in directory.glob("*.pickle")) if directory.is_dir() else []
    for path in gone:
        path.unlink()
    return gone


def child_commands(conv: Conventions, simulators: list[str], state: Path) -> dict[str, list[str]]:
    py = sys.executable
    commands = {p: [py, "-m", f"simulators.{p}", "--host", conv.host, "--port", str(conv.sim_ports[p]),
                    "--state", str(state / f"{p}.pickle")]
                for p in simulators}
    commands["chalice"] = [py, "-m", "devstack.chalice_local", "local", "--no-autoreload", "--stage",
                           conventions.STAGE, "--host", conv.host, "--port", str(conv.api_port)]
    commands["scheduler"] = [py, "-m", "devstack.scheduler"]
    return commands


def print_summary(conv: Conventions, simulators: list[str], missing: list[str], started: float) -> None:
    say("stack", f"API        {conv.api_url}   (stage {conventions.STAGE}, chalice local)")
    say("stack", f"moto       {conv.moto_url}   ({MOTO_SERVICES})")
    for p in simulators:
        say("stack", f"{p:<10} {conv.sim_url(p)}   (admin: {conv.sim_url(p)}/_sim/...)")
    for p in missing:
        say("stack", f"{p:<10} not started: simulators/{p}.py does not exist yet")
    say("stack", f"table {conv.table}, bucket {conv.bucket}, topic {conv.topic_arn}")
    say("stack", f"secrets {', '.join(conv.secret_names.values())}; events queue {conv.events_queue} (`make events`)")
    say("stack", f"logs       {LOG_DIR.relative_to(PROJECT_DIR)}/<name>.log")
    say("stack", f"certgate local stack ready in {time.monotonic() - started:.1f} s; Ctrl-C stops it")
    say("stack", f"try: curl -s -X POST {conv.api_url}/certificates -H 'content-type: application/json' "
                 "-d '{\"provider\":\"tinycert\",\"common_name\":\"www.example.com\"}'")


def run(conv: Conventions, stop: StopFlag, start_timeout_s: float, state: Path = DEFAULT_STATE_DIR) -> int:
    started = time.monotonic()
    simulators, missing = conventions.simulator_modules()
    wanted = {"api": conv.api_port, "moto": conv.moto_port, **{p: conv.sim_ports[p] for p in simulators}}
    busy = [f"{what} :{port}" for what, port in wanted.items() if conventions.port_in_use(conv.host, port)]
    if busy:
        say("stack", f"cannot start, port in use: {', '.join(busy)}. Is another `make run` still up? "
                     "(`ss -ltnp` shows who holds it; CERTGATE_API_PORT, MOTO_PORT, CERTGATE_<PROVIDER>_PORT move it)")
        return 2
    for p in missing:
        say("stack", f"simulators/{p}.py does not exist yet: {p} will not be simulated")

    from devstack import moto_state
    from simulators import snapshot

    moto = start_moto(conv)
    moto_file = state / "moto.pickle"
    try:
        restored = moto_state.load(moto_file)
    except Exception as exc:  # noqa: BLE001 - any unreadable snapshot: say so, start clean
        say("stack", f"cannot restore {moto_file} ({exc!r}); starting with empty AWS resources "
                     "(`make reset` deletes the saved state)")
        restored = []
    say("stack", f"moto listening on {conv.moto_url}" +
        (f", state restored from {moto_file} ({', '.join(restored)})" if restored else ""))
    saver = snapshot.Saver(moto_file, moto_state.dumps, MOTO_SAVE_INTERVAL_S, always=True).start()
    children: list[Child] = []
    echo = threading.Event()
    try:
        from botocore.exceptions import BotoCoreError, ClientError

        from devstack.seed import SeedError, seed

        try:
            seeded = seed(conv.moto_url, conv.region, conv)
        except (SeedError, ClientError, BotoCoreError) as exc:
            say("stack", f"seeding the local resources failed: {exc}")
            return 1
        say("stack", f"seeded table, bucket, topic, KMS key {seeded['kms_alias']}, secrets, events queue, "
                     f"hosted zone {seeded['dns_zone']} ({seeded['dns_zone_id']})")
        env = conventions.child_environment(conv)
        # Route 53 validation: the seeded zone is allowed (unless CERTGATE_DNS_ZONES says otherwise),
        # and the simulators look records up in moto's Route 53 (simulators/dns.py).
        env.setdefault("CERTGATE_DNS_ZONES", seeded["dns_zone_id"])
        env["SIM_ROUTE53_ENDPOINT_URL"] = conv.moto_url
        for name, argv in child_commands(conv, simulators, state).items():
            children.append(Child.start(name, argv, env, echo))
            say("stack", f"started {name} (pid {children[-1].proc.pid})")
        checks: dict[str, tuple[str, int | None]] = {
            "api": (conv.api_url + "/health", 200),
            "moto": (conv.moto_url + "/moto-api/", None),
            **{p: (conv.sim_url(p) + "/_sim/ca.pem", 200) for p in simulators},
        }
        say("stack", "waiting for the API, moto and the simulators to answer")
        problem = wait_until_answering(checks, children, stop, start_timeout_s)
        if problem is None:
            conventions.RUNNING_FILE.write_text(json.dumps(conventions.port_variables(conv)))
            print_summary(conv, simulators, missing, started)
            echo.set()
            problem = supervise(children, stop)
        if problem is not None and not stop:
            say("stack", problem)
            say("stack", "stopping everything")
            return 1
        return 0
    finally:
        conventions.RUNNING_FILE.unlink(missing_ok=True)
        stop_children(children)
        saver.close()  # after the children: their last writes are in it
        moto.stop()
        say("stack", f"stopped; state kept in {state} (`make reset` starts clean)")


def main() -> int:
    stop = StopFlag()
    signal.signal(signal.SIGINT, stop.handle)
    signal.signal(signal.SIGTERM, stop.handle)
    try:
        conv = conventions.load()
        raw_timeout = os.environ.get("CERTGATE_START_TIMEOUT_S") or str(DEFAULT_START_TIMEOUT_S)
        try:
            start_timeout_s = float(raw_timeout)
        except ValueError:
            raise ValueError(f"CERTGATE_START_TIMEOUT_S must be seconds, got {raw_timeout!r}") from None
        delay = os.environ.get("CERTGATE_SIM_ISSUE_DELAY_S")
        try:
            if delay and (optional_float(delay) or 0) < 0:
                raise ValueError
        except ValueError:
            raise ValueError(f"CERTGATE_SIM_ISSUE_DELAY_S must be seconds or 'never', got {delay!r}") from None
    except ValueError as exc:
        say("stack", f"bad setting: {exc}")
        return 2
    state = state_dir()
    if "--reset" in sys.argv[1:]:
        gone = reset_state(state)
        say("stack", f"reset: deleted {len(gone)} saved state file(s) in {state}")
    return run(conv, stop, start_timeout_s, state)


if __name__ == "__main__":
    sys.exit(main())
