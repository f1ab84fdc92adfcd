"""What the DigiCert simulator sells and for how long: products, the SC-081 validity schedule,
coverage plans (order validity) and the parsing of validity parameters. Pure functions, no state;
every rule names its source in simulators/README_digicert.md."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

UTC = dt.UTC


@dataclass(frozen=True)
class Product:
    name_id: str
    name: str
    type: str
    kind: str  # dv | ov | ev | grid | private

    @property
    def public(self) -> bool:
        """Publicly trusted TLS: bound by the CA/B Forum maximum (SC-081) and 1-3 year plans."""
        return self.kind in ("dv", "ov", "ev")


_PRODUCTS = [
    # "Order DV SSL" (dv_ssl_certificate group) and "Order GeoTrust DV SSL" (flex).
    Product("ssl_dv_geotrust", "GeoTrust Standard DV", "dv_ssl_certificate", "dv"),
    Product("ssl_dv_rapidssl", "RapidSSL Standard DV", "dv_ssl_certificate", "dv"),
    Product("wildcard_dv_geotrust", "GeoTrust Wildcard DV", "dv_ssl_certificate", "dv"),
    Product("wildcard_dv_rapidssl", "RapidSSL Wildcard DV", "dv_ssl_certificate", "dv"),
    Product("cloud_dv_geotrust", "GeoTrust Cloud DV", "dv_ssl_certificate", "dv"),
    Product("ssl_dv_geotrust_flex", "GeoTrust DV SSL", "dv_ssl_certificate", "dv"),
    # "Order Basic OV" and its siblings (OV/EV product endpoints).
    Product("ssl_basic", "Basic OV", "ssl_certificate", "ov"),
    Product("ssl_plus", "Standard SSL", "ssl_certificate", "ov"),
    Product("ssl_securesite_flex", "Secure Site OV", "ssl_certificate", "ov"),
    Product("ssl_ev_basic", "Basic EV", "ssl_certificate", "ev"),
    Product("ssl_ev_plus", "EV SSL Plus", "ssl_certificate", "ev"),
    Product("ssl_ev_securesite_flex", "Secure Site EV", "ssl_certificate", "ev"),
    Product("grid_premium", "Grid Premium", "grid_host_ssl_certificate", "grid"),
    Product("private_ssl_plus", "Private SSL", "private_ssl_certificate", "private"),
]
PRODUCTS: dict[str, Product] = {p.name_id: p for p in _PRODUCTS}
# `POST /order/certificate/ssl` picks the product from product.type_hint (seed: ov, ev, grid, private).
TYPE_HINTS: dict[str, str] = {"ov": "ssl_basic", "ev": "ssl_ev_basic", "grid": "grid_premium",
                              "private": "private_ssl_plus"}

# SC-081 as DigiCert applies it, by ISSUANCE date: (from, maximum days), newest first. DigiCert
# stays a day under the CA/B Forum maximum (200 -> 199, 100 -> 99, 47 -> 46).
SC081_SCHEDULE: tuple[tuple[dt.datetime, int], ...] = (
    (dt.datetime(2029, 3, 15, tzinfo=UTC), 46),
    (dt.datetime(2027, 3, 15, tzinfo=UTC), 99),
    (dt.datetime(2026, 2, 24, tzinfo=UTC), 199),
)
LEGACY_MAX_PUBLIC_DAYS = 397  # before 24 Feb 2026 ("End of 2-year public SSL/TLS certificates")
MAX_PUBLIC_PLAN_YEARS = 3  # "End of 4- to 6-year Multi-year Plans" (since 31 Oct 2023)
MAX_PLAN_YEARS = 6  # what the order pages still allow for non-public products
DAYS_PER_YEAR = 365


def max_public_days(issued_at: dt.datetime) -> int:
    """The longest public TLS certificate DigiCert issues on `issued_at`."""
    for start, days in SC081_SCHEDULE:
        if issued_at >= start:
            return days
    return LEGACY_MAX_PUBLIC_DAYS


@dataclass(frozen=True)
class Validity:
    """A validity request as given (echoed back in order info) and its length in days."""

    spec: dict[str, Any]
    days: int


class ValidityError(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _parse_day(value: Any, fmt: str) -> dt.datetime | None:
    try:
        return dt.datetime.strptime(str(value), fmt).replace(tzinfo=UTC)
    except ValueError:
        return None


def plan_end(plan: Validity, start: dt.datetime) -> dt.datetime:
    """When a plan that starts at `start` ends: whole calendar years for a plan given in years."""
    years = plan.spec.get("years") if "days" not in plan.spec and "custom_expiration_date" not in plan.spec else None
    if isinstance(years, int) and not isinstance(years, bool):
        try:
            return start.replace(year=start.year + years)
        except ValueError:  # 29 February
            return start.replace(year=start.year + years, day=28)
    return start + dt.timedelta(days=plan.days)


def order_validity(body: dict[str, Any], product: Product, now: dt.datetime) -> Validity:
    """The coverage plan: order_validity {custom_expiration_date > days > years}, else the deprecated
    top-level custom_expiration_date > validity_days > validity_years. Public TLS plans are 1-3
    years; longer gives 400 invalid_value:<unit> (the unit named as the DigiCert notice names it)."""
    max_years = MAX_PUBLIC_PLAN_YEARS if product.public else MAX_PLAN_YEARS
    validity = body.get("order_validity")
    if isinstance(validity, dict):
        given, date_fmt = dict(validity), "%d %b %Y"
    else:
        given = {k: v for k, v in (("custom_expiration_date", body.get("custom_expiration_date")),
                                   ("days", body.get("validity_days")), ("years", body.get("validity_years")))
                 if v is not None}
        date_fmt = "%Y-%m-%d"
        if not given:
            raise ValidityError("required_param:order_validity", "order_validity is required.")
    return Validity(given, _days_of(given, date_fmt, max_years, now))


def _days_of(spec: dict[str, Any], date_fmt: str, max_years: int, now: dt.datetime) -> int:
    max_days = max_years * DAYS_PER_YEAR
    if spec.get("custom_expiration_date") is not None:
        when = _parse_day(spec["custom_expiration_date"], date_fmt)
        if when is None:
            raise ValidityError("invalid_param:custom_expiration_date",
                                f"custom_expiration_date must be a date of the form {date_fmt}.")
        days = (when - now).days
        if not 1 <= days <= max_days:
            raise ValidityError("invalid_value:custom_expiration_date",
                                "custom_expiration_date contains an invalid value.")
        return days
    for unit, code, factor, limit in (("days", "validity_days", 1, max_days),
                                      ("years", "validity_years", DAYS_PER_YEAR, max_years)):
        value = spec.get(unit)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValidityError(f"invalid_param:{code}", f"{unit} must be an integer.")
        if not 1 <= value <= limit:
            raise ValidityError(f"invalid_value:{code}", f"{code} contains an invalid value.")
        return value * factor
    raise ValidityError("required_param:order_validity.years", "order_validity needs years, days or "
                        "custom_expiration_date.")


def certificate_validity(spec: Any, plan_days: int, now: dt.datetime) -> Validity | None:
    """certificate.cert_validity: the first certificate's requested length. It cannot exceed the
    plan (seed); a public maximum is applied later, at issuance, by cutting (not refusing)."""
    if spec is None:
        return None
    if not isinstance(spec, dict):
        raise ValidityError("invalid_param:certificate.cert_validity", "cert_validity must be an object.")
    if spec.get("custom_expiration_date") is not None:
        when = _parse_day(spec["custom_expiration_date"], "%d %b %Y")
        days = (when - now).days if when else 0
        name = "certificate.cert_validity.custom_expiration_date"
    elif spec.get("days") is not None:
        days, name = spec["days"], "certificate.cert_validity.days"
    else:
        years = spec.get("years")
        days = years * DAYS_PER_YEAR if isinstance(years, int) and not isinstance(years, bool) else 0
        name = "certificate.cert_validity.years"
    if not isinstance(days, int) or isinstance(days, bool) or days < 1:
        raise ValidityError(f"invalid_param:{name}", f"{name} is not a valid validity.")
    if days > plan_days:
        raise ValidityError(f"invalid_param:{name}", "The certificate validity cannot exceed the order validity.")
    return Validity(dict(spec), days)
