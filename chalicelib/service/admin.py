"""Provider administration: which providers exist and are configured, and TinyCert's
certificate authorities (list, details, create, delete — never the default one)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from chalicelib.core.errors import Conflict, NotFound, ProviderNotFound
from chalicelib.core.provider import Authority, Capabilities
from chalicelib.service.certificates import CertificateService

AUTHORITY_PROVIDER = "tinycert"


@dataclass(frozen=True)
class ProviderInfo:
    name: str
    configured: bool
    capabilities: Capabilities


def providers_overview(svc: CertificateService) -> list[ProviderInfo]:
    directory = svc.directory
    return [ProviderInfo(name, directory.configured(name), directory.capabilities(name)) for name in directory.names()]


def _checked_ca_id(ca_id: str) -> str:
    if not ca_id.isdigit() or len(ca_id) > 12:
        raise NotFound(f"no certificate authority {ca_id!r}")
    return ca_id


def list_authorities(svc: CertificateService) -> list[Authority]:
    return svc.providers(AUTHORITY_PROVIDER).list_authorities()


def get_authority(svc: CertificateService, ca_id: str) -> Authority:
    try:
        return svc.providers(AUTHORITY_PROVIDER).get_authority(_checked_ca_id(ca_id))
    except ProviderNotFound as exc:
        raise NotFound(f"no certificate authority {ca_id!r} at {AUTHORITY_PROVIDER}") from exc


def create_authority(svc: CertificateService, fields: Mapping[str, str]) -> Authority:
    return svc.providers(AUTHORITY_PROVIDER).create_authority(fields)


def delete_authority(svc: CertificateService, ca_id: str) -> None:
    """Delete a CA, unless it is the provider secret's `default_ca_id` (409 authority_in_use)."""
    _checked_ca_id(ca_id)
    provider = svc.providers(AUTHORITY_PROVIDER)  # not configured -> 503 before anything else
    if str(svc.provider_defaults(AUTHORITY_PROVIDER).get("default_ca_id")) == ca_id:
        raise Conflict(f"certificate authority {ca_id} is the default_ca_id of the {AUTHORITY_PROVIDER} secret; "
                       "change the default first", code="authority_in_use")
    try:
        provider.delete_authority(ca_id)
    except ProviderNotFound as exc:
        raise NotFound(f"no certificate authority {ca_id!r} at {AUTHORITY_PROVIDER}") from exc
