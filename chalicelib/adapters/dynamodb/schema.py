"""The single DynamoDB table (design.md section 3): keys, indexes, TTL. Used by the local stack,
the tests and kept in lockstep with infra/ by a test."""

from __future__ import annotations

from typing import Any

INDEX_BY_OWNER = "by_owner"
INDEX_DUE = "due"
INDEX_EXPIRY = "expiry"
INDEX_OUTBOX = "outbox"
INDEX_ACTION = "action"
TTL_ATTRIBUTE = "ttl"

_KEY_ATTRS = {
    "pk": "S", "sk": "S",
    "owner": "S", "created_at": "S",
    "due_shard": "S", "next_poll_at": "S",
    "expiry_bucket": "S", "not_after": "S",
    "outbox_shard": "S", "outbox_at": "S",
    "action_bucket": "S", "next_action_at": "S",
}

_GSIS = {
    INDEX_BY_OWNER: ("owner", "created_at"),
    INDEX_DUE: ("due_shard", "next_poll_at"),  # sparse: only certificates waiting for a provider
    INDEX_EXPIRY: ("expiry_bucket", "not_after"),  # sparse: only issued certificates
    INDEX_OUTBOX: ("outbox_shard", "outbox_at"),  # sparse: only events not yet published
    # sparse: only certificates renew_expiring will have something to do for (core/renewal.py next_action_at)
    INDEX_ACTION: ("action_bucket", "next_action_at"),
}


def table_definition(table_name: str) -> dict[str, Any]:
    """Arguments for DynamoDB CreateTable (on-demand billing)."""
    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": n, "AttributeType": t} for n, t in _KEY_ATTRS.items()],
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": name,
                "KeySchema": [{"AttributeName": h, "KeyType": "HASH"}, {"AttributeName": r, "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "ALL"},
            }
            for name, (h, r) in _GSIS.items()
        ],
    }


def gsi_keys() -> dict[str, tuple[str, str]]:
    return dict(_GSIS)
