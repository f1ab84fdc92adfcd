"""A simulator of the TinyCert REST API v1, strict to TinyCert's pages (seeds/tinycert-*.txt),
its own PHP client (GitHub shdon/tinycert-php, tinycert.inc.php) and providers.md.

What it honours: POST-only, form-encoded endpoints under /api/v1 (optional `.json` suffix);
every request signed with `digest` = hex HMAC-SHA256 (key = the account's API key) over the
string PHP's client signs — `ksort` of the top-level keys, then `http_build_query` (nested
`SANs[i][type]` in index order, PHP `urlencode`) — and nothing else; sessions from /connect
whose tokens expire; errors as HTTP 400/403/404/429/500 with `{"code": "<ShortString>",
"text": "..."}`; the account's CAs (each a real issuing CA under this simulator's root, so
everything verifies against GET /_sim/ca.pem; no OU, deleting one deletes its certificates);
synchronous issuance with a key TinyCert generates itself, valid one year; reissue (the old id,
good or on hold, becomes obsolete), status changes (good | revoked | hold), listing filtered by
the `what` bitmask.

Every behaviour and its source (or "invented") is listed in simulators/README_tinycert.md. The
digest is computed independently of the adapter on purpose: a shared helper would hide a
mistake made in both places.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import ipaddress
import itertools
import os
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from simulators import defaults
from simulators.base import Request, Response, SimError, Simulator, json_response, main, optional_float
from simulators.ca import BadCSR, build_csr, generate_key, key_pem, parse_csr, pem

API = "/api/v1"
FORM = "application/x-www-form-urlencoded"
JOURNAL_SIZE = 50  # requests kept for GET /_sim/journal

# TinyCert's short error codes, each with the HTTP status it is answered with and the text the
# PHP client (`last_error()` docblock) gives for it. The client names the codes and the five
# statuses (400 input, 403 session/access, 404 unknown id, 429 rate, 500 unexpected) but not
# which code goes with which status: that pairing is ours, by the meaning of each description.
ERRORS: dict[str, tuple[int, str]] = {
    "AccessDenied": (403, "The requested resource is not associated with this account."),
    "AccountError": (500, "Account data is corrupt. Please contact support."),
    "AccountNotFound": (403, "No account exists for the specified email address."),
    "AccountNotLoaded": (500, "There was an unexpected error loading the account data. Please contact support."),
    "ApiKeyMismatch": (403, "The API key specified is not valid for the requested account."),
    "InputFailure": (400, "An invalid value was specified for one of the input parameters."),
    "InvalidToken": (403, "The token does not correspond to a valid session or has expired."),
    "MethodDisallowed": (400, "All API calls must be made using the POST request method."),
    "MissingParameter": (400, "A required parameter is missing."),
    "NotFound": (404, "The requested resource was not found. Check that the specified ID is valid."),
    "NotLatest": (400, "Attempting to reissue a certificate from an obsolete ID."),
    "PassphraseFailure": (403, "The passphrase specified is incorrect."),
    "RateLimitExceeded": (429, "You are attempting to create new CAs or certificates too rapidly."),
    "SessionError": (403, "The session was not properly initialised."),
    "SignatureFailure": (403, "The request was not properly signed."),
    "StatusDisallowed": (400, "An invalid status change was requested for a certificate."),
    "UnknownError": (500, "Generic fatal error condition. Please contact support."),
}

SAN_TYPES = ("DNS", "IP", "email", "URI")  # case sensitive, as the seed page says
SAN_KEY = re.compile(r"^SANs\[(\d+)\]\[([^\]]*)\]$")
SAN_TO_CA = {"DNS": "dns", "IP": "ip", "email": "email", "URI": "uri"}
DNS_NAME = re.compile(r"^(\*\.)?([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?\.)*"
                      r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")
COUNTRY = re.compile(r"^[A-Z]{2}$")
LIST_BITS = {"expired": 1, "good": 2, "revoked": 4, "hold": 8}  # `obsolete` is never listed
SETTABLE = ("good", "revoked", "hold")
CA_OU = "Secure Digital Certificate Signing"  # what TinyCert puts in every CA's OU
SUBJECT_OIDS = (("C", NameOID.COUNTRY_NAME), ("ST", NameOID.STATE_OR_PROVINCE_NAME),
                ("L", NameOID.LOCALITY_NAME), ("O", NameOID.ORGANIZATION_NAME),
                ("OU", NameOID.ORGANIZATIONAL_UNIT_NAME))

# -- the signature, as PHP builds it ------------------------------------------------------------
# The PHP client signs `http_build_query(ksort($params))`: ksort orders the top-level keys only
# (byte order: they are never numeric); http_build_query walks a nested array (SANs) in its own
# order, which for the zero-based list the client documents is index order. So with 11+ SANs
# SANs[2] comes before SANs[10], where a byte sort of the flattened names would not.
# Everything below is written from PHP's behaviour, byte by byte, and shares nothing with the
# adapter (chalicelib/providers/tinycert.py): two independent readings must agree.

_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
_PHP_NAME = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])+)$")
_PHP_INT_KEY = re.compile(r"^(0|-?[1-9][0-9]*)$")
PhpValue = str | dict[str, Any]


def php_urlencode(text: str) -> str:
    """PHP `urlencode` (what http_build_query uses, RFC 1738): A-Z a-z 0-9 - _ . kept, space as
    '+', every other byte (including '~', '[' and ']') as %XX, upper-case hex."""
    out: list[str] = []
    for byte in text.encode("utf-8"):
        if byte in _UNRESERVED:
            out.append(chr(byte))
        elif byte == 0x20:
            out.append("+")
        else:
            out.append(f"%{byte:02X}")
    return "".join(out)


def php_post(pairs: list[tuple[str, str]]) -> dict[str, PhpValue]:
    """A form body as PHP's $_POST holds it: `SANs[0][DNS]=x` nests as SANs -> 0 -> DNS; `[]`
    appends; a repeated name: the last one wins (replacing what was there, as PHP does)."""
    post: dict[str, PhpValue] = {}
    for name, value in pairs:
        m = _PHP_NAME.match(name)
        if not m:
            post[name] = value
            continue
        path = [m.group(1), *re.findall(r"\[([^\[\]]*)\]", m.group(2))]
        node: dict[str, Any] = post
        for depth, key in enumerate(path):
            if key == "" and depth:
                key = str(max((int(k) + 1 for k in node if _PHP_INT_KEY.match(k)), default=0))
            if depth == len(path) - 1:
                node[key] = value
            else:
                child = node.get(key)
                if not isinstance(child, dict):
                    child = node[key] = {}
                node = child
    return post


def _php_list_order(node: dict[str, Any]) -> list[str]:
    """The order http_build_query walks a nested array in: a PHP list's own (index) order."""
    if all(_PHP_INT_KEY.match(k) for k in node):
        return sorted(node, key=int)
    return list(node)


def php_build_query(post: dict[str, PhpValue]) -> str:
    """`ksort($params); http_build_query($params, '', '&')` over everything but `digest`."""
    parts: list[str] = []

    def emit(name: str, value: PhpValue) -> None:
        if isinstance(value, dict):
            for key in _php_list_order(value):
                emit(f"{name}%5B{php_urlencode(key)}%5D", value[key])
        else:
            parts.append(f"{name}={php_urlencode(value)}")

    for key in sorted((k for k in post if k != "digest"), key=lambda k: k.encode("utf-8")):
        emit(php_urlencode(key), post[key])
    return "&".join(parts)


def expected_digest(pairs: list[tuple[str, str]], api_key: str) -> str:
    """What TinyCert computes for a request body's parameters: hex HMAC-SHA256 of the PHP string."""
    canonical = php_build_query(php_post(pairs))
    return hmac.new(api_key.encode("utf-8"), canonical.encode("ascii"), hashlib.sha256).hexdigest()


def tc_error(name: str, text: str | None = None, status: int | None = None,
             headers: dict[str, str] | None = None) -> SimError:
    default_status, description = ERRORS[name]
    return SimError(status or default_status, name, text or description, headers=headers)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


@dataclass
class _Authority:
    id: int
    fields: dict[str, str | None]  # C ST L O OU CN E hash_alg
    cert: x509.Certificate
    key: Any
    deleted: bool = False


@dataclass
class _Cert:
    id: int
    ca_id: int
    status: str  # good | hold | revoked | expired | obsolete
    subject: dict[str, str | None]  # C ST L O OU CN
    alt: list[dict[str, str]] | None  # as /cert/details shows it: [{"DNS": "..."}], or None
    key: Any
    csr_pem: str
    cert: x509.Certificate
    created_at: float = field(default_factory=time.time)
    reissued_from: int | None = None
    deleted: bool = False  # its CA was deleted

    @property
    def sans(self) -> list[tuple[str, str]]:
        return [(SAN_TO_CA[t], v) for entry in self.alt or [] for t, v in entry.items()]


class TinyCertSim(Simulator):
    name = "tinycert"

    def __init__(self, *, issue_delay_s: float | None = None, token_ttl_s: float | None = 3600.0,
                 cert_validity_days: int = 365, email: str = defaults.TINYCERT_EMAIL,
                 passphrase: str = defaults.TINYCERT_PASSPHRASE, api_key: str = defaults.TINYCERT_API_KEY,
                 default_ca_id: int = defaults.TINYCERT_DEFAULT_CA_ID) -> None:
        # TinyCert issues synchronously: issue_delay_s is accepted for a uniform constructor
        # across simulators and otherwise unused.
        self.issue_delay_s = issue_delay_s
        self.token_ttl_s = token_ttl_s  # None: tokens never expire
        self.cert_validity_days = cert_validity_days
        self.email, self.passphrase, self.api_key = email, passphrase, api_key
        self.default_ca_id = default_ca_id
        super().__init__()  # registers routes, then reset_state()

    # -- state -------------------------------------------------------------------------
    def reset_state(self) -> None:
        self.sessions: dict[str, float] = {}  # token -> expiry (monotonic); inf if no TTL
        self.journal: list[dict[str, Any]] = []  # the last requests: raw body, PHP string, verdict
        self.connects = 0
        self.authorities: dict[int, _Authority] = {}
        self.certs: dict[int, _Cert] = {}
        self._ca_ids = itertools.count(self.default_ca_id)
        self._cert_ids = itertools.count(1)
        self._seed_serial = itertools.count(1)
        self._new_authority({"C": "US", "ST": "Illinois", "L": "Chicago", "O": "Certgate Local",
                             "hash_method": "sha256"})

    def tick(self) -> None:
        now = dt.datetime.now(dt.UTC)
        for cert in self.certs.values():
            if cert.status in ("good", "hold") and cert.cert.not_valid_after_utc < now:
                cert.status = "expired"
        clock = time.monotonic()
        for token in [t for t, until in self.sessions.items() if until <= clock]:
            del self.sessions[token]

    def advance(self) -> dict[str, Any]:
        self.tick()  # nothing is ever pending at TinyCert; expiry is the only time-based change
        return {"issued": 0, "pending": 0}

    # -- routes --------------------------------------------------------------------------
    def register_routes(self) -> None:
        endpoints = {
            "connect": self._connect, "disconnect": self._disconnect,
            "ca/list": self._ca_list, "ca/details": self._ca_details, "ca/get": self._ca_get,
            "ca/delete": self._ca_delete, "ca/new": self._ca_new,
            "cert/list": self._cert_list, "cert/details": self._cert_details, "cert/get": self._cert_get,
            "cert/reissue": self._cert_reissue, "cert/status": self._cert_status, "cert/new": self._cert_new,
        }
        for name, fn in endpoints.items():
            handler = self._endpoint(fn, session=name != "connect")
            for suffix in ("", ".json"):
                self.route("POST", re.escape(f"{API}/{name}{suffix}"), handler)

    def _endpoint(self, fn: Any, *, session: bool) -> Any:
        def handle(req: Request) -> Response:
            pairs = self._pairs(req)
            params = dict(pairs)
            entry = {"path": req.path, "body": req.body.decode("utf-8", "replace"),
                     "canonical": php_build_query(php_post(pairs)), "digest_ok": self._signed(pairs, params)}
            self.journal.append(entry)
            del self.journal[:-JOURNAL_SIZE]
            if not session:
                return json_response(200, fn(params, entry["digest_ok"]))  # /connect checks it itself
            self._check_session(params, entry["digest_ok"])
            return json_response(200, fn(params))
        return handle

    def _pairs(self, req: Request) -> list[tuple[str, str]]:
        # Like PHP's $_POST: only a form-encoded body yields parameters at all.
        if not req.headers.get("content-type", "").lower().startswith(FORM):
            return []
        return req.form_pairs()

    def _signed(self, pairs: list[tuple[str, str]], params: dict[str, str]) -> bool:
        digest = params.get("digest", "")
        return bool(digest) and hmac.compare_digest(digest.lower(), expected_digest(pairs, self.api_key))

    def _check_session(self, params: dict[str, str], signed: bool) -> None:
        token = _required(params, "token")
        until = self.sessions.get(token)
        if until is None or until <= time.monotonic():
            self.sessions.pop(token, None)
            raise tc_error("InvalidToken")
        _required(params, "digest")
        if not signed:
            raise tc_error("SignatureFailure")

    # -- errors in TinyCert's shape ------------------------------------------------------
    def error_response(self, err: SimError) -> Response:
        return json_response(err.status, {"code": err.code, "text": err.message}, err.headers)

    def fault_error(self, status: int) -> Response:
        return self.error_response(tc_error("UnknownError", status=status))

    def rate_limit_error(self, retry_after: float) -> Response:
        # TinyCert documents no Retry-After (the PHP client reads no header): sent only when the
        # fault configuration asks for one.
        asked = self.faults.config.get("retry_after_s")
        headers = {"Retry-After": str(int(max(1, float(asked))))} if asked else None
        return self.error_response(tc_error("RateLimitExceeded", headers=headers))

    def not_found(self, req: Request) -> Response:
        return self.error_response(tc_error("NotFound", f"No such API endpoint: {req.path}"))

    def method_not_allowed(self, req: Request) -> Response:
        return self.error_response(tc_error("MethodDisallowed"))

    # -- sessions ------------------------------------------------------------------------
    def _connect(self, p: dict[str, str], signed: bool) -> dict[str, Any]:
        email = _required(p, "email")
        passphrase = _required(p, "passphrase")
        _required(p, "digest")
        if email.lower() != self.email.lower():
            raise tc_error("AccountNotFound")
        if not signed:
            # /connect is where the key meets the account: a digest that does not verify with
            # the account's key says the key is not this account's.
            raise tc_error("ApiKeyMismatch")
        if not hmac.compare_digest(passphrase.encode(), self.passphrase.encode()):
            raise tc_error("PassphraseFailure")
        token = secrets.token_hex(24)
        ttl = self.token_ttl_s
        self.sessions[token] = time.monotonic() + ttl if ttl is not None else float("inf")
        self.connects += 1
        return {"token": token}

    def _disconnect(self, p: dict[str, str]) -> dict[str, Any]:
        self.sessions.pop(p["token"], None)
        return {}

    # -- certification authorities -------------------------------------------------------
    def _new_authority(self, p: dict[str, str | None]) -> _Authority:
        ca_id = next(self._ca_ids)
        org = str(p["O"])
        fields: dict[str, str | None] = {
            "C": p["C"], "ST": p.get("ST") or None, "L": p.get("L") or None, "O": org,
            # X.509 caps a CN at 64 characters: a long organisation name is shortened in the CA's CN.
            "OU": CA_OU, "CN": f"{org[:61]} CA", "E": self.email,
            "hash_alg": str(p.get("hash_method") or "sha256").upper(),
        }
        extra = [x509.NameAttribute(oid, str(fields[k])) for k, oid in SUBJECT_OIDS
                 if k not in ("O",) and fields.get(k)]
        extra.append(x509.NameAttribute(NameOID.EMAIL_ADDRESS, self.email))
        # Deviation: real TinyCert CAs are self-signed roots; ours hang under the simulator
        # root so that one CA file (/_sim/ca.pem) verifies every account CA.
        cert, key = self.ca.new_sub_ca(str(fields["CN"]), subject_extra=extra)
        authority = _Authority(ca_id, fields, cert, key)
        self.authorities[ca_id] = authority
        return authority

    def _authority(self, p: dict[str, str]) -> _Authority:
        ca_id = _int_param(p, "ca_id")
        found = self.authorities.get(ca_id)
        if found is None or found.deleted:
            raise tc_error("NotFound", "The requested CA was not found. Check that the specified ID is valid.")
        return found

    def _ca_list(self, p: dict[str, str]) -> list[dict[str, Any]]:
        return [{"id": a.id, "name": a.fields["O"]} for a in self.authorities.values() if not a.deleted]

    def _ca_details(self, p: dict[str, str]) -> dict[str, Any]:
        a = self._authority(p)
        return {"id": a.id, **a.fields}

    def _ca_get(self, p: dict[str, str]) -> dict[str, Any]:
        a = self._authority(p)
        if _required(p, "what") != "cert":
            raise tc_error("InputFailure", "Invalid value for parameter 'what'")
        return {"pem": pem(a.cert)}

    def _ca_delete(self, p: dict[str, str]) -> dict[str, Any]:
        a = self._authority(p)
        a.deleted = True  # with every certificate it signed, as TinyCert documents
        for cert in self.certs.values():
            if cert.ca_id == a.id:
                cert.deleted = True
        return {}

    def _ca_new(self, p: dict[str, str]) -> dict[str, Any]:
        fields: dict[str, str | None] = {
            "C": _country(p), "O": _subject_value(p, "O", required=True),
            "L": _subject_value(p, "L"), "ST": _subject_value(p, "ST"),
            # No OU: the PHP client's ca_new sends none and ca_details documents the CA's OU as
            # always "Secure Digital Certificate Signing". One sent anyway is ignored.
            "hash_method": _required(p, "hash_method").lower(),
        }
        if fields["hash_method"] not in ("sha1", "sha256"):
            raise tc_error("InputFailure", "Invalid value for parameter 'hash_method'")
        return {"ca_id": self._new_authority(fields).id}

    # -- certificates --------------------------------------------------------------------
    def _cert(self, p: dict[str, str]) -> _Cert:
        cert_id = _int_param(p, "cert_id")
        found = self.certs.get(cert_id)
        if found is None or found.deleted:
            raise tc_error("NotFound", "The requested certificate was not found. Check that the specified ID "
                                       "is valid.")
        return found

    def _cert_new(self, p: dict[str, str]) -> dict[str, Any]:
        subject: dict[str, str | None] = {
            "C": _country(p), "CN": _subject_value(p, "CN", required=True),
            "O": _subject_value(p, "O", required=True), "L": _subject_value(p, "L"),
            "ST": _subject_value(p, "ST"), "OU": _subject_value(p, "OU"),
        }
        alt = _parse_sans(p)
        authority = self._authority(p)
        cert = self._create(authority, subject, alt, generate_key("rsa", 2048))
        return {"cert_id": cert.id}

    def _create(self, authority: _Authority, subject: dict[str, str | None], alt: list[dict[str, str]] | None,
                key: Any, *, csr_pem: str | None = None, not_before: dt.datetime | None = None,
                days: float | None = None, status: str = "good", reissued_from: int | None = None) -> _Cert:
        """TinyCert makes a signing request for the key it generated and signs that request."""
        cn = str(subject["CN"])
        sans = [(SAN_TO_CA[t], v) for entry in alt or [] for t, v in entry.items()]
        if csr_pem is None:
            request = build_csr(key, cn, sans or None, org=subject.get("O"), country=subject.get("C"))
            csr_pem = request.public_bytes(serialization.Encoding.PEM).decode()
        try:
            csr = parse_csr(csr_pem)  # the CA signs only a request whose signature verifies
        except BadCSR as exc:
            raise tc_error("UnknownError", f"Could not sign the certificate request: {exc}") from exc
        start = not_before or _utcnow()
        extra = [x509.NameAttribute(oid, str(subject[k])) for k, oid in SUBJECT_OIDS if subject.get(k)]
        # Deviation: with no SANs, SimCA still writes the CN as a DNS SAN; /cert/details keeps Alt null.
        # notBefore is the issuance time itself (SimCA would backdate 5 minutes otherwise).
        issued = self.ca.issue(csr.public_key(), cn, sans, subject_extra=extra, issuer=(authority.cert, authority.key),
                               not_before=start, days=days if days is not None else self.cert_validity_days)  # type: ignore[arg-type]
        cert = _Cert(id=next(self._cert_ids), ca_id=authority.id, status=status, subject=dict(subject), alt=alt,
                     key=key, csr_pem=csr_pem, cert=issued.cert, reissued_from=reissued_from)
        self.certs[cert.id] = cert
        return cert

    def _cert_list(self, p: dict[str, str]) -> list[dict[str, Any]]:
        authority = self._authority(p)
        what = _int_param(p, "what")
        if not 1 <= what <= 15:
            raise tc_error("InputFailure", "Invalid value for parameter 'what'")
        return [{"id": c.id, "name": c.subject["CN"], "status": c.status,
                 "expires": int(c.cert.not_valid_after_utc.timestamp())}
                for c in sorted(self.certs.values(), key=lambda c: c.id)
                if c.ca_id == authority.id and not c.deleted and LIST_BITS.get(c.status, 0) & what]

    def _cert_details(self, p: dict[str, str]) -> dict[str, Any]:
        c = self._cert(p)
        return {"id": c.id, "status": c.status, **{k: c.subject.get(k) for k in ("C", "ST", "L", "O", "OU", "CN")},
                "Alt": c.alt}

    def _cert_get(self, p: dict[str, str]) -> dict[str, Any]:
        c = self._cert(p)
        what = _required(p, "what")
        authority = self.authorities[c.ca_id]
        if what == "cert":
            return {"pem": pem(c.cert)}
        if what == "chain":
            return {"pem": pem(c.cert) + pem(authority.cert)}
        if what == "csr":
            return {"pem": c.csr_pem}
        if what == "key.dec":
            return {"pem": key_pem(c.key)}
        if what == "key.enc":
            # TinyCert keeps keys encrypted with the account passphrase; key.enc hands them out so.
            return {"pem": key_pem(c.key, self.passphrase.encode())}
        if what == "pkcs12":
            blob = pkcs12.serialize_key_and_certificates(
                str(c.subject["CN"]).encode(), c.key, c.cert, [authority.cert],
                serialization.BestAvailableEncryption(self.passphrase.encode()))
            return {"pkcs12": base64.b64encode(blob).decode()}
        raise tc_error("InputFailure", "Invalid value for parameter 'what'")

    def _cert_reissue(self, p: dict[str, str]) -> dict[str, Any]:
        old = self._cert(p)
        if old.status == "obsolete":
            raise tc_error("NotLatest", "Attempting to reissue a certificate from an obsolete ID.")
        # Same signing request (hence the same key and names), a fresh validity period.
        new = self._create(self.authorities[old.ca_id], old.subject, old.alt, old.key, csr_pem=old.csr_pem,
                           reissued_from=old.id)
        if old.status in ("good", "hold"):
            old.status = "obsolete"
        return {"cert_id": new.id}

    def _cert_status(self, p: dict[str, str]) -> dict[str, Any]:
        c = self._cert(p)
        wanted = _required(p, "status")
        if wanted not in SETTABLE:
            raise tc_error("InputFailure", "Invalid value for parameter 'status'")
        if c.status not in SETTABLE:
            raise tc_error("StatusDisallowed", f"Cannot change the status of a certificate that is {c.status}.")
        c.status = wanted  # the same status again is a successful no-op
        return {}

    # -- admin ---------------------------------------------------------------------------
    def admin(self, req: Request) -> Response:
        sub = req.path[len("/_sim"):]
        if sub == "/orders" and req.method == "GET":
            with self.lock:
                self.tick()
                return json_response(200, [self._order_view(c) for c in sorted(self.certs.values(),
                                                                                key=lambda c: c.id)])
        if sub == "/seed" and req.method == "POST":
            try:
                body = req.json()
                if not isinstance(body, dict):
                    raise ValueError("body must be a JSON object")
                with self.lock:
                    return json_response(200, {"created": self.seed(**body)})
            except (TypeError, ValueError) as exc:
                return json_response(400, {"error": str(exc)})
        if sub == "/journal" and req.method == "GET":
            with self.lock:
                return json_response(200, list(self.journal))
        if sub == "/expire-sessions" and req.method == "POST":
            with self.lock:
                count = len(self.sessions)
                self.sessions.clear()
            return json_response(200, {"expired": count})
        return super().admin(req)

    @staticmethod
    def _order_view(c: _Cert) -> dict[str, Any]:
        return {"id": c.id, "client_reference": None, "status": "deleted" if c.deleted else c.status,
                "common_name": c.subject["CN"], "ca_id": c.ca_id, "sans": [v for _, v in c.sans],
                "reissued_from": c.reissued_from, "created_at": c.created_at, "ou": c.subject.get("OU"),
                "not_after": c.cert.not_valid_after_utc.isoformat()}

    def seed(self, count: int, status: str | None = None, days_valid: float | None = None,
             common_name_prefix: str | None = None, ca_id: int | None = None) -> list[int]:
        """Create `count` already-issued certificates (EC keys: fast) with spread-out expiries."""
        count = int(count)
        if not 1 <= count <= 5000:
            raise ValueError("count must be 1..5000")
        status = status or "good"
        if status not in ("good", "hold", "revoked", "expired"):
            raise ValueError("status must be good, hold, revoked or expired")
        days = float(days_valid) if days_valid is not None else float(self.cert_validity_days)
        if days <= 0:
            raise ValueError("days_valid must be positive")
        authority = self.authorities.get(int(ca_id) if ca_id is not None else self.default_ca_id)
        if authority is None or authority.deleted:
            raise ValueError("no such CA")
        prefix = common_name_prefix or "seed-"
        now = _utcnow()
        ids: list[int] = []
        for i in range(count):
            n = next(self._seed_serial)
            cn = f"{prefix}{n}.example.com"
            # Certificate i was issued i hours earlier (expired ones a whole validity earlier),
            # so expiry dates spread out and a renewal window catches only some of them.
            start = now - dt.timedelta(hours=i)
            if status == "expired":
                start -= dt.timedelta(days=days, hours=1)
            subject = {"C": "US", "CN": cn, "O": "Certgate Seed", "L": None, "ST": None, "OU": None}
            cert = self._create(authority, subject, [{"DNS": cn}], generate_key("ec"), not_before=start,
                                days=days, status=status)
            ids.append(cert.id)
        return ids


def _required(p: dict[str, str], name: str) -> str:
    value = p.get(name)
    if value is None or value == "":
        raise tc_error("MissingParameter", f"Missing parameter '{name}'")
    return value


def _int_param(p: dict[str, str], name: str) -> int:
    value = _required(p, name)
    if not value.isdigit():
        raise tc_error("InputFailure", f"Invalid value for parameter '{name}'")
    return int(value)


def _subject_value(p: dict[str, str], name: str, *, required: bool = False) -> str | None:
    value = _required(p, name) if required else (p.get(name) or None)
    if value is not None and len(value) > 64:  # X.509 upper bound of these attributes
        raise tc_error("InputFailure", f"Invalid value for parameter '{name}'")
    return value


def _country(p: dict[str, str]) -> str:
    value = _required(p, "C")
    if not COUNTRY.match(value):
        raise tc_error("InputFailure", "Invalid value for parameter 'C'")
    return value


def _parse_sans(p: dict[str, str]) -> list[dict[str, str]] | None:
    """SANs[index][type] = value: index numeric from 0, type DNS | IP | email | URI, one SAN
    per index (seeds/tinycert-cert-new.txt). Anything else named SANs... is an input failure."""
    found: dict[int, dict[str, str]] = {}
    for key, value in p.items():
        if not key.startswith("SANs"):
            continue
        m = SAN_KEY.match(key)
        if not m or m.group(2) not in SAN_TYPES:
            raise tc_error("InputFailure", f"Invalid value for parameter '{key}'")
        index, kind = int(m.group(1)), m.group(2)
        if index in found or not _san_value_ok(kind, value):
            raise tc_error("InputFailure", f"Invalid value for parameter '{key}'")
        found[index] = {kind: value}
    if not found:
        return None
    if sorted(found) != list(range(len(found))):
        raise tc_error("InputFailure", "Invalid value for parameter 'SANs': indexes must start at 0 and be "
                                       "consecutive")
    return [found[i] for i in range(len(found))]


def _san_value_ok(kind: str, value: str) -> bool:
    if kind == "DNS":
        return len(value) <= 253 and bool(DNS_NAME.match(value))
    if kind == "IP":
        try:
            ipaddress.ip_address(value)
        except ValueError:
            return False
        return True
    if kind == "email":
        return bool(EMAIL.match(value))
    return bool(URI.match(value))


def _from_env() -> TinyCertSim:
    ttl = os.environ.get("SIM_TOKEN_TTL_S", "3600")
    return TinyCertSim(issue_delay_s=optional_float(os.environ.get("SIM_ISSUE_DELAY_S", "20")),
                       token_ttl_s=float(ttl) if ttl.lower() not in ("", "none") else None,
                       cert_validity_days=int(os.environ.get("SIM_CERT_VALIDITY_DAYS", "365")))


# -- what the stack discovers (simulators/__init__.py) ------------------------------------------
SIMULATOR = TinyCertSim
DEFAULT_PORT = 8101


def secret_payload(url: str) -> dict[str, Any]:
    """certgate's secret for this simulator listening at `url` (design.md section 7)."""
    return {"base_url": f"{url}/api/v1", "email": defaults.TINYCERT_EMAIL, "passphrase": defaults.TINYCERT_PASSPHRASE,
            "api_key": defaults.TINYCERT_API_KEY, "default_ca_id": defaults.TINYCERT_DEFAULT_CA_ID}


if __name__ == "__main__":
    main(_from_env, DEFAULT_PORT)
