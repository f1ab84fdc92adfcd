"""Settings, read once from the environment (set per stage in .chalice/config.json)."""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from chalicelib.core.errors import ConfigError
from chalicelib.core.principals import stable_principal
from chalicelib.core.renewal import RenewalRules
from chalicelib.core.vocabulary import AWS_REGION
from chalicelib.service.policy import Policy

STAGES = ("local", "dev", "prod", "test")
CREDENTIALS_NAME_PREFIX = "CERTGATE_SECRET_"  # CERTGATE_SECRET_<PROVIDER> names that provider's secret


def secret_variable(provider: str) -> str:
    """The environment variable that overrides `provider`'s secret name."""
    return CREDENTIALS_NAME_PREFIX + provider.upper().replace("-", "_")


N = TypeVar("N", int, float)
_GROUP_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def _number(env: Mapping[str, str], name: str, default: N, kind: type[N], what: str) -> N:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return kind(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be {what}, got {raw!r}") from exc


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    return _number(env, name, default, int, "an integer")


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    return _number(env, name, default, float, "a number")


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    value = _float(env, name, default)
    if value < 0:
        raise ConfigError(f"{name} must not be negative, got {env.get(name)!r}")
    return value


_SYNC_INTERVAL = "CERTGATE_SYNC_INTERVAL_S"


def _fraction(env: Mapping[str, str], name: str, default: float) -> float:
    value = _float(env, name, default)
    if not 0 < value <= 1:
        raise ConfigError(f"{name} must be a number in (0, 1], got {env.get(name)!r}")
    return value


def _renewal_rules(env: Mapping[str, str]) -> RenewalRules:
    """CERTGATE_RENEW_FRACTION (the share of the lifetime left when renewal starts, default 1/3),
    CERTGATE_RENEW_JITTER (how much earlier, at most, as a share of that window; default 0.1) and
    CERTGATE_EXPIRY_NOTICES (the notice offsets as denominators, default "3,6,30": 1/3, 1/6 and
    1/30 of the lifetime left)."""
    raw = env.get("CERTGATE_EXPIRY_NOTICES", "").strip()
    try:
        offsets = tuple(sorted({int(n) for n in raw.split(",") if n.strip()})) if raw else (3, 6, 30)
    except ValueError as exc:
        raise ConfigError(f"CERTGATE_EXPIRY_NOTICES must be integers like 3,6,30, got {raw!r}") from exc
    if any(n < 1 for n in offsets):
        raise ConfigError(f"CERTGATE_EXPIRY_NOTICES must be integers >= 1, got {raw!r}")
    jitter = _float(env, "CERTGATE_RENEW_JITTER", 0.1)
    if not 0 <= jitter <= 1:
        raise ConfigError(f"CERTGATE_RENEW_JITTER must be in [0, 1], got {env.get('CERTGATE_RENEW_JITTER')!r}")
    return RenewalRules(remaining_fraction=_fraction(env, "CERTGATE_RENEW_FRACTION", 1 / 3), jitter=jitter,
                        notice_offsets=offsets)


def _principal_groups(env: Mapping[str, str]) -> dict[str, str]:
    """CERTGATE_PRINCIPAL_GROUPS: a JSON object, group name -> list of member principals (role or
    user ARNs; assumed-role ARNs are reduced to their role). A principal in two groups is refused:
    which team owns what it creates would be a guess."""
    raw = env.get("CERTGATE_PRINCIPAL_GROUPS", "").strip()
    if not raw:
        return {}
    try:
        spec = json.loads(raw)
    except ValueError as exc:
        raise ConfigError("CERTGATE_PRINCIPAL_GROUPS must be a JSON object of group -> [principals]") from exc
    if not isinstance(spec, dict):
        raise ConfigError("CERTGATE_PRINCIPAL_GROUPS must be a JSON object of group -> [principals]")
    members: dict[str, str] = {}
    for group, principals in spec.items():
        if not (isinstance(group, str) and _GROUP_NAME.match(group)) or not isinstance(principals, list):
            raise ConfigError(f"CERTGATE_PRINCIPAL_GROUPS: group {group!r} must be [A-Za-z0-9_.-]{{1,64}} "
                              "with a list of principals")
        for member in principals:
            stable = stable_principal(str(member).strip())
            if members.setdefault(stable, group) != group:
                raise ConfigError(f"CERTGATE_PRINCIPAL_GROUPS: {stable} is in two groups")
    return members


_ZONE_ID = re.compile(r"^[A-Z0-9]{1,32}$")


def _acm_region(env: Mapping[str, str]) -> str | None:
    """CERTGATE_ACM_DEFAULT_REGION: the stage's default ACM import region (service/delivery.py)."""
    region = env.get("CERTGATE_ACM_DEFAULT_REGION", "").strip()
    if region and not AWS_REGION.match(region):
        raise ConfigError(f"CERTGATE_ACM_DEFAULT_REGION must be an AWS region name such as us-east-1, got {region!r}")
    return region or None


def _dns_zones(env: Mapping[str, str]) -> tuple[str, ...]:
    """CERTGATE_DNS_ZONES: the Route 53 hosted zone ids (comma separated, `/hostedzone/` prefix
    optional) certgate may write DNS validation records into; none: no automation."""
    ids = []
    for raw in env.get("CERTGATE_DNS_ZONES", "").split(","):
        zone_id = raw.strip().rsplit("/", 1)[-1]
        if not raw.strip():
            continue
        if not _ZONE_ID.match(zone_id):
            raise ConfigError(f"CERTGATE_DNS_ZONES must be Route 53 hosted zone ids such as Z0123456789ABC, "
                              f"got {raw.strip()!r}")
        ids.append(zone_id)
    return tuple(dict.fromkeys(ids))


def _sync_intervals(env: Mapping[str, str]) -> dict[str, float]:
    """CERTGATE_SYNC_INTERVAL_S_<PROVIDER> for any provider (a new one needs no edit here)."""
    prefix = _SYNC_INTERVAL + "_"
    return {name[len(prefix):].lower(): _seconds(env, name, 0.0)
            for name in env if name.startswith(prefix) and len(name) > len(prefix) and env[name] != ""}


@dataclass(frozen=True)
class Settings:
    stage: str
    region: str
    table_name: str
    bucket_name: str
    topic_arn: str
    kms_key_id: str
    # Secret names set explicitly (CERTGATE_SECRET_<PROVIDER>), by the variable's provider part.
    secret_overrides: Mapping[str, str] = field(default_factory=dict)
    aws_endpoint_url: str | None = None
    secrets_ttl_s: int = 300
    provider_connect_timeout_s: float = 3.05
    provider_read_timeout_s: float = 20.0
    provider_max_attempts: int = 3
    tls_verify: bool = True
    # The knobs of the use cases and jobs, read from the environment here and handed to the service.
    policy: Policy = field(default_factory=Policy)
    poll_shards: int = 4
    # Teams that share certificates: stable member principal -> group name (core/principals.py).
    principal_groups: Mapping[str, str] = field(default_factory=dict)
    # CERTGATE_EVENT_BUS: the EventBridge bus (name or ARN) every published event also goes to; none if unset.
    event_bus: str | None = None
    # CERTGATE_DNS_ZONES: the hosted zones DNS validation is automated in (service/dns_validation.py).
    dns_zone_ids: tuple[str, ...] = ()

    @property
    def is_local(self) -> bool:
        return self.stage in ("local", "test")

    def secret_name(self, provider: str) -> str:
        """The Secrets Manager secret holding `provider`'s credentials: certgate/{stage}/{provider}
        unless CERTGATE_SECRET_<PROVIDER> says otherwise. Computed per provider, so that reading the
        settings needs no list of providers (and imports no adapter)."""
        return self.secret_overrides.get(secret_variable(provider), f"certgate/{self.stage}/{provider}")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        stage = env.get("CERTGATE_STAGE", "local")
        if stage not in STAGES:
            raise ConfigError(f"CERTGATE_STAGE must be one of {STAGES}, got {stage!r}")
        region = env.get("AWS_DEFAULT_REGION") or env.get("AWS_REGION") or "us-east-1"
        secret_overrides = {k: v for k, v in env.items() if k.startswith(CREDENTIALS_NAME_PREFIX) and v}
        verify_raw = env.get("CERTGATE_TLS_VERIFY", "true").lower()
        # TLS verification can only be relaxed where nothing real is reached.
        tls_verify = True if stage not in ("local", "test") else verify_raw not in ("0", "false", "no")
        admins = tuple(stable_principal(p.strip())
                       for p in env.get("CERTGATE_ADMIN_PRINCIPALS", "").split(",") if p.strip())
        provider_read_timeout_s = _float(env, "CERTGATE_PROVIDER_READ_TIMEOUT_S", 20.0)
        return cls(
            stage=stage,
            region=region,
            table_name=env.get("CERTGATE_TABLE", f"certgate-{stage}"),
            bucket_name=env.get("CERTGATE_BUCKET", f"certgate-{stage}-artifacts"),
            topic_arn=env.get("CERTGATE_TOPIC_ARN", f"arn:aws:sns:{region}:123456789012:certgate-{stage}-events"),
            kms_key_id=env.get("CERTGATE_KMS_KEY_ID", f"alias/certgate-{stage}"),
            secret_overrides=secret_overrides,
            aws_endpoint_url=env.get("AWS_ENDPOINT_URL") or None,
            secrets_ttl_s=_int(env, "CERTGATE_SECRETS_TTL_S", 300),
            provider_connect_timeout_s=_float(env, "CERTGATE_PROVIDER_CONNECT_TIMEOUT_S", 3.05),
            provider_read_timeout_s=provider_read_timeout_s,
            provider_max_attempts=_int(env, "CERTGATE_PROVIDER_MAX_ATTEMPTS", 3),
            tls_verify=tls_verify,
            policy=Policy(
                poll_min_interval_s=_int(env, "CERTGATE_POLL_MIN_INTERVAL_S", 60),
                poll_max_interval_s=_int(env, "CERTGATE_POLL_MAX_INTERVAL_S", 6 * 3600),
                poll_concurrency_per_provider=_int(env, "CERTGATE_POLL_CONCURRENCY", 8),
                poll_batch_limit=_int(env, "CERTGATE_POLL_BATCH_LIMIT", 2000),
                poll_safety_margin_ms=_int(env, "CERTGATE_POLL_SAFETY_MARGIN_MS", 10_000),
                reconcile_after_s=_int(env, "CERTGATE_RECONCILE_AFTER_S", 300),
                renewal=_renewal_rules(env),
                poll_rate_share=_fraction(env, "CERTGATE_POLL_RATE_SHARE", 0.5),
                renew_rate_share=_fraction(env, "CERTGATE_RENEW_RATE_SHARE", 0.25),
                renew_sweep_limit=_int(env, "CERTGATE_RENEW_SWEEP_LIMIT", 20_000),
                idempotency_ttl_s=_int(env, "CERTGATE_IDEMPOTENCY_TTL_S", 24 * 3600),
                admin_principals=admins,
                import_inline_s=_seconds(env, "CERTGATE_IMPORT_INLINE_S", 5.0),
                import_concurrency=max(1, int(_seconds(env, "CERTGATE_IMPORT_CONCURRENCY", 4))),
                sync_interval_s=_seconds(env, _SYNC_INTERVAL, 3600.0),
                sync_interval_s_by_provider=_sync_intervals(env),
                provider_read_timeout_s=provider_read_timeout_s,
                acm_default_region=_acm_region(env),
            ),
            poll_shards=_int(env, "CERTGATE_POLL_SHARDS", 4),
            principal_groups=_principal_groups(env),
            event_bus=env.get("CERTGATE_EVENT_BUS", "").strip() or None,
            dns_zone_ids=_dns_zones(env),
        )


@functools.lru_cache(maxsize=1)
def settings() -> Settings:
    """The process-wide settings (read once). Tests call `settings.cache_clear()`."""
    return Settings.from_env()
