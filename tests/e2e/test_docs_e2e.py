"""The docs run as written: every shell block (```sh, ```bash, ```console) of README.md and docs/*.md
is run against the `make run` stack, command by command, and each must succeed — a `curl` must
answer 2xx (or the status its comment names, `# answers 409`), anything else must exit 0.

What the docs write as placeholders is filled in: `ID` and `crt_...` become a certificate made for
that command (owned by the `X-Certgate-Principal` it sends; a pending one for a DELETE, which
cancels), `$API` the stack's URL, the default ports the ones the stack runs on. `make run` is the
stack itself, already up. A block that cannot run here (it needs a real AWS account, or is the test
suite itself) says so on the line before its fence: `<!-- docs-test: skip: <why> -->`; the reasons
are printed with -v (`test_skipped_blocks_say_why` lists them)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import requests

from devstack import conventions
from simulators.defaults import default_ports

if TYPE_CHECKING:
    from tests.e2e.conftest import RunningStack

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

DOCS = [conventions.PROJECT_DIR / "README.md", *sorted((conventions.PROJECT_DIR / "docs").glob("*.md"))]
FENCE = re.compile(r"^(\s*)```(\w*)\s*$")
SKIP = re.compile(r"<!--\s*docs-test:\s*skip:\s*(.+?)\s*-->")
SHELL_LANGS = {"sh", "bash", "console", "shell"}
ANSWERS = re.compile(r"#.*\banswers (\d{3})\b")
PRINCIPAL = re.compile(r"X-Certgate-Principal:\s*([\w.@-]+)", re.IGNORECASE)
PLACEHOLDER = re.compile(r"\bcrt_(?:\.\.\.|…)|(?<=/certificates/)ID\b|(?<=\s)ID(?=\s|$)")
STATUS = "__DOCS_STATUS__"
DONE = "__DOCS_DONE__"
P12_PASSPHRASE = "at least 8 chars"


@dataclass(frozen=True)
class Block:
    path: Path
    line: int
    commands: list[str]
    skip: str | None

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(conventions.PROJECT_DIR)}:{self.line}"


def split_commands(lines: list[str]) -> list[str]:
    """Logical commands: continuation lines (trailing `\\`) and quotes spanning lines joined;
    comment-only and blank lines dropped."""
    commands: list[str] = []
    pending = ""
    for raw in lines:
        line = raw.rstrip()
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending = f"{pending}\n{line}" if pending else line.strip()
        if pending.endswith("\\"):
            continue
        try:
            shlex.split(pending, comments=True)
        except ValueError:  # a quote still open: the command goes on on the next line
            continue
        commands.append(pending)
        pending = ""
    if pending:
        commands.append(pending)
    return commands


def shell_blocks(path: Path) -> list[Block]:
    lines = path.read_text().splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        opened = FENCE.match(lines[i])
        if not opened:
            i += 1
            continue
        start, lang = i, opened.group(2).lower()
        i += 1
        body: list[str] = []
        while i < len(lines) and not FENCE.match(lines[i]):
            body.append(lines[i])
            i += 1
        i += 1  # the closing fence
        if lang not in SHELL_LANGS:
            continue
        before = next((lines[j] for j in range(start - 1, -1, -1) if lines[j].strip()), "")
        marker = SKIP.search(before)
        blocks.append(Block(path, start + 1, split_commands(body), marker.group(1) if marker else None))
    return blocks


ALL_BLOCKS = [block for path in DOCS for block in shell_blocks(path)]


def test_the_docs_have_shell_blocks_and_every_skip_says_why() -> None:
    assert len([b for b in ALL_BLOCKS if b.skip is None]) >= 5
    assert all(b.skip.strip() for b in ALL_BLOCKS if b.skip is not None)


def test_skipped_blocks_say_why() -> None:
    for block in ALL_BLOCKS:
        if block.skip is not None:
            print(f"{block.where}: not run: {block.skip}")


def _ports(command: str, conv: conventions.Conventions) -> str:
    moves = {conventions.DEFAULT_API_PORT: conv.api_port, conventions.DEFAULT_MOTO_PORT: conv.moto_port,
             **{port: conv.sim_ports[p] for p, port in default_ports().items()}}
    for default, actual in moves.items():
        command = re.sub(rf"(127\.0\.0\.1|localhost):{default}\b", rf"\g<1>:{actual}", command)
    return command


def _certificate(stack: RunningStack, principal: str, pending: bool) -> str:
    """A certificate for `principal` (issued at TinyCert, which holds its key, so every download
    works; a Resello one still pending when asked for)."""
    body = {"provider": "resello" if pending else "tinycert", "common_name": "docs.example.com"}
    resp = requests.post(f"{stack.api}/certificates", json=body, headers={"X-Certgate-Principal": principal},
                         timeout=30)
    assert resp.status_code in (201, 202), resp.text
    return str(resp.json()["id"])


def prepare(command: str, stack: RunningStack) -> str:
    command = _ports(command, stack.conventions)
    # The checkout's venv, wherever the tests run from (a worktree may have none of its own).
    command = re.sub(r"(?<![\w/])\.venv/bin/", f"{Path(sys.executable).parent}/", command)
    if PLACEHOLDER.search(command):
        found = PRINCIPAL.search(command)
        principal = found.group(1) if found else "local-dev"
        cid = _certificate(stack, principal, pending=bool(re.search(r"-X\s*DELETE|\bcancel\b", command)))
        command = PLACEHOLDER.sub(cid, command)
    return command


def _script(commands: list[str]) -> str:
    # curl reports each status on stderr (stdout stays what the doc pipes or saves); every command
    # reports its exit status after it.
    lines = ["set -o pipefail",
             f"curl() {{ command curl --write-out '%{{stderr}}{STATUS} %{{http_code}}\\n' \"$@\"; }}"]
    for n, command in enumerate(commands):
        if re.fullmatch(r"make run\s*&?(\s*#.*)?", command):
            command = ":  # `make run`: the stack under test, already up"
        lines += [command, f"echo \"{DONE} {n} $?\" >&2"]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("block", [b for b in ALL_BLOCKS if b.skip is None], ids=lambda b: b.where)
def test_doc_block_runs_as_written(stack: RunningStack, block: Block, tmp_path: Path) -> None:
    commands = [prepare(c, stack) for c in block.commands]
    env = {**os.environ, "API": stack.api, "CERTGATE_URL": stack.api,
           "CERTGATE_API_PORT": str(stack.conventions.api_port), "CERTGATE_P12_PASSPHRASE": P12_PASSPHRASE,
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "PYTHONPATH": os.pathsep.join([str(conventions.PROJECT_DIR), str(conventions.PROJECT_DIR / "client")])}
    done = subprocess.run(["bash", "-c", _script(commands)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300, stdin=subprocess.DEVNULL)
    statuses: list[str] = []
    failures: list[str] = []
    ran = 0
    for line in done.stderr.splitlines():
        if line.startswith(STATUS):
            statuses.append(line.split()[1])
        elif line.startswith(DONE):
            _, n, code = line.split()
            command = commands[int(n)]
            ran += 1
            wanted = ANSWERS.search(command)
            bad = [s for s in statuses if (s != wanted.group(1) if wanted else not s.startswith("2"))]
            if code != "0" or bad:
                failures.append(f"$ {command}\n  exit {code}, HTTP {statuses or '-'}")
            statuses = []
    assert ran == len(commands), f"{block.where}: stopped after {ran} of {len(commands)}:\n{done.stderr[-2000:]}"
    assert not failures, f"{block.where}:\n" + "\n".join(failures) + f"\n--- stdout\n{done.stdout[-2000:]}" \
                         f"\n--- stderr\n{done.stderr[-2000:]}"
