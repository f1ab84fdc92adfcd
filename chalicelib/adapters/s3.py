"""Delivery: issued certificates to S3 (one prefix per revision, never overwritten) and events to
SNS (from the outbox; message attributes `event` and `provider` for subscription filters)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from chalicelib.adapters.clients import translate_errors
from chalicelib.core.model import Certificate

PEM = "application/x-pem-file"


@translate_errors("bucket")
class ArtifactStore:
    def __init__(self, client_factory: Callable[[], Any], bucket: str, kms_key_id: str | None = None) -> None:
        self._client_factory = client_factory
        self.bucket = bucket
        self.kms_key_id = kms_key_id

    @property
    def client(self) -> Any:
        return self._client_factory()

    def _put(self, key: str, body: bytes, content_type: str) -> None:
        kw: dict[str, Any] = {"Bucket": self.bucket, "Key": key, "Body": body, "ContentType": content_type}
        if self.kms_key_id:
            kw.update(ServerSideEncryption="aws:kms", SSEKMSKeyId=self.kms_key_id)
        else:
            kw["ServerSideEncryption"] = "AES256"
        self.client.put_object(**kw)

    def write_revision(self, cert: Certificate, revision: int, leaf_pem: str, chain_pem: str,
                       metadata: dict[str, Any]) -> str:
        """Write cert.pem, chain.pem, fullchain.pem and metadata.json under the revision's prefix.
        Rewriting the same revision writes the same bytes (safe to repeat after a crash)."""
        prefix = cert.s3_prefix(revision)
        leaf = leaf_pem.strip() + "\n"
        chain = (chain_pem.strip() + "\n") if chain_pem.strip() else ""
        self._put(prefix + "cert.pem", leaf.encode(), PEM)
        self._put(prefix + "chain.pem", chain.encode(), PEM)
        self._put(prefix + "fullchain.pem", (leaf + chain).encode(), PEM)
        self._put(prefix + "metadata.json", json.dumps(metadata, indent=2, sort_keys=True).encode(), "application/json")
        return prefix

    def read(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def read_revision(self, cert: Certificate, revision: int) -> tuple[str, str]:
        prefix = cert.s3_prefix(revision)
        return self.read(prefix + "cert.pem").decode(), self.read(prefix + "chain.pem").decode()

    def ping(self) -> None:
        self.client.head_bucket(Bucket=self.bucket)
