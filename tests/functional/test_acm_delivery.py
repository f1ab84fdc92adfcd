"""ACM import on moto (issue 19 item 2): POST /certificates with deliver_to.acm imports the
certificate into ACM in the region asked; a reissue re-imports into the same ARN, and what ACM
holds (acm.get_certificate) is the current revision; bad requests are clear 422s."""

from __future__ import annotations

import uuid

from cryptography import x509

from tests.functional.conftest import call


def who() -> str:
    return f"arn:aws:iam::123456789012:user/acm-{uuid.uuid4().hex[:6]}"


def serial_in_acm(world, region: str, arn: str) -> str:
    import boto3

    acm = boto3.client("acm", endpoint_url=world.moto_url, region_name=region,
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    pem = acm.get_certificate(CertificateArn=arn)["Certificate"]
    return format(x509.load_pem_x509_certificate(pem.encode()).serial_number, "x")


def norm(serial: str) -> str:
    return serial.lower().replace(":", "").lstrip("0")


def test_the_arn_is_stable_across_a_reissue_and_acm_holds_the_current_revision(client, world):
    me = who()
    name = f"acm{uuid.uuid4().hex[:8]}.example.com"
    st, _, body = call(client, "POST", "/certificates", {"provider": "tinycert", "common_name": name,
                                                         "deliver_to": {"acm": {"region": "eu-west-1"}}}, me)
    assert st == 201 and body["status"] == "issued", body
    cid = body["id"]
    st, _, first = call(client, "GET", f"/certificates/{cid}", principal=me)
    acm = first["delivery"]["acm"]
    assert acm["status"] == "imported" and acm["region"] == "eu-west-1" and acm["revision"] == 1, first
    arn = acm["arn"]
    assert arn.startswith("arn:aws:acm:eu-west-1:")
    assert norm(serial_in_acm(world, "eu-west-1", arn)) == norm(first["serial"])

    st, _, after = call(client, "POST", f"/certificates/{cid}/reissue", {}, me)
    assert st == 200 and after["revision"] == 2, after
    st, _, second = call(client, "GET", f"/certificates/{cid}", principal=me)
    assert second["delivery"]["acm"]["arn"] == arn and second["delivery"]["acm"]["revision"] == 2, second
    assert norm(serial_in_acm(world, "eu-west-1", arn)) == norm(second["serial"]) != norm(first["serial"])

    st, _, events = call(client, "GET", f"/certificates/{cid}/events", principal=me)
    delivered = [e for e in events["items"] if e["event"] == "certificate.delivered"]
    assert [e["detail"]["acm_arn"] for e in delivered] == [arn, arn]


def test_acm_delivery_refused_for_a_csr_order_and_for_a_bad_region(client, world):
    from tests.functional.test_lifecycle import csr_for

    me = who()
    name = f"acm{uuid.uuid4().hex[:8]}.example.com"
    st, _, body = call(client, "POST", "/certificates", {"provider": "digicert", "common_name": name,
                                                         "csr": csr_for(name),
                                                         "deliver_to": {"acm": {"region": "us-east-1"}}}, me)
    assert st == 422 and [e["field"] for e in body["errors"]] == ["deliver_to.acm"], body
    st, _, body = call(client, "POST", "/certificates", {"provider": "tinycert", "common_name": name,
                                                         "deliver_to": {"acm": {"region": "nowhere"}}}, me)
    assert st == 422 and [e["field"] for e in body["errors"]] == ["deliver_to.acm.region"], body


def test_the_adapter_finds_an_imported_certificate_by_its_tag_whatever_its_key_type(world):
    """What a retry uses so that a lost import answer leaves no orphan ARN: moto's ListCertificates
    (RSA-2048 only unless asked for other key types) and ListTagsForCertificate."""
    import datetime as dt

    import boto3
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from chalicelib.adapters.acm import AcmDelivery

    name = f"find{uuid.uuid4().hex[:8]}.example.com"
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()

    def client_for(region: str):
        return boto3.client("acm", endpoint_url=world.moto_url, region_name=region,
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    adapter = AcmDelivery(client_for)
    arn = adapter.import_certificate("eu-west-1", cert_pem, "", key_pem, None,
                                     {"certgate:certificate_id": "crt_found"})
    assert adapter.find_imported("eu-west-1", name, {"certgate:certificate_id": "crt_found"}) == arn
    assert adapter.find_imported("eu-west-1", name, {"certgate:certificate_id": "crt_other"}) is None
    assert adapter.find_imported("eu-west-2", name, {"certgate:certificate_id": "crt_found"}) is None
