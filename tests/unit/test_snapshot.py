"""simulators/snapshot.py: what the local stack saves its state with (keys, certificates, locks
and counters survive; a file is replaced whole or not at all; the saver saves what changed)."""

from __future__ import annotations

import datetime as dt
import itertools
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from simulators import snapshot
from simulators.ca import SimCA, build_csr, generate_key


def test_keys_certificates_csrs_locks_and_counters_round_trip() -> None:
    ca = SimCA("t")
    key = generate_key("ec")
    csr = build_csr(key, "www.example.com", [("dns", "www.example.com")])
    counter = itertools.count(7)
    next(counter)
    value = {"ca": ca, "key": key, "public": key.public_key(), "csr": csr, "lock": threading.Lock(),
             "rlock": threading.RLock(), "counter": counter}

    back = snapshot.loads(snapshot.dumps(value))

    assert back["ca"].root == ca.root and back["csr"] == csr
    der = serialization.Encoding.DER
    assert back["key"].private_numbers() == key.private_numbers()
    assert back["public"].public_bytes(der, serialization.PublicFormat.SubjectPublicKeyInfo) == \
        key.public_key().public_bytes(der, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert next(back["counter"]) == 8
    assert back["lock"].acquire(blocking=False) and back["rlock"].acquire(blocking=False)
    # The restored CA still signs, and what it signs chains to the same root.
    leaf = back["ca"].issue(ec.generate_private_key(ec.SECP256R1()).public_key(), "a.example.com", [])
    assert leaf.cert.issuer == ca.intermediate.subject
    assert isinstance(leaf.cert.not_valid_after_utc, dt.datetime) and isinstance(leaf.cert, x509.Certificate)


def test_a_failed_save_leaves_the_previous_file_whole(tmp_path: Path) -> None:
    path = tmp_path / "state.pickle"
    snapshot.save(path, {"orders": [1, 2]})

    with pytest.raises(TypeError):
        snapshot.save(path, {"orders": [3], "unsaveable": (x for x in ())})  # a generator cannot be pickled

    assert snapshot.load(path) == {"orders": [1, 2]}
    assert [p.name for p in tmp_path.iterdir()] == ["state.pickle"]  # no temporary file left behind


def test_load_of_a_missing_file_is_none(tmp_path: Path) -> None:
    assert snapshot.load(tmp_path / "absent.pickle") is None


def test_the_saver_saves_what_changed_on_close(tmp_path: Path) -> None:
    path = tmp_path / "s.pickle"
    state = {"n": 0}
    saver = snapshot.Saver(path, lambda: snapshot.dumps(state), interval_s=3600)  # the thread never fires here
    saver.start()
    assert not path.exists()
    state["n"] = 1
    saver.mark()
    saver.close()
    assert snapshot.load(path) == {"n": 1} and saver.saves == 1
