"""`certgate`: the command line for the certgate API (docs/cli.md).

Talks to one base URL (--url / CERTGATE_URL, default the `make run` stack). Local URLs take
--principal (X-Certgate-Principal); any other URL is signed with SigV4 from the default AWS
credential chain. Results go to stdout, progress and errors to stderr; exit codes in client.py."""

from __future__ import annotations

import os
import re
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import click
import requests

from certgate_cli import render
from certgate_cli.client import (
    EXIT_CERT_FAILED,
    EXIT_TIMEOUT,
    ApiError,
    Client,
    CliError,
    is_local,
    sigv4_signer,
)
from certgate_cli.progress import Display, WaitTimeout, wait_for
from certgate_cli.vocabulary import DCV_METHODS, DOWNLOAD_FORMATS, PRODUCTS, REVOCATION_REASONS, SAN_TYPES

DEFAULT_URL = "http://127.0.0.1:8000"
FORMATS = (*DOWNLOAD_FORMATS, "pkcs12")
ACCEPT = {"pem": "application/x-pem-file", "chain": "application/x-pem-file", "fullchain": "application/x-pem-file",
          "der": "application/pkix-cert", "pkcs7": "application/pkcs7-mime", "zip": "application/zip",
          "pkcs12": "application/x-pkcs12"}
TEXT_FORMATS = frozenset({"pem", "chain", "fullchain"})
STATUSES = ("pending", "issued", "failed", "revoked", "cancelled", "expired")
DEFAULT_WAIT_TIMEOUT_S = 900


@dataclass
class Deps:
    """What the commands need from the outside world; tests replace it."""

    session_factory: Callable[[], Any] = requests.Session
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    stderr_is_tty: Callable[[], bool] = lambda: sys.stderr.isatty()
    new_key: Callable[[], str] = lambda: str(uuid.uuid4())
    client: Client | None = None


def _client(ctx: click.Context) -> Client:
    deps: Deps = ctx.obj
    if deps.client is None:
        p = ctx.find_root().params
        url = p["url"]
        sign = p["sigv4"] if p["sigv4"] is not None else not is_local(url)
        if sign and p["principal"]:
            raise click.UsageError("--principal is for the local stage only; a signed request's principal is your "
                                   "IAM identity")
        signer = sigv4_signer(url, p["region"]) if sign else None
        deps.client = Client(url, deps.session_factory(), principal=p["principal"], signer=signer,
                             timeout_s=p["request_timeout"], sleep=deps.sleep)
    return deps.client


def _fail(err: CliError) -> NoReturn:
    if isinstance(err, ApiError):
        render.problem(err.status, err.problem, sys.stderr)
    else:
        click.echo(f"error: {err}", err=True)
    sys.exit(err.exit_code)


class Group(click.Group):
    """Turns every CliError into its message on stderr and its exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CliError as err:
            _fail(err)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.option("--url", envvar="CERTGATE_URL", default=DEFAULT_URL, show_default=True,
              help="certgate base URL (env CERTGATE_URL).")
@click.option("--principal", envvar="CERTGATE_PRINCIPAL", help="Local stage only: act as this principal "
              "(X-Certgate-Principal; env CERTGATE_PRINCIPAL).")
@click.option("--sigv4/--no-sigv4", default=None, help="Sign with AWS SigV4 (default: when the URL is not local).")
@click.option("--region", help="Region for SigV4 (default: from the execute-api URL, else AWS_REGION / "
              "AWS_DEFAULT_REGION or the AWS config).")
@click.option("--request-timeout", type=float, default=30.0, show_default=True, help="Seconds per HTTP request.")
@click.version_option(package_name="certgate", prog_name="certgate")
@click.pass_context
def cli(ctx: click.Context, **_: Any) -> None:
    """Order, follow and fetch TLS certificates through certgate."""
    ctx.ensure_object(Deps)


def json_flag(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="Print the API's JSON.")(fn)


def wait_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option("--timeout", type=click.IntRange(min=1), default=DEFAULT_WAIT_TIMEOUT_S, show_default=True,
                      help="With --wait: give up after this many seconds (exit 6).")(fn)
    return click.option("--wait", is_flag=True, help="Follow the certificate until it is issued (progress on "
                        "stderr); exit 1 if it fails or is cancelled.")(fn)


def _finish(ctx: click.Context, cert: dict[str, Any], *, wait: bool, timeout: int, as_json: bool) -> None:
    """Print the certificate, after following it if asked to; exit by how it ended."""
    deps: Deps = ctx.obj
    if wait and cert["status"] == "pending":
        display = Display(sys.stderr, deps.stderr_is_tty())
        try:
            cert = wait_for(_client(ctx), cert, timeout_s=timeout, display=display, clock=deps.clock,
                            sleep=deps.sleep)
        except WaitTimeout as exc:
            click.echo(f"error: {exc}; it goes on in the background: `certgate show {exc.cert['id']}`", err=True)
            _print_cert(exc.cert, as_json)
            sys.exit(EXIT_TIMEOUT)
    _print_cert(cert, as_json)
    if wait and cert["status"] not in ("issued",):
        sys.exit(EXIT_CERT_FAILED)


def _print_cert(cert: dict[str, Any], as_json: bool) -> None:
    click.echo(render.dumps(cert) if as_json else render.certificate(cert))


# -- request bodies ---------------------------------------------------------------------------------
_SAN_PREFIX = re.compile(rf"^({'|'.join(SAN_TYPES)}):(.+)$", re.I)


def parse_san(raw: str) -> dict[str, str]:
    """dns:www.example.com, ip:10.0.0.1, email:a@b.c, uri:https://x; no prefix means dns."""
    m = _SAN_PREFIX.match(raw.strip())
    return {"type": m.group(1).lower(), "value": m.group(2)} if m else {"type": "dns", "value": raw.strip()}


def _change_body(cn: str | None, sans: tuple[str, ...], csr: Path | None, key_type: str | None,
                 key_size: int | None, dcv: str | None, validity_days: int | None) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if cn:
        body["common_name"] = cn
    if sans:
        body["sans"] = [parse_san(s) for s in sans]
    if csr is not None:
        if key_type or key_size:
            raise click.UsageError("give either --csr or --key-type/--key-size, not both")
        body["csr"] = csr.read_text()
    elif key_type or key_size:
        body["key"] = {"type": key_type or "rsa", **({"size": key_size} if key_size else {})}
    if dcv:
        body["dcv_method"] = dcv
    if validity_days is not None:
        body["validity_days"] = validity_days
    return body


def change_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    for opt in reversed([
        click.option("--cn", help="Common name (a DNS name)."),
        click.option("--san", "sans", multiple=True, metavar="[TYPE:]VALUE",
                     help=f"Subject alternative name, repeatable; TYPE one of {', '.join(SAN_TYPES)} (default dns)."),
        click.option("--csr", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                     help="Your own PEM CSR (you keep the key)."),
        click.option("--key-type", type=click.Choice(["rsa", "ec"]), help="Let certgate generate the key."),
        click.option("--key-size", type=int, help="rsa 2048/3072/4096, ec 256/384."),
        click.option("--dcv", type=click.Choice(DCV_METHODS), help="Domain control validation method."),
        click.option("--validity-days", type=click.IntRange(min=1), help="Default: the provider's maximum."),
    ]):
        fn = opt(fn)
    return fn


# -- commands ---------------------------------------------------------------------------------------
@cli.command()
@click.option("--provider", required=True, help="tinycert, resello, digicert, ... (GET /providers lists them).")
@click.option("--product", type=click.Choice(PRODUCTS), help="Default: the provider's default product.")
@change_options
@click.option("--auto-renew", is_flag=True, help="Renew automatically before expiry.")
@click.option("--client-reference", help="Your own reference, echoed back.")
@click.option("--idempotency-key", help="Default: a new UUID, printed on stderr; re-run with it to retry safely.")
@wait_options
@json_flag
@click.pass_context
def order(ctx: click.Context, provider: str, product: str | None, cn: str | None, sans: tuple[str, ...],
          csr: Path | None, key_type: str | None, key_size: int | None, dcv: str | None, validity_days: int | None,
          auto_renew: bool, client_reference: str | None, idempotency_key: str | None, wait: bool, timeout: int,
          as_json: bool) -> None:
    """Order a certificate (POST /certificates)."""
    if not cn:
        raise click.UsageError("--cn is required")
    body: dict[str, Any] = {"provider": provider, **_change_body(cn, sans, csr, key_type, key_size, dcv,
                                                                 validity_days)}
    if product:
        body["product"] = product
    if auto_renew:
        body["auto_renew"] = True
    if client_reference:
        body["client_reference"] = client_reference
    key = idempotency_key or ctx.obj.new_key()
    if not idempotency_key:
        click.echo(f"idempotency key: {key} (re-run with --idempotency-key {key} to retry this order safely)",
                   err=True)
    try:
        reply = _client(ctx).request("POST", "/certificates", body=body, headers={"Idempotency-Key": key})
    except ApiError as err:
        # The order is recorded and certgate finishes it in the background: with --wait, follow it.
        if not (wait and err.status >= 500 and err.problem.get("certificate_status") == "pending"):
            raise
        render.problem(err.status, err.problem, sys.stderr)
        cert = _client(ctx).json("GET", f"/certificates/{err.problem['certificate_id']}")
    else:
        cert = reply.json()
        if reply.headers.get("idempotent-replayed") == "true":
            click.echo(f"{cert['id']}: an earlier request with this idempotency key placed this order", err=True)
    _finish(ctx, cert, wait=wait, timeout=timeout, as_json=as_json)


@cli.command("list")
@click.option("--status", type=click.Choice(STATUSES))
@click.option("--provider", help="Only this provider's certificates.")
@click.option("--cn", "common_name", help="Exact common name.")
@click.option("--expires-before", help="ISO 8601 timestamp with a timezone, e.g. 2026-01-01T00:00:00Z.")
@click.option("--limit", type=click.IntRange(1, 200), help="Page size (server default 50).")
@click.option("--next-token", help="Continue from a previous page.")
@click.option("--all", "all_pages", is_flag=True, help="Follow next_token to the end.")
@json_flag
@click.pass_context
def list_(ctx: click.Context, status: str | None, provider: str | None, common_name: str | None,
          expires_before: str | None, limit: int | None, next_token: str | None, all_pages: bool,
          as_json: bool) -> None:
    """List your certificates."""
    params = {"status": status, "provider": provider, "common_name": common_name, "expires_before": expires_before,
              "limit": limit}
    items, token = _pages(ctx, "/certificates", params, next_token, all_pages)
    if as_json:
        click.echo(render.dumps({"items": items, "next_token": token}))
    else:
        rows, headers = render.certificate_rows(items)
        click.echo(render.table(rows, headers))
    if token:
        click.echo(f"more: --next-token {token} (or --all)", err=True)


def _pages(ctx: click.Context, path: str, params: dict[str, Any], token: str | None,
           all_pages: bool) -> tuple[list[dict[str, Any]], str | None]:
    items: list[dict[str, Any]] = []
    while True:
        page = _client(ctx).json("GET", path, params={**params, "next_token": token})
        items += page["items"]
        token = page.get("next_token")
        if not (all_pages and token):
            return items, token


@cli.command()
@click.argument("cert_id")
@json_flag
@click.pass_context
def show(ctx: click.Context, cert_id: str, as_json: bool) -> None:
    """One certificate."""
    _print_cert(_client(ctx).json("GET", f"/certificates/{cert_id}"), as_json)


@cli.command()
@click.argument("cert_id")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="pem", show_default=True,
              help="pem (leaf), chain, fullchain, der, pkcs7, zip, or pkcs12 (key included; needs a passphrase).")
@click.option("-o", "--output", help="File to write; '-' for stdout. Default: the name the API suggests.")
@click.option("--revision", type=click.IntRange(min=1), help="An earlier issued revision.")
@click.option("--passphrase", envvar="CERTGATE_P12_PASSPHRASE",
              help="pkcs12 only (env CERTGATE_P12_PASSPHRASE; prompted for if missing).")
@click.pass_context
def download(ctx: click.Context, cert_id: str, fmt: str, output: str | None, revision: int | None,
             passphrase: str | None) -> None:
    """Download the issued certificate."""
    path = f"/certificates/{cert_id}/download"
    params = {"revision": revision}
    if fmt == "pkcs12":
        if passphrase is None:
            passphrase = click.prompt("PKCS#12 passphrase (8+ characters)", hide_input=True,
                                      confirmation_prompt=True, err=True)
        reply = _client(ctx).request("POST", path, params=params, body={"passphrase": passphrase, "format": fmt},
                                     accept=ACCEPT[fmt])
    else:
        reply = _client(ctx).request("GET", path, params={**params, "format": fmt}, accept=ACCEPT[fmt])
    target = output or _suggested_name(reply.headers.get("content-disposition", ""), cert_id, fmt)
    if target == "-":
        if fmt not in TEXT_FORMATS and sys.stdout.isatty():
            raise click.UsageError(f"{fmt} is binary: give -o FILE rather than writing it to a terminal")
        click.get_binary_stream("stdout").write(reply.content)
        return
    # A PKCS#12 holds the private key: readable by its owner only.
    mode = 0o600 if fmt == "pkcs12" else 0o644
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(reply.content)
    click.echo(f"wrote {target} ({len(reply.content)} bytes, {reply.headers.get('content-type', fmt)})", err=True)


def _suggested_name(disposition: str, cert_id: str, fmt: str) -> str:
    m = re.search(r'filename="?([^";/\\]+)"?', disposition)
    return m.group(1) if m else f"{cert_id}-{fmt}.{'pem' if fmt in TEXT_FORMATS else fmt}"


@cli.command()
@click.argument("cert_id")
@change_options
@wait_options
@json_flag
@click.pass_context
def reissue(ctx: click.Context, cert_id: str, wait: bool, timeout: int, as_json: bool, **change: Any) -> None:
    """Reissue (new key/CSR or names; same validity)."""
    cert = _client(ctx).json("POST", f"/certificates/{cert_id}/reissue", body=_change_body(**change))
    _finish(ctx, cert, wait=wait, timeout=timeout, as_json=as_json)


@cli.command()
@click.argument("cert_id")
@change_options
@wait_options
@json_flag
@click.pass_context
def renew(ctx: click.Context, cert_id: str, wait: bool, timeout: int, as_json: bool, **change: Any) -> None:
    """Renew (new validity period)."""
    cert = _client(ctx).json("POST", f"/certificates/{cert_id}/renew", body=_change_body(**change))
    _finish(ctx, cert, wait=wait, timeout=timeout, as_json=as_json)


@cli.command()
@click.argument("cert_id")
@click.option("--reason", type=click.Choice(REVOCATION_REASONS), default="unspecified", show_default=True)
@click.option("--comments", help="Free text for the provider.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@json_flag
@click.pass_context
def revoke(ctx: click.Context, cert_id: str, reason: str, comments: str | None, yes: bool, as_json: bool) -> None:
    """Revoke an issued certificate (irreversible)."""
    if not yes:
        click.confirm(f"Revoke {cert_id} ({reason})? This cannot be undone", abort=True, err=True)
    body = {"reason": reason, **({"comments": comments} if comments else {})}
    _print_cert(_client(ctx).json("POST", f"/certificates/{cert_id}/revoke", body=body), as_json)


@cli.command()
@click.argument("cert_id")
@json_flag
@click.pass_context
def cancel(ctx: click.Context, cert_id: str, as_json: bool) -> None:
    """Cancel a pending order."""
    _print_cert(_client(ctx).json("DELETE", f"/certificates/{cert_id}"), as_json)


@cli.command()
@click.argument("cert_id")
@click.option("--limit", type=click.IntRange(1, 500), help="Page size (server default 100).")
@click.option("--all", "all_pages", is_flag=True, help="Follow next_token to the end.")
@json_flag
@click.pass_context
def events(ctx: click.Context, cert_id: str, limit: int | None, all_pages: bool, as_json: bool) -> None:
    """The certificate's audit trail."""
    items, token = _pages(ctx, f"/certificates/{cert_id}/events", {"limit": limit}, None, all_pages)
    if as_json:
        click.echo(render.dumps({"items": items, "next_token": token}))
    else:
        rows = [[e["occurred_at"], e["event"], _transition(e), e.get("revision"), e["actor"]] for e in items]
        click.echo(render.table(rows, ["time", "event", "status", "rev", "actor"]))
    if token:
        click.echo("more events: --all", err=True)


def _transition(e: dict[str, Any]) -> str | None:
    if e.get("from_status") and e.get("to_status") and e["from_status"] != e["to_status"]:
        return f"{e['from_status']} -> {e['to_status']}"
    return e.get("to_status")


@cli.command()
@json_flag
@click.pass_context
def providers(ctx: click.Context, as_json: bool) -> None:
    """The providers and what each can do."""
    page = _client(ctx).json("GET", "/providers")
    if as_json:
        click.echo(render.dumps(page))
        return
    rows = []
    for p in page["items"]:
        caps = p["capabilities"]
        ops = [op for op in ("reissue", "renew", "revoke", "cancel") if caps.get(op)]
        rows.append([p["name"], p["configured"], caps["products"], caps["dcv_methods"], caps["max_validity_days"],
                     "csr" if caps["accepts_csr"] else "provider", ops])
    click.echo(render.table(rows, ["provider", "configured", "products", "dcv", "max days", "key", "operations"]))


@cli.command()
@click.argument("cert_id")
@json_flag
@click.pass_context
def validation(ctx: click.Context, cert_id: str, as_json: bool) -> None:
    """What to publish for domain control validation."""
    v = _client(ctx).json("GET", f"/certificates/{cert_id}/validation")
    click.echo(render.dumps(v) if as_json else render.validation(v))


@cli.command()
@click.argument("cert_id")
@click.option("--dcv", type=click.Choice(DCV_METHODS), help="Switch to this method.")
@click.option("--email", help="Approver address (with --dcv email).")
@click.option("--domain", help="Only this domain.")
@json_flag
@click.pass_context
def validate(ctx: click.Context, cert_id: str, dcv: str | None, email: str | None, domain: str | None,
             as_json: bool) -> None:
    """Retry (or change) domain control validation."""
    body = {k: v for k, v in {"dcv_method": dcv, "email": email, "domain": domain}.items() if v}
    v = _client(ctx).json("POST", f"/certificates/{cert_id}/validate", body=body)
    click.echo(render.dumps(v) if as_json else render.validation(v))
