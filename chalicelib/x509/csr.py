"""Certificate requests: `parse_csr` (signature, key strength), `check_csr_consistency` with the
order, and `generate_key_and_csr` for orders that let the gateway hold the key.

`cryptography` is imported inside the functions that need it."""

from __future__ import annotations

import base64
import ipaddress
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalicelib.core.errors import FieldError, ValidationFailed
from chalicelib.x509.certificates import general_names, key_kind, spki_sha256
from chalicelib.x509.names import invalid, validate_country, validate_dns_name, validate_san
from chalicelib.x509.pem import PEM_BLOCK, pem_of

if TYPE_CHECKING:
    from cryptography import x509

MAX_CSR_BYTES = 32 * 1024
RSA_MIN_BITS = 2048
RSA_MAX_BITS = 8192
ACCEPTED_CURVES = {"secp256r1": "P-256", "secp384r1": "P-384"}
# As Let's Encrypt's Boulder: SHA-1 and SHA-224 signatures are refused even as proof of possession.
ACCEPTED_SIGNATURE_HASHES = frozenset({"sha256", "sha384", "sha512"})
GENERATED_KEY_SIZES: dict[str, tuple[int, ...]] = {"rsa": (2048, 3072, 4096), "ec": (256, 384)}
# ---------------------------------------------------------------------------------------------------
# Certificate requests
# ---------------------------------------------------------------------------------------------------

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
        raise invalid(field, "does not parse as a PKCS#10 certificate request") from exc
    key_type, key_size, curve = _check_request_key(public_key, field)
    try:
        signature_ok = csr.is_signature_valid
        hash_algorithm = csr.signature_hash_algorithm
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise invalid(field, "is signed with an unsupported algorithm") from exc
    if not signature_ok:
        raise invalid(field, "signature does not verify: the request was altered or not signed by its own key")
    hash_name = hash_algorithm.name if hash_algorithm is not None else "none"
    if hash_name not in ACCEPTED_SIGNATURE_HASHES:
        raise invalid(field, f"is signed with {hash_name}; sign it with SHA-256 or stronger")
    return ParsedCsr(
        common_name=_request_common_name(csr, field),
        sans=_request_sans(csr, field),
        key_type=key_type,
        key_size=key_size,
        curve=curve,
        public_key_fingerprint=spki_sha256(public_key),
        signature_hash=hash_name,
        pem=pem_of(csr),
    )


def _csr_der(pem: str, field: str) -> bytes:
    if not isinstance(pem, str) or not pem.strip():
        raise invalid(field, "must be a PEM-encoded certificate request")
    if len(pem.encode("utf-8")) > MAX_CSR_BYTES:
        raise invalid(field, f"is larger than {MAX_CSR_BYTES // 1024} KiB")
    # Checked on the raw text, so that even a malformed key block is never passed along.
    if re.search(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----", pem):
        raise invalid(field, "contains a private key: send only the CERTIFICATE REQUEST block, and consider "
                           "that key exposed")
    blocks = PEM_BLOCK.findall(pem)
    requests = [body for label, body in blocks if label in _CSR_LABELS]
    if not requests:
        if any(label == "CERTIFICATE" for label, _ in blocks):
            raise invalid(field, "is a certificate, not a certificate request")
        raise invalid(field, "is not a PEM certificate request (-----BEGIN CERTIFICATE REQUEST-----)")
    if len(blocks) > 1:
        raise invalid(field, "must contain exactly one PEM block, the certificate request")
    try:
        return base64.b64decode("".join(requests[0].split()), validate=True)
    except ValueError as exc:  # binascii.Error, or non-ASCII text
        raise invalid(field, "is not valid PEM: the body is not base64") from exc


def _check_request_key(public_key: Any, field: str) -> tuple[str, int, str | None]:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if isinstance(public_key, rsa.RSAPublicKey):
        bits, exponent = public_key.key_size, public_key.public_numbers().e
        if bits < RSA_MIN_BITS:
            raise invalid(field, f"RSA key of {bits} bits is too weak: at least {RSA_MIN_BITS} bits are required")
        if bits > RSA_MAX_BITS:
            raise invalid(field, f"RSA key of {bits} bits is larger than the {RSA_MAX_BITS} bits accepted")
        if bits % 8:
            raise invalid(field, f"RSA key of {bits} bits: the modulus size must be a multiple of 8")
        if exponent < 3 or exponent % 2 == 0:
            raise invalid(field, f"RSA public exponent {exponent} is not accepted (must be odd and at least 3)")
        return "rsa", bits, None
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        curve = public_key.curve.name
        if curve not in ACCEPTED_CURVES:
            raise invalid(field, f"EC curve {curve} is not accepted: use P-256 or P-384")
        return "ec", public_key.curve.key_size, curve
    raise invalid(field, f"{key_kind(public_key)} keys are not accepted: use RSA (2048-8192 bits) or EC P-256/P-384")


def _request_common_name(csr: x509.CertificateSigningRequest, field: str) -> str | None:
    from cryptography.x509.oid import NameOID

    try:
        values = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    except (ValueError, TypeError) as exc:  # TypeError: what a malformed name attribute raises
        raise invalid(field, "has a malformed subject") from exc
    if len(values) > 1:
        raise invalid(field, "has more than one common name")
    return str(values[0].value) if values else None


def _request_sans(csr: x509.CertificateSigningRequest, field: str) -> tuple[tuple[str, str], ...]:
    from cryptography import x509

    try:
        extension = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return ()
    except (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType) as exc:
        raise invalid(field, "has malformed extensions") from exc
    names = general_names(extension.value)
    if len(names) != len(extension.value):
        raise invalid(field, "has a subject alternative name of a type other than dns, ip, email or uri")
    return names


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
        digest: hashes.SHA256 | hashes.SHA384 = hashes.SHA256()
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
    return key_pem, pem_of(csr)


def _general_name(kind: str, value: str) -> x509.GeneralName:
    from cryptography import x509

    if kind == "dns":
        return x509.DNSName(value)
    if kind == "ip":
        return x509.IPAddress(ipaddress.ip_address(value))
    if kind == "email":
        return x509.RFC822Name(value)
    return x509.UniformResourceIdentifier(value)


