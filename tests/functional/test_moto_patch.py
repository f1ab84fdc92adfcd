"""devstack.moto_patch (issue 17 item 7): moto's DynamoDB made O(touched items) per transaction and
O(page) per index query must still behave as DynamoDB (and as moto's own code) does.

Everything goes through boto3 and an in-process ThreadedMotoServer, as `make run` and the tests'
world use it, with the patch applied the one way devstack applies it: `moto_patch.install()`.
The comparison tests run the same random history twice, once on moto's own code
(`moto_patch.uninstall()`) and once patched, each in a region of its own (fresh backends), on
certgate's own table definition (four sparse GSIs), and compare every response."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from chalicelib.adapters.dynamodb import schema
from devstack import moto_patch


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    from devstack.local_env import free_port

    moto_patch.install()
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@contextmanager
def patch(on: bool) -> Iterator[None]:
    """The patch on or off for the block, then as it was before."""
    was = moto_patch.installed()
    (moto_patch.install if on else moto_patch.uninstall)()
    try:
        yield
    finally:
        (moto_patch.install if was else moto_patch.uninstall)()


def ddb(url: str, region: str) -> Any:
    import boto3

    return boto3.client("dynamodb", endpoint_url=url, region_name=region,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def new_table(client: Any) -> str:
    name = f"patch-{uuid.uuid4().hex[:8]}"
    client.create_table(**schema.table_definition(name))
    return name


def clean(resp: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in resp.items() if k not in ("ResponseMetadata", "ConsumedCapacity")}


def outcome(fn: Any) -> Any:
    """A response, or the error DynamoDB answered (code, message, cancellation reasons)."""
    from botocore.exceptions import ClientError

    try:
        return clean(fn())
    except ClientError as exc:
        err = exc.response.get("Error", {})
        return {"error": err.get("Code"), "message": err.get("Message"),
                "reasons": exc.response.get("CancellationReasons")}


# -- a random history on certgate's table --------------------------------------------------------
SHARDS = ["E#0", "E#1", "E#2"]
DATES = [f"2026-0{m}-{d:02d}T00:00:00Z" for m in range(1, 4) for d in (1, 2, 15)]
OWNERS = ["alice", "bob"]


def s(v: str) -> dict[str, str]:
    return {"S": v}


def random_item(rnd: random.Random, n: int) -> dict[str, Any]:
    item: dict[str, Any] = {"pk": s(f"CERT#{n:04d}"), "sk": s(rnd.choice(["META", f"EVT#{rnd.choice(DATES)}"])),
                            "n": {"N": str(n)}}
    if rnd.random() < 0.7:
        item["expiry_bucket"], item["not_after"] = s(rnd.choice(SHARDS)), s(rnd.choice(DATES))
    if rnd.random() < 0.5:
        item["owner"], item["created_at"] = s(rnd.choice(OWNERS)), s(rnd.choice(DATES))
    if rnd.random() < 0.3:
        item["due_shard"], item["next_poll_at"] = s(rnd.choice(["P#0", "S#0"])), s(rnd.choice(DATES))
    return item


def random_query(rnd: random.Random, table: str) -> dict[str, Any]:
    kw: dict[str, Any] = {"TableName": table}
    which = rnd.choice(["expiry", "by_owner", "due", "table"])
    if which == "table":
        kw["KeyConditionExpression"] = "pk = :h" + rnd.choice(["", " AND begins_with(sk, :p)"])
        values = {":h": s(f"CERT#{rnd.randrange(60):04d}")}
        if ":p" in kw["KeyConditionExpression"]:
            values[":p"] = s("EVT#")
    else:
        h, r = schema.gsi_keys()[which]
        kw["IndexName"] = which
        hv = {"expiry": SHARDS, "by_owner": OWNERS, "due": ["P#0", "S#0", "X#9"]}[which]
        values = {":h": s(rnd.choice(hv))}
        op = rnd.choice(["", "=", "<", "<=", ">", ">=", "between", "begins"])
        cond = f"{h} = :h"
        if op == "between":
            a, b = sorted(rnd.sample(DATES, 2))
            cond += f" AND {r} BETWEEN :a AND :b"
            values[":a"], values[":b"] = s(a), s(b)
        elif op == "begins":
            cond += f" AND begins_with({r}, :a)"
            values[":a"] = s(rnd.choice(["2026-01", "2026-02-1", "2026", "2027"]))
        elif op:
            cond += f" AND {r} {op} :a"
            values[":a"] = s(rnd.choice(DATES))
        kw["KeyConditionExpression"] = cond
    if rnd.random() < 0.2:
        kw["FilterExpression"] = "n > :n"
        values[":n"] = {"N": str(rnd.randrange(60))}
    if rnd.random() < 0.2:
        kw["ProjectionExpression"] = "pk, sk, n"
    kw["ExpressionAttributeValues"] = values
    limit = rnd.choice([None, 1, 2, 3, 7, 50])
    if limit:
        kw["Limit"] = limit
    kw["ScanIndexForward"] = rnd.random() < 0.6
    return kw


def all_pages(client: Any, kw: dict[str, Any]) -> list[Any]:
    pages = []
    for _ in range(200):
        page = outcome(lambda kw=kw: client.query(**kw))  # type: ignore[misc]
        pages.append(page)
        if "LastEvaluatedKey" not in page:
            break
        kw = {**kw, "ExclusiveStartKey": page["LastEvaluatedKey"]}
    return pages


def random_write(rnd: random.Random, client: Any, table: str) -> Any:
    n = rnd.randrange(60)
    key = {"pk": s(f"CERT#{n:04d}"), "sk": s("META")}
    kind = rnd.choice(["put", "update", "unindex", "delete", "cond_put", "tx", "tx_fail", "tx_dup"])
    if kind == "put":
        return outcome(lambda: client.put_item(TableName=table, Item={**random_item(rnd, n), "sk": s("META")}))
    if kind == "update":
        return outcome(lambda: client.update_item(
            TableName=table, Key=key, UpdateExpression="SET expiry_bucket = :b, not_after = :a, n = :n",
            ExpressionAttributeValues={":b": s(rnd.choice(SHARDS)), ":a": s(rnd.choice(DATES)), ":n": {"N": str(n)}},
            ReturnValues="ALL_NEW"))
    if kind == "unindex":
        return outcome(lambda: client.update_item(TableName=table, Key=key,
                                                  UpdateExpression="REMOVE expiry_bucket, owner"))
    if kind == "delete":
        return outcome(lambda: client.delete_item(TableName=table, Key=key, ReturnValues="ALL_OLD"))
    if kind == "cond_put":
        return outcome(lambda: client.put_item(TableName=table, Item={**random_item(rnd, n), "sk": s("META")},
                                               ConditionExpression="attribute_not_exists(pk)"))
    others = rnd.sample([m for m in range(60) if m != n], 3)
    ops: list[dict[str, Any]] = [
        {"Update": {"TableName": table, "Key": key, "UpdateExpression": "SET not_after = :a, expiry_bucket = :b",
                    "ExpressionAttributeValues": {":a": s(rnd.choice(DATES)), ":b": s(rnd.choice(SHARDS))}}},
        {"Put": {"TableName": table, "Item": {**random_item(rnd, others[0]), "sk": s("META")}}},
        {"Delete": {"TableName": table, "Key": {"pk": s(f"CERT#{others[1]:04d}"), "sk": s("META")}}},
    ]
    if kind == "tx_fail":
        ops.append({"ConditionCheck": {"TableName": table, "Key": {"pk": s(f"CERT#{others[2]:04d}"), "sk": s("META")},
                                       "ConditionExpression": "attribute_not_exists(pk) AND attribute_exists(pk)",
                                       "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}})
    if kind == "tx_dup":
        ops.append({"Delete": {"TableName": table, "Key": key}})
    return outcome(lambda: client.transact_write_items(TransactItems=ops))


def history(client: Any, seed: int, steps: int) -> list[Any]:
    rnd = random.Random(seed)
    table = new_table(client)
    seen: list[Any] = []
    items = [random_item(rnd, n) for n in range(60)]
    for i in range(0, len(items), 25):
        client.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": it}} for it in items[i:i + 25]]})
    for _ in range(steps):
        if rnd.random() < 0.5:
            seen.append(random_write(rnd, client, table))
        else:
            seen.append(all_pages(client, random_query(rnd, table)))
    scanned = client.scan(TableName=table)["Items"]
    seen.append(sorted(scanned, key=lambda i: (i["pk"]["S"], i["sk"]["S"])))
    return seen


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_random_history_answers_as_moto_does(moto_url: str, seed: int) -> None:
    with patch(on=False):
        expected = history(ddb(moto_url, "eu-west-1"), seed, steps=160)
    with patch(on=True):
        got = history(ddb(moto_url, "eu-west-2"), seed, steps=160)
    assert len(got) == len(expected)
    for i, (g, e) in enumerate(zip(got, expected, strict=True)):
        assert g == e, f"step {i} differs"
    # the history did exercise both outcomes of transactions and multi-page listings
    flat = [x for x in expected if isinstance(x, dict)]
    assert any(x.get("error") == "TransactionCanceledException" for x in flat)
    assert any(len(x) > 2 for x in expected if isinstance(x, list) and x and "Items" in x[0])


# -- DynamoDB's transaction semantics, patched ---------------------------------------------------
def _item(client: Any, table: str, n: int) -> Any:
    return client.get_item(TableName=table, Key={"pk": s(f"CERT#{n}"), "sk": s("META")}, ConsistentRead=True).get("Item")


def _expiring(client: Any, table: str, shard: str) -> list[str]:
    resp = client.query(TableName=table, IndexName=schema.INDEX_EXPIRY, KeyConditionExpression="expiry_bucket = :b",
                        ExpressionAttributeValues={":b": s(shard)})
    return [i["pk"]["S"] for i in resp["Items"]]


def _seeded(client: Any) -> str:
    table = new_table(client)
    for n, shard in ((1, "E#0"), (2, "E#0"), (3, "E#1")):
        client.put_item(TableName=table, Item={"pk": s(f"CERT#{n}"), "sk": s("META"), "v": {"N": "1"},
                                               "expiry_bucket": s(shard), "not_after": s(f"2026-05-0{n}")})
    return table


def test_a_transaction_with_a_failing_condition_changes_nothing(moto_url: str) -> None:
    from botocore.exceptions import ClientError

    client = ddb(moto_url, "eu-west-3")
    with patch(on=True):
        table = _seeded(client)
        before = [_item(client, table, n) for n in (1, 2, 3, 4)]
        index_before = (_expiring(client, table, "E#0"), _expiring(client, table, "E#1"))
        with pytest.raises(ClientError) as caught:
            client.transact_write_items(TransactItems=[
                {"Update": {"TableName": table, "Key": {"pk": s("CERT#1"), "sk": s("META")},
                            "UpdateExpression": "SET expiry_bucket = :b, v = v + :one",
                            "ExpressionAttributeValues": {":b": s("E#1"), ":one": {"N": "1"}}}},
                {"Put": {"TableName": table, "Item": {"pk": s("CERT#4"), "sk": s("META"), "expiry_bucket": s("E#0"),
                                                      "not_after": s("2026-05-04")}}},
                {"Delete": {"TableName": table, "Key": {"pk": s("CERT#3"), "sk": s("META")}}},
                {"Put": {"TableName": table, "Item": {"pk": s("CERT#2"), "sk": s("META"), "v": {"N": "2"}},
                         "ConditionExpression": "v = :old", "ExpressionAttributeValues": {":old": {"N": "7"}},
                         "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}},
            ])
        err = caught.value.response
        assert err["Error"]["Code"] == "TransactionCanceledException"
        codes = [r.get("Code") for r in err["CancellationReasons"]]
        assert codes == ["None", "None", "None", "ConditionalCheckFailed"]
        assert err["CancellationReasons"][3]["Item"]["v"] == {"N": "1"}
        assert [_item(client, table, n) for n in (1, 2, 3, 4)] == before
        assert (_expiring(client, table, "E#0"), _expiring(client, table, "E#1")) == index_before


def test_two_operations_on_one_item_are_refused_and_roll_back_what_ran(moto_url: str) -> None:
    from botocore.exceptions import ClientError

    client = ddb(moto_url, "eu-west-3")
    with patch(on=True):
        table = _seeded(client)
        before = [_item(client, table, n) for n in (1, 2, 5)]
        with pytest.raises(ClientError) as caught:
            client.transact_write_items(TransactItems=[
                {"Put": {"TableName": table, "Item": {"pk": s("CERT#5"), "sk": s("META")}}},
                {"Delete": {"TableName": table, "Key": {"pk": s("CERT#2"), "sk": s("META")}}},
                {"Update": {"TableName": table, "Key": {"pk": s("CERT#5"), "sk": s("META")},
                            "UpdateExpression": "SET v = :v", "ExpressionAttributeValues": {":v": {"N": "9"}}}},
            ])
        assert caught.value.response["Error"]["Code"] == "ValidationException"
        assert [_item(client, table, n) for n in (1, 2, 5)] == before
        assert _expiring(client, table, "E#0") == ["CERT#1", "CERT#2"]


def test_puts_are_idempotent_and_a_create_twice_is_refused_once(moto_url: str) -> None:
    from botocore.exceptions import ClientError

    client = ddb(moto_url, "eu-west-3")
    with patch(on=True):
        table = new_table(client)
        item = {"pk": s("CERT#9"), "sk": s("META"), "expiry_bucket": s("E#2"), "not_after": s("2026-07-01")}
        client.put_item(TableName=table, Item=item)
        client.put_item(TableName=table, Item=item)
        assert _expiring(client, table, "E#2") == ["CERT#9"]
        create = [{"Put": {"TableName": table, "Item": {**item, "pk": s("CERT#10")},
                           "ConditionExpression": "attribute_not_exists(pk)"}},
                  {"Put": {"TableName": table, "Item": {"pk": s("IDEM#x"), "sk": s("IDEM"), "c": s("CERT#10")},
                           "ConditionExpression": "attribute_not_exists(pk)"}}]
        client.transact_write_items(TransactItems=create)
        with pytest.raises(ClientError) as caught:
            client.transact_write_items(TransactItems=create)
        assert [r["Code"] for r in caught.value.response["CancellationReasons"]] == ["ConditionalCheckFailed"] * 2
        assert _expiring(client, table, "E#2") == ["CERT#10", "CERT#9"]
        assert client.scan(TableName=table)["Count"] == 3


# -- the patch is in effect: the O(table) paths are never taken ----------------------------------
def test_transactions_and_queries_never_copy_or_walk_the_table(moto_url: str, monkeypatch: Any) -> None:
    """moto's own transaction deep-copies each named table and its query walks Table.all_items();
    with the patch neither happens (so their cost does not grow with the table)."""
    from moto.dynamodb.models.table import Table

    client = ddb(moto_url, "eu-west-3")
    with patch(on=True):
        table = _seeded(client)

        def refuse(*_: Any) -> Any:
            raise AssertionError("O(table) path taken")

        monkeypatch.setattr(Table, "__deepcopy__", refuse, raising=False)
        monkeypatch.setattr(Table, "all_items", refuse)
        client.transact_write_items(TransactItems=[
            {"Put": {"TableName": table, "Item": {"pk": s("CERT#6"), "sk": s("META"), "expiry_bucket": s("E#0"),
                                                  "not_after": s("2026-05-06")}}}])
        assert _expiring(client, table, "E#0") == ["CERT#1", "CERT#2", "CERT#6"]
        resp = client.query(TableName=table, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": s("CERT#6")})
        assert resp["Count"] == 1


def test_writes_made_while_uninstalled_are_seen_after_install(moto_url: str) -> None:
    """moto's own writes do not keep the sorted indexes: uninstall() makes every table forget
    them, and install() rebuilds them from the table on the next query."""
    client = ddb(moto_url, "eu-west-3")
    with patch(on=True):
        table = _seeded(client)
        assert _expiring(client, table, "E#1") == ["CERT#3"]  # the index is built
        with patch(on=False):
            client.update_item(TableName=table, Key={"pk": s("CERT#1"), "sk": s("META")},
                               UpdateExpression="SET expiry_bucket = :b", ExpressionAttributeValues={":b": s("E#1")})
        assert _expiring(client, table, "E#1") == ["CERT#1", "CERT#3"]
        assert _expiring(client, table, "E#0") == ["CERT#2"]


# -- an item is measured once (issue 17 item 6: the cost of a write does not grow with its attributes²) --
def _sized(table: str, size: int, n: int) -> dict[str, Any]:
    """A PutItem whose item measures exactly `size` bytes as moto counts (names + UTF-8 values)."""
    fixed = {"pk": s(f"CERT#{n}"), "sk": s("META")}
    used = sum(len(k) + len(v["S"]) for k, v in fixed.items()) + len("blob") + len("nested") + len("tags")
    nested = {"M": {"a": s("é" * 10), "b": {"N": "12345"}, "c": {"L": [s("x"), {"BOOL": True}]}}}
    used += 1 + 20 + 1 + 5 + 1 + 1 + 1  # a + é×10 (2 bytes each), b + 12345, c + x + True
    tags = {"SS": ["red", "blue"]}
    used += 7
    return {"TableName": table, "Item": {**fixed, "nested": nested, "tags": tags, "blob": s("x" * (size - used))}}


def test_the_item_size_limit_holds_as_in_moto_at_its_bound(moto_url: str) -> None:
    sizes = (moto_patch.ITEM_SIZE_LIMIT - 1, moto_patch.ITEM_SIZE_LIMIT, moto_patch.ITEM_SIZE_LIMIT + 1)

    def writes(client: Any) -> list[Any]:
        table = new_table(client)
        puts = [_sized(table, size, n) for n, size in enumerate(sizes)]
        got = [outcome(lambda put=put: client.put_item(**put)) for put in puts]
        update = {"TableName": table, "Key": {"pk": s("CERT#0"), "sk": s("META")},
                  "UpdateExpression": "SET more = :m", "ExpressionAttributeValues": {":m": s("yy")}}
        got.append(outcome(lambda: client.update_item(**update)))  # an existing item grown past the bound
        tx = _sized(table, moto_patch.ITEM_SIZE_LIMIT + 1, 9)
        got.append(outcome(lambda: client.transact_write_items(TransactItems=[{"Put": tx}])))
        got.append(sorted(i["pk"]["S"] for i in client.scan(TableName=table, ProjectionExpression="pk")["Items"]))
        return got

    with patch(on=False):
        expected = writes(ddb(moto_url, "eu-north-1"))
    with patch(on=True):
        got = writes(ddb(moto_url, "eu-south-1"))
    assert got == expected
    assert expected[0] == {} and expected[1] == {} and expected[2]["error"] == "ValidationException"
    assert expected[-1] == ["CERT#0", "CERT#1"]


def test_a_written_item_is_measured_once_per_attribute(moto_url: str, monkeypatch: Any) -> None:
    """moto's LimitedSizeDict re-measures the whole item on every attribute it adds; patched, no
    item is built through it (PutItem, a transaction), so a write is linear in the item's size."""
    from moto.dynamodb.models.dynamo_type import LimitedSizeDict

    client = ddb(moto_url, "eu-west-3")
    with patch(on=True):
        table = new_table(client)

        def refuse(*_: Any) -> Any:
            raise AssertionError("an item re-measured on every attribute")

        monkeypatch.setattr(LimitedSizeDict, "__setitem__", refuse)
        item = {"pk": s("CERT#1"), "sk": s("META"), **{f"a{i}": s(str(i)) for i in range(40)}}
        client.put_item(TableName=table, Item=item)
        client.transact_write_items(TransactItems=[{"Put": {"TableName": table, "Item": {**item, "pk": s("CERT#2")}}}])
        assert client.get_item(TableName=table, Key={"pk": s("CERT#2"), "sk": s("META")})["Item"] == {
            **item, "pk": s("CERT#2")}
