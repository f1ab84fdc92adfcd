"""How a blueprint declares a route: every route takes any Content-Type, requires IAM (unless told
otherwise), receives the request as its first argument and answers every failure as problem+json.

The service is reached through `service()`: the composition root is imported on the first request,
so that `import app` (the Lambda cold start) loads neither the service nor the providers."""

from __future__ import annotations

import functools
import json
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chalice import Blueprint, IAMAuthorizer, Response
from chalice.app import Authorizer

from chalicelib.http import problems
from chalicelib.http.request import concrete_path
from chalicelib.observability import bind_invocation, logger

if TYPE_CHECKING:
    from chalicelib.service.certificates import CertificateService

# Deployed: API Gateway verifies SigV4 and hands us the caller's IAM identity (design.md section 6).
# chalice local and chalice.test skip IAM authorizers; there X-Certgate-Principal stands in.
IAM = IAMAuthorizer()
# Routes accept any Content-Type so that a wrong one reaches our handler and gets a 415 problem+json
# (Chalice's own 415 is not problem+json).
ANY_CONTENT = ["*/*"]
# What API Gateway passes through as binary (the certificate downloads); app.py declares them.
BINARY_TYPES = ["application/pkix-cert", "application/pkcs7-mime", "application/zip", "application/x-pkcs12",
                "application/octet-stream"]
ALL_METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH")
# A route's body: (request, **path parameters) -> response.
View = Callable[..., Response]


def service() -> CertificateService:
    from chalicelib.bootstrap import service as built

    return built()


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(body=json.dumps(body, separators=(",", ":")), status_code=status,
                    headers={"Content-Type": "application/json", **(headers or {})})


def _handled(blueprint: Blueprint, view: View) -> View:
    """`view` with the request passed in, the log context set and every exception a problem response."""

    @functools.wraps(view)
    def handled(**path_params: str) -> Response:
        req = blueprint.current_request
        instance = concrete_path(req)
        request_id = (req.context or {}).get("requestId") or uuid.uuid4().hex
        bind_invocation(getattr(req, "lambda_context", None), request_id, request_id=request_id, path=instance,
                        method=req.method)
        started = time.monotonic()
        try:
            return view(req, **path_params)
        except Exception as exc:  # noqa: BLE001 - the one place an unexpected error becomes a 500 problem
            parts = problems.from_exception(exc, instance)
            if parts is None:
                logger.exception("unhandled error", extra={"request_id": request_id})
                parts = problems.internal_error(instance, request_id)
            return problems.response(*parts)
        finally:
            logger.debug("request handled", extra={"ms": round((time.monotonic() - started) * 1000, 1)})

    return handled


def route(blueprint: Blueprint, path: str, methods: list[str], *,
          authorizer: Authorizer | None = IAM) -> Callable[[View], View]:
    """Declare `path` for `methods` on `blueprint`; the decorated view is returned unchanged."""

    def declare(view: View) -> View:
        blueprint.route(path, methods=methods, content_types=ANY_CONTENT, authorizer=authorizer)(
            _handled(blueprint, view))
        return view

    return declare
