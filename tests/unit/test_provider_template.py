"""The template of chalicelib/providers/base.py on its own: create-once and confirm decide from
what create and lookup do, whatever the provider (the adapters' own tests run them over HTTP)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from chalicelib.core.errors import (
    ProviderConflict,
    ProviderError,
    ProviderNotConfigured,
    ProviderRejected,
    ProviderTimeout,
    ProviderUnavailable,
)
from chalicelib.core.lifetimes import Lifetime, fixed
from chalicelib.core.model import Status
from chalicelib.core.provider import Capabilities, OrderRequest, ProviderOrder
from chalicelib.providers.base import Endpoint, Provider

PLACED = ProviderOrder(provider_order_id="42", status=Status.PENDING, raw_status="pending")


class Scripted(Provider):
    """A provider whose create and lookup answer from scripts (a result or an error, in turn)."""

    name = "scripted"
    capabilities = Capabilities(accepts_csr=True, generates_key=False, products=("dv",), default_product="dv",
                                dcv_methods=("dns",), default_dcv_method="dns", lifetime=Lifetime(fixed("scripted", 90)),
                                reissue=False, renew=False, revoke=False, cancel=False, download_formats=("pem",),
                                authorities=False, async_issuance=True)
    statuses = {"pending": Status.PENDING}
    dcv_names = {"dns": "DNS"}
    required_credentials = ("base_url", "key")

    def _configure(self, credentials: Any) -> Endpoint:
        self.creates: list[Any] = []
        self.lookups: list[Any] = []
        self.calls: list[tuple[str, Any]] = []
        return Endpoint(str(credentials["base_url"]), secrets=(str(credentials["key"]),))

    @staticmethod
    def _next(script: list[Any]) -> Any:
        step = script.pop(0)
        if isinstance(step, Exception):
            raise step
        return step

    def _create(self, req: OrderRequest) -> ProviderOrder:
        self.calls.append(("create", None))
        return self._next(self.creates)

    def _lookup(self, req: OrderRequest, since: dt.datetime | None) -> ProviderOrder | None:
        self.calls.append(("lookup", since))
        return self._next(self.lookups)

    def _already_placed(self, failure: ProviderError) -> bool:
        return failure.provider_code == "duplicate"

    def get_order(self, provider_order_id: str, *, with_material: bool = True) -> ProviderOrder:
        raise NotImplementedError

    def list_certificates(self, filters: Any = None, page_token: str | None = None) -> Any:
        raise NotImplementedError

    def _issued_material(self, provider_order_id: str) -> Any:
        raise NotImplementedError


def provider(creates: list[Any], lookups: list[Any] = (), **attrs: Any) -> Scripted:
    p = type("P", (Scripted,), attrs)({"base_url": "http://127.0.0.1:9", "key": "s3cr3t-key"})
    p.creates, p.lookups = list(creates), list(lookups)
    return p


REQ = OrderRequest(client_reference="crt_1", common_name="a.example.com")


def ambiguous() -> ProviderUnavailable:
    return ProviderUnavailable("scripted", "reset", outcome_unknown=True)


def test_a_clear_refusal_is_raised_without_a_lookup() -> None:
    p = provider([ProviderRejected("scripted", "no")])
    with pytest.raises(ProviderRejected):
        p.submit_order(REQ)
    assert [c for c, _ in p.calls] == ["create"]


def test_an_ambiguous_create_that_was_committed_is_adopted() -> None:
    p = provider([ambiguous()], [PLACED])
    assert p.submit_order(REQ) is PLACED
    assert [c for c, _ in p.calls] == ["create", "lookup"]
    assert isinstance(p.calls[1][1], dt.datetime)  # orders placed since the create


def test_a_create_proven_absent_is_repeated_once_then_the_failure_stands() -> None:
    p = provider([ambiguous(), PLACED], [None])
    assert p.submit_order(REQ) is PLACED
    p = provider([ambiguous(), ambiguous()], [None, None])
    with pytest.raises(ProviderUnavailable) as err:
        p.submit_order(REQ)
    assert err.value.outcome_unknown
    assert [c for c, _ in p.calls] == ["create", "lookup", "create", "lookup"]


def test_a_timed_out_create_is_not_repeated_unless_the_provider_refuses_duplicates() -> None:
    timeout = ProviderTimeout("scripted", "read timeout", outcome_unknown=True)
    p = provider([timeout], [None])
    with pytest.raises(ProviderTimeout):
        p.submit_order(REQ)
    assert [c for c, _ in p.calls] == ["create", "lookup"]
    p = provider([ProviderTimeout("scripted", "read timeout", outcome_unknown=True), PLACED], [None],
                 unique_client_reference=True)
    assert p.submit_order(REQ) is PLACED


def test_a_duplicate_reference_is_looked_up_at_any_time_and_never_repeated() -> None:
    p = provider([ProviderConflict("scripted", "taken", provider_code="duplicate")], [PLACED])
    assert p.submit_order(REQ) is PLACED and p.calls[1] == ("lookup", None)
    p = provider([ProviderConflict("scripted", "taken", provider_code="duplicate")], [None])
    with pytest.raises(ProviderConflict):
        p.submit_order(REQ)


def test_when_the_lookup_fails_too_the_create_error_stands_with_its_cause() -> None:
    lookup_failure = ProviderUnavailable("scripted", "lookup down")
    p = provider([ambiguous()], [lookup_failure])
    with pytest.raises(ProviderUnavailable) as err:
        p.submit_order(REQ)
    assert err.value.outcome_unknown and err.value.__cause__ is lookup_failure


def test_lookup_since_create_off_looks_at_any_time() -> None:
    p = provider([ambiguous()], [PLACED], lookup_since_create=False)
    p.submit_order(REQ)
    assert p.calls[1] == ("lookup", None)


def test_confirm_returns_what_was_applied_and_otherwise_keeps_the_failure() -> None:
    p = provider([])
    assert p.confirm(ambiguous(), lambda: "done") == "done"
    with pytest.raises(ProviderUnavailable):
        p.confirm(ambiguous(), lambda: None)
    with pytest.raises(ProviderRejected):  # a clear refusal: not even looked at
        p.confirm(ProviderRejected("scripted", "no"), lambda: pytest.fail("looked"))
    conflict = ProviderConflict("scripted", "already revoked")
    assert p.confirm(conflict, lambda: "revoked", also=(ProviderConflict,)) == "revoked"


def test_credentials_are_checked_by_name_and_scrubbed_from_errors() -> None:
    with pytest.raises(ProviderNotConfigured) as err:
        Scripted({"base_url": "http://x", "key": ""})
    assert "key" in str(err.value)
    p = provider([])
    assert p.http.scrub("the key s3cr3t-key leaked") == "the key *** leaked"


def test_dcv_words_and_statuses_come_from_the_declarations() -> None:
    p = provider([])
    assert p.dcv_word("DNS") == "DNS"
    with pytest.raises(ProviderRejected) as err:
        p.dcv_word("email")
    assert err.value.field_errors[0].field == "dcv_method"
    assert Scripted.status_of(" Pending ") is Status.PENDING and Scripted.status_of("odd") is Status.PENDING
