"""The POST /certificates body written once per candidate schema library (issue 15), for
bench/shape_libraries.py. Each `validate_<name>(body)` imports its library, declares the order
shape (nested sans, key, organization, approver, provider options; enums, lengths, patterns,
unknown fields refused) and returns the errors it reports as "field: message" strings (empty: valid).

Nothing here is imported by the product; it is only what each library would cost."""

# No `from __future__ import annotations`: msgspec and pydantic read the local classes' annotations as objects.

import functools
from typing import Any

PROVIDERS = ("tinycert", "resello", "digicert")
PRODUCTS = ("dv", "ov", "ev", "private")
DCV_METHODS = ("dns", "file", "email")
SAN_TYPES = ("dns", "ip", "email", "uri")
HASHES = ("sha256", "sha384", "sha512")
NO_CONTROL = "^[^\\x00-\\x1f\\x7f]*$"
UUID = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
EMAIL = "^[^@\\s]{1,64}@[^@\\s]{1,253}$"

VALID_ORDER: dict[str, Any] = {
    "provider": "digicert", "product": "ov", "common_name": "www.example.com",
    "sans": [{"type": "dns", "value": "example.com"}, {"type": "dns", "value": "api.example.com"},
             {"value": "shop.example.com"}],
    "key": {"type": "rsa", "size": 2048}, "validity_days": 199, "dcv_method": "dns",
    "organization": {"name": "Example Inc", "country": "US", "state": "CA", "locality": "San Jose",
                     "digicert_org_id": 112233},
    "approver": {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"},
    "auto_renew": True, "client_reference": "order-42",
    "provider_options": {"signature_hash": "sha256", "skip_approval": True},
}
# Five independent faults: a good validator names all five at once.
FIVE_FAULTS: dict[str, Any] = {
    **VALID_ORDER, "provider": "letsencrypt", "common_name": "a" * 300,
    "sans": [{"value": "example.com"}, {"type": "dns", "value": 7}],
    "key": {"type": "rsa", "size": "big"}, "colour": "red",
}


# -- pydantic v2 (also what Powertools' parser runs) -----------------------------------------------
@functools.cache
def _pydantic_model(base: Any = None) -> Any:
    from typing import Annotated, Literal

    from pydantic import BaseModel, ConfigDict, Field

    base = base or BaseModel

    class Shape(base):  # type: ignore[misc, valid-type]
        model_config = ConfigDict(extra="forbid", strict=True)

    def text(n: int, low: int = 0) -> Any:
        return Annotated[str, Field(min_length=low, max_length=n, pattern=NO_CONTROL)]

    class San(Shape):
        type: Literal["dns", "ip", "email", "uri"] = "dns"
        value: Annotated[str, Field(min_length=1, max_length=1024)]

    class Key(Shape):
        type: Literal["rsa", "ec"] = "rsa"
        size: Literal[2048, 3072, 4096, 256, 384] | None = None

    class Organization(Shape):
        name: text(128) | None = None
        country: Annotated[str, Field(pattern="^[A-Za-z]{2}$")] | None = None
        state: text(128) | None = None
        locality: text(128) | None = None
        unit: text(128) | None = None
        chamber_of_commerce: text(128) | None = None
        address: text(128) | None = None
        zip_code: text(128) | None = None
        digicert_org_id: Annotated[int, Field(ge=1)] | None = None

    class Approver(Shape):
        first_name: text(128) | None = None
        last_name: text(128) | None = None
        email: Annotated[str, Field(max_length=128, pattern=EMAIL)] | None = None
        phone: text(128) | None = None

    class Options(Shape):
        plan: Annotated[str, Field(pattern=UUID)] | None = None
        ca_id: Annotated[int, Field(ge=1)] | None = None
        organization_id: Annotated[int, Field(ge=1)] | None = None
        signature_hash: Literal["sha256", "sha384", "sha512"] | None = None
        skip_approval: bool | None = None

    class Order(Shape):
        provider: Literal["tinycert", "resello", "digicert"]
        product: Literal["dv", "ov", "ev", "private"] | None = None
        common_name: text(253, 1)
        sans: Annotated[list[San], Field(max_length=100)] | None = None
        csr: str | None = None
        key: Key | None = None
        validity_days: Annotated[int, Field(ge=1, le=397)] | None = None
        dcv_method: Literal["dns", "file", "email"] | None = None
        organization: Organization | None = None
        approver: Approver | None = None
        auto_renew: bool = False
        client_reference: text(128) | None = None
        provider_options: Options | None = None

    return Order


def _pydantic_errors(exc: Any) -> list[str]:
    return [".".join(map(str, e["loc"])) + ": " + e["msg"] for e in exc.errors()]


def validate_pydantic(body: Any) -> list[str]:
    from pydantic import ValidationError

    try:
        _pydantic_model().model_validate(body)
    except ValidationError as exc:
        return _pydantic_errors(exc)
    return []


def validate_powertools_parser(body: Any) -> list[str]:
    from aws_lambda_powertools.utilities.parser import BaseModel, ValidationError, parse

    try:
        parse(event=body, model=_pydantic_model(BaseModel))
    except ValidationError as exc:
        return _pydantic_errors(exc)
    return []


# -- msgspec -----------------------------------------------------------------------------------------
@functools.cache
def _msgspec_type() -> Any:
    from typing import Annotated, Literal

    import msgspec
    from msgspec import Meta

    def text(n: int, low: int = 0) -> Any:
        return Annotated[str, Meta(min_length=low, max_length=n, pattern=NO_CONTROL)]

    class Shape(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
        pass

    class San(Shape):
        value: Annotated[str, Meta(min_length=1, max_length=1024)]
        type: Literal["dns", "ip", "email", "uri"] = "dns"

    class Key(Shape):
        type: Literal["rsa", "ec"] = "rsa"
        size: Literal[2048, 3072, 4096, 256, 384] | None = None

    class Organization(Shape):
        name: text(128) | None = None
        country: Annotated[str, Meta(pattern="^[A-Za-z]{2}$")] | None = None
        state: text(128) | None = None
        locality: text(128) | None = None
        unit: text(128) | None = None
        chamber_of_commerce: text(128) | None = None
        address: text(128) | None = None
        zip_code: text(128) | None = None
        digicert_org_id: Annotated[int, Meta(ge=1)] | None = None

    class Approver(Shape):
        first_name: text(128) | None = None
        last_name: text(128) | None = None
        email: Annotated[str, Meta(max_length=128, pattern=EMAIL)] | None = None
        phone: text(128) | None = None

    class Options(Shape):
        plan: Annotated[str, Meta(pattern=UUID)] | None = None
        ca_id: Annotated[int, Meta(ge=1)] | None = None
        organization_id: Annotated[int, Meta(ge=1)] | None = None
        signature_hash: Literal["sha256", "sha384", "sha512"] | None = None
        skip_approval: bool | None = None

    class Order(Shape):
        provider: Literal["tinycert", "resello", "digicert"]
        common_name: text(253, 1)
        product: Literal["dv", "ov", "ev", "private"] | None = None
        sans: Annotated[list[San], Meta(max_length=100)] | None = None
        csr: str | None = None
        key: Key | None = None
        validity_days: Annotated[int, Meta(ge=1, le=397)] | None = None
        dcv_method: Literal["dns", "file", "email"] | None = None
        organization: Organization | None = None
        approver: Approver | None = None
        auto_renew: bool = False
        client_reference: text(128) | None = None
        provider_options: Options | None = None

    return Order


def validate_msgspec(body: Any) -> list[str]:
    import msgspec

    try:
        msgspec.convert(body, _msgspec_type(), strict=True)
    except msgspec.ValidationError as exc:
        return [str(exc)]  # msgspec stops at the first error
    return []


# -- JSON Schema (Powertools' validation utility = fastjsonschema; jsonschema-rs) -----------------------------
def _json_schema() -> dict[str, Any]:
    def text(n: int, low: int = 0) -> dict[str, Any]:
        return {"type": ["string", "null"], "minLength": low, "maxLength": n, "pattern": NO_CONTROL}

    def closed(props: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
        return {"type": "object", "properties": props, "required": list(required), "additionalProperties": False}

    positive = {"type": ["integer", "null"], "minimum": 1}
    san = closed({"type": {"enum": list(SAN_TYPES)}, "value": {"type": "string", "minLength": 1, "maxLength": 1024}},
                 ("value",))
    key = closed({"type": {"enum": ["rsa", "ec"]}, "size": {"enum": [2048, 3072, 4096, 256, 384]}})
    org = closed({**{k: text(128) for k in ("name", "state", "locality", "unit", "chamber_of_commerce", "address",
                                            "zip_code")},
                  "country": {"type": ["string", "null"], "pattern": "^[A-Za-z]{2}$"}, "digicert_org_id": positive})
    approver = closed({"first_name": text(128), "last_name": text(128), "phone": text(128),
                       "email": {"type": ["string", "null"], "maxLength": 128, "pattern": EMAIL}})
    options = closed({"plan": {"type": "string", "pattern": UUID}, "ca_id": positive, "organization_id": positive,
                      "signature_hash": {"enum": list(HASHES)}, "skip_approval": {"type": "boolean"}})
    return closed({
        "provider": {"enum": list(PROVIDERS)}, "product": {"enum": list(PRODUCTS)},
        "common_name": {**text(253, 1), "type": "string"},
        "sans": {"type": ["array", "null"], "maxItems": 100, "items": san},
        "csr": {"type": ["string", "null"]}, "key": {"anyOf": [key, {"type": "null"}]},
        "validity_days": {"type": "integer", "minimum": 1, "maximum": 397},
        "dcv_method": {"enum": [*DCV_METHODS, None]},
        "organization": {"anyOf": [org, {"type": "null"}]}, "approver": {"anyOf": [approver, {"type": "null"}]},
        "auto_renew": {"type": "boolean"}, "client_reference": text(128),
        "provider_options": {"anyOf": [options, {"type": "null"}]},
    }, ("provider", "common_name"))


def validate_powertools_validation(body: Any) -> list[str]:
    from aws_lambda_powertools.utilities.validation import SchemaValidationError, validate

    try:
        validate(event=body, schema=_json_schema())  # compiles the schema with fastjsonschema on every call
    except SchemaValidationError as exc:
        return [f"{exc.name}: {exc.validation_message}"]  # fastjsonschema stops at the first error
    return []


@functools.cache
def _jsonschema_rs_validator() -> Any:
    import jsonschema_rs

    return jsonschema_rs.Draft202012Validator(_json_schema())


def validate_jsonschema_rs(body: Any) -> list[str]:
    return [f"{'.'.join(map(str, e.instance_path))}: {e.message}" for e in _jsonschema_rs_validator().iter_errors(body)]


VALIDATORS = {
    "pydantic": validate_pydantic,
    "powertools-parser": validate_powertools_parser,
    "msgspec": validate_msgspec,
    "powertools-validation": validate_powertools_validation,
    "jsonschema-rs": validate_jsonschema_rs,
}


def check(name: str) -> tuple[int, int]:
    """(errors for the valid body, errors for the five-fault body): (0, 5) is what 422 needs."""
    fn = VALIDATORS[name]
    return len(fn(VALID_ORDER)), len(fn(FIVE_FAULTS))

