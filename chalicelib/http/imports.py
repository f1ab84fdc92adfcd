"""/imports: bring certificates placed elsewhere (at the provider's console) under certgate, list
the imports, and run a provider's recurring syncs now. A caller sees and syncs the imports they
started; an administrator all of them (as certificates: design.md section 6)."""

from __future__ import annotations

from chalice import Blueprint, Response
from chalice.app import Request

from chalicelib.core.errors import FieldError, ValidationFailed
from chalicelib.core.imports import IMPORT_STATUSES
from chalicelib.http.auth import is_admin, principal
from chalicelib.http.request import check_query, json_body, query
from chalicelib.http.routing import json_response, route, service

blueprint = Blueprint(__name__)


@route(blueprint, "/imports", ["POST"])
def start_import(req: Request) -> Response:
    from chalicelib.service import inventory

    caller = principal(req)
    job = inventory.start_import(service(), caller, json_body(req))
    return json_response(job, 202, {"Location": f"/imports/{job['id']}"})


@route(blueprint, "/imports", ["GET"])
def list_imports(req: Request) -> Response:
    from chalicelib.service import inventory
    from chalicelib.service.requests import validate_limit

    check_query(req, {"provider", "status", "limit", "next_token"})
    caller = principal(req)
    errors: list[FieldError] = []
    provider, status = query(req, "provider"), query(req, "status")
    names = service().directory.names()
    if provider is not None and provider not in names:
        errors.append(FieldError("provider", f"must be one of {', '.join(names)}"))
    if status is not None and status not in IMPORT_STATUSES:
        errors.append(FieldError("status", f"must be one of {', '.join(IMPORT_STATUSES)}"))
    if errors:
        raise ValidationFailed(errors)
    items, token = inventory.list_imports(service(), caller, admin=is_admin(caller),
                                          limit=validate_limit(query(req, "limit")),
                                          next_token=query(req, "next_token"), provider=provider, status=status)
    return json_response({"items": [j.to_public() for j in items], "next_token": token})


@route(blueprint, "/imports/sync", ["POST"])
def sync_imports(req: Request) -> Response:
    from chalicelib.service import inventory
    from chalicelib.service.requests import validate_sync

    caller = principal(req)
    provider = validate_sync(json_body(req), service().directory.names())
    jobs = inventory.sync_now(service(), caller, provider, admin=is_admin(caller))
    return json_response({"items": [j.to_public() for j in jobs], "next_token": None}, 202)  # nosec B105


@route(blueprint, "/imports/{import_id}", ["GET"])
def get_import(req: Request, import_id: str) -> Response:
    from chalicelib.service import inventory

    caller = principal(req)
    return json_response(inventory.get_import(service(), caller, import_id, admin=is_admin(caller)))
