"""Fixtures shared by every test directory (see tests/world.py for why there is one world)."""

from tests.world import World, client, world  # noqa: F401 - fixtures registered once, for the whole session
