"""What the CLI prints: tables and summaries on stdout, problems on stderr."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any, TextIO


def dumps(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=False)


def table(rows: Iterable[Sequence[Any]], headers: Sequence[str]) -> str:
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ",".join(map(str, value)) or "-"
    return str(value)


def certificate_rows(items: Iterable[dict[str, Any]]) -> tuple[list[list[Any]], list[str]]:
    headers = ["id", "status", "provider", "product", "common name", "+sans", "not after"]
    rows = [[c["id"], c["status"] + (f" ({c['operation']})" if c.get("operation") else ""), c["provider"],
             c.get("product"), c["common_name"], max(0, len(c.get("sans") or []) - 1) or None,
             (c.get("not_after") or "")[:10] or None] for c in items]
    return rows, headers


def certificate(c: dict[str, Any]) -> str:
    """A certificate as `key: value` lines, the useful ones first."""
    refs = c.get("provider_refs") or {}
    fp = c.get("fingerprints") or {}
    pairs: list[tuple[str, Any]] = [
        ("id", c["id"]), ("status", c["status"]), ("operation", c.get("operation")),
        ("provider", c["provider"]), ("product", c.get("product")), ("common name", c["common_name"]),
        ("sans", ", ".join(f"{s['type']}:{s['value']}" for s in c.get("sans") or [])),
        ("not before", c.get("not_before")), ("not after", c.get("not_after")), ("serial", c.get("serial")),
        ("issuer", c.get("issuer")), ("sha256", fp.get("sha256")),
        ("revision", f"{c.get('revision')} (issued: {c.get('issued_revision') or '-'})"),
        ("dcv method", c.get("dcv_method")), ("auto renew", c.get("auto_renew")),
        ("key", f"{c.get('key_source')}" + (", held by certgate (pkcs12 download)" if c.get("private_key_held")
                                             else "")),
        ("provider order", refs.get("order_id")), ("provider status", refs.get("status")),
        ("client reference", c.get("client_reference")), ("origin", c.get("origin")),
        ("failure", (c.get("failure") or {}).get("reason")), ("next check", c.get("next_check_at")),
        ("created", c.get("created_at")), ("updated", c.get("updated_at")),
    ]
    shown = [(k, v) for k, v in pairs if v not in (None, "", [])]
    width = max(len(k) for k, _ in shown)
    return "\n".join(f"{k + ':':<{width + 1}} {_cell(v)}" for k, v in shown)


def validation(v: dict[str, Any]) -> str:
    lines = [f"{v['certificate_id']}: {v['status']}, method {v.get('method') or '-'}"]
    if not v.get("domains"):
        lines.append("  no domain validation details (nothing to publish, or not pending)")
    for d in v.get("domains") or []:
        lines.append(f"  {d['domain']}: {d['state']} ({d['method']})")
        if d.get("dns"):
            lines.append(f"    DNS {d['dns'].get('type') or 'TXT'} {d['dns'].get('name')} = {d['dns'].get('value')}")
        if d.get("file"):
            lines.append(f"    serve http://{d['domain']}{d['file'].get('path')} with content:")
            lines.append(f"      {d['file'].get('content')}")
        if d.get("emails"):
            lines.append(f"    approval mail to one of: {', '.join(d['emails'])}")
    return "\n".join(lines)


def problem(status: int, body: dict[str, Any], out: TextIO) -> None:
    """An API error for humans: title and detail, each field error, what to do next."""
    title = body.get("title") or f"HTTP {status}"
    code = f" [{body['code']}]" if body.get("code") else ""
    out.write(f"error: {status} {title}{code}\n")
    if body.get("detail"):
        out.write(f"  {body['detail']}\n")
    for err in body.get("errors") or []:
        out.write(f"  - {err.get('field')}: {err.get('message')}\n")
    if body.get("provider"):
        rid = f" (provider request id {body['provider_request_id']})" if body.get("provider_request_id") else ""
        out.write(f"  provider: {body['provider']}{rid}\n")
    if body.get("certificate_id"):
        out.write(f"  the certificate is recorded as {body['certificate_id']} ({body.get('certificate_status')}); "
                  f"certgate finishes it in the background: `certgate show {body['certificate_id']}`\n")
    if body.get("request_id"):
        out.write(f"  request id: {body['request_id']} (quote it when reporting this)\n")
    if body.get("allowed"):
        out.write(f"  allowed methods: {', '.join(body['allowed'])}\n")
