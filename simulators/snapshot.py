"""Saving in-memory state to a file and reading it back: what lets the local stack (`make run`)
keep its simulators' orders and moto's resources across restarts (README, "Local state").

One pickler for both. Plain pickle cannot write what these objects hold: cryptography's keys,
certificates and CSRs (Rust objects) and the threading locks guarding them. `reducer_override`
writes keys and certificates as DER and locks as fresh locks, so nothing else has to change to
be saved. Pickle is right here: the files are written and read by the same checkout, on a
developer's machine, under `.stack/state/` (never anything downloaded).

A file is replaced atomically (written beside it, then renamed), so a kill -9 mid-write leaves
the previous snapshot, never half of one."""

from __future__ import annotations

import io
import itertools
import os
import pickle
import re
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

_LOCK_TYPES = (type(threading.Lock()), type(threading.RLock()))
_PRIVATE_KEYS = (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)
_PUBLIC_KEYS = (rsa.RSAPublicKey, ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)
_COUNT = re.compile(r"^count\((-?\d+)\)$")


# Module-level functions, so that pickle can name them (cryptography's loaders are Rust builtins it cannot).
def _certificate(der: bytes) -> x509.Certificate:
    return x509.load_der_x509_certificate(der)


def _csr(der: bytes) -> x509.CertificateSigningRequest:
    return x509.load_der_x509_csr(der)


def _private_key(der: bytes) -> Any:
    return serialization.load_der_private_key(der, password=None)


def _public_key(der: bytes) -> Any:
    return serialization.load_der_public_key(der)


def _new_rlock() -> Any:
    return threading.RLock()


def _new_lock() -> Any:
    return threading.Lock()


class _Pickler(pickle.Pickler):
    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, x509.Certificate):
            return _certificate, (obj.public_bytes(serialization.Encoding.DER),)
        if isinstance(obj, x509.CertificateSigningRequest):
            return _csr, (obj.public_bytes(serialization.Encoding.DER),)
        if isinstance(obj, _PRIVATE_KEYS):
            der = obj.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
            return _private_key, (der,)
        if isinstance(obj, _PUBLIC_KEYS):
            der = obj.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
            return _public_key, (der,)
        if isinstance(obj, _LOCK_TYPES):
            # A lock is never state: a restored object gets a fresh, unlocked one.
            return (_new_rlock if isinstance(obj, _LOCK_TYPES[1]) else _new_lock), ()
        if isinstance(obj, itertools.count):
            # Pickling count() is deprecated (gone in 3.14); its repr says where it stands.
            found = _COUNT.match(repr(obj))
            if found is None:
                raise pickle.PicklingError(f"cannot save {obj!r} (only integer steps of 1)")
            return itertools.count, (int(found.group(1)),)
        return NotImplemented


def dumps(value: Any) -> bytes:
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(value)
    return buffer.getvalue()


def loads(data: bytes) -> Any:
    return pickle.loads(data)


def save(path: Path, value: Any) -> None:
    """Write `value` to `path`, atomically."""
    save_bytes(path, dumps(value))


def save_bytes(path: Path, data: bytes) -> None:
    """Write `data` (from `dumps`) to `path`, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(path: Path) -> Any | None:
    """What `save` wrote to `path`, or None when there is no such file."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    return loads(data)


class Saver:
    """Saves `dump()` (bytes from `dumps`) to `path` every `interval_s` — only when `mark()` was
    called since the last save, or always with `always=True` — from a background thread, and once
    more on `close()`: a kill -9 loses at most one interval."""

    def __init__(self, path: Path, dump: Callable[[], bytes], interval_s: float = 1.0,
                 always: bool = False) -> None:
        self.path, self._dump, self.interval_s, self.always = path, dump, interval_s, always
        self._dirty = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"save-{path.name}", daemon=True)
        self.saves = 0

    def start(self) -> Saver:
        self._thread.start()
        return self

    def mark(self) -> None:
        self._dirty.set()

    def flush(self) -> None:
        self._dirty.clear()
        save_bytes(self.path, self._dump())
        self.saves += 1

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            if self.always or self._dirty.is_set():
                try:
                    self.flush()
                except (OSError, pickle.PicklingError, RuntimeError) as exc:
                    # Keep serving; the next interval tries again.
                    print(f"saving {self.path} failed: {exc!r}", file=sys.stderr, flush=True)

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.flush()
