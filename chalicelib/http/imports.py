"""/imports: bring certificates placed elsewhere (at the provider's console) under certgate."""

from __future__ import annotations

from chalice import Blueprint, Response
from chalice.app import Request

from chalicelib.http.auth import principal
from chalicelib.http.request import json_body
from chalicelib.http.routing import json_response, route, service

blueprint = Blueprint(__name__)


@route(blueprint, "/imports", ["POST"])
def start_import(req: Request) -> Response:
    from chalicelib.service import inventory

    caller = principal(req)
    job = inventory.start_import(service(), caller, json_body(req))
    return json_response(job, 202, {"Location": f"/imports/{job['id']}"})


@route(blueprint, "/imports/{import_id}", ["GET"])
def get_import(req: Request, import_id: str) -> Response:
    from chalicelib.service import inventory

    return json_response(inventory.get_import(service(), principal(req), import_id))
