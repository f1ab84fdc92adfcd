"""The HTTP side of the CLI: one certgate base URL, optional SigV4 signing, problem+json errors.

Requests go through a `requests.Session`-like object with `send(prepared, timeout=...)`, so tests
hand in a fake one. Retries are automatic only where they are safe: GETs and requests carrying an
Idempotency-Key, on connection failures and on 502/503/504 that name no recorded certificate."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

# Exit codes (documented in docs/cli.md). 2 is click's own usage error.
EXIT_OK = 0
EXIT_CERT_FAILED = 1  # --wait: the certificate ended failed, cancelled, revoked or expired
EXIT_CLIENT_ERROR = 3  # the API answered 4xx
EXIT_SERVER_ERROR = 4  # the API answered 5xx
EXIT_CONNECTION = 5  # no answer at all (refused, DNS, TLS, timeout)
EXIT_TIMEOUT = 6  # --wait: still pending after --timeout

LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
RETRY_STATUSES = frozenset({502, 503, 504})
MAX_ATTEMPTS = 3
MAX_RETRY_AFTER_S = 30.0

Signer = Callable[[requests.PreparedRequest], None]


class CliError(Exception):
    exit_code = EXIT_SERVER_ERROR


class ApiError(CliError):
    """The API answered an error; `problem` is its problem+json body (or a stand-in)."""

    def __init__(self, status: int, problem: dict[str, Any], headers: Mapping[str, str] | None = None) -> None:
        super().__init__(f"{status} {problem.get('title', '')}")
        self.status, self.problem, self.headers = status, problem, dict(headers or {})
        self.exit_code = EXIT_CLIENT_ERROR if status < 500 else EXIT_SERVER_ERROR


class ConnectionFailed(CliError):
    exit_code = EXIT_CONNECTION


@dataclass
class Reply:
    status: int
    headers: Mapping[str, str]  # lower-cased names
    content: bytes

    def json(self) -> Any:
        return json.loads(self.content or b"null")


def is_local(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return host in LOCAL_HOSTS or host.endswith(".localhost")


def region_from_url(url: str) -> str | None:
    """us-east-1 from https://abc123.execute-api.us-east-1.amazonaws.com/api."""
    parts = (urlsplit(url).hostname or "").split(".")
    if len(parts) >= 4 and parts[1] == "execute-api":
        return parts[2]
    return None


def sigv4_signer(url: str, region: str | None) -> Signer:
    """Sign with the default boto3 credential chain, service execute-api (API Gateway IAM auth)."""
    import boto3
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    session = boto3.Session()
    credentials = session.get_credentials()
    if credentials is None:
        raise CliError("SigV4 signing needs AWS credentials (environment, ~/.aws, SSO or an instance role)")
    # The URL names where the API lives; a default region from the environment must not override it.
    region = region or region_from_url(url) or os.environ.get("AWS_REGION") or session.region_name
    if not region:
        raise CliError("SigV4 signing needs a region: --region, AWS_REGION or an execute-api URL")

    def sign(prepared: requests.PreparedRequest) -> None:
        # Sign exactly what will be sent: the prepared URL (encoded query) and body.
        aws = AWSRequest(method=prepared.method, url=prepared.url, data=prepared.body or b"",
                         headers={k: v for k, v in prepared.headers.items() if k.lower() != "connection"})
        SigV4Auth(credentials.get_frozen_credentials(), "execute-api", region).add_auth(aws)
        prepared.headers.update(dict(aws.headers.items()))

    return sign


@dataclass
class Client:
    base_url: str
    session: Any
    principal: str | None = None
    signer: Signer | None = None
    timeout_s: float = 30.0
    sleep: Callable[[float], None] = time.sleep

    def request(self, method: str, path: str, *, body: Any = None, params: Mapping[str, Any] | None = None,
                headers: Mapping[str, str] | None = None, accept: str = "application/json") -> Reply:
        hdrs = {"Accept": accept, "User-Agent": "certgate-cli", **(headers or {})}
        if self.principal:
            hdrs["X-Certgate-Principal"] = self.principal
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        query = {k: v for k, v in (params or {}).items() if v is not None}
        safe = method == "GET" or any(k.lower() == "idempotency-key" for k in hdrs)
        attempts = MAX_ATTEMPTS if safe else 1
        for attempt in range(1, attempts + 1):
            prepared = requests.Request(method, self.base_url.rstrip("/") + path, headers=hdrs, params=query,
                                        data=data).prepare()
            if self.signer:
                self.signer(prepared)
            try:
                raw = self.session.send(prepared, timeout=self.timeout_s)
            except requests.RequestException as exc:
                if attempt < attempts:
                    self.sleep(float(attempt))
                    continue
                raise ConnectionFailed(f"cannot reach {self.base_url}: {exc}") from exc
            reply = Reply(raw.status_code, {k.lower(): v for k, v in raw.headers.items()}, raw.content or b"")
            if reply.status < 400:
                return reply
            error = ApiError(reply.status, _problem_of(reply), reply.headers)
            if attempt < attempts and reply.status in RETRY_STATUSES and "certificate_id" not in error.problem:
                self.sleep(_retry_after(reply.headers, attempt))
                continue
            raise error
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def json(self, method: str, path: str, **kw: Any) -> Any:
        return self.request(method, path, **kw).json()


def _problem_of(reply: Reply) -> dict[str, Any]:
    ctype = reply.headers.get("content-type", "")
    if "json" in ctype:
        try:
            body = reply.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            return body
    # Not ours (a proxy, API Gateway's own 403): keep what there is.
    text = reply.content.decode("utf-8", "replace").strip()[:500]
    return {"title": f"HTTP {reply.status}", "status": reply.status, "detail": text or None}


def _retry_after(headers: Mapping[str, str], attempt: int) -> float:
    raw = headers.get("retry-after", "")
    seconds = float(raw) if raw.isdigit() else float(attempt)
    return min(seconds, MAX_RETRY_AFTER_S)
