"""The Python client (client/certgate) against the real app through chalice.test.Client, on moto and the
simulators: what the client sends is what the routes accept, and every response it parses is one the app
really gives (each also checked against the OpenAPI document, as call() responses are)."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlsplit

import pytest
from cryptography import x509

import certgate
from certgate import Client, KeySpec, ProviderOptions, San
from certgate.transport import HttpRequest, HttpResponse
from tests.functional import conftest as recorder


class ChaliceTransport:
    """certgate.Transport over chalice.test.Client: the app in-process, as Lambda would run it."""

    def __init__(self, chalice_client: Any) -> None:
        self._http = chalice_client.http

    def send(self, request: HttpRequest, timeout: float) -> HttpResponse:
        parts = urlsplit(request.url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        resp = self._http.request(request.method, path, headers=request.headers, body=request.body or b"")
        headers = {k.lower(): v for k, v in resp.headers.items()}
        content = resp.body if isinstance(resp.body, bytes) else (resp.body or "").encode()
        parsed: Any = content
        if "json" in headers.get("content-type", ""):
            import json

            parsed = json.loads(content or b"null")
        recorder.RECORDED.append(recorder.RecordedResponse(request.method, path, resp.status_code,
                                                           headers.get("content-type", ""), headers, parsed))
        return HttpResponse(resp.status_code, headers, content)


def cn() -> str:
    return f"c{uuid.uuid4().hex[:10]}.example.com"


def make(client: Any, **kw: Any) -> Client:
    # A local URL: not signed; the principal stands in for the IAM identity (stage test).
    return Client("http://127.0.0.1:8000", principal=f"arn:aws:iam::123456789012:user/py-{uuid.uuid4().hex[:6]}",
                  transport=ChaliceTransport(client), **kw)


def test_providers_and_authorities_parse_and_a_listed_ca_id_is_accepted_by_an_order(client, world):
    api = make(client)
    providers = {p.name: p for p in api.providers()}
    assert {"tinycert", "resello", "digicert"} <= set(providers)
    assert providers["tinycert"].capabilities.authorities is True
    assert "pem" in providers["resello"].capabilities.download_formats
    cas = api.list_authorities()
    assert cas and all(isinstance(ca.id, int) for ca in cas)
    assert api.get_authority(cas[0].id).name == cas[0].name

    name = cn()
    ordered = api.order("tinycert", name, sans=[San("10.1.2.3", "ip")],
                        provider_options=ProviderOptions(ca_id=cas[0].id), client_reference="py-client")
    cert = ordered.certificate
    assert cert.status == "issued" and cert.common_name == name and not ordered.replayed
    assert San("10.1.2.3", "ip") in cert.sans and cert.not_after is not None
    again = api.order("tinycert", name, sans=[San("10.1.2.3", "ip")],
                      provider_options=ProviderOptions(ca_id=cas[0].id), client_reference="py-client",
                      idempotency_key=ordered.idempotency_key)
    assert again.replayed and again.certificate.id == cert.id

    chain = x509.load_pem_x509_certificates(api.download(cert.id, "fullchain").content)
    assert chain[0].serial_number == int(cert.serial or "0", 16)
    der = api.download(cert.id, "der")
    assert der.content_type == "application/pkix-cert" and der.filename
    assert x509.load_der_x509_certificate(der.content) == chain[0]

    assert cert.id in [c.id for c in api.iter_certificates(provider="tinycert", page_size=1)]
    assert "certificate.issued" in [e.event for e in api.iter_events(cert.id)]
    revoked = api.revoke(cert.id, "superseded")
    assert revoked.status == "revoked" and revoked.revocation is not None and revoked.revocation.reason == "superseded"


def test_a_resello_order_is_followed_until_issued_and_downloaded_as_pkcs12(client, world):
    class Clock:
        now = 0.0

    clock = Clock()

    def sleep(seconds: float) -> None:
        clock.now += seconds
        world.advance("resello")  # the provider validates while the client waits

    api = make(client, sleep=sleep, clock=lambda: clock.now)
    ordered = api.order("resello", cn(), key=KeySpec("ec", 256))
    assert ordered.certificate.pending and ordered.certificate.key_source == "gateway"
    validation = api.validation(ordered.certificate.id)
    assert validation.domains and validation.domains[0].method == ordered.certificate.dcv_method
    issued = api.wait_until_issued(ordered.certificate, timeout=120)
    assert issued.status == "issued" and issued.private_key_held
    p12 = api.download(issued.id, "pkcs12", passphrase="correct horse battery")
    assert p12.content_type == "application/x-pkcs12" and len(p12.content) > 100


def test_problems_arrive_as_typed_errors_naming_their_fields(client, world):
    api = make(client)
    assert api.health().status == "ok"
    ready = api.ready()
    assert ready.status == "ok" and ready.checks and set(ready.checks.values()) == {"ok"}
    with pytest.raises(certgate.ValidationFailed) as err:
        api.order("tinycert", "not a name", validity_days=9999)
    assert err.value.status == 422 and err.value.type.endswith("/validation-failed")
    assert {"common_name", "validity_days"} <= set(err.value.fields)
    with pytest.raises(certgate.NotFound):
        api.get_certificate("crt_" + "0" * 32)
    with pytest.raises(certgate.NotFound):
        api.get_import("imp_" + "0" * 32)
    with pytest.raises(certgate.Forbidden):
        api.delete_authority(api.list_authorities()[0].id)  # administrators only
    with pytest.raises(certgate.BadRequest) as bad:
        api.list_certificates(next_token="forged")
    assert bad.value.code == "invalid_next_token"


def test_a_resello_ov_order_with_its_organisation_and_approver_is_accepted(client, world):
    api = make(client)
    with pytest.raises(certgate.ValidationFailed) as err:
        api.order("resello", cn(), product="ov")
    assert {"organization.chamber_of_commerce", "approver.first_name"} <= set(err.value.fields)
    ordered = api.order("resello", cn(), product="ov", organization=certgate.Organization(
        name="Acme BV", country="NL", state="Utrecht", locality="Utrecht", unit="Platform",
        chamber_of_commerce="12345678", address="Stationsplein 1", zip_code="3511 ED"),
        approver=certgate.Approver(first_name="Ada", last_name="Lovelace", email="ada@example.com",
                                   phone="+31 30 123 4567"))
    assert ordered.certificate.product == "ov" and ordered.certificate.status in ("pending", "issued")


def test_the_cli_orders_from_a_ca_it_listed_and_downloads_it(client, world, tmp_path):
    """The `certgate` command on the same transport: what `authorities list` shows, `order --ca-id` takes."""
    import json

    from click.testing import CliRunner

    from certgate.cli.main import Deps, cli

    def run(*args: str) -> Any:
        deps = Deps(transport=ChaliceTransport(client), new_key=lambda: uuid.uuid4().hex)
        return CliRunner().invoke(cli, ["--url", "http://127.0.0.1:8000", "--principal", principal, *args], obj=deps,
                                  catch_exceptions=False)

    principal = f"arn:aws:iam::123456789012:user/cli-{uuid.uuid4().hex[:6]}"
    listed = run("--output", "json", "authorities", "list")
    assert listed.exit_code == 0, listed.output
    ca_id = json.loads(listed.stdout)["items"][0]["id"]
    name = cn()
    ordered = run("--output", "json", "order", "--provider", "tinycert", "--cn", name, "--ca-id", str(ca_id),
                  "--san", "ip:10.9.8.7")
    assert ordered.exit_code == 0, ordered.output
    cert = json.loads(ordered.stdout)
    assert cert["status"] == "issued" and {"type": "ip", "value": "10.9.8.7"} in cert["sans"]
    pem = tmp_path / "leaf.pem"
    assert run("download", cert["id"], "-o", str(pem)).exit_code == 0
    leaf = x509.load_pem_x509_certificate(pem.read_bytes())
    assert leaf.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == name
    refused = run("order", "--provider", "tinycert", "--cn", "not a name")
    assert refused.exit_code == 3 and "  - common_name:" in refused.stderr


def test_the_client_reaches_imports_the_ca_pem_and_the_new_listing_filters(client, world):
    api = make(client)
    providers = {p.name: p for p in api.providers()}
    assert providers["resello"].capabilities.san_types == ("dns",)  # refused up front otherwise
    ca = api.list_authorities()[0]
    pem = api.authority_pem(ca.id)
    assert x509.load_pem_x509_certificate(pem.encode()).subject

    name = cn()
    cert = api.order("tinycert", name).certificate
    soon = [c.id for c in api.iter_certificates(expiring_within="3650d", domain=name)]
    assert soon == [cert.id]
    assert [c.id for c in api.iter_certificates(domain="." + name.split(".", 1)[1]) if c.id == cert.id] == [cert.id]
    with pytest.raises(certgate.ValidationFailed) as bad:
        api.list_certificates(expiring_within="soon")
    assert bad.value.field == "expiring_within"

    job = api.start_import("tinycert")
    assert job.id in [j.id for j in api.iter_imports(provider="tinycert")]
    synced = api.sync_imports("tinycert")
    assert job.id in [j.id for j in synced]
