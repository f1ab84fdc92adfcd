"""What every provider adapter promises, checked the same way for all of them."""

from __future__ import annotations

import datetime as dt
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from cryptography import x509

from chalicelib.core.errors import (
    AuthenticationFailed,
    ProviderNotFound,
    ProviderProtocolError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    UnsupportedOperation,
)
from chalicelib.core.model import Status
from chalicelib.core.provider import Capabilities, CertificateMaterial, ProviderOrder
from chalicelib.core.vocabulary import DCV_METHODS, DOWNLOAD_FORMATS, PRODUCTS
from chalicelib.providers import registry
from chalicelib.providers.http import HttpSettings
from simulators import simulator_classes
from simulators.defaults import secret_payloads
from tests.contract.conftest import Harness, harness_names

FAST = HttpSettings(connect_timeout=1.0, read_timeout=1.0, max_attempts=3, backoff_base=0.01, backoff_cap=0.05)


def _ref() -> str:
    return "crt_" + uuid.uuid4().hex


def _cn() -> str:
    return f"c{uuid.uuid4().hex[:10]}.example.com"


def _issued(h: Harness, cn: str | None = None) -> tuple[ProviderOrder, str]:
    ref = _ref()
    po = h.provider.submit_order(h.order(ref, cn or _cn()))
    if po.status is not Status.ISSUED:
        h.complete()
        po = h.provider.get_order(po.provider_order_id)
    assert po.status is Status.ISSUED, po
    return po, ref


def _openssl_verify(h: Harness, material: CertificateMaterial) -> None:
    root = requests.get(h.url + "/_sim/ca.pem", timeout=5).text
    with tempfile.TemporaryDirectory() as d:
        p = Path(d)
        (p / "root.pem").write_text(root)
        (p / "chain.pem").write_text(material.chain_pem)
        (p / "leaf.pem").write_text(material.certificate_pem)
        out = subprocess.run(["openssl", "verify", "-CAfile", str(p / "root.pem"), "-untrusted",
                              str(p / "chain.pem"), str(p / "leaf.pem")], capture_output=True, text=True)
        assert out.returncode == 0, out.stdout + out.stderr


def _bad_credentials(h: Harness) -> dict:
    payload = dict(secret_payloads()[h.name])
    payload["base_url"] = h.url + urlsplit(payload["base_url"]).path
    payload["api_key"] = "certainly-wrong"
    return payload


def test_every_adapter_has_a_simulator_and_a_harness() -> None:
    # A provider is its adapter module, its simulator and its harness: all three, found by name.
    assert set(registry.names()) <= set(harness_names())
    assert set(registry.names()) <= set(simulator_classes())


def test_capabilities_are_declared(h: Harness) -> None:
    caps = h.provider.capabilities
    assert isinstance(caps, Capabilities)
    assert caps.default_product in caps.products
    assert caps.accepts_csr or caps.generates_key
    assert caps.max_validity_days(caps.default_product, dt.date.today()) > 0
    assert h.name == h.provider.name and type(h.provider) is registry.adapter_class(h.name)


def test_vocabulary_is_declared_on_the_adapter(h: Harness) -> None:
    adapter, caps = type(h.provider), h.provider.capabilities
    # Its words are a subset of the API's vocabulary, so requests validated by the API fit it.
    assert set(caps.products) <= set(PRODUCTS) and set(caps.dcv_methods) <= set(DCV_METHODS)
    assert set(caps.download_formats) <= set(DOWNLOAD_FORMATS)
    assert caps.default_dcv_method in (*caps.dcv_methods, None)
    assert set(adapter.dcv_names) == set(caps.dcv_methods), "a provider word for every DCV method"
    # The status table: lower-case raw statuses, at least one of them issued.
    assert adapter.statuses and Status.ISSUED in adapter.statuses.values()
    assert all(raw == raw.strip().lower() and isinstance(st, Status) for raw, st in adapter.statuses.items())
    assert adapter.status_of("no-such-status-anywhere") is Status.PENDING


def test_order_reaches_issued_with_verifiable_material(h: Harness) -> None:
    cn = _cn()
    po, ref = _issued(h, cn)
    assert po.material is not None
    _openssl_verify(h, po.material)
    leaf = x509.load_pem_x509_certificate(po.material.certificate_pem.encode())
    assert leaf.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == cn
    assert po.not_after is not None and po.serial
    assert cn in po.sans
    if h.provider.capabilities.generates_key:
        assert po.material.private_key_pem and "PRIVATE KEY" in po.material.private_key_pem


def test_pending_until_the_provider_completes(h: Harness) -> None:
    if not h.provider.capabilities.async_issuance:
        pytest.skip(f"{h.name} issues synchronously")
    po = h.provider.submit_order(h.order(_ref(), _cn()))
    assert po.status is Status.PENDING
    assert h.provider.get_order(po.provider_order_id).status is Status.PENDING
    h.complete()
    assert h.provider.get_order(po.provider_order_id).status is Status.ISSUED


def test_find_order_by_client_reference(h: Harness) -> None:
    ref, cn = _ref(), _cn()
    req = h.order(ref, cn)
    placed = h.provider.submit_order(req)
    found = h.provider.find_order(req)
    assert found is not None and found.provider_order_id == placed.provider_order_id
    assert h.provider.find_order(h.order(_ref(), _cn())) is None


def test_download_formats(h: Harness) -> None:
    po, _ = _issued(h)
    for fmt in h.provider.capabilities.download_formats:
        data = h.provider.download(po.provider_order_id, fmt)
        assert isinstance(data, bytes) and len(data) > 100, fmt
    pem = h.provider.download(po.provider_order_id, "pem")
    x509.load_pem_x509_certificate(pem)


def test_unknown_order_is_not_found(h: Harness) -> None:
    with pytest.raises(ProviderNotFound):
        h.provider.get_order("987654321")


def test_bad_credentials_are_authentication_failed(h: Harness) -> None:
    bad = type(h.provider)(_bad_credentials(h), FAST)
    with pytest.raises(AuthenticationFailed) as err:
        bad.get_order("1")
    assert "certainly-wrong" not in str(err.value)


def test_5xx_is_unavailable_after_bounded_retries(h: Harness) -> None:
    po, _ = _issued(h)
    h.faults(error_rate=1.0, error_status=503)
    with pytest.raises(ProviderUnavailable):
        h.provider.get_order(po.provider_order_id)
    stats = requests.get(h.url + "/_sim/stats", timeout=5).json()
    # One retry loop (providers/http.py): exactly max_attempts sends of the read, none nested.
    assert stats["injected"] == FAST.max_attempts, stats


def test_5xx_burst_is_retried_for_reads(h: Harness) -> None:
    po, _ = _issued(h)
    h.faults(error_rate=1.0, error_status=502, max_faults=1)
    assert h.provider.get_order(po.provider_order_id).status is Status.ISSUED


def test_429_is_rate_limited_with_retry_after(h: Harness) -> None:
    po, _ = _issued(h)
    h.faults(rate_limit_per_s=0.001, retry_after_s=30)
    with pytest.raises(RateLimited) as err:
        h.provider.get_order(po.provider_order_id)
    if getattr(h.module, "SENDS_RETRY_AFTER", True):
        assert err.value.retry_after == pytest.approx(30, abs=1)
    else:  # the provider sends none (DigiCert "Rate limits"): nothing is invented
        assert err.value.retry_after is None


def test_hang_is_a_timeout(h: Harness) -> None:
    po, _ = _issued(h)
    fast = h.fresh_provider()
    h.faults(hang_s=2.5)
    started = time.monotonic()
    with pytest.raises(ProviderTimeout):
        fast.get_order(po.provider_order_id)
    assert time.monotonic() - started < 15


def test_malformed_answer_is_protocol_error(h: Harness) -> None:
    po, _ = _issued(h)
    h.faults(malformed_rate=1.0)
    with pytest.raises(ProviderProtocolError):
        h.provider.get_order(po.provider_order_id)


def test_dropped_create_is_found_not_duplicated(h: Harness) -> None:
    ref, cn = _ref(), _cn()
    before = len(h.orders())
    h.faults(drop_after_commit_rate=1.0, max_faults=1)
    po = h.provider.submit_order(h.order(ref, cn))
    assert po.provider_order_id
    after = h.orders()
    assert len(after) == before + 1, "the create must not be repeated once it was committed"


def test_failed_create_is_looked_up_before_one_retry(h: Harness) -> None:
    ref, cn = _ref(), _cn()
    before = len(h.orders())
    h.faults(error_rate=1.0, error_status=500, max_faults=1)
    try:
        po = h.provider.submit_order(h.order(ref, cn))
    except ProviderUnavailable as exc:
        # An adapter that cannot look orders up must say it does not know, not guess.
        assert exc.outcome_unknown
        assert len(h.orders()) == before
        return
    assert po.provider_order_id
    assert len(h.orders()) == before + 1


def test_reissue_gives_a_new_certificate(h: Harness) -> None:
    if not h.provider.capabilities.reissue:
        pytest.skip("no reissue")
    po, ref = _issued(h)
    new = h.provider.reissue(po.provider_order_id, h.order(ref, po.common_name or _cn()))
    if new.status is not Status.ISSUED:
        h.complete()
        new = h.provider.get_order(new.provider_order_id)
    assert new.status is Status.ISSUED
    assert new.serial != po.serial


def test_renew(h: Harness) -> None:
    if not h.provider.capabilities.renew:
        pytest.skip("no renew")
    po, ref = _issued(h)
    new = h.provider.renew(po.provider_order_id, h.order(ref, po.common_name or _cn()))
    if new.status is not Status.ISSUED:
        h.complete()
        new = h.provider.get_order(new.provider_order_id)
    assert new.status is Status.ISSUED and new.serial != po.serial


def test_revoke_or_unsupported(h: Harness) -> None:
    po, _ = _issued(h)
    if not h.provider.capabilities.revoke:
        with pytest.raises(UnsupportedOperation):
            h.provider.revoke(po.provider_order_id)
        return
    assert h.provider.revoke(po.provider_order_id, "superseded").status is Status.REVOKED
    if not getattr(h.module, "ORDER_OUTLIVES_REVOKED_CERTIFICATE", False):
        assert h.provider.get_order(po.provider_order_id).status is Status.REVOKED


def test_cancel_pending_or_unsupported(h: Harness) -> None:
    if not h.provider.capabilities.cancel:
        with pytest.raises(UnsupportedOperation):
            h.provider.cancel("1")
        return
    po = h.provider.submit_order(h.order(_ref(), _cn()))
    assert po.status is Status.PENDING
    h.provider.cancel(po.provider_order_id)
    assert h.provider.get_order(po.provider_order_id).status is Status.CANCELLED


def test_list_pages_to_the_end(h: Harness) -> None:
    requests.post(h.url + "/_sim/seed", json={"count": 120}, timeout=60).raise_for_status()
    seen: set[str] = set()
    token = None
    pages = 0
    while True:
        page = h.provider.list_certificates({}, token)
        pages += 1
        seen.update(o.provider_order_id for o in page.items)
        token = page.next_token
        if not token or pages > 50:
            break
    assert len(seen) >= 120
