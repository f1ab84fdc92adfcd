"""chalicelib.csr: names, CSR parsing/consistency, key+CSR generation, certificate facts, download formats.

Keys and certificates are made here with `cryptography` directly (not with the module under test), and
reused through module-scoped fixtures so that the file stays fast.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import ipaddress
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.core import errors as core_errors
from chalicelib.core.countries import COUNTRY_CODES
from chalicelib.core.errors import ValidationFailed
from chalicelib.x509 import certificates as x509_certificates
from chalicelib.x509 import csr as x509_csr
from chalicelib.x509 import formats as x509_formats
from chalicelib.x509 import names as x509_names
from chalicelib.x509 import pem as x509_pem

# ------------------------------------------------------------------------------------------------
# helpers and fixtures
# ------------------------------------------------------------------------------------------------


def fails(call: Any, *args: Any, **kwargs: Any) -> tuple[str, str]:
    """Run `call`, expect ValidationFailed with exactly one error; return (field, message)."""
    with pytest.raises(ValidationFailed) as info:
        call(*args, **kwargs)
    assert len(info.value.errors) == 1, info.value.errors
    return info.value.errors[0].field, info.value.errors[0].message


def general_name(kind: str, value: str) -> x509.GeneralName:
    return {
        "dns": lambda: x509.DNSName(value),
        "ip": lambda: x509.IPAddress(ipaddress.ip_address(value)),
        "email": lambda: x509.RFC822Name(value),
        "uri": lambda: x509.UniformResourceIdentifier(value),
    }[kind]()


def make_csr(key: Any, cn: str | None = "www.example.com", sans: list[tuple[str, str]] | None = None,
             digest: hashes.HashAlgorithm | None = None, extra_names: list[x509.GeneralName] | None = None,
             subject: list[x509.NameAttribute] | None = None) -> str:
    attrs = subject if subject is not None else (
        [x509.NameAttribute(NameOID.COMMON_NAME, cn)] if cn else [])
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attrs))
    names = [general_name(k, v) for k, v in (sans if sans is not None else [("dns", cn or "")])] + (extra_names or [])
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    if digest is None and not isinstance(key, ed25519.Ed25519PrivateKey):
        digest = hashes.SHA256()
    return builder.sign(key, digest).public_bytes(serialization.Encoding.PEM).decode()


def pem_of(obj: Any) -> str:
    return obj.public_bytes(serialization.Encoding.PEM).decode()


def key_pem(key: Any) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def spki_sha256(public_key: Any) -> str:
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def other_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def good_csr(rsa_key: rsa.RSAPrivateKey) -> str:
    return make_csr(rsa_key, "www.example.com", [("dns", "www.example.com"), ("dns", "example.com")])


@dataclass
class Pki:
    root: x509.Certificate
    intermediate: x509.Certificate
    leaf: x509.Certificate
    leaf_key: Any
    serial: int


def _cert(subject_cn: str, issuer_cn: str, public_key: Any, signer: Any, *, ca: bool, serial: int,
          sans: list[str] | None = None) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)]))
               .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_cn)]))
               .public_key(public_key).serial_number(serial)
               .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=90))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(s) for s in sans]),
                                        critical=False)
    return builder.sign(signer, hashes.SHA256())


@pytest.fixture(scope="module")
def pki(rsa_key: rsa.RSAPrivateKey) -> Pki:
    root_key = ec.generate_private_key(ec.SECP256R1())
    inter_key = ec.generate_private_key(ec.SECP256R1())
    root = _cert("Test Root", "Test Root", root_key.public_key(), root_key, ca=True, serial=1)
    inter = _cert("Test Issuing CA", "Test Root", inter_key.public_key(), root_key, ca=True, serial=2)
    serial = int.from_bytes(os.urandom(15), "big") | (1 << 100)
    leaf = _cert("www.example.com", "Test Issuing CA", rsa_key.public_key(), inter_key, ca=False, serial=serial,
                 sans=["www.example.com", "example.com"])
    return Pki(root=root, intermediate=inter, leaf=leaf, leaf_key=rsa_key, serial=serial)


# ------------------------------------------------------------------------------------------------
# DNS names
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "expected"), [
    ("example.com", "example.com"),
    ("WWW.Example.COM", "www.example.com"),
    ("example.com.", "example.com"),  # absolute form
    ("*.example.com", "*.example.com"),
    ("*.Sub.Example.com", "*.sub.example.com"),
    ("a-b.c-d.example", "a-b.c-d.example"),
    ("123.example.com", "123.example.com"),  # numeric labels are fine below the TLD
    ("bücher.de", "xn--bcher-kva.de"),
    ("BÜCHER.de", "xn--bcher-kva.de"),
    ("xn--bcher-kva.de", "xn--bcher-kva.de"),
    ("straße.de", "xn--strae-oqa.de"),  # IDNA 2008: not mapped to "strasse"
    ("пример.рф", "xn--e1afmkfd.xn--p1ai"),
    ("раураӏ.com", "xn--80aa0cbo65f.com"),  # a whole-Cyrillic label is allowed
    ("日本語テスト.jp", "xn--zckzah9945czlbtz6h.jp"),  # Han + Katakana is ordinary Japanese
    ("ｅｘａｍｐｌｅ．ｃｏｍ", "example.com"),  # full-width forms map like UTS #46
    ("test。example。com", "test.example.com"),  # ideographic full stop separates labels
    ("*.bücher.de", "*.xn--bcher-kva.de"),
    ("שלום.com", "xn--9dbne9b.com"),
    ("مثال.إختبار", "xn--mgbh0fb.xn--kgbechtv"),
    ("א1.com", "xn--1-zhc.com"),  # a right-to-left label may end with a digit
])
def test_valid_dns_names_are_normalized(name: str, expected: str) -> None:
    assert x509_names.validate_dns_name(name, "common_name") == expected


@pytest.mark.parametrize(("name", "message"), [
    ("a*.example.com", "whole left-most label"),
    ("*.*.example.com", "whole left-most label"),
    ("www.*.example.com", "whole left-most label"),
    ("*w.example.com", "whole left-most label"),
    ("*", "whole left-most label"),
    ("*.com", "at least two labels"),
    ("localhost", "at least two labels"),
    ("example..com", "empty label"),
    (".example.com", "empty label"),
    ("-bad.example.com", "hyphen"),
    ("bad-.example.com", "hyphen"),
    ("ab--cd.example.com", "reserved"),
    ("under_score.example.com", "'_'"),
    ("sp ace.example.com", "' '"),
    ("example.123", "all-numeric"),
    ("192.0.2.1", "IP address"),
    ("2001:db8::1", "IP address"),
    ("xn--99999999999.com", "punycode"),
    ("xn--bcher-2pa.de", "lower-case"),  # decodes to an upper-case U-label: not canonical
    ("xn--ls8h.la", "PILE OF POO"),  # emoji domains: not IDNA 2008
    ("☃.net", "SNOWMAN"),
    ("a\u200db.example.com", "ZERO WIDTH JOINER"),
    ("pаypal.com", "homograph"),  # Cyrillic 'а'
    ("xn--pypal-4ve.com", "homograph"),  # the same, already punycoded
    ("gοοgle.com", "homograph"),  # Greek omicrons
    ("аpple-іd.com", "homograph"),  # Cyrillic а and і inside Latin
    ("1א.com", "right-to-left"),  # RFC 5893: must start with a right-to-left letter
    ("ا١1.com", "right-to-left"),  # Arabic-Indic and European digits mixed
    ("", "non-empty"),
    ("   ", "non-empty"),
])
def test_invalid_dns_names_name_the_field(name: str, message: str) -> None:
    field, text = fails(x509_names.validate_dns_name, name, "sans[3].value")
    assert field == "sans[3].value"
    assert message in text


def test_homograph_message_names_both_scripts() -> None:
    _, message = fails(x509_names.validate_dns_name, "pаypal.com", "common_name")
    assert "CYRILLIC" in message and "LATIN" in message


@pytest.mark.parametrize("value", [None, 42, b"example.com", ["example.com"]])
def test_dns_name_must_be_a_string(value: Any) -> None:
    assert fails(x509_names.validate_dns_name, value, "common_name")[0] == "common_name"


def test_wildcard_can_be_forbidden() -> None:
    assert x509_names.validate_dns_name("*.example.com", "f") == "*.example.com"
    _, message = fails(x509_names.validate_dns_name, "*.example.com", "f", allow_wildcard=False)
    assert "wildcard" in message


def test_label_and_name_length_limits() -> None:
    assert x509_names.validate_dns_name("a" * 63 + ".com", "f") == "a" * 63 + ".com"
    assert "63" in fails(x509_names.validate_dns_name, "a" * 64 + ".com", "f")[1]
    name_253 = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])
    assert len(name_253) == 253
    assert x509_names.validate_dns_name(name_253, "f") == name_253
    assert "253" in fails(x509_names.validate_dns_name, name_253 + "d", "f")[1]
    # The limits apply to the encoded form: 30 'ü' encode to more than 63 characters.
    assert "63" in fails(x509_names.validate_dns_name, "ü" * 60 + ".de", "f")[1]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_dns_validation_only_ever_raises_validation_failed(text: str) -> None:
    try:
        result = x509_names.validate_dns_name(text, "f")
    except ValidationFailed as exc:
        assert exc.errors[0].field == "f"
        return
    assert result.isascii() and len(result) <= 253 and result == result.lower()
    assert x509_names.validate_dns_name(result, "f") == result  # normalization is idempotent


_LABEL_ALPHABET = st.sampled_from(list("abcxyz019-") + list("äöüßéñ") + list("пример") + list("日本語") + ["ー"]
                                  + list("αβς") + list("שלום") + list("ابت١") + ["\u0301", "\u064b"])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(st.lists(st.text(_LABEL_ALPHABET, min_size=1, max_size=12), min_size=1, max_size=3))
def test_agrees_with_the_idna_package_where_both_accept(labels: list[str]) -> None:
    """`idna` (IDNA 2008 + UTS #46) is an oracle here, not a dependency of the module."""
    idna = pytest.importorskip("idna")
    name = ".".join([*labels, "com"])
    try:
        ours = x509_names.validate_dns_name(name, "f")
    except ValidationFailed:
        return
    try:
        theirs = idna.encode(name, uts46=True, transitional=False).decode()
    except idna.IDNAError:
        return  # the package is stricter (contextual rules); stricter is not a disagreement
    assert ours == theirs
    assert x509_names.validate_dns_name(ours, "f") == ours


# ------------------------------------------------------------------------------------------------
# SANs and countries
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "value", "expected"), [
    ("dns", "WWW.Example.com", ("dns", "www.example.com")),
    ("DNS", "*.example.com", ("dns", "*.example.com")),
    ("ip", "192.0.2.10", ("ip", "192.0.2.10")),
    ("ip", "2001:DB8:0:0::1", ("ip", "2001:db8::1")),
    ("email", "Admin@Bücher.de", ("email", "Admin@xn--bcher-kva.de")),
    ("uri", "https://example.com/path?q=1", ("uri", "https://example.com/path?q=1")),
    ("uri", "spiffe://cluster.example/ns/default/sa/web", ("uri", "spiffe://cluster.example/ns/default/sa/web")),
    ("uri", "https://[2001:db8::1]:8443/", ("uri", "https://[2001:db8::1]:8443/")),
    ("uri", "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66", ("uri", "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66")),
])
def test_valid_sans_are_normalized(kind: str, value: str, expected: tuple[str, str]) -> None:
    assert x509_names.validate_san(kind, value, "sans[0]") == expected


@pytest.mark.parametrize(("kind", "value", "field", "message"), [
    ("dn", "example.com", "sans[1].type", "dns, ip, email, uri"),
    (None, "example.com", "sans[1].type", "dns, ip, email, uri"),
    ("dns", "", "sans[1].value", "non-empty"),
    ("dns", "a*.example.com", "sans[1].value", "wildcard"),
    ("ip", "*.example.com", "sans[1].value", "not an IPv4 or IPv6"),
    ("ip", "256.1.1.1", "sans[1].value", "not an IPv4 or IPv6"),
    ("ip", "fe80::1%eth0", "sans[1].value", "zone"),
    ("email", "no-at-sign.example.com", "sans[1].value", "local@domain"),
    ("email", "a b@example.com", "sans[1].value", "before @"),
    ("email", "a..b@example.com", "sans[1].value", "before @"),
    ("email", "admin@*.example.com", "sans[1].value", "wildcard"),
    ("email", "admin@localhost", "sans[1].value", "two labels"),
    ("uri", "example.com/path", "sans[1].value", "absolute URI"),
    ("uri", "/relative/path", "sans[1].value", "absolute URI"),
    ("uri", "https://exa mple.com/", "sans[1].value", "ASCII without spaces"),
    ("uri", "https://bücher.de/", "sans[1].value", "ASCII"),
    ("uri", "https://localhost/", "sans[1].value", "two labels"),  # RFC 5280: the host must be an FQDN
    ("uri", "https://user@/x", "sans[1].value", "without a host"),
    ("uri", "https://example.com:99999/", "sans[1].value", "not a valid URI"),
])
def test_invalid_sans_name_type_or_value(kind: Any, value: str, field: str, message: str) -> None:
    got_field, text = fails(x509_names.validate_san, kind, value, "sans[1]")
    assert got_field == field
    assert message in text


def test_country_codes_are_the_249_official_ones() -> None:
    assert len(COUNTRY_CODES) == 249
    assert {"US", "DE", "GB", "JP", "SS", "CW", "AX"} <= COUNTRY_CODES
    assert not {"UK", "EU", "XK", "ZZ", "AN", "YU"} & COUNTRY_CODES  # reserved, user-assigned or withdrawn


@pytest.mark.skipif(not Path("/usr/share/zoneinfo/iso3166.tab").exists(), reason="no tzdata iso3166.tab")
def test_country_codes_match_tzdata() -> None:
    lines = Path("/usr/share/zoneinfo/iso3166.tab").read_text().splitlines()
    assert {line.split("\t")[0] for line in lines if line and not line.startswith("#")} == COUNTRY_CODES


@pytest.mark.parametrize(("code", "expected"), [("US", "US"), ("de", "DE"), ("Gb", "GB")])
def test_valid_countries(code: str, expected: str) -> None:
    assert x509_names.validate_country(code, "organization.country") == expected


@pytest.mark.parametrize("code", ["UK", "EU", "XK", "USA", "U", "", None, 1, "U S"])
def test_invalid_countries(code: Any) -> None:
    field, message = fails(x509_names.validate_country, code, "organization.country")
    assert field == "organization.country" and "ISO 3166-1" in message


# ------------------------------------------------------------------------------------------------
# parse_csr
# ------------------------------------------------------------------------------------------------


def test_parse_rsa_csr(good_csr: str, rsa_key: rsa.RSAPrivateKey) -> None:
    parsed = x509_csr.parse_csr(good_csr)
    assert parsed.common_name == "www.example.com"
    assert parsed.sans == (("dns", "www.example.com"), ("dns", "example.com"))
    assert parsed.dns_names == ("www.example.com", "example.com")
    assert (parsed.key_type, parsed.key_size, parsed.curve) == ("rsa", 2048, None)
    assert parsed.signature_hash == "sha256"
    assert parsed.public_key_fingerprint == spki_sha256(rsa_key.public_key())
    assert parsed.pem == good_csr


@pytest.mark.parametrize(("curve", "digest", "bits", "name"), [
    (ec.SECP256R1(), hashes.SHA256(), 256, "secp256r1"),
    (ec.SECP384R1(), hashes.SHA384(), 384, "secp384r1"),
])
def test_parse_ec_csr(curve: ec.EllipticCurve, digest: hashes.HashAlgorithm, bits: int, name: str) -> None:
    key = ec.generate_private_key(curve)
    parsed = x509_csr.parse_csr(make_csr(key, digest=digest, sans=[("dns", "a.example.com"), ("ip", "192.0.2.1"),
                                                               ("email", "ops@example.com"),
                                                               ("uri", "https://example.com/")]))
    assert (parsed.key_type, parsed.key_size, parsed.curve) == ("ec", bits, name)
    assert parsed.signature_hash == digest.name
    assert parsed.sans == (("dns", "a.example.com"), ("ip", "192.0.2.1"), ("email", "ops@example.com"),
                           ("uri", "https://example.com/"))


def test_csr_without_cn_or_sans(ec_key: ec.EllipticCurvePrivateKey) -> None:
    parsed = x509_csr.parse_csr(make_csr(ec_key, cn=None, sans=[("dns", "example.com")]))
    assert parsed.common_name is None and parsed.sans == (("dns", "example.com"),)
    bare = x509_csr.parse_csr(make_csr(ec_key, cn="example.com", sans=[]))
    assert bare.common_name == "example.com" and bare.sans == ()


def test_text_around_the_pem_and_old_header_are_accepted(good_csr: str) -> None:
    noisy = "Certificate Request:\n    Data: ...\r\n" + good_csr.replace("\n", "\r\n") + "\ntrailing text\n"
    assert x509_csr.parse_csr(noisy).pem == good_csr
    old_style = good_csr.replace("CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST")
    assert x509_csr.parse_csr(old_style).common_name == "www.example.com"


@pytest.mark.parametrize(("make_key", "digest", "message"), [
    (lambda: rsa.generate_private_key(65537, 1024), hashes.SHA256(), "too weak"),
    (lambda: rsa.generate_private_key(65537, 2052), hashes.SHA256(), "multiple of 8"),
    (lambda: ec.generate_private_key(ec.SECP192R1()), hashes.SHA256(), "secp192r1"),
    (lambda: ec.generate_private_key(ec.SECP521R1()), hashes.SHA512(), "secp521r1"),
    (lambda: ec.generate_private_key(ec.SECP256K1()), hashes.SHA256(), "secp256k1"),
    (lambda: dsa.generate_private_key(1024), hashes.SHA256(), "dsa keys are not accepted"),
    (lambda: ed25519.Ed25519PrivateKey.generate(), None, "ed25519 keys are not accepted"),
])
def test_weak_or_unsupported_keys_are_rejected(make_key: Any, digest: Any, message: str) -> None:
    field, text = fails(x509_csr.parse_csr, make_csr(make_key(), digest=digest))
    assert field == "csr"
    assert message in text


def test_rsa_upper_bound(rsa_key: rsa.RSAPrivateKey, monkeypatch: pytest.MonkeyPatch) -> None:
    # An RSA key above 8192 bits takes far too long to generate in a unit test: lower the bound instead.
    monkeypatch.setattr(x509_csr, "RSA_MAX_BITS", 2040)
    field, text = fails(x509_csr.parse_csr, make_csr(rsa_key))
    assert field == "csr" and "larger than the 2040 bits" in text


def test_weak_signature_hash_is_rejected(rsa_key: rsa.RSAPrivateKey) -> None:
    field, text = fails(x509_csr.parse_csr, make_csr(rsa_key, digest=hashes.SHA224()))
    assert field == "csr" and "sha224" in text


def _der(pem: str) -> bytes:
    return x509.load_pem_x509_csr(pem.encode()).public_bytes(serialization.Encoding.DER)


def _pem(der: bytes) -> str:
    body = base64.encodebytes(der).decode()
    return f"-----BEGIN CERTIFICATE REQUEST-----\n{body}-----END CERTIFICATE REQUEST-----\n"


def test_tampered_signature_is_rejected(good_csr: str) -> None:
    der = bytearray(_der(good_csr))
    der[-1] ^= 0x01  # last byte of the signature
    field, text = fails(x509_csr.parse_csr, _pem(bytes(der)))
    assert field == "csr" and "signature does not verify" in text


def test_tampered_subject_is_rejected(good_csr: str) -> None:
    """The attack the signature check exists for: someone else's key, a name of our choosing."""
    der = _der(good_csr)
    assert der.count(b"www.example.com") == 2  # subject CN and the first SAN
    forged = der.replace(b"www.example.com", b"www.examplf.com")
    field, text = fails(x509_csr.parse_csr, _pem(forged))
    assert field == "csr" and "signature does not verify" in text


def test_oversized_csr_is_rejected(ec_key: ec.EllipticCurvePrivateKey) -> None:
    sans = [("dns", f"host-{i:05d}.example.com") for i in range(1500)]
    huge = make_csr(ec_key, "host-00000.example.com", sans)
    assert len(huge) > x509_csr.MAX_CSR_BYTES
    # The same request with fewer names parses: size is what fails below.
    assert x509_csr.parse_csr(make_csr(ec_key, "host-00000.example.com", sans[:50])).key_type == "ec"
    field, text = fails(x509_csr.parse_csr, huge)
    assert field == "csr" and "32 KiB" in text


@pytest.mark.parametrize(("text", "message"), [
    ("", "PEM-encoded"),
    ("   \n", "PEM-encoded"),
    ("hello", "not a PEM certificate request"),
    ("-----BEGIN CERTIFICATE REQUEST-----\nnot base64!!\n-----END CERTIFICATE REQUEST-----\n", "not base64"),
    ("-----BEGIN CERTIFICATE REQUEST-----\nMIIB\u00e9\n-----END CERTIFICATE REQUEST-----\n", "not base64"),
    ("-----BEGIN CERTIFICATE REQUEST-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE REQUEST-----\n", "does not parse"),
    ("-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n", "not a PEM certificate request"),  # no END line
])
def test_malformed_csr_text(text: str, message: str) -> None:
    field, got = fails(x509_csr.parse_csr, text, field="reissue.csr")
    assert field == "reissue.csr" and message in got


@pytest.mark.parametrize("value", [None, 7, b"-----BEGIN CERTIFICATE REQUEST-----"])
def test_csr_must_be_text(value: Any) -> None:
    assert fails(x509_csr.parse_csr, value)[0] == "csr"


def test_certificate_instead_of_csr(pki: Pki) -> None:
    assert "is a certificate" in fails(x509_csr.parse_csr, pem_of(pki.leaf))[1]


def test_private_key_pasted_with_csr_is_refused_without_echoing_it(good_csr: str, ec_key: Any) -> None:
    secret = key_pem(ec_key)
    with pytest.raises(ValidationFailed) as info:
        x509_csr.parse_csr(good_csr + secret)
    assert "private key" in info.value.errors[0].message
    body = secret.splitlines()[1]
    assert body not in info.value.detail and body not in info.value.errors[0].message


def test_two_csrs_or_extra_blocks_are_refused(good_csr: str, pki: Pki) -> None:
    assert "exactly one" in fails(x509_csr.parse_csr, good_csr + good_csr)[1]
    assert "exactly one" in fails(x509_csr.parse_csr, good_csr + pem_of(pki.leaf))[1]


def test_two_common_names_are_refused(ec_key: Any) -> None:
    subject = [x509.NameAttribute(NameOID.COMMON_NAME, "a.example.com"),
               x509.NameAttribute(NameOID.COMMON_NAME, "b.example.com")]
    assert "more than one common name" in fails(x509_csr.parse_csr, make_csr(ec_key, subject=subject))[1]


def test_unsupported_san_type_is_refused(ec_key: Any) -> None:
    directory = x509.DirectoryName(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")]))
    pem = make_csr(ec_key, "example.com", [("dns", "example.com")], extra_names=[directory])
    assert "type other than dns" in fails(x509_csr.parse_csr, pem)[1]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_corrupted_der_only_ever_raises_validation_failed(good_csr: str, data: st.DataObject) -> None:
    der = bytearray(_der(good_csr))
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(der) - 1))
        der[position] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        der = der[: data.draw(st.integers(0, len(der)))]
    try:
        parsed = x509_csr.parse_csr(_pem(bytes(der)))
    except ValidationFailed as exc:
        assert exc.errors[0].field == "csr"
        return
    assert parsed.key_type == "rsa"  # a change that still verifies can only be an encoding no-op


# ------------------------------------------------------------------------------------------------
# check_csr_consistency
# ------------------------------------------------------------------------------------------------


def _parsed(**overrides: Any) -> x509_csr.ParsedCsr:
    values: dict[str, Any] = {
        "common_name": "www.example.com", "sans": (("dns", "www.example.com"), ("dns", "example.com")),
        "key_type": "ec", "key_size": 256, "curve": "secp256r1", "public_key_fingerprint": "00",
        "signature_hash": "sha256", "pem": "",
    }
    values.update(overrides)
    return x509_csr.ParsedCsr(**values)


def test_consistent_request_has_no_errors(good_csr: str) -> None:
    parsed = x509_csr.parse_csr(good_csr)
    assert x509_csr.check_csr_consistency(parsed, "www.example.com", [("dns", "example.com")]) == []
    assert x509_csr.check_csr_consistency(parsed, "WWW.EXAMPLE.COM.", [("dns", "Example.com")]) == []


def test_subset_of_the_csr_names_is_allowed() -> None:
    parsed = _parsed(sans=(("dns", "www.example.com"), ("dns", "a.example.com"), ("dns", "b.example.com")))
    assert x509_csr.check_csr_consistency(parsed, "www.example.com", [("dns", "a.example.com")]) == []


def test_requested_san_equal_to_the_csr_cn_is_allowed() -> None:
    parsed = _parsed(sans=(("dns", "example.com"),))
    assert x509_csr.check_csr_consistency(parsed, "www.example.com", [("dns", "www.example.com")]) == []


def test_common_name_mismatch() -> None:
    errors = x509_csr.check_csr_consistency(_parsed(), "example.com", [])
    assert [e.field for e in errors] == ["common_name"]
    assert "www.example.com" in errors[0].message


def test_requested_name_missing_from_the_csr_is_refused() -> None:
    errors = x509_csr.check_csr_consistency(_parsed(), "www.example.com",
                                       [("dns", "example.com"), ("dns", "evil.example.org"), ("ip", "192.0.2.1")])
    assert [e.field for e in errors] == ["sans[1].value", "sans[2].value"]


def test_csr_without_cn_must_list_the_common_name() -> None:
    parsed = _parsed(common_name=None, sans=(("dns", "example.com"),))
    assert x509_csr.check_csr_consistency(parsed, "example.com", []) == []
    assert [e.field for e in x509_csr.check_csr_consistency(parsed, "www.example.com", [])] == ["common_name"]


def test_wildcards_are_compared_literally() -> None:
    wildcard = _parsed(common_name="*.example.com", sans=(("dns", "*.example.com"),))
    errors = x509_csr.check_csr_consistency(wildcard, "*.example.com", [("dns", "www.example.com")])
    assert [e.field for e in errors] == ["sans[0].value"]
    plain = _parsed()
    errors = x509_csr.check_csr_consistency(plain, "www.example.com", [("dns", "*.example.com")])
    assert [e.field for e in errors] == ["sans[0].value"]


def test_names_are_compared_after_normalization() -> None:
    parsed = _parsed(common_name="xn--bcher-kva.de",
                     sans=(("dns", "xn--bcher-kva.de"), ("ip", "2001:db8::1"), ("email", "Ops@Example.com")))
    sans = [("dns", "BÜCHER.de"), ("ip", "2001:DB8:0::1"), ("email", "Ops@example.COM")]
    assert x509_csr.check_csr_consistency(parsed, "Bücher.de", sans) == []
    # The local part of an address is case-sensitive.
    assert len(x509_csr.check_csr_consistency(parsed, "bücher.de", [("email", "ops@example.com")])) == 1


def test_san_type_must_match() -> None:
    parsed = _parsed(sans=(("uri", "https://example.com/"), ("email", "admin@example.com")))
    errors = x509_csr.check_csr_consistency(parsed, "www.example.com", [("dns", "example.com")])
    assert [e.field for e in errors] == ["sans[0].value"]


def test_field_prefix() -> None:
    errors = x509_csr.check_csr_consistency(_parsed(), "other.example.com", [("dns", "x.example.com")], "reissue")
    assert [e.field for e in errors] == ["reissue.common_name", "reissue.sans[0].value"]


# ------------------------------------------------------------------------------------------------
# generate_key_and_csr
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("key_type", "size", "expected"), [
    ("rsa", None, ("rsa", 2048, None, "sha256")),
    ("ec", None, ("ec", 256, "secp256r1", "sha256")),
    ("EC", 384, ("ec", 384, "secp384r1", "sha384")),
])
def test_generate_key_and_csr(key_type: str, size: int | None, expected: tuple[Any, ...]) -> None:
    sans = [("dns", "example.com"), ("dns", "www.example.com"), ("ip", "192.0.2.7")]
    private_pem, csr_pem = x509_csr.generate_key_and_csr(key_type, size, "WWW.example.com", sans, None)
    assert private_pem.startswith("-----BEGIN PRIVATE KEY-----")  # PKCS#8, unencrypted
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    parsed = x509_csr.parse_csr(csr_pem)
    assert (parsed.key_type, parsed.key_size, parsed.curve, parsed.signature_hash) == expected
    assert parsed.public_key_fingerprint == spki_sha256(key.public_key())
    assert parsed.common_name == "www.example.com"
    assert parsed.sans == (("dns", "www.example.com"), ("dns", "example.com"), ("ip", "192.0.2.7"))
    assert x509_csr.check_csr_consistency(parsed, "www.example.com", sans) == []


def test_generated_csr_carries_the_organization_but_no_ou() -> None:
    organization = {"name": "Example GmbH", "country": "de", "state": "Berlin", "locality": "Berlin",
                    "unit": "IT", "digicert_org_id": 123}
    _, csr_pem = x509_csr.generate_key_and_csr("ec", 256, "bücher.de", [], organization)
    subject = x509.load_pem_x509_csr(csr_pem.encode()).subject
    values = {attr.oid: attr.value for attr in subject}
    assert values[NameOID.ORGANIZATION_NAME] == "Example GmbH"
    assert values[NameOID.COUNTRY_NAME] == "DE"
    assert values[NameOID.STATE_OR_PROVINCE_NAME] == "Berlin"
    assert values[NameOID.LOCALITY_NAME] == "Berlin"
    assert values[NameOID.COMMON_NAME] == "xn--bcher-kva.de"
    assert NameOID.ORGANIZATIONAL_UNIT_NAME not in values


def test_long_common_name_goes_only_into_the_sans() -> None:
    long_name = ("a" * 60) + ".example.com"
    _, csr_pem = x509_csr.generate_key_and_csr("ec", None, long_name, [], None)
    parsed = x509_csr.parse_csr(csr_pem)
    assert parsed.common_name is None and parsed.sans == (("dns", long_name),)
    assert x509_csr.check_csr_consistency(parsed, long_name, []) == []


def test_generation_reports_every_bad_field() -> None:
    with pytest.raises(ValidationFailed) as info:
        x509_csr.generate_key_and_csr("rsa", 1024, "a*.example.com", [("dns", "ok.example.com"), ("ip", "nope")],
                                 {"country": "XX", "name": "x" * 65})
    assert [e.field for e in info.value.errors] == ["key.size", "common_name", "sans[1].value",
                                                    "organization.country", "organization.name"]


@pytest.mark.parametrize(("key_type", "size", "field"), [
    ("dsa", None, "key.type"), ("ed25519", None, "key.type"), (None, None, "key.type"),
    ("rsa", 1024, "key.size"), ("rsa", 8192, "key.size"), ("ec", 521, "key.size"), ("ec", True, "key.size"),
    ("rsa", 2048.0, "key.size"), ("rsa", "2048", "key.size"),
])
def test_generation_key_choices(key_type: Any, size: Any, field: str) -> None:
    assert fails(x509_csr.generate_key_and_csr, key_type, size, "example.com", [], None)[0] == field


# ------------------------------------------------------------------------------------------------
# certificate facts and chains
# ------------------------------------------------------------------------------------------------


def _colon(digest: bytes) -> str:
    return ":".join(f"{b:02X}" for b in digest)


def test_certificate_info(pki: Pki) -> None:
    info = x509_certificates.certificate_info(pem_of(pki.leaf))
    der = pki.leaf.public_bytes(serialization.Encoding.DER)
    assert info.common_name == "www.example.com"
    assert info.sans == (("dns", "www.example.com"), ("dns", "example.com"))
    assert info.serial == format(pki.serial, "x")
    assert info.not_before == pki.leaf.not_valid_before_utc and info.not_before.tzinfo is dt.UTC
    assert info.not_after == pki.leaf.not_valid_after_utc and info.not_after.utcoffset() == dt.timedelta(0)
    assert info.sha1_fingerprint == _colon(hashlib.sha1(der).digest())  # what the sha1 fingerprint must equal
    assert info.sha256_fingerprint == _colon(hashlib.sha256(der).digest())
    assert len(info.sha256_fingerprint) == 32 * 3 - 1
    assert info.issuer_common_name == "Test Issuing CA"
    assert (info.key_type, info.key_size) == ("rsa", 2048)
    assert info.public_key_fingerprint == spki_sha256(pki.leaf_key.public_key())


def test_certificate_info_of_a_chain_describes_the_first(pki: Pki) -> None:
    info = x509_certificates.certificate_info(pem_of(pki.leaf) + pem_of(pki.intermediate))
    assert info.common_name == "www.example.com"
    ec_info = x509_certificates.certificate_info(pem_of(pki.intermediate))
    assert (ec_info.key_type, ec_info.key_size, ec_info.sans) == ("ec", 256, ())


@pytest.mark.parametrize("text", ["", "garbage", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"])
def test_certificate_info_of_garbage(text: str) -> None:
    with pytest.raises(core_errors.BadMaterial):
        x509_certificates.certificate_info(text)


def test_split_pem_chain(pki: Pki) -> None:
    leaf, inter, root = pem_of(pki.leaf), pem_of(pki.intermediate), pem_of(pki.root)
    messy = ("subject=CN=www.example.com\r\n" + leaf.replace("\n", "\r\n") + "\n\nissuer=...\n"
             + "  " + inter + root)
    assert x509_pem.split_pem_chain(messy) == [leaf, inter, root]
    assert x509_pem.split_pem_chain("") == []
    with pytest.raises(core_errors.BadMaterial):
        x509_pem.split_pem_chain(leaf + "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")


# ------------------------------------------------------------------------------------------------
# download formats
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def material(pki: Pki) -> tuple[str, str]:
    return pem_of(pki.leaf), pem_of(pki.intermediate)


def test_render_pem_chain_fullchain(material: tuple[str, str]) -> None:
    leaf, chain = material
    assert x509_formats.render("pem", leaf, chain) == (leaf.encode(), "application/x-pem-file", "pem")
    assert x509_formats.render("chain", leaf, chain) == (chain.encode(), "application/x-pem-file", "pem")
    assert x509_formats.render("FULLCHAIN", leaf, chain) == ((leaf + chain).encode(), "application/x-pem-file", "pem")


def test_render_drops_a_leaf_repeated_in_the_chain_and_splits_a_fullchain_leaf(material: tuple[str, str]) -> None:
    leaf, chain = material
    assert x509_formats.render("chain", leaf, leaf + chain)[0] == chain.encode()
    assert x509_formats.render("pem", leaf + chain, "")[0] == leaf.encode()
    assert x509_formats.render("fullchain", leaf + chain, chain)[0] == (leaf + chain).encode()


def test_render_der(pki: Pki, material: tuple[str, str]) -> None:
    body, content_type, extension = x509_formats.render("der", *material)
    assert (content_type, extension) == ("application/pkix-cert", "cer")
    assert x509.load_der_x509_certificate(body) == pki.leaf


def test_render_pkcs7(pki: Pki, material: tuple[str, str]) -> None:
    body, content_type, extension = x509_formats.render("pkcs7", *material)
    assert (content_type, extension) == ("application/pkcs7-mime", "p7b")
    certs = pkcs7.load_der_pkcs7_certificates(body)
    # A DER SET OF is sorted by encoding: the order is not the chain order, consumers build the path.
    assert len(certs) == 2 and set(certs) == {pki.leaf, pki.intermediate}


def test_render_zip_is_deterministic(material: tuple[str, str]) -> None:
    leaf, chain = material
    body, content_type, extension = x509_formats.render("zip", leaf, chain)
    assert (content_type, extension) == ("application/zip", "zip")
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert archive.namelist() == ["cert.pem", "chain.pem", "fullchain.pem"]
        assert archive.read("cert.pem").decode() == leaf
        assert archive.read("chain.pem").decode() == chain
        assert archive.read("fullchain.pem").decode() == leaf + chain
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert archive.testzip() is None
    assert x509_formats.render("zip", leaf, chain)[0] == body


def test_binary_formats_are_listed_for_api_gateway() -> None:
    for fmt, (content_type, _) in x509_formats.FORMATS.items():
        assert (content_type in x509_formats.BINARY_CONTENT_TYPES) == (fmt in {"der", "pkcs7", "zip"})
    assert x509_formats.PKCS12_CONTENT_TYPE in x509_formats.BINARY_CONTENT_TYPES


@pytest.mark.parametrize(("fmt", "message"), [("p12", "must be one of"), ("", "must be one of"), (None, "must be one of"),
                                              ("pkcs12", "passphrase")])
def test_render_unknown_format(material: tuple[str, str], fmt: Any, message: str) -> None:
    field, text = fails(x509_formats.render, fmt, *material)
    assert field == "format" and message in text


def test_render_without_a_certificate() -> None:
    with pytest.raises(core_errors.BadMaterial):
        x509_formats.render("pem", "no certificate here", "")


PASSPHRASE = "correct horse battery"


def test_pkcs12_round_trip(pki: Pki, material: tuple[str, str]) -> None:
    body = x509_formats.render_pkcs12(*material, key_pem(pki.leaf_key), PASSPHRASE, "www.example.com")
    loaded = pkcs12.load_pkcs12(body, PASSPHRASE.encode())
    assert loaded.cert is not None and loaded.cert.certificate == pki.leaf
    assert loaded.cert.friendly_name == b"www.example.com"
    assert [c.certificate for c in loaded.additional_certs] == [pki.intermediate]
    assert loaded.key is not None
    assert spki_sha256(loaded.key.public_key()) == spki_sha256(pki.leaf_key.public_key())
    with pytest.raises(ValueError):
        pkcs12.load_pkcs12(body, b"wrong passphrase")


# DER object identifiers: aes256-CBC (2.16.840.1.101.3.4.1.42), PBES2 (1.2.840.113549.1.5.13) and the
# legacy pbeWithSHAAnd3-KeyTripleDES-CBC (1.2.840.113549.1.12.1.3) that must not appear.
_AES256_CBC = bytes.fromhex("060960864801650304012a")
_PBES2 = bytes.fromhex("06092a864886f70d01050d")
_TRIPLE_DES = bytes.fromhex("060a2a864886f70d010c0103")


def test_pkcs12_uses_modern_encryption(pki: Pki, material: tuple[str, str]) -> None:
    body = x509_formats.render_pkcs12(*material, key_pem(pki.leaf_key), PASSPHRASE, None)
    assert _AES256_CBC in body and _PBES2 in body
    assert _TRIPLE_DES not in body


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
def test_openssl_reads_the_pkcs12_and_pkcs7(pki: Pki, material: tuple[str, str], tmp_path: Path) -> None:
    p12 = tmp_path / "cert.p12"
    p12.write_bytes(x509_formats.render_pkcs12(*material, key_pem(pki.leaf_key), PASSPHRASE, "web"))
    run = subprocess.run(["openssl", "pkcs12", "-info", "-noout", "-in", str(p12), "-passin", "env:P12PASS"],
                         capture_output=True, text=True, env={**os.environ, "P12PASS": PASSPHRASE}, timeout=20,
                         check=False)
    assert run.returncode == 0, run.stderr
    assert "AES-256-CBC" in run.stdout + run.stderr
    p7 = tmp_path / "cert.p7b"
    p7.write_bytes(x509_formats.render("pkcs7", *material)[0])
    run = subprocess.run(["openssl", "pkcs7", "-inform", "DER", "-in", str(p7), "-print_certs", "-noout"],
                         capture_output=True, text=True, timeout=20, check=False)
    assert run.returncode == 0, run.stderr
    assert "Test Issuing CA" in run.stdout


@pytest.mark.parametrize("passphrase", ["", "short", "1234567", None, 12345678, "x" * 1025])
def test_pkcs12_passphrase_rules(pki: Pki, material: tuple[str, str], passphrase: Any) -> None:
    field, message = fails(x509_formats.render_pkcs12, *material, key_pem(pki.leaf_key), passphrase, None)
    assert field == "passphrase" and "characters" in message
    assert fails(x509_formats.validate_passphrase, passphrase, "body.passphrase")[0] == "body.passphrase"


def test_valid_passphrase() -> None:
    assert x509_formats.validate_passphrase("12345678") == "12345678"
    assert x509_formats.validate_passphrase("ü" * 1024) == "ü" * 1024


def test_pkcs12_refuses_a_key_of_another_certificate(material: tuple[str, str], other_rsa_key: Any) -> None:
    with pytest.raises(core_errors.BadMaterial, match="does not belong"):
        x509_formats.render_pkcs12(*material, key_pem(other_rsa_key), PASSPHRASE, None)


def test_pkcs12_unreadable_key_does_not_leak_it(material: tuple[str, str], ec_key: Any) -> None:
    broken = key_pem(ec_key).replace("A", "B", 5)
    with pytest.raises(core_errors.BadMaterial) as info:
        x509_formats.render_pkcs12(*material, broken, PASSPHRASE, None)
    assert broken.splitlines()[1] not in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_module_import_does_not_load_cryptography() -> None:
    """Name validation runs on every order; it must not pay for importing cryptography."""
    code = ("import sys, chalicelib.x509.csr as c; c.validate_dns_name('bücher.de', 'f'); "
            "print('cryptography' in sys.modules)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[2], timeout=30, check=True)
    assert run.stdout.strip() == "False"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_corrupted_certificates_only_ever_raise_bad_material(pki: Pki, data: st.DataObject) -> None:
    der = bytearray(pki.leaf.public_bytes(serialization.Encoding.DER))
    for _ in range(data.draw(st.integers(1, 4))):
        der[data.draw(st.integers(0, len(der) - 1))] = data.draw(st.integers(0, 255))
    body = base64.encodebytes(bytes(der)).decode()
    pem = f"-----BEGIN CERTIFICATE-----\n{body}-----END CERTIFICATE-----\n"
    for call in (lambda: x509_certificates.certificate_info(pem), lambda: x509_formats.render("pkcs7", pem, ""),
                 lambda: x509_pem.split_pem_chain(pem)):
        try:
            call()
        except core_errors.BadMaterial:
            pass


# IDNA 2008 (RFC 5892) as the `idna` package implements it: where a hand-made "letters, marks and
# digits" rule differs from the standard. Each of these was answered wrongly before `idna`.
@pytest.mark.parametrize(("name", "expected"), [
    ("col·legi.cat", "xn--collegi-xma.cat"),  # Catalan middle dot between two l's (CONTEXTO)
    ("نامه\u200cای.ir", "xn--mgba3gch31f060k.ir"),  # Persian zero-width non-joiner (CONTEXTJ)
    ("ラーメン・すし.jp", "xn--68jd12b5a3c7be.jp"),  # Katakana middle dot with Japanese (CONTEXTO)
    ("עברית׳.com", "xn--5dbqzzl8c.com"),  # Hebrew geresh after Hebrew (CONTEXTO)
])
def test_idna_2008_context_rules_allow_these(name: str, expected: str) -> None:
    assert x509_names.validate_dns_name(name, "common_name") == expected


@pytest.mark.parametrize(("name", "message"), [
    ("ـتـ.com", "U+0640"),  # Arabic tatweel: a letter-like mark IDNA 2008 disallows
    ("〱〱.jp", "U+3031"),  # vertical kana repeat mark: disallowed
    ("col·.cat", "U+00B7"),  # a middle dot not between two l's
    ("a·b.example", "U+00B7"),
])
def test_idna_2008_refuses_these_naming_the_code_point(name: str, message: str) -> None:
    field, text = fails(x509_names.validate_dns_name, name, "sans[0].value")
    assert field == "sans[0].value" and message in text
