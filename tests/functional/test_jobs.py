"""Scheduled jobs through chalice.test.Client: polling, backoff, time budget, expiry, outbox."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from typing import Any

import pytest

from chalicelib.core.model import Status, iso
from tests.functional.test_lifecycle import cn, csr_for, order, who


def run_job(client: Any, name: str) -> Any:
    return client.lambda_.invoke(name, client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[])).payload


@pytest.fixture()
def queue(world):
    """An SQS queue subscribed to the topic, like a real subscriber."""
    sqs, sns = world.aws("sqs"), world.aws("sns")
    url = sqs.create_queue(QueueName="t-" + uuid.uuid4().hex[:12])["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sub = sns.subscribe(TopicArn=world.env["CERTGATE_TOPIC_ARN"], Protocol="sqs", Endpoint=arn)
    yield url
    sns.unsubscribe(SubscriptionArn=sub["SubscriptionArn"])
    sqs.delete_queue(QueueUrl=url)


def drain(world, url: str) -> list[dict[str, Any]]:
    sqs = world.aws("sqs")
    out = []
    for _ in range(10):
        msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                   MessageAttributeNames=["All"]).get("Messages", [])
        if not msgs:
            break
        for m in msgs:
            env = json.loads(m["Body"])
            body = json.loads(env["Message"])
            body["_attrs"] = {k: v["Value"] for k, v in env.get("MessageAttributes", {}).items()}
            out.append(body)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return out


def svc():
    from chalicelib.bootstrap import service

    return service()


def test_exactly_one_issued_event_per_issuance_with_s3_objects(client, world, queue):
    me = who()
    ids = []
    for provider in ("resello", "digicert"):
        name = cn()
        body = {"provider": provider, "common_name": name}
        if provider == "digicert":
            body["csr"] = csr_for(name)
        ids.append(order(client, body, me)[2]["id"])
    world.advance("resello")
    world.advance("digicert")
    for _ in range(3):  # more runs than needed: repeats must not announce twice
        run_job(client, "poll_pending")
        time.sleep(1.1)
    events = [e for e in drain(world, queue) if e["certificate"]["id"] in ids]
    issued = [e for e in events if e["event"] == "certificate.issued"]
    assert sorted(e["certificate"]["id"] for e in issued) == sorted(ids), events
    assert len({e["event_id"] for e in issued}) == 2
    s3 = world.aws("s3")
    for e in issued:
        assert e["_attrs"]["event"] == "certificate.issued" and e["_attrs"]["provider"] in ("resello", "digicert")
        assert "BEGIN" not in json.dumps(e)  # events point at S3, never carry PEMs
        keys = {o["Key"] for o in s3.list_objects_v2(Bucket=e["s3"]["bucket"], Prefix=e["s3"]["prefix"])["Contents"]}
        assert {e["s3"]["prefix"] + f for f in ("cert.pem", "chain.pem", "fullchain.pem", "metadata.json")} == keys


def test_pending_backs_off_exponentially(client, world):
    me = who()
    cid = order(client, {"provider": "resello", "common_name": cn()}, me)[2]["id"]
    store = svc().store
    gaps = []
    for _ in range(4):
        cert = store.get(cid)
        forced = cert.updated(dt.datetime.now(dt.UTC), next_poll_at=iso(dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
        store.save(forced)
        run_job(client, "poll_pending")
        after = store.get(cid)
        gaps.append((dt.datetime.fromisoformat(after.next_poll_at.replace("Z", "+00:00")) - dt.datetime.now(dt.UTC)).total_seconds())
        assert after.status is Status.PENDING
    assert store.get(cid).poll_attempts >= 4
    assert all(g <= 4.5 for g in gaps)  # capped by CERTGATE_POLL_MAX_INTERVAL_S=4 in these tests


def test_poller_stops_inside_the_time_budget(client, world):
    from chalicelib.service import jobs

    me = who()
    ids = [order(client, {"provider": "resello", "common_name": cn()}, me)[2]["id"] for _ in range(3)]
    before = {cid: svc().store.get(cid) for cid in ids}
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30)
    stats = jobs.poll_pending(svc(), remaining=lambda: 500, now=later)  # less than the safety margin
    assert stats.get("left_for_next_run", 0) >= 1
    assert "unchanged" not in stats and "issued" not in stats
    for cid, cert in before.items():  # untouched: still due for the next run
        after = svc().store.get(cid)
        assert after.version == cert.version and after.next_poll_at == cert.next_poll_at

    # With a budget that runs out part-way, what was started finishes and the rest stays due.
    budget = iter([60_000] * 2 + [0] * 1000)
    stats = jobs.poll_pending(svc(), remaining=lambda: next(budget), now=later)
    assert stats.get("left_for_next_run", 0) >= 1


def test_rate_limited_provider_is_left_alone(client, world):
    from chalicelib.service import jobs

    me = who()
    for _ in range(3):
        order(client, {"provider": "resello", "common_name": cn()}, me)
    now = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=10)
    world.faults("resello", rate_limit_per_s=0.001, retry_after_s=120)
    try:
        stats = jobs.poll_pending(svc(), remaining=lambda: 60_000, now=now)
    finally:
        world.clear_faults()
    assert stats.get("rate_limited", 0) >= 1


def _expiring_soon(cid: str, days: float):
    """Pretend the certificate expires in `days` (only this one: the other certificates of the
    session stay a year away, outside the job's 30-day horizon)."""
    store = svc().store
    cert = store.get(cid)
    end = dt.datetime.now(dt.UTC) + dt.timedelta(days=days)
    # through the service, as every write of a certificate: it files it at its next action
    svc().save(cert.updated(dt.datetime.now(dt.UTC), not_after=iso(end)))
    return end


def test_expiry_notices_once_each_and_expired(client, world, queue):
    from chalicelib.service import jobs

    me = who()
    cid = order(client, {"provider": "tinycert", "common_name": cn()}, me)[2]["id"]
    end = _expiring_soon(cid, 90)  # a 90-day lifetime: notices at 30, 15 and 3 days left
    for days_before in (29, 28, 14, 13, 2, 0.5):
        jobs.renew_expiring(svc(), lambda: 60_000, now=end - dt.timedelta(days=days_before))
    jobs.renew_expiring(svc(), lambda: 60_000, now=end + dt.timedelta(hours=1))
    got = [e for e in drain(world, queue) if e["certificate"]["id"] == cid]
    notices = [e["detail"]["remaining_fraction"] for e in got if e["event"] == "certificate.expiring"]
    assert notices == ["1/3", "1/6", "1/30"]
    assert [e["event"] for e in got].count("certificate.expired") == 1
    assert svc().store.get(cid).status is Status.EXPIRED


def test_auto_renew_renews_inside_the_window(client, world):
    from chalicelib.service import jobs

    me = who()
    cid = order(client, {"provider": "tinycert", "common_name": cn(), "auto_renew": True}, me)[2]["id"]
    end = _expiring_soon(cid, 20)  # a 20-day lifetime: renewal from 6.67 days left (at most 10% earlier)
    before = svc().store.get(cid)
    jobs.renew_expiring(svc(), lambda: 60_000, now=end - dt.timedelta(days=8))
    assert svc().store.get(cid).revision == 1
    jobs.renew_expiring(svc(), lambda: 60_000, now=end - dt.timedelta(days=6))
    after = svc().store.get(cid)
    assert after.revision == 2 and after.status is Status.ISSUED
    assert after.serial != before.serial and after.not_after != before.not_after


def test_outbox_retries_a_failed_publish(client, world, queue, monkeypatch):
    me = who()
    service = svc()
    real = service.publisher._client_factory

    class BrokenSns:  # the SNS endpoint is unreachable: the adapter sees botocore's own error
        def publish(self, **_):
            from botocore.exceptions import EndpointConnectionError

            raise EndpointConnectionError(endpoint_url="http://sns")

    monkeypatch.setattr(service.publisher, "_client_factory", BrokenSns)
    cid = order(client, {"provider": "tinycert", "common_name": cn()}, me)[2]["id"]
    assert [e for e in drain(world, queue) if e["certificate"]["id"] == cid] == []
    monkeypatch.setattr(service.publisher, "_client_factory", real)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
    monkeypatch.setattr(service, "clock", lambda: later)
    assert service.flush_outbox() >= 1
    assert service.flush_outbox() == 0
    got = [e for e in drain(world, queue) if e["certificate"]["id"] == cid]
    assert [e["event"] for e in got] == ["certificate.issued"]
