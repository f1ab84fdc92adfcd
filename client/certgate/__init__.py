"""certgate: the Python client of the certgate API, and the `certgate` command built on it.

    from certgate import Client
    client = Client("https://abc123.execute-api.eu-west-1.amazonaws.com/api", profile="platform")

See client/README.md; the CLI: docs/cli.md."""

from certgate.client import Client, WaitObserver, default_url
from certgate.errors import (
    ApiError,
    BadRequest,
    CertgateError,
    CertificateNotIssued,
    ClientError,
    ConfigurationError,
    Conflict,
    ConnectionFailed,
    FieldError,
    Forbidden,
    InternalError,
    MethodNotAllowed,
    NotAcceptable,
    NotFound,
    PayloadTooLarge,
    ProviderConflict,
    ProviderError,
    ProviderFailed,
    ProviderRejected,
    ProviderTimeout,
    ProviderUnavailable,
    ServerError,
    ServiceUnavailable,
    Unauthorized,
    UnsupportedMediaType,
    UnsupportedOperation,
    ValidationFailed,
    WaitTimeout,
)
from certgate.models import (
    Approver,
    Authority,
    Capabilities,
    Certificate,
    DcvDomain,
    Download,
    Event,
    Health,
    ImportFilters,
    ImportJob,
    KeySpec,
    OrderResult,
    Organization,
    Page,
    Provider,
    ProviderOptions,
    San,
    Validation,
)

__all__ = [
    "ApiError", "Approver", "Authority", "BadRequest", "Capabilities", "Certificate", "CertificateNotIssued",
    "CertgateError", "Client", "ClientError", "ConfigurationError", "Conflict", "ConnectionFailed", "DcvDomain",
    "Download", "Event", "FieldError", "Forbidden", "Health", "ImportFilters", "ImportJob", "InternalError",
    "KeySpec", "MethodNotAllowed", "NotAcceptable", "NotFound", "OrderResult", "Organization", "Page",
    "PayloadTooLarge", "Provider", "ProviderConflict", "ProviderError", "ProviderFailed", "ProviderOptions",
    "ProviderRejected", "ProviderTimeout", "ProviderUnavailable", "San", "ServerError", "ServiceUnavailable",
    "Unauthorized", "UnsupportedMediaType", "UnsupportedOperation", "Validation", "ValidationFailed",
    "WaitObserver", "WaitTimeout", "default_url",
]
