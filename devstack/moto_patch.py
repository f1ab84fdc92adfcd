"""Make the in-process moto DynamoDB cost per operation independent of the table's size.

moto 5.2's DynamoDB is written for small test tables:
- `TransactWriteItems` deep-copies every table a transaction names, before it starts, so that it can
  roll back (about 8 s per transaction at 10,000 certificate items);
- `Query` walks, sorts and filters every item of the table (`Table.all_items()`), for the table's own
  key as for a global secondary index, so a page of 10 items costs O(table).

A fleet-size benchmark then measures moto, not certgate. `install()` (used by `make run`, the tests'
world and the benchmarks, always the same way) changes the two hot spots and nothing else:
- transactions snapshot only the items they touch (a deep copy of each, taken just before its own
  write) and, when one item fails, put those back (and trim the stream records they added) — the
  same all-or-nothing outcome, CancellationReasons and errors as moto's own code, which this mirrors;
- queries hand moto's own `Table.query` a candidate list instead of the whole table: for a table
  key, the items of that one partition; for a GSI with one hash and one range attribute, the slice of
  a per-partition sorted index that the range condition, ExclusiveStartKey, direction and Limit
  can reach (Limit + 1 items, so moto still sees whether there is a next page). Filtering, sorting,
  projection, LastEvaluatedKey and ScannedCount stay moto's code. Anything the fast path does not
  understand (legacy QueryFilter, multi-attribute keys, an odd start key, mixed types) falls back to
  moto's full walk, which is slow but right.

A third hot spot is per item, not per table: moto builds each written item (`Item.__init__`) one
attribute at a time into a `LimitedSizeDict`, whose every insert re-measures the whole item to enforce
DynamoDB's 400 KB limit, so a write costs O(attributes²) size computations (a certificate item with its
nested revisions and first events: ~700 per PutItem). The patched constructor measures each attribute
once, keeping a running total, and refuses the item at the same point with the same ItemSizeTooLarge
(the sizes of an item's prefixes only grow, so the running check and moto's re-measure agree).

The sorted indexes are kept up to date by hooks on `Table.put_item`, `Table.delete_item` (every
write path — PutItem, BatchWriteItem, PartiQL, transactions, UpdateItem's creation of a new item —
goes through them) and `DynamoDBBackend.update_item` (which edits an item in place). Whatever
replaces a table's items wholesale (a restore, a deep copy) invalidates the index, which is rebuilt
from the table on its next query.

`install()` also applies devstack.moto_atomic (one lock around every item operation); every function
here takes the same lock. `uninstall()` restores moto's own methods (the tests compare both)."""

from __future__ import annotations

import bisect
import copy
import functools
import logging
from collections.abc import Callable, Iterable
from typing import Any

from devstack.moto_atomic import _LOCK, make_dynamodb_atomic

log = logging.getLogger(__name__)

WRITTEN_FOR = "5.2."  # the moto version whose transact_write_items this module mirrors
_STATE_ATTR = "_certgate_indexes"
_ORIGINALS: dict[tuple[type, str], Any] = {}
_RANGE_OPS = {"=", "EQ", "<", "LT", "<=", "LE", ">", "GT", ">=", "GE", "BETWEEN", "BEGINS_WITH"}


# -- sorted GSI partitions ------------------------------------------------------------------------
class _Partition:
    """One GSI partition (one hash value): items sorted by (range value, table hash, table range),
    the order moto's own GSI query sorts them in."""

    __slots__ = ("keys", "items")

    def __init__(self) -> None:
        self.keys: list[tuple[Any, ...]] = []
        self.items: list[Any] = []

    def add(self, sort_key: tuple[Any, ...], item: Any) -> None:
        i = bisect.bisect_left(self.keys, sort_key)
        self.keys.insert(i, sort_key)
        self.items.insert(i, item)

    def remove(self, sort_key: tuple[Any, ...]) -> None:
        i = bisect.bisect_left(self.keys, sort_key)
        if i < len(self.keys) and self.keys[i] == sort_key:
            del self.keys[i]
            del self.items[i]


class _Index:
    """A GSI with exactly one hash and one range attribute, partitioned by hash value."""

    def __init__(self, hash_attr: str, range_attr: str) -> None:
        self.hash_attr = hash_attr
        self.range_attr = range_attr
        self.partitions: dict[Any, _Partition] = {}
        self.where: dict[tuple[Any, Any], tuple[Any, tuple[Any, ...]]] = {}  # table key -> (partition, sort key)

    def discard(self, table_key: tuple[Any, Any]) -> None:
        placed = self.where.pop(table_key, None)
        if placed is not None:
            part = self.partitions[placed[0]]
            part.remove(placed[1])
            if not part.keys:
                del self.partitions[placed[0]]

    def place(self, table_key: tuple[Any, Any], item: Any) -> None:
        h, r = item.attrs.get(self.hash_attr), item.attrs.get(self.range_attr)
        if h is None or r is None:
            return  # sparse: not in this index
        sort_key = (r.cast_value, item.hash_key.cast_value,
                    item.range_key.cast_value if item.range_key is not None else None)
        self.partitions.setdefault(h, _Partition()).add(sort_key, item)
        self.where[table_key] = (h, sort_key)


class _TableIndexes:
    """Everything the fast query path keeps for one moto Table."""

    def __init__(self, table: Any) -> None:
        self.owner_items = table.items  # replaced wholesale (restore) -> stale
        self.signature = _signature(table)
        self.indexes: dict[str, _Index] = {}
        for idx in table.global_indexes or []:
            hashes = [k["AttributeName"] for k in idx.schema if k["KeyType"] == "HASH"]
            ranges = [k["AttributeName"] for k in idx.schema if k["KeyType"] == "RANGE"]
            if len(hashes) == 1 and len(ranges) == 1:
                self.indexes[idx.name] = _Index(hashes[0], ranges[0])
        self.broken = False
        try:
            for item in _every_item(table):
                self._place(item)
        except TypeError:  # values of mixed types under one key attribute: moto's own walk decides
            self.broken = True

    def __deepcopy__(self, memo: dict[int, Any]) -> None:
        return None  # a copied table (backup, restore) builds its own on its first query

    def _place(self, item: Any) -> None:
        key = (item.hash_key, item.range_key)
        for idx in self.indexes.values():
            idx.place(key, item)

    def refresh(self, table: Any, hash_key: Any, range_key: Any) -> None:
        key = (hash_key, range_key)
        try:
            for idx in self.indexes.values():
                idx.discard(key)
            item = table.get_item(hash_key, range_key) if (range_key is not None or not table.range_key_attr) else None
            if item is not None:
                self._place(item)
        except TypeError:
            self.broken = True

    def valid_for(self, table: Any) -> bool:
        return not self.broken and self.owner_items is table.items and self.signature == _signature(table)


def _signature(table: Any) -> tuple[Any, ...]:
    return tuple((i.name, tuple((k["AttributeName"], k["KeyType"]) for k in i.schema))
                 for i in table.global_indexes or [])


def _every_item(table: Any) -> Iterable[Any]:
    for value in table.items.values():
        if table.range_key_attr:
            yield from value.values()
        else:
            yield value


def _state(table: Any) -> _TableIndexes:
    state = table.__dict__.get(_STATE_ATTR)
    if state is None or not state.valid_for(table):
        state = _TableIndexes(table)
        setattr(table, _STATE_ATTR, state)
    return state


def _refresh(table: Any, hash_key: Any, range_key: Any) -> None:
    """After a write to one item: move it in the sorted indexes (if the table has them yet)."""
    state = table.__dict__.get(_STATE_ATTR)
    if state is not None and state.valid_for(table):
        state.refresh(table, hash_key, range_key)


def _forget(table: Any) -> None:
    table.__dict__.pop(_STATE_ATTR, None)


# -- the query fast path --------------------------------------------------------------------------
def _slice_bounds(values: list[Any], op: str, objs: list[Any], lo: int, hi: int) -> tuple[int, int]:
    """The [lo, hi) positions of `values` (sorted range values) that the range condition admits."""
    key: Callable[[tuple[Any, ...]], Any] = _first
    v = [o.cast_value for o in objs]
    if op in ("=", "EQ"):
        return bisect.bisect_left(values, v[0], lo, hi, key=key), bisect.bisect_right(values, v[0], lo, hi, key=key)
    if op in ("<", "LT"):
        return lo, bisect.bisect_left(values, v[0], lo, hi, key=key)
    if op in ("<=", "LE"):
        return lo, bisect.bisect_right(values, v[0], lo, hi, key=key)
    if op in (">", "GT"):
        return bisect.bisect_right(values, v[0], lo, hi, key=key), hi
    if op in (">=", "GE"):
        return bisect.bisect_left(values, v[0], lo, hi, key=key), hi
    if op == "BETWEEN":
        start = bisect.bisect_left(values, v[0], lo, hi, key=key)
        return start, max(start, bisect.bisect_right(values, v[1], lo, hi, key=key))
    if op == "BEGINS_WITH":
        start = bisect.bisect_left(values, v[0], lo, hi, key=key)
        # values that start with the prefix follow each other from `start` on
        end = bisect.bisect_left(values, True, start, hi, key=lambda k: not k[0].startswith(v[0]))
        return start, end
    raise ValueError(op)


def _first(k: tuple[Any, ...]) -> Any:
    return k[0]


def _gsi_candidates(table: Any, index_name: str, hash_key_conditions: list[tuple[str, Any]] | None,
                    range_key_conditions: list[tuple[str, str, list[Any]]] | None, range_comparison: str | None,
                    range_objs: list[Any], limit: int | None, exclusive_start_key: dict[str, Any] | None,
                    scan_index_forward: bool) -> list[Any] | None:
    state = _state(table)
    idx = state.indexes.get(index_name)
    if idx is None or state.broken or not hash_key_conditions or len(hash_key_conditions) != 1:
        return None
    name, hash_value = hash_key_conditions[0]
    if name != idx.hash_attr or (range_key_conditions and len(range_key_conditions) != 1):
        return None
    part = state.indexes[index_name].partitions.get(hash_value)
    if part is None:
        return []
    keys = part.keys
    lo, hi = 0, len(keys)
    if range_comparison:
        if range_comparison not in _RANGE_OPS or not range_key_conditions or range_key_conditions[0][0] != idx.range_attr:
            return None
        lo, hi = _slice_bounds(keys, range_comparison, range_objs, lo, hi)
    if exclusive_start_key is not None:
        from moto.dynamodb.models.dynamo_type import DynamoType

        wanted = [idx.range_attr, table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
        if not all(isinstance(exclusive_start_key.get(a), dict) for a in [idx.hash_attr, *wanted]):
            return None
        if DynamoType(exclusive_start_key[idx.hash_attr]) != hash_value:
            return None  # a start key from another partition: moto's own walk decides
        start = tuple(DynamoType(exclusive_start_key[a]).cast_value for a in wanted)
        if not table.range_key_attr:
            start = (*start, None)
        # moto skips the start item itself (and anything before it): hand it over, it does the rest
        if scan_index_forward:
            lo = max(lo, bisect.bisect_left(keys, start, lo, hi))
        else:
            hi = min(hi, bisect.bisect_right(keys, start, lo, hi))
    # moto answers a LastEvaluatedKey when a page is full and any item of the partition follows it,
    # inside the range condition or not: hand over the first item past the range as well
    if scan_index_forward:
        hi = min(len(keys), max(hi, lo) + 1)
    else:
        lo = max(0, min(lo, hi) - 1)
    if limit is not None and limit >= 0:
        # one more than the page, so moto still sees whether there is a next page (and the start item)
        extra = limit + 2
        if scan_index_forward:
            hi = min(hi, lo + extra)
        else:
            lo = max(lo, hi - extra)
    return part.items[lo:max(lo, hi)]


def _table_candidates(table: Any, hash_key: Any) -> list[Any] | None:
    if hash_key is None:
        return None
    value = table.items.get(hash_key) if hash_key in table.items else None
    if value is None:
        return []
    return list(value.values()) if table.range_key_attr else [value]


def _fast_query(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def query(self: Any, hash_key: Any, range_comparison: Any, range_objs: Any, limit: Any,
              exclusive_start_key: Any, scan_index_forward: Any, projection_expressions: Any,
              index_name: Any = None, consistent_read: bool = False, filter_expression: Any = None,
              hash_key_conditions: Any = None, range_key_conditions: Any = None, **filter_kwargs: Any) -> Any:
        with _LOCK:
            candidates = None
            if not filter_kwargs:
                try:
                    if index_name:
                        if any(i.name == index_name for i in self.global_indexes or []):
                            candidates = _gsi_candidates(self, index_name, hash_key_conditions, range_key_conditions,
                                                         range_comparison, range_objs, limit, exclusive_start_key,
                                                         scan_index_forward is not False)
                    else:
                        candidates = _table_candidates(self, hash_key)
                except (TypeError, ValueError, KeyError, AttributeError):
                    candidates = None
            if candidates is not None:
                ordered = sorted(candidates, key=lambda x: (x.hash_key, x.range_key) if x.range_key else x.hash_key)
                self.all_items = lambda: ordered  # moto's query walks "all items": only these
            try:
                return original(self, hash_key, range_comparison, range_objs, limit, exclusive_start_key,
                                scan_index_forward, projection_expressions, index_name, consistent_read,
                                filter_expression, hash_key_conditions=hash_key_conditions,
                                range_key_conditions=range_key_conditions, **filter_kwargs)
            finally:
                self.__dict__.pop("all_items", None)

    return query


# -- index maintenance hooks ------------------------------------------------------------------------
def _key_of(table: Any, attrs: dict[str, Any]) -> tuple[Any, Any] | None:
    from moto.dynamodb.models.dynamo_type import DynamoType

    try:
        h = DynamoType(attrs[table.hash_key_attr])
        r = DynamoType(attrs[table.range_key_attr]) if table.range_key_attr else None
    except (KeyError, TypeError, AttributeError):
        return None
    return h, r


def _hooked_put(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def put_item(self: Any, item_attrs: dict[str, Any], *args: Any, **kw: Any) -> Any:
        with _LOCK:
            try:
                return original(self, item_attrs, *args, **kw)
            finally:
                key = _key_of(self, item_attrs)
                if key is None:
                    _forget(self)
                else:
                    _refresh(self, *key)

    return put_item


def _hooked_delete(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def delete_item(self: Any, hash_key: Any, range_key: Any) -> Any:
        with _LOCK:
            try:
                return original(self, hash_key, range_key)
            finally:
                _refresh(self, hash_key, range_key)

    return delete_item


def _hooked_update(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def update_item(self: Any, table_name: str, key: dict[str, Any], *args: Any, **kw: Any) -> Any:
        with _LOCK:
            try:
                return original(self, table_name, key, *args, **kw)
            finally:
                table = self.tables.get(table_name)
                if table is not None:
                    found = _key_of(table, key) if isinstance(key, dict) else None
                    if found is None:
                        _forget(table)
                    else:
                        _refresh(table, *found)

    return update_item


# -- transactions: roll back the touched items only ----------------------------------------------
def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
    """moto 5.2's DynamoDBBackend.transact_write_items, line for line, except the rollback: instead of
    a deep copy of every named table taken up front, a deep copy of each touched item taken just
    before its write (unicity guarantees each item is written at most once per transaction)."""
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import (
        ConditionalCheckFailed,
        MockValidationException,
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )

    with _LOCK:
        if len(transact_items) > 100:
            raise TooManyTransactionsException()
        undo: list[tuple[Any, Any, Any, Any]] = []  # (table, hash, range, item before or None)
        streams: dict[int, tuple[Any, int]] = {}

        def snapshot(table_name: str, key: dict[str, Any]) -> None:
            table = self.tables.get(table_name)
            if table is None:
                return
            found = _key_of(table, key)
            if found is None:
                return
            h, r = found
            before = table.get_item(h, r) if (r is not None or not table.range_key_attr) else None
            undo.append((table, h, r, copy.deepcopy(before)))
            shard = table.stream_shard
            if shard is not None and id(shard) not in streams:
                streams[id(shard)] = (shard, len(shard.items))

        def rollback() -> None:
            for table, h, r, before in reversed(undo):
                if table.range_key_attr:
                    part = table.items[h]
                    if before is None:
                        part.pop(r, None)
                        if not part:
                            table.items.pop(h, None)
                    else:
                        part[r] = before
                elif before is None:
                    table.items.pop(h, None)
                else:
                    table.items[h] = before
                _refresh(table, h, r)
            for shard, length in streams.values():
                del shard.items[length:]

        target_items: set[tuple[str, str]] = set()

        def check_unicity(table_name: str, key: dict[str, Any]) -> None:
            item = (str(table_name), str(dict(sorted(key.items()))))
            if item in target_items:
                raise MultipleTransactionsException()
            target_items.add(item)

        errors: list[tuple[str, str, dict[str, Any]] | tuple[None, None, None]] = []
        for item in transact_items:
            original_item: dict[str, Any] | None = None
            if len(list(item.keys())) > 1:
                rollback()
                raise TransactWriteSingleOpException
            try:
                op_type, op = next(iter(item.items()))
                if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                    raise ValueError("Unsupported transaction operation")

                table_name = op["TableName"]
                condition_expression = op.get("ConditionExpression")
                expression_attribute_names = op.get("ExpressionAttributeNames")
                expression_attribute_values = op.get("ExpressionAttributeValues")
                return_values_on_condition_check_failure = op.get("ReturnValuesOnConditionCheckFailure")

                if op_type == "Put":
                    attrs = op["Item"]
                    table = self.get_table(table_name)
                    key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                    if table.range_key_attr is not None:
                        key[table.range_key_attr] = attrs[table.range_key_attr]
                else:
                    key = op["Key"]

                check_unicity(table_name, key)

                current = self.get_item(table_name, key)
                if condition_expression is not None:
                    condition_op = get_filter_expression(
                        condition_expression, expression_attribute_names, expression_attribute_values)
                    if not condition_op.expr(current):
                        if return_values_on_condition_check_failure == "ALL_OLD" and current:
                            original_item = current.to_json()["Attributes"]
                        raise ConditionalCheckFailed(item=original_item)

                if op_type in ("Put", "Delete", "Update"):
                    snapshot(table_name, key)
                if op_type == "Put":
                    self.put_item(table_name, op["Item"], condition_expression=condition_expression,
                                  expression_attribute_names=expression_attribute_names,
                                  expression_attribute_values=expression_attribute_values)
                elif op_type == "Delete":
                    self.delete_item(table_name, key, condition_expression=condition_expression,
                                     expression_attribute_names=expression_attribute_names,
                                     expression_attribute_values=expression_attribute_values)
                elif op_type == "Update":
                    self.update_item(table_name, key, update_expression=op["UpdateExpression"],
                                     condition_expression=condition_expression,
                                     expression_attribute_names=expression_attribute_names,
                                     expression_attribute_values=expression_attribute_values)
                errors.append((None, None, None))
            except (MultipleTransactionsException, MockValidationException):
                rollback()
                raise
            except ConditionalCheckFailed as e:
                errors.append(("ConditionalCheckFailed", str(e.message), original_item))  # type: ignore[arg-type]
            except Exception as e:  # noqa: BLE001 - moto records any other failure as the item's reason
                errors.append((type(e).__name__, str(e), original_item))  # type: ignore[arg-type]

        if any(code is not None for code, _, _ in errors):
            rollback()
            raise TransactionCanceledException(errors)


transact_write_items._certgate_atomic = True  # type: ignore[attr-defined]  # it takes the lock itself


# -- an item built in one pass -----------------------------------------------------------------------
ITEM_SIZE_LIMIT = 405000  # moto's LimitedSizeDict bound (DynamoDB's 400 KB, as moto measures it)


def _linear_item_init(_original: Callable[..., Any]) -> Callable[..., Any]:
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType, LimitedSizeDict
    from moto.dynamodb.models.utilities import bytesize

    def __init__(self: Any, hash_key: Any, range_key: Any, attrs: dict[str, Any]) -> None:
        self.hash_key = hash_key
        self.range_key = range_key
        built = LimitedSizeDict.__new__(LimitedSizeDict)
        dict.__init__(built)
        size = 0
        for key, value in attrs.items():
            typed = DynamoType(value)
            size += bytesize(str(key)) + typed.size()  # what LimitedSizeDict.__setitem__ adds up
            if size > ITEM_SIZE_LIMIT:
                raise ItemSizeTooLarge
            dict.__setitem__(built, key, typed)
        self.attrs = built

    return __init__


# -- install / uninstall ----------------------------------------------------------------------------
def _replace(cls: type, name: str, build: Callable[[Any], Any]) -> None:
    if (cls, name) in _ORIGINALS:
        return
    original = cls.__dict__[name]
    _ORIGINALS[(cls, name)] = original
    setattr(cls, name, build(original))


def installed() -> bool:
    return bool(_ORIGINALS)


def install() -> None:
    """Idempotently patch moto's DynamoDB (see the module docstring) and make it atomic per request."""
    import moto
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import Item
    from moto.dynamodb.models.table import Table

    make_dynamodb_atomic()
    if installed():
        return
    if not str(moto.__version__).startswith(WRITTEN_FOR):
        log.warning("devstack.moto_patch mirrors moto %sx's transactions; this is moto %s",
                    WRITTEN_FOR, moto.__version__)
    _replace(Table, "query", _fast_query)
    _replace(Table, "put_item", _hooked_put)
    _replace(Table, "delete_item", _hooked_delete)
    _replace(DynamoDBBackend, "update_item", _hooked_update)
    _replace(DynamoDBBackend, "transact_write_items", lambda _original: transact_write_items)
    _replace(Item, "__init__", _linear_item_init)


def uninstall() -> None:
    """Put moto's own methods back (the lock of devstack.moto_atomic stays). Every table forgets its
    sorted indexes: moto's own writes do not keep them, so a later install() rebuilds them."""
    from moto.dynamodb.models import dynamodb_backends

    with _LOCK:
        for (cls, name), original in list(_ORIGINALS.items()):
            setattr(cls, name, original)
            del _ORIGINALS[(cls, name)]
        for regions in list(dynamodb_backends.values()):
            for backend in list(regions.values()):
                for table in list(backend.tables.values()):
                    _forget(table)
