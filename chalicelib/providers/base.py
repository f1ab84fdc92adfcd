"""The provider template: the one algorithm every adapter runs, and the hooks each one fills in.

Shaped like AWS Powertools' idempotency `BasePersistenceLayer`: the base class owns the
algorithm, a subclass supplies only what its provider does differently.

What the template does (never re-implemented in an adapter):
- credentials: refuses a secret that lacks one of `required_credentials`, naming the keys only;
- HTTP: one `ProviderHttp` (one session, one retry loop, one scrubber of `secrets()`);
- create-once (`submit_order`, `create_once`): intent -> create; on an ambiguous failure look the
  order up before anything else, adopt what was committed, repeat the create at most once and
  only when the lookup proves nothing was; raise with `outcome_unknown=True` when it cannot tell,
  and `OwnershipUnproven` (never adoption) when the lookup sees candidates none proven ours;
  other unsafe changes (`confirm`): never repeated, looked at after an ambiguous failure;
- error mapping: `parse_error` = the adapter's `_read_error` + the shared status rules, scrubbed;
- status mapping through the adapter's `statuses` table (unknown -> pending, logged);
- certificate material (`material_from_pem`) and facts (`stated_by_certificate`) through
  chalicelib/x509, downloads rendered by chalicelib/x509/formats.py.

What an adapter declares (class attributes) and implements:
  name, capabilities, statuses, required_credentials, dcv_names     its vocabulary
  listing_position                                                   where GET /providers lists it
  rate_limits                                                        its documented request limits
  unique_client_reference, lookup_since_create                       how create-once may behave
  _configure(credentials) -> Endpoint                                where and how to call
  _create(req) -> ProviderOrder                                       one unsafe create
  _lookup(req, since) -> ProviderOrder | None                         the order placed for `req`
  get_order, list_certificates                                        reading
  _read_error(status, body) -> ErrorReading | None                    its error body (optional)
  _issued_material(id) / _native_download(id, fmt)                    downloads
  reissue, renew, revoke, cancel, validation, ...                     what it supports beyond that
"""

from __future__ import annotations

import abc
import datetime as dt
import logging
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, TypeVar

from chalicelib.core.errors import (
    BadMaterial,
    FieldError,
    OwnershipUnproven,
    ProviderError,
    ProviderNotConfigured,
    ProviderProtocolError,
    ProviderRejected,
    ProviderTimeout,
    UnsupportedOperation,
)
from chalicelib.core.model import Status
from chalicelib.core.provider import (
    Authority,
    Capabilities,
    CertificateMaterial,
    DcvDetail,
    OrderRequest,
    Page,
    ProviderOrder,
)
from chalicelib.providers.http import ErrorReading, HttpSettings, ProviderHttp, RateLimits, shared_limiter

log = logging.getLogger(__name__)
T = TypeVar("T")


def map_status(provider: str, raw: str | None, table: Mapping[str, Status]) -> Status:
    """The one place provider status strings become normalized statuses; unknown -> pending."""
    key = (raw or "").strip().lower()
    status = table.get(key)
    if status is None:
        log.warning("unknown provider status kept as pending",
                    extra={"provider": provider, "raw_status": raw})
        return Status.PENDING
    return status


# -- certificate material (pure) ------------------------------------------------------------------

def material_from_pem(provider: str, text: str | bytes, what: str = "certificate download", *,
                      private_key_pem: str | None = None) -> CertificateMaterial:
    """Leaf (the first certificate) and chain (the others, without repeats of the leaf or of each
    other) of PEM text; anything that is not certificates is a protocol error."""
    from chalicelib.x509.pem import split_pem_chain

    try:
        pem_text = text.decode("ascii") if isinstance(text, bytes) else text
        certificates = split_pem_chain(pem_text)
    except (UnicodeDecodeError, BadMaterial) as exc:
        raise ProviderProtocolError(provider, f"{what} is not PEM certificates") from exc
    if not certificates:
        raise ProviderProtocolError(provider, f"{what} holds no PEM certificate")
    leaf = certificates[0]
    chain = [c for i, c in enumerate(certificates) if c != leaf and c not in certificates[:i]]
    return CertificateMaterial(certificate_pem=leaf, chain_pem="".join(chain), private_key_pem=private_key_pem)


def stated_by_certificate(provider: str, order: ProviderOrder, leaf_pem: str) -> ProviderOrder:
    """`order` with the dates, serial, common name and names the certificate itself states: the
    certificate is the authority on them, whatever the provider's listing says."""
    from chalicelib.x509.certificates import certificate_info

    try:
        info = certificate_info(leaf_pem)
    except BadMaterial as exc:
        raise ProviderProtocolError(provider, "the certificate does not parse") from exc
    return replace(order, not_before=info.not_before, not_after=info.not_after, serial=info.serial,
                   common_name=info.common_name or order.common_name,
                   sans=tuple(value for _, value in info.sans) or order.sans)


def _check_base_url(provider: str, base_url: str) -> None:
    """A secret's base_url that no request could be sent to is a configuration error (503
    provider_not_configured) now, before any record is written — not an untyped failure inside
    the first call, after the intent was."""
    parsed = urllib.parse.urlsplit(base_url)
    try:
        port_ok = parsed.port is None or 0 < parsed.port < 65536
    except ValueError:
        port_ok = False
    if parsed.scheme not in ("https", "http") or not parsed.hostname or not port_ok or parsed.username \
            or parsed.password or any(c.isspace() for c in base_url):
        # Name the problem, never the value: a URL may carry a credential.
        raise ProviderNotConfigured(provider, f"the {provider} secret's base_url is not an http(s) URL of a host")


@dataclass(frozen=True)
class Endpoint:
    """Where and how an adapter calls its provider."""

    base_url: str
    auth: tuple[str, str] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()  # credential values no error message may ever carry


class Provider(abc.ABC):
    """A certificate provider. Every method may raise the typed errors of chalicelib/core/errors.py."""

    name: str  # the provider's name (its module's name): the API's `provider`
    capabilities: Capabilities
    # The status table: the provider's raw status (lower case) -> our status.
    statuses: ClassVar[Mapping[str, Status]]
    # Our DCV method -> the provider's word for it (the methods of `capabilities.dcv_methods`).
    dcv_names: ClassVar[Mapping[str, str]] = {}
    required_credentials: ClassVar[tuple[str, ...]] = ("base_url",)
    # The provider refuses a second order with the same client reference, so a create that timed
    # out may be repeated once the lookup finds nothing: a late first create is then refused.
    unique_client_reference: ClassVar[bool] = False
    # The lookup after an ambiguous create only considers orders placed since the create (needed
    # where orders are found by their names, pointless where the client reference identifies them).
    lookup_since_create: ClassVar[bool] = True
    # Where GET /providers lists it (ties: by name).
    listing_position: ClassVar[int] = 100
    # The provider's documented request limits, kept by this process: ((sends, per seconds), ...).
    rate_limits: ClassVar[RateLimits] = ()

    def __init__(self, credentials: Mapping[str, Any], http: HttpSettings | None = None) -> None:
        missing = [k for k in self.required_credentials if not credentials.get(k)]
        if missing:
            # Name the missing keys only; never echo a credential value.
            raise ProviderNotConfigured(self.name, f"the {self.name} secret lacks {', '.join(missing)}")
        self.endpoint = self._configure(credentials)
        _check_base_url(self.name, self.endpoint.base_url)
        self.http = ProviderHttp(self.name, self.endpoint.base_url, settings=http, auth=self.endpoint.auth,
                                 headers=self.endpoint.headers, read_error=self._read_error,
                                 secrets=self._secrets,
                                 limiter=shared_limiter(self.name, self.endpoint.base_url, self.rate_limits))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.http.base_url!r})"

    # -- hooks ----------------------------------------------------------------------------------
    @abc.abstractmethod
    def _configure(self, credentials: Mapping[str, Any]) -> Endpoint:
        """Read the secret (its required keys are present); where and how to call."""

    @abc.abstractmethod
    def _create(self, req: OrderRequest) -> ProviderOrder:
        """One unsafe create call for `req`. A 2xx answer that does not say what was created
        raises with outcome_unknown=True."""

    @abc.abstractmethod
    def _lookup(self, req: OrderRequest, since: dt.datetime | None) -> ProviderOrder | None:
        """The order placed for `req` (at/after `since` when given), None when there is none."""

    def _read_error(self, status: int, body: Any) -> ErrorReading | None:
        """The provider's error body (decoded JSON or None) read; None: not in its shape."""
        return None

    def _secrets(self) -> Iterable[str | None]:
        return self.endpoint.secrets

    def _already_placed(self, failure: ProviderError) -> bool:
        """The create was refused because the order exists (e.g. a duplicate client reference)."""
        return False

    def _adopt(self, found: ProviderOrder, req: OrderRequest) -> ProviderOrder:
        """What submit_order returns for an order a failed create had placed (default: as found)."""
        return found

    # -- the algorithm --------------------------------------------------------------------------
    @classmethod
    def status_of(cls, raw: str | None) -> Status:
        return map_status(cls.name, raw, cls.statuses)

    @classmethod
    def recognizes(cls, raw: str | None) -> bool:
        """Whether `raw` is in the status table (ProviderOrder.status_recognized)."""
        return (raw or "").strip().lower() in cls.statuses

    def parse_error(self, response: Any) -> ProviderError:
        """The typed, scrubbed error of an error answer of this provider."""
        return self.http.error_from(response)

    def submit_order(self, req: OrderRequest) -> ProviderOrder:
        """Place an order without ever duplicating it (see `create_once`)."""
        return self.create_once(lambda: self._create(req),
                                lambda since: self._found(self._lookup(req, since), req))

    def _found(self, found: ProviderOrder | None, req: OrderRequest) -> ProviderOrder | None:
        return None if found is None else self._adopt(found, req)

    def find_order(self, req: OrderRequest, *, since: dt.datetime | None = None) -> ProviderOrder | None:
        """Find an order placed for `req` (by its client reference where the provider has one)."""
        return self._lookup(req, since)

    def create_once(self, create: Callable[[], ProviderOrder],
                    lookup: Callable[[dt.datetime | None], ProviderOrder | None]) -> ProviderOrder:
        """Run an unsafe create without ever duplicating it: after an ambiguous failure `lookup`
        runs before anything else; what it finds is adopted; only a lookup that proves absence
        allows one more create. When it cannot tell, the create's error (outcome_unknown) stands."""
        started = dt.datetime.now(dt.UTC)
        for attempt in (1, 2):
            try:
                return create()
            except ProviderError as failure:
                placed = self._already_placed(failure)
                if not (failure.outcome_unknown or placed):
                    raise
                found = self._lookup_after(failure, lookup, None if placed or not self.lookup_since_create
                                           else started)
                if found is not None:
                    log.info("adopted the order a failed create had placed",
                             extra={"provider": self.name, "provider_order_id": found.provider_order_id,
                                    "error": failure.code})
                    return found
                if attempt == 2 or not self._may_repeat(failure):
                    raise
                log.warning("create failed before the provider committed it; repeating it once",
                            extra={"provider": self.name, "error": failure.code})
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _lookup_after(self, failure: ProviderError, lookup: Callable[[dt.datetime | None], ProviderOrder | None],
                      since: dt.datetime | None) -> ProviderOrder | None:
        try:
            return lookup(since)
        except OwnershipUnproven:
            raise  # the lookup saw candidates and could prove none ours: that is the outcome
        except ProviderError as lookup_exc:
            # Whether the create was committed cannot be told: the create's own error says so.
            log.warning("lookup after an ambiguous create failed",
                        extra={"provider": self.name, "error": lookup_exc.code})
            raise failure from lookup_exc

    def confirm(self, failure: ProviderError, applied: Callable[[], T | None],
                also: tuple[type[ProviderError], ...] = ()) -> T:
        """After an unsafe change (cancel, revoke, delete, ...) failed ambiguously — or with one of
        `also`, e.g. a conflict an earlier attempt caused: look whether it was applied. `applied()`
        is the change's result when it was, None when not; otherwise, or when looking fails too,
        the failure stands. Never repeats the change."""
        if not (failure.outcome_unknown or isinstance(failure, also)):
            raise failure
        try:
            result = applied()
        except ProviderError as lookup_exc:
            raise failure from lookup_exc
        if result is None:
            raise failure
        return result

    def _may_repeat(self, failure: ProviderError) -> bool:
        if self._already_placed(failure):
            return False
        # A timed-out create may still be running at the provider: not finding it yet proves
        # nothing, unless the provider itself refuses a second order for the same reference.
        return self.unique_client_reference or not isinstance(failure, ProviderTimeout)

    def dcv_word(self, method: str) -> str:
        """The provider's word for DCV method `method`; ProviderRejected for one it lacks."""
        word = self.dcv_names.get(method.lower())
        if word is None:
            raise ProviderRejected(self.name, f"unsupported DCV method {method!r}", field_errors=[
                FieldError("dcv_method", f"must be one of {', '.join(self.dcv_names)}")])
        return word

    def material_from(self, text: str | bytes, what: str, *, private_key_pem: str | None = None
                      ) -> CertificateMaterial:
        return material_from_pem(self.name, text, what, private_key_pem=private_key_pem)

    def stated_by(self, order: ProviderOrder, leaf_pem: str) -> ProviderOrder:
        return stated_by_certificate(self.name, order, leaf_pem)

    # -- downloads ------------------------------------------------------------------------------
    def download(self, provider_order_id: str, fmt: str) -> bytes:
        """The issued certificate in one of `capabilities.download_formats`: as the provider
        delivers it where it does (`_native_download`), else rendered from its material."""
        from chalicelib.x509 import formats

        if fmt not in self.capabilities.download_formats:
            raise UnsupportedOperation(self.name, f"download format {fmt!r} is not offered by {self.name}")
        native = self._native_download(provider_order_id, fmt)
        if native is not None:
            return native
        material = self._issued_material(provider_order_id)
        body, _, _ = formats.render(fmt, material.certificate_pem, material.chain_pem)
        return body

    def _native_download(self, provider_order_id: str, fmt: str) -> bytes | None:
        """The provider's own file for `fmt`, or None to render it from the material."""
        return None

    @abc.abstractmethod
    def _issued_material(self, provider_order_id: str) -> CertificateMaterial:
        """Leaf and chain of the issued certificate."""

    # -- the rest of the port -------------------------------------------------------------------
    @abc.abstractmethod
    def get_order(self, provider_order_id: str, *, with_material: bool = True) -> ProviderOrder:
        """Current state; with `material` (leaf + chain) when issued and asked for."""

    @abc.abstractmethod
    def list_certificates(self, filters: Mapping[str, Any] | None = None,
                          page_token: str | None = None) -> Page:
        """One page of the certificates that exist at the provider (for import)."""

    def reissue(self, provider_order_id: str, req: OrderRequest) -> ProviderOrder:
        raise UnsupportedOperation(self.name, "reissue is not supported")

    def renew(self, provider_order_id: str, req: OrderRequest) -> ProviderOrder:
        raise UnsupportedOperation(self.name, "renew is not supported")

    def revoke(self, provider_order_id: str, reason: str = "unspecified") -> ProviderOrder:
        raise UnsupportedOperation(self.name, "revoke is not supported")

    def revocation_outcome(self, provider_order_id: str, request_id: str) -> ProviderOrder:
        """Where a revoke request (`revocation_pending` on what `revoke` returned) stands: still
        `revocation_pending`, `Status.REVOKED` once approved, or not revoked (`revocation_pending`
        False, status as the provider says, `failure_reason` why) when it was rejected."""
        raise UnsupportedOperation(self.name, "revocation requests are not supported")

    def cancel(self, provider_order_id: str) -> ProviderOrder:
        raise UnsupportedOperation(self.name, "cancel is not supported")

    def validation(self, provider_order_id: str) -> list[DcvDetail]:
        return []

    def retry_validation(self, provider_order_id: str, *, method: str | None = None,
                         email: str | None = None, domain: str | None = None) -> list[DcvDetail]:
        raise UnsupportedOperation(self.name, "domain control validation is not supported")

    # Certificate authorities (TinyCert) ----------------------------------------------------------
    def list_authorities(self) -> list[Authority]:
        raise UnsupportedOperation(self.name, "certificate authorities are not managed here")

    def get_authority(self, ca_id: str) -> Authority:
        raise UnsupportedOperation(self.name, "certificate authorities are not managed here")

    def create_authority(self, fields: Mapping[str, str]) -> Authority:
        raise UnsupportedOperation(self.name, "certificate authorities are not managed here")

    def delete_authority(self, ca_id: str) -> None:
        raise UnsupportedOperation(self.name, "certificate authorities are not managed here")
