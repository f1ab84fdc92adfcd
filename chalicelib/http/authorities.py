"""/providers/tinycert/authorities: TinyCert's certificate authorities (list, read, create, delete,
and each CA's certificate as PEM).
They are shared by everyone who orders from TinyCert: any authenticated caller may list, read and
create them; only an administrator may delete one (service/admin.py says why)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Blueprint, Response
from chalice.app import Request

from chalicelib.core.errors import FieldError, ValidationFailed
from chalicelib.http.auth import is_admin, principal
from chalicelib.http.request import check_query, json_body, query
from chalicelib.http.routing import json_response, route, service

if TYPE_CHECKING:
    from chalicelib.core.provider import Authority

blueprint = Blueprint(__name__)
PATH = "/providers/tinycert/authorities"


def _public(a: Authority) -> dict[str, Any]:
    # The integer provider_options.ca_id and filters.ca_id take (TinyCert's own ca_id is one).
    return {"id": int(a.ca_id), "name": a.name, "details": dict(a.details), "certificate_pem": a.certificate_pem}


@route(blueprint, PATH, ["GET"])
def list_authorities(req: Request) -> Response:
    from chalicelib.service import admin

    principal(req)  # authenticates the caller
    items = [_public(a) for a in admin.list_authorities(service())]
    return json_response({"items": items, "next_token": None})  # a paging field, not a secret  # nosec B105


@route(blueprint, PATH, ["POST"])
def create_authority(req: Request) -> Response:
    from chalicelib.service import admin

    principal(req)  # authenticates the caller
    from chalicelib.service.requests import validate_authority  # lazy: `import app` loads no validation

    fields = validate_authority(json_body(req))
    created = admin.create_authority(service(), fields)
    return json_response(_public(created), 201, {"Location": f"{PATH}/{created.ca_id}"})


@route(blueprint, PATH + "/{ca_id}", ["GET"])
def get_authority(req: Request, ca_id: str) -> Response:
    from chalicelib.service import admin

    principal(req)  # authenticates the caller
    return json_response(_public(admin.get_authority(service(), ca_id)))


@route(blueprint, PATH + "/{ca_id}/pem", ["GET"])
def authority_pem(req: Request, ca_id: str) -> Response:
    from chalicelib.service import admin

    principal(req)  # authenticates the caller
    return Response(body=admin.authority_pem(service(), ca_id), status_code=200,
                    headers={"Content-Type": "application/x-pem-file",
                             "Content-Disposition": f'attachment; filename="tinycert-ca-{int(ca_id)}.pem"'})


@route(blueprint, PATH + "/{ca_id}", ["DELETE"])
def delete_authority(req: Request, ca_id: str) -> Response:
    from chalicelib.service import admin

    caller = principal(req)
    check_query(req, {"force"})
    force = query(req, "force")
    if force not in (None, "true", "false"):
        raise ValidationFailed([FieldError("force", "must be true or false")])
    admin.delete_authority(service(), ca_id, actor=caller, admin=is_admin(caller), force=force == "true")
    return Response(body="", status_code=204)
