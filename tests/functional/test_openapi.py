"""The OpenAPI document against the code: a valid 3.1 document, regenerated, every route Chalice
registers in it and nothing else, its examples valid, its request schemas accepting exactly what
the structural validation accepts (both come from chalicelib/core/shapes.py). The helpers here also
serve test_openapi_responses.py and the per-test response check of tests/conftest.py."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from functools import cache
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.functional.conftest import call
from tools import openapi

FALLBACK_PREFIXES = ("not_found_", "method_not_allowed_")
JSON_TYPES = ("application/json", "application/problem+json")


# -- helpers (also used by test_openapi_responses.py) ----------------------------------------------------
@cache
def document() -> dict[str, Any]:
    return openapi.spec()


def validator_for(schema: dict[str, Any]) -> Any:
    """A JSON Schema 2020-12 validator for `schema`, resolving #/components/... in the document."""
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    base = "urn:certgate:openapi"
    registry = Registry().with_resource(base, Resource.from_contents(document(), default_specification=DRAFT202012))
    return Draft202012Validator({"$id": "urn:certgate:check", **_anchored(schema, base)},
                                registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER)


def _anchored(schema: Any, base: str) -> Any:
    """`schema` with local refs made absolute, so it can be validated outside the document."""
    if isinstance(schema, dict):
        return {k: (base + v if k == "$ref" and v.startswith("#") else _anchored(v, base)) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_anchored(v, base) for v in schema]
    return schema


def schema_errors(schema: dict[str, Any], value: Any) -> list[str]:
    v = validator_for(schema)
    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in v.iter_errors(value)]


def resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = document()
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


@cache
def _templates() -> list[tuple[re.Pattern[str], str]]:
    out = []
    for template in document()["paths"]:
        out.append((re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$"), template))
    # Static paths before templated ones, so /certificates beats /{anything}.
    return sorted(out, key=lambda p: p[1].count("{"))


def operation_for(method: str, concrete_path: str) -> tuple[str | None, dict[str, Any] | None]:
    path = concrete_path.split("?", 1)[0]
    for pattern, template in _templates():
        if pattern.match(path):
            return template, document()["paths"][template].get(method.lower())
    return None, None


def response_problems(method: str, path: str, status: int, content_type: str, headers: dict[str, str],
                      body: Any) -> list[str]:
    """Why this response does not conform to the document (empty: it conforms)."""
    template, op = operation_for(method, path)
    media = content_type.split(";")[0].strip().lower()
    if op is None:
        # Unknown path (404) or known path with another method (405): the fallbacks' problem bodies.
        if status not in (404, 405) or media != "application/problem+json":
            return [f"{method} {path}: not in the document, answered {status} {media}"]
        return [f"{method} {path}: {e}" for e in schema_errors({"$ref": "#/components/schemas/Problem"}, body)]
    declared = op["responses"].get(str(status))
    if declared is None:
        return [f"{method} {template}: status {status} is not declared (body: {str(body)[:300]})"]
    declared = resolve(declared)
    out: list[str] = []
    for name, header in (declared.get("headers") or {}).items():
        if resolve(header).get("required") and name.lower() not in headers:
            out.append(f"{method} {template} {status}: required header {name} missing")
    content = declared.get("content")
    if not content:
        if body not in (None, b"", ""):
            out.append(f"{method} {template} {status}: declared without a body, got {str(body)[:100]}")
        return out
    if media not in content:
        return [*out, f"{method} {template} {status}: content type {media} not among {sorted(content)}"]
    if media in JSON_TYPES:
        out += [f"{method} {template} {status}: {e}" for e in schema_errors(content[media]["schema"], body)]
    return out


# -- the document itself -----------------------------------------------------------------------------------
def test_the_document_is_a_valid_openapi_3_1_document() -> None:
    from openapi_spec_validator import validate

    doc = document()
    assert doc["openapi"].startswith("3.1")
    validate(doc)


def test_servers_name_no_fixed_port() -> None:
    """A relative server first (whatever host and port the document was read from), the local and
    deployed forms with variables: a `make run` on other ports is described as well."""
    servers = document()["servers"]
    assert servers[0]["url"] == "/"
    assert not any(":8000" in s["url"] for s in servers)
    assert all(set(re.findall(r"{(\w+)}", s["url"])) == set(s.get("variables", {})) for s in servers)


def _schemas_in(node: Any, in_schema: bool = False) -> Iterator[dict[str, Any]]:
    """Every Schema object of an OpenAPI document (components, parameters, headers, media types)."""
    if isinstance(node, dict):
        if in_schema:
            yield node
        for key, value in node.items():
            if in_schema and key in ("properties", "patternProperties"):
                for sub in value.values():
                    yield from _schemas_in(sub, True)
            elif in_schema and key in ("anyOf", "oneOf", "allOf"):
                for sub in value:
                    yield from _schemas_in(sub, True)
            elif in_schema and key in ("items", "additionalProperties", "not"):
                yield from _schemas_in(value, True)
            elif not in_schema and key == "schema":
                yield from _schemas_in(value, True)
            elif not in_schema and key == "schemas":
                for sub in value.values():
                    yield from _schemas_in(sub, True)
            elif not in_schema:
                yield from _schemas_in(value, False)
    elif isinstance(node, list) and not in_schema:
        for item in node:
            yield from _schemas_in(item, False)


def test_the_openapi_3_0_export_is_current_valid_and_importable_by_api_gateway() -> None:
    """infra/openapi-3.0.json: what `aws apigateway import-rest-api` takes (it reads OpenAPI 3.0, not
    3.1): generated from the same document, valid 3.0, no 3.1-only schema keywords (null types,
    const, schema examples, contentMediaType, siblings of $ref), model names API Gateway accepts
    (alphanumeric), the same operations, and the binary media types declared."""
    import json

    from openapi_spec_validator import validate
    from openapi_spec_validator.validation import OpenAPIV30SpecValidator

    assert openapi.render(openapi.to_openapi_30(openapi.build())) == openapi.SPEC_30_PATH.read_text(), (
        "infra/openapi-3.0.json is stale: run .venv/bin/python -m tools.openapi")
    doc = json.loads(openapi.SPEC_30_PATH.read_text())
    assert doc["openapi"] == "3.0.3"
    validate(doc, cls=OpenAPIV30SpecValidator)
    problems = []
    for schema in _schemas_in(doc):
        if schema.get("type") == "null" or isinstance(schema.get("type"), list):
            problems.append(f"null type: {schema}")
        problems += [f"{kw}: {schema}" for kw in ("const", "examples", "contentMediaType", "prefixItems",
                                                  "$defs") if kw in schema]
        if "$ref" in schema and len(schema) > 1:
            problems.append(f"$ref with siblings: {schema}")
        if schema.get("required") == []:
            problems.append(f"empty required: {schema}")
    assert problems == []
    assert all(re.fullmatch(r"[A-Za-z0-9]+", name) for name in doc["components"]["schemas"])
    ops_31 = {(p, m) for p, item in document()["paths"].items() for m in item}
    assert {(p, m) for p, item in doc["paths"].items() for m in item} == ops_31
    assert "application/pkix-cert" in doc["x-amazon-apigateway-binary-media-types"]
    assert doc["components"]["securitySchemes"]["sigv4"]["x-amazon-apigateway-authtype"] == "awsSigv4"


def test_the_checked_in_document_is_what_the_code_generates() -> None:
    assert openapi.render(openapi.build()) == openapi.SPEC_PATH.read_text(), (
        "chalicelib/http/openapi.json is stale: run .venv/bin/python -m tools.openapi")


def _registered_routes() -> Iterator[tuple[str, str, str]]:
    from app import app

    for path, methods in app.routes.items():
        for method, entry in methods.items():
            if not entry.view_name.startswith(FALLBACK_PREFIXES):
                yield path, method.lower(), entry.view_name


def test_every_registered_route_is_in_the_document_and_nothing_else() -> None:
    registered = {(path, method) for path, method, _ in _registered_routes()}
    documented = {(path, method) for path, item in document()["paths"].items() for method in item
                  if method in ("get", "put", "post", "delete", "patch", "head", "options")}
    assert registered - documented == set(), "routes missing from tools/openapi.py"
    assert documented - registered == set(), "documented operations no route serves"
    assert len(registered) >= 20


def test_operation_ids_name_the_view_functions() -> None:
    for path, method, view in _registered_routes():
        op_id = document()["paths"][path][method]["operationId"]
        assert op_id in (view, f"{view}_{method}"), (path, method, op_id, view)


def test_the_document_asks_for_sigv4_exactly_where_chalice_has_the_iam_authorizer() -> None:
    from app import app

    doc = document()
    for path, methods in app.routes.items():
        for method, entry in methods.items():
            if entry.view_name.startswith(FALLBACK_PREFIXES):
                continue
            security = doc["paths"][path][method.lower()].get("security", doc["security"])
            assert (security == [{"sigv4": []}]) is (entry.authorizer is not None), (path, method, security)


def test_fallback_routes_exist_and_are_excluded() -> None:
    """The 404/405 fallbacks are told apart by name; if they were renamed this test would notice."""
    from app import app

    names = {e.view_name for methods in app.routes.values() for e in methods.values()}
    assert any(n.startswith("not_found_") for n in names)
    assert any(n.startswith("method_not_allowed_") for n in names)


def _examples() -> Iterator[tuple[str, dict[str, Any], Any]]:
    """(where, schema, example) for every example in the document."""
    doc = document()
    for path, item in doc["paths"].items():
        for method, op in item.items():
            body = op.get("requestBody", {}).get("content", {})
            responses = [(f"{method} {path} {s}", resolve(r).get("content", {})) for s, r in op["responses"].items()]
            for where, content in [(f"{method} {path} request", body), *responses]:
                for media, m in content.items():
                    if "example" in m:
                        yield f"{where} {media}", m["schema"], m["example"]
                    for name, e in (m.get("examples") or {}).items():
                        yield f"{where} {media} {name}", m["schema"], e["value"]
    for name, p in doc["components"]["parameters"].items():
        if "example" in p:
            yield f"parameter {name}", p["schema"], p["example"]
    for name, r in doc["components"]["responses"].items():
        for media, m in r.get("content", {}).items():
            if "example" in m:
                yield f"response {name} {media}", m["schema"], m["example"]


def test_every_example_validates_against_its_schema() -> None:
    examples = list(_examples())
    assert len(examples) >= 20
    failures = []
    for where, schema, example in examples:
        failures += [f"{where}: {e}" for e in schema_errors(schema, example)]
    assert failures == []


def test_order_examples_pass_the_api_validation() -> None:
    """The order examples go through the validation the API runs (the CSR one holds a placeholder)."""
    from chalicelib.providers import registry
    from chalicelib.service.requests import validate_order

    orders = document()["paths"]["/certificates"]["post"]["requestBody"]["content"]["application/json"]["examples"]
    for name, example in orders.items():
        if "csr" in example["value"]:
            continue
        # As the local stack's DigiCert secret: its default CertCentral organization is what an OV names.
        defaults = {"default_organization_id": 123} if example["value"]["provider"] == "digicert" else {}
        spec = validate_order(example["value"], registry.capabilities, defaults, providers=registry.names(),
                              on=dt.date(2026, 12, 3))
        assert spec.provider == example["value"]["provider"], name


# -- the document's request schemas and the structural check come from the same shapes ----------------------
def _structurally_valid(shape: type, body: Any) -> bool:
    """What chalicelib/core/structure.py says of `body`, plus the one rule across fields the document
    states and code checks (shapes.SCHEMA_RULES: which key size goes with which type)."""
    from chalicelib.core import shapes
    from chalicelib.core.structure import check

    if check(body, shape).errors:
        return False
    key = body.get("key") if isinstance(body, dict) else None
    if isinstance(key, dict) and "size" in key:
        return key["size"] in shapes.KEY_SIZES[key.get("type", "rsa")]
    return True


def _bodies_for(shape: type) -> st.SearchStrategy[Any]:
    """Bodies near the shape: required fields mostly there, each field mostly valid-looking (in bounds, off
    by one, a wrong type now and then), sometimes an unknown field or any JSON value instead."""
    import msgspec.inspect as mi

    def field(node: Any) -> st.SearchStrategy[Any]:
        return st.one_of(near(node), near(node), near(node), JSON)

    def near(node: Any) -> st.SearchStrategy[Any]:
        if isinstance(node, mi.Metadata):
            return near(node.type)
        if isinstance(node, mi.UnionType):
            return st.one_of([near(t) for t in node.types])
        if isinstance(node, mi.StructType):
            required = {f.encode_name: field(f.type) for f in node.fields if f.required}
            optional = {f.encode_name: field(f.type) for f in node.fields if not f.required}
            body = st.fixed_dictionaries(required, optional=optional)
            return st.one_of(body, body, body, body.map(lambda d: {**d, "zz": 1}),
                             body.map(lambda d: dict(list(d.items())[1:])))
        if isinstance(node, mi.ListType):
            return st.lists(near(node.item_type), max_size=(node.max_length or 3) + 1)
        if isinstance(node, mi.LiteralType):
            return st.sampled_from(node.values)
        if isinstance(node, mi.StrType):
            low, high = node.min_length or 0, min(node.max_length or 12, 300)
            printable = st.text(st.characters(codec="ascii", min_codepoint=32, max_codepoint=126), min_size=low,
                                max_size=high)
            at_the_bounds = st.sampled_from(["a" * low, "a" * max(0, low - 1), "a" * high, "a" * (high + 1)])
            if node.pattern:
                matching = st.from_regex(node.pattern)
                printable = st.one_of(matching, matching, matching, printable)
            return st.one_of(printable, at_the_bounds, st.text(min_size=max(0, low - 1), max_size=high + 1), st.sampled_from(
                ["US", "zz", "a.example.com", "0", "12", "3b6e2c1a-9f0e-4d5b-8c7a-1e2d3c4b5a69", "a@b.example"]))
        if isinstance(node, mi.IntType):
            return st.integers(min_value=(node.ge or 0) - 2, max_value=(node.le or 10) + 2)
        if isinstance(node, mi.BoolType):
            return st.booleans()
        if isinstance(node, mi.NoneType):
            return st.none()
        return JSON

    return st.one_of(near(mi.type_info(shape)), near(mi.type_info(shape)), JSON)


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5)
                    | st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: not f.is_integer()),
                    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=4), inner, max_size=2),
                    max_leaves=4)


@pytest.mark.parametrize("name", ["OrderRequest", "ChangeRequest", "RevokeRequest", "DcvRetryRequest",
                                  "DownloadRequest", "AuthorityRequest", "ImportRequest", "SyncRequest"])
def test_the_document_and_the_structural_check_agree(name: str) -> None:
    """Generated bodies: the document's schema accepts exactly what the structural validation accepts."""
    from chalicelib.core import shapes

    shape = getattr(shapes, name)
    assert shape in shapes.REQUESTS
    validator = validator_for({"$ref": f"#/components/schemas/{name}"})
    seen = {True: 0, False: 0}

    # Derandomized: the same 600 bodies every run, so the "both outcomes seen" floor cannot flake.
    # OrderRequest has the most optional fields, so valid bodies are the rarest: more examples there.
    @settings(max_examples=1000 if name == "OrderRequest" else 600, deadline=None,
              suppress_health_check=list(HealthCheck), derandomize=True, database=None)
    @given(body=_bodies_for(shape))
    def agree(body: Any) -> None:
        by_document = validator.is_valid(body)
        assert by_document == _structurally_valid(shape, body), (body, list(validator.iter_errors(body))[:3])
        seen[by_document] += 1

    agree()
    assert seen[True] >= 5 and seen[False] >= 5, seen  # both outcomes were exercised


MINIMAL = {"OrderRequest": {"provider": "digicert", "common_name": "a.example.com"}, "ChangeRequest": {},
           "RevokeRequest": {}, "DcvRetryRequest": {}, "DownloadRequest": {"passphrase": "x" * 8},
           "AuthorityRequest": {"country": "US", "organization": "Acme"}, "ImportRequest": {"provider": "digicert"}}


def _at_the_bounds(node: Any, put: Any) -> Iterator[Any]:
    """Bodies with one bounded string or integer at its limit and one past it (`put` places the value)."""
    import msgspec.inspect as mi

    if isinstance(node, mi.Metadata):
        yield from _at_the_bounds(node.type, put)
    elif isinstance(node, mi.UnionType):
        for t in node.types:
            yield from _at_the_bounds(t, put)
    elif isinstance(node, mi.StructType):
        for f in node.fields:
            yield from _at_the_bounds(f.type, lambda v, n=f.encode_name: put({n: v}))
    elif isinstance(node, mi.ListType):
        yield from _at_the_bounds(node.item_type, lambda v: put([v]))
    elif isinstance(node, mi.StrType):
        for n in {node.min_length, node.max_length} - {None}:
            yield from (put("a" * m) for m in (n - 1, n, n + 1) if m >= 0)
    elif isinstance(node, mi.IntType):
        for n in {node.ge, node.le} - {None}:
            yield from (put(m) for m in (n - 1, n, n + 1))


@pytest.mark.parametrize("name", sorted(MINIMAL))
def test_the_document_and_the_structural_check_agree_at_every_bound(name: str) -> None:
    import msgspec.inspect as mi

    from chalicelib.core import shapes

    shape = getattr(shapes, name)
    validator = validator_for({"$ref": f"#/components/schemas/{name}"})

    def merged(base: Any, part: Any) -> Any:
        if isinstance(base, dict) and isinstance(part, dict):
            return {**base, **{k: merged(base.get(k), v) for k, v in part.items()}}
        return part

    bodies = list(_at_the_bounds(mi.type_info(shape), lambda part: merged(MINIMAL[name], part)))
    assert validator.is_valid(MINIMAL[name]) and _structurally_valid(shape, MINIMAL[name])
    for body in bodies:
        assert validator.is_valid(body) == _structurally_valid(shape, body), body
    assert any(not validator.is_valid(b) for b in bodies), bodies  # some bound was crossed


def test_the_shapes_hold_what_the_code_expects() -> None:
    from chalicelib.core import shapes
    from chalicelib.core.structure import field_extras
    from chalicelib.providers.registry import names
    from chalicelib.service import inventory, requests

    assert set(shapes.ImportFilters.__struct_fields__) == set().union(*requests.FILTERS.values())
    assert shapes.ImportCounters.__struct_fields__ == inventory.COUNTERS
    assert {extra["provider"] for extra in field_extras(shapes.ProviderOptions).values()} <= set(names())


@pytest.mark.parametrize(("schema", "body", "ok"), [
    ("OrderRequest", {"provider": "tinycert", "common_name": "a.example"}, True),
    ("OrderRequest", {"provider": "tinycert"}, False),
    # An unknown but well-formed provider name passes the schema; the service refuses it (422, names listed).
    ("OrderRequest", {"provider": "Lets Encrypt!", "common_name": "a.example"}, False),
    ("OrderRequest", {"provider": "tinycert", "common_name": "a.example", "colour": "red"}, False),
    ("OrderRequest", {"provider": "resello", "common_name": "a.example", "key": {"type": "ec", "size": 256}}, True),
    ("OrderRequest", {"provider": "resello", "common_name": "a.example", "key": {"type": "ec", "size": 2048}}, False),
    ("OrderRequest", {"provider": "resello", "common_name": "a.example", "key": {"size": 384}}, False),
    ("OrderRequest", {"provider": "resello", "common_name": "a.example", "sans": [{"value": "b.example"}]}, True),
    ("OrderRequest", {"provider": "resello", "common_name": "a\x01.example"}, False),
    ("RevokeRequest", {"reason": "superseded"}, True),
    ("RevokeRequest", {"reason": "because"}, False),
    ("DownloadRequest", {"passphrase": "short"}, False),
])
def test_request_schemas_accept_and_refuse_like_the_api(schema: str, body: Any, ok: bool) -> None:
    errors = schema_errors({"$ref": f"#/components/schemas/{schema}"}, body)
    assert (errors == []) is ok, errors


# -- served ----------------------------------------------------------------------------------------------------
def test_get_openapi_json_serves_the_document(client: Any) -> None:
    status, headers, body = call(client, "GET", "/openapi.json")
    assert status == 200
    assert headers["content-type"].startswith("application/json")
    assert body == document()


def test_a_response_outside_the_document_is_reported() -> None:
    """The checker used on every recorded response catches what it must."""
    cert_path = "/certificates/crt_0123456789abcdef0123456789abcdef"
    assert response_problems("GET", cert_path, 418, "application/json", {}, {}) != []
    assert response_problems("GET", cert_path, 200, "application/json", {}, {"id": "x"}) != []
    assert response_problems("GET", cert_path, 200, "text/html", {}, "<p>") != []
    assert response_problems("POST", "/certificates", 202, "application/json", {}, {}) != []
    assert response_problems("GET", "/nope/a/b", 500, "application/json", {}, {}) != []
    problem = {"type": "https://certgate.dev/problems/not-found", "title": "Not found", "status": 404,
               "detail": "no such certificate", "code": "not_found"}
    assert response_problems("GET", cert_path, 404, "application/problem+json", {}, problem) == []
