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
