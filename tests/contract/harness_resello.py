"""Resello's entry in the shared provider contract suite."""

from __future__ import annotations

import functools
from typing import Any

import requests
from cryptography.hazmat.primitives import serialization

from chalicelib.core.model import San
from chalicelib.core.provider import OrderRequest
from chalicelib.providers.base import Provider
from chalicelib.providers.http import HttpSettings
from chalicelib.providers.resello import ReselloProvider
from simulators import defaults
from simulators.ca import build_csr, generate_key
from simulators.resello import ReselloSim as SIM_CLASS

__all__ = ["SIM_CLASS", "complete", "make_provider", "order_request"]


def make_provider(sim_url: str, **http_overrides: Any) -> Provider:
    """`http_overrides` are HttpSettings fields (the suite's fresh_provider(**overrides) passes them)."""
    credentials = {**defaults.secret_payloads()["resello"], "base_url": sim_url.rstrip("/")}
    settings = {"read_timeout": 2.0, "backoff_base": 0.01, "max_attempts": 3, **http_overrides}
    return ReselloProvider(credentials, HttpSettings(**settings))


@functools.lru_cache(maxsize=1)
def _key() -> Any:
    # One RSA key for every order keeps the suite fast; Resello wants RSA >= 2048.
    return generate_key("rsa", 2048)


def order_request(client_reference: str, common_name: str) -> OrderRequest:
    csr = build_csr(_key(), common_name, [("dns", common_name)]).public_bytes(serialization.Encoding.PEM).decode()
    return OrderRequest(client_reference=client_reference, common_name=common_name, product="dv",
                        sans=(San("dns", common_name),), csr_pem=csr, dcv_method="dns")


def complete(sim_url: str) -> None:
    requests.post(f"{sim_url.rstrip('/')}/_sim/advance", timeout=5).raise_for_status()
