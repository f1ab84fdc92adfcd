"""The cases of test_moto_state.py (run in their own interpreter: mock_aws resets moto's process-wide
backends, which the session's moto server shares). devstack/moto_state.py: moto's backends saved and put back as `make run` does across a restart
— table items, objects, secrets, the topic's subscription, the event bus and the KMS key (so a
sealed private key still opens) come back with the same names and ids."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
from moto import mock_aws

from devstack import moto_state

REGION = "us-east-1"


def _client(service: str) -> Any:
    return boto3.client(service, region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing")


def _make_resources() -> dict[str, Any]:
    ddb = _client("dynamodb")
    ddb.create_table(TableName="t", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST")
    ddb.put_item(TableName="t", Item={"pk": {"S": "CERT#1"}, "status": {"S": "issued"}})
    s3 = _client("s3")
    s3.create_bucket(Bucket="certgate-state-test")
    s3.put_object(Bucket="certgate-state-test", Key="certificates/1/r1/cert.pem", Body=b"PEM")
    kms = _client("kms")
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    sealed = kms.encrypt(KeyId=key_id, Plaintext=b"private key")["CiphertextBlob"]
    _client("secretsmanager").create_secret(Name="certgate/local/resello", SecretString='{"k": 1}')
    sns, sqs = _client("sns"), _client("sqs")
    topic = sns.create_topic(Name="events")["TopicArn"]
    queue = sqs.create_queue(QueueName="tail")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    _client("events").create_event_bus(Name="certgate-local-events")
    return {"sealed": sealed, "topic": topic, "queue": queue, "key_id": key_id}


def backends_saved_then_restored_into_an_empty_moto_are_the_same(tmp_path: Path) -> None:
    path = tmp_path / "moto.pickle"
    with mock_aws():
        made = _make_resources()
        moto_state.save(path)

    with mock_aws():  # a fresh moto: nothing there
        assert _client("dynamodb").list_tables()["TableNames"] == []
        restored = moto_state.load(path)

        assert set(restored) == set(moto_state.SERVICES)
        item = _client("dynamodb").get_item(TableName="t", Key={"pk": {"S": "CERT#1"}})["Item"]
        assert item["status"] == {"S": "issued"}
        body = _client("s3").get_object(Bucket="certgate-state-test", Key="certificates/1/r1/cert.pem")["Body"]
        assert body.read() == b"PEM"
        # What devstack.seed does on every start: the restored bucket is known as ours, not replaced.
        try:
            _client("s3").create_bucket(Bucket="certgate-state-test")
        except _client("s3").exceptions.BucketAlreadyOwnedByYou:
            pass
        assert _client("s3").list_objects_v2(Bucket="certgate-state-test")["KeyCount"] == 1
        assert _client("kms").decrypt(CiphertextBlob=made["sealed"])["Plaintext"] == b"private key"
        assert _client("secretsmanager").get_secret_value(SecretId="certgate/local/resello")["SecretString"] == '{"k": 1}'
        _client("sns").publish(TopicArn=made["topic"], Message="hello")  # the subscription still delivers
        assert len(_client("sqs").receive_message(QueueUrl=made["queue"]).get("Messages", [])) == 1
        buses = [b["Name"] for b in _client("events").list_event_buses()["EventBuses"]]
        assert "certgate-local-events" in buses
        # Restored tables take writes, queries included (the fast path's indexes are rebuilt).
        _client("dynamodb").put_item(TableName="t", Item={"pk": {"S": "CERT#2"}})
        assert _client("dynamodb").scan(TableName="t")["Count"] == 2


def nothing_saved_restores_nothing(tmp_path: Path) -> None:
    with mock_aws():
        assert moto_state.load(tmp_path / "none.pickle") == []
