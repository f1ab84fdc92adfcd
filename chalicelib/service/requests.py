"""Request validation (design.md 2.1): every field checked before any provider call, every failure
collected and reported at once as a 422 naming each field. Pure: no I/O."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from chalicelib.core.errors import FieldError, ValidationFailed
from chalicelib.core.provider import Capabilities
from chalicelib.core.vocabulary import DCV_METHODS, PRODUCTS, REVOCATION_REASONS, SAN_TYPES

ORDER_FIELDS = {"provider", "product", "common_name", "sans", "csr", "key", "validity_days", "dcv_method",
                "organization", "approver", "auto_renew", "client_reference", "provider_options"}
ORG_FIELDS = {"name", "country", "state", "locality", "unit", "chamber_of_commerce", "digicert_org_id",
              "address", "zip_code"}
APPROVER_FIELDS = {"first_name", "last_name", "email", "phone"}
OPTION_FIELDS = {"plan", "ca_id", "organization_id", "signature_hash", "skip_approval"}
KEY_SIZES = {"rsa": (2048, 3072, 4096), "ec": (256, 384)}
MAX_SANS = 100
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_TEXT = re.compile(r"^[^\x00-\x1f\x7f]*$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,253}$")


@dataclass
class OrderSpec:
    provider: str
    product: str
    common_name: str
    sans: list[tuple[str, str]]
    csr_pem: str | None
    key_type: str | None
    key_size: int | None
    validity_days: int
    dcv_method: str | None
    organization: dict[str, Any] | None
    approver: dict[str, Any] | None
    auto_renew: bool
    client_reference: str | None
    provider_options: dict[str, Any] = field(default_factory=dict)


_PLAIN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")


def field_name(key: str, parent: str = "") -> str:
    """How an error names a field the caller sent: `parent.key`, or `parent["odd key"]` when the
    key is empty or not a plain name (so the name is never blank and never ambiguous)."""
    if _PLAIN_NAME.match(key):
        return f"{parent}.{key}" if parent else key
    quoted = json.dumps(key[:64])
    return f"{parent or 'body'}[{quoted}]"


class Collector:
    """Collects field errors; `check` runs a validator and keeps going on failure."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def add(self, field_name: str, message: str) -> None:
        self.errors.append(FieldError(field_name, message))

    def check(self, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        try:
            return fn(*args, **kw)
        except ValidationFailed as exc:
            self.errors.extend(exc.errors)
            return None

    def raise_if_any(self) -> None:
        if self.errors:
            raise ValidationFailed(self.errors)


def _text(c: Collector, value: Any, name: str, *, max_len: int = 256, required: bool = False) -> str | None:
    if value is None:
        if required:
            c.add(name, "is required")
        return None
    if not isinstance(value, str):
        c.add(name, "must be a string")
        return None
    if required and not value.strip():
        c.add(name, "must not be empty")
        return None
    if len(value) > max_len:
        c.add(name, f"must be at most {max_len} characters")
        return None
    if not _TEXT.match(value):
        c.add(name, "must not contain control characters")
        return None
    return value


def _obj(c: Collector, value: Any, name: str, allowed: set[str]) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        c.add(name, "must be an object")
        return None
    for k in sorted(set(value) - allowed):
        c.add(field_name(k, name), "is not a known field")
    return value


def email_ok(c: Collector, value: str | None, name: str) -> None:
    if value is not None and not _EMAIL.match(value):
        c.add(name, "must be an email address")


def validate_order(body: Any, caps_of: Callable[[str], Capabilities],
                   defaults: Mapping[str, Any] | None = None, *, providers: Sequence[str]) -> OrderSpec:
    """Parse and check a POST /certificates body. `providers` are the provider names there are,
    `caps_of(provider)` gives one's capabilities; `defaults` are the provider secret's defaults
    (organization, approver) where it holds any."""
    from chalicelib.x509 import csr as x509_csr
    from chalicelib.x509 import names as x509_names

    c = Collector()
    if not isinstance(body, dict):
        raise ValidationFailed([FieldError("body", "must be a JSON object")])
    for k in sorted(set(body) - ORDER_FIELDS):
        c.add(field_name(k), "is not a known field")
    provider = body.get("provider")
    if provider is None:
        c.add("provider", "is required")
    elif provider not in providers:
        c.add("provider", f"must be one of {', '.join(providers)}")
        provider = None
    caps = caps_of(provider) if provider else None

    cn_raw = _text(c, body.get("common_name"), "common_name", max_len=253, required=True)
    cn = c.check(x509_names.validate_dns_name, cn_raw, "common_name") if cn_raw else None

    product = body.get("product", caps.default_product if caps else None)
    if product is not None and product not in PRODUCTS:
        c.add("product", f"must be one of {', '.join(PRODUCTS)}")
    elif caps and product not in caps.products:
        c.add("product", f"{provider} offers {', '.join(caps.products)}")

    sans = _sans(c, body.get("sans"), cn)

    csr_pem = body.get("csr")
    key = body.get("key")
    key_type = key_size = None
    parsed = None
    if csr_pem is not None:
        if not isinstance(csr_pem, str):
            c.add("csr", "must be a PEM string")
        elif caps and not caps.accepts_csr:
            c.add("csr", f"{provider} generates the key itself and takes no CSR")
        else:
            parsed = c.check(x509_csr.parse_csr, csr_pem, "csr")
        if key is not None:
            c.add("key", "give either csr or key, not both")
    elif key is not None:
        key_obj = _obj(c, key, "key", {"type", "size"})
        if caps and caps.generates_key:
            c.add("key", f"{provider} generates the key itself")
        elif key_obj is not None:
            key_type = key_obj.get("type", "rsa")
            if not isinstance(key_type, str) or key_type not in KEY_SIZES:
                c.add("key.type", "must be rsa or ec")
            else:
                key_size = key_obj.get("size", KEY_SIZES[key_type][0])
                if key_size not in KEY_SIZES[key_type] or isinstance(key_size, bool):
                    c.add("key.size", f"{key_type} keys: {', '.join(map(str, KEY_SIZES[key_type]))}")
    elif caps and not caps.generates_key:
        key_type, key_size = "rsa", 2048  # the gateway generates key + CSR and keeps the key sealed
    if parsed is not None and cn:
        # Named after the request's own fields (common_name, sans[i].value), indexes as sent.
        raw_sans = body.get("sans") if isinstance(body.get("sans"), list) else []
        own = [(s.get("type", "dns"), s.get("value")) for s in raw_sans if isinstance(s, dict)]
        c.errors.extend(x509_csr.check_csr_consistency(parsed, cn, [p for p in own if p[1]], ""))

    validity = body.get("validity_days", caps.max_validity_days if caps else 397)
    if not isinstance(validity, int) or isinstance(validity, bool):
        c.add("validity_days", "must be an integer")
    elif caps and not 1 <= validity <= caps.max_validity_days:
        c.add("validity_days", f"must be between 1 and {caps.max_validity_days} for {provider}")

    dcv = body.get("dcv_method")
    if dcv is not None:
        if dcv not in DCV_METHODS:
            c.add("dcv_method", f"must be one of {', '.join(DCV_METHODS)}")
        elif caps and dcv not in caps.dcv_methods:
            c.add("dcv_method", f"{provider} supports {', '.join(caps.dcv_methods) or 'no domain validation'}")
    elif caps:
        dcv = caps.default_dcv_method

    org = _organization(c, body.get("organization"), (defaults or {}).get("organization"))
    approver = _approver(c, body.get("approver"), (defaults or {}).get("approver"))

    auto_renew = body.get("auto_renew", False)
    if not isinstance(auto_renew, bool):
        c.add("auto_renew", "must be true or false")
    client_ref = _text(c, body.get("client_reference"), "client_reference", max_len=128)
    options = _options(c, body.get("provider_options"), provider)

    if provider == "resello" and product in ("ov", "ev"):
        for name, val in (("organization.chamber_of_commerce", (org or {}).get("chamber_of_commerce")),
                          ("organization.unit", (org or {}).get("unit")),
                          ("approver.first_name", (approver or {}).get("first_name")),
                          ("approver.last_name", (approver or {}).get("last_name"))):
            if not val:
                c.add(name, f"is required for {product.upper()} certificates at resello")
    if provider == "resello" and dcv == "email" and not (approver or {}).get("email"):
        c.add("approver.email", "is required for email validation at resello")
    c.raise_if_any()
    if not (provider and cn and product):  # unreachable: each missing one was reported above
        raise ValidationFailed([FieldError("body", "provider, common_name and product are required")])
    return OrderSpec(provider=provider, product=product, common_name=cn, sans=sans, csr_pem=csr_pem,
                     key_type=key_type, key_size=key_size, validity_days=validity, dcv_method=dcv,
                     organization=org, approver=approver, auto_renew=auto_renew, client_reference=client_ref,
                     provider_options=options)


def _sans(c: Collector, raw: Any, cn: str | None) -> list[tuple[str, str]]:
    from chalicelib.x509 import names as x509_names

    out: list[tuple[str, str]] = []
    if raw is None:
        return [("dns", cn)] if cn else []
    if not isinstance(raw, list):
        c.add("sans", "must be a list of {type, value}")
        return []
    if len(raw) > MAX_SANS:
        c.add("sans", f"at most {MAX_SANS} names")
        return []
    for i, san in enumerate(raw):
        name = f"sans[{i}]"
        if not isinstance(san, dict) or set(san) - {"type", "value"}:
            c.add(name, "must be an object {type, value}")
            continue
        kind = san.get("type", "dns")
        value = san.get("value")
        if kind not in SAN_TYPES:
            c.add(f"{name}.type", f"must be one of {', '.join(SAN_TYPES)}")
            continue
        if not isinstance(value, str) or not value or len(value) > 1024:
            c.add(f"{name}.value", "must be a non-empty string")
            continue
        norm = c.check(x509_names.validate_san, kind, value, name)
        if norm is not None:
            pair = tuple(norm) if isinstance(norm, tuple) else (kind, norm if isinstance(norm, str) else value)
            if pair in out:
                c.add(f"{name}.value", "is listed twice")
            else:
                out.append(pair)
    if cn and ("dns", cn) not in out:
        out.insert(0, ("dns", cn))
    return out


def _organization(c: Collector, raw: Any, default: Any) -> dict[str, Any] | None:
    from chalicelib.x509 import names as x509_names

    org = _obj(c, raw, "organization", ORG_FIELDS)
    if org is None and isinstance(default, dict):
        org = dict(default)
    if org is None:
        return None
    out: dict[str, Any] = {}
    for k in ORG_FIELDS - {"digicert_org_id"}:
        v = _text(c, org.get(k), f"organization.{k}", max_len=128)
        if v is not None:
            out[k] = v
    if "country" in out:
        out["country"] = c.check(x509_names.validate_country, out["country"], "organization.country") or out["country"]
    dig = org.get("digicert_org_id")
    if dig is not None:
        if not isinstance(dig, int) or isinstance(dig, bool) or dig <= 0:
            c.add("organization.digicert_org_id", "must be a positive integer")
        else:
            out["digicert_org_id"] = dig
    return out


def _approver(c: Collector, raw: Any, default: Any) -> dict[str, Any] | None:
    app = _obj(c, raw, "approver", APPROVER_FIELDS)
    if app is None and isinstance(default, dict):
        app = dict(default)
    if app is None:
        return None
    out = {k: _text(c, app.get(k), f"approver.{k}", max_len=128) for k in APPROVER_FIELDS}
    email_ok(c, out.get("email"), "approver.email")
    return {k: v for k, v in out.items() if v is not None}


def _options(c: Collector, raw: Any, provider: str | None) -> dict[str, Any]:
    opts = _obj(c, raw, "provider_options", OPTION_FIELDS)
    if not opts:
        return {}
    out: dict[str, Any] = {}
    if "plan" in opts:
        if provider != "resello":
            c.add("provider_options.plan", "applies to resello only")
        elif not isinstance(opts["plan"], str) or not _UUID.match(opts["plan"]):
            c.add("provider_options.plan", "must be a plan UUID")
        else:
            out["plan"] = opts["plan"].lower()
    for name, only in (("ca_id", "tinycert"), ("organization_id", "digicert")):
        if name in opts:
            v = opts[name]
            if provider != only:
                c.add(f"provider_options.{name}", f"applies to {only} only")
            elif not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                c.add(f"provider_options.{name}", "must be a positive integer")
            else:
                out[name] = v
    if "signature_hash" in opts:
        if opts["signature_hash"] not in ("sha256", "sha384", "sha512"):
            c.add("provider_options.signature_hash", "must be sha256, sha384 or sha512")
        else:
            out["signature_hash"] = opts["signature_hash"]
    if "skip_approval" in opts:
        if not isinstance(opts["skip_approval"], bool):
            c.add("provider_options.skip_approval", "must be true or false")
        else:
            out["skip_approval"] = opts["skip_approval"]
    return out


def validate_revoke(body: Any) -> tuple[str, str | None]:
    c = Collector()
    body = body or {}
    if not isinstance(body, dict):
        raise ValidationFailed([FieldError("body", "must be a JSON object")])
    for k in sorted(set(body) - {"reason", "comments"}):
        c.add(field_name(k), "is not a known field")
    reason = body.get("reason", "unspecified")
    if reason not in REVOCATION_REASONS:
        c.add("reason", f"must be one of {', '.join(REVOCATION_REASONS)}")
    comments = _text(c, body.get("comments"), "comments", max_len=1024)
    c.raise_if_any()
    return reason, comments


def validate_dcv_retry(body: Any, caps: Capabilities) -> dict[str, Any]:
    from chalicelib.x509 import names as x509_names

    c = Collector()
    body = body or {}
    if not isinstance(body, dict):
        raise ValidationFailed([FieldError("body", "must be a JSON object")])
    for k in sorted(set(body) - {"dcv_method", "email", "domain"}):
        c.add(field_name(k), "is not a known field")
    method = body.get("dcv_method")
    if method is not None and method not in caps.dcv_methods:
        c.add("dcv_method", f"must be one of {', '.join(caps.dcv_methods) or '(none supported)'}")
    email = _text(c, body.get("email"), "email", max_len=254)
    email_ok(c, email, "email")
    domain = body.get("domain")
    if domain is not None:
        domain = c.check(x509_names.validate_dns_name, domain, "domain") if isinstance(domain, str) else None
        if domain is None and not any(e.field == "domain" for e in c.errors):
            c.add("domain", "must be a domain name")
    if method == "email" and not email:
        c.add("email", "is required with dcv_method email")
    c.raise_if_any()
    return {"method": method, "email": email, "domain": domain}


def validate_change(body: Any, allowed: set[str]) -> dict[str, Any]:
    """Reissue/renew bodies: a subset of the order fields, all optional."""
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise ValidationFailed([FieldError("body", "must be a JSON object")])
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ValidationFailed([FieldError(field_name(k), "is not a known field") for k in unknown])
    return body


def validate_passphrase(body: Any) -> str:
    if not isinstance(body, dict):
        raise ValidationFailed([FieldError("body", "must be a JSON object with a passphrase")])
    unknown = sorted(set(body) - {"passphrase", "format"})
    if unknown:
        raise ValidationFailed([FieldError(field_name(k), "is not a known field") for k in unknown])
    p = body.get("passphrase")
    if not isinstance(p, str) or len(p) < 8 or len(p) > 1024:
        raise ValidationFailed([FieldError("passphrase", "must be a string of 8 to 1024 characters")])
    return p


def validate_limit(raw: str | None, default: int = 50, maximum: int = 200) -> int:
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise ValidationFailed([FieldError("limit", f"must be an integer from 1 to {maximum}")])
    return int(raw)


def validate_authority(body: Any) -> dict[str, str]:
    """POST /providers/tinycert/authorities: the /ca/new fields, by their TinyCert names."""
    from chalicelib.x509 import names as x509_names

    c = Collector()
    if not isinstance(body, dict):
        raise ValidationFailed([FieldError("body", "must be a JSON object")])
    names = {"country": "C", "organization": "O", "locality": "L", "state": "ST", "unit": "OU",
             "hash_method": "hash_method"}
    for k in sorted(set(body) - set(names)):
        c.add(field_name(k), "is not a known field")
    out: dict[str, str] = {}
    for k, wire in names.items():
        v = _text(c, body.get(k), k, max_len=64, required=k in ("country", "organization"))
        if v is not None:
            out[wire] = v
    if "C" in out:
        out["C"] = c.check(x509_names.validate_country, out["C"], "country") or out["C"]
    if out.get("hash_method", "sha256") != "sha256":
        # TinyCert documents sha1 and sha256; a new CA signing with SHA-1 would be refused by every client.
        c.add("hash_method", "must be sha256")
    c.raise_if_any()
    return out
