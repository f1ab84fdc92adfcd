"""The Python client library (client/certgate) against a scripted transport and a local HTTP server:
problem+json to typed errors, retries, pagination, wait_until_issued's backoff (fake clock), request
bodies, SigV4 with a named profile, and the urllib3 transport on the wire."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

import certgate
from certgate import (
    Approver,
    Authority,
    Certificate,
    CertificateNotIssued,
    Client,
    ConfigurationError,
    ConnectionFailed,
    ImportFilters,
    KeySpec,
    Organization,
    ProviderOptions,
    San,
    WaitTimeout,
)
from certgate.errors import ApiError, ClientError, ProviderError, ServerError
from certgate.transport import HttpRequest, HttpResponse

CERT_ID = "crt_0123456789abcdef0123456789abcdef"


def cert(status: str = "pending", **extra: Any) -> dict[str, Any]:
    base = {"id": CERT_ID, "status": status, "provider": "resello", "product": "ov", "common_name": "www.example.com",
            "sans": [{"type": "dns", "value": "www.example.com"}], "origin": "ordered", "key_source": "gateway",
            "private_key_held": True, "auto_renew": False, "dcv_method": "dns",
            "provider_refs": {"order_id": "42", "certificate_id": None, "status": "pending"}, "revision": 1,
            "operation": "order" if status == "pending" else None, "created_at": "2026-01-01T00:00:00.000000Z",
            "updated_at": "2026-01-01T00:00:00.000000Z", "revisions": []}
    if status == "issued":
        base.update(serial="0abc", not_after="2027-01-01T00:00:00.000000Z", issued_revision=1)
    return {**base, **extra}


def problem(status: int, code: str, **extra: Any) -> tuple[int, dict[str, str], dict[str, Any]]:
    return status, {"Content-Type": "application/problem+json"}, {
        "type": f"https://certgate.dev/problems/{code.replace('_', '-')}", "title": code, "status": status,
        "detail": f"{code} happened", "code": code, **extra}


@dataclass
class Scripted:
    """A transport answering "METHOD /path" from a list of answers, used in turn (the last one repeats)."""

    routes: dict[str, list[Any]] = field(default_factory=dict)
    sent: list[HttpRequest] = field(default_factory=list)

    def send(self, request: HttpRequest, timeout: float) -> HttpResponse:
        self.sent.append(request)
        key = f"{request.method} {urlsplit(request.url).path}"
        answers = self.routes[key]
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, Exception):
            raise answer
        status, headers, body = answer
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {"content-type": "application/json", **{k.lower(): v for k, v in headers.items()}}
        return HttpResponse(status, headers, content)

    def queries(self) -> list[dict[str, list[str]]]:
        return [parse_qs(urlsplit(r.url).query) for r in self.sent]


class Clock:
    def __init__(self) -> None:
        self.now, self.sleeps = 0.0, []  # type: ignore[var-annotated]

    def __call__(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.now += s


@pytest.fixture()
def clock() -> Clock:
    return Clock()


def client_with(t: Scripted, clock: Clock, url: str = "http://127.0.0.1:8000", **kw: Any) -> Client:
    return Client(url, transport=t, sleep=clock.sleep, clock=clock, **kw)


# -- problems become typed errors ---------------------------------------------------------------------------
@pytest.mark.parametrize(("status", "code", "cls", "families"), [
    (400, "invalid_next_token", certgate.BadRequest, (ClientError,)),
    (401, "unauthorized", certgate.Unauthorized, (ClientError,)),
    (403, "forbidden", certgate.Forbidden, (ClientError,)),
    (404, "not_found", certgate.NotFound, (ClientError,)),
    (405, "method_not_allowed", certgate.MethodNotAllowed, (ClientError,)),
    (406, "not_acceptable", certgate.NotAcceptable, (ClientError,)),
    (409, "idempotency_key_reused", certgate.Conflict, (ClientError,)),
    (413, "payload_too_large", certgate.PayloadTooLarge, (ClientError,)),
    (415, "unsupported_media_type", certgate.UnsupportedMediaType, (ClientError,)),
    (422, "validation_failed", certgate.ValidationFailed, (ClientError,)),
    (422, "unsupported_operation", certgate.UnsupportedOperation, (ClientError, ProviderError)),
    (422, "provider_rejected", certgate.ProviderRejected, (ClientError, ProviderError)),
    (409, "provider_conflict", certgate.ProviderConflict, (ClientError, ProviderError)),
    (500, "internal_error", certgate.InternalError, (ServerError,)),
    (502, "provider_protocol_error", certgate.ProviderFailed, (ServerError, ProviderError)),
    (502, "provider_authentication_failed", certgate.ProviderFailed, (ServerError, ProviderError)),
    (503, "provider_rate_limited", certgate.ProviderUnavailable, (ServerError, ProviderError)),
    (503, "provider_not_configured", certgate.ProviderUnavailable, (ServerError, ProviderError)),
    (503, "dependency_unavailable", certgate.ServiceUnavailable, (ServerError,)),
    (504, "provider_timeout", certgate.ProviderTimeout, (ServerError, ProviderError, certgate.ProviderUnavailable)),
    (502, "provider_something_new", certgate.ProviderFailed, (ServerError, ProviderError)),
])
def test_each_problem_type_family_has_its_class(clock: Clock, status: int, code: str, cls: type[ApiError],
                                                families: tuple[type[ApiError], ...]) -> None:
    t = Scripted({f"POST /certificates/{CERT_ID}/revoke": [problem(status, code, provider="digicert")]})
    with pytest.raises(cls) as err:
        client_with(t, clock).revoke(CERT_ID)
    assert type(err.value) is cls
    assert all(isinstance(err.value, f) for f in families)
    assert (err.value.status, err.value.code) == (status, code)
    assert err.value.type == f"https://certgate.dev/problems/{code.replace('_', '-')}"


def test_a_validation_problem_names_its_fields() -> None:
    t = Scripted({"POST /certificates": [problem(422, "validation_failed", errors=[
        {"field": "common_name", "message": "must be a valid DNS name"},
        {"field": "sans[1].type", "message": "must be one of dns, ip, email, uri"}])]})
    with pytest.raises(certgate.ValidationFailed) as err:
        Client("http://127.0.0.1:8000", transport=t).order("tinycert", "bad name")
    assert err.value.field == "common_name"
    assert err.value.fields == ("common_name", "sans[1].type")
    assert err.value.errors[1].message == "must be one of dns, ip, email, uri"
    assert err.value.detail == "validation_failed happened"


def test_a_failure_after_the_order_was_recorded_names_the_certificate(clock: Clock) -> None:
    t = Scripted({"POST /certificates": [problem(503, "provider_unavailable", provider="resello",
                                                  certificate_id=CERT_ID, certificate_status="pending")]})
    with pytest.raises(certgate.ProviderUnavailable) as err:
        client_with(t, clock).order("resello", "www.example.com")
    assert (err.value.certificate_id, err.value.certificate_status, err.value.provider) == (CERT_ID, "pending",
                                                                                           "resello")
    assert len(t.sent) == 1  # the order exists: never re-sent, even with its idempotency key


def test_an_error_from_in_front_of_the_api_is_still_typed(clock: Clock) -> None:
    t = Scripted({"GET /providers": [(403, {"Content-Type": "text/plain"}, b"Missing Authentication Token")]})
    with pytest.raises(certgate.Forbidden) as err:
        client_with(t, clock).providers()
    assert err.value.status == 403 and err.value.detail == "Missing Authentication Token"


# -- retries --------------------------------------------------------------------------------------------------
def test_an_order_is_retried_with_the_same_idempotency_key(clock: Clock) -> None:
    t = Scripted({"POST /certificates": [problem(503, "provider_unavailable"), ConnectionFailed("reset"),
                                         (201, {"Idempotent-Replayed": "true"}, cert("issued"))]})
    result = client_with(t, clock).order("resello", "www.example.com")
    keys = {r.headers["Idempotency-Key"] for r in t.sent}
    assert len(t.sent) == 3 and len(keys) == 1
    assert result.idempotency_key in keys and result.replayed is True
    assert result.certificate.status == "issued"
    assert clock.sleeps == [1.0, 2.0]


def test_retry_after_is_honoured_and_capped(clock: Clock) -> None:
    t = Scripted({f"GET /certificates/{CERT_ID}": [(503, {"Retry-After": "120"}, {"code": "service_unavailable"}),
                                                   (200, {}, cert())]})
    client_with(t, clock).get_certificate(CERT_ID)
    assert clock.sleeps == [30.0]


def test_a_cancel_is_sent_once(clock: Clock) -> None:
    t = Scripted({f"DELETE /certificates/{CERT_ID}": [problem(503, "provider_unavailable")]})
    with pytest.raises(certgate.ProviderUnavailable):
        client_with(t, clock).cancel(CERT_ID)
    assert len(t.sent) == 1


# -- pagination -----------------------------------------------------------------------------------------------
def test_iter_certificates_fetches_pages_as_it_goes(clock: Clock) -> None:
    other = cert("issued", id="crt_" + "f" * 32)
    t = Scripted({"GET /certificates": [(200, {}, {"items": [cert()], "next_token": "t1"}),
                                        (200, {}, {"items": [other], "next_token": None})]})
    client = client_with(t, clock)
    it = client.iter_certificates(status="issued", page_size=1,
                                  expires_before=datetime(2027, 1, 1, tzinfo=UTC))
    first = next(it)
    assert first.id == CERT_ID and len(t.sent) == 1  # lazily: the second page only when needed
    assert [c.id for c in it] == ["crt_" + "f" * 32]
    assert t.queries() == [
        {"status": ["issued"], "expires_before": ["2027-01-01T00:00:00+00:00"], "limit": ["1"]},
        {"status": ["issued"], "expires_before": ["2027-01-01T00:00:00+00:00"], "limit": ["1"],
         "next_token": ["t1"]}]


def test_iter_events_and_one_page(clock: Clock) -> None:
    ev = {"event_id": "evt_" + "1" * 32, "event": "certificate.issued", "occurred_at": "2026-01-01T00:00:00Z",
          "actor": "poller", "from_status": "pending", "to_status": "issued", "revision": 1, "detail": {"x": 1}}
    t = Scripted({f"GET /certificates/{CERT_ID}/events": [(200, {}, {"items": [ev], "next_token": "n"})] * 2
                  + [(200, {}, {"items": [ev], "next_token": None})]})
    client = client_with(t, clock)
    page = client.list_events(CERT_ID, limit=1)
    assert page.next_token == "n" and page.items[0].to_status == "issued" and page.items[0].detail == {"x": 1}
    assert len(list(client.iter_events(CERT_ID))) == 2


# -- wait_until_issued ---------------------------------------------------------------------------------------------
def test_wait_until_issued_backs_off_to_the_cap(clock: Clock) -> None:
    t = Scripted({f"POST /certificates/{CERT_ID}/refresh": [(200, {}, cert())] * 8 + [(200, {}, cert("issued"))]})
    done = client_with(t, clock).wait_until_issued(Certificate.from_json(cert()), max_delay=10)
    assert done.status == "issued" and done.serial == "0abc"
    assert clock.sleeps == [2.0, 3.0, 4.5, 6.75, 10.0, 10.0, 10.0, 10.0, 10.0]


def test_wait_until_issued_reads_the_record_while_the_provider_is_down(clock: Clock) -> None:
    t = Scripted({f"POST /certificates/{CERT_ID}/refresh": [problem(503, "provider_unavailable"),
                                                            (200, {}, cert("issued"))],
                  f"GET /certificates/{CERT_ID}": [(200, {}, cert())]})
    assert client_with(t, clock).wait_until_issued(CERT_ID).status == "issued"
    # Given an id it reads the certificate first; a refresh failing for a passing reason reads the record.
    methods = [f"{r.method} {urlsplit(r.url).path.rsplit('/', 1)[-1]}" for r in t.sent]
    assert methods == ["GET " + CERT_ID, "POST refresh", "GET " + CERT_ID, "POST refresh"]


def test_wait_until_issued_raises_when_the_certificate_fails(clock: Clock) -> None:
    t = Scripted({f"POST /certificates/{CERT_ID}/refresh": [
        (200, {}, cert("failed", failure={"code": "provider_rejected", "reason": "domain is blocked"}))]})
    with pytest.raises(CertificateNotIssued) as err:
        client_with(t, clock).wait_until_issued(Certificate.from_json(cert()))
    assert err.value.certificate.status == "failed" and "domain is blocked" in str(err.value)


def test_wait_until_issued_times_out_with_the_last_state(clock: Clock) -> None:
    t = Scripted({f"POST /certificates/{CERT_ID}/refresh": [(200, {}, cert())]})
    with pytest.raises(WaitTimeout) as err:
        client_with(t, clock).wait_until_issued(Certificate.from_json(cert()), timeout=20)
    assert sum(clock.sleeps) == pytest.approx(20.0)
    assert err.value.certificate.id == CERT_ID


def test_wait_until_issued_does_not_swallow_a_real_error(clock: Clock) -> None:
    t = Scripted({f"POST /certificates/{CERT_ID}/refresh": [problem(404, "not_found")]})
    with pytest.raises(certgate.NotFound):
        client_with(t, clock).wait_until_issued(Certificate.from_json(cert()))


# -- request bodies ----------------------------------------------------------------------------------------------
def test_an_order_sends_every_option(clock: Clock) -> None:
    t = Scripted({"POST /certificates": [(202, {}, cert())]})
    client_with(t, clock, principal="alice").order(
        "resello", "www.example.com", product="ev", sans=["example.com", San("10.0.0.1", "ip")],
        key=KeySpec("ec", 384), dcv_method="email", validity_days=90, validity_strict=True,
        organization=Organization(name="Acme", country="NL", digicert_org_id=None),
        approver=Approver(first_name="Ada", email="ada@example.com"),
        provider_options=ProviderOptions(plan="0b6d2a36-0f5c-4bb8-9e3b-9a0a4fb3b0a1", order_validity_years=2),
        auto_renew=True, client_reference="ref-1", deliver_to_acm_region="us-east-1", idempotency_key="k1")
    sent = t.sent[0]
    assert sent.headers["Idempotency-Key"] == "k1" and sent.headers["X-Certgate-Principal"] == "alice"
    assert sent.headers["Content-Type"] == "application/json"
    assert json.loads(sent.body or b"") == {
        "provider": "resello", "common_name": "www.example.com", "product": "ev",
        "sans": [{"type": "dns", "value": "example.com"}, {"type": "ip", "value": "10.0.0.1"}],
        "key": {"type": "ec", "size": 384}, "dcv_method": "email", "validity_days": 90, "validity_strict": True,
        "organization": {"name": "Acme", "country": "NL"}, "approver": {"first_name": "Ada", "email": "ada@example.com"},
        "provider_options": {"plan": "0b6d2a36-0f5c-4bb8-9e3b-9a0a4fb3b0a1", "order_validity_years": 2},
        "auto_renew": True, "client_reference": "ref-1", "deliver_to": {"acm": {"region": "us-east-1"}}}


def test_a_csr_and_a_key_are_refused_before_sending(clock: Clock) -> None:
    t = Scripted()
    with pytest.raises(ConfigurationError):
        client_with(t, clock).order("resello", "a.example", csr="-----BEGIN...", key=KeySpec())
    assert t.sent == []


def test_the_authority_id_the_api_lists_is_the_ca_id_an_order_takes(clock: Clock) -> None:
    t = Scripted({"GET /providers/tinycert/authorities": [(200, {}, {"items": [
        {"id": "7", "name": "Acme CA", "details": {"country": "NL"}, "certificate_pem": None}], "next_token": None})],
        "POST /certificates": [(201, {}, cert("issued", provider="tinycert"))]})
    client = client_with(t, clock)
    (ca,) = client.list_authorities()
    assert isinstance(ca, Authority) and ca.id == 7
    client.order("tinycert", "a.example", provider_options=ProviderOptions(ca_id=ca.id))
    assert json.loads(t.sent[1].body or b"")["provider_options"] == {"ca_id": 7}


def test_imports_and_downloads(clock: Clock) -> None:
    job = {"id": "imp_" + "a" * 32, "status": "running", "provider": "tinycert", "filters": {"ca_id": 7},
           "counters": {"pages": 1, "found": 3, "created": 2, "updated": 0, "unchanged": 1, "skipped": 0,
                        "errors": 0}, "started_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:01Z"}
    t = Scripted({"POST /imports": [(202, {}, job)],
                  f"POST /certificates/{CERT_ID}/download": [
                      (200, {"Content-Type": "application/x-pkcs12",
                             "Content-Disposition": f'attachment; filename="{CERT_ID}.p12"'}, b"\x30\x82")]})
    client = client_with(t, clock)
    started = client.start_import("tinycert", filters=ImportFilters(ca_id=7, state=2), page_size=50)
    assert started.counters.created == 2 and not started.done
    assert json.loads(t.sent[0].body or b"") == {"provider": "tinycert", "filters": {"ca_id": 7, "state": 2},
                                                 "page_size": 50}
    got = client.download(CERT_ID, "pkcs12", passphrase="correct horse", revision=2)
    assert (got.content, got.content_type, got.filename) == (b"\x30\x82", "application/x-pkcs12", f"{CERT_ID}.p12")
    assert t.sent[1].headers["Accept"] == "application/x-pkcs12"
    assert t.queries()[1] == {"revision": ["2"]}


def test_responses_keep_what_this_version_does_not_know(clock: Clock) -> None:
    t = Scripted({f"GET /certificates/{CERT_ID}": [(200, {}, cert("issued", status_reason_2030="new",
                                                                  revocation=None))]})
    c = client_with(t, clock).get_certificate(CERT_ID)
    assert c.raw["status_reason_2030"] == "new"
    assert c.not_after == datetime(2027, 1, 1, tzinfo=UTC)
    assert c.sans == (San("www.example.com"),)


# -- where requests go, signed as whom ---------------------------------------------------------------------
def test_the_url_defaults_to_the_local_stack_on_its_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CERTGATE_URL", raising=False)
    monkeypatch.setenv("CERTGATE_API_PORT", "8123")
    assert Client(transport=Scripted()).url == "http://127.0.0.1:8123"
    monkeypatch.setenv("CERTGATE_URL", "https://certs.example.com/api/")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    assert Client(region="eu-west-1", transport=Scripted()).url == "https://certs.example.com/api"


@pytest.fixture()
def aws_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_REGION",
                "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(var, raising=False)
    (tmp_path / "credentials").write_text("[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = d\n"
                                          "[platform]\naws_access_key_id = AKIDPLATFORM\naws_secret_access_key = p\n")
    (tmp_path / "config").write_text("[profile platform]\nregion = ap-southeast-2\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    return "platform"


def test_a_named_profile_signs_with_its_credentials_and_region(aws_profile: str, clock: Clock) -> None:
    t = Scripted({"GET /api/providers": [(200, {}, {"items": [], "next_token": None})]})
    client_with(t, clock, url="https://certs.example.com/api", profile=aws_profile).providers()
    auth = t.sent[0].headers["Authorization"]
    assert auth.startswith("AWS4-HMAC-SHA256 Credential=AKIDPLATFORM/")
    assert "/ap-southeast-2/execute-api/aws4_request" in auth
    assert "X-Certgate-Principal" not in t.sent[0].headers


def test_the_url_region_wins_over_the_profile_and_an_unknown_profile_is_a_configuration_error(
        aws_profile: str, clock: Clock) -> None:
    t = Scripted({"GET /api/providers": [(200, {}, {"items": [], "next_token": None})]})
    client_with(t, clock, url="https://x1.execute-api.eu-west-1.amazonaws.com/api", profile=aws_profile).providers()
    assert "/eu-west-1/execute-api/" in t.sent[0].headers["Authorization"]
    with pytest.raises(ConfigurationError, match="nope"):
        client_with(t, clock, url="https://certs.example.com", profile="nope")


def test_a_principal_with_signing_is_a_configuration_error(aws_profile: str) -> None:
    with pytest.raises(ConfigurationError, match="local stage only"):
        Client("https://x1.execute-api.eu-west-1.amazonaws.com/api", principal="bob", transport=Scripted())


# -- the urllib3 transport on the wire ----------------------------------------------------------------------
class _Recorder(BaseHTTPRequestHandler):
    seen: list[tuple[str, str, dict[str, str], bytes]] = []

    def log_message(self, *args: Any) -> None:
        pass

    def _answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        type(self).seen.append((self.command, self.path, dict(self.headers.items()), body))
        if self.path.endswith("/download?format=der"):
            payload, ctype = b"\x30\x82\x01\x00", "application/pkix-cert"
        elif self.command == "POST":
            payload, ctype = json.dumps(problem(422, "validation_failed", errors=[
                {"field": "common_name", "message": "bad"}])[2]).encode(), "application/problem+json"
        else:
            payload, ctype = json.dumps({"items": [cert()], "next_token": None}).encode(), "application/json"
        self.send_response(422 if ctype == "application/problem+json" else 200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _answer


@pytest.fixture()
def server() -> Iterator[str]:
    _Recorder.seen = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_the_default_transport_on_the_wire(server: str) -> None:
    client = Client(server, principal="alice")
    page = client.list_certificates(status="pending", common_name="www.example.com")
    assert page.items[0].id == CERT_ID
    assert client.download(CERT_ID, "der").content == b"\x30\x82\x01\x00"
    with pytest.raises(certgate.ValidationFailed) as err:
        client.order("tinycert", "bad name", idempotency_key="k")
    assert err.value.field == "common_name"
    (m1, p1, h1, _), (_, p2, h2, _), (m3, _, h3, b3) = _Recorder.seen
    assert (m1, p1) == ("GET", "/certificates?status=pending&common_name=www.example.com")
    assert h1["X-Certgate-Principal"] == "alice" and h1["Accept"] == "application/json"
    assert h2["Accept"] == "application/pkix-cert"
    assert m3 == "POST" and h3["Content-Type"] == "application/json" and h3["Idempotency-Key"] == "k"
    assert json.loads(b3) == {"provider": "tinycert", "common_name": "bad name"}


def test_no_answer_is_connection_failed_after_the_safe_retries() -> None:
    sleeps: list[float] = []
    with pytest.raises(ConnectionFailed, match="cannot reach http://127.0.0.1:9"):
        Client("http://127.0.0.1:9", sleep=sleeps.append, timeout=2).get_certificate(CERT_ID)
    assert sleeps == [1.0, 2.0]


def test_the_client_closes_its_transport() -> None:
    closed: list[bool] = []

    class Closing(Scripted):
        def close(self) -> None:
            closed.append(True)

    with Client("http://127.0.0.1:8000", transport=Closing()) as client:
        assert client.url == "http://127.0.0.1:8000"
    assert closed == [True]
