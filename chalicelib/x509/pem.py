"""PEM: the one splitter of PEM bundles and the one loader of certificate lists."""

from __future__ import annotations

import base64
import re
from typing import TYPE_CHECKING, Any

from chalicelib.core.errors import BadMaterial

if TYPE_CHECKING:
    from cryptography import x509

PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.S)

def split_pem_chain(text: str) -> list[str]:
    """Each certificate in `text` as a canonical PEM string, in order; text between blocks is ignored."""
    return [pem_of(cert) for cert in load_certificates(text, "chain")]


def load_certificates(text: str | None, what: str) -> list[x509.Certificate]:
    from cryptography import x509

    if not text:
        return []
    if not isinstance(text, str):
        raise BadMaterial(f"{what} must be PEM text")
    certs = []
    for index, (label, body) in enumerate(PEM_BLOCK.findall(text)):
        if label != "CERTIFICATE":
            continue
        try:
            certs.append(x509.load_der_x509_certificate(base64.b64decode("".join(body.split()), validate=True)))
        except (ValueError, x509.InvalidVersion) as exc:  # binascii.Error is a ValueError
            raise BadMaterial(f"{what}: PEM block {index + 1} is not a valid certificate") from exc
    return certs


def pem_of(obj: Any) -> str:
    from cryptography.hazmat.primitives import serialization

    return obj.public_bytes(serialization.Encoding.PEM).decode("ascii")


