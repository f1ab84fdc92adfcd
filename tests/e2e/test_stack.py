"""The local stack as `make run` starts it, checked over real HTTP and against its moto."""

from __future__ import annotations

import json
import time
import uuid
from typing import TYPE_CHECKING, Any

import boto3
import pytest
import requests
from cryptography import x509

from chalicelib.providers import registry
from simulators.defaults import secret_payloads

if TYPE_CHECKING:
    from tests.e2e.conftest import RunningStack

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


def aws(stack: RunningStack, service: str) -> Any:
    return boto3.client(service, endpoint_url=stack.moto, region_name=stack.conventions.region,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def test_health_answers_200(stack: RunningStack) -> None:
    resp = requests.get(f"{stack.api}/health", timeout=10)
    assert resp.status_code == 200, resp.text


def test_providers_lists_the_three(stack: RunningStack) -> None:
    resp = requests.get(f"{stack.api}/providers", timeout=10)
    assert resp.status_code == 200, resp.text
    assert sorted(item["name"] for item in resp.json()["items"]) == sorted(registry.names())


def test_unknown_route_is_a_problem_404(stack: RunningStack) -> None:
    resp = requests.get(f"{stack.api}/no-such-route", timeout=10)
    assert resp.status_code == 404
    assert resp.headers["Content-Type"].startswith("application/problem+json")
    assert resp.json()["status"] == 404


@pytest.mark.parametrize("provider", registry.names())
def test_each_simulator_serves_its_root_ca(stack: RunningStack, provider: str) -> None:
    if provider in stack.missing_sims:
        pytest.skip(f"simulators/{provider}.py does not exist yet")
    resp = requests.get(f"{stack.sims[provider]}/_sim/ca.pem", timeout=10)
    assert resp.status_code == 200
    root = x509.load_pem_x509_certificate(resp.content)
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert root.subject == root.issuer


def test_secrets_point_at_the_simulators(stack: RunningStack) -> None:
    sm = aws(stack, "secretsmanager")
    expected = secret_payloads(stack.conventions.host, dict(stack.conventions.sim_ports))
    for provider, name in stack.conventions.secret_names.items():
        assert json.loads(sm.get_secret_value(SecretId=name)["SecretString"]) == expected[provider]


def test_table_bucket_and_key_are_seeded(stack: RunningStack) -> None:
    conv = stack.conventions
    ttl = aws(stack, "dynamodb").describe_time_to_live(TableName=conv.table)["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "ttl")
    s3 = aws(stack, "s3")
    block = s3.get_public_access_block(Bucket=conv.bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values()) and len(block) == 4
    rules = s3.get_bucket_encryption(Bucket=conv.bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
    assert aws(stack, "kms").describe_key(KeyId=conv.kms_alias)["KeyMetadata"]["Enabled"]


def test_topic_events_reach_the_tail_queue_with_attributes(stack: RunningStack) -> None:
    conv = stack.conventions
    marker = str(uuid.uuid4())
    aws(stack, "sns").publish(
        TopicArn=conv.topic_arn, Message=json.dumps({"event": "certificate.issued", "event_id": marker}),
        MessageAttributes={"event": {"DataType": "String", "StringValue": "certificate.issued"},
                           "provider": {"DataType": "String", "StringValue": "tinycert"}})
    sqs = aws(stack, "sqs")
    url = sqs.get_queue_url(QueueName=conv.events_queue)["QueueUrl"]
    found = None
    deadline = time.monotonic() + 10
    while found is None and time.monotonic() < deadline:
        for msg in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
            body = json.loads(msg["Body"])
            if json.loads(body["Message"]).get("event_id") == marker:
                found = body
                sqs.delete_message(QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"])
    assert found is not None, "the published event never reached the tail queue"
    # Raw delivery is off: the SNS envelope, and with it the message attributes, survive.
    assert found["MessageAttributes"]["provider"]["Value"] == "tinycert"
    assert found["MessageAttributes"]["event"]["Value"] == "certificate.issued"


def test_scheduler_fires_poll_pending(stack: RunningStack) -> None:
    # The fixture sets poll_pending to every second; the stack forwards each run's log line,
    # "scheduler | HH:MM:SS poll_pending ok|error ...".
    def runs() -> list[str]:
        return [line for line in stack.output().splitlines()
                if line.startswith("scheduler") and (" poll_pending ok " in line or " poll_pending error " in line)]

    deadline = time.monotonic() + 15
    while not runs() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert runs(), "the scheduler never ran poll_pending"
    assert " poll_pending ok " in runs()[-1], runs()[-1]
