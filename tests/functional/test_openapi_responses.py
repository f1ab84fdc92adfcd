"""Responses conform to the OpenAPI document: status declared for the operation, content type
declared, required headers present, JSON bodies valid against the schema.

Two guards, neither depending on which other tests ran or in what order:
- this module drives a tour of every documented operation itself (successes and the usual
  problems) and checks each response it receives, and that no operation was left out;
- tests/conftest.py checks, after every test, each response that test received through
  tests/functional/conftest.py's call() (functional and fault tests alike)."""

from __future__ import annotations

import uuid
from typing import Any

from tests.functional.conftest import RECORDED, call
from tests.functional.test_lifecycle import cn, csr_for, who
from tests.functional.test_openapi import document, operation_for, response_problems

OPERATIONS = ("get", "put", "post", "delete", "patch")


def documented() -> set[tuple[str, str]]:
    return {(path, method.upper()) for path, item in document()["paths"].items() for method in item
            if method in OPERATIONS}


def tour(client: Any) -> None:
    """Every documented operation at least once, through the routes, as a client would."""
    me = who()
    issued_lifecycle(client, me)
    pending_order(client, me)
    listings_imports_and_problems(client, me)


def issued_lifecycle(client: Any, me: str) -> None:
    call(client, "GET", "/health")
    call(client, "GET", "/health/ready", principal=me)
    call(client, "GET", "/providers", principal=me)
    call(client, "GET", "/openapi.json", principal=me)

    st, _, ca = call(client, "POST", "/providers/tinycert/authorities",
                     {"country": "US", "organization": f"Tour {uuid.uuid4().hex[:6]}"}, me)
    assert st == 201, ca
    call(client, "GET", "/providers/tinycert/authorities", principal=me)
    call(client, "GET", f"/providers/tinycert/authorities/{ca['id']}", principal=me)
    call(client, "GET", f"/providers/tinycert/authorities/{ca['id']}/pem", principal=me)

    st, _, tiny = call(client, "POST", "/certificates", {"provider": "tinycert", "common_name": cn()}, me,
                       {"Idempotency-Key": "tour-" + uuid.uuid4().hex})
    assert st == 201, tiny
    tid = tiny["id"]
    call(client, "GET", f"/certificates/{tid}", principal=me)
    call(client, "GET", f"/certificates/{tid}/events?limit=1", principal=me)
    for fmt in ("pem", "der", "zip"):
        call(client, "GET", f"/certificates/{tid}/download?format={fmt}", principal=me)
    call(client, "GET", f"/certificates/{tid}/download?format=der", principal=me,
         headers={"Accept": "application/json"})  # 406
    call(client, "POST", f"/certificates/{tid}/download", {"passphrase": "correct horse"}, me)
    call(client, "POST", f"/certificates/{tid}/download", {"passphrase": "short"}, me)
    call(client, "POST", f"/certificates/{tid}/refresh", principal=me)
    call(client, "POST", f"/certificates/{tid}/reissue", principal=me)
    call(client, "POST", f"/certificates/{tid}/renew", principal=me)
    call(client, "POST", f"/certificates/{tid}/revoke", {"reason": "superseded"}, me)
    call(client, "POST", f"/certificates/{tid}/revoke", {"reason": "superseded"}, me)  # 409: revoked already
    call(client, "DELETE", f"/providers/tinycert/authorities/{ca['id']}", principal=me)  # 403
    call(client, "DELETE", f"/providers/tinycert/authorities/{ca['id']}", principal="certgate-admin")
    call(client, "GET", f"/providers/tinycert/authorities/{ca['id']}", principal=me)


def pending_order(client: Any, me: str) -> None:
    name = cn()
    st, _, pending = call(client, "POST", "/certificates",
                          {"provider": "resello", "common_name": name, "csr": csr_for(name, "ec", 256)}, me)
    assert st == 202, pending
    rid = pending["id"]
    call(client, "GET", f"/certificates/{rid}/validation", principal=me)
    call(client, "POST", f"/certificates/{rid}/validate", {"dcv_method": "dns"}, me)
    call(client, "GET", f"/certificates/{rid}/download?format=pem", principal=me)  # 409: not issued
    call(client, "DELETE", f"/certificates/{rid}", principal=me)


def listings_imports_and_problems(client: Any, me: str) -> None:
    st, _, listing = call(client, "GET", "/certificates?limit=1", principal=me)
    assert st == 200 and listing["next_token"], listing
    call(client, "GET", f"/certificates?limit=1&next_token={listing['next_token']}", principal=me)
    call(client, "GET", f"/certificates?limit=1&next_token={listing['next_token']}", principal=who())  # 400

    call(client, "POST", "/imports", {"provider": "tinycert", "filters": {"ca_id": "987654321"}}, me)  # 422
    call(client, "POST", "/imports", {"provider": "resello", "page_size": 5}, me)  # 422
    st, _, job = call(client, "POST", "/imports", {"provider": "digicert", "filters": {"status": "revoked"}}, me)
    assert st == 202, job
    call(client, "GET", f"/imports/{job['id']}", principal=me)
    call(client, "GET", f"/imports/imp_{uuid.uuid4().hex}", principal=me)
    call(client, "GET", "/imports?limit=1", principal=me)
    call(client, "GET", "/imports?status=lost", principal=me)  # 422
    call(client, "POST", "/imports/sync", {"provider": "digicert"}, me)
    call(client, "POST", "/imports/sync", {"provider": "acme"}, me)  # 422

    call(client, "POST", "/certificates", {"provider": "resello", "common_name": "bad name"}, me)  # 422
    call(client, "POST", "/certificates", b"not json", me)  # 400
    call(client, "GET", "/certificates", principal="not a principal!")  # 400
    call(client, "GET", f"/certificates/crt_{uuid.uuid4().hex}", principal=me)  # 404
    call(client, "PUT", "/certificates", {}, me)  # 405 fallback
    call(client, "GET", "/no/such/route", principal=me)  # 404 fallback


def test_every_response_of_a_tour_of_all_operations_conforms(client: Any, world: Any) -> None:
    start = len(RECORDED)
    tour(client)
    seen = RECORDED[start:]
    problems = sorted({p for r in seen for p in response_problems(r.method, r.path, r.status, r.content_type,
                                                                   r.headers, r.body)})
    assert problems == [], f"{len(problems)} nonconforming responses:\n" + "\n".join(problems[:60])
    covered = {(operation_for(r.method, r.path)[0], r.method) for r in seen}
    assert documented() - covered == set(), "operations the tour does not reach"
    statuses = {r.status for r in seen}
    assert {200, 201, 202, 204, 400, 404, 405, 406, 409, 422} <= statuses, sorted(statuses)


def test_the_checker_catches_what_it_must() -> None:
    cert_path = f"/certificates/crt_{uuid.uuid4().hex}"
    assert response_problems("GET", cert_path, 418, "application/json", {}, {}) != []
    assert response_problems("GET", cert_path, 200, "application/json", {}, {"id": "x"}) != []
    assert response_problems("POST", "/certificates", 202, "application/json", {}, {}) != []
