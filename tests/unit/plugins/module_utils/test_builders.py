"""Tests for _builders: serial numbers, CSRs, CA and leaf certificates, and the 2050 time encoding."""

from __future__ import annotations

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID

from ansible_collections.certfleet.mtls.plugins.module_utils import _der
from ansible_collections.certfleet.mtls.plugins.module_utils._builders import (
    SERIAL_BITS,
    authority_key_identifier,
    build_ca_certificate,
    build_csr,
    build_leaf_certificate,
    random_serial,
)
from ansible_collections.certfleet.mtls.plugins.module_utils._certinfo import certificate_report
from ansible_collections.certfleet.mtls.plugins.module_utils._chain import is_issued_by
from ansible_collections.certfleet.mtls.plugins.module_utils._names import build_subject, certificate_names
from ansible_collections.certfleet.mtls.plugins.module_utils._time import certificate_not_after

UTC = datetime.timezone.utc
NOW = datetime.datetime(2030, 1, 15, 12, 0, 0, tzinfo=UTC)
TAG_UTC_TIME = 0x17
TAG_GENERALIZED_TIME = 0x18


@pytest.fixture(scope="module")
def root():
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = build_ca_certificate(
        key, "Builder Root CA", None, NOW, datetime.datetime(2060, 1, 1, tzinfo=UTC), path_length=0
    )
    return certificate, key


def validity_tags(certificate: x509.Certificate) -> tuple[int, int]:
    """Return the DER tags of notBefore and notAfter."""
    outer, _end = _der.read_element(certificate.tbs_certificate_bytes)
    children = list(_der.iterate_children(outer.content))
    # TBSCertificate: [0] version, serial, signature, issuer, validity, ...
    validity = children[4] if children[0].tag == 0xA0 else children[3]
    not_before, not_after = _der.iterate_children(validity.content)
    return not_before.tag, not_after.tag


def leaf_until(root, not_after: datetime.datetime) -> x509.Certificate:
    issuer, issuer_key = root
    key = ec.generate_private_key(ec.SECP256R1())
    names = certificate_names("web1.example.org", [])
    return build_leaf_certificate(
        key.public_key(), "web1.example.org", names, "server", issuer, issuer_key,
        datetime.datetime(2049, 11, 1, tzinfo=UTC), not_after,
    )


def test_random_serial_range():
    serials = [random_serial() for _index in range(5000)]

    assert all(serial > 0 for serial in serials)
    assert all(serial >= 2**64 for serial in serials)
    assert all(serial >= 2 ** (SERIAL_BITS - 1) for serial in serials)
    assert all(serial < 2**159 for serial in serials)
    assert len(set(serials)) == len(serials)


def test_random_serial_fits_twenty_octets():
    # DER adds a leading zero octet when the top bit is set, so 159 bits must stay within 20 octets.
    serial = random_serial()
    encoded = serial.to_bytes((serial.bit_length() + 8) // 8, "big", signed=True)

    assert len(encoded) <= 20


def test_build_csr_contents():
    key = ec.generate_private_key(ec.SECP256R1())
    names = certificate_names("web1.example.org", ["IP:10.0.0.5"])

    csr = build_csr(key, "web1.example.org", names, "client", "Example Fleet")
    san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    eku = csr.extensions.get_extension_for_class(x509.ExtendedKeyUsage)

    assert csr.is_signature_valid
    assert csr.subject == build_subject("web1.example.org", "Example Fleet")
    assert list(san.value) == names
    assert san.critical is False
    assert list(eku.value) == [ExtendedKeyUsageOID.CLIENT_AUTH]


def test_build_csr_without_cn():
    key = ed25519.Ed25519PrivateKey.generate()
    names = certificate_names(None, ["URI:spiffe://example.org/web"])

    csr = build_csr(key, None, names, "server_client")
    san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName)

    assert csr.is_signature_valid
    assert len(csr.subject) == 0
    assert san.critical is True


def test_root_is_self_signed(root):
    certificate, _key = root

    assert certificate.issuer == certificate.subject
    assert is_issued_by(certificate, certificate)
    with pytest.raises(x509.ExtensionNotFound):
        certificate.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)


def test_aki_from_issuer_without_ski():
    key = ec.generate_private_key(ec.SECP256R1())
    subject = build_subject("Legacy CA")
    legacy = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(NOW)
        .not_valid_after(NOW + datetime.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )

    aki = authority_key_identifier(legacy)

    assert aki.key_identifier == x509.SubjectKeyIdentifier.from_public_key(key.public_key()).digest


def test_leaf_extensions(root):
    issuer, issuer_key = root
    key = ec.generate_private_key(ec.SECP256R1())
    names = certificate_names("web1.example.org", ["IP:10.0.0.5"])

    leaf = build_leaf_certificate(
        key.public_key(), "web1.example.org", names, "server", issuer, issuer_key, NOW, NOW + datetime.timedelta(days=1)
    )
    extensions = leaf.extensions

    assert extensions.get_extension_for_class(x509.BasicConstraints).critical is True
    assert extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert extensions.get_extension_for_class(x509.KeyUsage).critical is True
    assert list(extensions.get_extension_for_class(x509.SubjectAlternativeName).value) == names
    assert list(extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert is_issued_by(leaf, issuer)


def test_not_after_2050_generalized_time(root):
    boundary = datetime.datetime(2050, 1, 1, 0, 0, 0, tzinfo=UTC)

    leaf = leaf_until(root, boundary)
    report = certificate_report(leaf, datetime.datetime(2049, 12, 31, 23, 59, 59, tzinfo=UTC))

    assert validity_tags(leaf) == (TAG_UTC_TIME, TAG_GENERALIZED_TIME)
    assert certificate_not_after(leaf) == boundary
    assert report["not_after"] == "2050-01-01T00:00:00Z"
    assert report["expired"] is False
    assert report["seconds_left"] == 1


def test_not_after_2049_utc_time(root):
    last_second = datetime.datetime(2049, 12, 31, 23, 59, 59, tzinfo=UTC)

    leaf = leaf_until(root, last_second)

    assert validity_tags(leaf) == (TAG_UTC_TIME, TAG_UTC_TIME)
    assert certificate_not_after(leaf) == last_second
