"""The composition root: builds the service and its collaborators once per container, lazily."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from chalicelib import aws
from chalicelib.config import settings
from chalicelib.service import CertificateService


def _defaults(provider: str) -> Mapping[str, Any]:
    """Order defaults a provider secret may hold (organization, approver)."""
    from chalicelib.providers.credentials import credentials

    creds = credentials(provider)
    return {k: creds[k] for k in ("organization", "approver") if isinstance(creds.get(k), dict)}


@functools.lru_cache(maxsize=1)
def service() -> CertificateService:
    from chalicelib.keys import KeyVault
    from chalicelib.providers import registry
    from chalicelib.publish import ArtifactStore, EventPublisher
    from chalicelib.store import CertificateStore

    cfg = settings()
    return CertificateService(
        cfg=cfg,
        store=CertificateStore(lambda: aws.client("dynamodb"), cfg.table_name, shards=cfg.poll_shards),
        artifacts=ArtifactStore(lambda: aws.client("s3"), cfg.bucket_name, kms_key_id=cfg.kms_key_id),
        publisher=EventPublisher(lambda: aws.client("sns"), cfg.topic_arn, cfg.bucket_name),
        vault=KeyVault(lambda: aws.client("kms"), cfg.kms_key_id),
        providers=registry.get,
        capabilities=registry.capabilities,
        provider_defaults=_defaults,
    )


def reset() -> None:
    """Tests: forget every cached object (settings, clients, adapters, secrets)."""
    from chalicelib.providers import credentials, registry

    service.cache_clear()
    settings.cache_clear()
    aws.reset_clients()
    registry.reset()
    credentials.clear_cache()
