"""The OpenAPI 3 document of the API, served at GET /openapi.json."""

from __future__ import annotations

import functools
import json
import pathlib
from typing import Any

SPEC_PATH = pathlib.Path(__file__).with_name("openapi.json")


@functools.lru_cache(maxsize=1)
def spec() -> dict[str, Any]:
    return json.loads(SPEC_PATH.read_text())
