"""Delivery: issued certificates to S3 (one prefix per revision, never overwritten) and events to
SNS (from the outbox; message attributes `event` and `provider` for subscription filters)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from chalicelib.adapters.clients import translate_errors
from chalicelib.core.model import Event


def event_body(ev: Event, bucket: str) -> dict[str, Any]:
    """The published body of an event, the same for every target (the SNS message, the
    EventBridge detail): the certificate as it was when the event happened (snapshot kept in the
    event row, so a retried publish says the same thing), never PEMs or keys."""
    detail = dict(ev.detail or {})
    cert = detail.pop("certificate", None) or {"id": ev.certificate_id, "provider": ev.provider}
    revision = ev.revision or cert.get("revision")
    body: dict[str, Any] = {
        "event_id": ev.event_id,
        "event": ev.kind,
        "occurred_at": ev.occurred_at,
        "certificate": cert,
        "detail": detail,
    }
    if ev.kind == "certificate.issued" and revision:
        body["s3"] = {"bucket": bucket, "prefix": f"certificates/{ev.certificate_id}/r{revision}/"}
    return body


@translate_errors("topic")
class EventPublisher:
    target = "sns"

    def __init__(self, client_factory: Callable[[], Any], topic_arn: str, bucket: str) -> None:
        self._client_factory = client_factory
        self.topic_arn = topic_arn
        self.bucket = bucket
        self.published = 0

    @property
    def client(self) -> Any:
        return self._client_factory()

    def message(self, ev: Event) -> dict[str, Any]:
        return event_body(ev, self.bucket)

    def publish(self, ev: Event) -> None:
        self.client.publish(
            TopicArn=self.topic_arn,
            Message=json.dumps(self.message(ev), separators=(",", ":")),
            MessageAttributes={
                "event": {"DataType": "String", "StringValue": ev.kind},
                "provider": {"DataType": "String", "StringValue": ev.provider or "unknown"},
            },
        )
        self.published += 1

    def ping(self) -> None:
        self.client.get_topic_attributes(TopicArn=self.topic_arn)
