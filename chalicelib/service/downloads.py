"""Downloads: an issued revision rendered in one of the formats (pkcs12 only with the key we hold)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from chalicelib.core.errors import (
    Conflict,
    FieldError,
    KeyVaultError,
    NotFound,
    SealedKeyInvalid,
    ServiceUnavailable,
    ValidationFailed,
)
from chalicelib.core.model import (
    Certificate,
    Revision,
)

if TYPE_CHECKING:
    from chalicelib.service.certificates import CertificateService

log = logging.getLogger("certgate.service")


def download(svc: CertificateService, cert: Certificate, fmt: str, *, revision: int | None = None,
             passphrase: str | None = None) -> tuple[bytes, str, str]:
    from chalicelib.x509 import formats as x509_formats

    rev = _downloadable_revision(svc, cert, revision)
    leaf, chain = svc.artifacts.read_revision(cert, rev.number)
    if fmt == "pkcs12":
        if not cert.sealed_key:
            raise Conflict("certgate holds no private key for this certificate (you keep your own key)",
                           code="no_private_key")
        if passphrase is None:
            raise ValidationFailed([FieldError("passphrase", "is required for pkcs12 (POST the download)")])
        try:
            key_pem = svc.vault.open(cert.sealed_key, {"certificate_id": cert.id})
        except SealedKeyInvalid:
            raise  # corrupted at rest: an internal error, reported with a request id
        except KeyVaultError as exc:
            raise ServiceUnavailable("the key vault (KMS) is unreachable; retry later",
                                     code="key_vault_unavailable", headers={"Retry-After": "10"}) from exc
        data = x509_formats.render_pkcs12(leaf, chain, key_pem, passphrase, cert.common_name)
        return data, "application/x-pkcs12", f"{cert.id}-r{rev.number}.p12"
    data, ctype, ext = x509_formats.render(fmt, leaf, chain)
    return data, ctype, f"{cert.id}-r{rev.number}-{fmt}.{ext.lstrip('.')}"


def _downloadable_revision(svc: CertificateService, cert: Certificate, revision: int | None) -> Revision:
    if revision is not None:
        for r in cert.revisions:
            if r.number == revision and r.issued_at:
                return r
        raise NotFound(f"revision {revision} of {cert.id} was never issued")
    rev = cert.issued_revision
    if rev is None:
        raise Conflict(f"the certificate is {cert.public_status}; nothing to download yet", code="not_issued")
    return rev
