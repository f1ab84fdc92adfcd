"""The API's vocabulary as the CLI offers it for completion and early checks. The CLI speaks
HTTP only, so it keeps its own copy; tests/unit/test_cli.py checks it matches the server's.
Provider names are not listed: the server knows which providers exist (a 422 names them)."""

from __future__ import annotations

PRODUCTS = ("dv", "ov", "ev", "private")
DCV_METHODS = ("dns", "email", "file")
SAN_TYPES = ("dns", "ip", "email", "uri")
DOWNLOAD_FORMATS = ("pem", "chain", "fullchain", "der", "pkcs7", "zip")
REVOCATION_REASONS = ("unspecified", "key_compromise", "affiliation_change", "superseded",
                      "cessation_of_operation")
