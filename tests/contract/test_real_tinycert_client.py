"""TinyCert's own PHP client (tests/contract/vendor/tinycert-php, unmodified) against our simulator.

The client is the one public implementation of TinyCert's signing, so what it sends is what the
real service accepts. Each test runs `php` on tests/contract/php/tinycert_driver.php with a
temporary copy of the client in which only the hard-coded base URL
(https://www.tinycert.org/api/v1) is replaced by the simulator's. The simulator's journal
(GET /_sim/journal) shows the exact body it received, the string it rebuilt from it, and whether
the digest verified: every request must verify, byte for byte.

`make test` installs php-cli and php-curl where they are missing (Makefile, `php-client`); without
them these tests are skipped, saying so.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import shutil
import subprocess
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from chalicelib.providers.tinycert import signed_body
from simulators import defaults
from simulators.base import SimServer
from simulators.tinycert import TinyCertSim

HERE = Path(__file__).parent
CLIENT = HERE / "vendor" / "tinycert-php" / "tinycert.inc.php"
CLIENT_SHA256 = "74d7784995f3785c9fee4e733934fb8e4415c4980906100978b3ea9072b02ef3"  # commit 8ff04da
DRIVER = HERE / "php" / "tinycert_driver.php"
REAL_BASE = "https://www.tinycert.org/api/v1"
KEY = defaults.TINYCERT_API_KEY
SANS = [{"DNS": f"h{i}.example.com"} for i in range(12)]


def _php_with_curl() -> bool:
    if shutil.which("php") is None:
        return False
    probe = subprocess.run(["php", "-r", "exit(function_exists('curl_init') ? 0 : 1);"], capture_output=True,
                           timeout=20)
    return probe.returncode == 0


pytestmark = pytest.mark.skipif(not _php_with_curl(), reason="php CLI with curl not installed "
                                                            "(`make test` installs php-cli php-curl)")


@pytest.fixture(scope="module")
def server() -> Iterator[SimServer]:
    with SimServer(TinyCertSim()) as srv:
        yield srv


@pytest.fixture()
def sim(server: SimServer) -> SimServer:
    requests.post(f"{server.url}/_sim/reset", timeout=5).raise_for_status()
    return server


@pytest.fixture()
def client(sim: SimServer, tmp_path: Path) -> Path:
    """A copy of the vendored client whose only change is the base URL."""
    source = CLIENT.read_text()
    assert source.count(REAL_BASE) == 1
    copy = tmp_path / "tinycert.inc.php"
    copy.write_text(source.replace(REAL_BASE, f"{sim.url}/api/v1"))
    return copy


def run(client: Path, calls: list[dict[str, Any]], apikey: str = KEY) -> list[dict[str, Any]]:
    plan = client.parent / "plan.json"
    plan.write_text(json.dumps({"apikey": apikey, "calls": calls}))
    done = subprocess.run(["php", str(DRIVER), str(client), str(plan)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    results: list[dict[str, Any]] = json.loads(done.stdout)
    assert [r["call"] for r in results] == [c["call"] for c in calls]
    return results


def journal(sim: SimServer) -> list[dict[str, Any]]:
    return requests.get(f"{sim.url}/_sim/journal", timeout=5).json()


def assert_accepted_byte_for_byte(entries: list[dict[str, Any]]) -> None:
    """Each body is PHP's string + `&digest=` + PHP's HMAC of it, the simulator rebuilt exactly
    that string from the parameters it parsed, and the digest verified."""
    assert entries
    for entry in entries:
        sent, _, digest = entry["body"].rpartition("&digest=")
        assert hmac.compare_digest(digest, hmac.new(KEY.encode(), sent.encode(), hashlib.sha256).hexdigest())
        assert entry["canonical"] == sent, entry["path"]
        assert entry["digest_ok"] is True, entry["path"]


def call(name: str, *args: Any, save: str | None = None) -> dict[str, Any]:
    return {"call": name, "args": list(args), **({"save": save} if save else {})}


def test_the_vendored_client_is_unmodified() -> None:
    assert hashlib.sha256(CLIENT.read_bytes()).hexdigest() == CLIENT_SHA256
    assert (CLIENT.parent / "LICENSE.md").read_text().startswith("Copyright (c) 2014, Steven Don / TinyCert.org")


def test_a_whole_session_of_the_php_client_is_accepted(client: Path, sim: SimServer) -> None:
    results = run(client, [
        call("connect", defaults.TINYCERT_EMAIL, defaults.TINYCERT_PASSPHRASE),
        call("ca_list"),
        call("ca_new", "Php Client Org", "Chicago", "Illinois", "US", "sha256", save="ca"),
        call("ca_details", "@ca"),
        call("cert_new", "@ca", "h0.example.com", "IT Department", "ACME, Inc.", "Chicago", "Illinois", "US", SANS,
             save="cert"),
        call("cert_details", "@cert"),
        call("cert_get", "@cert", "cert"),
        call("cert_get", "@cert", "chain"),
        call("cert_get", "@cert", "key.dec"),
        call("cert_get", "@cert", "pkcs12"),
        call("cert_list", "@ca", 15),
        call("cert_status", "@cert", "hold"),
        call("cert_reissue", "@cert", save="new"),
        call("cert_details", "@cert"),
        call("cert_status", "@new", "revoked"),
        call("cert_list", "@ca", 4),
        call("ca_delete", "@ca"),
        call("cert_details", "@new"),
        call("disconnect"),
        call("ca_list"),
    ])
    r = {i: step for i, step in enumerate(results)}
    assert r[0]["result"] is True and r[0]["error"] is None
    assert r[1]["result"] == [{"id": defaults.TINYCERT_DEFAULT_CA_ID, "name": "Certgate Local"}]
    ca_id = r[2]["result"]
    assert isinstance(ca_id, int) and ca_id != defaults.TINYCERT_DEFAULT_CA_ID
    assert r[3]["result"] == {"id": ca_id, "C": "US", "ST": "Illinois", "L": "Chicago", "O": "Php Client Org",
                              "OU": "Secure Digital Certificate Signing", "CN": "Php Client Org CA",
                              "E": defaults.TINYCERT_EMAIL, "hash_alg": "SHA256"}
    cert_id = r[4]["result"]
    assert isinstance(cert_id, int)
    assert r[5]["result"] == {"id": cert_id, "status": "good", "C": "US", "ST": "Illinois", "L": "Chicago",
                              "O": "ACME, Inc.", "OU": "IT Department", "CN": "h0.example.com", "Alt": SANS}
    leaf = x509.load_pem_x509_certificate(r[6]["result"].encode())
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == [s["DNS"] for s in SANS]
    assert r[7]["result"].startswith(r[6]["result"].strip()) and r[7]["result"].count("BEGIN CERTIFICATE") == 2
    key = serialization.load_pem_private_key(r[8]["result"].encode(), None)
    assert key.public_key() == leaf.public_key()
    _, p12_cert, _ = pkcs12.load_key_and_certificates(base64.b64decode(r[9]["result"]["base64"]),
                                                      defaults.TINYCERT_PASSPHRASE.encode())
    assert p12_cert == leaf  # the client base64-decodes `pkcs12` into the raw archive
    assert [(c["id"], c["name"], c["status"]) for c in r[10]["result"]] == [(cert_id, "h0.example.com", "good")]
    assert r[11]["result"] is True
    new_id = r[12]["result"]
    assert isinstance(new_id, int) and new_id != cert_id
    assert r[13]["result"]["status"] == "obsolete"  # it was on hold: obsolete after the reissue all the same
    assert r[14]["result"] is True
    assert [c["id"] for c in r[15]["result"]] == [new_id]
    assert r[16]["result"] is True
    assert r[17]["result"] is False and r[17]["error"]["status"] == 404 and r[17]["error"]["code"] == "NotFound"
    # After disconnect the client's token is NULL, and http_build_query leaves NULL out: no token at all.
    assert r[19]["result"] is False and r[19]["error"]["code"] == "MissingParameter"
    assert "token=" not in journal(sim)[-1]["body"]
    entries = journal(sim)
    assert len(entries) == len(results)
    assert_accepted_byte_for_byte(entries)
    sent = next(e for e in entries if e["path"] == "/api/v1/cert/new")["body"]
    assert sent.index("SANs%5B2%5D") < sent.index("SANs%5B10%5D")  # PHP's order, where a byte sort differs


@pytest.mark.parametrize(("apikey", "calls", "status", "code"), [
    ("not-the-key", [call("connect", defaults.TINYCERT_EMAIL, defaults.TINYCERT_PASSPHRASE)], 403, "ApiKeyMismatch"),
    (KEY, [call("connect", "nobody@example.com", defaults.TINYCERT_PASSPHRASE)], 403, "AccountNotFound"),
    (KEY, [call("connect", defaults.TINYCERT_EMAIL, "wrong")], 403, "PassphraseFailure"),
    (KEY, [call("connect", defaults.TINYCERT_EMAIL, defaults.TINYCERT_PASSPHRASE),
           call("ca_new", "Org", "", "", "US", "md5")], 400, "InputFailure"),
    (KEY, [call("connect", defaults.TINYCERT_EMAIL, defaults.TINYCERT_PASSPHRASE),
           call("cert_details", 424242)], 404, "NotFound"),
    (KEY, [call("do_request", "/ca/list", {"token": "not-a-session"})], 403, "InvalidToken"),
])
def test_the_client_reads_tinycerts_string_error_codes(client: Path, sim: SimServer, apikey: str,
                                                       calls: list[dict[str, Any]], status: int, code: str) -> None:
    last = run(client, calls, apikey)[-1]
    assert last["result"] is False
    assert last["error"]["status"] == status and last["error"]["code"] == code and last["error"]["text"]


def _parameter_sets() -> list[dict[str, Any]]:
    """Parameter sets with what encodings get wrong: '~', spaces, brackets, '+', '%', non-ASCII,
    empty values, 11+ SANs of every type."""
    rng = random.Random(16)
    alphabet = "aZ09 ~*-_.!'()[]&=+%/:;@$,?#\tÄé日本\u20ac"
    def text(n: int) -> str:
        return "".join(rng.choice(alphabet) for _ in range(n))
    sets: list[dict[str, Any]] = []
    for i in range(25):
        params: dict[str, Any] = {"token": text(8), "C": "US", "CN": text(rng.randint(0, 12)), "ca_id": str(i)}
        for name in rng.sample(["L", "O", "OU", "ST", "what", "status", "Zeta", "alpha", "b_c"], 4):
            params[name] = text(rng.randint(0, 10))
        count = rng.choice([0, 1, 10, 11, 12, 23])
        if count:
            params["SANs"] = [{rng.choice(["DNS", "IP", "email", "URI"]): text(rng.randint(1, 9))} for _ in range(count)]
        sets.append(params)
    return sets


def test_our_signature_of_any_parameter_set_is_byte_for_byte_phps(client: Path, sim: SimServer) -> None:
    """The PHP client's own request method (reached by reflection) signs and sends each set; the
    body the simulator received must be exactly what our adapter's signed_body builds."""
    sets = _parameter_sets()
    run(client, [call("do_request", "/ca/list", params) for params in sets])
    bodies = [e["body"] for e in journal(sim)]
    assert len(bodies) == len(sets)
    for params, body in zip(sets, bodies, strict=True):
        assert signed_body(params, KEY).decode() == body
        assert urllib.parse.parse_qsl(body)[-1][0] == "digest"
    assert_accepted_byte_for_byte(journal(sim))
