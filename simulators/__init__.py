"""The three provider simulators (see README.md)."""

from __future__ import annotations

from typing import Any


def simulator_classes() -> dict[str, Any]:
    """Each provider's simulator class, by provider name (imported on demand)."""
    from simulators.digicert import DigiCertSim
    from simulators.resello import ReselloSim
    from simulators.tinycert import TinyCertSim

    return {"tinycert": TinyCertSim, "resello": ReselloSim, "digicert": DigiCertSim}
