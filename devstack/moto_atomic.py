"""Make the in-process moto DynamoDB behave like DynamoDB under concurrency.

Real DynamoDB applies each request atomically and TransactWriteItems serializably. Moto's threaded
server runs requests on several threads against one unlocked in-memory backend, so two conditional
writes can both pass their condition and a reader can see a transaction half applied — which would
make our concurrency tests pass or fail by luck. One lock around the item-level operations restores
the guarantees the application relies on (it does not weaken any condition)."""

from __future__ import annotations

import functools
import threading
from typing import Any

_LOCK = threading.RLock()
_OPERATIONS = ("put_item", "get_item", "update_item", "delete_item", "query", "scan", "batch_get_item",
               "batch_write_item", "transact_write_items", "transact_get_items", "execute_statement",
               "execute_transaction", "batch_execute_statement")


def make_dynamodb_atomic() -> None:
    """Idempotently wrap moto's DynamoDB backend operations in one process-wide lock."""
    from moto.dynamodb.models import DynamoDBBackend

    for name in _OPERATIONS:
        original = getattr(DynamoDBBackend, name, None)
        if original is None or getattr(original, "_certgate_atomic", False):
            continue

        @functools.wraps(original)
        def locked(self: Any, *args: Any, __original: Any = original, **kw: Any) -> Any:
            with _LOCK:
                return __original(self, *args, **kw)

        locked._certgate_atomic = True  # type: ignore[attr-defined]
        setattr(DynamoDBBackend, name, locked)
