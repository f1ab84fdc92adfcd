"""The service's own routes: GET /health (liveness, the one route without IAM: no AWS call, so an
anonymous caller cannot make certgate spend), GET /health/ready (readiness: every dependency
pinged; IAM like every other route), GET /providers and GET /openapi.json."""

from __future__ import annotations

import functools
import json
import pathlib
from typing import Any

from chalice import Blueprint, Response
from chalice.app import Request

from chalicelib.config import settings
from chalicelib.http import problems
from chalicelib.http.request import concrete_path
from chalicelib.http.routing import json_response, route, service

blueprint = Blueprint(__name__)


@functools.lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    """The OpenAPI document, generated at build time by tools/openapi.py and shipped as a file."""
    return dict(json.loads((pathlib.Path(__file__).with_name("openapi.json")).read_text()))


@route(blueprint, "/health", ["GET"], authorizer=None)
def health(req: Request) -> Response:
    """Liveness: the function answers. Touches nothing behind it (readiness does)."""
    return json_response({"status": "ok", "stage": settings().stage})


@route(blueprint, "/health/ready", ["GET"])
def ready(req: Request) -> Response:
    from chalicelib.bootstrap import health_checks
    from chalicelib.service.health import check

    ok, checks = check(health_checks())
    if ok:
        return json_response({"status": "ok", "stage": settings().stage, "checks": checks})
    failed = sorted(k for k, v in checks.items() if v != "ok")
    body = problems.problem_body(503, "dependency_unavailable", "Service unavailable",
                                 f"unreachable: {', '.join(failed)}", instance=concrete_path(req), checks=checks)
    return problems.response(503, body, {"Retry-After": "10"})


@route(blueprint, "/providers", ["GET"])
def providers(req: Request) -> Response:
    from chalicelib.service.admin import providers_overview

    svc = service()
    today = svc.clock().date()
    items = [{"name": p.name, "configured": p.configured, "capabilities": p.capabilities.to_dict(today)}
             for p in providers_overview(svc)]
    return json_response({"items": items, "next_token": None})  # a paging field, not a secret  # nosec B105


@route(blueprint, "/openapi.json", ["GET"])
def openapi(req: Request) -> Response:
    return json_response(openapi_document())
