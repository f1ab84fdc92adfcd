"""Every response the functional tests saw through call() conforms to the OpenAPI document: its
status is declared for the operation, its content type is, its required headers are present and a
JSON body validates against the schema. Named test_zz_* so it runs after the other functional tests
(pytest runs the files of a directory in name order)."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.functional.conftest import RECORDED
from tests.functional.test_openapi import operation_for, response_problems


def test_every_recorded_response_conforms_to_the_document() -> None:
    if not RECORDED:
        pytest.skip("no functional test ran before this one (run the whole tests/functional directory)")
    failures: list[str] = []
    for r in RECORDED:
        failures += response_problems(r.method, r.path, r.status, r.content_type, r.headers, r.body)
    unique = sorted(set(failures))
    covered = Counter((operation_for(r.method, r.path)[0], r.method) for r in RECORDED)
    print(f"{len(RECORDED)} responses checked over {len(covered)} operations")
    assert unique == [], f"{len(unique)} nonconforming responses:\n" + "\n".join(unique[:60])
