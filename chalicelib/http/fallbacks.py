"""Unknown paths and methods answer problem+json: 404 for a path no route declares (any depth up to
`depth`), 405 for a declared path with a method it does not take. Built from the routes declared so
far and registered last: static routes win over these in API Gateway and locally."""

from __future__ import annotations

import re
from collections.abc import Mapping

from chalice import Blueprint, Response
from chalice.app import Request, RouteEntry

from chalicelib.http import problems
from chalicelib.http.request import concrete_path
from chalicelib.http.routing import ALL_METHODS, View, route


def _not_found(name: str) -> View:
    def not_found(req: Request, **_: str) -> Response:
        path = concrete_path(req)
        body = problems.problem_body(404, "not_found", "Not found", f"no route {req.method} {path}", instance=path)
        return problems.response(404, body)

    not_found.__name__ = name
    return not_found


def _method_not_allowed(allowed: list[str], name: str) -> View:
    def method_not_allowed(req: Request, **_: str) -> Response:
        path = concrete_path(req)
        body = problems.problem_body(405, "method_not_allowed", "Method not allowed",
                                     f"{req.method} is not allowed on {path}", instance=path, allowed=allowed)
        return problems.response(405, body, {"Allow": ", ".join(allowed)})

    method_not_allowed.__name__ = name
    return method_not_allowed


def blueprint_for(routes: Mapping[str, Mapping[str, RouteEntry]], depth: int = 6) -> Blueprint:
    """The 404/405 routes of an app whose declared routes are `routes`."""
    blueprint = Blueprint(__name__)
    for path, methods in routes.items():
        missing = [m for m in ALL_METHODS if m not in methods]
        if missing:
            name = "method_not_allowed_" + re.sub(r"\W+", "_", path).strip("_")
            route(blueprint, path, missing)(_method_not_allowed(sorted(methods), name))
    for n in range(1, depth + 1):
        path = "/" + "/".join(f"{{p{i}}}" for i in range(n))
        if path not in routes:
            route(blueprint, path, list(ALL_METHODS))(_not_found(f"not_found_{n}"))
    return blueprint
