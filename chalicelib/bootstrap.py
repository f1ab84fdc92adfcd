"""The composition root: settings + adapters -> the service, built once per container, lazily.

Nothing else wires: the routes ask this module for the service (and for the health checks),
the service only sees the ports of chalicelib/service/ports.py.

The service, the providers and the adapters are imported when first built, not when this module
is: app.py imports it, and `import app` (the Lambda cold start) must stay light."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from chalicelib.config import Settings, settings
from chalicelib.core.errors import ProviderError

if TYPE_CHECKING:
    from chalicelib.core.provider import Capabilities
    from chalicelib.providers.base import Provider
    from chalicelib.providers.http import HttpSettings
    from chalicelib.service.certificates import CertificateService
    from chalicelib.service.policy import Policy

def http_settings(cfg: Settings) -> HttpSettings:
    from chalicelib.observability import PROVIDER_OBSERVER
    from chalicelib.providers.http import HttpSettings

    return HttpSettings(connect_timeout=cfg.provider_connect_timeout_s, read_timeout=cfg.provider_read_timeout_s,
                        max_attempts=cfg.provider_max_attempts, verify=cfg.tls_verify, observer=PROVIDER_OBSERVER)


def policy(cfg: Settings) -> Policy:
    return cfg.policy


def _client(service: str, cfg: Settings) -> Callable[[], Any]:
    from chalicelib.adapters import clients

    return lambda: clients.client(service, cfg.region, cfg.aws_endpoint_url)


class ProviderDirectory:
    """The `Providers` port: discovered adapters, each built from its Secrets Manager secret."""

    def __init__(self, cfg: Settings) -> None:
        from chalicelib.adapters.secrets import ProviderSecrets
        from chalicelib.providers import registry

        self.cfg = cfg
        self.secrets = ProviderSecrets(_client("secretsmanager", cfg), cfg.secret_name, registry.names, cfg.region,
                                       cfg.secrets_ttl_s)
        self.adapters = registry.Registry()

    def names(self) -> Sequence[str]:
        from chalicelib.providers import registry

        return registry.names()

    def get(self, name: str) -> Provider:
        pinned = self.adapters.pinned(name)
        if pinned is not None:
            return pinned
        return self.adapters.get(name, self.secrets.credentials(name), http_settings(self.cfg))

    def capabilities(self, name: str) -> Capabilities:
        from chalicelib.providers import registry

        return registry.capabilities(name)

    def configured(self, name: str) -> bool:
        try:
            self.secrets.credentials(name)
        except ProviderError:
            return False
        return True

    def defaults(self, name: str) -> Mapping[str, Any]:
        creds = self.secrets.credentials(name)
        out: dict[str, Any] = {k: creds[k] for k in ("organization", "approver") if isinstance(creds.get(k), dict)}
        for key in ("default_ca_id", "default_ca_cert_id", "default_organization_id"):
            if creds.get(key) is not None:
                out[key] = creds[key]
        return out


@functools.lru_cache(maxsize=1)
def directory() -> ProviderDirectory:
    return ProviderDirectory(settings())


@functools.lru_cache(maxsize=1)
def service() -> CertificateService:
    from chalicelib.adapters.dynamodb.store import CertificateStore
    from chalicelib.adapters.kms import KeyVault
    from chalicelib.adapters.s3 import ArtifactStore
    from chalicelib.adapters.sns import EventPublisher
    from chalicelib.service.certificates import CertificateService

    cfg = settings()
    return CertificateService(
        more_publishers=event_bus_publishers(cfg),
        delivery=acm_delivery(cfg),
        dns=dns_zones(cfg),
        cfg=policy(cfg),
        store=CertificateStore(_client("dynamodb", cfg), cfg.table_name, shards=cfg.poll_shards),
        artifacts=ArtifactStore(_client("s3", cfg), cfg.bucket_name, kms_key_id=cfg.kms_key_id),
        publisher=EventPublisher(_client("sns", cfg), cfg.topic_arn, cfg.bucket_name),
        vault=KeyVault(_client("kms", cfg), cfg.kms_key_id),
        directory=directory(),
    )


def event_bus_publishers(cfg: Settings) -> tuple[Any, ...]:
    """The EventBridge target when CERTGATE_EVENT_BUS names a bus (none otherwise)."""
    if not cfg.event_bus:
        return ()
    from chalicelib.adapters.eventbridge import EventBusPublisher

    return (EventBusPublisher(_client("events", cfg), cfg.event_bus, cfg.bucket_name),)


def acm_delivery(cfg: Settings) -> Any:
    """ACM import (service/delivery.py), one client per region a certificate asks for."""
    from chalicelib.adapters import clients
    from chalicelib.adapters.acm import AcmDelivery

    return AcmDelivery(lambda region: clients.client("acm", region, cfg.aws_endpoint_url))


def dns_zones(cfg: Settings) -> Any:
    """The Route 53 zones of CERTGATE_DNS_ZONES (service/dns_validation.py); None without any."""
    if not cfg.dns_zone_ids:
        return None
    from chalicelib.adapters.route53 import Route53Zones

    return Route53Zones(_client("route53", cfg), cfg.dns_zone_ids)


def health_checks() -> dict[str, Callable[[], None]]:
    """What GET /health pings: the table, the bucket, the topic (and event bus) and the provider secrets."""
    svc = service()
    checks = {"table": svc.store.ping, "bucket": svc.artifacts.ping, "topic": svc.publisher.ping,
              "secrets": directory().secrets.ping}
    for extra in svc.publishers[1:]:
        checks["event_bus"] = extra.ping
    return checks


def override_provider(name: str, adapter: Provider | None) -> None:
    """Tests and benchmarks: pin an adapter instance (None forgets it)."""
    directory().adapters.override(name, adapter)


def reset() -> None:
    """Tests: forget every cached object (settings, clients, adapters, secrets)."""
    from chalicelib.adapters import clients

    if directory.cache_info().currsize:
        directory().secrets.clear_cache()
    service.cache_clear()
    directory.cache_clear()
    settings.cache_clear()
    clients.reset_clients()


def run_job(name: str, event: Any) -> dict[str, Any]:
    """What every scheduled function of app.py does: run the job `name` on the service, within the
    time the Lambda invocation has left."""
    from chalicelib.observability import bind_invocation
    from chalicelib.service import jobs

    context = getattr(event, "context", None)
    request_id = getattr(context, "aws_request_id", None)
    bind_invocation(context, request_id, job=name, request_id=request_id)
    return jobs.run(service(), name, jobs.remaining_from(context))
