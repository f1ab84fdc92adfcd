"""Fixtures shared by every test directory (see tests/world.py for why there is one world)."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from tests.world import World, client, world  # noqa: F401 - fixtures registered once, for the whole session

_RECORDER = "tests.functional.conftest"  # call() there records every response it returns


@pytest.fixture(autouse=True)
def responses_conform_to_the_openapi_document() -> Iterator[None]:
    """After each test, every response it received through call() conforms to the OpenAPI
    document (tests/functional/test_openapi.py's checker). Per test, so no test depends on
    which others ran before it; the recordings are dropped once checked."""
    recorder = sys.modules.get(_RECORDER)
    start = len(recorder.RECORDED) if recorder is not None else 0
    yield
    recorder = sys.modules.get(_RECORDER)
    if recorder is None or len(recorder.RECORDED) <= start:
        return
    received = recorder.RECORDED[start:]
    del recorder.RECORDED[start:]
    from tests.functional.test_openapi import response_problems

    problems = sorted({p for r in received
                       for p in response_problems(r.method, r.path, r.status, r.content_type, r.headers, r.body)})
    if problems:
        pytest.fail(f"{len(problems)} responses do not conform to the OpenAPI document:\n" + "\n".join(problems[:60]),
                    pytrace=False)
