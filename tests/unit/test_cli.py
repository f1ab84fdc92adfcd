"""The certgate CLI (client/certgate/cli) through click's CliRunner against a fake transport: request
building, output, the --wait loop (fake clock: no real sleeping), problem printing and exit codes, SigV4."""

from __future__ import annotations

import json
import os
import stat
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from click.testing import CliRunner

from certgate import client as client_mod
from certgate import models
from certgate.cli import main as cli_mod
from certgate.cli.main import Deps, cli
from certgate.cli.progress import Display, fmt_duration
from certgate.errors import ApiError, ConnectionFailed
from certgate.transport import HttpRequest, HttpResponse, SigV4Signer, is_local, region_from_url

CERT_ID = "crt_0123456789abcdef0123456789abcdef"

Handler = Callable[[HttpRequest], tuple[int, dict[str, str], Any]]


@dataclass
class FakeTransport:
    """Answers from `routes` ("METHOD /path" -> handler or list of handlers used in turn)."""

    routes: dict[str, Any] = field(default_factory=dict)
    sent: list[HttpRequest] = field(default_factory=list)

    def send(self, prepared: HttpRequest, timeout: float) -> HttpResponse:
        assert timeout > 0
        self.sent.append(prepared)
        key = f"{prepared.method} {urlsplit(prepared.url).path}"
        route = self.routes.get(key)
        if route is None:
            return _response(404, {"Content-Type": "application/problem+json"},
                                json.dumps({"title": "Not found", "status": 404, "code": "not_found",
                                            "detail": f"no route {key}"}).encode())
        if isinstance(route, list):
            route = route.pop(0) if len(route) > 1 else route[0]
        if isinstance(route, Exception):
            raise route
        status, headers, body = route(prepared) if callable(route) else route
        if isinstance(body, bytes | str):
            content = body.encode() if isinstance(body, str) else body
        else:
            content = json.dumps(body).encode()
            headers = {"Content-Type": "application/problem+json" if status >= 400 else "application/json", **headers}
        return _response(status, headers, content)

    def bodies(self, key: str) -> list[Any]:
        return [json.loads(p.body) if p.body else None for p in self.sent
                if f"{p.method} {urlsplit(p.url).path}" == key]


def _response(status: int, headers: dict[str, str], content: bytes) -> HttpResponse:
    return HttpResponse(status, {k.lower(): v for k, v in headers.items()}, content)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


def cert(status: str = "pending", **extra: Any) -> dict[str, Any]:
    base = {"id": CERT_ID, "status": status, "provider": "digicert", "product": "ov", "common_name": "www.example.com",
            "sans": [{"type": "dns", "value": "www.example.com"}], "origin": "ordered", "key_source": "gateway",
            "private_key_held": True, "auto_renew": False, "client_reference": None, "dcv_method": "dns",
            "validity_days": 397, "provider_refs": {"order_id": "42", "certificate_id": None, "status": "pending"},
            "revision": 1, "issued_revision": None, "operation": "order" if status == "pending" else None,
            "not_before": None, "not_after": None, "serial": None, "fingerprints": {"sha1": None, "sha256": None},
            "issuer": None, "on_hold": False, "failure": None, "created_at": "2025-01-01T00:00:00.000000Z",
            "updated_at": "2025-01-01T00:00:00.000000Z", "revisions": []}
    if status == "issued":
        base.update(serial="0abc", not_after="2026-01-01T00:00:00.000000Z", issued_revision=1,
                    provider_refs={"order_id": "42", "certificate_id": "7", "status": "issued"})
    return {**base, **extra}


def problem(status: int, code: str, detail: str, **extra: Any) -> tuple[int, dict[str, str], dict[str, Any]]:
    return status, {}, {"type": f"https://certgate.dev/problems/{code}", "title": code.replace("_", " ").title(),
                        "status": status, "detail": detail, "code": code, **extra}


@dataclass
class Harness:
    session: FakeTransport
    clock: FakeClock
    tty: bool = False

    def run(self, *args: str, input: str | None = None, env: dict[str, str] | None = None) -> Any:
        deps = Deps(transport=self.session, clock=self.clock, sleep=self.clock.sleep,
                    stderr_is_tty=lambda: self.tty, new_key=lambda: "key-1")
        return CliRunner().invoke(cli, list(args), obj=deps, input=input, env=env, catch_exceptions=False)


@pytest.fixture()
def h(monkeypatch: pytest.MonkeyPatch) -> Harness:
    for var in ("CERTGATE_URL", "CERTGATE_PRINCIPAL", "CERTGATE_P12_PASSPHRASE"):
        monkeypatch.delenv(var, raising=False)
    for var in ("CERTGATE_API_PORT", "CERTGATE_OUTPUT", "CERTGATE_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    return Harness(FakeTransport(), FakeClock())


# -- order ----------------------------------------------------------------------------------------------
def test_order_sends_the_body_the_idempotency_key_and_the_principal(h: Harness) -> None:
    h.session.routes["POST /certificates"] = (202, {"Location": f"/certificates/{CERT_ID}"}, cert())
    result = h.run("--principal", "alice", "order", "--provider", "digicert", "--cn", "www.example.com",
                   "--san", "example.com", "--san", "ip:10.0.0.1", "--key-type", "ec", "--key-size", "384",
                   "--dcv", "email", "--validity-days", "90", "--auto-renew", "--client-reference", "ref-1")
    assert result.exit_code == 0, result.output
    sent = h.session.sent[0]
    assert sent.url == "http://127.0.0.1:8000/certificates"
    assert sent.headers["Idempotency-Key"] == "key-1"
    assert sent.headers["X-Certgate-Principal"] == "alice"
    assert "Authorization" not in sent.headers
    assert json.loads(sent.body) == {
        "provider": "digicert", "common_name": "www.example.com",
        "sans": [{"type": "dns", "value": "example.com"}, {"type": "ip", "value": "10.0.0.1"}],
        "key": {"type": "ec", "size": 384}, "dcv_method": "email", "validity_days": 90, "auto_renew": True,
        "client_reference": "ref-1"}
    assert "key-1" in result.stderr
    assert "id:" in result.stdout and CERT_ID in result.stdout and "pending" in result.stdout


def test_order_with_a_csr_file_and_an_explicit_key(h: Harness, tmp_path: Path) -> None:
    csr = tmp_path / "req.pem"
    csr.write_text("-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n")
    h.session.routes["POST /certificates"] = (202, {}, cert())
    result = h.run("--output", "json", "order", "--provider", "resello", "--cn", "a.example", "--csr", str(csr),
                   "--idempotency-key", "mine")
    assert result.exit_code == 0, result.output
    assert h.session.sent[0].headers["Idempotency-Key"] == "mine"
    assert json.loads(h.session.sent[0].body)["csr"] == csr.read_text()
    assert json.loads(result.stdout)["id"] == CERT_ID
    assert "idempotency key:" not in result.stderr


def test_order_refuses_a_csr_with_a_key_type(h: Harness, tmp_path: Path) -> None:
    csr = tmp_path / "req.pem"
    csr.write_text("x")
    result = h.run("order", "--provider", "resello", "--cn", "a.example", "--csr", str(csr), "--key-type", "rsa")
    assert result.exit_code == 2
    assert h.session.sent == []


@pytest.mark.parametrize(("raw", "expected"), [
    ("www.example.com", {"type": "dns", "value": "www.example.com"}),
    ("dns:a.example", {"type": "dns", "value": "a.example"}),
    ("IP:::1", {"type": "ip", "value": "::1"}),
    ("email:ops@example.com", {"type": "email", "value": "ops@example.com"}),
    ("uri:https://example.com/x", {"type": "uri", "value": "https://example.com/x"}),
    ("*.example.com", {"type": "dns", "value": "*.example.com"}),
])
def test_san_prefixes(raw: str, expected: dict[str, str]) -> None:
    assert models.San.parse(raw).to_json() == expected


# -- --wait -------------------------------------------------------------------------------------------------
def test_wait_follows_the_certificate_until_issued_with_backoff(h: Harness) -> None:
    h.session.routes["POST /certificates"] = (202, {}, cert())
    h.session.routes[f"POST /certificates/{CERT_ID}/refresh"] = [
        (200, {}, cert()), (200, {}, cert()), (200, {}, cert("issued"))]
    result = h.run("order", "--provider", "digicert", "--cn", "www.example.com", "--wait")
    assert result.exit_code == 0, result.output
    assert len(h.session.bodies(f"POST /certificates/{CERT_ID}/refresh")) == 3
    assert h.clock.sleeps == [2.0, 3.0, 4.5]  # one sleep per check off a pipe, growing
    assert f"{CERT_ID} pending (order, provider: pending)" in result.stderr
    assert "next check in 2s" in result.stderr and "next check in 3s" in result.stderr
    assert f"certgate validation {CERT_ID}" in result.stderr
    assert f"{CERT_ID} issued after 10s" in result.stderr
    assert "serial:" in result.stdout and "0abc" in result.stdout


def test_wait_exits_1_when_the_order_fails(h: Harness) -> None:
    h.session.routes["POST /certificates"] = (202, {}, cert())
    h.session.routes[f"POST /certificates/{CERT_ID}/refresh"] = (
        200, {}, cert("failed", failure={"code": "provider_rejected", "reason": "domain is blocked"}))
    result = h.run("order", "--provider", "digicert", "--cn", "www.example.com", "--wait")
    assert result.exit_code == cli_mod.EXIT_CERT_FAILED
    assert "failed after 2s (domain is blocked)" in result.stderr


def test_wait_times_out_with_exit_6_and_the_last_state(h: Harness) -> None:
    h.session.routes["POST /certificates"] = (202, {}, cert())
    h.session.routes[f"POST /certificates/{CERT_ID}/refresh"] = (200, {}, cert())
    result = h.run("order", "--provider", "digicert", "--cn", "www.example.com", "--wait", "--timeout", "20")
    assert result.exit_code == cli_mod.EXIT_TIMEOUT
    assert sum(h.clock.sleeps) == pytest.approx(20.0)
    assert "still pending after 20 s" in result.stderr
    assert CERT_ID in result.stdout


def test_wait_reads_the_recorded_state_while_the_provider_is_down(h: Harness) -> None:
    h.session.routes["POST /certificates"] = (202, {}, cert())
    h.session.routes[f"POST /certificates/{CERT_ID}/refresh"] = [
        problem(503, "provider_unavailable", "digicert: HTTP 503", provider="digicert",
                certificate_id=CERT_ID, certificate_status="pending"),
        (200, {}, cert("issued"))]
    h.session.routes[f"GET /certificates/{CERT_ID}"] = (200, {}, cert())
    result = h.run("order", "--provider", "digicert", "--cn", "www.example.com", "--wait")
    assert result.exit_code == 0, result.output
    assert "refresh: 503 digicert: HTTP 503; reading the recorded state instead" in result.stderr
    assert len(h.session.bodies(f"GET /certificates/{CERT_ID}")) == 1


def test_wait_on_a_terminal_redraws_one_line_with_a_countdown(h: Harness) -> None:
    h.tty = True
    h.session.routes["POST /certificates"] = (202, {}, cert(dcv_method=None))
    h.session.routes[f"POST /certificates/{CERT_ID}/refresh"] = (200, {}, cert("issued"))
    result = h.run("order", "--provider", "digicert", "--cn", "www.example.com", "--wait")
    assert result.exit_code == 0
    assert h.clock.sleeps == [1.0, 1.0]  # a redraw each second
    assert "\r| " in result.stderr or "\r/ " in result.stderr
    assert "next check in 2s" in result.stderr and "next check in 1s" in result.stderr


def test_an_order_recorded_before_a_provider_failure_is_followed_with_wait(h: Harness) -> None:
    h.session.routes["POST /certificates"] = problem(
        503, "provider_unavailable", "digicert: timed out", provider="digicert", certificate_id=CERT_ID,
        certificate_status="pending")
    h.session.routes[f"GET /certificates/{CERT_ID}"] = (200, {}, cert())
    h.session.routes[f"POST /certificates/{CERT_ID}/refresh"] = (200, {}, cert("issued"))
    result = h.run("order", "--provider", "digicert", "--cn", "www.example.com", "--wait")
    assert result.exit_code == 0, result.output
    assert len(h.session.bodies("POST /certificates")) == 1  # never re-ordered: it names its certificate
    assert f"recorded as {CERT_ID}" in result.stderr


def test_reissue_with_wait(h: Harness) -> None:
    h.session.routes[f"POST /certificates/{CERT_ID}/reissue"] = (202, {}, cert(operation="reissue", revision=2))
    h.session.routes[f"POST /certificates/{CERT_ID}/refresh"] = (200, {}, cert("issued", revision=2))
    result = h.run("reissue", CERT_ID, "--san", "b.example", "--wait")
    assert result.exit_code == 0, result.output
    assert h.session.bodies(f"POST /certificates/{CERT_ID}/reissue") == [{"sans": [{"type": "dns",
                                                                                       "value": "b.example"}]}]
    assert "pending (reissue" in result.stderr


# -- errors ---------------------------------------------------------------------------------------------
def test_a_validation_problem_is_printed_field_by_field_with_exit_3(h: Harness) -> None:
    h.session.routes["POST /certificates"] = problem(
        422, "validation_failed", "invalid fields: common_name, sans[0].value",
        errors=[{"field": "common_name", "message": "must be a valid DNS name"},
                {"field": "sans[0].value", "message": "is listed twice"}])
    result = h.run("order", "--provider", "digicert", "--cn", "bad name")
    assert result.exit_code == cli_mod.EXIT_CLIENT_ERROR
    assert "error: 422 Validation Failed [validation_failed]" in result.stderr
    assert "  - common_name: must be a valid DNS name" in result.stderr
    assert "  - sans[0].value: is listed twice" in result.stderr
    assert result.stdout == ""


def test_a_server_error_exits_4_and_shows_the_request_id(h: Harness) -> None:
    h.session.routes[f"GET /certificates/{CERT_ID}"] = problem(500, "internal_error", "unexpected",
                                                               request_id="rid-9")
    result = h.run("show", CERT_ID)
    assert result.exit_code == cli_mod.EXIT_SERVER_ERROR
    assert "request id: rid-9" in result.stderr
    assert len(h.session.sent) == 1  # a 500 is not retried


def test_a_get_is_retried_on_503_after_retry_after(h: Harness) -> None:
    h.session.routes[f"GET /certificates/{CERT_ID}"] = [
        (503, {"Retry-After": "7"}, {"title": "Unavailable", "status": 503, "code": "service_unavailable"}),
        (200, {}, cert("issued"))]
    result = h.run("show", CERT_ID)
    assert result.exit_code == 0, result.output
    assert h.clock.sleeps == [7.0]


def test_no_answer_exits_5_after_retrying_a_get(h: Harness) -> None:
    h.session.routes[f"GET /certificates/{CERT_ID}"] = ConnectionFailed("connection refused")
    result = h.run("show", CERT_ID)
    assert result.exit_code == cli_mod.EXIT_CONNECTION
    assert "cannot reach http://127.0.0.1:8000" in result.stderr
    assert len(h.session.sent) == client_mod.MAX_ATTEMPTS


def test_a_non_idempotent_post_is_sent_once(h: Harness) -> None:
    h.session.routes[f"DELETE /certificates/{CERT_ID}"] = ConnectionFailed("reset")
    result = h.run("cancel", CERT_ID)
    assert result.exit_code == cli_mod.EXIT_CONNECTION
    assert len(h.session.sent) == 1


def test_a_non_json_error_is_still_reported(h: Harness) -> None:
    h.session.routes["GET /providers"] = (403, {"Content-Type": "text/plain"}, "Missing Authentication Token")
    result = h.run("providers")
    assert result.exit_code == cli_mod.EXIT_CLIENT_ERROR
    assert "error: 403 HTTP 403" in result.stderr and "Missing Authentication Token" in result.stderr


# -- list, show, events, providers, validation ------------------------------------------------------------------
def test_list_all_follows_next_token_and_prints_a_table(h: Harness) -> None:
    other = cert("issued", id="crt_" + "f" * 32, common_name="b.example")
    h.session.routes["GET /certificates"] = [(200, {}, {"items": [cert()], "next_token": "t1"}),
                                             (200, {}, {"items": [other], "next_token": None})]
    result = h.run("list", "--all", "--status", "issued", "--limit", "1")
    assert result.exit_code == 0, result.output
    queries = [parse_qs(urlsplit(p.url).query) for p in h.session.sent]
    assert queries == [{"status": ["issued"], "limit": ["1"]},
                       {"status": ["issued"], "limit": ["1"], "next_token": ["t1"]}]
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["ID", "STATUS", "PROVIDER", "PRODUCT", "COMMON", "NAME", "+SANS", "NOT", "AFTER"]
    assert CERT_ID in lines[1] and "pending (order)" in lines[1]
    assert "b.example" in lines[2] and "2026-01-01" in lines[2]


def test_list_without_all_says_there_is_more(h: Harness) -> None:
    h.session.routes["GET /certificates"] = (200, {}, {"items": [cert()], "next_token": "t1"})
    result = h.run("--output", "json", "list")
    assert json.loads(result.stdout) == {"items": [cert()], "next_token": "t1"}
    assert "--next-token t1" in result.stderr


def test_events_providers_and_validation_render(h: Harness) -> None:
    h.session.routes[f"GET /certificates/{CERT_ID}/events"] = (200, {}, {"items": [
        {"event_id": "evt_1", "event": "certificate.issued", "occurred_at": "2025-01-01T00:00:00Z",
         "actor": "poller", "from_status": "pending", "to_status": "issued", "revision": 1}], "next_token": None})
    h.session.routes["GET /providers"] = (200, {}, {"items": [{"name": "tinycert", "configured": True, "capabilities": {
        "accepts_csr": False, "products": ["private"], "dcv_methods": [], "max_validity_days": 365,
        "reissue": True, "renew": True, "revoke": True, "cancel": False}}], "next_token": None})
    h.session.routes[f"GET /certificates/{CERT_ID}/validation"] = (200, {}, {
        "certificate_id": CERT_ID, "status": "pending", "method": "dns",
        "domains": [{"domain": "www.example.com", "method": "dns", "state": "pending",
                     "dns": {"name": "_dnsauth.www.example.com", "type": "TXT", "value": "tok"}}]})
    events = h.run("events", CERT_ID)
    assert "certificate.issued" in events.stdout and "pending -> issued" in events.stdout
    providers = h.run("providers")
    assert "tinycert" in providers.stdout and "reissue,renew,revoke" in providers.stdout
    validation = h.run("validation", CERT_ID)
    assert "DNS TXT _dnsauth.www.example.com = tok" in validation.stdout


def test_revoke_asks_first_and_sends_the_reason(h: Harness) -> None:
    h.session.routes[f"POST /certificates/{CERT_ID}/revoke"] = (200, {}, cert("revoked"))
    declined = h.run("revoke", CERT_ID, input="n\n")
    assert declined.exit_code == 1 and h.session.sent == []
    done = h.run("revoke", CERT_ID, "--reason", "superseded", "--yes")
    assert done.exit_code == 0, done.output
    assert h.session.bodies(f"POST /certificates/{CERT_ID}/revoke") == [{"reason": "superseded"}]


# -- download -----------------------------------------------------------------------------------------------
def test_download_fullchain_to_a_file(h: Harness, tmp_path: Path) -> None:
    pem = "-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n"
    h.session.routes[f"GET /certificates/{CERT_ID}/download"] = (
        200, {"Content-Type": "application/x-pem-file", "Content-Disposition": 'attachment; filename="x.pem"'}, pem)
    out = tmp_path / "full.pem"
    result = h.run("download", CERT_ID, "--format", "fullchain", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert out.read_text() == pem
    sent = h.session.sent[0]
    assert sent.headers["Accept"] == "application/x-pem-file"
    assert parse_qs(urlsplit(sent.url).query) == {"format": ["fullchain"]}


def test_download_der_uses_the_binary_accept_and_the_suggested_name(h: Harness, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    h.session.routes[f"GET /certificates/{CERT_ID}/download"] = (
        200, {"Content-Type": "application/pkix-cert",
              "Content-Disposition": f'attachment; filename="{CERT_ID}-r1-der.cer"'}, b"\x30\x82\x01")
    result = h.run("download", CERT_ID, "--format", "der", "--revision", "1")
    assert result.exit_code == 0, result.output
    assert (tmp_path / f"{CERT_ID}-r1-der.cer").read_bytes() == b"\x30\x82\x01"
    assert h.session.sent[0].headers["Accept"] == "application/pkix-cert"


def test_download_pkcs12_posts_the_prompted_passphrase_and_writes_0600(h: Harness, tmp_path: Path) -> None:
    h.session.routes[f"POST /certificates/{CERT_ID}/download"] = (
        200, {"Content-Type": "application/x-pkcs12"}, b"p12-bytes")
    out = tmp_path / "bundle.p12"
    result = h.run("download", CERT_ID, "--format", "pkcs12", "-o", str(out), input="s3cret-pass\ns3cret-pass\n")
    assert result.exit_code == 0, result.output
    assert h.session.bodies(f"POST /certificates/{CERT_ID}/download") == [
        {"passphrase": "s3cret-pass", "format": "pkcs12"}]
    assert h.session.sent[0].headers["Accept"] == "application/x-pkcs12"
    assert out.read_bytes() == b"p12-bytes"
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    assert "s3cret-pass" not in result.stdout


# -- where requests go and how they are signed ------------------------------------------------------------------
def test_a_deployed_url_is_signed_with_sigv4(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    url = "https://abc123.execute-api.eu-west-1.amazonaws.com/api"
    h.session.routes["GET /api/certificates"] = (200, {}, {"items": [], "next_token": None})
    result = h.run("--url", url, "list", "--status", "issued")
    assert result.exit_code == 0, result.output
    sent = h.session.sent[0]
    auth = sent.headers["Authorization"]
    assert auth.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/eu-west-1/execute-api/aws4_request" in auth
    assert "SignedHeaders=" in auth and "host" in auth
    assert "X-Amz-Date" in sent.headers
    assert "X-Certgate-Principal" not in sent.headers


def test_the_signature_covers_what_is_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore signing the same method, URL (query included), body and headers independently gives the
    same signature; another query gives another one."""
    import datetime as dt

    import botocore.auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: dt.datetime(2025, 1, 2, 3, 4, 5))
    base = "https://abc123.execute-api.us-east-2.amazonaws.com/api/certificates"

    def ours(query: str) -> str:
        req = HttpRequest("POST", base + query, {"Content-Type": "application/json", "Content-Length": "8"},
                          b'{"a": 1}')
        SigV4Signer(base).sign(req)
        return req.headers["Authorization"]

    reference = AWSRequest(method="POST", url=base + "?status=issued&limit=5", data=b'{"a": 1}',
                           headers={"Content-Type": "application/json", "Content-Length": "8"})
    botocore.auth.SigV4Auth(Credentials("AKIDEXAMPLE", "secret"), "execute-api", "us-east-2").add_auth(reference)
    assert ours("?status=issued&limit=5") == reference.headers["Authorization"]
    assert ours("?status=failed&limit=5") != reference.headers["Authorization"]


def test_principal_is_refused_with_signing(h: Harness) -> None:
    result = h.run("--url", "https://abc.execute-api.us-east-1.amazonaws.com/api", "--principal", "bob",
                   "show", CERT_ID)
    assert result.exit_code == 2
    assert "local stage only" in result.output
    assert h.session.sent == []


def test_the_url_comes_from_the_environment(h: Harness) -> None:
    h.session.routes["GET /certificates"] = (200, {}, {"items": [], "next_token": None})
    result = h.run("list", env={"CERTGATE_URL": "http://localhost:9999/"})
    assert result.exit_code == 0, result.output
    assert h.session.sent[0].url.startswith("http://localhost:9999/certificates")
    assert "Authorization" not in h.session.sent[0].headers


@pytest.mark.parametrize(("url", "local"), [
    ("http://127.0.0.1:8000", True), ("http://localhost", True), ("http://[::1]:8000", True),
    ("http://api.localhost:8000", True), ("https://abc.execute-api.us-east-1.amazonaws.com/api", False),
    ("https://certs.example.com", False)])
def test_what_counts_as_local(url: str, local: bool) -> None:
    assert is_local(url) is local


def test_region_from_an_execute_api_url() -> None:
    assert region_from_url("https://x1.execute-api.ap-south-1.amazonaws.com/api") == "ap-south-1"
    assert region_from_url("https://certs.example.com") is None


# -- display pieces -------------------------------------------------------------------------------------------
def test_durations() -> None:
    assert [fmt_duration(s) for s in (0, 59.4, 61, 3599, 3600, 7322)] == ["0s", "59s", "1m01s", "59m59s", "1h00m",
                                                                          "2h02m"]


def test_display_off_a_terminal_prints_whole_lines() -> None:
    import io

    out = io.StringIO()
    d = Display(out, tty=False)
    d.waiting(models.Certificate.from_json(cert(dcv_method=None)), 3, 4)
    d.done(models.Certificate.from_json(cert("issued")), 9)
    assert "\r" not in out.getvalue()
    assert out.getvalue().splitlines() == [
        f"{CERT_ID} pending (order, provider: pending), 3s elapsed, next check in 4s",
        f"{CERT_ID} issued after 9s (serial 0abc, not after 2026-01-01T00:00:00Z)"]


def test_the_cli_vocabulary_matches_the_server() -> None:
    from certgate import vocabulary as cli
    from chalicelib.core import vocabulary as server

    for name in ("PRODUCTS", "DCV_METHODS", "SAN_TYPES", "DOWNLOAD_FORMATS", "REVOCATION_REASONS"):
        assert getattr(cli, name) == getattr(server, name), name


# -- one retry loop, counted at a real HTTP server ------------------------------------------------

class _Always503(BaseHTTPRequestHandler):
    seen: list[str] = []

    def log_message(self, *args: Any) -> None:
        pass

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        type(self).seen.append(f"{self.command} {self.path}")
        body = json.dumps({"title": "Service Unavailable", "status": 503, "code": "provider_unavailable"}).encode()
        self.send_response(503)
        self.send_header("Content-Type", "application/problem+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer


@pytest.fixture()
def always_503() -> Iterator[str]:
    _Always503.seen = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Always503)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_a_safe_call_failing_with_503_makes_exactly_max_attempts_sends(always_503: str) -> None:
    client = client_mod.Client(always_503, sleep=lambda s: None)
    with pytest.raises(ApiError) as err:
        client.list_certificates()
    assert err.value.status == 503
    assert len(_Always503.seen) == client_mod.MAX_ATTEMPTS == 3


def test_an_unsafe_call_failing_with_503_is_sent_once(always_503: str) -> None:
    client = client_mod.Client(always_503, sleep=lambda s: None)
    with pytest.raises(ApiError):
        client.request("POST", "/certificates", body={"provider": "resello"})
    with pytest.raises(ApiError):
        client.request("POST", "/certificates", body={"provider": "resello"}, headers={"Idempotency-Key": "k"})
    assert _Always503.seen == ["POST /certificates"] + ["POST /certificates"] * client_mod.MAX_ATTEMPTS


# -- every provider option, authorities, imports, profiles, completion -----------------------------------------
def test_order_sends_every_provider_option_the_organisation_and_the_approver(h: Harness) -> None:
    h.session.routes["POST /certificates"] = (202, {}, cert())
    result = h.run("order", "--provider", "resello", "--product", "ov", "--cn", "www.example.com",
                   "--org-name", "Acme BV", "--org-country", "NL", "--org-locality", "Utrecht", "--org-zip", "3511",
                   "--approver-first-name", "Ada", "--approver-last-name", "Lovelace",
                   "--approver-email", "ada@example.com", "--approver-phone", "+31 30 1234567",
                   "--plan", "0b6d2a36-0f5c-4bb8-9e3b-9a0a4fb3b0a1", "--dcv", "dns", "--validity-strict",
                   "--validity-days", "90", "--deliver-to-acm", "us-east-1")
    assert result.exit_code == 0, result.output
    body = h.session.bodies("POST /certificates")[0]
    assert body["organization"] == {"name": "Acme BV", "country": "NL", "locality": "Utrecht", "zip_code": "3511"}
    assert body["approver"] == {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com",
                                "phone": "+31 30 1234567"}
    assert body["provider_options"] == {"plan": "0b6d2a36-0f5c-4bb8-9e3b-9a0a4fb3b0a1"}
    assert body["validity_strict"] is True and body["deliver_to"] == {"acm": {"region": "us-east-1"}}

    h.session.sent.clear()
    result = h.run("order", "--provider", "digicert", "--cn", "www.example.com", "--organization-id", "12",
                   "--order-validity", "3", "--signature-hash", "sha384", "--no-skip-approval",
                   "--digicert-org-id", "12")
    assert result.exit_code == 0, result.output
    body = h.session.bodies("POST /certificates")[0]
    assert body["provider_options"] == {"organization_id": 12, "signature_hash": "sha384", "skip_approval": False,
                                        "order_validity_years": 3}
    assert body["organization"] == {"digicert_org_id": 12}

    h.session.sent.clear()
    assert h.run("order", "--provider", "tinycert", "--cn", "a.example", "--ca-id", "7").exit_code == 0
    assert h.session.bodies("POST /certificates")[0]["provider_options"] == {"ca_id": 7}


def test_authorities_list_show_pem_create_delete(h: Harness, tmp_path: Path) -> None:
    ca = {"id": "7", "name": "Acme CA", "details": {"country": "NL", "organization": "Acme"},
          "certificate_pem": "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n"}
    h.session.routes["GET /providers/tinycert/authorities"] = (200, {}, {"items": [ca], "next_token": None})
    h.session.routes["GET /providers/tinycert/authorities/7"] = (200, {}, ca)
    h.session.routes["GET /providers/tinycert/authorities/7/pem"] = (200, {"Content-Type": "application/x-pem-file"},
                                                                    ca["certificate_pem"])
    h.session.routes["POST /providers/tinycert/authorities"] = (201, {}, ca)
    h.session.routes["DELETE /providers/tinycert/authorities/7"] = (204, {"Content-Type": "text/plain"}, b"")
    listed = h.run("authorities", "list")
    assert listed.stdout.splitlines()[1].split() == ["7", "Acme", "CA", "yes"]
    assert json.loads(h.run("--output", "json", "authorities", "list").stdout)["items"] == [ca]
    assert "country: NL" in h.run("authorities", "show", "7").stdout
    pem = tmp_path / "ca.pem"
    assert h.run("authorities", "pem", "7", "-o", str(pem)).exit_code == 0
    assert pem.read_text() == ca["certificate_pem"]
    assert h.run("authorities", "pem", "7").stdout.startswith("-----BEGIN CERTIFICATE-----")
    created = h.run("authorities", "create", "--country", "NL", "--organization", "Acme", "--hash-method", "sha256")
    assert created.exit_code == 0 and created.stdout.strip() == "7: Acme CA"
    assert h.session.bodies("POST /providers/tinycert/authorities") == [
        {"country": "NL", "organization": "Acme", "hash_method": "sha256"}]
    deleted = h.run("authorities", "delete", "7", "--force", "--yes")
    assert deleted.exit_code == 0, deleted.output
    assert [parse_qs(urlsplit(r.url).query) for r in h.session.sent if r.method == "DELETE"] == [{"force": ["true"]}]


def test_imports_start_waits_for_the_import_and_show_reads_it(h: Harness) -> None:
    job = {"id": "imp_" + "a" * 32, "status": "running", "provider": "tinycert", "filters": {},
           "counters": {"pages": 1, "found": 3, "created": 0, "updated": 0, "unchanged": 0, "skipped": 0,
                        "errors": 0}, "started_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"}
    done = {**job, "status": "completed", "runs": 1, "skipped": {"not_owned": 1},
            "counters": {**job["counters"], "created": 2, "skipped": 1}}
    h.session.routes["POST /imports"] = (202, {}, job)
    h.session.routes[f"GET /imports/{job['id']}"] = [(200, {}, job), (200, {}, done)]
    result = h.run("imports", "start", "--provider", "tinycert", "--ca-id", "7", "--state", "2", "--page-size", "50",
                   "--wait")
    assert result.exit_code == 0, result.output
    assert h.session.bodies("POST /imports") == [{"provider": "tinycert", "filters": {"ca_id": 7, "state": 2},
                                                  "page_size": 50}]
    assert "completed" in result.stdout and "created 2" in result.stdout and "not_owned 1" in result.stdout
    assert h.clock.sleeps == [1.0, 1.5]
    shown = h.run("--output", "json", "imports", "show", job["id"])
    assert json.loads(shown.stdout)["id"] == job["id"]


def test_imports_list_and_sync_and_the_new_listing_filters(h: Harness) -> None:
    job = {"id": "imp_" + "b" * 32, "status": "completed", "provider": "digicert", "filters": {},
           "counters": {"pages": 1, "found": 0, "created": 0, "updated": 0, "unchanged": 0, "skipped": 0,
                        "errors": 0}, "started_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"}
    h.session.routes["GET /imports"] = (200, {}, {"items": [job], "next_token": None})
    h.session.routes["POST /imports/sync"] = (202, {}, {"items": [job], "next_token": None})
    h.session.routes["GET /certificates"] = (200, {}, {"items": [cert("issued")], "next_token": None})
    listed = h.run("--output", "json", "imports", "list", "--provider", "digicert")
    assert listed.exit_code == 0, listed.output
    assert [j["id"] for j in json.loads(listed.stdout)] == [job["id"]]
    assert parse_qs(urlsplit(h.session.sent[-1].url).query) == {"provider": ["digicert"]}
    synced = h.run("imports", "sync", "digicert")
    assert synced.exit_code == 0 and "completed" in synced.stdout
    assert h.session.bodies("POST /imports/sync") == [{"provider": "digicert"}]
    assert h.run("list", "--expiring-within", "30d", "--domain", ".example.com").exit_code == 0
    assert parse_qs(urlsplit(h.session.sent[-1].url).query) == {"expiring_within": ["30d"],
                                                                "domain": [".example.com"]}


def test_refresh_and_health(h: Harness) -> None:
    h.session.routes[f"POST /certificates/{CERT_ID}/refresh"] = (200, {}, cert("issued"))
    h.session.routes["GET /health"] = (200, {}, {"status": "ok", "stage": "local"})
    h.session.routes["GET /health/ready"] = problem(503, "dependency_unavailable", "table: ResourceNotFoundException",
                                                    checks={"table": "ResourceNotFoundException", "bucket": "ok"})
    assert "0abc" in h.run("refresh", CERT_ID).stdout
    assert h.run("health").stdout.splitlines() == ["ok (stage local)"]
    ready = h.run("health", "--ready")
    assert ready.exit_code == cli_mod.EXIT_SERVER_ERROR
    assert "  table: ResourceNotFoundException" in ready.stderr and "  bucket: ok" in ready.stderr


def test_a_named_profile_signs(h: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_REGION",
                "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(var, raising=False)
    (tmp_path / "credentials").write_text("[platform]\naws_access_key_id = AKIDPLATFORM\naws_secret_access_key = p\n")
    (tmp_path / "config").write_text("[profile platform]\nregion = eu-central-1\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    h.session.routes["GET /certificates"] = (200, {}, {"items": [], "next_token": None})
    result = h.run("--url", "https://certs.example.com", "--profile", "platform", "list")
    assert result.exit_code == 0, result.output
    assert "Credential=AKIDPLATFORM/" in h.session.sent[0].headers["Authorization"]
    assert "/eu-central-1/execute-api/" in h.session.sent[0].headers["Authorization"]
    unknown = h.run("--url", "https://certs.example.com", "--profile", "nope", "list")
    assert unknown.exit_code == 2 and "nope" in unknown.stderr


def test_the_default_url_follows_the_stack_port_and_the_output_the_environment(h: Harness) -> None:
    h.session.routes["GET /certificates"] = (200, {}, {"items": [cert()], "next_token": None})
    result = h.run("list", env={"CERTGATE_API_PORT": "8123", "CERTGATE_OUTPUT": "json"})
    assert result.exit_code == 0, result.output
    assert h.session.sent[0].url == "http://127.0.0.1:8123/certificates"
    assert json.loads(result.stdout)["items"][0]["id"] == CERT_ID


@pytest.mark.parametrize(("shell", "marker"), [("bash", "complete -o nosort -F _certgate_completion certgate"),
                                               ("zsh", "compdef _certgate_completion certgate"),
                                               ("fish", "complete --no-files --command certgate")])
def test_completion_scripts(h: Harness, shell: str, marker: str) -> None:
    result = h.run("completion", shell)
    assert result.exit_code == 0 and marker in result.stdout
    assert "_CERTGATE_COMPLETE" in result.stdout


def test_completion_completes_commands_and_choices() -> None:
    from click.shell_completion import ShellComplete

    complete = ShellComplete(cli, {}, "certgate", "_CERTGATE_COMPLETE")
    assert {"order", "authorities", "imports"} <= {c.value for c in complete.get_completions([], "")}
    assert [c.value for c in complete.get_completions(["download", CERT_ID, "--format"], "pk")] == ["pkcs7", "pkcs12"]


def test_openapi_prints_the_document(h: Harness) -> None:
    h.session.routes["GET /openapi.json"] = (200, {}, {"openapi": "3.1.0", "paths": {}})
    assert json.loads(h.run("openapi").stdout)["openapi"] == "3.1.0"


def test_output_is_taken_after_the_command_too(h: Harness, tmp_path: Path) -> None:
    h.session.routes["GET /certificates"] = (200, {}, {"items": [cert()], "next_token": None})
    assert json.loads(h.run("list", "--output", "json").stdout)["items"][0]["id"] == CERT_ID
    assert json.loads(h.run("--output", "table", "list", "--output", "json").stdout)["next_token"] is None
    h.session.routes[f"GET /certificates/{CERT_ID}/download"] = (200, {"Content-Type": "application/x-pem-file"}, "PEM")
    out = tmp_path / "leaf.pem"
    assert h.run("download", CERT_ID, "--output", str(out)).exit_code == 0  # here --output is the file
    assert out.read_text() == "PEM"
