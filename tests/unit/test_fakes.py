"""The fakes of tests/fakes.py stay in step with the ports they stand for: every method of each
port exists on its fake with the same parameters (tests/functional/test_store_fake_parity.py
checks the store's behaviour against the DynamoDB adapter)."""

from __future__ import annotations

import inspect

import pytest

from chalicelib.service import ports
from tests import fakes

PAIRS = [
    (ports.CertificateStore, fakes.FakeStore),
    (ports.ArtifactStore, fakes.FakeArtifacts),
    (ports.EventPublisher, fakes.FakePublisher),
    (ports.KeyVault, fakes.FakeKeyVault),
    (ports.CertificateDelivery, fakes.FakeAcm),
    (ports.DnsZones, fakes.FakeDns),
    (ports.Provider, fakes.FakeProvider),
    (ports.Providers, fakes.FakeProviders),
]


def port_methods(port: type) -> dict[str, inspect.Signature]:
    return {name: inspect.signature(fn) for name, fn in vars(port).items()
            if inspect.isfunction(fn) and not name.startswith("_")}


def parameters(sig: inspect.Signature) -> list[tuple[str, object, bool]]:
    return [(p.name, p.kind, p.default is inspect.Parameter.empty) for p in sig.parameters.values()]


@pytest.mark.parametrize(("port", "fake"), PAIRS, ids=lambda c: c.__name__)
def test_every_port_method_exists_on_the_fake_with_the_same_parameters(port: type, fake: type) -> None:
    methods = port_methods(port)
    assert methods, port
    for name, sig in methods.items():
        assert hasattr(fake, name), f"{fake.__name__} lacks {name}"
        assert parameters(inspect.signature(getattr(fake, name))) == parameters(sig), f"{fake.__name__}.{name}"


def test_every_port_has_a_fake() -> None:
    protocols = {obj for obj in vars(ports).values()
                 if isinstance(obj, type) and getattr(obj, "_is_protocol", False) and obj.__module__ == ports.__name__}
    assert protocols == {port for port, _ in PAIRS}


def test_the_provider_fake_declares_what_the_port_requires() -> None:
    provider = fakes.FakeProvider("resello")
    assert provider.name == "resello" and provider.capabilities.cancel and not provider.capabilities.revoke
