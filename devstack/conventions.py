"""The local stack's conventions (design.md section 7): host, ports, URLs, resource names and the
environment the app runs with.

Resource names come from the `local` stage of .chalice/config.json, the one place they are written
down; the providers and their simulators are discovered (chalicelib/providers/registry.py,
simulators/__init__.py), and each secret is named by the app's own rule (Settings.secret_name).
Every port and every name can be overridden by an environment variable: the ports by
CERTGATE_API_PORT, MOTO_PORT and CERTGATE_<PROVIDER>_PORT, the names by the app's own variables
(CERTGATE_TABLE, CERTGATE_BUCKET, CERTGATE_SECRET_<PROVIDER>, ...); the simulators' auto-issue
delay by CERTGATE_SIM_ISSUE_DELAY_S (seconds, `never` = only on POST /_sim/advance). AWS_* variables are never taken from the
caller's environment: the local stack must only ever talk to the local moto server."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from chalicelib.config import Settings
from chalicelib.providers import registry
from simulators.defaults import default_ports

PROJECT_DIR = Path(__file__).resolve().parent.parent
STAGE = "local"
HOST = "127.0.0.1"
DEFAULT_API_PORT = 8000
DEFAULT_MOTO_PORT = 5000
EVENTS_QUEUE = "certgate-local-events-tail"
# Taken from the caller's environment only for these, and never for AWS_* (see module doc).
_NOT_OVERRIDABLE = ("CERTGATE_STAGE",)


@dataclass(frozen=True)
class Conventions:
    host: str
    api_port: int
    moto_port: int
    sim_ports: Mapping[str, int]
    app_env: Mapping[str, str]  # what chalice local and the scheduler run with
    events_queue: str = EVENTS_QUEUE

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.api_port}"

    @property
    def moto_url(self) -> str:
        return f"http://{self.host}:{self.moto_port}"

    def sim_url(self, provider: str) -> str:
        return f"http://{self.host}:{self.sim_ports[provider]}"

    @property
    def region(self) -> str:
        return self.app_env["AWS_DEFAULT_REGION"]

    @property
    def table(self) -> str:
        return self.app_env["CERTGATE_TABLE"]

    @property
    def bucket(self) -> str:
        return self.app_env["CERTGATE_BUCKET"]

    @property
    def topic_arn(self) -> str:
        return self.app_env["CERTGATE_TOPIC_ARN"]

    @property
    def kms_alias(self) -> str:
        return self.app_env["CERTGATE_KMS_KEY_ID"]

    @property
    def secret_names(self) -> dict[str, str]:
        settings = Settings.from_env(self.app_env)
        return {p: settings.secret_name(p) for p in registry.names()}

    @property
    def ports(self) -> dict[str, int]:
        """Every port the stack binds, by what binds it."""
        return {"api": self.api_port, "moto": self.moto_port, **self.sim_ports}


def stage_environment(project_dir: Path = PROJECT_DIR, stage: str = STAGE) -> dict[str, str]:
    """The environment_variables .chalice/config.json declares for `stage`."""
    config = json.loads((project_dir / ".chalice" / "config.json").read_text())
    return dict(config.get("environment_variables", {})) | dict(
        config["stages"][stage].get("environment_variables", {}))


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name) or str(default)
    try:
        port = int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a port number, got {raw!r}") from exc
    if not 0 < port < 65536:
        raise ValueError(f"{name} must be a port number, got {raw!r}")
    return port


def load(env: Mapping[str, str] | None = None, project_dir: Path = PROJECT_DIR) -> Conventions:
    env = os.environ if env is None else env
    api_port = _port(env, "CERTGATE_API_PORT", DEFAULT_API_PORT)
    moto_port = _port(env, "MOTO_PORT", DEFAULT_MOTO_PORT)
    sim_ports = {p: _port(env, f"CERTGATE_{p.upper()}_PORT", port) for p, port in default_ports().items()}
    app_env = stage_environment(project_dir)
    for name in app_env:
        if name in env and not name.startswith("AWS_") and name not in _NOT_OVERRIDABLE:
            app_env[name] = env[name]
    app_env["AWS_ENDPOINT_URL"] = f"http://{HOST}:{moto_port}"
    return Conventions(HOST, api_port, moto_port, sim_ports, app_env,
                       env.get("CERTGATE_EVENTS_QUEUE") or EVENTS_QUEUE)


RUNNING_FILE = PROJECT_DIR / ".stack" / "ports.json"


def port_variables(conv: Conventions) -> dict[str, str]:
    """The port overrides that reproduce `conv`'s ports (CERTGATE_API_PORT, MOTO_PORT, ...)."""
    return {"CERTGATE_API_PORT": str(conv.api_port), "MOTO_PORT": str(conv.moto_port),
            **{f"CERTGATE_{p.upper()}_PORT": str(port) for p, port in conv.sim_ports.items()}}


def with_running_ports(env: Mapping[str, str], running_file: Path = RUNNING_FILE) -> dict[str, str]:
    """`env` plus the ports the running `make run` was started on (it writes them to
    .stack/ports.json), for each one `env` does not set: so `make events` in another shell finds a
    stack moved with CERTGATE_API_PORT / MOTO_PORT without being told again."""
    merged = dict(env)
    try:
        running = json.loads(running_file.read_text())
    except (OSError, ValueError):
        return merged
    if isinstance(running, dict):
        for name, port in running.items():
            if isinstance(name, str) and not merged.get(name):
                merged[name] = str(port)
    return merged


def child_environment(conv: Conventions, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for the stack's child processes: the caller's, without any AWS_* setting
    (a profile, a session token or a region from a real account must not leak in), plus the app's."""
    base = os.environ if base is None else base
    env = {k: v for k, v in base.items() if not k.startswith("AWS_")}
    env.update(conv.app_env)
    env["AWS_REGION"] = conv.region
    if base.get("CERTGATE_SIM_ISSUE_DELAY_S"):
        # The simulators' own setting (simulators/base.py), under the stack's name for it.
        env["SIM_ISSUE_DELAY_S"] = base["CERTGATE_SIM_ISSUE_DELAY_S"]
    env["PYTHONUNBUFFERED"] = "1"  # children's output is forwarded line by line
    return env


def simulator_modules() -> tuple[list[str], list[str]]:
    """(present, missing): which providers have a simulator (simulators/<provider>.py)."""
    simulated = default_ports()
    present = [p for p in registry.names() if p in simulated]
    return present, [p for p in registry.names() if p not in simulated]


def port_in_use(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0
