"""Create the local stage's AWS resources in moto, idempotently (running it twice changes nothing).

  python -m devstack.seed        # against a running `make run` moto, e.g. after POST /moto-api/reset

Creates the DynamoDB table (chalicelib.schema) with TTL, the artifacts bucket (public access
blocked, default encryption), the events topic, the EventBridge bus (CERTGATE_EVENT_BUS), the KMS key behind the configured alias, a secret for
every provider that has a simulator (pointing at it), a queue subscribed to the topic for `make events`,
and a public Route 53 hosted zone for `example.com` (LOCAL_DNS_ZONE), which `make run` allows for automatic
DNS validation (CERTGATE_DNS_ZONES) and where the simulators look validation records up."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import boto3
from botocore.exceptions import ClientError

from chalicelib.adapters.dynamodb.schema import TTL_ATTRIBUTE, table_definition
from chalicelib.config import Settings
from devstack import conventions
from simulators.defaults import secret_payloads

LOCAL_DNS_ZONE = "example.com"


class SeedError(RuntimeError):
    """The local resources cannot be made to match the configuration."""


def _client(service: str, endpoint_url: str, region: str) -> Any:
    # Explicit throw-away credentials: seeding must never reach a real account, whatever the shell has.
    return boto3.client(service, endpoint_url=endpoint_url, region_name=region,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def seed_table(ddb: Any, name: str) -> None:
    try:
        ddb.create_table(**table_definition(name))
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceInUseException":
            raise
    ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    ttl = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    # Enabling TTL twice is an error in DynamoDB, hence the check.
    if ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
        ddb.update_time_to_live(TableName=name,
                                TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE})


def seed_bucket(s3: Any, name: str, region: str) -> None:
    try:
        if region == "us-east-1":  # us-east-1 rejects an explicit LocationConstraint
            s3.create_bucket(Bucket=name)
        else:
            s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "BucketAlreadyOwnedByYou":
            raise
    s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
    s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})


def seed_topic(sns: Any, topic_arn: str) -> str:
    arn = sns.create_topic(Name=topic_arn.rsplit(":", 1)[-1])["TopicArn"]
    if arn != topic_arn:
        # The app publishes to the configured ARN; a different region/account would lose every event.
        raise SeedError(f"topic created as {arn} but CERTGATE_TOPIC_ARN is {topic_arn}")
    return arn


def seed_event_bus(events: Any, name: str) -> str:
    """The EventBridge bus CERTGATE_EVENT_BUS names (created once; the default bus is there already)."""
    if name == "default":
        return str(events.describe_event_bus(Name=name)["Arn"])
    try:
        return str(events.create_event_bus(Name=name)["EventBusArn"])
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceAlreadyExistsException":
            raise
    return str(events.describe_event_bus(Name=name)["Arn"])


def seed_kms_key(kms: Any, alias: str) -> str:
    for entry in kms.get_paginator("list_aliases").paginate().build_full_result()["Aliases"]:
        if entry["AliasName"] == alias and entry.get("TargetKeyId"):
            return str(entry["TargetKeyId"])
    key_id = kms.create_key(Description="certgate local artifacts key")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName=alias, TargetKeyId=key_id)
    return str(key_id)


def seed_secret(sm: Any, name: str, payload: Mapping[str, Any]) -> str:
    body = json.dumps(payload)
    try:
        return str(sm.create_secret(Name=name, SecretString=body)["ARN"])
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceExistsException":
            raise
    return str(sm.put_secret_value(SecretId=name, SecretString=body)["ARN"])


def seed_events_queue(sqs: Any, sns: Any, topic_arn: str, queue_name: str) -> str:
    """A queue subscribed to the topic, SNS envelope kept (raw delivery off) so the message
    attributes `event` and `provider` stay visible to whoever reads it."""
    url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage",
        "Resource": queue_arn, "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}}}]}
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
    subscribed = sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic_arn).build_full_result()
    if not any(s["Protocol"] == "sqs" and s["Endpoint"] == queue_arn for s in subscribed["Subscriptions"]):
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn,
                      Attributes={"RawMessageDelivery": "false"})
    return str(url)


def seed_dns_zone(route53: Any, name: str) -> str:
    """The public hosted zone `name` (created once; a second run finds it): its bare id."""
    wanted = name.rstrip(".").lower() + "."
    for zone in route53.list_hosted_zones_by_name(DNSName=wanted).get("HostedZones") or []:
        if zone["Name"].lower() == wanted and not (zone.get("Config") or {}).get("PrivateZone"):
            return str(zone["Id"]).rsplit("/", 1)[-1]
    created = route53.create_hosted_zone(Name=wanted, CallerReference=f"certgate-local-{wanted}",
                                         HostedZoneConfig={"Comment": "certgate local DNS validation",
                                                           "PrivateZone": False})
    return str(created["HostedZone"]["Id"]).rsplit("/", 1)[-1]


def seed(endpoint_url: str, region: str, conv: conventions.Conventions | None = None) -> dict[str, Any]:
    """Create (or confirm) every local resource; returns their names, ARNs and URLs."""
    conv = conventions.load() if conv is None else conv
    ddb, s3, sns, sqs, kms, sm = (_client(s, endpoint_url, region)
                                  for s in ("dynamodb", "s3", "sns", "sqs", "kms", "secretsmanager"))
    seed_table(ddb, conv.table)
    seed_bucket(s3, conv.bucket, region)
    topic_arn = seed_topic(sns, conv.topic_arn)
    bus = conv.app_env.get("CERTGATE_EVENT_BUS")
    bus_arn = seed_event_bus(_client("events", endpoint_url, region), bus) if bus else None
    key_id = seed_kms_key(kms, conv.kms_alias)
    payloads = secret_payloads(conv.host, dict(conv.sim_ports))
    secrets = {p: seed_secret(sm, name, payloads[p]) for p, name in conv.secret_names.items() if p in payloads}
    queue_url = seed_events_queue(sqs, sns, topic_arn, conv.events_queue)
    zone_id = seed_dns_zone(_client("route53", endpoint_url, region), LOCAL_DNS_ZONE)
    return {"table": conv.table, "bucket": conv.bucket, "topic_arn": topic_arn, "event_bus_arn": bus_arn, "kms_key_id": key_id,
            "kms_alias": conv.kms_alias, "secrets": secrets, "events_queue_url": queue_url,
            "dns_zone": LOCAL_DNS_ZONE, "dns_zone_id": zone_id}


def seed_app_environment(endpoint_url: str, env: Mapping[str, str], sim_ports: Mapping[str, int],
                         stage: str, host: str = "127.0.0.1") -> None:
    """Create what the app configured by `env` (CERTGATE_TABLE, _BUCKET, _TOPIC_ARN, _KMS_KEY_ID)
    needs, with each simulated provider's secret (named as the app names it) pointing at its
    simulator on `sim_ports`: the in-process worlds of the tests and the benchmarks."""
    region = env.get("AWS_DEFAULT_REGION", "us-east-1")
    ddb, s3, sns, kms, sm = (_client(s, endpoint_url, region)
                             for s in ("dynamodb", "s3", "sns", "kms", "secretsmanager"))
    seed_table(ddb, env["CERTGATE_TABLE"])
    seed_bucket(s3, env["CERTGATE_BUCKET"], region)
    seed_topic(sns, env["CERTGATE_TOPIC_ARN"])
    if env.get("CERTGATE_EVENT_BUS"):
        seed_event_bus(_client("events", endpoint_url, region), env["CERTGATE_EVENT_BUS"])
    seed_kms_key(kms, env["CERTGATE_KMS_KEY_ID"])
    settings = Settings.from_env({**env, "CERTGATE_STAGE": stage})
    for name, payload in secret_payloads(host, dict(sim_ports)).items():
        seed_secret(sm, settings.secret_name(name), payload)


def main() -> None:
    conv = conventions.load()
    print(json.dumps(seed(conv.moto_url, conv.region, conv), indent=2))


if __name__ == "__main__":
    main()
