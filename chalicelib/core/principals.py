"""Who owns what: the stable identity behind a caller's IAM ARN, and the teams that share.

An IAM role's temporary credentials arrive as an STS *assumed-role* ARN carrying the session name
(`arn:aws:sts::123456789012:assumed-role/app/i-0abc` — a new name per Lambda container, EC2
instance profile rotation or `aws sts assume-role` call). Owning certificates by that raw ARN
made every new session a new owner, blind to what the previous session ordered. The owner is the
role (`arn:aws:iam::123456789012:role/app`) instead — the identity IAM policies are written for.

The assumed-role ARN does not carry the role's path, so the normalized role ARN has none either;
configure principals and groups with path-less role ARNs (`CERTGATE_PRINCIPAL_GROUPS`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_ASSUMED_ROLE = re.compile(r"^arn:(?P<partition>aws[a-z-]*):sts::(?P<account>\d{12}):"
                           r"assumed-role/(?P<role>[\w+=,.@-]{1,64})/[\w+=,.@-]{1,64}$")
GROUP_PREFIX = "group:"


def stable_principal(principal: str) -> str:
    """The role ARN behind an STS assumed-role ARN; any other principal unchanged."""
    m = _ASSUMED_ROLE.match(principal)
    if m is None:
        return principal
    return f"arn:{m['partition']}:iam::{m['account']}:role/{m['role']}"


def owner_of(principal: str, groups: Mapping[str, str]) -> str:
    """The owner a caller acts as: its team (`group:<name>`) when `groups` (member principal ->
    group name, members already stable) names one, else its stable principal."""
    stable = stable_principal(principal)
    group = groups.get(stable)
    return f"{GROUP_PREFIX}{group}" if group else stable
