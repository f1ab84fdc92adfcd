"""Names: DNS names (IDNA 2008 / UTS-46 via the `idna` rules, wildcards, homographs), SAN values
and ISO 3166 country codes. Failures raise `ValidationFailed` naming the request field."""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from urllib.parse import urlsplit

import idna

from chalicelib.core.countries import COUNTRY_CODES
from chalicelib.core.errors import FieldError, ValidationFailed
from chalicelib.core.vocabulary import SAN_TYPES


def invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed([FieldError(field, message)], detail=f"{field}: {message}")


# ---------------------------------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------------------------------

_CODEPOINT = re.compile(r"U\+([0-9A-F]{4,6})")
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

    Rules: the name is mapped by UTS #46 (non-transitional: "straße" stays "straße", a different
    name from "strasse", as IDNA 2008 has it) and each non-ASCII label must be a valid IDNA 2008
    U-label (RFC 5891/5892/5893: code point classes, CONTEXTJ/CONTEXTO rules such as the Catalan
    middle dot or a Persian zero-width non-joiner, right-to-left labels) — both from the `idna`
    package, never `str.encode("idna")` (IDNA 2003). Labels are 1..63 characters, letters/digits/hyphens only after encoding, no leading or
    trailing hyphen, no '--' in positions 3-4 except valid `xn--` labels; the name has at least two
    labels, an all-numeric top-level label is refused, the whole is at most 253 characters. A
    wildcard is allowed only as the whole left-most label over at least two labels (*.example.com).
    A label whose letters mix scripts (Latin with Cyrillic or Greek ...) is refused as a likely
    homograph; a label in one script (pure Cyrillic, say) is fine, as are Japanese/Chinese/Korean
    mixes with Latin. One trailing dot (the absolute form) is dropped.
    """
    if not isinstance(name, str) or not name.strip():
        raise invalid(field, "must be a non-empty domain name")
    try:
        # std3_rules off: '*', '_' and spaces pass through to the checks below, which name them.
        text = idna.uts46_remap(name, std3_rules=False, transitional=False)
    except idna.IDNAError as exc:
        raise invalid(field, f"{name!r} {_idna_reason(exc)}") from exc
    if text.endswith("."):
        text = text[:-1]
    if _is_ip_address(text):
        raise invalid(field, f"{name!r} is an IP address, not a domain name: use a subject alternative name of type ip")
    wildcard = text.startswith("*.")
    base = text[2:] if wildcard else text
    if "*" in base:
        raise invalid(field, f"{name!r}: a wildcard is allowed only as the whole left-most label, as in *.example.com")
    if wildcard and not allow_wildcard:
        raise invalid(field, f"{name!r}: a wildcard is not allowed here")
    labels = base.split(".")
    if "" in labels:
        raise invalid(field, f"{name!r} has an empty label")
    if len(labels) < 2:
        if wildcard:
            raise invalid(field, f"{name!r}: a wildcard must cover a name of at least two labels, as in *.example.com")
        raise invalid(field, f"{name!r} needs at least two labels, as in example.com")
    ascii_labels = [_ascii_label(label, field) for label in labels]
    if ascii_labels[-1].isdigit():
        raise invalid(field, f"{name!r}: the top-level label must not be all-numeric")
    result = ("*." if wildcard else "") + ".".join(ascii_labels)
    if len(result) > 253:
        raise invalid(field, f"is {len(result)} characters long once encoded; the maximum is 253")
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
        raise invalid(field, f"label {label[:24]!r}... is {len(label)} characters long; the maximum is 63")
    if not _LDH.fullmatch(label):
        bad = _NOT_LDH.search(label)
        shown = bad.group() if bad else label
        raise invalid(field, f"label {label!r} contains {shown!r}: only letters, digits and hyphens are allowed")
    if label.startswith("-") or label.endswith("-"):
        raise invalid(field, f"label {label!r} must not start or end with a hyphen")
    if label[2:4] == "--" and not label.startswith("xn--"):
        raise invalid(field, f"label {label!r}: '--' in the third and fourth positions is reserved for encoded labels")


def _check_a_label(label: str, field: str) -> str:
    """An `xn--` label must be valid punycode of a valid U-label, in canonical form."""
    _check_ldh(label, field)
    try:
        unicode_label = label[4:].encode("ascii").decode("punycode")
    except UnicodeError as exc:
        raise invalid(field, f"label {label!r} is not valid punycode") from exc
    if not unicode_label or unicode_label.isascii():
        raise invalid(field, f"label {label!r} does not encode an internationalized label")
    if _encode_u_label(unicode_label, field) != label:
        raise invalid(field, f"label {label!r} is not the canonical encoding of {unicode_label!r}")
    return label


def _encode_u_label(label: str, field: str) -> str:
    if label != unicodedata.normalize("NFC", label.lower()):
        raise invalid(field, f"label {label!r} is not in lower-case NFC form")
    try:
        encoded = idna.alabel(label).decode("ascii")  # RFC 5891 5.4: the U-label's IDNA 2008 checks
    except idna.IDNABidiError as exc:
        raise invalid(field, f"label {label!r} breaks the right-to-left label rules (RFC 5893): it must start with "
                           "a right-to-left letter, end with one or a digit, and not mix digit kinds") from exc
    except idna.IDNAError as exc:
        raise invalid(field, f"label {label!r} {_idna_reason(exc)}") from exc
    scripts = _letter_scripts(label)
    if len(scripts) > 1 and not any(scripts <= allowed for allowed in _SCRIPT_MIXES_ALLOWED):
        raise invalid(field, f"label {label!r} mixes {' and '.join(sorted(scripts))} letters: "
                           "a possible look-alike (homograph) of another name")
    _check_ldh(encoded, field)
    return encoded


def _idna_reason(exc: idna.IDNAError) -> str:
    """Why `idna` refused a name, in words, naming the code point it names."""
    found = _CODEPOINT.search(str(exc))
    what = _describe(chr(int(found.group(1), 16))) if found else None
    if isinstance(exc, idna.InvalidCodepointContext):
        return f"contains {what or 'a character'} where IDNA 2008 does not allow it (its context rule fails)"
    if isinstance(exc, idna.InvalidCodepoint):
        return f"contains {what or 'a character'}, which is not allowed in a domain name (IDNA 2008)"
    text = str(exc)
    if "combining" in text:
        return "must not start with a combining mark"
    if "hyphen" in text.lower():
        return "has hyphens at its ends or in positions 3-4"
    if "too long" in text.lower():
        return "is more than 63 characters long once encoded (the maximum is 63)"
    return f"is not a valid internationalized name: {text}"


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
        raise invalid(f"{field}.type", f"must be one of {', '.join(SAN_TYPES)}")
    value_field = f"{field}.value"
    if not isinstance(value, str) or not value:
        raise invalid(value_field, "must be a non-empty string")
    if kind == "dns":
        return kind, validate_dns_name(value, value_field)
    if kind == "ip":
        return kind, _validate_ip(value, value_field)
    if kind == "email":
        return kind, _validate_email(value, value_field)
    return kind, _validate_uri(value, value_field)


def _validate_ip(value: str, field: str) -> str:
    if "%" in value:
        raise invalid(field, f"{value!r}: an IPv6 zone is not allowed in a certificate")
    try:
        return str(ipaddress.ip_address(value))
    except ValueError as exc:
        raise invalid(field, f"{value!r} is not an IPv4 or IPv6 address") from exc


def _validate_email(value: str, field: str) -> str:
    local, at, domain = value.rpartition("@")
    if not at or not local or not domain:
        raise invalid(field, f"{value!r} is not an email address (local@domain)")
    if not _EMAIL_LOCAL.fullmatch(local) or local.startswith(".") or local.endswith(".") or ".." in local:
        raise invalid(field, f"{value!r}: the part before @ must be 1..64 ASCII characters without spaces or "
                           "leading, trailing or double dots")
    return f"{local}@{validate_dns_name(domain, field, allow_wildcard=False)}"


def _validate_uri(value: str, field: str) -> str:
    if not value.isascii() or any(ch.isspace() or not ch.isprintable() for ch in value):
        raise invalid(field, "must be ASCII without spaces (percent-encode anything else)")
    try:
        parts = urlsplit(value)
        host, _port = parts.hostname, parts.port
    except ValueError as exc:
        raise invalid(field, f"{value!r} is not a valid URI") from exc
    if not parts.scheme or not _URI_SCHEME.fullmatch(parts.scheme) or not (parts.netloc or parts.path):
        raise invalid(field, f"{value!r} must be an absolute URI with a scheme, as in https://example.com/")
    if parts.netloc:
        if not host:
            raise invalid(field, f"{value!r} has an authority without a host")
        if not _is_ip_address(host):
            validate_dns_name(host, field, allow_wildcard=False)
    return value


def validate_country(code: str, field: str) -> str:
    """Return `code` upper-cased if it is an officially assigned ISO 3166-1 alpha-2 code."""
    if not isinstance(code, str) or code.upper() not in COUNTRY_CODES:
        raise invalid(field, "must be an ISO 3166-1 alpha-2 country code, as in US or DE")
    return code.upper()


