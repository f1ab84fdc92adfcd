"""TinyCert's entry in the shared provider contract suite."""

from __future__ import annotations

import requests

from chalicelib.core.model import Organization, San
from chalicelib.core.provider import OrderRequest
from chalicelib.providers.base import Provider
from chalicelib.providers.http import HttpSettings
from chalicelib.providers.tinycert import TinyCertProvider
from simulators import defaults
from simulators.tinycert import TinyCertSim as SIM_CLASS  # constructible with no args (issue_delay_s None)

__all__ = ["SIM_CLASS", "complete", "make_provider", "order_request"]


def make_provider(sim_url: str) -> Provider:
    credentials = {**defaults.secret_payloads()["tinycert"], "base_url": f"{sim_url.rstrip('/')}/api/v1"}
    return TinyCertProvider(credentials, HttpSettings(read_timeout=2.0, backoff_base=0.01, max_attempts=3))


def order_request(client_reference: str, common_name: str) -> OrderRequest:
    # TinyCert generates the key itself: no CSR. Organization given so no CA lookup is needed.
    return OrderRequest(client_reference=client_reference, common_name=common_name, product="private",
                        sans=(San("dns", common_name),),
                        organization=Organization(name="Certgate Contract", country="US"))


def complete(sim_url: str) -> None:
    # Issuance is synchronous at TinyCert; advancing is a no-op kept for the suite's uniformity.
    requests.post(f"{sim_url.rstrip('/')}/_sim/advance", timeout=5).raise_for_status()
