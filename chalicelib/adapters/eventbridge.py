"""Events to an EventBridge bus (design.md 5, issue 19 item 3), beside SNS and from the same
outbox: source `certgate`, detail-type the event kind (`certificate.issued`, ...), detail the
same body SNS gets (adapters/sns.py `event_body`), so users route with rules."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from chalicelib.adapters.clients import translate_errors
from chalicelib.adapters.sns import event_body
from chalicelib.core.errors import DependencyFailed
from chalicelib.core.model import Event

SOURCE = "certgate"


@translate_errors("event_bus")
class EventBusPublisher:
    target = "eventbridge"

    def __init__(self, client_factory: Callable[[], Any], bus_name: str, bucket: str) -> None:
        self._client_factory = client_factory
        self.bus_name = bus_name
        self.bucket = bucket
        self.published = 0

    @property
    def client(self) -> Any:
        return self._client_factory()

    def entry(self, ev: Event) -> dict[str, Any]:
        return {"Source": SOURCE, "DetailType": ev.kind, "EventBusName": self.bus_name,
                "Detail": json.dumps(event_body(ev, self.bucket), separators=(",", ":")),
                "Resources": []}

    def publish(self, ev: Event) -> None:
        # put_events answers 200 with per-entry failures: a refused entry is a failed publish.
        resp = self.client.put_events(Entries=[self.entry(ev)])
        if resp.get("FailedEntryCount"):
            entries = resp.get("Entries") or [{}]
            raise DependencyFailed("event_bus", str(entries[0].get("ErrorCode") or "FailedEntry"))
        self.published += 1

    def ping(self) -> None:
        self.client.describe_event_bus(Name=self.bus_name)
