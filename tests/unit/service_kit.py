"""What the unit tests of the service build on: the service wired to the in-memory fakes of
tests/fakes.py (Cosmic-Python style: the real use cases, fake ports), real CSRs, order bodies."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.core.model import Certificate, Status, parse_iso
from chalicelib.service.certificates import CertificateService, OrderResult
from chalicelib.service.policy import Policy
from tests.fakes import (
    FakeArtifacts,
    FakeClock,
    FakeKeyVault,
    FakeOrder,
    FakeProvider,
    FakeProviders,
    FakePublisher,
    FakeStore,
)

ALICE, BOB = "arn:aws:iam::123456789012:user/alice", "arn:aws:iam::123456789012:user/bob"
LONG = 600_000  # ms: a time budget no unit test reaches
POLICY = Policy(poll_min_interval_s=60, poll_max_interval_s=3600, reconcile_after_s=300,
                provider_read_timeout_s=20, poll_safety_margin_ms=1000, import_inline_s=5, import_concurrency=2)
# TinyCert issues at once; Resello and DigiCert validate first (pending until issued).
ISSUANCE = {"tinycert": "sync", "resello": "async", "digicert": "async"}


def remaining() -> int:
    return LONG


@dataclass
class Fakes:
    svc: CertificateService
    store: FakeStore
    artifacts: FakeArtifacts
    publisher: FakePublisher
    vault: FakeKeyVault
    providers: FakeProviders
    clock: FakeClock
    principal: str = ALICE

    def provider(self, name: str) -> FakeProvider:
        return self.providers.providers[name]

    def order(self, provider: str = "resello", cn: str = "www.example.com", *, principal: str | None = None,
              **fields: Any) -> Certificate:
        """Order through the use case; the certificate as it stands afterwards."""
        return self.order_result(provider, cn, principal=principal, **fields).certificate

    def order_result(self, provider: str = "resello", cn: str = "www.example.com", *,
                     principal: str | None = None, idempotency_key: str | None = None,
                     **fields: Any) -> OrderResult:
        body = order_body(provider, cn, **fields)
        return self.svc.order(principal or self.principal, body, idempotency_key)

    def issued(self, provider: str = "resello", cn: str = "www.example.com", **fields: Any) -> Certificate:
        """A certificate ordered and issued (the provider completes it, the service refreshes)."""
        cert = self.order(provider, cn, **fields)
        if cert.status.value != "issued":
            self.provider(provider).issue(cert.provider_order_id or "")
            cert = self.svc.refresh(cert, actor="test")
        assert cert.status.value == "issued", cert
        return cert

    def current(self, cert: Certificate) -> Certificate:
        fresh = self.store.get(cert.id)
        assert fresh is not None
        return fresh


def outcomes(stats: Mapping[str, Any]) -> dict[str, Any]:
    """A job's stats without its sweeps' own bookkeeping (service/sweeps.py: cycles, backlog, ...)."""
    from chalicelib.service.sweeps import RUN_STATS

    return {k: v for k, v in stats.items() if k not in RUN_STATS and k.removeprefix("interrupted_") not in RUN_STATS}


def build(policy: Policy = POLICY, *, issuance: Mapping[str, str] = ISSUANCE, unconfigured: tuple[str, ...] = (),
          defaults: Mapping[str, Mapping[str, Any]] | None = None) -> Fakes:
    clock = FakeClock()
    store, artifacts, publisher, vault = FakeStore(clock=clock), FakeArtifacts(), FakePublisher(), FakeKeyVault()
    # As the local stack's DigiCert secret: OV/EV orders name its CertCentral organization.
    defaults = {"digicert": {"default_organization_id": 123}, **(defaults or {})}
    providers = FakeProviders(*(FakeProvider(name, issuance=mode) for name, mode in issuance.items()),
                              unconfigured=unconfigured, defaults=defaults)
    svc = CertificateService(cfg=policy, store=store, artifacts=artifacts, publisher=publisher, vault=vault,
                             directory=providers, clock=clock)
    return Fakes(svc, store, artifacts, publisher, vault, providers, clock)


@functools.lru_cache(maxsize=64)
def csr(common_name: str, *sans: str) -> str:
    """A real CSR (EC P-256: fast to make) for `common_name` and DNS `sans`."""
    from cryptography.hazmat.primitives import serialization

    from simulators.ca import build_csr, generate_key

    names = [("dns", common_name)] + [("dns", s) for s in sans if s != common_name]
    request = build_csr(generate_key("ec"), common_name, names)
    return request.public_bytes(serialization.Encoding.PEM).decode()


def order_body(provider: str, cn: str, **fields: Any) -> dict[str, Any]:
    """A valid POST /certificates body. Providers that take a CSR get one (the gateway would
    otherwise make an RSA key, slow for a unit test); TinyCert makes its own key."""
    body: dict[str, Any] = {"provider": provider, "common_name": cn, **fields}
    if provider != "tinycert" and "csr" not in body and "key" not in body:
        body["csr"] = csr(cn, *[s["value"] for s in body.get("sans", ()) if s.get("type", "dns") == "dns"])
    return body


def as_stored(cert: Certificate) -> Certificate:
    """`cert` as the store keeps it: only a watched certificate keeps a next check time."""
    from dataclasses import replace

    return cert if cert.due_kind else replace(cert, next_poll_at=None)


def reach(fx: Fakes, status: Status, provider: str = "digicert", cn: str = "state.example.com") -> Certificate:
    """A certificate brought to `status` through the use cases themselves (DigiCert can do all),
    as stored."""
    cert = _reach(fx, status, provider, cn)
    return fx.current(cert)


def _reach(fx: Fakes, status: Status, provider: str, cn: str) -> Certificate:
    from chalicelib.core.errors import ProviderRejected, ProviderTimeout
    from chalicelib.service import jobs
    from chalicelib.service.certificates import ProviderFailure

    fake = fx.provider(provider)
    if status in (Status.SUBMITTING, Status.FAILED):
        error = (ProviderTimeout(provider, "timed out", outcome_unknown=True) if status is Status.SUBMITTING
                 else ProviderRejected(provider, "refused"))
        fake.fail_next("submit_order", error, commit=status is Status.SUBMITTING)
        try:
            fx.order(provider, cn)
        except ProviderFailure as failure:
            return failure.cert
        raise AssertionError("the scripted failure did not happen")
    if status is Status.PENDING:
        return fx.order(provider, cn)
    if status is Status.CANCELLED:
        return fx.svc.cancel(fx.principal, fx.order(provider, cn))
    cert = fx.issued(provider, cn)
    if status is Status.REVOKED:
        return fx.svc.revoke(fx.principal, cert, {"reason": "superseded"})
    if status is Status.EXPIRED:
        fx.clock.now = (parse_iso(cert.not_after) or fx.clock()) + dt.timedelta(seconds=1)
        jobs.renew_expiring(fx.svc, remaining)
        return fx.current(cert)
    return cert


def console_order(fx: Fakes, provider: str, cn: str, status: Status = Status.ISSUED,
                  reference: str | None = None) -> FakeOrder:
    """An order placed at the provider's own console (not through certgate), for imports."""
    from chalicelib.core.model import San
    from chalicelib.core.provider import OrderRequest

    fake = fx.provider(provider)
    takes_csr = fake.capabilities.accepts_csr
    req = OrderRequest(client_reference=reference or f"console-{cn}", common_name=cn, sans=(San("dns", cn),),
                       csr_pem=csr(cn) if takes_csr else None, product=fake.capabilities.default_product)
    return fake.place(req, status=status)
