"""`make events` (and any tool) finds a `make run` moved to other ports: the stack writes its
port variables to .stack/ports.json, `with_running_ports` fills in those the caller did not set."""

from __future__ import annotations

import json
from pathlib import Path

from devstack import conventions


def test_the_running_stacks_ports_fill_in_what_the_environment_does_not_set(tmp_path: Path) -> None:
    moved = conventions.load({"CERTGATE_API_PORT": "18000", "MOTO_PORT": "15000", "CERTGATE_RESELLO_PORT": "18102"})
    running = tmp_path / "ports.json"
    running.write_text(json.dumps(conventions.port_variables(moved)))

    found = conventions.load(conventions.with_running_ports({}, running))
    assert (found.api_port, found.moto_port, found.sim_ports["resello"]) == (18000, 15000, 18102)
    assert found.moto_url == "http://127.0.0.1:15000"
    # What the caller sets wins.
    assert conventions.load(conventions.with_running_ports({"MOTO_PORT": "5001"}, running)).moto_port == 5001


def test_no_running_stack_means_the_defaults(tmp_path: Path) -> None:
    assert conventions.load(conventions.with_running_ports({}, tmp_path / "absent.json")).moto_port == 5000
    (tmp_path / "bad.json").write_text("not json")
    assert conventions.load(conventions.with_running_ports({}, tmp_path / "bad.json")).moto_port == 5000


def test_make_reset_deletes_the_saved_state_and_nothing_else(tmp_path: Path) -> None:
    from devstack import run

    for name in ("moto.pickle", "resello.pickle", "notes.txt"):
        (tmp_path / name).write_text("x")
    gone = run.reset_state(tmp_path)
    assert [p.name for p in gone] == ["moto.pickle", "resello.pickle"]
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
    assert run.reset_state(tmp_path / "absent") == []
    assert run.state_dir({"CERTGATE_STATE_DIR": str(tmp_path)}) == tmp_path
    assert run.state_dir({}) == run.DEFAULT_STATE_DIR
