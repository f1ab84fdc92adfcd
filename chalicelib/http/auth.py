"""Who is calling: the owner of everything they create and the only one who may see it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from chalice.app import Request

from chalicelib.config import Settings, settings
from chalicelib.core.errors import BadRequest, Unauthorized
from chalicelib.core.principals import owner_of

LOCAL_HEADER = "x-certgate-principal"
LOCAL_DEFAULT_PRINCIPAL = "local-dev"
_PRINCIPAL = re.compile(r"^[A-Za-z0-9@._:/+=,-]{1,256}$")


def principal_of(headers: Mapping[str, str], context: Mapping[str, Any] | None, cfg: Settings) -> str:
    """The owner the caller acts as (core/principals.py: an assumed-role session is its role, a
    configured team member its group) of the caller's identity: the IAM identity API Gateway
    verified (deployed stages), or the X-Certgate-Principal header in the local stage only (a
    request without it is `local-dev`)."""
    return owner_of(_identity(headers, context, cfg), cfg.principal_groups)


def _identity(headers: Mapping[str, str], context: Mapping[str, Any] | None, cfg: Settings) -> str:
    lowered = {k.lower(): v for k, v in (headers or {}).items()}
    header = lowered.get(LOCAL_HEADER)
    if cfg.is_local:
        if header is None:
            return LOCAL_DEFAULT_PRINCIPAL
        if not _PRINCIPAL.match(header):
            raise BadRequest("X-Certgate-Principal must be 1-256 characters of [A-Za-z0-9@._:/+=,-]",
                             code="invalid_principal")
        return header
    if header is not None:
        # Outside the local stage the header would let anyone impersonate anyone.
        raise BadRequest("X-Certgate-Principal is accepted only in the local stage", code="principal_header_refused")
    identity = (context or {}).get("identity") or {}
    arn = identity.get("userArn") or identity.get("caller")
    if not arn:
        raise Unauthorized("no IAM identity on the request (API Gateway IAM authorization is required)")
    return str(arn)


def principal(req: Request) -> str:
    """The principal of the request being served (raises when there is none: the caller is unauthenticated)."""
    return principal_of(dict(req.headers or {}), req.context or {}, settings())


def is_admin(principal: str) -> bool:
    return principal in settings().policy.admin_principals
