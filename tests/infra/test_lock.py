"""The lock file (requirements.lock, made by `make lock`): every package `make` installs is pinned
with its hashes, and it agrees with the pins people edit (requirements.txt, requirements-dev.txt)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;\\]+)")


def _name(raw: str) -> str:
    return re.sub(r"[-_.]+", "-", raw).lower()


def _entries(path: Path) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) for a pip requirements file with `\\` continuations."""
    text = path.read_text().replace("\\\n", " ")
    out: dict[str, tuple[str, list[str]]] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        found = PIN.match(line)
        if found:
            out[_name(found.group(1))] = (found.group(3), re.findall(r"--hash=(sha256:[0-9a-f]{64})", line))
    return out


def _inputs(path: Path) -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r "):
            pins.update(_inputs(path.parent / line[3:].strip()))
        elif found := PIN.match(line):
            pins[_name(found.group(1))] = found.group(3)
    return pins


def test_every_locked_package_is_pinned_with_hashes() -> None:
    lock = _entries(ROOT / "requirements.lock")
    assert len(lock) > 50  # the whole tree, not just the direct pins
    assert [name for name, (_, hashes) in lock.items() if not hashes] == []
    clients = _entries(ROOT / "requirements-clients.txt")
    assert clients and all(hashes for _, hashes in clients.values())


def test_the_lock_agrees_with_the_pins_people_edit() -> None:
    lock = _entries(ROOT / "requirements.lock")
    wanted = _inputs(ROOT / "requirements-dev.txt")
    assert "requests" in wanted and "chalice" in wanted
    disagree = {name: (version, lock.get(name, ("missing",))[0]) for name, version in wanted.items()
                if lock.get(name, ("missing",))[0] != version}
    assert disagree == {}, f"run `make lock` (pin, lock): {disagree}"


def test_the_makefile_installs_from_the_lock_with_hashes_required() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "--require-hashes -r requirements.lock" in makefile
    assert "--require-hashes --no-deps -r requirements-clients.txt" in makefile
    assert "-r requirements-dev.txt\n" not in makefile.split("lock:")[0]  # nothing unhashed besides the project
