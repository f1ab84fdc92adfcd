"""Certificate requests, names and certificate material — pure functions, no AWS I/O.

Four parts, in the order an order flows through them:
- names: `validate_dns_name`, `validate_san`, `validate_country` (IDNA, wildcards, homographs, ISO 3166);
- requests: `parse_csr`, `check_csr_consistency`, `generate_key_and_csr`;
- certificates: `certificate_info`, `split_pem_chain`;
- downloads: `render` (pem, chain, fullchain, der, pkcs7, zip) and `render_pkcs12`.

Validation failures raise `ValidationFailed` naming the request field (design.md section 2.1). Material
that comes from a provider or from storage and cannot be used raises `BadMaterial` instead: that is
not the caller's mistake, so the service maps it to a provider/internal error, not a 422.

`cryptography` is imported inside the functions that need it: name validation runs on every order and
should not pay for loading it (design.md section 1: no heavy imports on paths that do not need them).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import ipaddress
import re
import unicodedata
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from chalicelib.core.countries import COUNTRY_CODES
from chalicelib.core.errors import BadMaterial, FieldError, ValidationFailed

if TYPE_CHECKING:
    from cryptography import x509

MAX_CSR_BYTES = 32 * 1024
RSA_MIN_BITS = 2048
RSA_MAX_BITS = 8192
ACCEPTED_CURVES = {"secp256r1": "P-256", "secp384r1": "P-384"}
# As Let's Encrypt's Boulder: SHA-1 and SHA-224 signatures are refused even as proof of possession.
ACCEPTED_SIGNATURE_HASHES = frozenset({"sha256", "sha384", "sha512"})
SAN_TYPES = ("dns", "ip", "email", "uri")
GENERATED_KEY_SIZES: dict[str, tuple[int, ...]] = {"rsa": (2048, 3072, 4096), "ec": (256, 384)}
PASSPHRASE_MIN_LENGTH = 8
PASSPHRASE_MAX_LENGTH = 1024
# PBKDF2-SHA256 iterations for PKCS#12: far above OpenSSL's 2048 default, still ~0.1 s per file.
PKCS12_KDF_ROUNDS = 100_000

PEM_CONTENT_TYPE = "application/x-pem-file"
PKCS12_CONTENT_TYPE = "application/x-pkcs12"
PKCS12_EXTENSION = "p12"
# format -> (content type, file name extension)
FORMATS: dict[str, tuple[str, str]] = {
    "pem": (PEM_CONTENT_TYPE, "pem"),
    "chain": (PEM_CONTENT_TYPE, "pem"),
    "fullchain": (PEM_CONTENT_TYPE, "pem"),
    "der": ("application/pkix-cert", "cer"),  # .cer is the extension RFC 2585 registers
    "pkcs7": ("application/pkcs7-mime", "p7b"),
    "zip": ("application/zip", "zip"),
}
DOWNLOAD_FORMATS = (*FORMATS, "pkcs12")
# What app.api.binary_types must list so API Gateway passes these bodies through as bytes.
BINARY_CONTENT_TYPES = ("application/pkix-cert", "application/pkcs7-mime", "application/zip", PKCS12_CONTENT_TYPE)


def _fail(field: str, message: str) -> ValidationFailed:
    return ValidationFailed([FieldError(field, message)], detail=f"{field}: {message}")


# ---------------------------------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------------------------------

# Full stops that IDNA treats as label separators (ideographic, full-width, half-width ideographic).
_DOTS = re.compile("[\u3002\uff0e\uff61]")
_LDH = re.compile(r"[a-z0-9-]+")
_NOT_LDH = re.compile(r"[^a-z0-9-]")
# Script combinations that are ordinary writing, not spoofing (Unicode TS #39 "highly restrictive").
_SCRIPT_MIXES_ALLOWED = (
    frozenset({"LATIN", "CJK", "HIRAGANA", "KATAKANA"}),
    frozenset({"LATIN", "CJK", "BOPOMOFO"}),
    frozenset({"LATIN", "CJK", "HANGUL"}),
)
# First words of Unicode character names that belong to a script named differently.
_SCRIPT_ALIASES = {"KATAKANA-HIRAGANA": "KATAKANA", "IDEOGRAPHIC": "CJK"}


def validate_dns_name(name: str, field: str, *, allow_wildcard: bool = True) -> str:
    """Return `name` as the lower-case ASCII (A-label) form that goes into a certificate.

    Rules: Unicode is mapped like UTS #46 (NFKC, lower case) and each non-ASCII label is punycoded
    directly — not through `str.encode("idna")`, whose IDNA 2003 nameprep would silently turn
    "straße" into "strasse", a different name from the one the user typed (IDNA 2008 keeps them
    distinct). Labels are 1..63 characters, letters/digits/hyphens only after encoding, no leading or
    trailing hyphen, no '--' in positions 3-4 except valid `xn--` labels; the name has at least two
    labels, an all-numeric top-level label is refused, the whole is at most 253 characters. A
    wildcard is allowed only as the whole left-most label over at least two labels (*.example.com).
    A label whose letters mix scripts (Latin with Cyrillic or Greek ...) is refused as a likely
    homograph; a label in one script (pure Cyrillic, say) is fine, as are Japanese/Chinese/Korean
    mixes with Latin. One trailing dot (the absolute form) is dropped.
    """
    if not isinstance(name, str) or not name.strip():
        raise _fail(field, "must be a non-empty domain name")
    text = unicodedata.normalize("NFC", unicodedata.normalize("NFKC", name).lower())
    text = _DOTS.sub(".", text)
    if text.endswith("."):
        text = text[:-1]
    if _is_ip_address(text):
        raise _fail(field, f"{name!r} is an IP address, not a domain name: use a subject alternative name of type ip")
    wildcard = text.startswith("*.")
    base = text[2:] if wildcard else text
    if "*" in base:
        raise _fail(field, f"{name!r}: a wildcard is allowed only as the whole left-most label, as in *.example.com")
    if wildcard and not allow_wildcard:
        raise _fail(field, f"{name!r}: a wildcard is not allowed here")
    labels = base.split(".")
    if "" in labels:
        raise _fail(field, f"{name!r} has an empty label")
    if len(labels) < 2:
        if wildcard:
            raise _fail(field, f"{name!r}: a wildcard must cover a name of at least two labels, as in *.example.com")
        raise _fail(field, f"{name!r} needs at least two labels, as in example.com")
    ascii_labels = [_ascii_label(label, field) for label in labels]
    if ascii_labels[-1].isdigit():
        raise _fail(field, f"{name!r}: the top-level label must not be all-numeric")
    result = ("*." if wildcard else "") + ".".join(ascii_labels)
    if len(result) > 253:
        raise _fail(field, f"is {len(result)} characters long once encoded; the maximum is 253")
    return result


def _is_ip_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _ascii_label(label: str, field: str) -> str:
    if not label.isascii():
        return _encode_u_label(label, field)
    if label.startswith("xn--"):
        return _check_a_label(label, field)
    _check_ldh(label, field)
    return label


def _check_ldh(label: str, field: str) -> None:
    if len(label) > 63:
        raise _fail(field, f"label {label[:24]!r}... is {len(label)} characters long; the maximum is 63")
    if not _LDH.fullmatch(label):
        bad = _NOT_LDH.search(label)
        shown = bad.group() if bad else label
        raise _fail(field, f"label {label!r} contains {shown!r}: only letters, digits and hyphens are allowed")
    if label.startswith("-") or label.endswith("-"):
        raise _fail(field, f"label {label!r} must not start or end with a hyphen")
    if label[2:4] == "--" and not label.startswith("xn--"):
        raise _fail(field, f"label {label!r}: '--' in the third and fourth positions is reserved for encoded labels")


def _check_a_label(label: str, field: str) -> str:
    """An `xn--` label must be valid punycode of a valid U-label, in canonical form."""
    _check_ldh(label, field)
    try:
        unicode_label = label[4:].encode("ascii").decode("punycode")
    except UnicodeError as exc:
        raise _fail(field, f"label {label!r} is not valid punycode") from exc
    if not unicode_label or unicode_label.isascii():
        raise _fail(field, f"label {label!r} does not encode an internationalized label")
    if _encode_u_label(unicode_label, field) != label:
        raise _fail(field, f"label {label!r} is not the canonical encoding of {unicode_label!r}")
    return label


def _encode_u_label(label: str, field: str) -> str:
    for ch in label:
        category = unicodedata.category(ch)
        if ch != "-" and category[0] not in "LM" and category != "Nd":
            raise _fail(field, f"label {label!r} contains {_describe(ch)}, which is not allowed in a domain name")
    if unicodedata.category(label[0]).startswith("M"):
        raise _fail(field, f"label {label!r} must not start with a combining mark")
    if label != unicodedata.normalize("NFC", label.lower()):
        raise _fail(field, f"label {label!r} is not in lower-case NFC form")
    if label.startswith("-") or label.endswith("-") or label[2:4] == "--":
        raise _fail(field, f"label {label!r}: hyphens are not allowed at its ends or in positions 3-4")
    scripts = _letter_scripts(label)
    if len(scripts) > 1 and not any(scripts <= allowed for allowed in _SCRIPT_MIXES_ALLOWED):
        raise _fail(field, f"label {label!r} mixes {' and '.join(sorted(scripts))} letters: "
                           "a possible look-alike (homograph) of another name")
    _check_right_to_left(label, field)
    encoded = "xn--" + label.encode("punycode").decode("ascii")
    _check_ldh(encoded, field)
    return encoded


_RTL_CLASSES = frozenset({"R", "AL", "AN"})
_RTL_LABEL_ALLOWED = frozenset({"R", "AL", "AN", "EN", "ES", "CS", "ET", "ON", "BN", "NSM"})


def _check_right_to_left(label: str, field: str) -> None:
    """The RFC 5893 rules for a right-to-left label, so that it displays in the order it is stored."""
    classes = [unicodedata.bidirectional(ch) for ch in label]
    if not _RTL_CLASSES.intersection(classes):
        return
    trimmed = list(classes)
    while trimmed and trimmed[-1] == "NSM":
        trimmed.pop()
    ok = (classes[0] in ("R", "AL") and set(classes) <= _RTL_LABEL_ALLOWED
          and bool(trimmed) and trimmed[-1] in ("R", "AL", "EN", "AN")
          and not ("EN" in classes and "AN" in classes))
    if not ok:
        raise _fail(field, f"label {label!r} breaks the right-to-left label rules (RFC 5893): it must start with "
                           "a right-to-left letter, end with one or a digit, and not mix digit kinds")


def _letter_scripts(label: str) -> set[str]:
    """Scripts of the label's letters, from the first word of each Unicode character name."""
    scripts: set[str] = set()
    for ch in label:
        if unicodedata.category(ch).startswith("L"):
            word = unicodedata.name(ch, "UNKNOWN").split(" ", 1)[0]
            scripts.add(_SCRIPT_ALIASES.get(word, word))
    return scripts


def _describe(ch: str) -> str:
    return f"U+{ord(ch):04X} ({unicodedata.name(ch, 'unnamed')})"


_EMAIL_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}")
_URI_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*")


def validate_san(san_type: str, value: str, field: str) -> tuple[str, str]:
    """Validate one subject alternative name and return it normalized as (type, value).

    `field` names the entry, e.g. "sans[2]"; errors name "sans[2].type" or "sans[2].value".
    dns: `validate_dns_name`. ip: IPv4/IPv6 without zone, canonical text. email: an ASCII local part
    (rfc822Name is IA5) @ a domain validated like a DNS name, without wildcard. uri: ASCII, a scheme and
    a scheme-specific part; when it has an authority the host is an FQDN or an IP (RFC 5280 4.2.1.6).
    """
    kind = san_type.lower() if isinstance(san_type, str) else ""
    if kind not in SAN_TYPES:
        raise _fail(f"{field}.type", f"must be one of {', '.join(SAN_TYPES)}")
    value_field = f"{field}.value"
    if not isinstance(value, str) or not value:
        raise _fail(value_field, "must be a non-empty string")
    if kind == "dns":
        return kind, validate_dns_name(value, value_field)
    if kind == "ip":
        return kind, _validate_ip(value, value_field)
    if kind == "email":
        return kind, _validate_email(value, value_field)
    return kind, _validate_uri(value, value_field)


def _validate_ip(value: str, field: str) -> str:
    if "%" in value:
        raise _fail(field, f"{value!r}: an IPv6 zone is not allowed in a certificate")
    try:
        return str(ipaddress.ip_address(value))
    except ValueError as exc:
        raise _fail(field, f"{value!r} is not an IPv4 or IPv6 address") from exc


def _validate_email(value: str, field: str) -> str:
    local, at, domain = value.rpartition("@")
    if not at or not local or not domain:
        raise _fail(field, f"{value!r} is not an email address (local@domain)")
    if not _EMAIL_LOCAL.fullmatch(local) or local.startswith(".") or local.endswith(".") or ".." in local:
        raise _fail(field, f"{value!r}: the part before @ must be 1..64 ASCII characters without spaces or "
                           "leading, trailing or double dots")
    return f"{local}@{validate_dns_name(domain, field, allow_wildcard=False)}"


def _validate_uri(value: str, field: str) -> str:
    if not value.isascii() or any(ch.isspace() or not ch.isprintable() for ch in value):
        raise _fail(field, "must be ASCII without spaces (percent-encode anything else)")
    try:
        parts = urlsplit(value)
        host, _port = parts.hostname, parts.port
    except ValueError as exc:
        raise _fail(field, f"{value!r} is not a valid URI") from exc
    if not parts.scheme or not _URI_SCHEME.fullmatch(parts.scheme) or not (parts.netloc or parts.path):
        raise _fail(field, f"{value!r} must be an absolute URI with a scheme, as in https://example.com/")
    if parts.netloc:
        if not host:
            raise _fail(field, f"{value!r} has an authority without a host")
        if not _is_ip_address(host):
            validate_dns_name(host, field, allow_wildcard=False)
    return value


def validate_country(code: str, field: str) -> str:
    """Return `code` upper-cased if it is an officially assigned ISO 3166-1 alpha-2 code."""
    if not isinstance(code, str) or code.upper() not in COUNTRY_CODES:
        raise _fail(field, "must be an ISO 3166-1 alpha-2 country code, as in US or DE")
    return code.upper()


# ---------------------------------------------------------------------------------------------------
# Certificate requests
# ---------------------------------------------------------------------------------------------------

_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.S)
_CSR_LABELS = ("CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST")


@dataclass(frozen=True)
class ParsedCsr:
    common_name: str | None
    sans: tuple[tuple[str, str], ...]  # (dns|ip|email|uri, value), in CSR order
    key_type: str  # "rsa" | "ec"
    key_size: int  # RSA modulus bits or EC curve bits
    curve: str | None  # "secp256r1" | "secp384r1" for EC
    public_key_fingerprint: str  # SHA-256 of the DER SubjectPublicKeyInfo, lower-case hex
    signature_hash: str  # "sha256" ...
    pem: str  # the request re-encoded canonically (no text around it), to send to a provider

    @property
    def dns_names(self) -> tuple[str, ...]:
        return tuple(value for kind, value in self.sans if kind == "dns")


def parse_csr(pem: str, field: str = "csr") -> ParsedCsr:
    """Parse a PEM PKCS#10 request; refuse it unless its signature verifies and its key is strong.

    Accepted keys: RSA 2048..8192 bits (a multiple of 8, odd exponent >= 3) or EC P-256/P-384;
    signatures with SHA-256/384/512. Text around the PEM block (openssl -text output) is ignored;
    a second request, any other PEM block and above all a private key are refused.
    """
    der = _csr_der(pem, field)
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm

    try:
        csr = x509.load_der_x509_csr(der)
        public_key = csr.public_key()
    except (ValueError, UnsupportedAlgorithm, x509.InvalidVersion) as exc:
        raise _fail(field, "does not parse as a PKCS#10 certificate request") from exc
    key_type, key_size, curve = _check_request_key(public_key, field)
    try:
        signature_ok = csr.is_signature_valid
        hash_algorithm = csr.signature_hash_algorithm
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise _fail(field, "is signed with an unsupported algorithm") from exc
    if not signature_ok:
        raise _fail(field, "signature does not verify: the request was altered or not signed by its own key")
    hash_name = hash_algorithm.name if hash_algorithm is not None else "none"
    if hash_name not in ACCEPTED_SIGNATURE_HASHES:
        raise _fail(field, f"is signed with {hash_name}; sign it with SHA-256 or stronger")
    return ParsedCsr(
        common_name=_request_common_name(csr, field),
        sans=_request_sans(csr, field),
        key_type=key_type,
        key_size=key_size,
        curve=curve,
        public_key_fingerprint=_spki_sha256(public_key),
        signature_hash=hash_name,
        pem=_pem_of(csr),
    )


def _csr_der(pem: str, field: str) -> bytes:
    if not isinstance(pem, str) or not pem.strip():
        raise _fail(field, "must be a PEM-encoded certificate request")
    if len(pem.encode("utf-8")) > MAX_CSR_BYTES:
        raise _fail(field, f"is larger than {MAX_CSR_BYTES // 1024} KiB")
    # Checked on the raw text, so that even a malformed key block is never passed along.
    if re.search(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----", pem):
        raise _fail(field, "contains a private key: send only the CERTIFICATE REQUEST block, and consider "
                           "that key exposed")
    blocks = _PEM_BLOCK.findall(pem)
    requests = [body for label, body in blocks if label in _CSR_LABELS]
    if not requests:
        if any(label == "CERTIFICATE" for label, _ in blocks):
            raise _fail(field, "is a certificate, not a certificate request")
        raise _fail(field, "is not a PEM certificate request (-----BEGIN CERTIFICATE REQUEST-----)")
    if len(blocks) > 1:
        raise _fail(field, "must contain exactly one PEM block, the certificate request")
    try:
        return base64.b64decode("".join(requests[0].split()), validate=True)
    except ValueError as exc:  # binascii.Error, or non-ASCII text
        raise _fail(field, "is not valid PEM: the body is not base64") from exc


def _check_request_key(public_key: Any, field: str) -> tuple[str, int, str | None]:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if isinstance(public_key, rsa.RSAPublicKey):
        bits, exponent = public_key.key_size, public_key.public_numbers().e
        if bits < RSA_MIN_BITS:
            raise _fail(field, f"RSA key of {bits} bits is too weak: at least {RSA_MIN_BITS} bits are required")
        if bits > RSA_MAX_BITS:
            raise _fail(field, f"RSA key of {bits} bits is larger than the {RSA_MAX_BITS} bits accepted")
        if bits % 8:
            raise _fail(field, f"RSA key of {bits} bits: the modulus size must be a multiple of 8")
        if exponent < 3 or exponent % 2 == 0:
            raise _fail(field, f"RSA public exponent {exponent} is not accepted (must be odd and at least 3)")
        return "rsa", bits, None
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        curve = public_key.curve.name
        if curve not in ACCEPTED_CURVES:
            raise _fail(field, f"EC curve {curve} is not accepted: use P-256 or P-384")
        return "ec", public_key.curve.key_size, curve
    raise _fail(field, f"{_key_kind(public_key)} keys are not accepted: use RSA (2048-8192 bits) or EC P-256/P-384")


def _key_kind(public_key: Any) -> str:
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

    kinds = ((rsa.RSAPublicKey, "rsa"), (ec.EllipticCurvePublicKey, "ec"), (dsa.DSAPublicKey, "dsa"),
             (ed25519.Ed25519PublicKey, "ed25519"), (ed448.Ed448PublicKey, "ed448"))
    return next((name for cls, name in kinds if isinstance(public_key, cls)), "unknown")


def _key_facts(public_key: Any) -> tuple[str, int]:
    kind = _key_kind(public_key)
    size = getattr(public_key, "key_size", 0) or 0
    if kind == "ec":
        size = public_key.curve.key_size
    elif kind == "ed25519":
        size = 256
    elif kind == "ed448":
        size = 456
    return kind, size


def _request_common_name(csr: x509.CertificateSigningRequest, field: str) -> str | None:
    from cryptography.x509.oid import NameOID

    try:
        values = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    except (ValueError, TypeError) as exc:  # TypeError: what a malformed name attribute raises
        raise _fail(field, "has a malformed subject") from exc
    if len(values) > 1:
        raise _fail(field, "has more than one common name")
    return str(values[0].value) if values else None


def _request_sans(csr: x509.CertificateSigningRequest, field: str) -> tuple[tuple[str, str], ...]:
    from cryptography import x509

    try:
        extension = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return ()
    except (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType) as exc:
        raise _fail(field, "has malformed extensions") from exc
    names = _general_names(extension.value)
    if len(names) != len(extension.value):
        raise _fail(field, "has a subject alternative name of a type other than dns, ip, email or uri")
    return names


def _general_names(names: x509.SubjectAlternativeName) -> tuple[tuple[str, str], ...]:
    from cryptography import x509

    out: list[tuple[str, str]] = []
    for name in names:
        if isinstance(name, x509.DNSName):
            out.append(("dns", name.value))
        elif isinstance(name, x509.IPAddress):
            out.append(("ip", str(name.value)))
        elif isinstance(name, x509.RFC822Name):
            out.append(("email", name.value))
        elif isinstance(name, x509.UniformResourceIdentifier):
            out.append(("uri", name.value))
    return tuple(out)


def check_csr_consistency(parsed: ParsedCsr, common_name: str, sans: Sequence[tuple[str, str]],
                          field_prefix: str = "") -> list[FieldError]:
    """Errors for requested names that the CSR's key holder did not ask for (empty list: consistent).

    Rules — the certificate may only carry names the CSR lists, so nobody can get a certificate for
    someone else's key and a name its holder never requested:
    - if the CSR has a common name, the requested `common_name` must be that same name;
      a CSR without one must list the requested common name among its DNS SANs;
    - every requested SAN must be in the CSR's SANs with the same type (or, for a DNS SAN, be the CSR's
      common name);
    - comparison is after normalization (IDNA A-labels, lower case, canonical IP text, email domain
      lower-cased) and otherwise literal: "*.example.com" in the CSR does not cover
      "www.example.com", nor the reverse;
    - the request may ask for fewer names than the CSR lists (a subset of what the holder asked for).
    Errors name `{field_prefix}common_name` and `{field_prefix}sans[i].value`.
    """
    prefix = field_prefix if not field_prefix or field_prefix.endswith(".") else f"{field_prefix}."
    csr_names = {_comparable(kind, value) for kind, value in parsed.sans}
    csr_cn = _comparable_dns(parsed.common_name) if parsed.common_name is not None else None
    wanted_cn = _comparable_dns(common_name)
    errors: list[FieldError] = []
    if csr_cn is not None and wanted_cn != csr_cn:
        errors.append(FieldError(f"{prefix}common_name",
                                 f"does not match the CSR's common name {parsed.common_name!r}"))
    elif csr_cn is None and ("dns", wanted_cn) not in csr_names:
        errors.append(FieldError(f"{prefix}common_name",
                                 "the CSR has no common name and does not list this name among its DNS names"))
    for index, (kind, value) in enumerate(sans):
        key = _comparable(kind, value)
        if key in csr_names or (key[0] == "dns" and key[1] == csr_cn):
            continue
        errors.append(FieldError(f"{prefix}sans[{index}].value",
                                 f"{value!r} is not among the CSR's names (its common name and subject "
                                 "alternative names)"))
    return errors


def _comparable_dns(name: str) -> str:
    try:
        return validate_dns_name(name, "name")
    except ValidationFailed:
        # Not a valid DNS name: still comparable as text (it will simply not match a valid one).
        return name.lower() if isinstance(name, str) else ""


def _comparable(kind: str, value: str) -> tuple[str, str]:
    kind = kind.lower() if isinstance(kind, str) else ""
    if not isinstance(value, str):
        return kind, ""
    if kind == "dns":
        return kind, _comparable_dns(value)
    if kind == "ip":
        try:
            return kind, str(ipaddress.ip_address(value))
        except ValueError:
            return kind, value.lower()
    if kind == "email":
        local, at, domain = value.rpartition("@")
        return kind, f"{local}{at}{_comparable_dns(domain)}" if at else value
    return kind, value


def generate_key_and_csr(key_type: str, key_size: int | None, common_name: str,
                         sans: Sequence[tuple[str, str]],
                         organization: Mapping[str, Any] | None) -> tuple[str, str]:
    """Generate a private key and a CSR for it; return (unencrypted PKCS#8 key PEM, CSR PEM).

    Keys: rsa 2048 (default)/3072/4096, ec 256 (default, P-256)/384 (P-384). The CSR's SANs are the
    common name first, then `sans`, de-duplicated. The common name goes into the subject only when
    it fits X.509's 64-character limit (it is always a SAN). Organization: name -> O, country -> C,
    state -> ST, locality -> L; `unit` is left out on purpose — the CA/B Baseline Requirements ban OU
    from public certificates since 2022 and CAs reject requests carrying it. The caller encrypts the
    key (keys.KeyVault) before storing it anywhere.
    """
    errors: list[FieldError] = []

    def attempt(check: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return check(*args, **kwargs)
        except ValidationFailed as exc:
            errors.extend(exc.errors)
            return None

    kind = key_type.lower() if isinstance(key_type, str) else ""
    size: Any = None
    if kind not in GENERATED_KEY_SIZES:
        errors.append(FieldError("key.type", f"must be one of {', '.join(GENERATED_KEY_SIZES)}"))
    else:
        allowed = GENERATED_KEY_SIZES[kind]
        size = allowed[0] if key_size is None else key_size
        if not isinstance(size, int) or isinstance(size, bool) or size not in allowed:
            errors.append(FieldError("key.size", f"for {kind} keys must be one of {', '.join(map(str, allowed))}"))
    cn = attempt(validate_dns_name, common_name, "common_name")
    names: list[tuple[str, str]] = [("dns", cn)] if cn else []
    for index, (san_type, value) in enumerate(sans):
        san = attempt(validate_san, san_type, value, f"sans[{index}]")
        if san and san not in names:
            names.append(san)
    subject_extra = _organization_attributes(organization or {}, errors, attempt)
    if errors:
        raise ValidationFailed(errors)
    return _build_key_and_csr(kind, size, cn, names, subject_extra)


def _organization_attributes(organization: Mapping[str, Any], errors: list[FieldError],
                             attempt: Callable[..., Any]) -> list[tuple[str, str]]:
    """(NameOID attribute name, value) pairs for the subject, in conventional order."""
    attributes: list[tuple[str, str]] = []
    for key, oid_name in (("country", "COUNTRY_NAME"), ("state", "STATE_OR_PROVINCE_NAME"),
                          ("locality", "LOCALITY_NAME"), ("name", "ORGANIZATION_NAME")):
        value = organization.get(key)
        if value is None or value == "":
            continue
        field = f"organization.{key}"
        if key == "country":
            value = attempt(validate_country, value, field)
        elif not isinstance(value, str) or len(value) > 64 or not value.strip():
            errors.append(FieldError(field, "must be a string of 1..64 characters"))
            value = None
        if value:
            attributes.append((oid_name, value))
    return attributes


def _build_key_and_csr(kind: str, size: int, common_name: str, names: list[tuple[str, str]],
                       subject_extra: list[tuple[str, str]]) -> tuple[str, str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import NameOID

    key: Any
    if kind == "rsa":
        key = rsa.generate_private_key(public_exponent=65537, key_size=size)
        digest: hashes.HashAlgorithm = hashes.SHA256()
    else:
        key = ec.generate_private_key(ec.SECP256R1() if size == 256 else ec.SECP384R1())
        digest = hashes.SHA256() if size == 256 else hashes.SHA384()
    attributes = [x509.NameAttribute(getattr(NameOID, oid_name), value) for oid_name, value in subject_extra]
    if len(common_name) <= 64:
        attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    general_names = [_general_name(kind_, value) for kind_, value in names]
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name(attributes))
           .add_extension(x509.SubjectAlternativeName(general_names), critical=False)
           .sign(key, digest))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode("ascii")
    return key_pem, _pem_of(csr)


def _general_name(kind: str, value: str) -> x509.GeneralName:
    from cryptography import x509

    if kind == "dns":
        return x509.DNSName(value)
    if kind == "ip":
        return x509.IPAddress(ipaddress.ip_address(value))
    if kind == "email":
        return x509.RFC822Name(value)
    return x509.UniformResourceIdentifier(value)


# ---------------------------------------------------------------------------------------------------
# Certificates
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CertInfo:
    common_name: str | None
    sans: tuple[tuple[str, str], ...]
    serial: str  # lower-case hex, no separators (as the simulators' CA reports it)
    not_before: dt.datetime  # aware, UTC
    not_after: dt.datetime  # aware, UTC
    sha1_fingerprint: str  # upper-case colon hex, as browsers and openssl show it
    sha256_fingerprint: str
    issuer_common_name: str | None
    key_type: str  # rsa | ec | ed25519 | ...
    key_size: int
    public_key_fingerprint: str  # as ParsedCsr.public_key_fingerprint: compare to check key/cert match


def certificate_info(pem: str) -> CertInfo:
    """Facts about the first certificate in `pem` (the leaf when given a full chain)."""
    from cryptography.exceptions import UnsupportedAlgorithm

    certs = _load_certificates(pem, "certificate")
    if not certs:
        raise BadMaterial("no certificate found in the PEM text")
    try:
        return _certificate_facts(certs[0])
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        # cryptography decodes fields lazily, so a damaged subject or key only fails here (TypeError
        # included: it is what a malformed name attribute raises).
        raise BadMaterial(f"certificate does not parse: {exc}") from exc


def _certificate_facts(cert: x509.Certificate) -> CertInfo:
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    public_key = cert.public_key()
    key_type, key_size = _key_facts(public_key)

    def cn_of(name: x509.Name) -> str | None:
        values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
        return str(values[0].value) if values else None

    return CertInfo(
        common_name=cn_of(cert.subject),
        sans=_certificate_sans(cert),
        serial=format(cert.serial_number, "x"),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        sha1_fingerprint=_colon_hex(cert.fingerprint(hashes.SHA1())),  # a fingerprint people compare  # nosec B303
        sha256_fingerprint=_colon_hex(cert.fingerprint(hashes.SHA256())),
        issuer_common_name=cn_of(cert.issuer),
        key_type=key_type,
        key_size=key_size,
        public_key_fingerprint=_spki_sha256(public_key),
    )


def _certificate_sans(cert: x509.Certificate) -> tuple[tuple[str, str], ...]:
    from cryptography import x509

    try:
        extension = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return ()
    except (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType) as exc:
        raise BadMaterial(f"certificate has malformed extensions: {exc}") from exc
    return _general_names(extension.value)


def split_pem_chain(text: str) -> list[str]:
    """Each certificate in `text` as a canonical PEM string, in order; text between blocks is ignored."""
    return [_pem_of(cert) for cert in _load_certificates(text, "chain")]


def _load_certificates(text: str | None, what: str) -> list[x509.Certificate]:
    from cryptography import x509

    if not text:
        return []
    if not isinstance(text, str):
        raise BadMaterial(f"{what} must be PEM text")
    certs = []
    for index, (label, body) in enumerate(_PEM_BLOCK.findall(text)):
        if label != "CERTIFICATE":
            continue
        try:
            certs.append(x509.load_der_x509_certificate(base64.b64decode("".join(body.split()), validate=True)))
        except (ValueError, x509.InvalidVersion) as exc:  # binascii.Error is a ValueError
            raise BadMaterial(f"{what}: PEM block {index + 1} is not a valid certificate") from exc
    return certs


def _pem_of(obj: Any) -> str:
    from cryptography.hazmat.primitives import serialization

    return obj.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _spki_sha256(public_key: Any) -> str:
    from cryptography.hazmat.primitives import serialization

    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def _colon_hex(digest: bytes) -> str:
    return ":".join(f"{byte:02X}" for byte in digest)


# ---------------------------------------------------------------------------------------------------
# Downloads
# ---------------------------------------------------------------------------------------------------


def render(fmt: str, leaf_pem: str, chain_pem: str | None) -> tuple[bytes, str, str]:
    """The certificate in download format `fmt`: (body, content type, file name extension).

    pem: the leaf; chain: the intermediates; fullchain: leaf then intermediates; der: the leaf in DER;
    pkcs7: a DER certs-only PKCS#7 of leaf and intermediates (a DER SET, so in encoding order, not chain
    order — readers build the path themselves); zip: cert.pem, chain.pem and
    fullchain.pem with fixed timestamps (same input, same bytes). Certificates in `leaf_pem` after the
    first are treated as chain; a chain entry equal to the leaf is dropped. The chain is otherwise kept
    as the provider sent it.
    """
    kind = fmt.lower() if isinstance(fmt, str) else ""
    if kind == "pkcs12":
        raise _fail("format", "pkcs12 needs the private key and a passphrase: use the POST download with a passphrase")
    if kind not in FORMATS:
        raise _fail("format", f"must be one of {', '.join(DOWNLOAD_FORMATS)}")
    content_type, extension = FORMATS[kind]
    leaf, chain = _leaf_and_chain(leaf_pem, chain_pem)
    leaf_text = _pem_of(leaf)
    chain_text = "".join(_pem_of(cert) for cert in chain)
    if kind == "pem":
        body = leaf_text.encode("ascii")
    elif kind == "chain":
        body = chain_text.encode("ascii")
    elif kind == "fullchain":
        body = (leaf_text + chain_text).encode("ascii")
    elif kind == "der":
        from cryptography.hazmat.primitives import serialization

        body = leaf.public_bytes(serialization.Encoding.DER)
    elif kind == "pkcs7":
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.serialization import pkcs7

        body = pkcs7.serialize_certificates([leaf, *chain], serialization.Encoding.DER)
    else:
        body = _zip({"cert.pem": leaf_text, "chain.pem": chain_text, "fullchain.pem": leaf_text + chain_text})
    return body, content_type, extension


def _leaf_and_chain(leaf_pem: str, chain_pem: str | None) -> tuple[x509.Certificate, list[x509.Certificate]]:
    from cryptography.hazmat.primitives import hashes

    given = _load_certificates(leaf_pem, "certificate")
    if not given:
        raise BadMaterial("no certificate found in the PEM text")
    leaf, chain = given[0], []
    seen = {leaf.fingerprint(hashes.SHA256())}
    for cert in [*given[1:], *_load_certificates(chain_pem, "chain")]:
        fingerprint = cert.fingerprint(hashes.SHA256())
        if fingerprint not in seen:
            seen.add(fingerprint)
            chain.append(cert)
    return leaf, chain


def _zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            # A fixed date and mode: identical certificates give identical archives (cacheable, testable).
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, text)
    return buffer.getvalue()


def validate_passphrase(passphrase: str, field: str = "passphrase") -> str:
    """A PKCS#12 passphrase of 8..1024 characters. Call it before unsealing the key, to spare a KMS call."""
    if not isinstance(passphrase, str) or not PASSPHRASE_MIN_LENGTH <= len(passphrase) <= PASSPHRASE_MAX_LENGTH:
        raise _fail(field, f"must be {PASSPHRASE_MIN_LENGTH} to {PASSPHRASE_MAX_LENGTH} characters long")
    return passphrase


def render_pkcs12(leaf_pem: str, chain_pem: str | None, private_key_pem: str, passphrase: str,
                  friendly_name: str | None = None) -> bytes:
    """A PKCS#12 (content type PKCS12_CONTENT_TYPE) of key, leaf and chain, encrypted with `passphrase`.

    Encryption is PBES2 (PBKDF2-SHA256, AES-256-CBC) with an HMAC-SHA256 MAC, which OpenSSL 1.1.1+/3
    and current Java read; the legacy 3DES/RC2 form some old Windows/macOS importers want is weak and
    deliberately not offered.
    Passphrase: 8..1024 characters, else ValidationFailed on `passphrase`. A key that does not belong
    to the certificate raises BadMaterial.
    """
    validate_passphrase(passphrase)
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    leaf, chain = _leaf_and_chain(leaf_pem, chain_pem)
    if not isinstance(private_key_pem, str):
        raise BadMaterial("the stored private key is not PEM text")
    try:
        key = serialization.load_pem_private_key(private_key_pem.encode("utf-8"), password=None)
    except (ValueError, TypeError):
        # Not chained: the loader's message could quote key material, and errors end up in logs.
        raise BadMaterial("the stored private key does not load (or is encrypted)") from None
    try:
        leaf_key_fingerprint = _spki_sha256(leaf.public_key())
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise BadMaterial(f"the certificate's public key does not parse: {exc}") from exc
    if _spki_sha256(key.public_key()) != leaf_key_fingerprint:
        raise BadMaterial("the private key does not belong to the certificate")
    encryption = (serialization.PrivateFormat.PKCS12.encryption_builder()
                  .kdf_rounds(PKCS12_KDF_ROUNDS)
                  .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
                  .hmac_hash(hashes.SHA256())
                  .build(passphrase.encode("utf-8")))
    name = friendly_name.encode("utf-8") if friendly_name else None
    return pkcs12.serialize_key_and_certificates(name, key, leaf, chain or None, encryption)  # type: ignore[arg-type]
