"""TinyCert ownership (issue 18): TinyCert knows no client reference, so what certgate creates
carries an ownership mark in its OU (/cert/new takes OU, /cert/details returns it), and a lookup
after a lost answer adopts only the certificate carrying *this* certificate's mark. A certificate
with the same names but another mark, or none, is never adopted; several carrying it, or one
naming this certificate with a mark that fails its check, is OwnershipUnproven (outcome_unknown)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import requests

from chalicelib.core.errors import OwnershipUnproven, ProviderRejected
from chalicelib.core.model import Organization, San, Status
from chalicelib.providers.tinycert import MARK_PREFIX, TinyCertProvider, mark_in, ownership_mark
from tests.contract import test_tinycert_adapter as adapter_suite
from tests.contract.test_tinycert_adapter import ORG, faults, journal, offline_provider, order, sim_orders

# The adapter suite's simulator fixtures, shared (one TinyCert simulator per module).
server, sim, provider = adapter_suite.server, adapter_suite.sim, adapter_suite.provider

A = "crt_" + "a" * 32
B = "crt_" + "b" * 32


def console_cert(provider: TinyCertProvider, cn: str, unit: str | None = None) -> str:
    """A certificate made outside certgate (TinyCert's console, another client): no mark of ours."""
    params: dict[str, Any] = {"ca_id": "1", "CN": cn, "C": "US", "O": "Console", "SANs": [{"DNS": cn}]}
    if unit:
        params["OU"] = unit
    return str(provider._post("cert/new", params, safe=False)["cert_id"])


def test_the_mark_is_sent_in_the_ou_and_read_back(provider: TinyCertProvider, sim) -> None:
    req = order("mark.example.com", organization=ORG, ref=A)
    placed = provider.submit_order(req)
    mark = provider.mark_for(req)
    assert mark.startswith(MARK_PREFIX + "aaaaaaaa:") and len(mark) == 38
    sent = [e for e in journal(sim.url) if e["path"].endswith("/cert/new")][-1]["body"]
    assert "OU=" + mark.replace(":", "%3A") in sent
    assert placed.owner_mark == mark
    assert provider.get_order(placed.provider_order_id, with_material=False).owner_mark == mark


def test_marks_differ_per_certificate_and_per_account_key() -> None:
    assert ownership_mark(b"k1", A) != ownership_mark(b"k1", B)
    assert ownership_mark(b"k1", A) != ownership_mark(b"k2", A)
    assert mark_in("IT " + ownership_mark(b"k1", A)) == ownership_mark(b"k1", A)
    assert mark_in("IT") is None and mark_in(None) is None


def test_a_callers_unit_is_kept_before_the_mark_and_bounded() -> None:
    p = offline_provider()
    req = order(organization=Organization(name="ACME", country="US", unit="IT Department"), ref=A)
    assert p.new_cert_params(req, "7")["OU"] == "IT Department " + p.mark_for(req)
    for unit in ("x" * 26, "ops certgate:12345678:abcdefghijklmnopqrst"):
        with pytest.raises(ProviderRejected) as info:
            p.new_cert_params(order(organization=Organization(name="ACME", country="US", unit=unit), ref=A), "7")
        assert [e.field for e in info.value.field_errors] == ["organization.unit"]
    assert p.http.calls == 0


def test_lookup_finds_this_certificates_order_not_the_newest_with_its_names(provider: TinyCertProvider) -> None:
    before = dt.datetime.now(dt.UTC)
    mine = provider.submit_order(order("same.example.com", organization=ORG, ref=A))
    theirs = provider.submit_order(order("same.example.com", organization=ORG, ref=B))  # newer, same names
    found_a = provider.find_order(order("same.example.com", organization=ORG, ref=A), since=before)
    found_b = provider.find_order(order("same.example.com", organization=ORG, ref=B), since=before)
    assert found_a is not None and found_a.provider_order_id == mine.provider_order_id
    assert found_b is not None and found_b.provider_order_id == theirs.provider_order_id


def test_a_certificate_without_our_mark_is_never_adopted(provider: TinyCertProvider, sim) -> None:
    console_cert(provider, "console.example.com")
    console_cert(provider, "console.example.com", unit="certgate:" + "0" * 8 + ":" + "a" * 20)  # another record's
    assert provider.find_order(order("console.example.com", organization=ORG, ref=A)) is None
    # A lost create answer: the lookup sees only the console's certificates, proves nothing of
    # ours committed and (the answer being lost, not timed out) creates once more: its own.
    faults(sim.url, error_rate=1.0, error_status=502, max_faults=1, paths=["/api/v1/cert/new"])
    placed = provider.submit_order(order("console.example.com", organization=ORG, ref=A))
    assert placed.owner_mark == provider.mark_for(order(ref=A))


def test_lost_answer_adopts_its_own_certificate_when_another_was_placed_meanwhile(
        provider: TinyCertProvider, sim, monkeypatch: pytest.MonkeyPatch) -> None:
    """A's create is committed but its answer lost; B's create for the same names lands before A
    looks: A adopts its own certificate (and key), B's is left alone."""
    real = TinyCertProvider._lookup

    def b_lands_first(self: TinyCertProvider, req: Any, since: Any) -> Any:
        monkeypatch.setattr(TinyCertProvider, "_lookup", real)
        faults(sim.url)
        other = TinyCertProvider(self_secret(self), self.http.settings)
        b_placed.append(other.submit_order(order("race.example.com", organization=ORG, ref=B)))
        return real(self, req, since)

    b_placed: list[Any] = []
    monkeypatch.setattr(TinyCertProvider, "_lookup", b_lands_first)
    faults(sim.url, drop_after_commit_rate=1.0, max_faults=1, paths=["/api/v1/cert/new"])
    a_placed = provider.submit_order(order("race.example.com", organization=ORG, ref=A))
    rows = sorted(sim_orders(sim.url), key=lambda r: r["id"])
    assert len(rows) == 2 and a_placed.provider_order_id == str(rows[0]["id"])
    assert b_placed[0].provider_order_id == str(rows[1]["id"])
    assert a_placed.material.private_key_pem != b_placed[0].material.private_key_pem


def self_secret(p: TinyCertProvider) -> dict[str, Any]:
    from simulators import defaults

    return {**defaults.secret_payloads()["tinycert"], "base_url": p.http.base_url}


def test_two_certificates_carrying_our_mark_are_outcome_unknown(provider: TinyCertProvider, sim) -> None:
    """The create was committed twice (a middlebox replayed it) and the answer lost: which one is
    ours cannot be told — neither is adopted, the lookup names both."""
    req = order("twice.example.com", organization=ORG, ref=A)
    first = provider.submit_order(req)
    sent = [e for e in journal(sim.url) if e["path"].endswith("/cert/new")][-1]
    requests.post(sim.url + sent["path"], data=sent["body"].encode(),
                  headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=5).raise_for_status()
    with pytest.raises(OwnershipUnproven) as info:
        provider.find_order(req)
    assert info.value.code == "outcome_unknown" and info.value.outcome_unknown
    assert info.value.candidates == (first.provider_order_id, str(int(first.provider_order_id) + 1))
    faults(sim.url, drop_after_commit_rate=1.0, max_faults=1, paths=["/api/v1/cert/new"])
    with pytest.raises(OwnershipUnproven):
        provider.submit_order(req)  # a third one now, and still no adoption
    assert len(sim_orders(sim.url)) == 3


def test_a_mark_naming_this_certificate_that_fails_its_check_is_outcome_unknown(provider: TinyCertProvider) -> None:
    """E.g. made under a rotated API key: it may be ours, it cannot be proven."""
    req = order("rotated.example.com", organization=ORG, ref=A)
    forged = ownership_mark(b"another key", A)
    cid = console_cert(provider, "rotated.example.com", unit=forged)
    with pytest.raises(OwnershipUnproven) as info:
        provider.find_order(req)
    assert info.value.candidates == (cid,)


def test_a_renewal_lookup_never_takes_the_certificate_it_renews(provider: TinyCertProvider, sim) -> None:
    req = order("renewed.example.com", organization=ORG, ref=A)
    old = provider.submit_order(req)  # carries the same mark as its renewal will
    # The renewal's create fails before TinyCert commits it: the lookup must not mistake the
    # certificate being renewed (same names, same mark, seconds old) for the renewal.
    faults(sim.url, error_rate=1.0, error_status=502, max_faults=1, paths=["/api/v1/cert/new"])
    new = provider.renew(old.provider_order_id, req)
    assert int(new.provider_order_id) > int(old.provider_order_id) and new.status is Status.ISSUED
    assert len(sim_orders(sim.url)) == 2


def test_an_ambiguous_reissue_is_proven_by_its_key_not_its_names(provider: TinyCertProvider, sim,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    req = order("reissued.example.com", organization=ORG, ref=A)
    old = provider.submit_order(req)
    real_list = provider._list
    placed: list[str] = []

    def list_after_another_order(endpoint: str, params: Any) -> Any:
        if endpoint == "cert/list" and not placed:  # another order for these names lands first
            faults(sim.url)
            placed.append(provider.submit_order(order("reissued.example.com", organization=ORG,
                                                      ref=B)).provider_order_id)
        return real_list(endpoint, params)

    monkeypatch.setattr(provider, "_list", list_after_another_order)
    faults(sim.url, drop_after_commit_rate=1.0, max_faults=1, paths=["/api/v1/cert/reissue"])
    new = provider.reissue(old.provider_order_id, req)
    rows = {r["id"]: r for r in sim_orders(sim.url)}
    assert rows[int(new.provider_order_id)]["reissued_from"] == int(old.provider_order_id)
    assert new.provider_order_id != placed[0] and new.owner_mark == provider.mark_for(req)
    assert San("dns", "reissued.example.com")  # names unchanged by the reissue
