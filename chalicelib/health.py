"""Dependency checks for GET /health: table, bucket, topic, provider secrets."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from chalicelib import aws
from chalicelib.config import Settings


def _table(cfg: Settings) -> None:
    aws.client("dynamodb", cfg).describe_table(TableName=cfg.table_name)


def _bucket(cfg: Settings) -> None:
    aws.client("s3", cfg).head_bucket(Bucket=cfg.bucket_name)


def _topic(cfg: Settings) -> None:
    aws.client("sns", cfg).get_topic_attributes(TopicArn=cfg.topic_arn)


def _secrets(cfg: Settings) -> None:
    sm = aws.client("secretsmanager", cfg)
    for name in cfg.secret_names.values():
        sm.describe_secret(SecretId=name)  # metadata only: the value is never read here


CHECKS = {"table": _table, "bucket": _bucket, "topic": _topic, "secrets": _secrets}


def check(cfg: Settings) -> tuple[bool, dict[str, Any]]:
    """Run every check concurrently; each reports 'ok' or the error class (never a secret)."""
    from botocore.exceptions import BotoCoreError, ClientError

    def run(item: tuple[str, Any]) -> tuple[str, str]:
        name, fn = item
        try:
            fn(cfg)
        except ClientError as exc:
            return name, f"error: {exc.response.get('Error', {}).get('Code', 'ClientError')}"
        except BotoCoreError as exc:
            return name, f"error: {type(exc).__name__}"
        return name, "ok"

    with ThreadPoolExecutor(max_workers=len(CHECKS)) as pool:
        results = dict(pool.map(run, CHECKS.items()))
    return all(v == "ok" for v in results.values()), results
