"""The API's request and response shapes, declared once (issue 15).

Both the structural validation (chalicelib.core.structure: types, required fields, enums, lengths,
patterns, unknown fields refused) and the OpenAPI document's schemas (tools/openapi.py, at build
time) are produced from these msgspec Structs. What needs code (IDNA, CSR parsing, CSR/SAN
consistency, provider capabilities, defaults) is checked afterwards by chalicelib.service.requests
on the typed value.

Conventions: `X | None = None` is a field that may be left out or sent as null (the same thing);
a field without `None` may be left out but not sent as null. Meta(extra={"message": ...}) is the
422 message when that value is wrong; Meta(extra={"provider": ...}) marks a provider option that
only one provider honours. Patterns are anchored (^...$) and matched whole.

Here and not in chalicelib/http: the service validates requests with them, and the service may
import the core but not the edge (the layers contract in pyproject.toml). The Lambda imports this
module only when it validates a body (msgspec is small: see bench/RESULTS.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias

from msgspec import UNSET, Meta, Struct, UnsetType

from chalicelib.core.vocabulary import (
    DCV_METHODS,
    FORMATS,
    PRODUCTS,
    PUBLIC_STATUSES,
    REVOCATION_REASONS,
    SAN_TYPES,
)

# DigiCert orders take sha256, sha384 or sha512 (seeds/digicert-order-ssl.txt: certificate.signature_hash;
# the simulator enforces the three); TinyCert and Resello take no signature hash at all.
SIGNATURE_HASHES = ("sha256", "sha384", "sha512")
KEY_SIZES = {"rsa": (2048, 3072, 4096), "ec": (256, 384)}
MAX_SANS = 100
MAX_IMPORT_PAGE_SIZE = 1000  # DigiCert's list limit; TinyCert pages are cut by the adapter
DIGICERT_IMPORT_STATUSES = ("issued", "pending", "revoked", "expired")
IMPORT_STATUSES = ("queued", "running", "completed", "failed")

NO_CONTROL = "^[^\\u0000-\\u001f\\u007f]*$"  # printable text: no C0 control characters, no DEL
UUID = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
EMAIL = "^[^@\\s]{1,64}@[^@\\s]{1,253}$"
COUNTRY = "^[A-Za-z]{2}$"
PROVIDER_NAME = "^[a-z][a-z0-9_-]{0,31}$"  # a provider module's name (chalicelib/providers/<name>.py)

if TYPE_CHECKING:  # mypy sees the vocabulary as plain strings; msgspec sees the enums
    ProviderName: TypeAlias = str
    Product: TypeAlias = str
    DcvMethod: TypeAlias = str
    SanType: TypeAlias = str
    Format: TypeAlias = str
    Reason: TypeAlias = str
    Status: TypeAlias = str
    SignatureHash: TypeAlias = str
    ImportStatus: TypeAlias = str
    DigicertStatus: TypeAlias = str
    KeyType: TypeAlias = str
    KeySize: TypeAlias = int
else:
    # Not an enum: the providers are discovered (chalicelib/providers/registry.py), and the service
    # checks the name against them (GET /providers lists them).
    ProviderName = Annotated[str, Meta(pattern=PROVIDER_NAME,
                                       description="A provider's name; GET /providers lists them.")]
    Product = Literal[PRODUCTS]
    DcvMethod = Literal[DCV_METHODS]
    SanType = Literal[SAN_TYPES]
    Format = Literal[FORMATS]
    Reason = Literal[REVOCATION_REASONS]
    Status = Literal[PUBLIC_STATUSES]
    SignatureHash = Literal[SIGNATURE_HASHES]
    ImportStatus = Literal[IMPORT_STATUSES]
    DigicertStatus = Literal[DIGICERT_IMPORT_STATUSES]
    KeyType = Literal[tuple(KEY_SIZES)]
    KeySize = Literal[tuple(sorted({s for sizes in KEY_SIZES.values() for s in sizes}))]


def doc(description: str, **extra_json_schema: Any) -> Meta:
    return Meta(description=description, extra_json_schema=extra_json_schema or None)


def message(text: str) -> Meta:
    return Meta(extra={"message": text})


def only_for(provider: str, description: str) -> Meta:
    return Meta(description=f"{provider} only: {description}", extra={"provider": provider})


Text64 = Annotated[str, Meta(max_length=64, pattern=NO_CONTROL), message("must be at most 64 characters "
                                                                         "of printable text")]
Text128 = Annotated[str, Meta(max_length=128, pattern=NO_CONTROL), message("must be at most 128 characters "
                                                                           "of printable text")]
Positive = Annotated[int, Meta(ge=1), message("must be a positive integer")]
DigitString = Annotated[str, Meta(pattern="^[0-9]{1,13}$")]
Email = Annotated[str, Meta(pattern=EMAIL), message("must be an email address")]
Country = Annotated[str, Meta(pattern=COUNTRY),
                    doc("ISO 3166-1 alpha-2 (officially assigned codes only), any case."),
                    message("must be an ISO 3166-1 alpha-2 country code, as in US or DE")]
Timestamp = Annotated[str, Meta(extra_json_schema={"format": "date-time"})]


class Shape(Struct, forbid_unknown_fields=True, omit_defaults=True):
    """A request body part: unknown fields are refused."""


class Open(Struct, omit_defaults=True):
    """A response part that may grow members clients ignore."""


class Closed(Struct, forbid_unknown_fields=True, omit_defaults=True):
    """A response part with exactly these members."""


# -- requests ----------------------------------------------------------------------------------------------------
class San(Shape, kw_only=True):
    """A subject alternative name. DNS names are IDNA-checked; a wildcard only as the whole left-most label."""

    type: SanType = "dns"
    value: Annotated[str, Meta(min_length=1, max_length=1024), message("must be a non-empty string")]


class KeySpec(Shape, kw_only=True):
    """Let certgate generate the key pair and CSR (the private key is kept KMS-sealed and returned only
    inside a passphrase-protected PKCS#12). Not with `csr`."""

    type: KeyType = "rsa"
    size: KeySize | UnsetType = UNSET  # default: the smallest size of the type


# Rules across fields that code checks (service/requests.py) and the document states: which key
# size goes with which type (no type: rsa). tools/openapi.py adds them to the components.
SCHEMA_RULES: dict[str, dict[str, Any]] = {"KeySpec": {"anyOf": [
    {"properties": {"type": {"const": kind}, "size": {"enum": list(sizes)}},
     **({"required": ["type"]} if kind != "rsa" else {})} for kind, sizes in KEY_SIZES.items()]}}


class Organization(Shape, kw_only=True):
    """Defaults to the provider secret's organization where it holds one. null = left out."""

    name: Text128 | None = None
    country: Country | None = None
    state: Text128 | None = None
    locality: Text128 | None = None
    unit: Text128 | None = None
    chamber_of_commerce: Text128 | None = None
    address: Text128 | None = None
    zip_code: Text128 | None = None
    digicert_org_id: Positive | None = None


class Approver(Shape, kw_only=True):
    """Defaults to the provider secret's approver where it holds one. null = left out."""

    first_name: Text128 | None = None
    last_name: Text128 | None = None
    email: Annotated[Email, Meta(max_length=128)] | None = None
    phone: Text128 | None = None


class ProviderOptions(Shape, kw_only=True):
    """Per-provider overrides; each applies to one provider only (422 for the others)."""

    plan: Annotated[str, Meta(pattern=UUID, extra_json_schema={"format": "uuid"}), message("must be a plan UUID"),
                    only_for("resello", "the plan UUID (overrides the product's plan).")] | UnsetType = UNSET
    ca_id: Annotated[Positive | DigitString, message("must be a numeric TinyCert CA id"),
                     only_for("tinycert", "the issuing CA: the integer `id` GET /providers/tinycert/authorities "
                                          "lists (a string of digits is accepted too).")] | UnsetType = UNSET
    organization_id: Annotated[Positive, only_for("digicert", "the CertCentral organization.")] | UnsetType = UNSET
    signature_hash: Annotated[SignatureHash, only_for("digicert", "the hash the CA signs with (default "
                                                                  "sha256).")] | UnsetType = UNSET
    skip_approval: Annotated[bool, only_for("digicert", "skip the CertCentral approval step (default "
                                                        "true).")] | UnsetType = UNSET
    order_validity_years: Annotated[int, Meta(ge=1, le=3), message("must be 1, 2 or 3"),
                                    only_for("digicert", "the coverage plan in years (order_validity; default 1): "
                                                         "new certificates inside it are free reissues.")
                                    ] | UnsetType = UNSET
    ca_cert_id: Annotated[str, Meta(min_length=1, max_length=64, pattern="^[A-Za-z0-9]+$"),
                          message("must be a CertCentral intermediate CA id (letters and digits)"),
                          only_for("digicert", "the issuing intermediate CA of a private certificate "
                                               "(certificate.ca_cert_id; default: the secret's "
                                               "default_ca_cert_id).")] | UnsetType = UNSET


CommonName = Annotated[str, Meta(min_length=1, max_length=253, pattern=NO_CONTROL),
                       doc("A DNS name (IDNA; wildcard only as the whole left-most label).")]
Sans = Annotated[list[San], Meta(max_length=MAX_SANS), doc("Default: the common name. The common name is always "
                                                           "included."), message(f"must be a list of at most "
                                                                                 f"{MAX_SANS} {{type, value}}")]
Csr = Annotated[str, doc("PEM CSR. Its signature must verify; RSA >= 2048 or EC P-256/P-384; its CN and SANs must "
                         "match `common_name`/`sans`. Not for providers that generate the key."),
                message("must be a PEM string")]
ValidityDays = Annotated[int, Meta(ge=1), doc("Default: the provider's maximum for the product on the issuance "
                                              "date (`validity_schedules` in GET /providers: CA/B Forum SC-081). "
                                              "Above it the request is clamped (`validity_clamped` on the "
                                              "certificate) unless `validity_strict`; refused where the provider "
                                              "takes no validity (`validity_selectable` false).")]
ValidityStrict = Annotated[bool, doc("true: a `validity_days` above the provider's maximum on the issuance date is "
                                     "a 422 instead of being clamped.")]
Dcv = Annotated[DcvMethod, doc("Default: the provider's `default_dcv_method`.")]


class AcmDelivery(Shape, kw_only=True):
    region: Annotated[str, Meta(min_length=1, max_length=32), doc("The AWS region to import into (e.g. us-east-1 "
                                                                  "for CloudFront).")]


class DeliverTo(Shape, kw_only=True):
    """Where certgate installs the certificate on issue and on every reissue/renewal."""

    acm: Annotated[AcmDelivery, doc("Import certificate, chain and key into ACM, into the same ARN on every new "
                                    "revision. Only where certgate holds the key (not with `csr`).")] | None = None


ZoneId = Annotated[str, Meta(pattern="^(/hostedzone/)?[A-Z0-9]{1,32}$"),
                   message("must be a Route 53 hosted zone id such as Z0123456789ABC")]


class DnsAutomation(Shape, kw_only=True):
    """Route 53 DNS validation. Left out: automatic for every domain inside a hosted zone certgate may
    manage (CERTGATE_DNS_ZONES) when `dcv_method` is dns; the others stay manual."""

    enabled: Annotated[bool, doc("false: every domain is validated by hand. true: every domain must lie in an "
                                 "allowed zone (a 422 names those that do not).")] = True
    zone_id: Annotated[ZoneId, doc("Use this allowed zone (default: the allowed zone whose name is the longest "
                                   "suffix of each domain).")] | None = None


class OrderRequest(Shape, kw_only=True):
    """design.md 2.1. Every field is checked before any provider call; all failures come back at once as a
    422 naming each field. Where null is allowed it means the same as leaving the field out."""

    provider: ProviderName
    product: Annotated[Product, doc("Default: the provider's `default_product`.")] | UnsetType = UNSET
    common_name: CommonName
    sans: Sans | None = None
    csr: Csr | None = None
    key: KeySpec | None = None
    validity_days: ValidityDays | UnsetType = UNSET
    validity_strict: ValidityStrict = False
    dcv_method: Dcv | None = None
    organization: Organization | None = None
    approver: Approver | None = None
    auto_renew: bool = False
    client_reference: Annotated[Text128, doc("Your own reference; echoed back.")] | None = None
    provider_options: ProviderOptions | None = None
    deliver_to: DeliverTo | None = None
    dns_automation: DnsAutomation | None = None


class ChangeRequest(Shape, kw_only=True):
    """Reissue/renew: every field optional; omitted fields keep the certificate's values."""

    common_name: CommonName | UnsetType = UNSET
    sans: Sans | None = None
    csr: Csr | None = None
    key: KeySpec | None = None
    dcv_method: Dcv | None = None
    validity_days: ValidityDays | UnsetType = UNSET
    validity_strict: ValidityStrict = False
    organization: Organization | None = None
    approver: Approver | None = None


class RevokeRequest(Shape, kw_only=True):
    reason: Reason = "unspecified"
    comments: Annotated[str, Meta(max_length=1024, pattern=NO_CONTROL)] | None = None


class DcvRetryRequest(Shape, kw_only=True):
    dcv_method: DcvMethod | None = None
    email: Annotated[Email, Meta(max_length=254), doc("Required with dcv_method email.")] | None = None
    domain: Annotated[str, Meta(max_length=253)] | None = None


class DownloadRequest(Shape, kw_only=True):
    passphrase: Annotated[str, Meta(min_length=8, max_length=1024),
                          doc("Protects the PKCS#12; never logged or stored."),
                          message("must be a string of 8 to 1024 characters")]
    format: Annotated[Format, doc("Default: the `format` query parameter, else pkcs12.")] | UnsetType = UNSET


class AuthorityRequest(Shape, kw_only=True):
    """POST /providers/tinycert/authorities: TinyCert's /ca/new fields under their API names."""

    country: Annotated[str, Meta(pattern=COUNTRY), doc("ISO 3166-1 alpha-2."),
                       message("must be an ISO 3166-1 alpha-2 country code, as in US or DE")]
    organization: Annotated[str, Meta(min_length=1, max_length=64, pattern=NO_CONTROL), doc("Not blank.")]
    locality: Text64 | None = None
    state: Text64 | None = None
    unit: Text64 | None = None
    # TinyCert's /ca/new takes sha1 or sha256 (providers.md); a new CA signing with SHA-1 would be
    # refused by every client, so only sha256 is offered.
    hash_method: Literal["sha256"] | None = None


class ImportFilters(Shape, kw_only=True):
    """Each provider takes its own (others are a 422): tinycert ca_id, state; resello plan; digicert
    common_name, status."""

    ca_id: Annotated[Positive | DigitString, doc("tinycert"), message("must be a numeric TinyCert CA id")] | None = None
    state: Annotated[Positive | DigitString, doc("tinycert: a bitmask of 1 expired, 2 good, 4 revoked, 8 hold"),
                     message("must be TinyCert's state bitmask 1-15 (1 expired, 2 good, 4 revoked, 8 hold)")] \
        | None = None
    plan: Annotated[str, Meta(pattern="^[A-Za-z0-9_.-]{1,64}$"), doc("resello"),
                    message("must be a Resello plan id")] | None = None
    status: Annotated[DigicertStatus, doc("digicert")] | None = None
    common_name: Annotated[str, Meta(pattern="^ *[A-Za-z0-9*._-]{1,253} *$"), doc("digicert"),
                           message("must be a domain name")] | None = None


class ImportRequest(Shape, kw_only=True):
    provider: ProviderName
    filters: ImportFilters | None = None
    page_size: Annotated[Positive | DigitString, doc("tinycert and digicert only (Resello's pages are fixed)."),
                         message(f"must be an integer from 1 to {MAX_IMPORT_PAGE_SIZE}")] | None = None


class SyncRequest(Shape, kw_only=True):
    """POST /imports/sync: run the recurring syncs of one provider's imports now."""

    provider: ProviderName


REQUESTS: tuple[type[Shape], ...] = (OrderRequest, ChangeRequest, RevokeRequest, DcvRetryRequest, DownloadRequest,
                                     AuthorityRequest, ImportRequest, SyncRequest)


# -- responses ---------------------------------------------------------------------------------------------------
class NamedSan(Closed, kw_only=True):
    type: SanType
    value: str


class ProviderRefs(Closed, kw_only=True):
    order_id: str | None
    certificate_id: str | None
    status: Annotated[str, doc("The provider's raw status.")] | None


class Fingerprints(Closed, kw_only=True):
    sha1: str | None
    sha256: str | None


class FailureDetail(Open, kw_only=True):
    code: str | UnsetType = UNSET
    reason: str | UnsetType = UNSET


class Revision(Closed, kw_only=True):
    number: Annotated[int, Meta(ge=1)]
    reason: Annotated[Literal["order", "reissue", "renew", "import", "provider"],
                      doc("What started the revision; `provider`: a change made at the provider itself (e.g. a "
                          "reissue in its console), noticed by the poller or the inventory sync.")]
    provider_order_id: str | UnsetType = UNSET
    provider_certificate_id: str | UnsetType = UNSET
    serial: str | UnsetType = UNSET
    not_before: Timestamp | UnsetType = UNSET
    not_after: Timestamp | UnsetType = UNSET
    issued_at: Timestamp | UnsetType = UNSET
    s3_prefix: str | UnsetType = UNSET


class RevocationState(Closed, kw_only=True):
    status: Annotated[Literal["requested", "pending", "revoked"],
                      doc("`requested`: asked, the provider's answer not yet recorded; `pending`: the provider "
                          "holds the revoke request for approval (the certificate stays issued and valid); "
                          "`revoked`: confirmed by the provider. A rejected request is cleared "
                          "(event certificate.revocation_rejected).")]
    request_id: Annotated[str, doc("The provider's revoke request id.")] | None
    reason: Annotated[str, doc("The reason given to the revoke (unspecified, key_compromise, ...); `unspecified` "
                               "for a certificate revoked outside certgate, cessation_of_operation for one "
                               "whose CA was deleted.")]
    requested_at: Annotated[Timestamp, doc("null: revoked outside certgate (at the provider).")] | None
    revoked_at: Annotated[Timestamp, doc("When certgate recorded the certificate revoked (null until then, and "
                                         "for certificates imported revoked).")] | None


class Certificate(Closed, kw_only=True):
    id: Annotated[str, Meta(pattern="^crt_[0-9a-f]{32}$")]
    status: Status
    provider: ProviderName
    product: Product
    common_name: str
    sans: list[NamedSan]
    origin: Literal["ordered", "imported"]
    key_source: Literal["csr", "gateway", "provider"]
    private_key_held: Annotated[bool, doc("true: a pkcs12 download is possible.")]
    auto_renew: bool
    client_reference: str | None | UnsetType = UNSET
    dcv_method: DcvMethod | None | UnsetType = UNSET
    validity_days: Annotated[int, doc("The validity asked of the provider (or, where none can be asked, "
                                      "the one it issues).")] | None | UnsetType = UNSET
    validity_clamped: Annotated[bool, doc("true: the request asked for more than the provider may issue on "
                                          "that date; `validity_requested` says how much.")] | UnsetType = UNSET
    validity_requested: int | None | UnsetType = UNSET
    provider_refs: ProviderRefs
    revision: Annotated[int, Meta(ge=1)]
    issued_revision: Annotated[int, doc("The revision downloads serve.")] | None | UnsetType = UNSET
    operation: Literal["order", "reissue", "renew", "revoke", "cancel"] | None | UnsetType = UNSET
    revocation: RevocationState | None | UnsetType = UNSET
    not_before: Timestamp | None | UnsetType = UNSET
    not_after: Timestamp | None | UnsetType = UNSET
    coverage_until: Annotated[Timestamp, doc(
        "The end of the paid plan (digicert: `order_validity` years from the order): inside it an automatic "
        "renewal is a free reissue on the same order, at its end a paid renewal. null where the provider sells "
        "no plans.")] | None | UnsetType = UNSET
    serial: str | None | UnsetType = UNSET
    fingerprints: Fingerprints | UnsetType = UNSET
    issuer: str | None | UnsetType = UNSET
    on_hold: bool | UnsetType = UNSET
    failure: FailureDetail | None | UnsetType = UNSET
    created_at: Timestamp
    updated_at: Timestamp
    revisions: list[Revision]
    next_check_at: Annotated[Timestamp, doc("Only while pending: when the poller looks next.")] | None \
        | UnsetType = UNSET
    delivery: Delivery | UnsetType = UNSET


class AcmDeliveryState(Closed, kw_only=True):
    region: str
    arn: Annotated[str, doc("Stable across reissues and renewals (re-imported into the same ARN).")] | UnsetType = UNSET
    status: Annotated[Literal["imported", "failed", "revoked"], doc("failed: retried by the reconcile job; revoked: "
                                                                    "tagged certgate:status=revoked in ACM.")] \
        | UnsetType = UNSET
    revision: int | UnsetType = UNSET
    error: str | None | UnsetType = UNSET


class Delivery(Closed, kw_only=True):
    acm: AcmDeliveryState


class Event(Closed, kw_only=True):
    event_id: Annotated[str, Meta(pattern="^evt_[0-9a-f]{32}$")]
    event: Annotated[str, Meta(examples=["certificate.issued", "certificate.reissue_requested"])]
    occurred_at: Timestamp
    actor: str
    from_status: Status | UnsetType = UNSET
    to_status: Status | UnsetType = UNSET
    revision: int | UnsetType = UNSET
    provider: ProviderName | UnsetType = UNSET
    provider_request_id: str | UnsetType = UNSET
    detail: dict[str, Any] | UnsetType = UNSET


class DnsRecord(Closed, kw_only=True):
    """Publish this record (method dns)."""

    name: str | None | UnsetType = UNSET
    type: str | None | UnsetType = UNSET
    value: str | None | UnsetType = UNSET


class FileToServe(Closed, kw_only=True):
    """Serve this content at http://{domain}{path} (method file)."""

    path: str | None | UnsetType = UNSET
    content: str | None | UnsetType = UNSET


class DnsAutomationProgress(Closed, kw_only=True):
    """Where Route 53 automation stands for this domain."""

    zone_id: str | None
    record: DnsRecord | UnsetType = UNSET
    record_written: bool
    in_sync: Annotated[bool, doc("Route 53 reported the change INSYNC.")]
    provider_checked: Annotated[bool, doc("The provider was asked to check (DigiCert check-dcv, Resello "
                                          "validate).")]
    validated: bool
    record_removed: bool
    error: Annotated[str, doc("Why automation is stuck for this domain.")] | None


class DcvDomain(Closed, kw_only=True):
    domain: str
    method: DcvMethod
    state: Literal["pending", "valid", "failed"]
    dns: DnsRecord | UnsetType = UNSET
    file: FileToServe | UnsetType = UNSET
    emails: Annotated[list[str], doc("Approver addresses (method email).")] | UnsetType = UNSET
    automation: Annotated[DnsAutomationProgress, doc("Present when the domain is validated through Route 53; "
                                                     "absent: publish the record yourself.")] | UnsetType = UNSET


class Validation(Closed, kw_only=True):
    certificate_id: str
    status: Status
    method: DcvMethod | None
    domains: list[DcvDomain]


class ValidityStep(Closed, kw_only=True, rename={"from_": "from"}):
    from_: Annotated[str, doc("First issuance date (ISO) the step applies to.")]
    max_validity_days: int


class Capabilities(Closed, kw_only=True):
    accepts_csr: bool
    generates_key: bool
    products: list[Product]
    default_product: Product
    dcv_methods: list[DcvMethod]
    default_dcv_method: DcvMethod | None
    max_validity_days: Annotated[int, doc("For the default product, today.")]
    validity_schedules: Annotated[dict[str, list[ValidityStep]], doc("Per product: the maximum validity by "
                                                                     "issuance date (CA/B Forum SC-081).")]
    validity_selectable: Annotated[bool, doc("false: the provider takes no validity; `validity_days` is "
                                             "refused.")]
    reissue: bool
    renew: bool
    revoke: bool
    cancel: bool
    authorities: bool
    async_issuance: bool | UnsetType = UNSET
    download_formats: Annotated[list[Format], doc("What GET /certificates/{id}/download serves for this provider's "
                                                  "certificates (rendered by certgate from the issued revision); "
                                                  "pkcs12 only for a certificate whose key certgate holds "
                                                  "(`private_key_held`).")]
    san_types: Annotated[list[SanType], doc("The subject alternative name types the provider issues for; an "
                                            "order asking for another is a 422 on `sans`.")]


class Provider(Closed, kw_only=True):
    name: ProviderName
    configured: bool
    capabilities: Capabilities


class Authority(Closed, kw_only=True):
    id: Annotated[int, Meta(ge=1), doc("The TinyCert CA id: what `provider_options.ca_id` and `filters.ca_id` "
                                       "take.")]
    name: str
    details: dict[str, Any]
    certificate_pem: str | None


class ImportCounters(Closed, kw_only=True):
    pages: Annotated[int, Meta(ge=0)]
    found: Annotated[int, Meta(ge=0)]
    created: Annotated[int, Meta(ge=0)]
    updated: Annotated[int, Meta(ge=0)]
    unchanged: Annotated[int, Meta(ge=0)]
    skipped: Annotated[int, Meta(ge=0)]
    errors: Annotated[int, Meta(ge=0)]


class ImportJob(Closed, kw_only=True):
    """An import and, after it, the recurring sync of the same owner, provider and filters."""

    id: Annotated[str, Meta(pattern="^imp_[0-9a-f]{32}$")]
    status: ImportStatus
    provider: ProviderName
    filters: dict[str, Any]
    page_size: int | None | UnsetType = UNSET
    counters: ImportCounters
    skipped: Annotated[dict[str, int], doc("Count per reason (not_owned, failed, cancelled, placed_by_certgate, "
                                           "...).")] | UnsetType = UNSET
    last_error: dict[str, Any] | None | UnsetType = UNSET
    runs: Annotated[int, Meta(ge=0), doc("Completed runs: the import, then each sync.")] | UnsetType = UNSET
    started_at: Timestamp
    run_started_at: Timestamp | None | UnsetType = UNSET
    updated_at: Timestamp
    finished_at: Timestamp | None | UnsetType = UNSET
    next_run_at: Timestamp | None | UnsetType = UNSET
    superseded_by: str | None | UnsetType = UNSET


class Health(Closed, kw_only=True):
    status: Literal["ok"]
    stage: str
    checks: Annotated[dict[str, str], doc("GET /health/ready only: each dependency, `ok`.")] | UnsetType = UNSET


class FieldError(Closed, kw_only=True):
    field: Annotated[str, doc("Dotted path, e.g. `sans[1].value`.")]
    message: str


class Problem(Open, kw_only=True):
    """RFC 9457 problem details. Extension members may be added; clients ignore unknown ones."""

    type: Annotated[str, Meta(extra_json_schema={"format": "uri"})]
    title: str
    status: Annotated[int, Meta(ge=400, le=599)]
    detail: str
    instance: str | UnsetType = UNSET
    code: Annotated[str, Meta(pattern="^[a-z0-9_]+$"),
                    doc("Stable machine-readable code, e.g. validation_failed, invalid_state, idempotency_key_reused, "
                        "not_issued, no_private_key, unsupported_operation, provider_unavailable, provider_timeout, "
                        "provider_rejected.")]
    errors: Annotated[list[FieldError], Meta(min_length=1)] | UnsetType = UNSET
    provider: ProviderName | UnsetType = UNSET
    provider_request_id: str | UnsetType = UNSET
    certificate_id: Annotated[str, doc("A provider failure on a recorded certificate: its id (also in "
                                       "`Location`).")] | UnsetType = UNSET
    certificate_status: Status | UnsetType = UNSET
    request_id: Annotated[str, doc("500 only: quote it when reporting the error.")] | UnsetType = UNSET
    allowed: Annotated[list[str], doc("405 only.")] | UnsetType = UNSET
    checks: Annotated[dict[str, str], doc("GET /health 503.")] | UnsetType = UNSET


NEXT_TOKEN = doc("Opaque; pass it back as `next_token` for the next page. `null` on the last page.")


class CertificatePage(Closed, kw_only=True):
    items: list[Certificate]
    next_token: Annotated[str, NEXT_TOKEN] | None


class EventPage(Closed, kw_only=True):
    items: list[Event]
    next_token: Annotated[str, NEXT_TOKEN] | None


class ProviderPage(Closed, kw_only=True):
    items: list[Provider]
    next_token: Annotated[str, NEXT_TOKEN] | None


class AuthorityPage(Closed, kw_only=True):
    items: list[Authority]
    next_token: Annotated[str, NEXT_TOKEN] | None


class ImportPage(Closed, kw_only=True):
    items: list[ImportJob]
    next_token: Annotated[str, NEXT_TOKEN] | None


RESPONSES: tuple[type[Struct], ...] = (Certificate, CertificatePage, Event, EventPage, Validation, ProviderPage,
                                       Authority, AuthorityPage, ImportJob, ImportPage, Health, Problem)
