"""One in-process world for every test that needs it: a real moto server (HTTP) and the three
provider simulators (HTTP) on free ports, env CERTGATE_STAGE=test.

There must be exactly one per session: moto keeps its backends in module globals, so a second
moto server in the same process would share the first one's tables while the simulators behind
them would start afresh (provider ids reused, references colliding)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from simulators.base import SimServer

# boto3, requests and the simulators are imported where used: every test session loads this
# module (tests/conftest.py), and the unit layer needs none of them.

logging.getLogger("werkzeug").setLevel(logging.ERROR)

REGION = "us-east-1"
ACCOUNT = "123456789012"


@dataclass
class World:
    moto_url: str
    sims: dict[str, SimServer]
    env: dict[str, str]

    def aws(self, service: str) -> Any:
        import boto3

        return boto3.client(service, endpoint_url=self.moto_url, region_name=REGION,
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def sim_url(self, provider: str) -> str:
        return self.sims[provider].url

    def advance(self, provider: str) -> None:
        import requests

        requests.post(self.sim_url(provider) + "/_sim/advance", timeout=10).raise_for_status()

    def faults(self, provider: str, **faults: Any) -> None:
        import requests

        requests.put(self.sim_url(provider) + "/_sim/faults", json=faults, timeout=10).raise_for_status()

    def clear_faults(self) -> None:
        import requests

        for p in self.sims:
            requests.delete(self.sim_url(p) + "/_sim/faults", timeout=10).raise_for_status()

    def sim_orders(self, provider: str) -> list[dict[str, Any]]:
        import requests

        return requests.get(self.sim_url(provider) + "/_sim/orders", timeout=10).json()


@pytest.fixture(scope="session")
def world() -> Iterator[World]:
    from moto.server import ThreadedMotoServer

    from chalicelib import bootstrap as container
    from devstack import moto_patch, seed
    from devstack.local_env import free_port, patched_environ
    from simulators import simulator_classes
    from simulators.base import SimServer

    moto_patch.install()  # as `make run`: atomic requests, cost per operation independent of the table
    port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    moto_url = f"http://127.0.0.1:{port}"
    sims = {name: SimServer(cls(), port=0).start() for name, cls in simulator_classes().items()}
    from simulators.dns import Route53Lookup

    for server in sims.values():  # as `make run`: names inside a moto hosted zone are looked up there
        if hasattr(server.sim, "dns"):
            server.sim.dns = Route53Lookup(f"http://127.0.0.1:{port}", REGION)
    stage = "test"
    env = {
        "CERTGATE_STAGE": stage, "AWS_DEFAULT_REGION": REGION, "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_ENDPOINT_URL": moto_url,
        "CERTGATE_TABLE": "certgate-test", "CERTGATE_BUCKET": "certgate-test-artifacts",
        "CERTGATE_TOPIC_ARN": f"arn:aws:sns:{REGION}:{ACCOUNT}:certgate-test-events",
        "CERTGATE_KMS_KEY_ID": "alias/certgate-test", "CERTGATE_EVENT_BUS": "certgate-test-events", "CERTGATE_ADMIN_PRINCIPALS": "certgate-admin",
        "CERTGATE_POLL_MIN_INTERVAL_S": "1", "CERTGATE_POLL_MAX_INTERVAL_S": "4",
        "CERTGATE_PROVIDER_READ_TIMEOUT_S": "2", "CERTGATE_RECONCILE_AFTER_S": "0",
        "CERTGATE_POLL_SAFETY_MARGIN_MS": "1000",
    }
    w = World(moto_url=moto_url, sims=sims, env=env)
    try:
        with patched_environ(env, drop=("AWS_PROFILE", "AWS_SESSION_TOKEN")):
            seed.seed_app_environment(moto_url, env, {name: s.port for name, s in sims.items()}, stage)
            container.reset()
            yield w
    finally:
        for s in sims.values():
            s.stop()
        moto.stop()
        container.reset()


@pytest.fixture()
def client(world: World) -> Iterator[Any]:
    from chalice.test import Client

    from app import app

    world.clear_faults()
    with Client(app, stage_name="test") as c:
        yield c


