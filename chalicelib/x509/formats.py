"""Download formats: `render` (pem, chain, fullchain, der, pkcs7, zip) and `render_pkcs12`."""

from __future__ import annotations

import io
import zipfile
from typing import TYPE_CHECKING

from chalicelib.core.errors import BadMaterial
from chalicelib.x509.certificates import spki_sha256
from chalicelib.x509.names import invalid
from chalicelib.x509.pem import load_certificates, pem_of

if TYPE_CHECKING:
    from cryptography import x509

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
        raise invalid("format", "pkcs12 needs the private key and a passphrase: use the POST download with a passphrase")
    if kind not in FORMATS:
        raise invalid("format", f"must be one of {', '.join(DOWNLOAD_FORMATS)}")
    content_type, extension = FORMATS[kind]
    leaf, chain = _leaf_and_chain(leaf_pem, chain_pem)
    leaf_text = pem_of(leaf)
    chain_text = "".join(pem_of(cert) for cert in chain)
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

    given = load_certificates(leaf_pem, "certificate")
    if not given:
        raise BadMaterial("no certificate found in the PEM text")
    leaf, chain = given[0], []
    seen = {leaf.fingerprint(hashes.SHA256())}
    for cert in [*given[1:], *load_certificates(chain_pem, "chain")]:
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
        raise invalid(field, f"must be {PASSPHRASE_MIN_LENGTH} to {PASSPHRASE_MAX_LENGTH} characters long")
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
        leaf_key_fingerprint = spki_sha256(leaf.public_key())
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise BadMaterial(f"the certificate's public key does not parse: {exc}") from exc
    if spki_sha256(key.public_key()) != leaf_key_fingerprint:
        raise BadMaterial("the private key does not belong to the certificate")
    encryption = (serialization.PrivateFormat.PKCS12.encryption_builder()
                  .kdf_rounds(PKCS12_KDF_ROUNDS)
                  .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
                  .hmac_hash(hashes.SHA256())
                  .build(passphrase.encode("utf-8")))
    name = friendly_name.encode("utf-8") if friendly_name else None
    return pkcs12.serialize_key_and_certificates(name, key, leaf, chain or None, encryption)  # type: ignore[arg-type]
