"""moto's state across `make run` restarts: the backends of every service certgate uses, saved to
`.stack/state/moto.pickle` and loaded before the stack is seeded.

moto 5 has no persistence of its own: its recorder (MOTO_ENABLE_RECORDING) replays the requests,
which would make new KMS keys (so every sealed private key would be lost) and new ACM ARNs. moto
runs in this process (devstack.run), so its backends — plain Python objects — are saved as they
are (simulators.snapshot writes the cryptography keys and locks they hold): the same table items,
objects, secrets and their versions, topics and subscriptions, queues, event buses, KMS keys and
ACM certificates, ARNs and ids unchanged."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from simulators import snapshot

# Every service devstack.seed creates something in, or the app calls (ACM import, Route 53 records).
SERVICES = ("dynamodb", "s3", "sns", "sqs", "events", "acm", "secretsmanager", "kms", "route53")
_RETRIES = 5


def _backends(service: str) -> Any:
    from moto.backends import get_backend

    return get_backend(service)  # type: ignore[call-overload]


def capture(services: tuple[str, ...] = SERVICES) -> dict[str, dict[str, Any]]:
    """Each service's backends, {service: {"backends": {account id: {region: backend}}, "indexes":
    {...}}}: copies of the mappings, the backends as they are. The indexes are the dicts a service
    keeps beside its backends (S3's bucket name -> account): without it a restored bucket would be
    unknown to CreateBucket, which would then replace it with an empty one."""
    return {s: {"backends": {account: dict(regions) for account, regions in _backends(s).items()},
                "indexes": {name: dict(value) for name, value in vars(_backends(s)).items()
                            if isinstance(value, dict)}}
            for s in services}


def dumps(services: tuple[str, ...] = SERVICES) -> bytes:
    """The backends as bytes. A request that changes a mapping while it is written makes pickle
    fail (a dict changed size); that is retried: the stack keeps serving meanwhile."""
    from devstack.moto_atomic import _LOCK

    for attempt in range(_RETRIES):
        try:
            # DynamoDB's lock (devstack.moto_atomic): no transaction is saved half applied.
            with _LOCK:
                return snapshot.dumps(capture(services))
        except RuntimeError:
            if attempt == _RETRIES - 1:
                raise
    raise AssertionError("unreachable")


def restore(saved: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> list[str]:
    """Put saved backends in place of the current ones (before anything is served); returns the
    services restored. A service this moto does not know is skipped."""
    from devstack import moto_patch

    restored = []
    for service, parts in saved.items():
        if service not in SERVICES:
            continue
        live = _backends(service)
        for account, regions in parts["backends"].items():
            live[account].clear()
            live[account].update(regions)
        for name, index in parts["indexes"].items():
            current = getattr(live, name, None)
            if isinstance(current, dict):
                current.clear()
                current.update(index)
        restored.append(service)
    # The query fast path's sorted indexes (devstack.moto_patch) are rebuilt on first use.
    for regions in _backends("dynamodb").values() if "dynamodb" in saved else ():
        for backend in regions.values():
            for table in backend.tables.values():
                moto_patch._forget(table)
    return restored


def save(path: Path) -> None:
    snapshot.save_bytes(path, dumps())


def load(path: Path) -> list[str]:
    """Restore what `save` wrote to `path`; [] when there is nothing saved."""
    saved = snapshot.load(path)
    return [] if saved is None else restore(saved)
