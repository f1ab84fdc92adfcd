"""The provider-neutral vocabulary of the API: products, DCV methods, SAN types, formats,
revocation reasons and public statuses. Which providers there are is discovered
(chalicelib/providers/registry.py); each one declares the part of this vocabulary it offers."""

from __future__ import annotations

import re

PRODUCTS = ("dv", "ov", "ev", "private")
DCV_METHODS = ("dns", "email", "file")
SAN_TYPES = ("dns", "ip", "email", "uri")
DOWNLOAD_FORMATS = ("pem", "chain", "fullchain", "der", "pkcs7", "zip")
REVOCATION_REASONS = ("unspecified", "key_compromise", "affiliation_change", "superseded",
                      "cessation_of_operation")
# Every format the download route renders (pkcs12 only where a private key is held).
FORMATS = ("pem", "chain", "fullchain", "der", "pkcs7", "zip", "pkcs12")
PUBLIC_STATUSES = ("pending", "issued", "failed", "revoked", "cancelled", "expired")

# An AWS region name (us-east-1, eu-central-2, ap-southeast-4, us-gov-west-1, ...): what ACM takes.
AWS_REGION = re.compile(r"^(us|eu|ap|sa|ca|me|af|il|mx|cn)(-gov|-iso|-isob)?-"
                        r"(north|south|east|west|central|northeast|southeast|northwest|southwest)-[1-9]$")
