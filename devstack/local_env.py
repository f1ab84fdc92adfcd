"""Small pieces every in-process world (tests, benchmarks) needs: a free port, and environment
variables set for a block and put back exactly as they were afterwards."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@contextmanager
def patched_environ(values: Mapping[str, str], drop: Iterable[str] = ()) -> Iterator[None]:
    """Set `values` and remove `drop` for the block; restore every touched variable after it."""
    dropped = tuple(drop)
    old = {k: os.environ.get(k) for k in (*values, *dropped)}
    for k in dropped:
        os.environ.pop(k, None)
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
