"""ACM import (issue 19 item 2): the issued certificate, its chain and the key certgate holds,
imported into ACM in the region the caller chose; every new revision is re-imported into the
same ARN (`CertificateArn=`), so listeners and distributions using it pick it up unchanged."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from chalicelib.adapters.clients import translate_errors


@translate_errors("acm")
class AcmDelivery:
    def __init__(self, client_for_region: Callable[[str], Any]) -> None:
        self._client_for_region = client_for_region

    def import_certificate(self, region: str, certificate_pem: str, chain_pem: str, private_key_pem: str,
                           arn: str | None, tags: Mapping[str, str]) -> str:
        kw: dict[str, Any] = {"Certificate": certificate_pem.encode(), "PrivateKey": private_key_pem.encode()}
        if chain_pem.strip():
            kw["CertificateChain"] = chain_pem.encode()
        if arn:
            kw["CertificateArn"] = arn  # re-import: ACM keeps the ARN (tags may not be given then)
        else:
            kw["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
        return str(self._client_for_region(region).import_certificate(**kw)["CertificateArn"])

    def tag(self, region: str, arn: str, tags: Mapping[str, str]) -> None:
        self._client_for_region(region).add_tags_to_certificate(
            CertificateArn=arn, Tags=[{"Key": k, "Value": v} for k, v in tags.items()])

    # ListCertificates returns RSA-2048 certificates only unless asked for the other key types (ACM
    # API reference, ListCertificates `Includes.keyTypes`; moto returns all of them either way).
    KEY_TYPES = ("RSA_1024", "RSA_2048", "RSA_3072", "RSA_4096", "EC_prime256v1", "EC_secp384r1", "EC_secp521r1")

    def find_imported(self, region: str, domain_name: str, tags: Mapping[str, str]) -> str | None:
        client = self._client_for_region(region)
        pages = client.get_paginator("list_certificates").paginate(Includes={"keyTypes": list(self.KEY_TYPES)})
        for page in pages:
            for summary in page.get("CertificateSummaryList", []):
                if summary.get("DomainName") != domain_name or summary.get("Type", "IMPORTED") != "IMPORTED":
                    continue
                arn = str(summary["CertificateArn"])
                have = {t["Key"]: t.get("Value") for t in client.list_tags_for_certificate(CertificateArn=arn)["Tags"]}
                if all(have.get(k) == v for k, v in tags.items()):
                    return arn
        return None
