"""Print the events certgate publishes, as they arrive, until Ctrl-C (`make events`).

Reads the queue the local stack subscribes to the events topic (devstack.seed); each message is
consumed, so two tails share the stream rather than each seeing all of it. `-v` also prints the
whole message."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from devstack import conventions


def summarize(body: str) -> tuple[str, dict[str, Any]]:
    """One line for an SNS-envelope SQS message body, and the event message itself."""
    envelope = json.loads(body)
    if not isinstance(envelope, dict):
        raise ValueError("not an SNS envelope")
    try:
        message = json.loads(envelope.get("Message", "{}"))
    except ValueError:
        message = None
    if not isinstance(message, dict):
        message = {"unparsed": envelope.get("Message")}
    attrs = {k: v.get("Value") for k, v in envelope.get("MessageAttributes", {}).items()}
    certificate = message.get("certificate") or {}
    event = message.get("event") or attrs.get("event") or "?"
    cert_id = certificate.get("id") or message.get("certificate_id") or "?"
    provider = attrs.get("provider") or certificate.get("provider") or "?"
    status = certificate.get("status")
    when = message.get("occurred_at") or envelope.get("Timestamp", "")
    line = f"{when}  {event:<22} certificate {cert_id}  provider {provider}" + (f"  status {status}" if status else "")
    return line, message


def tail(verbose: bool) -> int:
    conv = conventions.load(conventions.with_running_ports(os.environ))
    sqs = boto3.client("sqs", endpoint_url=conv.moto_url, region_name=conv.region,
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    try:
        url = sqs.get_queue_url(QueueName=conv.events_queue)["QueueUrl"]
    except (ClientError, BotoCoreError) as exc:
        print(f"cannot reach queue {conv.events_queue} at {conv.moto_url} ({exc}); is `make run` up?", file=sys.stderr)
        return 1
    print(f"tailing {conv.events_queue} (topic {conv.topic_arn}); Ctrl-C to stop", flush=True)
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=5).get("Messages", [])
        for msg in messages:
            try:
                line, message = summarize(msg["Body"])
            except ValueError:
                line, message = f"(not an SNS notification) {msg['Body'][:200]}", {}
            print(line, flush=True)
            if verbose:
                print(json.dumps(message, indent=2), flush=True)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="print each whole message too")
    args = parser.parse_args()
    try:
        return tail(args.verbose)
    except KeyboardInterrupt:
        return 0
    except (ClientError, BotoCoreError) as exc:
        print(f"lost the queue: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
