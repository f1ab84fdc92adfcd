"""The certgate API client.

    from certgate import Client, San

    client = Client("https://abc123.execute-api.eu-west-1.amazonaws.com/api", profile="platform")
    ordered = client.order("digicert", "www.example.com", sans=[San("example.com")], product="ov")
    cert = client.wait_until_issued(ordered.certificate.id, timeout=900)
    pem = client.download(cert.id, "fullchain").content

Requests to a non-local URL are signed with SigV4 (service execute-api) from a botocore session:
`profile` names an AWS profile, else the default credential chain. Local URLs (the `make run` stack)
are not signed; `principal` then sends X-Certgate-Principal. Retries are automatic only where they are
safe: GETs and requests carrying an Idempotency-Key (every order has one), on connection failures and
on 502/503/504 that name no recorded certificate, honouring Retry-After, MAX_ATTEMPTS in all."""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any, Protocol, TypeVar
from urllib.parse import quote, urlencode

from certgate.errors import (
    ApiError,
    CertificateNotIssued,
    ConfigurationError,
    ConnectionFailed,
    FieldError,
    WaitTimeout,
    error_class,
)
from certgate.models import (
    Approver,
    Authority,
    Certificate,
    Download,
    Event,
    Health,
    ImportFilters,
    ImportJob,
    Json,
    KeySpec,
    OrderResult,
    Organization,
    Page,
    Provider,
    ProviderOptions,
    San,
    Validation,
)
from certgate.transport import HttpRequest, HttpResponse, SigV4Signer, Transport, Urllib3Transport, is_local

DEFAULT_LOCAL_PORT = 8000
RETRY_STATUSES = frozenset({502, 503, 504})
MAX_ATTEMPTS = 3
MAX_RETRY_AFTER_S = 30.0
# wait_until_issued(): checks back off from INITIAL_DELAY_S by BACKOFF up to MAX_DELAY_S, so a provider
# that takes an hour to validate gets about a hundred checks, not thousands.
INITIAL_DELAY_S = 2.0
BACKOFF = 1.5
MAX_DELAY_S = 30.0
# A check that fails for these reads the recorded state instead (provider down, a concurrent update).
TRANSIENT_STATUSES = frozenset({409, 502, 503, 504})
ACCEPT = {"pem": "application/x-pem-file", "chain": "application/x-pem-file", "fullchain": "application/x-pem-file",
          "der": "application/pkix-cert", "pkcs7": "application/pkcs7-mime", "zip": "application/zip",
          "pkcs12": "application/x-pkcs12"}
TINYCERT_AUTHORITIES = "/providers/tinycert/authorities"

T = TypeVar("T")


def default_url(env: Mapping[str, str] | None = None) -> str:
    """CERTGATE_URL, else the `make run` stack on CERTGATE_API_PORT (the port `make run` itself honours)."""
    env = os.environ if env is None else env
    if env.get("CERTGATE_URL"):
        return env["CERTGATE_URL"]
    return f"http://127.0.0.1:{env.get('CERTGATE_API_PORT') or DEFAULT_LOCAL_PORT}"


class WaitObserver(Protocol):
    """What wait_until_issued() reports while it waits (the CLI draws its progress line from it)."""

    @property
    def tick_s(self) -> float:
        """How often waiting() is called while sleeping (math.inf: once per check)."""
        ...

    def waiting(self, certificate: Certificate, elapsed_s: float, next_check_in_s: float) -> None: ...

    def check_failed(self, what: str, error: ApiError | ConnectionFailed) -> None: ...

    def done(self, certificate: Certificate, elapsed_s: float) -> None: ...


class Client:
    def __init__(self, url: str | None = None, region: str | None = None, profile: str | None = None, *,
                 principal: str | None = None, sign: bool | None = None, timeout: float = 30.0,
                 transport: Transport | None = None, user_agent: str = "certgate-python",
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic) -> None:
        """url: the API base (default: CERTGATE_URL, else the local stack). sign: SigV4 (default: unless
        the URL is local). region/profile: for signing. principal: local stage only."""
        self.url = (url or default_url()).rstrip("/")
        if not self.url.startswith(("http://", "https://")):
            raise ConfigurationError(f"not an http(s) URL: {self.url!r}")
        self.sign = (not is_local(self.url)) if sign is None else sign
        if self.sign and principal:
            raise ConfigurationError("principal is for the local stage only; a signed request's principal is your "
                                     "IAM identity")
        self._signer = SigV4Signer(self.url, region, profile) if self.sign else None
        self.principal, self.timeout, self.user_agent = principal, timeout, user_agent
        self._transport = transport or Urllib3Transport()
        self._sleep, self._clock = sleep, clock

    def close(self) -> None:
        """Release the transport's connections (if it holds any)."""
        close = getattr(self._transport, "close", None)
        if callable(close):
            close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the one request path --------------------------------------------------------------------------
    def request(self, method: str, path: str, *, body: Any = None, params: Mapping[str, Any] | None = None,
                headers: Mapping[str, str] | None = None, accept: str = "application/json") -> HttpResponse:
        """Send one API request (retried where safe); the response, or the ApiError of its problem."""
        hdrs = {"Accept": accept, "User-Agent": self.user_agent, **(headers or {})}
        if self.principal:
            hdrs["X-Certgate-Principal"] = self.principal
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        query = urlencode([(k, _query_value(v)) for k, v in (params or {}).items() if v is not None])
        url = self.url + path + (f"?{query}" if query else "")
        safe = method == "GET" or any(k.lower() == "idempotency-key" for k in hdrs)
        attempts = MAX_ATTEMPTS if safe else 1
        for attempt in range(1, attempts + 1):
            req = HttpRequest(method, url, dict(hdrs), data)
            if self._signer:
                self._signer.sign(req)
            try:
                resp = self._transport.send(req, self.timeout)
            except ConnectionFailed as exc:
                if attempt < attempts:
                    self._sleep(float(attempt))
                    continue
                raise ConnectionFailed(f"cannot reach {self.url}: {exc}") from exc
            if resp.status < 400:
                return resp
            error = problem_error(resp)
            if attempt < attempts and resp.status in RETRY_STATUSES and error.certificate_id is None:
                self._sleep(min(error.retry_after or float(attempt), MAX_RETRY_AFTER_S))
                continue
            raise error
        raise RuntimeError("unreachable")  # pragma: no cover - the loop returns or raises

    def _json(self, method: str, path: str, **kw: Any) -> Json:
        resp = self.request(method, path, **kw)
        value = json.loads(resp.content or b"null")
        if not isinstance(value, Mapping):
            raise ApiError(resp.status, type="about:blank", code="unexpected_response", title="Unexpected response",
                           detail=f"{method} {path}: not a JSON object")
        return value

    def _pages(self, fetch: Callable[[str | None], Page[T]], next_token: str | None = None) -> Iterator[T]:
        while True:
            page = fetch(next_token)
            yield from page.items
            next_token = page.next_token
            if not next_token:
                return

    # -- service -------------------------------------------------------------------------------------------
    def health(self) -> Health:
        """Liveness (GET /health, no signature needed): the API answers."""
        return Health.from_json(self._json("GET", "/health"))

    def ready(self) -> Health:
        """Readiness (GET /health/ready): every dependency reachable. ServiceUnavailable otherwise, its
        `raw["checks"]` naming which."""
        return Health.from_json(self._json("GET", "/health/ready"))

    def providers(self) -> list[Provider]:
        return list(self._pages(lambda token: Page.from_json(
            self._json("GET", "/providers", params={"next_token": token}), Provider.from_json)))

    def openapi(self) -> Json:
        """The API's own OpenAPI document."""
        return self._json("GET", "/openapi.json")

    # -- certificates --------------------------------------------------------------------------------------
    def order(self, provider: str, common_name: str, *, sans: Iterable[San | str] = (), product: str | None = None,
              csr: str | None = None, key: KeySpec | None = None, dcv_method: str | None = None,
              validity_days: int | None = None, validity_strict: bool = False,
              organization: Organization | None = None, approver: Approver | None = None,
              provider_options: ProviderOptions | None = None, auto_renew: bool = False,
              client_reference: str | None = None, deliver_to_acm_region: str | None = None,
              idempotency_key: str | None = None) -> OrderResult:
        """POST /certificates. Always sent with an Idempotency-Key (a new UUID unless given): re-sending
        with the same key returns the same certificate, never a second order."""
        body: dict[str, Any] = {"provider": provider, "common_name": common_name,
                                **_change_body(sans, csr, key, dcv_method, validity_days, validity_strict,
                                               organization, approver)}
        if product:
            body["product"] = product
        if provider_options:
            body["provider_options"] = provider_options.to_json()
        if auto_renew:
            body["auto_renew"] = True
        if client_reference:
            body["client_reference"] = client_reference
        if deliver_to_acm_region:
            body["deliver_to"] = {"acm": {"region": deliver_to_acm_region}}
        key_ = idempotency_key or str(uuid.uuid4())
        resp = self.request("POST", "/certificates", body=body, headers={"Idempotency-Key": key_})
        cert = Certificate.from_json(json.loads(resp.content))
        return OrderResult(cert, key_, resp.header("idempotent-replayed") == "true")

    def list_certificates(self, *, status: str | None = None, provider: str | None = None,
                          common_name: str | None = None, expires_before: datetime | str | None = None,
                          expiring_within: str | None = None, domain: str | None = None,
                          limit: int | None = None, next_token: str | None = None) -> Page[Certificate]:
        """One page. `expiring_within`: "30d" or "12h" (expires between now and then); `domain`:
        "example.com" (that name, as CN or DNS SAN) or ".example.com" (every name under it)."""
        params = {"status": status, "provider": provider, "common_name": common_name,
                  "expires_before": expires_before, "expiring_within": expiring_within, "domain": domain,
                  "limit": limit, "next_token": next_token}
        return Page.from_json(self._json("GET", "/certificates", params=params), Certificate.from_json)

    def iter_certificates(self, *, status: str | None = None, provider: str | None = None,
                          common_name: str | None = None, expires_before: datetime | str | None = None,
                          expiring_within: str | None = None, domain: str | None = None,
                          page_size: int | None = None, next_token: str | None = None) -> Iterator[Certificate]:
        """Every certificate matching the filters, fetching pages as the iteration goes."""
        return self._pages(lambda token: self.list_certificates(
            status=status, provider=provider, common_name=common_name, expires_before=expires_before,
            expiring_within=expiring_within, domain=domain, limit=page_size, next_token=token), next_token)

    def get_certificate(self, cert_id: str) -> Certificate:
        return Certificate.from_json(self._json("GET", _cert(cert_id)))

    def cancel(self, cert_id: str) -> Certificate:
        """Cancel a pending order (DELETE /certificates/{id})."""
        return Certificate.from_json(self._json("DELETE", _cert(cert_id)))

    def refresh(self, cert_id: str) -> Certificate:
        """Ask the provider now (the poller's own code path)."""
        return Certificate.from_json(self._json("POST", _cert(cert_id, "refresh")))

    def reissue(self, cert_id: str, *, common_name: str | None = None, sans: Iterable[San | str] = (),
                csr: str | None = None, key: KeySpec | None = None, dcv_method: str | None = None,
                validity_days: int | None = None, validity_strict: bool = False,
                organization: Organization | None = None, approver: Approver | None = None) -> Certificate:
        """New key/CSR or names; omitted fields keep the certificate's values."""
        body = _change_body(sans, csr, key, dcv_method, validity_days, validity_strict, organization, approver)
        if common_name:
            body["common_name"] = common_name
        return Certificate.from_json(self._json("POST", _cert(cert_id, "reissue"), body=body))

    def renew(self, cert_id: str, *, common_name: str | None = None, sans: Iterable[San | str] = (),
              csr: str | None = None, key: KeySpec | None = None, dcv_method: str | None = None,
              validity_days: int | None = None, validity_strict: bool = False,
              organization: Organization | None = None, approver: Approver | None = None) -> Certificate:
        """A new validity period; omitted fields keep the certificate's values."""
        body = _change_body(sans, csr, key, dcv_method, validity_days, validity_strict, organization, approver)
        if common_name:
            body["common_name"] = common_name
        return Certificate.from_json(self._json("POST", _cert(cert_id, "renew"), body=body))

    def revoke(self, cert_id: str, reason: str = "unspecified", comments: str | None = None) -> Certificate:
        body: dict[str, Any] = {"reason": reason, **({"comments": comments} if comments else {})}
        return Certificate.from_json(self._json("POST", _cert(cert_id, "revoke"), body=body))

    def validation(self, cert_id: str) -> Validation:
        """Per domain: the DNS record, file or approver emails to use."""
        return Validation.from_json(self._json("GET", _cert(cert_id, "validation")))

    def retry_validation(self, cert_id: str, *, dcv_method: str | None = None, email: str | None = None,
                         domain: str | None = None) -> Validation:
        """Retry (or switch) domain control validation."""
        body = {k: v for k, v in {"dcv_method": dcv_method, "email": email, "domain": domain}.items() if v}
        return Validation.from_json(self._json("POST", _cert(cert_id, "validate"), body=body))

    def download(self, cert_id: str, format: str = "pem", *, revision: int | None = None,
                 passphrase: str | None = None) -> Download:
        """pem (leaf), chain, fullchain, der, pkcs7, zip; pkcs12 (with `passphrase`, 8+ characters) where
        certgate generated the key. `revision`: an earlier issued revision."""
        path = _cert(cert_id, "download")
        if format == "pkcs12" or passphrase is not None:
            if passphrase is None:
                raise ConfigurationError("a pkcs12 download needs a passphrase")
            resp = self.request("POST", path, params={"revision": revision},
                                body={"passphrase": passphrase, "format": format}, accept=ACCEPT.get(format, "*/*"))
        else:
            resp = self.request("GET", path, params={"format": format, "revision": revision},
                                accept=ACCEPT.get(format, "*/*"))
        m = re.search(r'filename="?([^";/\\]+)"?', resp.header("content-disposition") or "")
        return Download(resp.content, resp.header("content-type") or "", m.group(1) if m else None)

    def list_events(self, cert_id: str, *, limit: int | None = None,
                    next_token: str | None = None) -> Page[Event]:
        return Page.from_json(self._json("GET", _cert(cert_id, "events"),
                                         params={"limit": limit, "next_token": next_token}), Event.from_json)

    def iter_events(self, cert_id: str, *, page_size: int | None = None) -> Iterator[Event]:
        return self._pages(lambda token: self.list_events(cert_id, limit=page_size, next_token=token))

    # -- following a certificate -------------------------------------------------------------------------
    def wait_until_issued(self, certificate: Certificate | str, *, timeout: float = 900.0,
                          initial_delay: float = INITIAL_DELAY_S, max_delay: float = MAX_DELAY_S,
                          backoff: float = BACKOFF, observer: WaitObserver | None = None) -> Certificate:
        """Follow a certificate until it leaves `pending`; the issued certificate.

        Each check asks the provider now (refresh); when that fails for a passing reason (provider
        unavailable, a concurrent update) it reads the recorded state instead. Checks back off from
        `initial_delay` by `backoff` up to `max_delay`. Raises CertificateNotIssued if it ends failed,
        cancelled, revoked or expired, WaitTimeout (carrying the last state) after `timeout` seconds."""
        cert = certificate if isinstance(certificate, Certificate) else self.get_certificate(certificate)
        started = self._clock()
        delay = initial_delay
        while cert.status == "pending":
            elapsed = self._clock() - started
            if elapsed >= timeout:
                raise WaitTimeout(cert, elapsed)
            until = self._clock() + min(delay, timeout - elapsed)
            while (left := until - self._clock()) > 0:
                if observer:
                    observer.waiting(cert, self._clock() - started, left)
                self._sleep(min(observer.tick_s, left) if observer else left)
            delay = min(delay * backoff, max_delay)
            cert = self._check(cert.id, observer) or cert
        if observer:
            observer.done(cert, self._clock() - started)
        if cert.status != "issued":
            raise CertificateNotIssued(cert)
        return cert

    def _check(self, cert_id: str, observer: WaitObserver | None) -> Certificate | None:
        try:
            return self.refresh(cert_id)
        except ApiError as err:
            if err.status not in TRANSIENT_STATUSES:
                raise
            if observer:
                observer.check_failed("refresh", err)
        except ConnectionFailed as err:
            if observer:
                observer.check_failed("refresh", err)
            return None
        try:
            return self.get_certificate(cert_id)
        except ConnectionFailed as err:
            if observer:
                observer.check_failed("read", err)
            return None

    # -- TinyCert authorities --------------------------------------------------------------------------------
    def list_authorities(self) -> list[Authority]:
        """TinyCert's CAs (shared by every caller)."""
        return list(self._pages(lambda token: Page.from_json(
            self._json("GET", TINYCERT_AUTHORITIES, params={"next_token": token}), Authority.from_json)))

    def get_authority(self, ca_id: int | str) -> Authority:
        return Authority.from_json(self._json("GET", f"{TINYCERT_AUTHORITIES}/{_seg(ca_id)}"))

    def create_authority(self, country: str, organization: str, *, locality: str | None = None,
                         state: str | None = None, unit: str | None = None,
                         hash_method: str | None = None) -> Authority:
        body = {k: v for k, v in {"country": country, "organization": organization, "locality": locality,
                                  "state": state, "unit": unit, "hash_method": hash_method}.items() if v}
        return Authority.from_json(self._json("POST", TINYCERT_AUTHORITIES, body=body))

    def authority_pem(self, ca_id: int | str) -> str:
        """The CA's certificate (PEM), for the trust store of clients of its certificates."""
        return self.request("GET", f"{TINYCERT_AUTHORITIES}/{_seg(ca_id)}/pem",
                            accept="application/x-pem-file").content.decode()

    def delete_authority(self, ca_id: int | str, *, force: bool = False) -> None:
        """Administrators only. A CA with live certificates is kept (409) unless `force`."""
        self.request("DELETE", f"{TINYCERT_AUTHORITIES}/{_seg(ca_id)}", params={"force": "true" if force else None})

    # -- imports -------------------------------------------------------------------------------------------------
    def start_import(self, provider: str, *, filters: ImportFilters | None = None,
                     page_size: int | None = None) -> ImportJob:
        """Import what the provider already holds (then kept in sync on the same filters)."""
        body: dict[str, Any] = {"provider": provider}
        if filters:
            body["filters"] = filters.to_json()
        if page_size is not None:
            body["page_size"] = page_size
        return ImportJob.from_json(self._json("POST", "/imports", body=body))

    def get_import(self, import_id: str) -> ImportJob:
        return ImportJob.from_json(self._json("GET", f"/imports/{_seg(import_id)}"))

    def list_imports(self, *, provider: str | None = None, status: str | None = None, limit: int | None = None,
                     next_token: str | None = None) -> Page[ImportJob]:
        """Your imports, newest first (an administrator's: everyone's)."""
        params = {"provider": provider, "status": status, "limit": limit, "next_token": next_token}
        return Page.from_json(self._json("GET", "/imports", params=params), ImportJob.from_json)

    def iter_imports(self, *, provider: str | None = None, status: str | None = None,
                     page_size: int | None = None) -> Iterator[ImportJob]:
        return self._pages(lambda token: self.list_imports(provider=provider, status=status, limit=page_size,
                                                           next_token=token))

    def sync_imports(self, provider: str) -> list[ImportJob]:
        """Run the provider's recurring syncs now instead of at the next interval."""
        return list(Page.from_json(self._json("POST", "/imports/sync", body={"provider": provider}),
                                   ImportJob.from_json).items)


# -- helpers ----------------------------------------------------------------------------------------------------
def _seg(value: int | str) -> str:
    return quote(str(value), safe="")


def _cert(cert_id: str, action: str | None = None) -> str:
    return f"/certificates/{_seg(cert_id)}" + (f"/{action}" if action else "")


def _query_value(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _change_body(sans: Iterable[San | str], csr: str | None, key: KeySpec | None, dcv_method: str | None,
                 validity_days: int | None, validity_strict: bool, organization: Organization | None,
                 approver: Approver | None) -> dict[str, Any]:
    if csr is not None and key is not None:
        raise ConfigurationError("give either csr or key, not both")
    body: dict[str, Any] = {}
    san_list = [s if isinstance(s, San) else San.parse(s) for s in sans]
    if san_list:
        body["sans"] = [s.to_json() for s in san_list]
    if csr is not None:
        body["csr"] = csr
    if key is not None:
        body["key"] = key.to_json()
    if dcv_method:
        body["dcv_method"] = dcv_method
    if validity_days is not None:
        body["validity_days"] = validity_days
    if validity_strict:
        body["validity_strict"] = True
    if organization is not None and organization.to_json():
        body["organization"] = organization.to_json()
    if approver is not None and approver.to_json():
        body["approver"] = approver.to_json()
    return body


def problem_error(resp: HttpResponse) -> ApiError:
    """The typed error of a 4xx/5xx: its problem+json, or what there is when something in front of the
    API (a proxy, API Gateway's own 403) answered instead."""
    body: Any = None
    if "json" in (resp.header("content-type") or ""):
        try:
            body = json.loads(resp.content or b"null")
        except ValueError:
            body = None
    retry_after = resp.header("retry-after") or ""
    retry = float(retry_after) if retry_after.isdigit() else None
    if not isinstance(body, Mapping):
        text = resp.content.decode("utf-8", "replace").strip()[:500]
        code = f"http_{resp.status}"
        return error_class(resp.status, code)(resp.status, type="about:blank", code=code,
                                              title=f"HTTP {resp.status}", detail=text or None, retry_after=retry)
    code = str(body.get("code") or "")
    errors = tuple(FieldError(str(e.get("field")), str(e.get("message"))) for e in body.get("errors") or []
                   if isinstance(e, Mapping))
    return error_class(resp.status, code)(
        resp.status, type=str(body.get("type") or "about:blank"), code=code,
        title=str(body.get("title") or f"HTTP {resp.status}"), detail=_opt(body.get("detail")), errors=errors,
        instance=_opt(body.get("instance")), request_id=_opt(body.get("request_id")),
        provider=_opt(body.get("provider")), provider_request_id=_opt(body.get("provider_request_id")),
        certificate_id=_opt(body.get("certificate_id")), certificate_status=_opt(body.get("certificate_status")),
        retry_after=retry, raw=body)


def _opt(value: Any) -> str | None:
    return None if value is None else str(value)
