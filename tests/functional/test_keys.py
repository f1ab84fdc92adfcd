"""chalicelib/adapters/kms.py: KMS envelope encryption of private keys, against the KMS of the test world's
moto server (tests/world.py; an in-process `mock_aws` would reset the backends the world shares)."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import boto3
import pytest
from botocore.config import Config

from chalicelib.adapters.kms import ALGORITHM, KeyVault
from chalicelib.core.errors import KeyVaultError, SealedKeyInvalid

REGION = "us-east-1"
PEM = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n"
CONTEXT = {"certificate_id": "c-123", "owner": "arn:aws:iam::123456789012:user/alice"}


@pytest.fixture
def kms(world: Any) -> Any:
    return world.aws("kms")  # fake credentials: moto never sees, nor boto3 looks for, real ones


@pytest.fixture
def key_id(kms: Any) -> str:
    return kms.create_key(Description="certgate test")["KeyMetadata"]["KeyId"]


@pytest.fixture
def vault(kms: Any, key_id: str) -> KeyVault:
    return KeyVault(lambda: kms, key_id)


def test_round_trip(vault: KeyVault) -> None:
    sealed = vault.seal(PEM, CONTEXT)
    assert vault.open(sealed, dict(CONTEXT)) == PEM


def test_sealed_form_is_json_and_holds_no_plaintext(vault: KeyVault, kms: Any) -> None:
    sealed = vault.seal(PEM, CONTEXT)
    assert set(sealed) == {"alg", "key", "nonce", "ct"} and sealed["alg"] == ALGORITHM
    assert json.loads(json.dumps(sealed)) == sealed
    text = json.dumps(sealed)
    assert "PRIVATE KEY" not in text and "MIGHAgEA" not in text
    assert len(base64.b64decode(sealed["nonce"])) == 12
    # GCM: ciphertext = plaintext length + 16-byte tag.
    assert len(base64.b64decode(sealed["ct"])) == len(PEM.encode()) + 16
    # The stored data key is a KMS blob that only KMS, under the same context, turns back into a key.
    blob = base64.b64decode(sealed["key"])
    assert len(kms.decrypt(CiphertextBlob=blob, EncryptionContext=CONTEXT)["Plaintext"]) == 32
    with pytest.raises(kms.exceptions.InvalidCiphertextException):
        kms.decrypt(CiphertextBlob=blob, EncryptionContext={"certificate_id": "c-999"})


def test_every_seal_uses_a_fresh_data_key_and_nonce(vault: KeyVault) -> None:
    first, second = vault.seal(PEM, CONTEXT), vault.seal(PEM, CONTEXT)
    assert first["key"] != second["key"] and first["nonce"] != second["nonce"] and first["ct"] != second["ct"]


@pytest.mark.parametrize("context", [
    {"certificate_id": "c-124", "owner": CONTEXT["owner"]},
    {"certificate_id": "c-123"},
    {**CONTEXT, "extra": "x"},
])
def test_wrong_context_does_not_open(vault: KeyVault, context: dict[str, str]) -> None:
    sealed = vault.seal(PEM, CONTEXT)
    with pytest.raises(SealedKeyInvalid):
        vault.open(sealed, context)


def _flip(b64: str, index: int = -1) -> str:
    raw = bytearray(base64.b64decode(b64))
    raw[index] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


@pytest.mark.parametrize("field", ["ct", "nonce", "key"])
def test_tampering_is_detected(vault: KeyVault, field: str) -> None:
    sealed = vault.seal(PEM, CONTEXT)
    with pytest.raises(SealedKeyInvalid):
        vault.open({**sealed, field: _flip(sealed[field])}, CONTEXT)


def test_parts_of_two_sealed_keys_do_not_mix(vault: KeyVault) -> None:
    first, second = vault.seal(PEM, CONTEXT), vault.seal("another key", CONTEXT)
    with pytest.raises(SealedKeyInvalid):
        vault.open({**first, "key": second["key"]}, CONTEXT)


@pytest.mark.parametrize("sealed", [
    {},
    {"alg": "AES128-CBC", "key": "AA==", "nonce": "AA==", "ct": "AA=="},
    {"alg": ALGORITHM, "key": "AA==", "nonce": "AA=="},
    {"alg": ALGORITHM, "key": "not base64!", "nonce": "AAAAAAAAAAAAAAAA", "ct": "AA=="},
    {"alg": ALGORITHM, "key": "AA==", "nonce": "AA==", "ct": "AA=="},  # nonce of 1 byte
    {"alg": ALGORITHM, "key": None, "nonce": "AAAAAAAAAAAAAAAA", "ct": "AA=="},
    "not a dict",
])
def test_malformed_sealed_keys(vault: KeyVault, sealed: Any) -> None:
    with pytest.raises(SealedKeyInvalid):
        vault.open(sealed, CONTEXT)


@pytest.mark.parametrize("context", [{}, None, {"certificate_id": ""}, {"n": 1}])
def test_a_non_empty_string_context_is_required(vault: KeyVault, context: Any) -> None:
    with pytest.raises(ValueError):
        vault.seal(PEM, context)


def test_the_kms_client_is_created_lazily_once(kms: Any, key_id: str) -> None:
    calls: list[int] = []

    def factory() -> Any:
        calls.append(1)
        return kms

    vault = KeyVault(factory, key_id)
    assert calls == []
    vault.open(vault.seal(PEM, CONTEXT), CONTEXT)
    assert calls == [1]


def test_key_alias_works(kms: Any, key_id: str) -> None:
    alias = f"alias/certgate-keys-{uuid.uuid4().hex[:8]}"
    kms.create_alias(AliasName=alias, TargetKeyId=key_id)
    vault = KeyVault(lambda: kms, alias)
    assert vault.open(vault.seal(PEM, CONTEXT), CONTEXT) == PEM


def test_unknown_kms_key_is_a_vault_error(kms: Any) -> None:
    vault = KeyVault(lambda: kms, "alias/does-not-exist")
    with pytest.raises(KeyVaultError) as info:
        vault.seal(PEM, CONTEXT)
    assert not isinstance(info.value, SealedKeyInvalid)
    assert "NotFoundException" in str(info.value)


def test_a_key_sealed_under_another_kms_key_does_not_open(kms: Any, vault: KeyVault) -> None:
    sealed = vault.seal(PEM, CONTEXT)
    other = KeyVault(lambda: kms, kms.create_key()["KeyMetadata"]["KeyId"])
    # AWS says IncorrectKeyException (SealedKeyInvalid), moto AccessDeniedException: both are KeyVaultError.
    with pytest.raises(KeyVaultError):
        other.open(sealed, CONTEXT)


def test_unreachable_kms_is_a_vault_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    config = Config(connect_timeout=1, read_timeout=1, retries={"max_attempts": 1, "mode": "standard"})
    vault = KeyVault(lambda: boto3.client("kms", region_name=REGION, endpoint_url="http://127.0.0.1:9",
                                          config=config), "alias/x")
    with pytest.raises(KeyVaultError, match="EndpointConnectionError"):
        vault.seal(PEM, CONTEXT)


class ContextBlindKms:
    """A KMS stand-in that ignores the encryption context, to show the local binding on its own."""

    def __init__(self) -> None:
        self.data_key = bytes(range(32))

    def generate_data_key(self, **_: Any) -> dict[str, Any]:
        return {"Plaintext": self.data_key, "CiphertextBlob": b"wrapped"}

    def decrypt(self, **_: Any) -> dict[str, Any]:
        return {"Plaintext": self.data_key}


def test_context_is_bound_locally_too() -> None:
    vault = KeyVault(ContextBlindKms, "key")
    sealed = vault.seal(PEM, CONTEXT)
    assert vault.open(sealed, CONTEXT) == PEM
    with pytest.raises(SealedKeyInvalid):
        vault.open(sealed, {"certificate_id": "c-999"})


def test_key_id_is_required() -> None:
    with pytest.raises(ValueError):
        KeyVault(ContextBlindKms, "")
