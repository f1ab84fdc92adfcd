"""Functional tests: routes and jobs through chalice.test.Client, on a real moto server (HTTP) and
the three provider simulators (HTTP), all in-process on free ports."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

logging.getLogger("werkzeug").setLevel(logging.ERROR)

REGION = "us-east-1"
ACCOUNT = "123456789012"


def call(client: Any, method: str, path: str, body: Any = None, principal: str | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], Any]:
    hdrs = {"Content-Type": "application/json", "Accept": "*/*", **(headers or {})}
    if principal:
        hdrs["X-Certgate-Principal"] = principal
    raw = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else b"")
    resp = getattr(client.http, method.lower())(path, body=raw, headers=hdrs)
    lowered = {k.lower(): v for k, v in resp.headers.items()}
    parsed: Any = resp.body
    if "json" in lowered.get("content-type", ""):
        parsed = json.loads(resp.body or b"null")
    return resp.status_code, lowered, parsed


# -- response recording ------------------------------------------------------------------------------
# Every response a test sees through call() is kept here until the end of that test, when
# tests/conftest.py validates each one against the OpenAPI document (whatever the order of tests).
# call() is wrapped rather than edited so the helper above stays exactly as its tests know it.
@dataclass(frozen=True)
class RecordedResponse:
    method: str
    path: str  # concrete, as requested (query string included)
    status: int
    content_type: str
    headers: dict[str, str]
    body: Any


RECORDED: list[RecordedResponse] = []
_call_unrecorded = call


def call(client: Any, method: str, path: str, body: Any = None, principal: str | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], Any]:
    status, lowered, parsed = _call_unrecorded(client, method, path, body, principal, headers)
    RECORDED.append(RecordedResponse(method.upper(), path, status, lowered.get("content-type", ""), lowered, parsed))
    return status, lowered, parsed
