"""Request validation (design.md 2.1): every field checked before any provider call, every failure
collected and reported at once as a 422 naming each field. Pure: no I/O.

The structure of each body (types, required fields, enums, lengths, unknown fields) is checked
against its shape in chalicelib.core.shapes, the same declarations the OpenAPI document is built
from. What needs code is checked here, on the typed value: IDNA names, the CSR and its consistency
with the requested names, the provider's capabilities, which provider an option belongs to, the
provider secret's defaults, and Resello's OV/EV rules."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from msgspec import UNSET, UnsetType
from msgspec.structs import asdict

from chalicelib.core import shapes
from chalicelib.core.errors import FieldError, ValidationFailed
from chalicelib.core.lifetimes import LifetimeDecision
from chalicelib.core.provider import Capabilities
from chalicelib.core.structure import Checked, S, check, field_extras, field_name
from chalicelib.core.vocabulary import AWS_REGION

__all__ = ["FILTERS", "Collector", "ImportSpec", "OrderSpec", "field_name", "validate_authority", "validate_change",
           "validate_dcv_retry", "validate_import", "validate_limit", "validate_order", "validate_passphrase",
           "validate_revoke"]

# Which import filters each provider's listing takes (the shape holds all of them).
FILTERS: Mapping[str, frozenset[str]] = {
    "tinycert": frozenset({"ca_id", "state"}),
    "resello": frozenset({"plan"}),
    "digicert": frozenset({"status", "common_name"}),
}


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
    validity_requested: int | None = None  # what the caller asked for (None: the default)
    validity_clamped: bool = False  # ... which was more than the provider may issue on the day
    acm_region: str | None = None  # ACM import there (service/delivery.py); None: none
    # Route 53 validation (service/dns_validation.py): core/dns.py MODES, and a pinned zone.
    dns_mode: str = "auto"
    dns_zone_id: str | None = None


@dataclass(frozen=True)
class ImportSpec:
    provider: str
    filters: dict[str, Any]
    page_size: int | None


class Collector:
    """Collects field errors; `check` runs a validator and keeps going on failure."""

    def __init__(self, errors: tuple[FieldError, ...] = ()) -> None:
        self.errors: list[FieldError] = list(errors)

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


def _names() -> Any:
    from chalicelib.x509 import names

    return names




def _structure(body: Any, shape: type[S]) -> tuple[Checked[S], Collector, S]:
    """The structural check of `body`, a collector holding its errors, and the typed value; a 422 at
    once when a required field is bad (nothing to check the rest against)."""
    checked = check(body, shape)
    c = Collector(checked.errors)
    if checked.value is None:
        c.raise_if_any()
        raise ValidationFailed([FieldError("body", "is not valid")])  # unreachable: check() named it
    return checked, c, checked.value


def _known_provider(c: Collector, name: str, providers: Sequence[str]) -> None:
    """A provider that exists, or a 422 naming the ones that do (nothing else is checked without it)."""
    if name not in providers:
        c.add("provider", f"must be one of {', '.join(providers)}")
        c.raise_if_any()


# -- POST /certificates -------------------------------------------------------------------------------------
def validate_order(body: Any, caps_of: Callable[[str], Capabilities],
                   defaults: Mapping[str, Any] | None = None, *, providers: Sequence[str],
                   on: dt.date, acm_default_region: str | None = None) -> OrderSpec:
    """Parse and check a POST /certificates body. `providers` are the provider names there are,
    `caps_of(provider)` gives one's capabilities; `defaults` are the provider secret's defaults
    (organization, approver) where it holds any; `on` is the issuance date the lifetime rules
    are read for (core/lifetimes.py)."""
    checked, c, order = _structure(body, shapes.OrderRequest)
    _known_provider(c, order.provider, providers)
    caps = caps_of(order.provider)
    cn = c.check(_names().validate_dns_name, order.common_name, "common_name")
    product = caps.default_product if order.product is UNSET else order.product
    if product not in caps.products:
        c.add("product", f"{order.provider} offers {', '.join(caps.products)}")
    sans = [] if "sans" in checked.bad else _sans(c, order.sans, cn)
    key_type, key_size, parsed_csr = _key_material(c, order, caps, cn, checked.bad)
    lifetime = _lifetime(c, caps, product, on, order.validity_days, order.validity_strict)
    dcv = _dcv_method(c, order, caps)
    given = defaults or {}
    org = _party(c, order.organization, given.get("organization"), shapes.Organization, "organization",
                 checked.bad)
    approver = _party(c, order.approver, given.get("approver"), shapes.Approver, "approver", checked.bad)
    options = _options(c, order.provider_options, order.provider)
    _provider_rules(c, order.provider, product, dcv, org or {}, approver or {}, checked.bad)
    _name_rules(c, order.provider, caps, product, cn, sans if order.sans is not None or parsed_csr is None
                else [*([("dns", cn)] if cn else []), *parsed_csr.sans])
    _organization_rule(c, order.provider, product, org or {}, options, given, checked.bad)
    _private_issuer(c, order.provider, product, options, given, checked.bad)
    acm_region = _acm_region(c, order, acm_default_region)
    dns_mode, dns_zone_id = _dns_automation(c, order, caps, dcv)
    c.raise_if_any()
    return OrderSpec(provider=order.provider, product=product, common_name=cn, sans=sans, csr_pem=order.csr,
                     key_type=key_type, key_size=key_size, validity_days=lifetime.days, dcv_method=dcv,
                     organization=org, approver=approver, auto_renew=order.auto_renew,
                     client_reference=order.client_reference, provider_options=options,
                     validity_requested=lifetime.requested, validity_clamped=lifetime.clamped,
                     acm_region=acm_region, dns_mode=dns_mode, dns_zone_id=dns_zone_id)


def _dns_automation(c: Collector, order: shapes.OrderRequest, caps: Capabilities,
                    dcv: str | None) -> tuple[str, str | None]:
    """The Route 53 automation asked for (whether the domains lie in allowed zones is checked by
    service/dns_validation.py, which knows the zones)."""
    asked = order.dns_automation
    if asked is None:
        return ("auto" if dcv == "dns" else "off"), None
    if not asked.enabled:
        if asked.zone_id is not None:
            c.add("dns_automation.zone_id", "applies only with enabled true")
        return "off", None
    if not caps.dcv_methods:
        c.add("dns_automation", f"{order.provider} has no domain control validation to automate")
    elif dcv != "dns":
        c.add("dcv_method", "must be dns with dns_automation (Route 53 validates by DNS record)")
    zone_id = asked.zone_id.rsplit("/", 1)[-1] if asked.zone_id else None
    return "on", zone_id



def _acm_region(c: Collector, order: shapes.OrderRequest, stage_default: str | None) -> str | None:
    """ACM delivery needs the key: refused for a CSR order (the caller keeps the key). Without
    `deliver_to` the stage's default applies to an order whose key certgate holds; an explicit
    `deliver_to: {}` opts out of it."""
    if order.deliver_to is None:
        return stage_default if stage_default and order.csr is None else None
    acm = order.deliver_to.acm
    if acm is None:
        return None
    if not AWS_REGION.match(acm.region):
        c.add("deliver_to.acm.region", "must be an AWS region name such as us-east-1")
    if order.csr is not None:
        c.add("deliver_to.acm", "ACM import needs the private key: certgate does not hold it for a CSR order "
                                "(leave out csr to let certgate or the provider make the key)")
    return acm.region


def _lifetime(c: Collector, caps: Capabilities, product: str, on: dt.date, requested: int | UnsetType | None,
              strict: bool) -> LifetimeDecision:
    """The validity to order (core/lifetimes.py): the maximum on `on` by default, clamped above it
    (or refused when strict), refused where the provider takes none."""
    asked = None if requested is UNSET or requested is None else int(requested)
    try:
        return caps.lifetime.decide(product, on, asked, strict=strict)
    except ValueError as exc:
        c.add("validity_days", f"{exc} ({product} at this provider)")
        return LifetimeDecision(caps.lifetime.max_days(product, on), False, asked)


def _sans(c: Collector, sans: list[shapes.San] | None, cn: str | None) -> list[tuple[str, str]]:
    if sans is None:
        return [("dns", cn)] if cn else []
    out: list[tuple[str, str]] = []
    for i, san in enumerate(sans):
        pair = c.check(_names().validate_san, san.type, san.value, f"sans[{i}]")
        if pair is None:
            continue
        if tuple(pair) in out:
            c.add(f"sans[{i}].value", "is listed twice")
        else:
            out.append(tuple(pair))
    if cn and ("dns", cn) not in out:
        out.insert(0, ("dns", cn))
    return out


def _key_material(c: Collector, order: shapes.OrderRequest, caps: Capabilities, cn: str | None,
                  bad: frozenset[str]) -> tuple[str | None, int | None, Any]:
    """The key the gateway generates (type, size), if it does, and the parsed CSR, if one was given
    (and parses); checks a given CSR against the names."""
    from chalicelib.x509 import csr as x509_csr

    provider = order.provider
    if order.csr is not None:
        if order.key is not None:
            c.add("key", "give either csr or key, not both")
        if not caps.accepts_csr:
            c.add("csr", f"{provider} generates the key itself and takes no CSR")
            return None, None, None
        parsed = c.check(x509_csr.parse_csr, order.csr, "csr")
        if parsed is not None and cn:
            # Named after the request's own fields (common_name, sans[i].value), indexes as sent.
            requested = [(s.type, s.value) for s in order.sans or []]
            c.errors.extend(x509_csr.check_csr_consistency(parsed, cn, requested, ""))
        return None, None, parsed
    if order.key is not None:
        if caps.generates_key:
            c.add("key", f"{provider} generates the key itself")
            return None, None, None
        sizes = shapes.KEY_SIZES[order.key.type]
        size = sizes[0] if order.key.size is UNSET else order.key.size
        if size not in sizes:
            c.add("key.size", f"{order.key.type} keys: {', '.join(map(str, sizes))}")
            return None, None, None
        return order.key.type, size, None
    if caps.generates_key or bad & {"csr", "key"}:
        return None, None, None
    return "rsa", 2048, None  # the gateway generates key + CSR and keeps the key sealed


def _dcv_method(c: Collector, order: shapes.OrderRequest, caps: Capabilities) -> str | None:
    if order.dcv_method is None:
        return caps.default_dcv_method
    if order.dcv_method not in caps.dcv_methods:
        c.add("dcv_method", f"{order.provider} supports {', '.join(caps.dcv_methods) or 'no domain validation'}")
    return order.dcv_method


def _party(c: Collector, given: shapes.Organization | shapes.Approver | None, default: Any,
           shape: type[shapes.Organization] | type[shapes.Approver], name: str,
           bad: frozenset[str]) -> dict[str, Any] | None:
    """The organization or approver as sent, else the provider secret's default (checked the same way)."""
    if given is None and name not in bad and isinstance(default, Mapping):
        known = {k: v for k, v in default.items() if k in shape.__struct_fields__}
        from_secret = check(known, shape, at=name)
        c.errors.extend(from_secret.errors)
        given = from_secret.value
    if given is None:
        return None
    out = {k: v for k, v in asdict(given).items() if v is not None}
    if "country" in out:
        out["country"] = c.check(_names().validate_country, out["country"], f"{name}.country") or out["country"]
    return out


def _options(c: Collector, options: shapes.ProviderOptions | None, provider: str) -> dict[str, Any]:
    """The provider options, each only for the provider the shape says it belongs to."""
    if options is None:
        return {}
    out: dict[str, Any] = {}
    for name, extra in field_extras(shapes.ProviderOptions).items():
        value = getattr(options, name)
        if value is UNSET:
            continue
        if extra["provider"] != provider:
            c.add(f"provider_options.{name}", f"applies to {extra['provider']} only")
        elif name == "ca_id":
            out[name] = _ca_id(c, value, "provider_options.ca_id", extra["message"])
        else:
            out[name] = value.lower() if name == "plan" else value
    return out


def _ca_id(c: Collector, value: int | str, field_name: str, problem: str) -> int | None:
    """A TinyCert CA id as the integer GET /providers/tinycert/authorities lists; the string of
    digits earlier listings gave out is accepted too (one type out, both in)."""
    ca = _number(value)
    if 1 <= ca <= 10**12:
        return ca
    c.add(field_name, problem)
    return None


def _provider_rules(c: Collector, provider: str, product: str, dcv: str | None, org: Mapping[str, Any],
                    approver: Mapping[str, Any], bad: frozenset[str]) -> None:
    """Resello's own requirements (seeds/resello-ssl-certificate.txt) beyond the shape."""
    if provider != "resello":
        return
    if product in ("ov", "ev"):
        for name, value in (("organization.chamber_of_commerce", org.get("chamber_of_commerce")),
                            ("organization.unit", org.get("unit")),
                            ("approver.first_name", approver.get("first_name")),
                            ("approver.last_name", approver.get("last_name"))):
            if not value and name not in bad:
                c.add(name, f"is required for {product.upper()} certificates at resello")
    if dcv == "email" and not approver.get("email") and "approver.email" not in bad:
        c.add("approver.email", "is required for email validation at resello")


def _name_rules(c: Collector, provider: str, caps: Capabilities, product: str, cn: str | None,
                names: Sequence[tuple[str, str]]) -> None:
    """What the names may be at this provider and for this product, refused before anything is
    written or sent (a provider's own refusal would come after the intent, as a failed record):
    the SAN types the provider issues for (`Capabilities.san_types`; Resello: DNS names only), and
    no wildcard and no IP address in an EV certificate (EV Guidelines 9.2.1, 9.8.1)."""
    refused = sorted({f"{kind} {value}" for kind, value in names if kind not in caps.san_types})
    if refused:
        c.add("sans", f"{provider} issues certificates for {', '.join(caps.san_types)} names only, not "
                      f"{', '.join(refused)}")
    if product != "ev":
        return
    if cn and cn.startswith("*."):
        c.add("common_name", "an EV certificate cannot be a wildcard (EV Guidelines)")
    wild = sorted({value for kind, value in names if kind == "dns" and value.startswith("*.") and value != cn})
    ips = sorted({value for kind, value in names if kind == "ip"})
    if (wild or ips) and not refused:
        c.add("sans", f"an EV certificate names neither wildcards nor IP addresses (EV Guidelines): "
                      f"{', '.join(wild + ips)}")


def _organization_rule(c: Collector, provider: str, product: str, org: Mapping[str, Any],
                       options: Mapping[str, Any], given: Mapping[str, Any], bad: frozenset[str]) -> None:
    """OV and EV certificates name the organization: `organization.name` (given or from the provider
    secret's defaults) goes into the subject as O= of the CSR certgate makes and to the provider.
    At DigiCert a CertCentral organization id (provider_options.organization_id,
    organization.digicert_org_id or the secret's default_organization_id) is that organization: the
    CA writes its validated name into the subject."""
    if product not in ("ov", "ev") or org.get("name") or bad & {"organization", "organization.name"}:
        return
    if provider == "digicert" and (options.get("organization_id") or org.get("digicert_org_id")
                                   or given.get("default_organization_id")):
        return
    c.add("organization.name", f"is required for {product.upper()} certificates (the certificate's subject "
                               "names the organization: O=)")


def _private_issuer(c: Collector, provider: str, product: str, options: Mapping[str, Any],
                    given: Mapping[str, Any], bad: frozenset[str]) -> None:
    """DigiCert private SSL needs certificate.ca_cert_id ("Order SSL (type_hint)": required if
    type_hint is private): from provider_options, else the secret's default_ca_cert_id."""
    if provider == "digicert" and product == "private" and not options.get("ca_cert_id") \
            and not given.get("default_ca_cert_id") and not bad & {"provider_options", "provider_options.ca_cert_id"}:
        c.add("provider_options.ca_cert_id", "is required for private certificates at digicert "
                                             "(or a default_ca_cert_id in its secret)")


# -- the other bodies ------------------------------------------------------------------------------------------
def validate_revoke(body: Any) -> tuple[str, str | None]:
    revoke = check({} if body is None else body, shapes.RevokeRequest).valid()
    return revoke.reason, revoke.comments


def validate_dcv_retry(body: Any, caps: Capabilities) -> dict[str, Any]:
    checked = check({} if body is None else body, shapes.DcvRetryRequest)
    c = Collector(checked.errors)
    retry = checked.value or shapes.DcvRetryRequest()
    method = retry.dcv_method
    if method is not None and method not in caps.dcv_methods:
        c.add("dcv_method", f"must be one of {', '.join(caps.dcv_methods) or '(none supported)'}")
    domain = None if retry.domain is None else c.check(_names().validate_dns_name, retry.domain, "domain")
    if method == "email" and not retry.email and "email" not in checked.bad:
        c.add("email", "is required with dcv_method email")
    c.raise_if_any()
    return {"method": method, "email": retry.email, "domain": domain}


def validate_change(body: Any) -> dict[str, Any]:
    """Reissue/renew bodies: a subset of the order fields, all optional. The fields given come back
    as sent: the service folds them into the certificate's and validates the result as an order."""
    if body is None:
        return {}
    check(body, shapes.ChangeRequest).valid()
    return dict(body)


def validate_passphrase(body: Any) -> str:
    return check(body, shapes.DownloadRequest).valid().passphrase


def validate_limit(raw: str | None, default: int = 50, maximum: int = 200) -> int:
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise ValidationFailed([FieldError("limit", f"must be an integer from 1 to {maximum}")])
    return int(raw)


def validate_authority(body: Any) -> dict[str, str]:
    """POST /providers/tinycert/authorities: the /ca/new fields, by their TinyCert names."""
    checked, c, authority = _structure(body, shapes.AuthorityRequest)
    if not authority.organization.strip():
        c.add("organization", "must not be empty")
    country = c.check(_names().validate_country, authority.country, "country")
    c.raise_if_any()
    wire = {"C": country, "O": authority.organization, "L": authority.locality, "ST": authority.state,
            "OU": authority.unit, "hash_method": authority.hash_method}
    return {k: v for k, v in wire.items() if v is not None}


def validate_import(body: Any, providers: Sequence[str]) -> ImportSpec:
    """POST /imports: {provider, filters?, page_size?}; every problem reported at once (422)."""
    checked, c, request = _structure(body, shapes.ImportRequest)
    _known_provider(c, request.provider, providers)
    filters = _import_filters(c, request.filters, request.provider)
    page_size = None
    if request.page_size is not None:
        page_size = _number(request.page_size)
        if request.provider == "resello":
            c.add("page_size", "Resello pages are fixed by Resello (100)")
        elif not 1 <= page_size <= shapes.MAX_IMPORT_PAGE_SIZE:
            c.add("page_size", f"must be an integer from 1 to {shapes.MAX_IMPORT_PAGE_SIZE}")
    c.raise_if_any()
    return ImportSpec(request.provider, filters, page_size)


def validate_sync(body: Any, providers: Sequence[str]) -> str:
    """POST /imports/sync: {provider}."""
    _, c, request = _structure(body, shapes.SyncRequest)
    _known_provider(c, request.provider, providers)
    c.raise_if_any()
    return request.provider


def _number(value: int | str) -> int:
    return value if isinstance(value, int) else int(value)


def _import_filters(c: Collector, filters: shapes.ImportFilters | None, provider: str) -> dict[str, Any]:
    if filters is None:
        return {}
    allowed = FILTERS[provider]
    out: dict[str, Any] = {}
    for name, extra in field_extras(shapes.ImportFilters).items():
        value = getattr(filters, name)
        if value is None:
            continue
        if name not in allowed:
            c.add(f"filters.{name}", f"is not a {provider} filter (allowed: {', '.join(sorted(allowed))})")
        elif name == "ca_id":
            out[name] = _ca_id(c, value, "filters.ca_id", extra["message"])
        elif name == "state":
            if 1 <= _number(value) <= 15:
                out[name] = _number(value)
            else:
                c.add("filters.state", extra["message"])
        else:
            out[name] = value.strip().lower() if name == "common_name" else value
    return out
