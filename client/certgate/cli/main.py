"""`certgate`: the command line for the certgate API (docs/cli.md), built on certgate.Client.

Talks to one base URL (--url / CERTGATE_URL, default the `make run` stack on CERTGATE_API_PORT or
8000). Local URLs take --principal (X-Certgate-Principal); any other URL is signed with SigV4 from
--profile or the default AWS credential chain. Results go to stdout (a table or summary, or the API's
JSON with --output json), progress and errors to stderr."""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import click

from certgate.cli import render
from certgate.cli.progress import Display
from certgate.client import Client, default_url
from certgate.errors import (
    ApiError,
    CertificateNotIssued,
    ClientError,
    ConfigurationError,
    ConnectionFailed,
    WaitTimeout,
)
from certgate.models import (
    Approver,
    Certificate,
    ImportFilters,
    ImportJob,
    KeySpec,
    Organization,
    Page,
    ProviderOptions,
    San,
)
from certgate.transport import Transport
from certgate.vocabulary import DCV_METHODS, DOWNLOAD_FORMATS, PRODUCTS, REVOCATION_REASONS, SAN_TYPES

# Exit codes (docs/cli.md). 2 is click's own usage error.
EXIT_OK = 0
EXIT_CERT_FAILED = 1  # --wait: the certificate ended failed, cancelled, revoked or expired
EXIT_USAGE = 2
EXIT_CLIENT_ERROR = 3  # the API answered 4xx
EXIT_SERVER_ERROR = 4  # the API answered 5xx
EXIT_CONNECTION = 5  # no answer at all (refused, DNS, TLS, timeout)
EXIT_TIMEOUT = 6  # --wait: still pending after --timeout

FORMATS = (*DOWNLOAD_FORMATS, "pkcs12")
TEXT_FORMATS = frozenset({"pem", "chain", "fullchain"})
STATUSES = ("pending", "issued", "failed", "revoked", "cancelled", "expired")
SIGNATURE_HASHES = ("sha256", "sha384", "sha512")
IMPORT_STATUSES = ("expired", "issued", "pending", "revoked")
DEFAULT_WAIT_TIMEOUT_S = 900
SHELLS = ("bash", "zsh", "fish")


@dataclass
class Deps:
    """What the commands need from the outside world; tests replace it."""

    transport: Transport | None = None  # None: urllib3
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    stderr_is_tty: Callable[[], bool] = lambda: sys.stderr.isatty()
    new_key: Callable[[], str] = lambda: str(uuid.uuid4())
    client: Client | None = field(default=None, repr=False)


def _client(ctx: click.Context) -> Client:
    deps: Deps = ctx.obj
    if deps.client is None:
        p = ctx.find_root().params
        try:
            deps.client = Client(p["url"] or default_url(), p["region"], p["profile"], principal=p["principal"],
                                 sign=p["sigv4"], timeout=p["request_timeout"], transport=deps.transport,
                                 user_agent="certgate-cli", sleep=deps.sleep, clock=deps.clock)
        except ConfigurationError as err:
            raise click.UsageError(str(err)) from err
    return deps.client


def _as_json(ctx: click.Context) -> bool:
    root = ctx.find_root()
    return bool((root.meta.get(_OUTPUT) or root.params["output"]) == "json")


_OUTPUT = "certgate.output"


def _output_here(ctx: click.Context, _: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.find_root().meta[_OUTPUT] = value


def _fail(err: Exception) -> NoReturn:
    if isinstance(err, ApiError):
        render.problem(err, sys.stderr)
        sys.exit(EXIT_CLIENT_ERROR if isinstance(err, ClientError) or err.status < 500 else EXIT_SERVER_ERROR)
    click.echo(f"error: {err}", err=True)
    sys.exit(EXIT_CONNECTION if isinstance(err, ConnectionFailed) else EXIT_USAGE)


class Group(click.Group):
    """Turns every client error into its message on stderr and its exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (ApiError, ConnectionFailed, ConfigurationError) as err:
            _fail(err)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.option("--url", envvar="CERTGATE_URL", help="certgate base URL (env CERTGATE_URL; default the `make run` "
              "stack, http://127.0.0.1:$CERTGATE_API_PORT or :8000).")
@click.option("--profile", envvar="CERTGATE_PROFILE", help="AWS profile to sign with (env CERTGATE_PROFILE; "
              "default: AWS_PROFILE or the default credential chain).")
@click.option("--region", help="Region for SigV4 (default: from the execute-api URL, else AWS_REGION or the "
              "profile's region).")
@click.option("--principal", envvar="CERTGATE_PRINCIPAL", help="Local stage only: act as this principal "
              "(X-Certgate-Principal; env CERTGATE_PRINCIPAL).")
@click.option("--sigv4/--no-sigv4", default=None, help="Sign with AWS SigV4 (default: when the URL is not local).")
@click.option("--output", type=click.Choice(["table", "json"]), envvar="CERTGATE_OUTPUT", default="table",
              show_default=True, help="table (summaries for humans) or json (the API's JSON; env CERTGATE_OUTPUT).")
@click.option("--request-timeout", type=float, default=30.0, show_default=True, help="Seconds per HTTP request.")
@click.version_option(package_name="certgate", prog_name="certgate")
@click.pass_context
def cli(ctx: click.Context, /, **_: Any) -> None:
    """Order, follow and fetch TLS certificates through certgate."""
    ctx.ensure_object(Deps)


def main() -> None:
    """The console script."""
    cli(prog_name="certgate")


# -- shared options -----------------------------------------------------------------------------------------
def _options(*opts: Callable[[Callable[..., Any]], Callable[..., Any]]) -> Callable[[Callable[..., Any]],
                                                                                   Callable[..., Any]]:
    def apply(fn: Callable[..., Any]) -> Callable[..., Any]:
        for opt in reversed(opts):
            fn = opt(fn)
        return fn
    return apply


wait_options = _options(
    click.option("--wait", is_flag=True, help="Follow the certificate until it is issued (progress on stderr); "
                 "exit 1 if it fails or is cancelled."),
    click.option("--timeout", type=click.IntRange(min=1), default=DEFAULT_WAIT_TIMEOUT_S, show_default=True,
                 help="With --wait: give up after this many seconds (exit 6)."),
)

change_options = _options(
    click.option("--cn", help="Common name (a DNS name)."),
    click.option("--san", "sans", multiple=True, metavar="[TYPE:]VALUE",
                 help=f"Subject alternative name, repeatable; TYPE one of {', '.join(SAN_TYPES)} (default dns)."),
    click.option("--csr", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                 help="Your own PEM CSR (you keep the key)."),
    click.option("--key-type", type=click.Choice(["rsa", "ec"]), help="Let certgate generate the key."),
    click.option("--key-size", type=click.Choice(["2048", "3072", "4096", "256", "384"]),
                 help="rsa 2048/3072/4096, ec 256/384."),
    click.option("--dcv", type=click.Choice(DCV_METHODS), help="Domain control validation method."),
    click.option("--validity-days", type=click.IntRange(min=1), help="Default: the provider's maximum."),
    click.option("--validity-strict", is_flag=True, help="Refuse (422) a --validity-days above the provider's "
                 "maximum instead of clamping it."),
    click.option("--org-name", help="Organisation (OV/EV subject O=); default: the provider secret's."),
    click.option("--org-country", metavar="CC", help="Organisation country (ISO 3166-1 alpha-2)."),
    click.option("--org-state", help="Organisation state or province."),
    click.option("--org-locality", help="Organisation locality (city)."),
    click.option("--org-unit", help="Organisational unit."),
    click.option("--org-address", help="Organisation street address."),
    click.option("--org-zip", help="Organisation postal code."),
    click.option("--org-chamber-of-commerce", help="Chamber of commerce number."),
    click.option("--digicert-org-id", type=click.IntRange(min=1), help="digicert: an existing CertCentral "
                 "organisation (organization.digicert_org_id)."),
    click.option("--approver-first-name", help="Approver (OV/EV); default: the provider secret's."),
    click.option("--approver-last-name"),
    click.option("--approver-email"),
    click.option("--approver-phone"),
)


def _change(p: dict[str, Any]) -> dict[str, Any]:
    """The Client keyword arguments of the change options."""
    csr: Path | None = p["csr"]
    if csr is not None and (p["key_type"] or p["key_size"]):
        raise click.UsageError("give either --csr or --key-type/--key-size, not both")
    key = None
    if p["key_type"] or p["key_size"]:
        size = int(p["key_size"]) if p["key_size"] else None
        key = KeySpec(p["key_type"] or ("ec" if size in (256, 384) else "rsa"), size)
    org = Organization(name=p["org_name"], country=p["org_country"], state=p["org_state"],
                       locality=p["org_locality"], unit=p["org_unit"], address=p["org_address"],
                       zip_code=p["org_zip"], chamber_of_commerce=p["org_chamber_of_commerce"],
                       digicert_org_id=p["digicert_org_id"])
    approver = Approver(p["approver_first_name"], p["approver_last_name"], p["approver_email"], p["approver_phone"])
    return {"sans": [San.parse(s) for s in p["sans"]], "csr": csr.read_text() if csr is not None else None,
            "key": key, "dcv_method": p["dcv"], "validity_days": p["validity_days"],
            "validity_strict": p["validity_strict"], "organization": org, "approver": approver}


def _print_cert(ctx: click.Context, cert: Certificate) -> None:
    click.echo(render.dumps(cert.raw) if _as_json(ctx) else render.certificate(cert))


def _finish(ctx: click.Context, cert: Certificate, *, wait: bool, timeout: int) -> None:
    """Print the certificate, after following it if asked to; exit by how it ended."""
    deps: Deps = ctx.obj
    if wait and cert.pending:
        display = Display(sys.stderr, deps.stderr_is_tty())
        try:
            cert = _client(ctx).wait_until_issued(cert, timeout=timeout, observer=display)
        except WaitTimeout as exc:
            display.end_line()
            click.echo(f"error: {exc}; it goes on in the background: `certgate show {exc.certificate.id}`",
                       err=True)
            _print_cert(ctx, exc.certificate)
            sys.exit(EXIT_TIMEOUT)
        except CertificateNotIssued as exc:
            _print_cert(ctx, exc.certificate)
            sys.exit(EXIT_CERT_FAILED)
    _print_cert(ctx, cert)
    if wait and cert.status != "issued":
        sys.exit(EXIT_CERT_FAILED)


def _page_out(ctx: click.Context, pages: Iterator[Page[Any]], render_items: Callable[[list[Any]], str],
              more_hint: Callable[[str], str]) -> None:
    items: list[Any] = []
    token = None
    for page in pages:
        items += page.items
        token = page.next_token
    if _as_json(ctx):
        click.echo(render.page_json([i.raw for i in items], token))
    else:
        click.echo(render_items(items))
    if token:
        click.echo(more_hint(token), err=True)


def _follow(fetch: Callable[[str | None], Page[Any]], token: str | None, all_pages: bool) -> Iterator[Page[Any]]:
    while True:
        page = fetch(token)
        yield page
        token = page.next_token
        if not (all_pages and token):
            return


# -- certificates -----------------------------------------------------------------------------------------------
@cli.command()
@click.option("--provider", required=True, help="tinycert, resello, digicert, ... (`certgate providers` lists them).")
@click.option("--product", type=click.Choice(PRODUCTS), help="Default: the provider's default product.")
@change_options
@click.option("--ca-id", type=click.IntRange(min=1), help="tinycert: the issuing CA (`certgate authorities list`).")
@click.option("--plan", metavar="UUID", help="resello: the plan (overrides the product's).")
@click.option("--organization-id", type=click.IntRange(min=1), help="digicert: the CertCentral organisation.")
@click.option("--order-validity", "order_validity_years", type=click.IntRange(1, 3),
              help="digicert: the coverage plan in years (reissues inside it are free).")
@click.option("--signature-hash", type=click.Choice(SIGNATURE_HASHES), help="digicert: the CA's signing hash.")
@click.option("--skip-approval/--no-skip-approval", default=None, help="digicert: skip CertCentral's approval step.")
@click.option("--ca-cert-id", help="digicert private: the issuing intermediate.")
@click.option("--auto-renew", is_flag=True, help="Renew automatically before expiry.")
@click.option("--client-reference", help="Your own reference, echoed back.")
@click.option("--deliver-to-acm", "acm_region", metavar="REGION", help="Also import into ACM in this region "
              "(re-imported on every reissue and renewal).")
@click.option("--idempotency-key", help="Default: a new UUID, printed on stderr; re-run with it to retry safely.")
@wait_options
@click.pass_context
def order(ctx: click.Context, /, provider: str, product: str | None, ca_id: int | None, plan: str | None,
          organization_id: int | None, order_validity_years: int | None, signature_hash: str | None,
          skip_approval: bool | None, ca_cert_id: str | None, auto_renew: bool, client_reference: str | None,
          acm_region: str | None, idempotency_key: str | None, wait: bool, timeout: int, **change: Any) -> None:
    """Order a certificate (POST /certificates)."""
    if not change["cn"]:
        raise click.UsageError("--cn is required")
    options = ProviderOptions(plan=plan, ca_id=ca_id, organization_id=organization_id, signature_hash=signature_hash,
                              skip_approval=skip_approval, order_validity_years=order_validity_years,
                              ca_cert_id=ca_cert_id)
    key = idempotency_key or ctx.obj.new_key()
    if not idempotency_key:
        click.echo(f"idempotency key: {key} (re-run with --idempotency-key {key} to retry this order safely)",
                   err=True)
    client = _client(ctx)
    try:
        result = client.order(provider, change["cn"], product=product, provider_options=options,
                              auto_renew=auto_renew, client_reference=client_reference,
                              deliver_to_acm_region=acm_region, idempotency_key=key, **_change(change))
    except ApiError as err:
        # The order is recorded and certgate finishes it in the background: with --wait, follow it.
        if not (wait and err.status >= 500 and err.certificate_id and err.certificate_status == "pending"):
            raise
        render.problem(err, sys.stderr)
        cert = client.get_certificate(err.certificate_id)
    else:
        cert = result.certificate
        if result.replayed:
            click.echo(f"{cert.id}: an earlier request with this idempotency key placed this order", err=True)
    _finish(ctx, cert, wait=wait, timeout=timeout)


@cli.command("list")
@click.option("--status", type=click.Choice(STATUSES))
@click.option("--provider", help="Only this provider's certificates.")
@click.option("--cn", "common_name", help="Exact common name.")
@click.option("--expires-before", help="ISO 8601 timestamp with a timezone, e.g. 2026-01-01T00:00:00Z.")
@click.option("--expiring-within", metavar="30d|12h", help="Expiring between now and then.")
@click.option("--domain", help="example.com: that name (CN or DNS SAN); .example.com: every name under it.")
@click.option("--limit", type=click.IntRange(1, 200), help="Page size (server default 50).")
@click.option("--next-token", help="Continue from a previous page.")
@click.option("--all", "all_pages", is_flag=True, help="Follow next_token to the end.")
@click.pass_context
def list_(ctx: click.Context, status: str | None, provider: str | None, common_name: str | None,
          expires_before: str | None, expiring_within: str | None, domain: str | None, limit: int | None,
          next_token: str | None, all_pages: bool) -> None:
    """List your certificates."""
    client = _client(ctx)
    pages = _follow(lambda token: client.list_certificates(
        status=status, provider=provider, common_name=common_name, expires_before=expires_before,
        expiring_within=expiring_within, domain=domain, limit=limit, next_token=token), next_token, all_pages)
    _page_out(ctx, pages, render.certificates, lambda t: f"more: --next-token {t} (or --all)")


@cli.command()
@click.argument("cert_id")
@click.pass_context
def show(ctx: click.Context, cert_id: str) -> None:
    """One certificate."""
    _print_cert(ctx, _client(ctx).get_certificate(cert_id))


@cli.command()
@click.argument("cert_id")
@wait_options
@click.pass_context
def refresh(ctx: click.Context, cert_id: str, wait: bool, timeout: int) -> None:
    """Ask the provider for the certificate's state now."""
    _finish(ctx, _client(ctx).refresh(cert_id), wait=wait, timeout=timeout)


@cli.command()
@click.argument("cert_id")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="pem", show_default=True,
              help="pem (leaf), chain, fullchain, der, pkcs7, zip, or pkcs12 (key included; needs a passphrase).")
@click.option("-o", "--output", "target", help="File to write; '-' for stdout. Default: the name the API suggests.")
@click.option("--revision", type=click.IntRange(min=1), help="An earlier issued revision.")
@click.option("--passphrase", envvar="CERTGATE_P12_PASSPHRASE",
              help="pkcs12 only (env CERTGATE_P12_PASSPHRASE; prompted for if missing).")
@click.pass_context
def download(ctx: click.Context, cert_id: str, fmt: str, target: str | None, revision: int | None,
             passphrase: str | None) -> None:
    """Download the issued certificate."""
    if fmt == "pkcs12" and passphrase is None:
        passphrase = click.prompt("PKCS#12 passphrase (8+ characters)", hide_input=True, confirmation_prompt=True,
                                  err=True)
    got = _client(ctx).download(cert_id, fmt, revision=revision, passphrase=passphrase if fmt == "pkcs12" else None)
    target = target or got.filename or f"{cert_id}-{fmt}.{'pem' if fmt in TEXT_FORMATS else fmt}"
    if target == "-":
        if fmt not in TEXT_FORMATS and sys.stdout.isatty():
            raise click.UsageError(f"{fmt} is binary: give -o FILE rather than writing it to a terminal")
        sys.stdout.flush()
        sys.stdout.buffer.write(got.content)
        sys.stdout.buffer.flush()
        return
    # A PKCS#12 holds the private key: readable by its owner only.
    mode = 0o600 if fmt == "pkcs12" else 0o644
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(got.content)
    click.echo(f"wrote {target} ({len(got.content)} bytes, {got.content_type or fmt})", err=True)


@cli.command()
@click.argument("cert_id")
@change_options
@wait_options
@click.pass_context
def reissue(ctx: click.Context, /, cert_id: str, wait: bool, timeout: int, **change: Any) -> None:
    """Reissue (new key/CSR or names; same validity)."""
    cert = _client(ctx).reissue(cert_id, common_name=change["cn"], **_change(change))
    _finish(ctx, cert, wait=wait, timeout=timeout)


@cli.command()
@click.argument("cert_id")
@change_options
@wait_options
@click.pass_context
def renew(ctx: click.Context, /, cert_id: str, wait: bool, timeout: int, **change: Any) -> None:
    """Renew (new validity period)."""
    cert = _client(ctx).renew(cert_id, common_name=change["cn"], **_change(change))
    _finish(ctx, cert, wait=wait, timeout=timeout)


@cli.command()
@click.argument("cert_id")
@click.option("--reason", type=click.Choice(REVOCATION_REASONS), default="unspecified", show_default=True)
@click.option("--comments", help="Free text passed to the provider.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def revoke(ctx: click.Context, cert_id: str, reason: str, comments: str | None, yes: bool) -> None:
    """Revoke an issued certificate (irreversible)."""
    if not yes:
        click.confirm(f"Revoke {cert_id} ({reason})? This cannot be undone", abort=True, err=True)
    _print_cert(ctx, _client(ctx).revoke(cert_id, reason, comments))


@cli.command()
@click.argument("cert_id")
@click.pass_context
def cancel(ctx: click.Context, cert_id: str) -> None:
    """Cancel a pending order."""
    _print_cert(ctx, _client(ctx).cancel(cert_id))


@cli.command()
@click.argument("cert_id")
@click.option("--limit", type=click.IntRange(1, 500), help="Page size (server default 100).")
@click.option("--all", "all_pages", is_flag=True, help="Follow next_token to the end.")
@click.pass_context
def events(ctx: click.Context, cert_id: str, limit: int | None, all_pages: bool) -> None:
    """The certificate's audit trail."""
    client = _client(ctx)
    pages = _follow(lambda token: client.list_events(cert_id, limit=limit, next_token=token), None, all_pages)
    _page_out(ctx, pages, render.events, lambda t: "more events: --all")


@cli.command()
@click.argument("cert_id")
@click.pass_context
def validation(ctx: click.Context, cert_id: str) -> None:
    """What to publish for domain control validation."""
    v = _client(ctx).validation(cert_id)
    click.echo(render.dumps(v.raw) if _as_json(ctx) else render.validation(v))


@cli.command()
@click.argument("cert_id")
@click.option("--dcv", type=click.Choice(DCV_METHODS), help="Switch to this method.")
@click.option("--email", help="Approver address (with --dcv email).")
@click.option("--domain", help="Only this domain.")
@click.pass_context
def validate(ctx: click.Context, cert_id: str, dcv: str | None, email: str | None, domain: str | None) -> None:
    """Retry (or change) domain control validation."""
    v = _client(ctx).retry_validation(cert_id, dcv_method=dcv, email=email, domain=domain)
    click.echo(render.dumps(v.raw) if _as_json(ctx) else render.validation(v))


# -- the service ------------------------------------------------------------------------------------------------
@cli.command()
@click.pass_context
def providers(ctx: click.Context) -> None:
    """The providers and what each can do."""
    items = _client(ctx).providers()
    if _as_json(ctx):
        click.echo(render.page_json([p.raw for p in items], None))
    else:
        click.echo(render.providers(items))


@cli.command()
@click.option("--ready", is_flag=True, help="Readiness: every dependency reachable (GET /health/ready; signed).")
@click.pass_context
def health(ctx: click.Context, ready: bool) -> None:
    """Whether the API is up (GET /health), or with --ready whether what it depends on is."""
    h = _client(ctx).ready() if ready else _client(ctx).health()
    click.echo(render.dumps(h.raw) if _as_json(ctx) else
               f"{h.status} (stage {h.stage})" + "".join(f"\n  {k}: {v}" for k, v in sorted(h.checks.items())))


@cli.command()
@click.pass_context
def openapi(ctx: click.Context) -> None:
    """The API's OpenAPI document (GET /openapi.json), as JSON."""
    click.echo(render.dumps(_client(ctx).openapi()))


# -- TinyCert authorities -------------------------------------------------------------------------------------
@cli.group(cls=Group)
def authorities() -> None:
    """TinyCert certificate authorities (order from one with `order --provider tinycert --ca-id ID`)."""


@authorities.command("list")
@click.pass_context
def authorities_list(ctx: click.Context) -> None:
    """Every TinyCert CA (shared by every caller)."""
    items = _client(ctx).list_authorities()
    if _as_json(ctx):
        click.echo(render.page_json([a.raw for a in items], None))
    else:
        click.echo(render.authorities(items))


@authorities.command("show")
@click.argument("ca_id", type=click.IntRange(min=1))
@click.pass_context
def authorities_show(ctx: click.Context, ca_id: int) -> None:
    """One CA and its details."""
    a = _client(ctx).get_authority(ca_id)
    click.echo(render.dumps(a.raw) if _as_json(ctx) else
               f"{a.id}: {a.name}" + "".join(f"\n  {k}: {v}" for k, v in a.details.items()))


@authorities.command("pem")
@click.argument("ca_id", type=click.IntRange(min=1))
@click.option("-o", "--output", "target", default="-", show_default=True, help="File to write; '-' for stdout.")
@click.pass_context
def authorities_pem(ctx: click.Context, ca_id: int, target: str) -> None:
    """The CA's certificate (PEM), e.g. for a trust store (GET .../authorities/{ca_id}/pem)."""
    pem = _client(ctx).authority_pem(ca_id)
    if target == "-":
        click.echo(pem.rstrip("\n"))
    else:
        Path(target).write_text(pem)
        click.echo(f"wrote {target}", err=True)


@authorities.command("create")
@click.option("--country", required=True, metavar="CC", help="ISO 3166-1 alpha-2.")
@click.option("--organization", required=True)
@click.option("--locality")
@click.option("--state")
@click.option("--unit")
@click.option("--hash-method", type=click.Choice(["sha256"]))
@click.pass_context
def authorities_create(ctx: click.Context, country: str, organization: str, locality: str | None,
                       state: str | None, unit: str | None, hash_method: str | None) -> None:
    """Create a TinyCert CA."""
    a = _client(ctx).create_authority(country, organization, locality=locality, state=state, unit=unit,
                                      hash_method=hash_method)
    click.echo(render.dumps(a.raw) if _as_json(ctx) else f"{a.id}: {a.name}")


@authorities.command("delete")
@click.argument("ca_id", type=click.IntRange(min=1))
@click.option("--force", is_flag=True, help="Even with live certificates (TinyCert deletes them with the CA; "
              "certgate marks them revoked).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def authorities_delete(ctx: click.Context, ca_id: int, force: bool, yes: bool) -> None:
    """Delete a TinyCert CA (administrators only)."""
    if not yes:
        click.confirm(f"Delete CA {ca_id}{' and its certificates' if force else ''}? This cannot be undone",
                      abort=True, err=True)
    _client(ctx).delete_authority(ca_id, force=force)
    click.echo(f"deleted CA {ca_id}", err=True)


# -- imports ----------------------------------------------------------------------------------------------------
@cli.group(cls=Group)
def imports() -> None:
    """Import what a provider already holds (kept in sync afterwards)."""


@imports.command("start")
@click.option("--provider", required=True)
@click.option("--ca-id", type=click.IntRange(min=1), help="tinycert: only this CA's certificates.")
@click.option("--state", type=click.IntRange(min=1), help="tinycert: bitmask 1 expired, 2 good, 4 revoked, 8 hold.")
@click.option("--plan", help="resello: only this plan.")
@click.option("--status", type=click.Choice(IMPORT_STATUSES), help="digicert: only this status.")
@click.option("--cn", "common_name", help="digicert: only this common name.")
@click.option("--page-size", type=click.IntRange(min=1), help="tinycert and digicert.")
@click.option("--wait", is_flag=True, help="Follow the import until it completes.")
@click.option("--timeout", type=click.IntRange(min=1), default=DEFAULT_WAIT_TIMEOUT_S, show_default=True)
@click.pass_context
def imports_start(ctx: click.Context, provider: str, ca_id: int | None, state: int | None, plan: str | None,
                  status: str | None, common_name: str | None, page_size: int | None, wait: bool,
                  timeout: int) -> None:
    """Start an import (POST /imports)."""
    client = _client(ctx)
    job = client.start_import(provider, filters=ImportFilters(ca_id=ca_id, state=state, plan=plan, status=status,
                                                              common_name=common_name), page_size=page_size)
    deps: Deps = ctx.obj
    started, delay = deps.clock(), 1.0
    while wait and not job.done:
        if deps.clock() - started >= timeout:
            click.echo(f"error: {job.id} still {job.status} after {timeout} s", err=True)
            click.echo(render.dumps(job.raw) if _as_json(ctx) else render.import_job(job))
            sys.exit(EXIT_TIMEOUT)
        deps.sleep(delay)
        delay = min(delay * 1.5, 10.0)
        job = client.get_import(job.id)
    click.echo(render.dumps(job.raw) if _as_json(ctx) else render.import_job(job))
    if wait and job.status == "failed":
        sys.exit(EXIT_CERT_FAILED)


@imports.command("list")
@click.option("--provider", help="Only this provider's imports.")
@click.option("--status", help="queued, running, completed, failed.")
@click.pass_context
def imports_list(ctx: click.Context, provider: str | None, status: str | None) -> None:
    """Your imports, newest first (an administrator's: everyone's)."""
    _print_jobs(ctx, list(_client(ctx).iter_imports(provider=provider, status=status)))


@imports.command("sync")
@click.argument("provider")
@click.pass_context
def imports_sync(ctx: click.Context, provider: str) -> None:
    """Run the provider's recurring syncs now instead of at the next interval."""
    _print_jobs(ctx, _client(ctx).sync_imports(provider))


def _print_jobs(ctx: click.Context, jobs: list[ImportJob]) -> None:
    if _as_json(ctx):
        click.echo(render.dumps([j.raw for j in jobs]))
    else:
        for job in jobs:
            click.echo(render.import_job(job))


@imports.command("show")
@click.argument("import_id")
@click.pass_context
def imports_show(ctx: click.Context, import_id: str) -> None:
    """An import's progress and counters."""
    job = _client(ctx).get_import(import_id)
    click.echo(render.dumps(job.raw) if _as_json(ctx) else render.import_job(job))


# -- shell completion -------------------------------------------------------------------------------------------
@cli.command()
@click.argument("shell", type=click.Choice(SHELLS))
def completion(shell: str) -> None:
    """Print the shell completion script: `eval "$(certgate completion bash)"` (or add it to ~/.bashrc)."""
    from click.shell_completion import get_completion_class

    cls = get_completion_class(shell)
    if cls is None:  # pragma: no cover - click ships all three
        raise click.UsageError(f"no completion for {shell}")
    click.echo(cls(cli, {}, "certgate", "_CERTGATE_COMPLETE").source())


def _accept_output_after_the_command(group: click.Group) -> None:
    """`certgate list --output json` as well as `certgate --output json list`: every command takes --output,
    except those whose -o/--output names a file (download, authorities pem)."""
    for command in group.commands.values():
        if isinstance(command, click.Group):
            _accept_output_after_the_command(command)
        elif command.name != "completion" and not any("--output" in p.opts for p in command.params):
            command.params.append(click.Option(["--output"], type=click.Choice(["table", "json"]), default=None,
                                               expose_value=False, callback=_output_here,
                                               help="table or json (the same as the global --output)."))


_accept_output_after_the_command(cli)
