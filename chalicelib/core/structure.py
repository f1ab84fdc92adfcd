"""The structural check of a request body against its shape (chalicelib.core.shapes): types,
required fields, enums, lengths, patterns, unknown fields. Every failure is named, all at once.

A valid body is converted by msgspec alone. msgspec stops at the first error, so for a body it
refuses the shape's type tree (msgspec.inspect) is walked here to name each bad field the way the API always has (`sans[1].value`, `organization.country`,
`body["odd key"]`), with the shape's own message where it gives one. The typed value is then built
by msgspec from what passed. With errors, the value is still built from the fields that passed
(bad optional fields left out, listed in `bad`) so the semantic checks can run on the rest and the
422 names every problem; it is None when a required field is bad."""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import msgspec
from msgspec import inspect as mi

from chalicelib.core.errors import FieldError, ValidationFailed

S = TypeVar("S", bound=msgspec.Struct)
_PLAIN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")


def field_name(key: str, parent: str = "") -> str:
    """How an error names a field the caller sent: `parent.key`, or `parent["odd key"]` when the
    key is empty or not a plain name (so the name is never blank and never ambiguous)."""
    if _PLAIN_NAME.match(key):
        return f"{parent}.{key}" if parent else key
    quoted = json.dumps(key[:64])
    return f"{parent or 'body'}[{quoted}]"


@dataclass(frozen=True)
class Checked(Generic[S]):
    value: S | None  # None: a required field is bad (or the body is no object)
    errors: tuple[FieldError, ...]
    bad: frozenset[str]  # optional fields refused and left out of `value`

    def valid(self) -> S:
        """The value of a body without errors; else the 422."""
        if self.errors or self.value is None:
            raise ValidationFailed(list(self.errors) or [FieldError("body", "is not valid")])
        return self.value


def check(body: Any, shape: type[S], at: str = "") -> Checked[S]:
    """`body` (parsed JSON) against `shape`; `at` prefixes the field names (a nested default)."""
    try:  # the common case, a valid body: msgspec alone, in C
        return Checked(msgspec.convert(body, shape, strict=True), (), frozenset())
    except msgspec.ValidationError:
        pass
    walk = _Walk()
    usable, cleaned = walk.value(body, _type_of(shape), at, None)
    value: S | None = None
    if usable:
        try:
            value = msgspec.convert(cleaned, shape, strict=True)
        except msgspec.ValidationError as exc:  # the walk let through what msgspec refuses: name it anyway
            walk.errors.append(_from_msgspec(exc, at))
    return Checked(value, tuple(walk.errors), frozenset(walk.bad))


@functools.cache
def field_extras(shape: type[msgspec.Struct]) -> dict[str, dict[str, Any]]:
    """Per field of `shape`, the user metadata its type carries (Meta(extra=...)), merged."""
    def extras(node: mi.Type) -> dict[str, Any]:
        if isinstance(node, mi.Metadata):
            return {**extras(node.type), **(node.extra or {})}
        if isinstance(node, mi.UnionType):
            return {k: v for t in node.types for k, v in extras(t).items()}
        return {}

    struct = _type_of(shape)
    if not isinstance(struct, mi.StructType):
        raise TypeError(f"{shape!r} is not a Struct")
    return {f.name: extras(f.type) for f in struct.fields}


@functools.cache
def _type_of(shape: type[msgspec.Struct]) -> mi.Type:
    return mi.type_info(shape)


@functools.cache
def _pattern(text: str) -> re.Pattern[str]:
    return re.compile(text)


def _from_msgspec(exc: msgspec.ValidationError, at: str) -> FieldError:
    text, _, where = str(exc).rpartition(" - at `$")
    path = where.rstrip("`").lstrip(".")
    return FieldError(f"{at}.{path}" if at and path else (path or at or "body"), text or str(exc))


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return {int: "integer", float: "number", str: "string", dict: "object", list: "array"}.get(type(value), "?")


def _kind(node: mi.Type) -> str:
    while isinstance(node, mi.Metadata):
        node = node.type
    if isinstance(node, mi.LiteralType):
        return _json_kind(node.values[0])
    kinds = {mi.StrType: "string", mi.IntType: "integer", mi.BoolType: "boolean", mi.FloatType: "number",
             mi.StructType: "object", mi.DictType: "object", mi.ListType: "array", mi.NoneType: "null"}
    return kinds.get(type(node), "?")


def _nullable(node: mi.Type) -> bool:
    while isinstance(node, mi.Metadata):
        node = node.type
    return isinstance(node, mi.NoneType) or (isinstance(node, mi.UnionType)
                                             and any(_nullable(t) for t in node.types))


def _bounds(node: mi.IntType) -> str | None:
    low = node.ge if node.ge is not None else (node.gt + 1 if node.gt is not None else None)
    high = node.le if node.le is not None else (node.lt - 1 if node.lt is not None else None)
    if low is not None and high is not None:
        return f"must be an integer from {low} to {high}"
    if low == 1:
        return "must be a positive integer"
    if low is not None:
        return f"must be at least {low}"
    return f"must be at most {high}" if high is not None else None


class _Walk:
    """One pass over a value: errors collected, and the value rebuilt from what passed.
    Each method returns (usable, cleaned); `override` is the shape's message for this field."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []
        self.bad: set[str] = set()

    def fail(self, path: str, text: str, override: str | None) -> tuple[bool, Any]:
        self.errors.append(FieldError(path or "body", override or text))
        return False, None

    def value(self, value: Any, node: mi.Type, path: str, override: str | None) -> tuple[bool, Any]:
        if isinstance(node, mi.Metadata):
            return self.value(value, node.type, path, override or (node.extra or {}).get("message"))
        if isinstance(node, mi.UnionType):
            return self.union(value, node, path, override)
        if isinstance(node, mi.StructType):
            return self.struct(value, node, path, override)
        if isinstance(node, mi.ListType):
            return self.array(value, node, path, override)
        return self.scalar(value, node, path, override)

    def union(self, value: Any, node: mi.UnionType, path: str, override: str | None) -> tuple[bool, Any]:
        if value is None and _nullable(node):
            return True, None
        branches = [t for t in node.types if not isinstance(t, mi.NoneType)]
        if len(branches) == 1:
            return self.value(value, branches[0], path, override)
        for branch in branches:
            if _kind(branch) == _json_kind(value):
                return self.value(value, branch, path, override)
        return self.fail(path, "has the wrong type", override)

    def struct(self, value: Any, node: mi.StructType, path: str, override: str | None) -> tuple[bool, Any]:
        if not isinstance(value, dict):
            return self.fail(path, "must be an object" if path else "must be a JSON object", override)
        known = {f.encode_name: f for f in node.fields}
        for key in sorted(k for k in value if k not in known):
            self.errors.append(FieldError(field_name(str(key), path), "is not a known field"))
        usable, cleaned = True, {}
        for name, spec in known.items():
            where = f"{path}.{name}" if path else name
            if name not in value or (value[name] is None and spec.required and not _nullable(spec.type)):
                if spec.required:
                    self.errors.append(FieldError(where, "is required"))
                    usable = False
                continue
            ok, item = self.value(value[name], spec.type, where, None)
            if ok:
                cleaned[name] = item
            elif spec.required:
                usable = False
            else:
                self.bad.add(where)
        return usable, cleaned

    def array(self, value: Any, node: mi.ListType, path: str, override: str | None) -> tuple[bool, Any]:
        if not isinstance(value, list):
            return self.fail(path, "must be a list", override)
        if node.max_length is not None and len(value) > node.max_length:
            return self.fail(path, f"must have at most {node.max_length} items", override)
        if node.min_length is not None and len(value) < node.min_length:
            return self.fail(path, f"must have at least {node.min_length} items", override)
        results = [self.value(item, node.item_type, f"{path}[{i}]", None) for i, item in enumerate(value)]
        return all(ok for ok, _ in results), [item for _, item in results]

    def scalar(self, value: Any, node: mi.Type, path: str, override: str | None) -> tuple[bool, Any]:
        problem = _scalar_problem(value, node)
        if problem:
            return self.fail(path, problem, override)
        return True, value


def _scalar_problem(value: Any, node: mi.Type) -> str | None:
    """What is wrong with a scalar (None: nothing)."""
    if isinstance(node, mi.AnyType):
        return None
    if isinstance(node, mi.LiteralType):
        if any(type(value) is type(v) and value == v for v in node.values):
            return None
        return "must be one of " + ", ".join(str(v) for v in node.values)
    if _kind(node) != _json_kind(value):
        return {"string": "must be a string", "integer": "must be an integer", "boolean": "must be true or false",
                "object": "must be an object", "number": "must be a number", "null": "must be null"}[_kind(node)]
    if isinstance(node, mi.StrType):
        if node.min_length and len(value) < node.min_length:
            return "must not be empty" if node.min_length == 1 else f"must be at least {node.min_length} characters"
        if node.max_length is not None and len(value) > node.max_length:
            return f"must be at most {node.max_length} characters"
        if node.pattern and not _pattern(node.pattern).search(value):
            return "is not in the expected form"
    if isinstance(node, mi.IntType):
        too_low = (node.ge is not None and value < node.ge) or (node.gt is not None and value <= node.gt)
        too_high = (node.le is not None and value > node.le) or (node.lt is not None and value >= node.lt)
        if too_low or too_high:
            return _bounds(node)
    if isinstance(node, mi.DictType | mi.BoolType | mi.StrType | mi.IntType | mi.FloatType):
        return None
    raise TypeError(f"a shape uses {node!r}, which the structural check does not know")
