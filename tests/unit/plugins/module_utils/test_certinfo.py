"""Tests for _certinfo: loading and reporting on odd certificates without raising.

The odd certificates (non-positive serials, a basicConstraints that encodes its
default) cannot come from a certificate builder, so the tests edit the TBSCertificate
of a valid leaf with the _der helpers and sign the result again with the issuer key.
"""

from __future__ import annotations

import base64
import datetime
import warnings

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ansible_collections.certfleet.mtls.plugins.module_utils import _der
from ansible_collections.certfleet.mtls.plugins.module_utils._assessment import assess
from ansible_collections.certfleet.mtls.plugins.module_utils._certinfo import (
    certificate_report,
    find_bad_extensions,
    load_certificates,
    load_one_certificate,
    serial_hex,
)
from ansible_collections.certfleet.mtls.plugins.module_utils._chain import is_issued_by
from ansible_collections.certfleet.mtls.plugins.module_utils._errors import CertfleetError
from ansible_collections.certfleet.mtls.plugins.module_utils._renewal import parse_threshold

from pki_helpers import NOW

BASIC_CONSTRAINTS_OID = "2.5.29.19"
TAG_CONTEXT_VERSION = 0xA0
TAG_CONTEXT_EXTENSIONS = 0xA3
# BasicConstraints with cA FALSE written out; DER requires the default to be left out (30 00).
EXPLICIT_CA_FALSE = bytes.fromhex("3003010100")


def to_pem(der: bytes) -> bytes:
    body = base64.encodebytes(der).decode("ascii")
    return f"-----BEGIN CERTIFICATE-----\n{body}-----END CERTIFICATE-----\n".encode("ascii")


def tbs_children(certificate: x509.Certificate) -> list:
    outer, _end = _der.read_element(certificate.tbs_certificate_bytes)
    return list(_der.iterate_children(outer.content))


def sign_tbs(tbs_elements: list[bytes], template: x509.Certificate, issuer_key) -> bytes:
    """Assemble Certificate = SEQUENCE(TBSCertificate, signatureAlgorithm, BIT STRING) signed with ECDSA-SHA256."""
    tbs = _der.encode_element(_der.TAG_SEQUENCE, b"".join(tbs_elements))
    outer, _end = _der.read_element(template.public_bytes(serialization.Encoding.DER))
    algorithm = list(_der.iterate_children(outer.content))[1]
    signature = issuer_key.sign(tbs, ec.ECDSA(hashes.SHA256()))
    bit_string = _der.encode_element(_der.TAG_BIT_STRING, b"\x00" + signature)
    return _der.encode_element(_der.TAG_SEQUENCE, tbs + algorithm.encoded + bit_string)


def with_serial(certificate: x509.Certificate, serial_content: bytes, issuer_key) -> bytes:
    """Return the PEM of ``certificate`` with its serial INTEGER content replaced and signed again."""
    children = tbs_children(certificate)
    serial_index = 1 if children[0].tag == TAG_CONTEXT_VERSION else 0
    elements = [child.encoded for child in children]
    elements[serial_index] = _der.encode_element(_der.TAG_INTEGER, serial_content)
    return to_pem(sign_tbs(elements, certificate, issuer_key))


def with_extension_value(certificate: x509.Certificate, oid: str, value: bytes, issuer_key) -> bytes:
    """Return the PEM of ``certificate`` with one extension's extnValue replaced and signed again."""
    elements = []
    for child in tbs_children(certificate):
        if child.tag != TAG_CONTEXT_EXTENSIONS:
            elements.append(child.encoded)
            continue
        sequence = next(_der.iterate_children(child.content))
        extensions = []
        for extension in _der.iterate_children(sequence.content):
            parts = list(_der.iterate_children(extension.content))
            if _der.decode_oid(parts[0].content) == oid:
                parts[-1] = _der.read_element(_der.encode_element(_der.TAG_OCTET_STRING, value))[0]
            extensions.append(_der.encode_element(_der.TAG_SEQUENCE, b"".join(part.encoded for part in parts)))
        rebuilt = _der.encode_element(_der.TAG_SEQUENCE, b"".join(extensions))
        elements.append(_der.encode_element(TAG_CONTEXT_EXTENSIONS, rebuilt))
    return to_pem(sign_tbs(elements, certificate, issuer_key))


def load_strictly(pem: bytes) -> tuple[x509.Certificate, list[str], dict]:
    """Load and report with every warning turned into an error, as ``python -W error`` would."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        certificates, problems = load_certificates(pem, "host.pem")
        report = certificate_report(certificates[0], NOW)
    return certificates[0], problems, report


@pytest.fixture
def leaf(ca, issue):
    return issue(ca.signer).certificate


def test_resigned_copy_is_clean(ca, leaf):
    children = tbs_children(leaf)
    pem = to_pem(sign_tbs([child.encoded for child in children], leaf, ca.signer.key))

    certificate, problems, report = load_strictly(pem)

    assert certificate.tbs_certificate_bytes == leaf.tbs_certificate_bytes
    assert is_issued_by(certificate, ca.signer.certificate)
    assert problems == []
    assert report["problems"] == []
    assert report["bad_extensions"] == []


def test_negative_serial_reported(ca, leaf):
    pem = with_serial(leaf, b"\xed\xcc", ca.signer.key)

    _certificate, problems, report = load_strictly(pem)

    assert any("serial" in problem for problem in problems)
    assert all(problem.startswith("host.pem: ") for problem in problems)
    assert report["serial"] == "-1234"
    assert "serial number -4660 is not positive, which RFC 5280 forbids" in report["problems"]


def test_zero_serial_reported(ca, leaf):
    pem = with_serial(leaf, b"\x00", ca.signer.key)

    _certificate, _problems, report = load_strictly(pem)

    assert report["serial"] == "0"
    assert "serial number 0 is not positive, which RFC 5280 forbids" in report["problems"]


def test_negative_serial_needs_renewal(ca, leaf):
    pem = with_serial(leaf, b"\xff", ca.signer.key)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        certificate, _problems = load_one_certificate(pem, "host.pem")
        report, _warnings = assess(certificate, NOW, parse_threshold(None))

    assert report["needs_renewal"] is True
    assert any("serial number -1 is not positive" in reason for reason in report["renewal_reasons"])


def test_explicit_default_constraints_report(ca, leaf):
    pem = with_extension_value(leaf, BASIC_CONSTRAINTS_OID, EXPLICIT_CA_FALSE, ca.signer.key)

    certificate, _problems, report = load_strictly(pem)

    assert is_issued_by(certificate, ca.signer.certificate)
    assert report["subject"] == "CN=web1.example.org"
    assert report["serial"] == format(leaf.serial_number, "x")
    assert report["not_after"] == "2030-04-15T12:00:00Z"
    assert report["bad_extensions"] == [BASIC_CONSTRAINTS_OID]
    assert len(report["problems"]) == 1
    assert BASIC_CONSTRAINTS_OID in report["problems"][0]


def test_explicit_default_constraints_encoded(ca, leaf):
    pem = with_extension_value(leaf, BASIC_CONSTRAINTS_OID, EXPLICIT_CA_FALSE, ca.signer.key)

    certificate = x509.load_pem_x509_certificate(pem)

    assert EXPLICIT_CA_FALSE in certificate.tbs_certificate_bytes
    assert find_bad_extensions(certificate) == [BASIC_CONSTRAINTS_OID]
    with pytest.raises(ValueError):
        certificate.extensions  # noqa: B018 (the property parses the extensions)


def test_explicit_default_constraints_assessed(ca, leaf):
    pem = with_extension_value(leaf, BASIC_CONSTRAINTS_OID, EXPLICIT_CA_FALSE, ca.signer.key)
    certificate, _problems = load_one_certificate(pem, "host.pem")

    report, _warnings = assess(
        certificate, NOW + datetime.timedelta(days=1), parse_threshold(None),
        chain=ca.signer.chain, bundle=ca.signer.bundle,
    )

    assert report["chains_to_bundle"] is True
    assert report["needs_renewal"] is True
    assert len(report["renewal_reasons"]) == 1
    assert report["renewal_reasons"][0].startswith("the certificate has malformed content")


def test_find_bad_extensions_clean(leaf):
    assert find_bad_extensions(leaf) == []


def test_load_certificates_several(ca, leaf):
    pem = leaf.public_bytes(serialization.Encoding.PEM) + b"\n" + ca.signer.chain[0].public_bytes(serialization.Encoding.PEM)

    certificates, problems = load_certificates(pem, "fullchain.pem")

    assert certificates == [leaf, ca.signer.chain[0]]
    assert problems == []


def test_load_certificates_none():
    assert load_certificates(b"no certificate here\n", "empty.pem") == ([], [])


def test_load_certificates_broken_block(leaf):
    broken = b"-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n"

    with pytest.raises(CertfleetError) as caught:
        load_certificates(leaf.public_bytes(serialization.Encoding.PEM) + broken, "fullchain.pem")

    assert str(caught.value).startswith("fullchain.pem: certificate number 2 cannot be parsed")


def test_load_one_certificate_missing():
    with pytest.raises(CertfleetError) as caught:
        load_one_certificate(b"", "/etc/certfleet/web1.pem")

    assert str(caught.value).startswith("/etc/certfleet/web1.pem contains no PEM certificate")


def test_report_leaf_fields(leaf):
    report = certificate_report(leaf, NOW + datetime.timedelta(days=30))

    assert report["common_name"] == "web1.example.org"
    assert report["issuer"] == "CN=Fleet Issuing CA,O=Example Fleet"
    assert report["not_before"] == "2030-01-15T11:00:00Z"
    assert report["subject_alt_names"] == ["DNS:web1.example.org", "IP:10.0.0.5"]
    assert report["extended_key_usage"] == ["serverAuth", "clientAuth"]
    assert report["key_usage"] == ["digital_signature"]
    assert report["is_ca"] is False
    assert report["public_key_type"] == "ecdsa-p256"
    assert report["lifetime_seconds"] == 90 * 86400 + 3600
    assert report["seconds_left"] == 60 * 86400
    assert report["fraction_left"] == round(60 * 86400 / (90 * 86400 + 3600), 4)
    assert report["expired"] is False
    assert report["not_yet_valid"] is False
    assert report["problems"] == []


def test_report_expired(leaf):
    report = certificate_report(leaf, NOW + datetime.timedelta(days=91))

    assert report["expired"] is True
    assert report["seconds_left"] == -86400
    assert report["fraction_left"] == 0.0


def test_report_not_yet_valid(leaf):
    report = certificate_report(leaf, NOW - datetime.timedelta(hours=2))

    assert report["not_yet_valid"] is True
    assert report["fraction_left"] == 1.0


def test_report_ca_fields(ca):
    report = certificate_report(ca.signer.bundle[0], NOW)

    assert report["is_ca"] is True
    assert report["key_usage"] == ["digital_signature", "key_cert_sign", "crl_sign"]
    assert report["subject_alt_names"] == []


@pytest.mark.parametrize(("serial", "expected"), [(255, "ff"), (-4660, "-1234"), (0, "0")])
def test_serial_hex(serial, expected):
    assert serial_hex(serial) == expected
