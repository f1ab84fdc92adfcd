"""DigiCert's alternative_order_id ("a custom alphanumeric ID", <= 64 characters) derived from our
reference: deterministic, alphanumeric, short enough, injective, and readable back."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from chalicelib.core.model import new_certificate_id
from chalicelib.providers.digicert import alternative_order_id, client_reference_of

ALNUM_64 = re.compile(r"^[a-z0-9]{1,64}$")  # lower case: injective even if DigiCert folded case


def test_our_ids_are_escaped_readably_and_read_back() -> None:
    cid = "crt_0123456789abcdef0123456789abcdef"
    assert alternative_order_id(cid) == "crtz5f0123456789abcdef0123456789abcdef"
    renewal = alternative_order_id(cid, "1234567890")
    assert renewal == "crtz5f0123456789abcdef0123456789abcdefz2erenewz2e1234567890" and len(renewal) == 59
    assert client_reference_of(renewal) == f"{cid}.renew.1234567890"
    assert client_reference_of(alternative_order_id(cid)) == cid


def test_it_is_deterministic_across_calls_and_processes() -> None:
    cid = new_certificate_id()
    # A pure function of the reference: no randomness, no clock (a retry after a crash sends the same).
    assert alternative_order_id(cid) == alternative_order_id(str(cid)) == alternative_order_id(cid, None)


@given(st.text(max_size=80))
def test_every_reference_gives_an_alphanumeric_id_of_at_most_64(reference: str) -> None:
    assert ALNUM_64.match(alternative_order_id(reference) or "x") or reference == ""


@given(st.text(max_size=40), st.text(max_size=40))
def test_distinct_references_give_distinct_ids(a: str, b: str) -> None:
    if a != b:
        assert alternative_order_id(a) != alternative_order_id(b)


@given(st.text(max_size=20))
def test_short_references_read_back(reference: str) -> None:
    # Escapes grow at most 12x (a 4-byte character); 20 characters of anything may exceed 64, then
    # the digest form stands and is not readable back -- but it is never mistaken for a reference.
    alt = alternative_order_id(reference)
    if alt.startswith("zz"):
        assert client_reference_of(alt) == alt
    else:
        assert client_reference_of(alt) == reference


def test_escapes_and_digests_cannot_meet() -> None:
    # Inputs engineered to look like escapes or digests still map apart.
    samples = ["z", "zz", "z7a", "Z", "crt_x", "crtz5fx", "a" * 64, "a" * 65, "a" * 66, "zz" + "0" * 62,
               "\u00e9", "z" * 30, "_" * 21, "_" * 22]
    ids = [alternative_order_id(s) for s in samples]
    assert len(set(ids)) == len(ids)
    assert all(ALNUM_64.match(i) for i in ids)
    assert alternative_order_id("z") == "z7a" and alternative_order_id("Z") == "z5a"


def test_ids_from_elsewhere_are_kept_as_they_are() -> None:
    assert client_reference_of("ABC123") == "ABC123"  # capitals: not an escape of ours
    assert client_reference_of("zq1") == "zq1" and client_reference_of(None) is None
