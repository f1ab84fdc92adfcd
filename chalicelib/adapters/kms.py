"""KMS envelope encryption of the private keys the gateway holds (design.md section 6).

Each key is encrypted locally with AES-256-GCM under a fresh data key from KMS GenerateDataKey; only
the KMS-wrapped data key is kept beside the ciphertext. The encryption context (say the certificate
id and owner) is bound twice: by KMS, which will not unwrap the data key under another context, and
as AES-GCM associated data, so a sealed key copied onto another record does not open there.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from chalicelib.core.errors import KeyVaultError, SealedKeyInvalid

ALGORITHM = "AES256-GCM+KMS"
_NONCE_BYTES = 12  # the AES-GCM standard nonce; random is safe because every data key is used once
# KMS codes meaning "this blob does not open under this key/context", as opposed to KMS being unwell.
_NOT_OPENABLE_CODES = frozenset({"InvalidCiphertextException", "IncorrectKeyException"})


class KeyVault:
    def __init__(self, kms_client_factory: Callable[[], Any], key_id: str) -> None:
        if not key_id:
            raise ValueError("a KMS key id, ARN or alias is required")
        self._factory = kms_client_factory
        self._key_id = key_id
        self._kms: Any = None

    def _client(self) -> Any:
        # Created on first use, not at import or construction: no AWS call on paths that hold no key.
        if self._kms is None:
            self._kms = self._factory()
        return self._kms

    def seal(self, private_key_pem: str, context: Mapping[str, str]) -> dict[str, str]:
        """Encrypt `private_key_pem`; the result is JSON-safe and holds no plaintext key material."""
        if not isinstance(private_key_pem, str) or not private_key_pem:
            raise ValueError("nothing to seal")
        encryption_context = _checked_context(context)
        data_key = self._call("generate_data_key", KeyId=self._key_id, KeySpec="AES_256",
                              EncryptionContext=encryption_context)
        nonce = os.urandom(_NONCE_BYTES)
        ciphertext = AESGCM(data_key["Plaintext"]).encrypt(nonce, private_key_pem.encode("utf-8"),
                                                          _associated_data(encryption_context))
        # The plaintext data key goes out of scope here and is never stored or logged.
        return {"alg": ALGORITHM, "key": _b64(data_key["CiphertextBlob"]), "nonce": _b64(nonce),
                "ct": _b64(ciphertext)}

    def open(self, sealed: Mapping[str, Any], context: Mapping[str, str]) -> str:
        """The private key PEM sealed by `seal` under the same `context`."""
        encryption_context = _checked_context(context)
        wrapped_key, nonce, ciphertext = _unpack(sealed)
        data_key = self._call("decrypt", CiphertextBlob=wrapped_key, EncryptionContext=encryption_context,
                              KeyId=self._key_id)
        try:
            plaintext = AESGCM(data_key["Plaintext"]).decrypt(nonce, ciphertext,
                                                              _associated_data(encryption_context))
        except InvalidTag:
            raise SealedKeyInvalid("the sealed key does not authenticate under this context") from None
        return plaintext.decode("utf-8")

    def _call(self, operation: str, **params: Any) -> dict[str, Any]:
        try:
            return getattr(self._client(), operation)(**params)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "Unknown")
            if code in _NOT_OPENABLE_CODES:
                raise SealedKeyInvalid(f"KMS cannot unwrap the data key ({code}): wrong context or key") from exc
            raise KeyVaultError(f"KMS {operation} failed: {code}") from exc
        except BotoCoreError as exc:
            raise KeyVaultError(f"KMS {operation} failed: {type(exc).__name__}") from exc


def _checked_context(context: Mapping[str, str]) -> dict[str, str]:
    # An empty context would let any sealed key open anywhere: require one.
    if not isinstance(context, Mapping) or not context:
        raise ValueError("an encryption context (e.g. the certificate id) is required")
    if not all(isinstance(k, str) and k and isinstance(v, str) and v for k, v in context.items()):
        raise ValueError("encryption context keys and values must be non-empty strings")
    return dict(context)


def _associated_data(context: Mapping[str, str]) -> bytes:
    return json.dumps({"alg": ALGORITHM, "context": context}, sort_keys=True, separators=(",", ":")).encode()


def _unpack(sealed: Mapping[str, Any]) -> tuple[bytes, bytes, bytes]:
    if not isinstance(sealed, Mapping) or sealed.get("alg") != ALGORITHM:
        raise SealedKeyInvalid(f"not a sealed key of algorithm {ALGORITHM}")
    try:
        parts = tuple(base64.b64decode(sealed[name], validate=True) for name in ("key", "nonce", "ct"))
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise SealedKeyInvalid("the sealed key is missing a field or is not base64") from exc
    wrapped_key, nonce, ciphertext = parts
    if len(nonce) != _NONCE_BYTES or not wrapped_key or not ciphertext:
        raise SealedKeyInvalid("the sealed key has a malformed field")
    return wrapped_key, nonce, ciphertext


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
