"""Schemathesis against the `make run` stack, from the OpenAPI document: examples, boundary values
(coverage phase) and generated valid and invalid requests for every operation. Whatever it sends,
the API never answers 5xx, every 4xx is problem+json whose `status` is the HTTP status, and every
response conforms to the document (status, content type, schema, headers).

Bounded: a few generated cases per operation and mode, so the whole run stays well under two
minutes on the local stack (figures in the module's report at the end of the run)."""

from __future__ import annotations

import copy
import time
from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi import checks as openapi_checks

from tools.openapi import spec

if TYPE_CHECKING:
    from tests.e2e.conftest import RunningStack

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

MAX_EXAMPLES = 25
REQUEST_TIMEOUT_S = 30
STATS: Counter[str] = Counter()



def _local_document() -> dict[str, Any]:
    """The document as the local stage serves it: no SigV4 (API Gateway's IAM check is not there)."""
    doc = copy.deepcopy(spec())
    doc["security"] = []
    doc["components"].pop("securitySchemes")
    return doc


schema = schemathesis.openapi.from_dict(_local_document(), config=schemathesis.Config.from_dict({
    "generation": {"max-examples": MAX_EXAMPLES, "mode": "all"},
    # The methods chalicelib.http.fallbacks answers 405 for; HEAD, OPTIONS and TRACE are answered by API Gateway
    # (and locally by chalice local's HTTP server: 501 HTML), never by the app.
    "phases": {"stateful": {"enabled": False},
               "coverage": {"unexpected-methods": ["GET", "PUT", "POST", "DELETE", "PATCH"]}},
}))
# Deleting a TinyCert CA could delete the seeded default one every later TinyCert order needs.
schema = schema.exclude(method="DELETE", path="/providers/tinycert/authorities/{ca_id}")


@pytest.fixture(scope="module", autouse=True)
def report() -> Iterator[None]:
    started = time.monotonic()
    yield
    total = sum(v for k, v in STATS.items() if k.startswith("status "))
    print(f"\nschemathesis: {total} requests in {time.monotonic() - started:.1f} s; "
          + ", ".join(f"{k}: {v}" for k, v in sorted(STATS.items())))


def _problem_is_well_formed(response: Any) -> None:
    ctype = response.headers.get("content-type", [""])
    ctype = (ctype[0] if isinstance(ctype, list) else ctype).split(";")[0].strip()
    assert ctype == "application/problem+json", f"{response.status_code} answered {ctype}: {response.text[:300]}"
    body = response.json()
    assert body.get("status") == response.status_code, body
    assert body.get("code") and body.get("title"), body


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck), print_blob=True)
def test_the_api_holds_to_its_document(case: Any, stack: RunningStack) -> None:
    response = case.call(base_url=stack.api, timeout=REQUEST_TIMEOUT_S)
    STATS[f"status {response.status_code // 100}xx"] += 1
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:500]}"
    if response.status_code >= 400:
        _problem_is_well_formed(response)
    case.validate_response(response, checks=[
        openapi_checks.status_code_conformance,
        openapi_checks.content_type_conformance,
        openapi_checks.response_schema_conformance,
        openapi_checks.response_headers_conformance,
        openapi_checks.negative_data_rejection,
    ])
