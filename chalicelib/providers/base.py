"""The one interface every provider adapter implements, and the records crossing it.

Adapters translate between these provider-neutral records and their provider's wire format;
they raise only the typed errors of `errors.py`. Nothing here does I/O."""

from __future__ import annotations

import abc
import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

from chalicelib.core.errors import UnsupportedOperation
from chalicelib.core.model import Status
from chalicelib.core.provider import Authority, Capabilities, DcvDetail, OrderRequest, Page, ProviderOrder

log = logging.getLogger(__name__)

def map_status(provider: str, raw: str | None, table: Mapping[str, Status]) -> Status:
    """The one place provider status strings become normalized statuses; unknown -> pending."""
    key = (raw or "").strip().lower()
    status = table.get(key)
    if status is None:
        log.warning("unknown provider status kept as pending",
                    extra={"provider": provider, "raw_status": raw})
        return Status.PENDING
    return status


class Provider(abc.ABC):
    """A certificate provider. Every method may raise the typed errors of `errors.py`."""

    name: str
    capabilities: Capabilities

    @abc.abstractmethod
    def submit_order(self, req: OrderRequest) -> ProviderOrder:
        """Place an order. Never duplicates: on an ambiguous failure the adapter looks the order
        up by client reference before any retry, and raises with `outcome_unknown=True` when it
        still cannot tell."""

    @abc.abstractmethod
    def get_order(self, provider_order_id: str, *, with_material: bool = True) -> ProviderOrder:
        """Current state; with `material` (leaf + chain) when issued and asked for."""

    @abc.abstractmethod
    def find_order(self, req: OrderRequest, *, since: dt.datetime | None = None) -> ProviderOrder | None:
        """Find an order placed for `req` (by its client reference where the provider has one)."""

    @abc.abstractmethod
    def download(self, provider_order_id: str, fmt: str) -> bytes:
        """The issued certificate in one of DOWNLOAD_FORMATS, as the provider delivers it."""

    def reissue(self, provider_order_id: str, req: OrderRequest) -> ProviderOrder:
        raise UnsupportedOperation(self.name, "reissue is not supported")

    def renew(self, provider_order_id: str, req: OrderRequest) -> ProviderOrder:
        raise UnsupportedOperation(self.name, "renew is not supported")

    def revoke(self, provider_order_id: str, reason: str = "unspecified") -> ProviderOrder:
        raise UnsupportedOperation(self.name, "revoke is not supported")

    def cancel(self, provider_order_id: str) -> ProviderOrder:
        raise UnsupportedOperation(self.name, "cancel is not supported")

    def validation(self, provider_order_id: str) -> list[DcvDetail]:
        return []

    def retry_validation(self, provider_order_id: str, *, method: str | None = None,
                         email: str | None = None, domain: str | None = None) -> list[DcvDetail]:
        raise UnsupportedOperation(self.name, "domain control validation is not supported")

    @abc.abstractmethod
    def list_certificates(self, filters: Mapping[str, Any] | None = None,
                          page_token: str | None = None) -> Page:
        """One page of the certificates that exist at the provider (for import)."""

    # TinyCert only ---------------------------------------------------------------------
    def list_authorities(self) -> list[Authority]:
        raise UnsupportedOperation(self.name, "certificate authorities are not managed here")

    def get_authority(self, ca_id: str) -> Authority:
        raise UnsupportedOperation(self.name, "certificate authorities are not managed here")

    def create_authority(self, fields: Mapping[str, str]) -> Authority:
        raise UnsupportedOperation(self.name, "certificate authorities are not managed here")

    def delete_authority(self, ca_id: str) -> None:
        raise UnsupportedOperation(self.name, "certificate authorities are not managed here")
