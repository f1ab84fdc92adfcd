"""The one error path: API errors and typed provider errors become RFC 9457 problems."""

from __future__ import annotations

from chalicelib.core import errors as pe
from chalicelib.core.errors import Conflict, NotFound, ValidationFailed
from chalicelib.http import problems


def test_validation_failed_names_each_field():
    err = ValidationFailed([pe.FieldError("common_name", "bad"), pe.FieldError("sans[0].value", "worse")])
    status, body, headers = problems.from_api_error(err, "/certificates")
    assert status == 422 and headers == {}
    assert body["code"] == "validation_failed" and body["instance"] == "/certificates"
    assert body["errors"] == [{"field": "common_name", "message": "bad"}, {"field": "sans[0].value", "message": "worse"}]
    assert set(body) >= {"type", "title", "status", "detail", "code"}


def test_api_errors_keep_their_status_and_code():
    assert problems.from_api_error(NotFound("x"), None)[0] == 404
    status, body, _ = problems.from_api_error(Conflict("busy", code="invalid_state"), None)
    assert (status, body["code"]) == (409, "invalid_state")


def test_provider_errors_map_to_typed_gateway_statuses():
    cases = [
        (pe.ProviderUnavailable("digicert", "HTTP 503", retry_after=7), 503, "7"),
        (pe.ProviderTimeout("resello", "read timeout"), 504, "5"),
        (pe.RateLimited("digicert", "slow down", retry_after=30), 503, "30"),
        (pe.ProviderProtocolError("tinycert", "garbage"), 502, None),
        (pe.AuthenticationFailed("tinycert", "bad digest"), 502, None),
        (pe.ProviderNotFound("resello", "gone"), 502, None),
        (pe.ProviderConflict("resello", "issued"), 409, None),
        (pe.UnsupportedOperation("resello", "no revoke"), 422, None),
    ]
    for err, status, retry_after in cases:
        got, body, headers = problems.from_provider_error(err, "/x")
        assert got == status, err
        assert body["provider"] == err.provider and body["code"] == err.code
        assert headers.get("Retry-After") == retry_after


def test_provider_field_errors_are_passed_on():
    err = pe.ProviderRejected("resello", "invalid", field_errors=[pe.FieldError("csr", "key too small")])
    status, body, _ = problems.from_provider_error(err, None, certificate_id="crt_1")
    assert status == 422 and body["errors"] == [{"field": "csr", "message": "key too small"}]
    assert body["certificate_id"] == "crt_1"


def test_internal_error_carries_a_request_id_and_no_trace():
    status, body, _ = problems.internal_error("/x", "req-1")
    assert status == 500 and body["request_id"] == "req-1"
    assert "Traceback" not in problems.dumps(body)


def test_every_api_and_provider_error_has_its_status_here_and_none_in_the_core():
    import inspect

    classes = [c for _, c in inspect.getmembers(pe, inspect.isclass) if c.__module__ == pe.__name__]
    assert {c for c in classes if issubclass(c, pe.ApiError)} == set(problems.API_ERRORS)
    assert {c for c in classes if issubclass(c, pe.ProviderError)} == set(problems.PROVIDER_ERRORS)
    assert not [c for c in classes if hasattr(c, "status") or hasattr(c, "http_status") or hasattr(c, "title")]


def test_an_aws_dependency_failure_is_a_typed_503_naming_the_dependency():
    parts = problems.from_exception(pe.DependencyFailed("bucket", "NoSuchBucket"), "/certificates")
    assert parts is not None
    status, body, headers = parts
    assert (status, body["code"], headers.get("Retry-After")) == (503, "dependency_unavailable", "10")
    assert "bucket: NoSuchBucket" in body["detail"]


def test_an_unexpected_exception_is_left_for_the_500_path():
    assert problems.from_exception(KeyError("surprise"), "/certificates") is None


def _codes_in_the_sources() -> set[str]:
    """Every problem code the code base can answer: the `code` of each error class and each
    code="..." given to an ApiError (provider_code=... is the provider's, not ours), and the
    codes the edge builds its problems with."""
    import pathlib
    import re

    root = pathlib.Path(problems.__file__).resolve().parents[1]
    found: set[str] = set()
    for path in root.rglob("*.py"):
        text = path.read_text()
        found |= set(re.findall(r'(?<![a-z_])code="([a-z0-9_]+)"', text))
        if path.name == "errors.py":  # the classes of the one error hierarchy (others are not problems)
            found |= set(re.findall(r'^\s+code = "([a-z0-9_]+)"', text, re.M))
        found |= set(re.findall(r'problem_body\(\d{3}, "([a-z0-9_]+)"', text))
    found.add("internal_error")
    return found


def test_every_problem_type_has_a_title_of_its_own():
    """The title says what the type is: a 422 unsupported_operation is not "Validation failed",
    a 409 revocation_pending not "Conflict"."""
    codes = _codes_in_the_sources()
    assert {"unsupported_operation", "provider_not_found", "revocation_pending", "key_vault_unavailable"} <= codes
    assert codes - set(problems.TITLES) == set(), "codes without a title in problems.TITLES"
    generic = {"Bad request", "Conflict", "Validation failed", "Service unavailable", "Provider failed"}
    for code in codes:
        title = problems.TITLES[code]
        assert title not in generic or code in ("bad_request", "conflict", "validation_failed",
                                                "service_unavailable", "provider_error"), (code, title)
    assert len(set(problems.TITLES.values())) == len(problems.TITLES)  # one title, one type


def test_a_problem_is_titled_by_its_type_whatever_raised_it():
    cases = [
        (ValidationFailed([pe.FieldError("reason", "no")], code="unsupported_operation"), "Unsupported operation"),
        (Conflict("a revoke awaits approval", code="revocation_pending"), "Revocation pending"),
        (Conflict("no key", code="no_private_key"), "No private key held"),
        (pe.BadRequest("x", code="invalid_next_token"), "Invalid next_token"),
    ]
    for err, title in cases:
        assert problems.from_api_error(err, None)[1]["title"] == title, err
    for perr, title in [(pe.UnsupportedOperation("resello", "no revoke"), "Unsupported operation"),
                        (pe.ProviderNotFound("resello", "gone"), "Not found at the provider"),
                        (pe.RateLimited("digicert", "slow"), "Provider rate limit reached"),
                        (pe.OwnershipUnproven("tinycert", "two candidates"), "Outcome unknown")]:
        assert problems.from_provider_error(perr, None)[1]["title"] == title, perr


def test_docs_api_md_lists_every_problem_type_with_its_title():
    import pathlib

    doc = (pathlib.Path(problems.__file__).resolve().parents[2] / "docs" / "api.md").read_text()
    missing = [code for code, title in problems.TITLES.items() if f"| `{code}` |" not in doc
               or f"| {title} |" not in doc]
    assert missing == [], "docs/api.md's problem table misses these codes (or their titles)"
