"""Accounts every simulator starts with, and the matching secret payloads for the local stack.

These are simulator-only credentials (never real ones); the local stack writes them into the
`certgate/local/{provider}` secrets so the adapters authenticate exactly as they would in prod."""

from __future__ import annotations

TINYCERT_EMAIL = "dev@certgate.local"
TINYCERT_PASSPHRASE = "local-tinycert-passphrase"
TINYCERT_API_KEY = "local-tinycert-api-key"
TINYCERT_DEFAULT_CA_ID = 1  # the CA the simulator creates at start

RESELLO_USERNAME = "certgate-local"
RESELLO_API_KEY = "local-resello-api-key"
RESELLO_PLANS = {
    "dv": "3f7830c3-3fa4-404d-908f-35daaa1cd17b",  # the seed's example plan
    "ov": "6c2b1d8e-4a0f-4e55-9a31-0f1b8d2f7a10",
    "ev": "9e4a7c55-2b61-4f0e-8d3c-5a7b9c1e2f34",
}

# Two CertCentral users of one account: an administrator (may skip revoke approval and approve
# requests) and a plain user (whose revokes always wait for an administrator). certgate's secret
# carries the administrator's key.
DIGICERT_API_KEY = "local-digicert-devkey"
DIGICERT_USER_API_KEY = "local-digicert-user-devkey"
DIGICERT_ORGANIZATION_ID = 123
# The one private intermediate the account may sign Private SSL with (certificate.ca_cert_id).
DIGICERT_PRIVATE_CA_CERT_ID = "7D2A5B1C9E3F4A60"


def default_ports() -> dict[str, int]:
    """The port each simulator listens on under `make run`, by provider (its DEFAULT_PORT)."""
    from simulators import simulator_modules

    return {name: module.DEFAULT_PORT for name, module in simulator_modules().items()}


def secret_payloads(host: str = "127.0.0.1", ports: dict[str, int] | None = None) -> dict[str, dict]:
    """The JSON each provider secret holds (design.md section 7), pointing at running simulators:
    each simulator module's `secret_payload(url)`."""
    from simulators import simulator_modules

    chosen = {**default_ports(), **(ports or {})}
    return {name: module.secret_payload(f"http://{host}:{chosen[name]}")
            for name, module in simulator_modules().items()}
