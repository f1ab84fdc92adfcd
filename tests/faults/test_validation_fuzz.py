"""Any JSON at all through the request validators: a result or a ValidationFailed naming fields,
never another exception (which the API would turn into a 500)."""

from __future__ import annotations

import datetime as dt
import functools

from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.core import shapes
from chalicelib.core.errors import ValidationFailed
from chalicelib.providers import registry
from chalicelib.service import requests as validation

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=20))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                      st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                      max_leaves=8)
meaningful = st.one_of(values, st.sampled_from(["tinycert", "resello", "digicert", "dv", "ov", "ev", "private",
                                                "rsa", "ec", "dns", "email", "file", "a.example.com", "US"]),
                       st.integers(min_value=1, max_value=5000))


def keyed(keys: set[str]) -> st.SearchStrategy[dict]:
    return st.dictionaries(st.sampled_from(sorted(keys | {"zz"})), meaningful, max_size=len(keys) + 1)


def nested_order() -> st.SearchStrategy[dict]:
    return st.fixed_dictionaries({}, optional={
        "provider": st.sampled_from(["tinycert", "resello", "digicert"]) | values,
        "common_name": st.sampled_from(["a.example.com", "*.example.com", "", "x"]) | values,
        "key": keyed({"type", "size"}) | values,
        "sans": st.lists(keyed({"type", "value"}) | values, max_size=3) | values,
        "organization": keyed(set(shapes.Organization.__struct_fields__)) | values,
        "approver": keyed(set(shapes.Approver.__struct_fields__)) | values,
        "provider_options": keyed(set(shapes.ProviderOptions.__struct_fields__)) | values,
        "product": meaningful, "validity_days": meaningful, "dcv_method": meaningful, "auto_renew": meaningful,
        "client_reference": meaningful, "csr": meaningful,
    })


def _only_validation_errors(fn, *args) -> None:
    try:
        fn(*args)
    except ValidationFailed as exc:
        assert exc.errors and all(e.field for e in exc.errors)


@settings(max_examples=600, deadline=None)
@given(body=st.one_of(nested_order(), values))
def test_validate_order_never_crashes(body):
    validate = functools.partial(validation.validate_order, providers=registry.names(), on=dt.date(2026, 12, 3))
    _only_validation_errors(validate, body, registry.capabilities, {})


@settings(max_examples=300, deadline=None)
@given(body=values, which=st.sampled_from(["revoke", "passphrase", "authority", "change", "import"]))
def test_other_validators_never_crash(body, which):
    fn = {"revoke": validation.validate_revoke, "passphrase": validation.validate_passphrase,
          "authority": validation.validate_authority,
          "change": validation.validate_change, "import": lambda b: validation.validate_import(b, registry.names())}[which]
    _only_validation_errors(fn, body)


@settings(max_examples=300, deadline=None)
@given(body=values, provider=st.sampled_from(["resello", "digicert"]))
def test_dcv_retry_never_crashes(body, provider):
    _only_validation_errors(validation.validate_dcv_retry, body, registry.capabilities(provider))
