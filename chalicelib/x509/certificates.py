"""Certificate facts: `certificate_info` (names, validity, serial, fingerprints) of a PEM leaf.
Material that cannot be used raises `BadMaterial` (not the caller's mistake)."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalicelib.core.errors import BadMaterial
from chalicelib.x509.pem import load_certificates

if TYPE_CHECKING:
    from cryptography import x509

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

    certs = load_certificates(pem, "certificate")
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
    key_type, key_size = key_facts(public_key)

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
        public_key_fingerprint=spki_sha256(public_key),
    )


def _certificate_sans(cert: x509.Certificate) -> tuple[tuple[str, str], ...]:
    from cryptography import x509

    try:
        extension = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return ()
    except (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType) as exc:
        raise BadMaterial(f"certificate has malformed extensions: {exc}") from exc
    return general_names(extension.value)


def spki_sha256(public_key: Any) -> str:
    from cryptography.hazmat.primitives import serialization

    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def _colon_hex(digest: bytes) -> str:
    return ":".join(f"{byte:02X}" for byte in digest)


def key_kind(public_key: Any) -> str:
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

    kinds = ((rsa.RSAPublicKey, "rsa"), (ec.EllipticCurvePublicKey, "ec"), (dsa.DSAPublicKey, "dsa"),
             (ed25519.Ed25519PublicKey, "ed25519"), (ed448.Ed448PublicKey, "ed448"))
    return next((name for cls, name in kinds if isinstance(public_key, cls)), "unknown")


def key_facts(public_key: Any) -> tuple[str, int]:
    kind = key_kind(public_key)
    size = getattr(public_key, "key_size", 0) or 0
    if kind == "ec":
        size = public_key.curve.key_size
    elif kind == "ed25519":
        size = 256
    elif kind == "ed448":
        size = 456
    return kind, size


def general_names(names: x509.SubjectAlternativeName) -> tuple[tuple[str, str], ...]:
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
