"""HTTP under the client: one request/response pair of values, a Transport that sends one, and SigV4.

The Client builds an HttpRequest, signs it (SigV4 over exactly the bytes that will be sent) and hands
it to a Transport. The default transport is urllib3 (already a dependency of botocore, so the client
adds no HTTP library of its own); tests hand in their own transport (scripted answers, or
chalice.test.Client)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlsplit

from certgate.errors import ConfigurationError, ConnectionFailed

LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass
class HttpRequest:
    method: str
    url: str  # absolute, query string encoded
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: Mapping[str, str]  # names lower-cased
    content: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class Transport(Protocol):
    """Sends one request; raises ConnectionFailed when there is no answer at all."""

    def send(self, request: HttpRequest, timeout: float) -> HttpResponse: ...


class Urllib3Transport:
    """One connection pool; no retries or redirects of its own (the Client decides what is retried)."""

    def __init__(self) -> None:
        import urllib3

        self._urllib3 = urllib3
        self._pool = urllib3.PoolManager()

    def send(self, request: HttpRequest, timeout: float) -> HttpResponse:
        try:
            raw = self._pool.request(request.method, request.url, body=request.body, headers=request.headers,
                                     timeout=self._urllib3.Timeout(connect=min(timeout, 10.0), read=timeout),
                                     retries=False, redirect=False, preload_content=True)
        except self._urllib3.exceptions.HTTPError as exc:
            raise ConnectionFailed(str(exc)) from exc
        return HttpResponse(raw.status, {k.lower(): v for k, v in raw.headers.items()}, raw.data or b"")

    def close(self) -> None:
        self._pool.clear()


def is_local(url: str) -> bool:
    """The `make run` stack and other loopback URLs: not signed (the local stage has no IAM)."""
    host = (urlsplit(url).hostname or "").lower()
    return host in LOCAL_HOSTS or host.endswith(".localhost")


def region_from_url(url: str) -> str | None:
    """us-east-1 from https://abc123.execute-api.us-east-1.amazonaws.com/api."""
    parts = (urlsplit(url).hostname or "").split(".")
    if len(parts) >= 4 and parts[1] == "execute-api":
        return parts[2]
    return None


class SigV4Signer:
    """Signs for API Gateway IAM authorization (service execute-api) with a botocore session's
    credentials: the default chain, or a named profile (~/.aws/config, SSO, assume-role)."""

    def __init__(self, url: str, region: str | None = None, profile: str | None = None) -> None:
        import botocore.session
        from botocore.exceptions import BotoCoreError

        try:
            session = botocore.session.Session(profile=profile)
            credentials = session.get_credentials()
            configured_region = session.get_config_variable("region")
        except BotoCoreError as exc:  # an unknown profile, a broken config file
            raise ConfigurationError(f"AWS configuration: {exc}") from exc
        if credentials is None:
            raise ConfigurationError("SigV4 signing needs AWS credentials (environment, ~/.aws, SSO or an instance role)"
                               + (f"; profile {profile!r} has none" if profile else ""))
        # The URL names where the API lives; a default region from the environment must not override it.
        self.region = region or region_from_url(url) or os.environ.get("AWS_REGION") or configured_region
        if not self.region:
            raise ConfigurationError("SigV4 signing needs a region: region=/--region, AWS_REGION or an execute-api URL")
        self._credentials = credentials

    def sign(self, request: HttpRequest) -> None:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        aws = AWSRequest(method=request.method, url=request.url, data=request.body or b"",
                         headers=dict(request.headers))
        # Refreshable credentials (SSO, assume-role) are frozen per request, never cached expired.
        SigV4Auth(self._credentials.get_frozen_credentials(), "execute-api", self.region).add_auth(aws)
        request.headers.update(dict(aws.headers.items()))
