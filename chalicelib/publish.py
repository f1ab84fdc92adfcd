"""Delivery: issued certificates to S3 (one prefix per revision, never overwritten) and events to
SNS (from the outbox; message attributes `event` and `provider` for subscription filters)."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.domain import Certificate, Event

PEM = "application/x-pem-file"


class ArtifactStore:
    def __init__(self, client_factory: Any, bucket: str, kms_key_id: str | None = None) -> None:
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


class EventPublisher:
    def __init__(self, client_factory: Any, topic_arn: str, bucket: str) -> None:
        self._client_factory = client_factory
        self.topic_arn = topic_arn
        self.bucket = bucket
        self.published = 0

    @property
    def client(self) -> Any:
        return self._client_factory()

    def message(self, ev: Event) -> dict[str, Any]:
        """The SNS body: the certificate as it was when the event happened (snapshot kept in the
        event row, so a retried publish says the same thing), never PEMs or keys."""
        detail = dict(ev.detail or {})
        cert = detail.pop("certificate", None) or {"id": ev.certificate_id, "provider": ev.provider}
        revision = ev.revision or cert.get("revision")
        body: dict[str, Any] = {
            "event_id": ev.event_id,
            "event": ev.kind,
            "occurred_at": ev.occurred_at,
            "certificate": cert,
            "detail": detail,
        }
        if ev.kind == "certificate.issued" and revision:
            body["s3"] = {"bucket": self.bucket, "prefix": f"certificates/{ev.certificate_id}/r{revision}/"}
        return body

    def publish(self, ev: Event) -> None:
        self.client.publish(
            TopicArn=self.topic_arn,
            Message=json.dumps(self.message(ev), separators=(",", ":")),
            MessageAttributes={
                "event": {"DataType": "String", "StringValue": ev.kind},
                "provider": {"DataType": "String", "StringValue": ev.provider or "unknown"},
            },
        )
        self.published += 1

    def ping(self) -> None:
        self.client.get_topic_attributes(TopicArn=self.topic_arn)
