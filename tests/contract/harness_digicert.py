"""DigiCert's entry in the shared provider contract suite."""

from __future__ import annotations

import requests
from cryptography.hazmat.primitives import serialization

from chalicelib.core.model import San
from chalicelib.core.provider import OrderRequest
from chalicelib.providers.base import Provider
from chalicelib.providers.digicert import DigiCertProvider
from chalicelib.providers.http import HttpSettings, RateLimiter
from simulators.ca import build_csr, generate_key
from simulators.digicert import DigiCertSim as SIM_CLASS  # noqa: F401 - the suite builds SIM_CLASS()
from simulators.digicert import secret_payload

# "Rate limits": DigiCert's 429 request_limit_exceeded carries no Retry-After.
SENDS_RETRY_AFTER = False
# "Revoke certificate": revoking the only certificate of an order leaves the order active (issued)
# unless an account setting says otherwise; only the revoke's own answer says "revoked".
ORDER_OUTLIVES_REVOKED_CERTIFICATE = True


def credentials(sim_url: str, **over: object) -> dict[str, object]:
    """The simulator's own secret payload (simulators/digicert.py secret_payload), pointed at this
    simulator. Its key is the account administrator's (admin_key), and the account refuses a
    second order with the same alternative order id ("Require unique alternative order IDs" on:
    unique_alternative_order_ids). `over` changes single keys."""
    payload: dict[str, object] = {"unique_alternative_order_ids": True, "admin_key": True,
                                  **secret_payload(sim_url)}
    return {**payload, **over}


def make_provider(sim_url: str) -> Provider:
    provider = DigiCertProvider(credentials(sim_url), HttpSettings(read_timeout=2.0, backoff_base=0.01,
                                                                   rate_limit_backoff_base=0.05, max_attempts=3))
    # The simulator's windows restart with each test (/_sim/reset); so do ours.
    provider.http.limiter = RateLimiter(provider.name, provider.rate_limits)
    return provider


def csr_for(common_name: str, sans: list[str] | None = None) -> str:
    names = sans or [common_name]
    csr = build_csr(generate_key("ec"), common_name, [("dns", n) for n in names])
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def order_request(client_reference: str, common_name: str) -> OrderRequest:
    return OrderRequest(client_reference=client_reference, common_name=common_name, product="ov",
                        sans=(San("dns", common_name),), csr_pem=csr_for(common_name), validity_days=199,
                        dcv_method="dns")


def complete(sim_url: str) -> None:
    requests.post(f"{sim_url}/_sim/advance", timeout=10).raise_for_status()
