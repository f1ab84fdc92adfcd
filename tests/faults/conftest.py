"""The fault suite runs on the same world as the functional tests: moto + the three simulators."""

from tests.functional.conftest import client, world  # noqa: F401 - fixtures shared with the functional tests
