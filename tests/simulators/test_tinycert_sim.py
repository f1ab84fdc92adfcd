"""The TinyCert simulator over real HTTP, with plain `requests` and a signer written here (not the
adapter's), so the simulator is checked against the documented rules rather than against us."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import re
import shutil
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from simulators import defaults
from simulators.base import SimServer
from simulators.tinycert import TinyCertSim

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
CA_ID = str(defaults.TINYCERT_DEFAULT_CA_ID)
SAN_NAME = re.compile(r"^SANs\[(\d+)\]")


def enc(text: str) -> str:
    return urllib.parse.quote_plus(text, safe="").replace("~", "%7E")


def php_order(params: dict[str, str]) -> list[tuple[str, str]]:
    """The order TinyCert's PHP client signs in (ksort of the top-level names, then the SANs
    list in index order), written here from providers.md, not from the simulator or the adapter."""
    def key(kv: tuple[str, str]) -> tuple[bytes, int]:
        m = SAN_NAME.match(kv[0])
        return (b"SANs", int(m.group(1))) if m else (kv[0].encode(), 0)
    return sorted(params.items(), key=key)


def byte_order(params: dict[str, str]) -> list[tuple[str, str]]:
    """A plain byte sort of the flattened names: what TinyCert must refuse when it differs."""
    return sorted(params.items(), key=lambda kv: kv[0].encode())


def canonical(params: dict[str, str], *, order: Any = php_order, tilde_escaped: bool = True) -> str:
    items = order(params)
    if tilde_escaped:
        return "&".join(f"{enc(k)}={enc(v)}" for k, v in items)
    return "&".join(f"{urllib.parse.quote_plus(k, safe='~')}={urllib.parse.quote_plus(v, safe='~')}"
                    for k, v in items)


def digest(text: str, key: str = defaults.TINYCERT_API_KEY) -> str:
    return hmac.new(key.encode(), text.encode(), hashlib.sha256).hexdigest()


class Api:
    """A minimal TinyCert client for the tests."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.token: str | None = None

    def post(self, endpoint: str, params: dict[str, str] | None = None, *, session: bool = True,
             key: str = defaults.TINYCERT_API_KEY, timeout: float = 10) -> requests.Response:
        p = dict(params or {})
        if session:
            p["token"] = self.token or ""
        body = canonical(p)
        return requests.post(f"{self.url}/api/v1/{endpoint}", data=f"{body}&digest={digest(body, key)}",
                             headers=FORM, timeout=timeout)

    def ok(self, endpoint: str, params: dict[str, str] | None = None) -> Any:
        r = self.post(endpoint, params)
        assert r.status_code == 200, r.text
        return r.json()

    def connect(self) -> Api:
        r = self.post("connect", {"email": defaults.TINYCERT_EMAIL, "passphrase": defaults.TINYCERT_PASSPHRASE},
                      session=False)
        assert r.status_code == 200, r.text
        self.token = r.json()["token"]
        return self

    def new_cert(self, cn: str = "www.example.com", **extra: str) -> str:
        params = {"CN": cn, "C": "US", "O": "ACME, Inc.", "ca_id": CA_ID, "SANs[0][DNS]": cn, **extra}
        return str(self.ok("cert/new", params)["cert_id"])


def assert_error(r: requests.Response, status: int, name: str) -> dict[str, Any]:
    """TinyCert's error: the HTTP status, and `{"code": "<ShortString>", "text": "..."}`."""
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"code", "text"}
    assert body["code"] == name and isinstance(body["text"], str) and body["text"]
    return body


@pytest.fixture(scope="module")
def server() -> Iterator[SimServer]:
    with SimServer(TinyCertSim()) as srv:
        yield srv


@pytest.fixture()
def api(server: SimServer) -> Api:
    requests.post(f"{server.url}/_sim/reset", timeout=5).raise_for_status()
    return Api(server.url).connect()


def set_faults(url: str, **faults: Any) -> None:
    requests.put(f"{url}/_sim/faults", json=faults, timeout=5).raise_for_status()


def orders(url: str) -> list[dict[str, Any]]:
    return requests.get(f"{url}/_sim/orders", timeout=5).json()


# -- protocol and authentication ---------------------------------------------------------------

def test_get_on_an_api_path_is_refused_in_tinycert_shape(api: Api) -> None:
    assert_error(requests.get(f"{api.url}/api/v1/ca/list", timeout=5), 400, "MethodDisallowed")


def test_unknown_endpoint_answers_in_tinycert_shape(api: Api) -> None:
    assert_error(api.post("cert/frobnicate"), 404, "NotFound")


def test_json_suffix_is_accepted(api: Api) -> None:
    listed = api.ok("ca/list.json")
    assert [c["id"] for c in listed] == [defaults.TINYCERT_DEFAULT_CA_ID]


def test_only_a_form_encoded_body_carries_parameters(api: Api) -> None:
    r = requests.post(f"{api.url}/api/v1/ca/list", json={"token": api.token}, timeout=5)
    assert_error(r, 400, "MissingParameter")


@pytest.mark.parametrize(("params", "key", "status", "name"), [
    ({"email": "nobody@example.com", "passphrase": defaults.TINYCERT_PASSPHRASE}, defaults.TINYCERT_API_KEY,
     403, "AccountNotFound"),
    ({"email": defaults.TINYCERT_EMAIL, "passphrase": "wrong"}, defaults.TINYCERT_API_KEY, 403, "PassphraseFailure"),
    ({"email": defaults.TINYCERT_EMAIL, "passphrase": defaults.TINYCERT_PASSPHRASE}, "wrong-key", 403,
     "ApiKeyMismatch"),
    ({"email": defaults.TINYCERT_EMAIL}, defaults.TINYCERT_API_KEY, 400, "MissingParameter"),
])
def test_connect_rejects_bad_credentials(api: Api, params: dict[str, str], key: str, status: int,
                                         name: str) -> None:
    assert_error(api.post("connect", params, session=False, key=key), status, name)


def test_connect_without_digest_is_refused(api: Api) -> None:
    body = canonical({"email": defaults.TINYCERT_EMAIL, "passphrase": defaults.TINYCERT_PASSPHRASE})
    r = requests.post(f"{api.url}/api/v1/connect", data=body, headers=FORM, timeout=5)
    assert_error(r, 400, "MissingParameter")


def test_session_calls_need_a_valid_token_and_signature(api: Api) -> None:
    assert_error(api.post("ca/list", key="wrong-key"), 403, "SignatureFailure")
    # Signed correctly, then a parameter changed in transit.
    body = canonical({"ca_id": CA_ID, "token": api.token or ""})
    tampered = body.replace(f"ca_id={CA_ID}", "ca_id=999")
    r = requests.post(f"{api.url}/api/v1/ca/details", data=f"{tampered}&digest={digest(body)}", headers=FORM,
                      timeout=5)
    assert_error(r, 403, "SignatureFailure")
    api.token = "not-a-token"
    assert_error(api.post("ca/list"), 403, "InvalidToken")


def test_digest_is_over_the_documented_encoding(api: Api) -> None:
    """'~' is %7E, space '+', brackets and non-ASCII percent-encoded, keys sorted by bytes."""
    params = {"C": "DE", "O": "Ärzte ~ [Gruppe] & Co", "L": "a~b", "hash_method": "sha256",
              "token": api.token or ""}
    body = canonical(params)
    assert "%7E" in body and "+" in body and "%5BGruppe%5D" in body
    r = requests.post(f"{api.url}/api/v1/ca/new", data=f"{body}&digest={digest(body)}", headers=FORM, timeout=5)
    assert r.status_code == 200, r.text
    # The same request signed over an encoding that leaves '~' as is must fail.
    loose = canonical(params, tilde_escaped=False)
    assert loose != body
    r = requests.post(f"{api.url}/api/v1/ca/new", data=f"{body}&digest={digest(loose)}", headers=FORM, timeout=5)
    assert_error(r, 403, "SignatureFailure")


def twelve_sans(cn: str = "h0.example.com") -> dict[str, str]:
    params = {"CN": cn, "C": "US", "O": "ACME, Inc.", "ca_id": CA_ID}
    params.update({f"SANs[{i}][DNS]": f"h{i}.example.com" for i in range(12)})
    return params


def send(api: Api, endpoint: str, items: list[tuple[str, str]], signed_over: str) -> requests.Response:
    body = "&".join(f"{enc(k)}={enc(v)}" for k, v in items)
    return requests.post(f"{api.url}/api/v1/{endpoint}", data=f"{body}&digest={digest(signed_over)}",
                         headers=FORM, timeout=10)


def test_with_twelve_sans_the_php_order_is_accepted_and_the_byte_sort_refused(api: Api) -> None:
    params = {**twelve_sans(), "token": api.token or ""}
    php, flat = canonical(params), canonical(params, order=byte_order)
    assert php != flat
    assert php.index("SANs%5B2%5D") < php.index("SANs%5B10%5D")  # index order
    assert flat.index("SANs%5B10%5D") < flat.index("SANs%5B2%5D")  # byte order
    assert_error(send(api, "cert/new", byte_order(params), flat), 403, "SignatureFailure")
    assert orders(api.url) == []
    accepted = send(api, "cert/new", php_order(params), php)
    assert accepted.status_code == 200, accepted.text
    alt = api.ok("cert/details", {"cert_id": str(accepted.json()["cert_id"])})["Alt"]
    assert alt == [{"DNS": f"h{i}.example.com"} for i in range(12)]  # kept in index order


def test_up_to_ten_sans_both_orders_are_the_same_string(api: Api) -> None:
    params = {"CN": "a.example.com", "C": "US", "O": "ACME", "ca_id": CA_ID, "token": api.token or "",
              **{f"SANs[{i}][DNS]": f"s{i}.example.com" for i in range(10)}}
    assert canonical(params) == canonical(params, order=byte_order)
    assert send(api, "cert/new", byte_order(params), canonical(params)).status_code == 200


def test_the_journal_shows_the_body_received_and_the_php_string(api: Api) -> None:
    params = {**twelve_sans(), "token": api.token or ""}
    php = canonical(params)
    assert send(api, "cert/new", php_order(params), php).status_code == 200
    last = requests.get(f"{api.url}/_sim/journal", timeout=5).json()[-1]
    assert last == {"path": "/api/v1/cert/new", "body": f"{php}&digest={digest(php)}", "canonical": php,
                    "digest_ok": True}


PHP_BUILD_QUERY = "$p = json_decode(file_get_contents('php://stdin'), true); ksort($p); echo http_build_query($p, '', '&');"


@pytest.mark.skipif(shutil.which("php") is None, reason="php CLI not installed (make test installs it)")
@pytest.mark.parametrize("value", ["a b", "~tilde~", "[brackets]", "*-_.!'()", "Ärzte & Söhne", "a+b=c%d", "",
                                   "/:;@$,?#", "tab\there", "日本"])
def test_the_simulators_php_string_is_what_php_builds(value: str) -> None:
    """ksort + http_build_query as the real php binary runs them, against the simulator's copy."""
    from simulators.tinycert import php_build_query, php_post

    params = {"token": "t", "O": value, "L": value, "CN": "x", "SANs": [{"DNS": f"h{i}.{value}"} for i in range(12)]}
    out = subprocess.run(["php", "-r", PHP_BUILD_QUERY], input=json.dumps(params), capture_output=True, text=True,
                         timeout=20, check=True).stdout
    flat = [(k, v) for k, v in params.items() if isinstance(v, str)]
    flat += [(f"SANs[{i}][DNS]", san["DNS"]) for i, san in enumerate(params["SANs"])]  # type: ignore[arg-type]
    assert php_build_query(php_post(flat)) == out


def test_tokens_expire_after_the_configured_time() -> None:
    with SimServer(TinyCertSim(token_ttl_s=0.3)) as srv:
        api = Api(srv.url).connect()
        assert api.ok("ca/list")
        time.sleep(0.45)
        assert_error(api.post("ca/list"), 403, "InvalidToken")
        assert api.connect().ok("ca/list")


def test_disconnect_and_admin_expiry_end_sessions(api: Api) -> None:
    assert api.ok("disconnect") == {}
    assert_error(api.post("ca/list"), 403, "InvalidToken")
    api.connect()
    assert requests.post(f"{api.url}/_sim/expire-sessions", timeout=5).json() == {"expired": 1}
    assert_error(api.post("ca/list"), 403, "InvalidToken")


# -- certification authorities -----------------------------------------------------------------

def test_ca_lifecycle(api: Api) -> None:
    details = api.ok("ca/details", {"ca_id": CA_ID})
    assert details["id"] == int(CA_ID) and details["CN"] == f"{details['O']} CA" and details["C"] == "US"
    assert details["E"] == defaults.TINYCERT_EMAIL and details["hash_alg"] == "SHA256"
    new_id = str(api.ok("ca/new", {"C": "NL", "O": "Second Org", "L": "Utrecht", "ST": "Utrecht",
                                   "hash_method": "sha256"})["ca_id"])
    assert {c["id"]: c["name"] for c in api.ok("ca/list")} == {int(CA_ID): details["O"], int(new_id): "Second Org"}
    ca_pem = api.ok("ca/get", {"ca_id": new_id, "what": "cert"})["pem"]
    ca_cert = x509.load_pem_x509_certificate(ca_pem.encode())
    assert ca_cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    cert_id = api.new_cert(ca_id=new_id)
    assert api.ok("ca/delete", {"ca_id": new_id}) == {}
    assert [c["id"] for c in api.ok("ca/list")] == [int(CA_ID)]
    assert_error(api.post("ca/details", {"ca_id": new_id}), 404, "NotFound")
    assert_error(api.post("cert/details", {"cert_id": cert_id}), 404, "NotFound")  # deleted with its CA


def test_ca_new_takes_no_ou_every_ca_is_secure_digital_certificate_signing(api: Api) -> None:
    """The PHP client's ca_new sends no OU; ca_details: OU always "Secure Digital Certificate
    Signing", CN always O + " CA". An OU sent anyway changes nothing."""
    ca_id = str(api.ok("ca/new", {"C": "DE", "O": "Unit Test Org", "OU": "Ops", "hash_method": "sha1"})["ca_id"])
    details = api.ok("ca/details", {"ca_id": ca_id})
    assert (details["OU"], details["CN"], details["hash_alg"]) == (
        "Secure Digital Certificate Signing", "Unit Test Org CA", "SHA1")
    ca_cert = x509.load_pem_x509_certificate(api.ok("ca/get", {"ca_id": ca_id, "what": "cert"})["pem"].encode())
    units = [a.value for a in ca_cert.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATIONAL_UNIT_NAME)]
    assert units == ["Secure Digital Certificate Signing"]


def test_ca_delete_deletes_every_certificate_of_that_ca_only(api: Api) -> None:
    doomed = str(api.ok("ca/new", {"C": "NL", "O": "Doomed", "hash_method": "sha256"})["ca_id"])
    gone = [api.new_cert(f"g{i}.example.com", ca_id=doomed) for i in range(3)]
    kept = api.new_cert("kept.example.com")
    api.ok("ca/delete", {"ca_id": doomed})
    for cert_id in gone:
        assert_error(api.post("cert/details", {"cert_id": cert_id}), 404, "NotFound")
        assert_error(api.post("cert/get", {"cert_id": cert_id, "what": "cert"}), 404, "NotFound")
    assert_error(api.post("cert/list", {"ca_id": doomed, "what": "15"}), 404, "NotFound")
    assert api.ok("cert/details", {"cert_id": kept})["status"] == "good"
    assert {o["id"]: o["status"] for o in orders(api.url)} == {**{int(g): "deleted" for g in gone}, int(kept): "good"}


@pytest.mark.parametrize(("params", "status", "name"), [
    ({"C": "US", "hash_method": "sha256"}, 400, "MissingParameter"),
    ({"C": "USA", "O": "X", "hash_method": "sha256"}, 400, "InputFailure"),
    ({"C": "US", "O": "X", "hash_method": "md5"}, 400, "InputFailure"),
])
def test_ca_new_validates(api: Api, params: dict[str, str], status: int, name: str) -> None:
    assert_error(api.post("ca/new", params), status, name)


def test_ca_get_and_details_errors(api: Api) -> None:
    assert_error(api.post("ca/get", {"ca_id": CA_ID, "what": "key"}), 400, "InputFailure")
    assert_error(api.post("ca/details", {"ca_id": "404"}), 404, "NotFound")
    assert_error(api.post("ca/details", {"ca_id": "x1"}), 400, "InputFailure")


# -- certificates ------------------------------------------------------------------------------

def test_cert_new_parses_every_san_type(api: Api) -> None:
    cert_id = api.new_cert("host.example.com", **{
        "SANs[0][DNS]": "host.example.com", "SANs[1][IP]": "127.0.0.1", "SANs[2][IP]": "::1",
        "SANs[3][email]": "demo@example.com", "SANs[4][URI]": "https://example.com/id", "OU": "IT", "ST": "Illinois",
        "L": "Chicago"})
    details = api.ok("cert/details", {"cert_id": cert_id})
    assert details == {"id": int(cert_id), "status": "good", "C": "US", "ST": "Illinois", "L": "Chicago",
                       "O": "ACME, Inc.", "OU": "IT", "CN": "host.example.com",
                       "Alt": [{"DNS": "host.example.com"}, {"IP": "127.0.0.1"}, {"IP": "::1"},
                               {"email": "demo@example.com"}, {"URI": "https://example.com/id"}]}
    cert = x509.load_pem_x509_certificate(api.ok("cert/get", {"cert_id": cert_id, "what": "cert"})["pem"].encode())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["host.example.com"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1", "::1"]
    assert san.get_values_for_type(x509.RFC822Name) == ["demo@example.com"]
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == ["https://example.com/id"]
    subject = {a.oid._name: a.value for a in cert.subject}
    assert subject["organizationName"] == "ACME, Inc." and subject["organizationalUnitName"] == "IT"


@pytest.mark.parametrize(("change", "status", "name"), [
    ({"CN": ""}, 400, "MissingParameter"),
    ({"O": ""}, 400, "MissingParameter"),
    ({"C": "us"}, 400, "InputFailure"),
    ({"ca_id": "77"}, 404, "NotFound"),
    ({"ca_id": "one"}, 400, "InputFailure"),
    ({"SANs[0][dns]": "a.example.com"}, 400, "InputFailure"),  # type names are case sensitive
    ({"SANs[1][DNS]": "b.example.com"}, 400, "InputFailure"),  # indexes start at 0
    ({"SANs[0][DNS]": "a.example.com", "SANs[2][DNS]": "c.example.com"}, 400, "InputFailure"),  # a gap
    ({"SANs[0][IP]": "300.1.1.1"}, 400, "InputFailure"),
    ({"SANs[0][email]": "not-an-email"}, 400, "InputFailure"),
    ({"SANs[0][DNS]": "bad..name"}, 400, "InputFailure"),
    ({"SANs": "x"}, 400, "InputFailure"),
])
def test_cert_new_rejects_bad_input(api: Api, change: dict[str, str], status: int, name: str) -> None:
    params = {"CN": "www.example.com", "C": "US", "O": "ACME", "ca_id": CA_ID, **change}
    assert_error(api.post("cert/new", {k: v for k, v in params.items() if v != ""}), status, name)
    assert orders(api.url) == []


def test_cert_new_with_two_types_at_one_index_is_refused(api: Api) -> None:
    params = {"CN": "a.example.com", "C": "US", "O": "ACME", "ca_id": CA_ID,
              "SANs[0][DNS]": "a.example.com", "SANs[0][IP]": "10.0.0.1"}
    assert_error(api.post("cert/new", params), 400, "InputFailure")


def test_issued_chain_verifies_with_openssl(api: Api, tmp_path: Path) -> None:
    cert_id = api.new_cert("verify.example.com")
    leaf = api.ok("cert/get", {"cert_id": cert_id, "what": "cert"})["pem"]
    chain = api.ok("cert/get", {"cert_id": cert_id, "what": "chain"})["pem"]
    assert chain.startswith(leaf.strip()) and chain.count("BEGIN CERTIFICATE") == 2
    (tmp_path / "root.pem").write_text(requests.get(f"{api.url}/_sim/ca.pem", timeout=5).text)
    (tmp_path / "chain.pem").write_text(chain)
    (tmp_path / "leaf.pem").write_text(leaf)
    out = subprocess.run(["openssl", "verify", "-CAfile", "root.pem", "-untrusted", "chain.pem", "leaf.pem"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=20)
    assert out.returncode == 0 and out.stdout.strip() == "leaf.pem: OK", out.stdout + out.stderr


def test_cert_get_returns_key_csr_and_pkcs12(api: Api) -> None:
    cert_id = api.new_cert("keys.example.com")
    cert = x509.load_pem_x509_certificate(api.ok("cert/get", {"cert_id": cert_id, "what": "cert"})["pem"].encode())
    spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)

    def spki_of(key: Any) -> bytes:
        return key.public_key().public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)

    key = serialization.load_pem_private_key(
        api.ok("cert/get", {"cert_id": cert_id, "what": "key.dec"})["pem"].encode(), None)
    assert spki_of(key) == spki and key.key_size == 2048  # TinyCert generates RSA 2048
    enc_pem = api.ok("cert/get", {"cert_id": cert_id, "what": "key.enc"})["pem"].encode()
    with pytest.raises(TypeError):
        serialization.load_pem_private_key(enc_pem, None)
    assert spki_of(serialization.load_pem_private_key(enc_pem, defaults.TINYCERT_PASSPHRASE.encode())) == spki
    csr = x509.load_pem_x509_csr(api.ok("cert/get", {"cert_id": cert_id, "what": "csr"})["pem"].encode())
    assert csr.is_signature_valid and csr.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) == spki
    blob = base64.b64decode(api.ok("cert/get", {"cert_id": cert_id, "what": "pkcs12"})["pkcs12"])
    p12_key, p12_cert, p12_cas = pkcs12.load_key_and_certificates(blob, defaults.TINYCERT_PASSPHRASE.encode())
    assert p12_cert == cert and spki_of(p12_key) == spki and len(p12_cas) == 1
    assert_error(api.post("cert/get", {"cert_id": cert_id, "what": "pfx"}), 400, "InputFailure")


def test_cert_list_honours_the_what_bitmask(api: Api) -> None:
    good, revoked, held = api.new_cert("a.example.com"), api.new_cert("b.example.com"), api.new_cert("c.example.com")
    api.ok("cert/status", {"cert_id": revoked, "status": "revoked"})
    api.ok("cert/status", {"cert_id": held, "status": "hold"})
    expired = requests.post(f"{api.url}/_sim/seed", json={"count": 1, "status": "expired"}, timeout=5).json()
    expired_id = str(expired["created"][0])

    def listed(what: int) -> set[str]:
        return {str(c["id"]) for c in api.ok("cert/list", {"ca_id": CA_ID, "what": str(what)})}

    assert listed(1) == {expired_id}
    assert listed(2) == {good}
    assert listed(4) == {revoked}
    assert listed(8) == {held}
    assert listed(2 | 8) == {good, held}
    assert listed(15) == {good, revoked, held, expired_id}
    row = next(c for c in api.ok("cert/list", {"ca_id": CA_ID, "what": "2"}))
    assert set(row) == {"id", "name", "status", "expires"} and row["name"] == "a.example.com"
    assert_error(api.post("cert/list", {"ca_id": CA_ID, "what": "0"}), 400, "InputFailure")
    assert_error(api.post("cert/list", {"ca_id": CA_ID}), 400, "MissingParameter")


def test_reissue_makes_the_old_id_obsolete(api: Api) -> None:
    old = api.new_cert("re.example.com")
    old_pem = api.ok("cert/get", {"cert_id": old, "what": "cert"})["pem"]
    new = str(api.ok("cert/reissue", {"cert_id": old})["cert_id"])
    assert new != old
    assert api.ok("cert/details", {"cert_id": old})["status"] == "obsolete"
    assert api.ok("cert/details", {"cert_id": new})["status"] == "good"
    new_pem = api.ok("cert/get", {"cert_id": new, "what": "cert"})["pem"]
    a, b = (x509.load_pem_x509_certificate(p.encode()) for p in (old_pem, new_pem))
    assert a.serial_number != b.serial_number and a.subject == b.subject
    assert a.public_key() == b.public_key()  # the same signing request, hence the same key
    assert {str(c["id"]) for c in api.ok("cert/list", {"ca_id": CA_ID, "what": "15"})} == {new}
    assert_error(api.post("cert/reissue", {"cert_id": old}), 400, "NotLatest")
    assert_error(api.post("cert/status", {"cert_id": old, "status": "revoked"}), 400, "StatusDisallowed")


def test_reissue_of_a_held_certificate_makes_it_obsolete_too(api: Api) -> None:
    held = api.new_cert("held.example.com")
    api.ok("cert/status", {"cert_id": held, "status": "hold"})
    new = str(api.ok("cert/reissue", {"cert_id": held})["cert_id"])
    assert api.ok("cert/details", {"cert_id": held})["status"] == "obsolete"
    assert api.ok("cert/details", {"cert_id": new})["status"] == "good"
    assert_error(api.post("cert/status", {"cert_id": held, "status": "good"}), 400, "StatusDisallowed")
    assert {str(c["id"]) for c in api.ok("cert/list", {"ca_id": CA_ID, "what": "15"})} == {new}


def test_reissue_of_a_revoked_certificate_leaves_it_revoked(api: Api) -> None:
    revoked = api.new_cert("revoked.example.com")
    api.ok("cert/status", {"cert_id": revoked, "status": "revoked"})
    new = str(api.ok("cert/reissue", {"cert_id": revoked})["cert_id"])
    assert api.ok("cert/details", {"cert_id": revoked})["status"] == "revoked"
    assert api.ok("cert/details", {"cert_id": new})["status"] == "good"


def test_certificates_are_valid_one_year_whatever_is_asked(api: Api) -> None:
    """No validity parameter exists: one sent is ignored; new and reissued certificates run 365 days."""
    cert_id = api.new_cert("year.example.com", validity_days="10")
    new = str(api.ok("cert/reissue", {"cert_id": cert_id})["cert_id"])
    for cid in (cert_id, new):
        cert = x509.load_pem_x509_certificate(api.ok("cert/get", {"cert_id": cid, "what": "cert"})["pem"].encode())
        assert cert.not_valid_after_utc - cert.not_valid_before_utc == dt.timedelta(days=365)


def test_status_changes(api: Api) -> None:
    cert_id = api.new_cert()
    for status in ("hold", "revoked", "revoked", "good"):
        assert api.ok("cert/status", {"cert_id": cert_id, "status": status}) == {}
        assert api.ok("cert/details", {"cert_id": cert_id})["status"] == status
    assert_error(api.post("cert/status", {"cert_id": cert_id, "status": "expired"}), 400, "InputFailure")
    assert_error(api.post("cert/status", {"cert_id": "424242", "status": "good"}), 404, "NotFound")


def test_time_based_progression_and_advance(api: Api) -> None:
    # Issuance is synchronous: issued at once, nothing left for /_sim/advance.
    cert_id = api.new_cert()
    assert api.ok("cert/details", {"cert_id": cert_id})["status"] == "good"
    assert requests.post(f"{api.url}/_sim/advance", timeout=5).json() == {"issued": 0, "pending": 0}
    # Expiry is the time-based change: a certificate valid for ~1 s turns expired.
    seeded = requests.post(f"{api.url}/_sim/seed", json={"count": 1, "days_valid": 1.5 / 86400},
                           timeout=5).json()["created"][0]
    assert api.ok("cert/details", {"cert_id": str(seeded)})["status"] == "good"
    time.sleep(1.6)
    requests.post(f"{api.url}/_sim/advance", timeout=5).raise_for_status()
    assert next(o for o in orders(api.url) if o["id"] == seeded)["status"] == "expired"
    assert api.ok("cert/details", {"cert_id": str(seeded)})["status"] == "expired"
    assert_error(api.post("cert/status", {"cert_id": str(seeded), "status": "good"}), 400, "StatusDisallowed")


# -- admin: seed and orders --------------------------------------------------------------------

def test_seed_and_orders(api: Api) -> None:
    created = requests.post(f"{api.url}/_sim/seed", json={"count": 130, "common_name_prefix": "bulk-"},
                            timeout=30).json()["created"]
    held = requests.post(f"{api.url}/_sim/seed", json={"count": 3, "status": "hold", "days_valid": 30},
                         timeout=10).json()["created"]
    rows = orders(api.url)
    assert len(rows) == 133 and len({r["id"] for r in rows}) == 133
    assert all(r["client_reference"] is None for r in rows)
    assert {r["status"] for r in rows if r["id"] in held} == {"hold"}
    assert all(r["common_name"].startswith("bulk-") for r in rows if r["id"] in created)
    assert len({r["not_after"] for r in rows}) > 100  # spread-out expiry dates
    listed = api.ok("cert/list", {"ca_id": CA_ID, "what": "2"})
    assert len(listed) == 130
    bad = requests.post(f"{api.url}/_sim/seed", json={"count": 0}, timeout=5)
    assert bad.status_code == 400


# -- fault injection ---------------------------------------------------------------------------

def test_fault_latency(api: Api) -> None:
    set_faults(api.url, latency_ms=300)
    started = time.monotonic()
    api.ok("ca/list")
    assert time.monotonic() - started >= 0.3


def test_fault_error_rate_answers_in_tinycert_shape(api: Api) -> None:
    set_faults(api.url, error_rate=1.0, error_status=503, paths=["/api/v1/cert/new"])
    assert_error(api.post("cert/new", {"CN": "x.example.com", "C": "US", "O": "ACME", "ca_id": CA_ID}), 503,
                 "UnknownError")
    assert orders(api.url) == []  # failed before handling: nothing committed
    assert api.ok("ca/list")  # other paths unaffected


def test_fault_rate_limit_sends_no_retry_after_unless_configured(api: Api) -> None:
    set_faults(api.url, rate_limit_per_s=1)
    api.ok("ca/list")
    r = api.post("ca/list")
    assert_error(r, 429, "RateLimitExceeded")
    assert "Retry-After" not in r.headers  # TinyCert documents none
    time.sleep(1.05)  # let this one-second window pass: the next test's limit counts afresh


def test_fault_rate_limit_with_retry_after(api: Api) -> None:
    set_faults(api.url, rate_limit_per_s=1, retry_after_s=7)
    api.ok("ca/list")
    r = api.post("ca/list")
    assert_error(r, 429, "RateLimitExceeded")
    assert r.headers["Retry-After"] == "7"


def test_fault_hang_outlasts_the_client_timeout(api: Api) -> None:
    set_faults(api.url, hang_s=1.0, max_faults=1)
    with pytest.raises(requests.exceptions.ReadTimeout):
        api.post("ca/list", timeout=0.3)
    assert api.ok("ca/list")  # the burst is spent
    time.sleep(0.8)  # let the hung handler finish (and fail to answer) while this test still runs


def test_fault_malformed_commits_but_answers_garbage(api: Api) -> None:
    set_faults(api.url, malformed_rate=1.0, paths=["/api/v1/cert/new"])
    r = api.post("cert/new", {"CN": "m.example.com", "C": "US", "O": "ACME", "ca_id": CA_ID})
    with pytest.raises(ValueError):
        r.json()
    assert [o["common_name"] for o in orders(api.url)] == ["m.example.com"]


def test_fault_drop_after_commit(api: Api) -> None:
    set_faults(api.url, drop_after_commit_rate=1.0, paths=["/api/v1/cert/new"])
    with pytest.raises(requests.exceptions.ConnectionError):
        api.post("cert/new", {"CN": "d.example.com", "C": "US", "O": "ACME", "ca_id": CA_ID})
    assert [o["common_name"] for o in orders(api.url)] == ["d.example.com"]
    requests.delete(f"{api.url}/_sim/faults", timeout=5).raise_for_status()
    assert api.ok("cert/list", {"ca_id": CA_ID, "what": "2"})[0]["name"] == "d.example.com"
