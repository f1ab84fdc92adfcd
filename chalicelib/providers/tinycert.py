"""TinyCert adapter (seeds/tinycert-*.txt, TinyCert's own PHP client shdon/tinycert-php, providers.md).

TinyCert is a private CA service: it generates the key itself (no CSR), issues synchronously for
one year (there is no validity parameter: the certificate's own dates are reported), and knows
no client reference. Every call is a form-encoded POST signed as TinyCert's PHP client signs it
(`signed_body`) and carrying a session token from /connect; an expired session is reopened once
per call. Errors are `{"code": "<ShortString>", "text"}` (the PHP client's codes).

Duplicates: the template's create-once (base.py). /cert/new is tried once; after an ambiguous
failure the certificate is looked for (`_lookup`) by common name + SAN set among the CA's
certificates whose notBefore is at/after the call; only a lookup that proves absence allows one
more create. TinyCert has no client reference, so two orders for the same names placed within
the clock tolerance are indistinguishable to that lookup — the newest one wins.

Reissue makes the old id `obsolete` (good or on hold alike). `obsolete` is not a state of our
certificate but a pointer: `get_order` on an obsolete id follows it to its reissue (same key,
higher id); when none is found the raw status is reported as unrecognized, so the service keeps
the certificate's last known status instead of demoting it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import logging
import re
import threading
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from chalicelib.core import errors
from chalicelib.core.errors import (
    AuthenticationFailed,
    BadMaterial,
    FieldError,
    ProviderError,
    ProviderNotFound,
    ProviderProtocolError,
    ProviderRejected,
)
from chalicelib.core.lifetimes import Lifetime, fixed
from chalicelib.core.model import San, Status
from chalicelib.core.provider import Authority, Capabilities, CertificateMaterial, OrderRequest, Page, ProviderOrder
from chalicelib.core.vocabulary import DOWNLOAD_FORMATS
from chalicelib.providers.base import Endpoint, Provider
from chalicelib.providers.http import MAX_MESSAGE, ErrorReading

log = logging.getLogger(__name__)

PROVIDER = "tinycert"
MAX_VALIDITY_DAYS = 365  # TinyCert issues (and reissues) for one year; validity is not a parameter

CAPABILITIES = Capabilities(
    accepts_csr=False, generates_key=True, products=("private",), default_product="private",
    dcv_methods=(), default_dcv_method=None,
    lifetime=Lifetime(fixed("TinyCert (one year, no validity parameter)", MAX_VALIDITY_DAYS), parameter=False),
    reissue=True, renew=True, revoke=True, cancel=False, download_formats=DOWNLOAD_FORMATS,
    authorities=True, async_issuance=False,
    renewal="reissue",  # /cert/reissue: a fresh certificate, same key and names, no new order
)

# The one status table (the statuses of the PHP client's cert_details docblock). `hold` is
# issued with on_hold set (providers.md). `obsolete` (replaced by /cert/reissue) is deliberately
# absent: get_order follows it to the reissue, and reports it unrecognized when it finds none.
STATUS_TABLE: Mapping[str, Status] = {
    "good": Status.ISSUED,
    "hold": Status.ISSUED,
    "revoked": Status.REVOKED,
    "expired": Status.EXPIRED,
}
OBSOLETE = "obsolete"
# /cert/list `what` bitmask per normalized status (PHP client STATUS_* constants).
LIST_BITS: Mapping[str, int] = {"expired": 1, "issued": 2 | 8, "revoked": 4}
LIST_ALL = 15

SESSION_ERRORS = frozenset({"InvalidToken", "SessionError"})  # reconnect once, then retry
# The error class each of TinyCert's codes (PHP client, last_error()) means; a code not listed
# is judged by its HTTP status. AccessDenied — "the requested resource is not associated with this
# account" — is a credentials problem (the wrong account), never "it does not exist": a pending
# certificate must not be failed because our secret points at another account.
ERROR_KINDS: Mapping[str, type[ProviderError]] = {
    **dict.fromkeys(("AccessDenied", "AccountNotFound", "ApiKeyMismatch", "PassphraseFailure", "SignatureFailure",
                     *SESSION_ERRORS), errors.AuthenticationFailed),
    **dict.fromkeys(("InputFailure", "MissingParameter"), errors.ProviderRejected),
    "NotFound": errors.ProviderNotFound,
    **dict.fromkeys(("NotLatest", "StatusDisallowed"), errors.ProviderConflict),
    **dict.fromkeys(("UnknownError", "AccountError", "AccountNotLoaded"), errors.ProviderUnavailable),
    "RateLimitExceeded": errors.RateLimited,
    "MethodDisallowed": errors.ProviderProtocolError,
}

# TinyCert parameter -> the normalized request field a caller can fix.
PARAM_FIELDS: Mapping[str, str] = {
    "CN": "common_name", "C": "organization.country", "O": "organization.name", "L": "organization.locality",
    "ST": "organization.state", "OU": "organization.unit", "ca_id": "provider_options.ca_id",
    "cert_id": "provider_order_id", "hash_method": "hash_method", "status": "status", "what": "format",
}
SAN_PARAM = {"dns": "DNS", "ip": "IP", "email": "email", "uri": "URI"}
SAN_FROM_PARAM = {v: k for k, v in SAN_PARAM.items()}
# CA fields a caller may give -> /ca/new parameters. No OU: /ca/new takes none (the PHP client's
# ca_new sends C, L, O, ST, hash_method; every CA's OU is "Secure Digital Certificate Signing").
AUTHORITY_FIELDS: Mapping[str, str] = {
    "country": "C", "organization": "O", "name": "O", "locality": "L", "state": "ST",
    "hash_method": "hash_method", "C": "C", "O": "O", "L": "L", "ST": "ST",
}
NO_CA_UNIT = ("unit", "OU")
FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded"}
CLOCK_TOLERANCE = dt.timedelta(seconds=60)  # between our clock and TinyCert's, for find_order
MAX_LOOKUP_CANDIDATES = 25  # certificates with the right CN examined per lookup, newest first
DEFAULT_PAGE_SIZE = 100
# A parameter named in an error text: 'C', "SANs[2][IP]", `hash_method`.
_PARAM_IN_TEXT = re.compile(r"""['"`]([A-Za-z_]+)(?:\[[^\]'"`]*\])*['"`]""")

# A request's parameters as PHP's client holds them: a string each, or (SANs) a zero-based list
# of one-entry {type: value} records.
FormValue = str | Sequence[Mapping[str, str]]
FormParams = Mapping[str, FormValue]


# -- request signing -------------------------------------------------------------------------

def form_encode(text: str) -> str:
    """PHP urlencode (RFC 1738), as http_build_query uses it: A-Z a-z 0-9 - _ . kept, space as
    '+', everything else %XX — '~' too (Python would keep it), and the brackets of nested names."""
    return urllib.parse.quote_plus(text, safe="").replace("~", "%7E")


def php_query(params: FormParams) -> str:
    """What TinyCert's PHP client signs and sends: `ksort($params)` (the top-level keys only, byte
    order) then `http_build_query`, which writes a list value as name[i][type]=value in the list's
    own index order — so SANs[2] precedes SANs[10]. `digest` is never part of it."""
    pairs: list[tuple[str, str]] = []
    for key in sorted((k for k in params if k != "digest"), key=lambda k: k.encode("utf-8")):
        value = params[key]
        if isinstance(value, str):
            pairs.append((key, value))
            continue
        for index, entry in enumerate(value):
            pairs.extend((f"{key}[{index}][{kind}]", name) for kind, name in entry.items())
    return "&".join(f"{form_encode(k)}={form_encode(v)}" for k, v in pairs)


def signed_body(params: FormParams, api_key: str) -> bytes:
    """The one signing function: the POST body exactly as the PHP client builds it — the signed
    string itself, then `&digest=` + hex HMAC-SHA256 of it with the API key."""
    query = php_query(params)
    digest = hmac.new(api_key.encode("utf-8"), query.encode("ascii"), hashlib.sha256).hexdigest()
    return f"{query}&digest={digest}".encode("ascii")


# -- pure translations -----------------------------------------------------------------------

def san_params(sans: Iterable[San]) -> list[dict[str, str]]:
    """The `SANs` list, one {DNS|IP|email|URI: value} per SAN in order: sent as SANs[i][type],
    indexes from 0 (seeds/tinycert-cert-new.txt; the PHP client's cert_new)."""
    out: list[dict[str, str]] = []
    for i, san in enumerate(sans):
        kind = SAN_PARAM.get(san.type.lower())
        if kind is None:
            raise ProviderRejected(PROVIDER, f"TinyCert has no SAN type {san.type!r}",
                                   field_errors=[FieldError(f"sans[{i}].type", "must be dns, ip, email or uri")])
        out.append({kind: san.value})
    return out


def san_key(kind: str, value: str) -> tuple[str, str]:
    """A comparable SAN: DNS names and emails are case-insensitive, IPs compared as addresses."""
    kind = kind.lower()
    if kind in ("dns", "email"):
        return kind, value.strip().lower()
    if kind == "ip":
        try:
            return kind, ipaddress.ip_address(value.strip()).compressed
        except ValueError:
            return kind, value.strip()
    return kind, value.strip()


def requested_san_set(req: OrderRequest) -> frozenset[tuple[str, str]]:
    sans = req.sans or (San("dns", req.common_name),)
    return frozenset(san_key(s.type, s.value) for s in sans)


def alt_san_set(alt: Any) -> frozenset[tuple[str, str]]:
    """The SAN set of a /cert/details `Alt` ([{"DNS": "..."}, ...] or null)."""
    out: set[tuple[str, str]] = set()
    for entry in alt if isinstance(alt, list) else []:
        if isinstance(entry, dict):
            for kind, value in entry.items():
                out.add(san_key(SAN_FROM_PARAM.get(str(kind), str(kind)), str(value)))
    return frozenset(out)


def read_error(status: int, body: Any) -> ErrorReading | None:
    """TinyCert's `{"code": "<ShortString>", "text": "..."}` error body (the PHP client's
    last_error()); the code decides the error class where it is known (ERROR_KINDS)."""
    if not isinstance(body, dict) or not isinstance(body.get("code"), str) or not body["code"]:
        return None
    code = body["code"]
    text = str(body.get("text") or "")[:MAX_MESSAGE]
    return ErrorReading(f"{code}: {text}" if text else code, provider_code=code, kind=ERROR_KINDS.get(code),
                        field_errors=(_field_error(text),))


def _field_error(text: str) -> FieldError:
    """The request field an InputFailure/MissingParameter names, when its text names a parameter."""
    for m in _PARAM_IN_TEXT.finditer(text):
        param = m.group(1)
        if param == "SANs":
            return FieldError("sans", text)
        if param in PARAM_FIELDS:
            return FieldError(PARAM_FIELDS[param], text)
    return FieldError("request", text or "rejected by TinyCert")


# -- the adapter -----------------------------------------------------------------------------

class TinyCertProvider(Provider):
    name = PROVIDER
    capabilities = CAPABILITIES
    statuses = STATUS_TABLE
    listing_position = 1
    required_credentials = ("base_url", "email", "passphrase", "api_key")

    def _configure(self, credentials: Mapping[str, Any]) -> Endpoint:
        self._email = str(credentials["email"])
        self._passphrase = str(credentials["passphrase"])
        self._api_key = str(credentials["api_key"])
        default_ca = credentials.get("default_ca_id")
        self.default_ca_id: str | None = str(default_ca) if default_ca not in (None, "") else None
        self._token: str | None = None
        self._lock = threading.Lock()
        self._ca_subjects: dict[str, dict[str, Any]] = {}
        # Every call is signed in its body: no auth header, no session cookie.
        return Endpoint(str(credentials["base_url"]), secrets=(self._passphrase, self._api_key))

    def _read_error(self, status: int, body: Any) -> ErrorReading | None:
        return read_error(status, body)

    def _secrets(self) -> Iterable[str | None]:
        return (*self.endpoint.secrets, self._token)

    # -- transport -----------------------------------------------------------------------
    def _post(self, endpoint: str, params: FormParams, *, safe: bool) -> Any:
        """One signed call within the session; an expired/invalid session is reopened once.
        Reopening is safe even for creates: TinyCert refuses such a call before doing anything."""
        for attempt in range(2):
            token = self._session_token()
            try:
                return self.http.json("POST", endpoint, safe=safe, headers=FORM_HEADERS,
                                      data=signed_body({**params, "token": token}, self._api_key))
            except AuthenticationFailed as exc:
                if attempt == 0 and exc.provider_code in SESSION_ERRORS:
                    log.info("TinyCert session no longer valid; reconnecting", extra={"provider": PROVIDER})
                    self._forget_token(token)
                    continue
                raise
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _session_token(self) -> str:
        with self._lock:
            if self._token is None:
                # /connect only opens a session: repeating it is harmless, so it is a safe call.
                answer = self.http.json("POST", "connect", safe=True, headers=FORM_HEADERS, data=signed_body(
                    {"email": self._email, "passphrase": self._passphrase}, self._api_key))
                token = answer.get("token") if isinstance(answer, dict) else None
                if not isinstance(token, str) or not token:
                    raise ProviderProtocolError(PROVIDER, "/connect answered without a token")
                self._token = token
            return self._token

    def _forget_token(self, token: str) -> None:
        with self._lock:
            if self._token == token:
                self._token = None

    def close(self) -> None:
        """End the session (/disconnect); the next call opens a new one."""
        with self._lock:
            token, self._token = self._token, None
        if token is None:
            return
        try:
            self.http.json("POST", "disconnect", safe=True, headers=FORM_HEADERS,
                           data=signed_body({"token": token}, self._api_key))
        except ProviderError as exc:
            # The session expires on its own; failing to end it early harms nothing.
            log.info("TinyCert disconnect failed", extra={"provider": PROVIDER, "error": exc.code})

    def _dict(self, endpoint: str, params: FormParams, *, safe: bool) -> dict[str, Any]:
        answer = self._post(endpoint, params, safe=safe)
        if not isinstance(answer, dict):
            raise ProviderProtocolError(PROVIDER, f"/{endpoint} answered {type(answer).__name__}, not an object",
                                        outcome_unknown=not safe)
        return answer

    def _list(self, endpoint: str, params: Mapping[str, str]) -> list[dict[str, Any]]:
        answer = self._post(endpoint, params, safe=True)
        if not isinstance(answer, list):
            raise ProviderProtocolError(PROVIDER, f"/{endpoint} answered {type(answer).__name__}, not a list")
        return [e for e in answer if isinstance(e, dict)]

    def _pem(self, cert_id: str, what: str) -> str:
        answer = self._dict("cert/get", {"cert_id": cert_id, "what": what}, safe=True)
        value = answer.get("pem")
        if not isinstance(value, str) or "-----BEGIN" not in value:
            raise ProviderProtocolError(PROVIDER, f"/cert/get what={what} answered without a PEM")
        return value

    @staticmethod
    def _new_id(answer: Any, endpoint: str) -> str:
        value = answer.get("cert_id") if isinstance(answer, dict) else None
        if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
            # The call went through but we cannot tell which certificate it made.
            raise ProviderProtocolError(PROVIDER, f"/{endpoint} answered without a cert_id", outcome_unknown=True)
        return str(value)

    # -- request building ----------------------------------------------------------------
    def _ca_id(self, req: OrderRequest | None = None) -> str:
        chosen = (req.options.get("ca_id") if req is not None else None) or self.default_ca_id
        if chosen in (None, "") or not str(chosen).isdigit():
            raise ProviderRejected(PROVIDER, "no TinyCert CA to issue from", field_errors=[
                FieldError("provider_options.ca_id", "give a numeric ca_id (the secret has no default_ca_id)")])
        return str(chosen)

    def _ca_subject(self, ca_id: str) -> dict[str, Any]:
        """The CA's own subject, the default for C/O/ST/L of its certificates (cached)."""
        if ca_id not in self._ca_subjects:
            self._ca_subjects[ca_id] = self._dict("ca/details", {"ca_id": ca_id}, safe=True)
        return self._ca_subjects[ca_id]

    def new_cert_params(self, req: OrderRequest, ca_id: str) -> dict[str, FormValue]:
        """/cert/new parameters for `req`. Organization fields missing from the request come
        from the CA's own subject (TinyCert requires C and O; the secret holds no defaults)."""
        problems: list[FieldError] = []
        if req.product not in CAPABILITIES.products:
            problems.append(FieldError("product", "TinyCert issues only private certificates"))
        if req.csr_pem:
            problems.append(FieldError("csr", "TinyCert generates the key itself and does not take a CSR"))
        if req.validity_days is not None and req.validity_days > MAX_VALIDITY_DAYS:
            problems.append(FieldError("validity_days", f"TinyCert issues for at most {MAX_VALIDITY_DAYS} days"))
        if problems:
            raise ProviderRejected(PROVIDER, "the order does not fit TinyCert", field_errors=problems)
        org = req.organization
        subject = {"C": org.country if org else None, "O": org.name if org else None,
                   "ST": org.state if org else None, "L": org.locality if org else None,
                   "OU": org.unit if org else None}
        if not subject["C"] or not subject["O"]:
            ca = self._ca_subject(ca_id)
            for key in ("C", "O", "ST", "L"):
                if not subject[key] and isinstance(ca.get(key), str):
                    subject[key] = ca[key]
        # No validity parameter exists: TinyCert issues for one year, and the certificate's own
        # dates are what get_order reports.
        params: dict[str, FormValue] = {"ca_id": ca_id, "CN": req.common_name}
        params.update({k: str(v) for k, v in subject.items() if v})
        params["SANs"] = san_params(req.sans or (San("dns", req.common_name),))
        return params

    # -- orders (the template's hooks) ----------------------------------------------------
    def _create(self, req: OrderRequest) -> ProviderOrder:
        params = self.new_cert_params(req, self._ca_id(req))
        return self._created(self._new_id(self._post("cert/new", params, safe=False), "cert/new"), req)

    def _lookup(self, req: OrderRequest, since: dt.datetime | None) -> ProviderOrder | None:
        found = self._find(req.common_name, requested_san_set(req), self._ca_id(req), since=since)
        return replace(found, client_reference=req.client_reference) if found else None

    def _adopt(self, found: ProviderOrder, req: OrderRequest) -> ProviderOrder:
        return self._created(found.provider_order_id, req)  # with its material, as a create answers

    def _created(self, cert_id: str, req: OrderRequest) -> ProviderOrder:
        """The order just made (issued: TinyCert is synchronous), with its material."""
        try:
            order = self.get_order(cert_id, with_material=True)
        except ProviderError as exc:
            # The certificate exists; failing the whole call now would invite a duplicate. Report
            # it as not yet known so the poller fetches state and material next time.
            log.warning("TinyCert certificate created but not yet readable",
                        extra={"provider": PROVIDER, "provider_order_id": cert_id, "error": exc.code})
            return ProviderOrder(provider_order_id=cert_id, status=Status.PENDING, raw_status="",
                                 client_reference=req.client_reference, certificate_id=cert_id,
                                 common_name=req.common_name, product="private")
        return replace(order, client_reference=req.client_reference)

    def get_order(self, provider_order_id: str, *, with_material: bool = True) -> ProviderOrder:
        cert_id = _cert_id(provider_order_id)
        details = self._dict("cert/details", {"cert_id": cert_id}, safe=True)
        cert_pem = self._pem(cert_id, "cert")
        if _raw_status(details) == OBSOLETE:
            successor = self._reissue_of(cert_id, details, cert_pem)
            if successor is None:
                # Never demote on a guess: unrecognized, so the service keeps the last known status.
                log.warning("TinyCert certificate obsolete and its reissue not found",
                            extra={"provider": PROVIDER, "provider_order_id": cert_id})
                return self._order_from(cert_id, details, cert_pem)
            cert_id, details, cert_pem = successor
        order = self._order_from(cert_id, details, cert_pem)
        if with_material and order.status is Status.ISSUED:
            chain = self._pem(cert_id, "chain")  # TinyCert's chain starts with the leaf
            key = self._pem(cert_id, "key.dec")
            order = replace(order, material=self.material_from(f"{cert_pem}\n{chain}", "/cert/get",
                                                               private_key_pem=key))
        return order

    def _reissue_of(self, cert_id: str, details: Mapping[str, Any], cert_pem: str
                    ) -> tuple[str, dict[str, Any], str] | None:
        """The current certificate that replaced obsolete `cert_id`. TinyCert reissues from the
        same signing request (PHP client, cert_reissue: "the same values"), so the reissue has the
        same key and CN and a higher id, and is listed (an obsolete one never is) under one of the
        account's CAs — /cert/details does not say which, so the default CA is searched first."""
        key = _public_key(cert_pem)
        name = str(details.get("CN") or "").strip().lower()
        ca_ids = [self.default_ca_id] if self.default_ca_id else []
        for ca_id in (*ca_ids, *(a.ca_id for a in self.list_authorities() if a.ca_id not in ca_ids)):
            listing = self._list("cert/list", {"ca_id": str(ca_id), "what": str(LIST_ALL)})
            candidates = sorted((int(e["id"]) for e in listing if str(e.get("id", "")).isdigit()
                                 and int(e["id"]) > int(cert_id) and str(e.get("name", "")).strip().lower() == name),
                                reverse=True)
            for candidate in map(str, candidates[:MAX_LOOKUP_CANDIDATES]):
                pem = self._pem(candidate, "cert")
                if _public_key(pem) == key:
                    return candidate, self._dict("cert/details", {"cert_id": candidate}, safe=True), pem
        return None

    def _order_from(self, cert_id: str, details: Mapping[str, Any], cert_pem: str) -> ProviderOrder:
        raw_status = _raw_status(details)
        cn = details.get("CN")
        order = ProviderOrder(
            provider_order_id=cert_id, status=self.status_of(raw_status), raw_status=raw_status,
            status_recognized=self.recognizes(raw_status),
            certificate_id=cert_id, common_name=cn if isinstance(cn, str) else None,
            sans=tuple(v for _, v in sorted(alt_san_set(details.get("Alt")))),
            on_hold=raw_status.lower() == "hold", product="private")
        # The certificate's own names, dates and serial (its real validity: TinyCert takes no
        # validity parameter); the listing's CN stays (it is the one asked for).
        return replace(self.stated_by(order, cert_pem), common_name=order.common_name)

    def _find(self, common_name: str, sans: frozenset[tuple[str, str]], ca_id: str, *,
              since: dt.datetime | None = None, after_id: int | None = None) -> ProviderOrder | None:
        """The newest certificate of `ca_id` with this CN and SAN set, issued at/after `since`
        (its notBefore, within CLOCK_TOLERANCE) and with an id above `after_id`."""
        listing = self._list("cert/list", {"ca_id": ca_id, "what": str(LIST_ALL)})
        wanted = common_name.strip().lower()
        candidates = sorted((int(e["id"]) for e in listing
                             if str(e.get("id", "")).isdigit() and str(e.get("name", "")).strip().lower() == wanted
                             and (after_id is None or int(e["id"]) > after_id)), reverse=True)
        for cid in candidates[:MAX_LOOKUP_CANDIDATES]:
            cert_id = str(cid)
            details = self._dict("cert/details", {"cert_id": cert_id}, safe=True)
            if alt_san_set(details.get("Alt")) != sans:
                continue
            cert_pem = self._pem(cert_id, "cert")
            order = self._order_from(cert_id, details, cert_pem)
            if since is not None and order.not_before is not None and order.not_before < since - CLOCK_TOLERANCE:
                break  # ids grow with time: every remaining candidate is older still
            return order
        return None

    def _issued_material(self, provider_order_id: str) -> CertificateMaterial:
        cert_id = _cert_id(provider_order_id)
        leaf = self._pem(cert_id, "cert")
        return self.material_from(f"{leaf}\n{self._pem(cert_id, 'chain')}", "/cert/get")

    def reissue(self, provider_order_id: str, req: OrderRequest) -> ProviderOrder:
        """/cert/reissue: a new certificate from the same signing request (same key and names,
        fresh year); the old id becomes obsolete. Other names need a new order, not a reissue."""
        cert_id = _cert_id(provider_order_id)
        details = self._dict("cert/details", {"cert_id": cert_id}, safe=True)
        current_sans = alt_san_set(details.get("Alt"))
        problems = []
        if req.csr_pem:
            problems.append(FieldError("csr", "TinyCert reissues with the key it generated; no CSR is taken"))
        if str(details.get("CN") or "").lower() != req.common_name.lower():
            problems.append(FieldError("common_name", "TinyCert reissues with the same common name"))
        if req.sans and requested_san_set(req) != current_sans:
            problems.append(FieldError("sans", "TinyCert reissues with the same SANs"))
        if problems:
            raise ProviderRejected(PROVIDER, "TinyCert cannot change names or key on reissue", field_errors=problems)
        ca_id = self._ca_id(req)
        name = str(details.get("CN") or req.common_name)
        return self.create_once(
            lambda: self._created(self._new_id(self._post("cert/reissue", {"cert_id": cert_id}, safe=False),
                                               "cert/reissue"), req),
            lambda since: self._found(self._find(name, current_sans, ca_id, since=since, after_id=int(cert_id)), req))

    def renew(self, provider_order_id: str, req: OrderRequest) -> ProviderOrder:
        """TinyCert has no renewal: a new certificate with the same subject (the old one stays valid)."""
        self._dict("cert/details", {"cert_id": _cert_id(provider_order_id)}, safe=True)  # must exist
        return self.submit_order(req)

    def revoke(self, provider_order_id: str, reason: str = "unspecified") -> ProviderOrder:
        # TinyCert takes no reason. Setting a status it already has succeeds: safe to repeat.
        cert_id = _cert_id(provider_order_id)
        self._dict("cert/status", {"cert_id": cert_id, "status": "revoked"}, safe=True)
        return self.get_order(cert_id, with_material=False)

    def list_certificates(self, filters: Mapping[str, Any] | None = None,
                          page_token: str | None = None) -> Page:
        """TinyCert lists a CA's certificates in one answer; pages are cut here. `next_token` is
        the offset of the next page. Filters: ca_id, status (normalized, or a list), common_name, limit."""
        f = dict(filters or {})
        ca_id = str(f.get("ca_id") or self._ca_id())
        limit = int(f.get("limit") or DEFAULT_PAGE_SIZE)
        try:
            offset = int(page_token) if page_token else 0
        except ValueError:
            offset = -1
        if offset < 0 or limit <= 0:
            raise ProviderRejected(PROVIDER, "invalid page token or limit",
                                   field_errors=[FieldError("next_token" if offset < 0 else "limit", "invalid")])
        statuses = f.get("status")
        wanted = [statuses] if isinstance(statuses, str) else list(statuses or [])
        what = 0
        for s in wanted:
            what |= LIST_BITS.get(str(s), 0)
        if wanted and not what:
            return Page(items=(), next_token=None)  # e.g. pending: TinyCert never has such certificates
        listing = self._list("cert/list", {"ca_id": ca_id, "what": str(what or LIST_ALL)})
        cn = str(f.get("common_name") or "").strip().lower()
        rows = sorted((e for e in listing if str(e.get("id", "")).isdigit()
                       and (not cn or str(e.get("name", "")).strip().lower() == cn)), key=lambda e: int(e["id"]))
        page = rows[offset:offset + limit]
        items = tuple(self._listed(e) for e in page)
        return Page(items=items, next_token=str(offset + limit) if offset + limit < len(rows) else None)

    @classmethod
    def _listed(cls, entry: Mapping[str, Any]) -> ProviderOrder:
        raw = entry.get("status")
        raw_status = raw if isinstance(raw, str) else ""
        expires = entry.get("expires")
        not_after = (dt.datetime.fromtimestamp(expires, dt.UTC)
                     if isinstance(expires, int | float) and not isinstance(expires, bool) else None)
        name = entry.get("name")
        return ProviderOrder(provider_order_id=str(entry["id"]), status=cls.status_of(raw_status),
                             raw_status=raw_status, status_recognized=cls.recognizes(raw_status),
                             certificate_id=str(entry["id"]),
                             common_name=name if isinstance(name, str) else None, not_after=not_after,
                             on_hold=raw_status.lower() == "hold", product="private")

    # -- certification authorities -------------------------------------------------------
    def list_authorities(self) -> list[Authority]:
        return [Authority(ca_id=str(e["id"]), name=str(e.get("name") or ""))
                for e in self._list("ca/list", {}) if str(e.get("id", "")).isdigit()]

    def get_authority(self, ca_id: str) -> Authority:
        ca = _numeric(ca_id, "ca_id")
        details = self._dict("ca/details", {"ca_id": ca}, safe=True)
        answer = self._dict("ca/get", {"ca_id": ca, "what": "cert"}, safe=True)
        cert = answer.get("pem")
        return Authority(ca_id=ca, name=str(details.get("O") or details.get("CN") or ""), details=details,
                         certificate_pem=cert if isinstance(cert, str) else None)

    def create_authority(self, fields: Mapping[str, str]) -> Authority:
        params: dict[str, str] = {"hash_method": "sha256"}
        problems = []
        for key, value in fields.items():
            param = AUTHORITY_FIELDS.get(key)
            if key in NO_CA_UNIT:
                if value not in (None, ""):
                    problems.append(FieldError(key, "TinyCert CAs take no organizational unit (their OU is always "
                                                    "'Secure Digital Certificate Signing')"))
            elif param is None:
                problems.append(FieldError(key, "unknown CA field (country, organization, locality, state, "
                                                "hash_method)"))
            elif value not in (None, ""):
                params[param] = str(value)
        if problems:
            raise ProviderRejected(PROVIDER, "the CA does not fit TinyCert", field_errors=problems)
        # Not retried after an ambiguous failure: a CA has no handle to look it up by, and a
        # spare CA costs nothing (unlike a certificate an application may start using).
        answer = self._dict("ca/new", params, safe=False)
        ca_id = answer.get("ca_id")
        if isinstance(ca_id, bool) or not isinstance(ca_id, int | str) or not str(ca_id).isdigit():
            raise ProviderProtocolError(PROVIDER, "/ca/new answered without a ca_id", outcome_unknown=True)
        return self.get_authority(str(ca_id))

    def delete_authority(self, ca_id: str) -> None:
        ca = _numeric(ca_id, "ca_id")
        self._ca_subjects.pop(ca, None)
        try:
            self._dict("ca/delete", {"ca_id": ca}, safe=False)
        except ProviderError as exc:
            self.confirm(exc, lambda: self._authority_gone(ca))

    def _authority_gone(self, ca: str) -> bool | None:
        try:
            self._dict("ca/details", {"ca_id": ca}, safe=True)
        except ProviderNotFound:
            return True  # the delete went through before the answer was lost
        return None


def _raw_status(details: Mapping[str, Any]) -> str:
    raw = details.get("status")
    return raw if isinstance(raw, str) else ""


def _public_key(cert_pem: str) -> str:
    """The certificate's public key fingerprint: a reissue keeps it, a new certificate does not."""
    from chalicelib.x509.certificates import certificate_info

    try:
        return certificate_info(cert_pem).public_key_fingerprint
    except BadMaterial as exc:
        raise ProviderProtocolError(PROVIDER, "the certificate does not parse") from exc


def _numeric(value: str, field: str) -> str:
    text = str(value).strip()
    if not text.isdigit():
        raise ProviderNotFound(PROVIDER, f"no TinyCert object with {field} {text[:40]!r}")
    return text


def _cert_id(provider_order_id: str) -> str:
    return _numeric(provider_order_id, "cert_id")


ADAPTER = TinyCertProvider
