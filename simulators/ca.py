"""A real, small certificate authority for the simulators: root -> intermediate -> leaf.

Everything the simulators issue verifies with `openssl verify -CAfile root.pem -untrusted chain.pem`.
Each simulator owns one `SimCA` (its own root and intermediate)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import secrets
import threading
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


class BadCSR(ValueError):
    """The CSR does not parse or its signature does not verify."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def generate_key(kind: str = "rsa", size: int = 2048):
    if kind == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=size)


def pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def key_pem(key, passphrase: bytes | None = None) -> str:
    enc = (serialization.BestAvailableEncryption(passphrase) if passphrase
           else serialization.NoEncryption())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc).decode()


def parse_csr(csr_pem: str | bytes) -> x509.CertificateSigningRequest:
    """Parse and verify a CSR (signature included); raise BadCSR otherwise."""
    data = csr_pem.encode() if isinstance(csr_pem, str) else csr_pem
    try:
        csr = x509.load_pem_x509_csr(data)
    except ValueError as exc:
        raise BadCSR(f"CSR does not parse: {exc}") from exc
    if not csr.is_signature_valid:
        raise BadCSR("CSR signature does not verify")
    return csr


def csr_key_bits(csr: x509.CertificateSigningRequest) -> tuple[str, int]:
    pub = csr.public_key()
    if isinstance(pub, rsa.RSAPublicKey):
        return "rsa", pub.key_size
    if isinstance(pub, ec.EllipticCurvePublicKey):
        return "ec", pub.curve.key_size
    return type(pub).__name__, 0


def build_csr(key, common_name: str, sans: list[tuple[str, str]] | None = None,
              org: str | None = None, country: str | None = None) -> x509.CertificateSigningRequest:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    if country:
        attrs.append(x509.NameAttribute(NameOID.COUNTRY_NAME, country))
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attrs))
    general = _general_names(sans or [("dns", common_name)])
    if general:
        builder = builder.add_extension(x509.SubjectAlternativeName(general), critical=False)
    return builder.sign(key, hashes.SHA256())


def _general_names(sans: list[tuple[str, str]]) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = []
    for kind, value in sans:
        k = kind.lower()
        if k == "dns":
            out.append(x509.DNSName(value))
        elif k == "ip":
            out.append(x509.IPAddress(ipaddress.ip_address(value)))
        elif k == "email":
            out.append(x509.RFC822Name(value))
        elif k == "uri":
            out.append(x509.UniformResourceIdentifier(value))
    return out


def csr_sans(csr: x509.CertificateSigningRequest) -> list[tuple[str, str]]:
    try:
        ext = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return _names_of(ext)


def cert_sans(cert: x509.Certificate) -> list[tuple[str, str]]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return _names_of(ext)


def _names_of(ext: x509.SubjectAlternativeName) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    out += [("dns", v) for v in ext.get_values_for_type(x509.DNSName)]
    out += [("ip", str(v)) for v in ext.get_values_for_type(x509.IPAddress)]
    out += [("email", v) for v in ext.get_values_for_type(x509.RFC822Name)]
    out += [("uri", v) for v in ext.get_values_for_type(x509.UniformResourceIdentifier)]
    return out


def common_name_of(name: x509.Name) -> str | None:
    attrs = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else None


@dataclass
class Issued:
    cert: x509.Certificate
    serial_hex: str

    @property
    def pem(self) -> str:
        return pem(self.cert)


class SimCA:
    """Root + intermediate; issues leaves from a CSR or a public key. Thread-safe."""

    def __init__(self, name: str, *, key_kind: str = "ec") -> None:
        self.name = name
        self._lock = threading.Lock()
        self.root_key = generate_key(key_kind)
        self.root = self._ca_cert(f"{name} Simulated Root CA", self.root_key, None, None, path_len=1)
        self.inter_key = generate_key(key_kind)
        self.intermediate = self._ca_cert(f"{name} Simulated Issuing CA", self.inter_key,
                                          self.root, self.root_key, path_len=0)

    def _ca_cert(self, cn: str, key, issuer_cert, issuer_key, path_len: int,
                 subject_extra: list[x509.NameAttribute] | None = None) -> x509.Certificate:
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                             x509.NameAttribute(NameOID.ORGANIZATION_NAME, f"{self.name} simulator"),
                             *(subject_extra or [])])
        issuer = issuer_cert.subject if issuer_cert is not None else subject
        signer = issuer_key if issuer_key is not None else key
        now = _now()
        b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
             .public_key(key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=3650))
             .add_extension(x509.BasicConstraints(ca=True, path_length=path_len), critical=True)
             .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                          key_encipherment=False, data_encipherment=False,
                                          key_agreement=False, key_cert_sign=True, crl_sign=True,
                                          encipher_only=False, decipher_only=False), critical=True)
             .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
        if issuer_cert is not None:
            b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                                critical=False)
        return b.sign(signer, hashes.SHA256())

    def new_sub_ca(self, cn: str, subject_extra: list[x509.NameAttribute] | None = None):
        """A further issuing CA under the root (TinyCert's per-account CAs). Returns (cert, key)."""
        key = generate_key("ec")
        cert = self._ca_cert(cn, key, self.root, self.root_key, path_len=0, subject_extra=subject_extra)
        return cert, key

    @property
    def root_pem(self) -> str:
        return pem(self.root)

    @property
    def chain_pem(self) -> str:
        """Intermediate only (what a server sends beside its leaf)."""
        return pem(self.intermediate)

    def issue(self, public_key, common_name: str, sans: list[tuple[str, str]], *, days: int = 397,
              subject_extra: list[x509.NameAttribute] | None = None,
              issuer: tuple[x509.Certificate, object] | None = None,
              not_before: dt.datetime | None = None) -> Issued:
        """Sign a leaf for `public_key`, by the intermediate or by `issuer` (cert, key)."""
        icert, ikey = issuer or (self.intermediate, self.inter_key)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name), *(subject_extra or [])])
        start = not_before or (_now() - dt.timedelta(minutes=5))
        serial = int.from_bytes(secrets.token_bytes(16), "big") >> 1
        b = (x509.CertificateBuilder().subject_name(subject).issuer_name(icert.subject)
             .public_key(public_key).serial_number(serial)
             .not_valid_before(start).not_valid_after(start + dt.timedelta(days=days))
             .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
             .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                   ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
             .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ikey.public_key()),
                            critical=False))
        names = _general_names(sans or [("dns", common_name)])
        if names:
            b = b.add_extension(x509.SubjectAlternativeName(names), critical=False)
        with self._lock:
            cert = b.sign(ikey, hashes.SHA256())
        return Issued(cert=cert, serial_hex=format(serial, "x"))

    def issue_from_csr(self, csr_pem: str | bytes, common_name: str | None = None,
                       sans: list[tuple[str, str]] | None = None, *, days: int = 397,
                       not_before: dt.datetime | None = None) -> Issued:
        csr = parse_csr(csr_pem)
        cn = common_name or common_name_of(csr.subject) or ""
        return self.issue(csr.public_key(), cn, sans if sans is not None else csr_sans(csr), days=days,
                          not_before=not_before)
