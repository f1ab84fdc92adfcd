"""What the CLI prints: tables and summaries on stdout (or the API's JSON, --output json), problems on stderr."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

from certgate.errors import ApiError
from certgate.models import Authority, Certificate, Event, ImportJob, Provider, Validation


def dumps(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=False, default=str)


def page_json(items: list[Any], next_token: str | None) -> str:
    """A list as the API answers it (all pages read so far in one)."""
    return dumps({"items": items, "next_token": next_token})


def ts(value: datetime | None) -> str | None:
    """2027-12-27T16:10:55Z (UTC, to the second)."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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
    if isinstance(value, datetime):
        return ts(value) or "-"
    if isinstance(value, list | tuple):
        return ",".join(map(str, value)) or "-"
    return str(value)


def certificates(items: Iterable[Certificate]) -> str:
    headers = ["id", "status", "provider", "product", "common name", "+sans", "not after"]
    rows = [[c.id, c.status + (f" ({c.operation})" if c.operation else ""), c.provider, c.product, c.common_name,
             max(0, len(c.sans) - 1) or None, c.not_after.date().isoformat() if c.not_after else None]
            for c in items]
    return table(rows, headers)


def certificate(c: Certificate) -> str:
    """A certificate as `key: value` lines, the useful ones first."""
    revocation = None
    if c.revocation:
        revocation = f"{c.revocation.status} ({c.revocation.reason}, requested {ts(c.revocation.requested_at)})"
    pairs: list[tuple[str, Any]] = [
        ("id", c.id), ("status", c.status), ("operation", c.operation),
        ("provider", c.provider), ("product", c.product), ("common name", c.common_name),
        ("sans", ", ".join(str(s) for s in c.sans)),
        ("not before", c.not_before), ("not after", c.not_after), ("serial", c.serial),
        ("issuer", c.issuer), ("sha256", c.fingerprints.sha256),
        ("revision", f"{c.revision} (issued: {c.issued_revision or '-'})"),
        ("dcv method", c.dcv_method), ("auto renew", c.auto_renew),
        ("key", c.key_source + (", held by certgate (pkcs12 download)" if c.private_key_held else "")),
        ("provider order", c.provider_refs.order_id), ("provider status", c.provider_refs.status),
        ("client reference", c.client_reference), ("origin", c.origin), ("coverage until", c.coverage_until),
        ("revocation", revocation), ("failure", c.failure.reason if c.failure else None),
        ("acm", f"{c.acm.status} {c.acm.arn or ''} ({c.acm.region})".strip() if c.acm else None),
        ("next check", c.next_check_at), ("created", c.created_at), ("updated", c.updated_at),
    ]
    shown = [(k, v) for k, v in pairs if v not in (None, "", [])]
    width = max(len(k) for k, _ in shown)
    return "\n".join(f"{k + ':':<{width + 1}} {_cell(v)}" for k, v in shown)


def events(items: Iterable[Event]) -> str:
    rows = [[e.occurred_at, e.event, _transition(e), e.revision, e.actor] for e in items]
    return table(rows, ["time", "event", "status", "rev", "actor"])


def _transition(e: Event) -> str | None:
    if e.from_status and e.to_status and e.from_status != e.to_status:
        return f"{e.from_status} -> {e.to_status}"
    return e.to_status


def providers(items: Iterable[Provider]) -> str:
    rows = [[p.name, p.configured, p.capabilities.products, p.capabilities.dcv_methods,
             p.capabilities.max_validity_days, "csr" if p.capabilities.accepts_csr else "provider",
             p.capabilities.operations, p.capabilities.download_formats] for p in items]
    return table(rows, ["provider", "configured", "products", "dcv", "max days", "key", "operations", "formats"])


def validation(v: Validation) -> str:
    lines = [f"{v.certificate_id}: {v.status}, method {v.method or '-'}"]
    if not v.domains:
        lines.append("  no domain validation details (nothing to publish, or not pending)")
    for d in v.domains:
        lines.append(f"  {d.domain}: {d.state} ({d.method})")
        if d.dns:
            lines.append(f"    DNS {d.dns.type or 'TXT'} {d.dns.name} = {d.dns.value}")
        if d.file:
            lines.append(f"    serve http://{d.domain}{d.file.path} with content:")
            lines.append(f"      {d.file.content}")
        if d.emails:
            lines.append(f"    approval mail to one of: {', '.join(d.emails)}")
    return "\n".join(lines)


def authorities(items: Iterable[Authority]) -> str:
    return table([[a.id, a.name, a.certificate_pem is not None] for a in items], ["ca id", "name", "pem"])


def import_job(job: ImportJob) -> str:
    c = job.counters
    lines = [f"{job.id}: {job.status} ({job.provider}), run {job.runs}",
             f"  found {c.found}, created {c.created}, updated {c.updated}, unchanged {c.unchanged}, "
             f"skipped {c.skipped}, errors {c.errors} ({c.pages} pages)"]
    if job.skipped:
        lines.append("  skipped: " + ", ".join(f"{k} {v}" for k, v in sorted(job.skipped.items())))
    if job.last_error:
        lines.append(f"  last error: {dumps(job.last_error)}")
    if job.next_run_at:
        lines.append(f"  next sync: {ts(job.next_run_at)}")
    return "\n".join(lines)


def problem(err: ApiError, out: TextIO) -> None:
    """An API error for humans: title and detail, each field error, what to do next."""
    code = f" [{err.code}]" if err.code and not err.code.startswith("http_") else ""
    out.write(f"error: {err.status} {err.title}{code}\n")
    if err.detail:
        out.write(f"  {err.detail}\n")
    for e in err.errors:
        out.write(f"  - {e.field}: {e.message}\n")
    if err.provider:
        rid = f" (provider request id {err.provider_request_id})" if err.provider_request_id else ""
        out.write(f"  provider: {err.provider}{rid}\n")
    if err.certificate_id:
        out.write(f"  the certificate is recorded as {err.certificate_id} ({err.certificate_status}); "
                  f"certgate finishes it in the background: `certgate show {err.certificate_id}`\n")
    if err.request_id:
        out.write(f"  request id: {err.request_id} (quote it when reporting this)\n")
    checks = err.raw.get("checks")
    if isinstance(checks, dict):
        for name, state in sorted(checks.items()):
            out.write(f"  {name}: {state}\n")
    allowed = err.raw.get("allowed")
    if isinstance(allowed, list):
        out.write(f"  allowed methods: {', '.join(map(str, allowed))}\n")
