"""Events on the EventBridge bus (issue 19 item 3), on moto: a rule on CERTGATE_EVENT_BUS that
targets an SQS queue receives each published event exactly once, with source `certgate`,
detail-type the event kind and detail the body SNS gets; a bus that refused an event gets it
from the outbox flush while SNS does not get it twice."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import pytest

from tests.functional.conftest import call
from tests.functional.test_jobs import drain, queue  # noqa: F401 (the SNS subscriber fixture)


def who() -> str:
    return f"arn:aws:iam::123456789012:user/eb-{uuid.uuid4().hex[:6]}"


@pytest.fixture()
def bus_queue(world):
    """A rule on the bus matching every certgate event, targeting a fresh SQS queue."""
    sqs, events = world.aws("sqs"), world.aws("events")
    bus = world.env["CERTGATE_EVENT_BUS"]
    url = sqs.create_queue(QueueName="eb-" + uuid.uuid4().hex[:12])["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    rule = "r-" + uuid.uuid4().hex[:12]
    events.put_rule(Name=rule, EventBusName=bus, EventPattern=json.dumps({"source": ["certgate"]}))
    events.put_targets(Rule=rule, EventBusName=bus, Targets=[{"Id": "q", "Arn": arn}])
    yield url
    events.remove_targets(Rule=rule, EventBusName=bus, Ids=["q"])
    events.delete_rule(Name=rule, EventBusName=bus)
    sqs.delete_queue(QueueUrl=url)


def bus_events(world, url: str) -> list[dict[str, Any]]:
    sqs = world.aws("sqs")
    out = []
    for _ in range(10):
        msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not msgs:
            break
        for m in msgs:
            out.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return out


def svc():
    from chalicelib.bootstrap import service

    return service()


def test_a_rule_on_the_bus_gets_each_event_once_as_documented(client, world, bus_queue, queue):  # noqa: F811
    me = who()
    name = f"eb{uuid.uuid4().hex[:10]}.example.com"
    status, _, body = call(client, "POST", "/certificates", {"provider": "tinycert", "common_name": name}, me)
    assert status == 201 and body["status"] == "issued", body
    cid = body["id"]
    assert svc().flush_outbox(grace_s=0) == 0  # nothing left over for either target
    got = [e for e in bus_events(world, bus_queue) if e["detail"]["certificate"]["id"] == cid]
    assert [(e["source"], e["detail-type"]) for e in got] == [("certgate", "certificate.issued")]
    sns = [e for e in drain(world, queue) if e["certificate"]["id"] == cid]
    assert len(sns) == 1
    detail = got[0]["detail"]
    sns[0].pop("_attrs")
    assert detail == sns[0]  # the same body on both targets
    assert detail["s3"]["prefix"] == f"certificates/{cid}/r1/" and "BEGIN" not in json.dumps(detail)


def test_a_refused_bus_entry_is_flushed_later_without_a_second_sns_message(client, world, bus_queue, queue,  # noqa: F811
                                                                        monkeypatch):
    service = svc()
    bus = service.publishers[1]
    real = bus._client_factory

    class RefusingBus:  # put_events answers 200 with a failed entry, as EventBridge does when throttled
        def put_events(self, **_):
            return {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "ThrottlingException", "ErrorMessage": "x"}]}

    monkeypatch.setattr(bus, "_client_factory", RefusingBus)
    me = who()
    cid = call(client, "POST", "/certificates", {"provider": "tinycert", "common_name":
                                                  f"eb{uuid.uuid4().hex[:10]}.example.com"}, me)[2]["id"]
    assert [e for e in bus_events(world, bus_queue) if e["detail"]["certificate"]["id"] == cid] == []
    assert len([e for e in drain(world, queue) if e["certificate"]["id"] == cid]) == 1
    monkeypatch.setattr(bus, "_client_factory", real)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
    monkeypatch.setattr(service, "clock", lambda: later)
    assert service.flush_outbox() >= 1
    assert service.flush_outbox() == 0
    got = [e for e in bus_events(world, bus_queue) if e["detail"]["certificate"]["id"] == cid]
    assert [e["detail-type"] for e in got] == ["certificate.issued"]
    assert [e for e in drain(world, queue) if e["certificate"]["id"] == cid] == []  # SNS not sent again
