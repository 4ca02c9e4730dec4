"""Tests for _signer: the leaf profile, validity limits, and policy checks over a batch of requests."""

from __future__ import annotations

import base64
import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from ansible_collections.certfleet.mtls.plugins.module_utils import _signer
from ansible_collections.certfleet.mtls.plugins.module_utils._builders import build_csr
from ansible_collections.certfleet.mtls.plugins.module_utils._chain import build_chain, is_issued_by
from ansible_collections.certfleet.mtls.plugins.module_utils._errors import CertfleetError
from ansible_collections.certfleet.mtls.plugins.module_utils._keys import generate_private_key
from ansible_collections.certfleet.mtls.plugins.module_utils._names import parse_san
from ansible_collections.certfleet.mtls.plugins.module_utils._signer import (
    build_policy,
    parse_request,
    sign_requests,
)
from ansible_collections.certfleet.mtls.plugins.module_utils._time import certificate_not_after, certificate_not_before

from pki_helpers import NOW, POLICY_OPTIONS, csr_pem

UTC = datetime.timezone.utc


def make_request(name: str, key=None, common_name="web1.example.org", sans=(), profile="server_client", validity="90d"):
    key = key if key is not None else generate_private_key("ecdsa-p256")
    entry = {"name": name, "csr": csr_pem(key, common_name, sans, profile), "profile": profile, "validity": validity}
    return parse_request(entry, "90d")


def load_issued(record: dict) -> x509.Certificate:
    return x509.load_pem_x509_certificate(record["certificate"].encode("ascii"))


def spki(public_key) -> bytes:
    """Encode a public key as DER SubjectPublicKeyInfo, because cryptography 38 keys do not compare with ==."""
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def extension_value(certificate: x509.Certificate, extension_class):
    return certificate.extensions.get_extension_for_class(extension_class).value


def policy_with(**changes):
    options = dict(POLICY_OPTIONS)
    options.update(changes)
    return build_policy(options)


@pytest.fixture
def build_calls(monkeypatch):
    """Count the certificates that _signer builds, so a test can prove that none was issued."""
    calls = []
    original = _signer.build_leaf_certificate

    def counting_build(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(_signer, "build_leaf_certificate", counting_build)
    return calls


def flip_signature_byte(pem: str) -> str:
    """Change the last byte of a CSR, which is the last byte of its signature value."""
    der = bytearray(x509.load_pem_x509_csr(pem.encode("ascii")).public_bytes(serialization.Encoding.DER))
    der[-1] ^= 0x01
    body = base64.encodebytes(bytes(der)).decode("ascii")
    return f"-----BEGIN CERTIFICATE REQUEST-----\n{body}-----END CERTIFICATE REQUEST-----\n"


def assert_batch_rejected(requests, signer, policy, build_calls, fragments):
    with pytest.raises(CertfleetError) as caught:
        sign_requests(requests, signer, policy, NOW)

    for fragment in fragments:
        assert fragment in str(caught.value)
    assert build_calls == []


def test_leaf_aki_is_issuer_ski(ca, issue):
    leaf = issue(ca.signer)
    issuer_ski = extension_value(ca.signer.certificate, x509.SubjectKeyIdentifier)

    assert extension_value(leaf.certificate, x509.AuthorityKeyIdentifier).key_identifier == issuer_ski.digest
    assert leaf.certificate.issuer == ca.signer.certificate.subject
    assert is_issued_by(leaf.certificate, ca.signer.certificate)


def test_leaf_san_adds_cn(ca, policy):
    key = generate_private_key("ecdsa-p256")
    csr = build_csr(key, "web1.example.org", [parse_san("IP:10.0.0.5")], "server_client")
    pem = csr.public_bytes(serialization.Encoding.PEM).decode("ascii")
    request = parse_request({"name": "web1", "csr": pem}, "90d")

    issued, _warnings = sign_requests([request], ca.signer, policy, NOW)
    sans = list(extension_value(load_issued(issued[0]), x509.SubjectAlternativeName))

    assert sans == [parse_san("DNS:web1.example.org"), parse_san("IP:10.0.0.5")]


@pytest.mark.parametrize(
    ("profile", "expected"),
    [
        ("server", [ExtendedKeyUsageOID.SERVER_AUTH]),
        ("client", [ExtendedKeyUsageOID.CLIENT_AUTH]),
        ("server_client", [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
    ],
)
def test_leaf_eku_per_profile(ca, issue, profile, expected):
    leaf = issue(ca.signer, profile=profile)

    assert list(extension_value(leaf.certificate, x509.ExtendedKeyUsage)) == expected
    assert leaf.record["profile"] == profile


def test_leaf_basic_constraints(ca, issue):
    extension = issue(ca.signer).certificate.extensions.get_extension_for_class(x509.BasicConstraints)

    assert extension.critical is True
    assert extension.value.ca is False
    assert extension.value.path_length is None


def test_leaf_key_usage_ecdsa(ca, issue):
    extension = issue(ca.signer).certificate.extensions.get_extension_for_class(x509.KeyUsage)

    assert extension.critical is True
    assert extension.value.digital_signature is True
    assert extension.value.key_encipherment is False
    assert extension.value.key_cert_sign is False


def test_leaf_serials_in_batch(ca, policy):
    requests = [make_request(f"web{index}") for index in range(40)]

    issued, _warnings = sign_requests(requests, ca.signer, policy, NOW)
    serials = [load_issued(record).serial_number for record in issued]

    assert all(serial > 0 for serial in serials)
    assert all(serial >= 2**64 for serial in serials)
    assert all(serial < 2**159 for serial in serials)
    assert len(set(serials)) == len(serials)
    assert [record["serial"] for record in issued] == [format(serial, "x") for serial in serials]


def test_leaf_validity_backdated(ca, issue):
    leaf = issue(ca.signer, validity="90d")

    assert certificate_not_before(leaf.certificate) == NOW - datetime.timedelta(hours=1)
    assert certificate_not_after(leaf.certificate) == NOW + datetime.timedelta(days=90)
    assert leaf.record["not_before"] == "2030-01-15T11:00:00Z"
    assert leaf.record["not_after"] == "2030-04-15T12:00:00Z"


def test_leaf_no_backdate(ca, issue):
    leaf = issue(ca.signer, signing_policy=policy_with(backdate="0"))

    assert certificate_not_before(leaf.certificate) == NOW


def test_validity_capped_at_max(ca, policy):
    request = make_request("web1", validity="500d")

    issued, warnings = sign_requests([request], ca.signer, policy, NOW)

    assert certificate_not_after(load_issued(issued[0])) == NOW + datetime.timedelta(days=397)
    assert warnings == ["requests[web1]: validity 500d is capped at max_validity 397d"]


def test_validity_capped_at_issuer(make_ca, policy):
    short = make_ca("short", intermediate_validity="30d")
    request = make_request("web1", validity="90d")

    issued, warnings = sign_requests([request], short.signer, policy, NOW)

    assert certificate_not_after(load_issued(issued[0])) == NOW + datetime.timedelta(days=30)
    assert len(warnings) == 1
    assert "requests[web1]" in warnings[0]
    assert "issuing CA's notAfter 2030-02-14T12:00:00Z" in warnings[0]


def test_rsa_leaf(ca, issue):
    leaf = issue(ca.signer, key_type="rsa-2048")
    usage = extension_value(leaf.certificate, x509.KeyUsage)

    assert isinstance(leaf.certificate.public_key(), rsa.RSAPublicKey)
    assert usage.key_encipherment is True
    assert is_issued_by(leaf.certificate, ca.signer.certificate)


def test_ed25519_leaf(ca, issue):
    leaf = issue(ca.signer, key_type="ed25519")

    assert extension_value(leaf.certificate, x509.KeyUsage).key_encipherment is False
    assert is_issued_by(leaf.certificate, ca.signer.certificate)


@pytest.mark.parametrize("key_type", ["ed25519", "rsa-2048", "ecdsa-p384"])
def test_ca_key_types_sign(make_ca, issue, key_type):
    other = make_ca(key_type.replace("-", ""), key_type=key_type)

    leaf = issue(other.signer)
    path = build_chain(leaf.certificate, other.signer.chain, other.signer.bundle)

    assert path == [leaf.certificate, other.signer.certificate, other.signer.bundle[0]]


def test_batch_rejects_bad_signature(ca, policy, build_calls):
    good = make_request("web1")
    entry = {"name": "web2", "csr": flip_signature_byte(csr_pem(generate_private_key("ecdsa-p256"), "web2.example.org"))}
    bad = parse_request(entry, "90d")

    assert_batch_rejected([good, bad], ca.signer, policy, build_calls, ["requests[web2]", "signature does not verify"])


def test_batch_rejects_san_outside_suffixes(ca, policy, build_calls):
    good = make_request("web1")
    bad = make_request("web2", common_name="web2.example.org", sans=["DNS:web2.evil.net"])

    assert_batch_rejected(
        [good, bad], ca.signer, policy, build_calls, ["requests[web2]", "DNS:web2.evil.net", "DNS suffixes example.org"]
    )


def test_batch_rejects_cn_outside_suffixes(ca, policy, build_calls):
    bad = make_request("web2", common_name="evilexample.org")

    assert_batch_rejected([make_request("web1"), bad], ca.signer, policy, build_calls, ["requests[web2]", "DNS:evilexample.org"])


def test_batch_rejects_ip_outside_networks(ca, policy, build_calls):
    bad = make_request("web2", common_name="web2.example.org", sans=["IP:192.168.1.5"])

    assert_batch_rejected(
        [make_request("web1"), bad], ca.signer, policy, build_calls, ["requests[web2]", "IP:192.168.1.5", "10.0.0.0/8"]
    )


def test_batch_rejects_uri_outside_prefixes(ca, policy, build_calls):
    bad = make_request("web2", common_name=None, sans=["URI:spiffe://evil.org/web"])

    assert_batch_rejected(
        [make_request("web1"), bad], ca.signer, policy, build_calls, ["requests[web2]", "URI:spiffe://evil.org/web"]
    )


def test_batch_rejects_rsa_1024(ca, policy, build_calls):
    weak = rsa.generate_private_key(65537, 1024)
    bad = make_request("web2", key=weak, common_name="web2.example.org")

    assert_batch_rejected([make_request("web1"), bad], ca.signer, policy, build_calls, ["requests[web2]", "1024 bits"])


def test_batch_rejects_disallowed_profile(ca, build_calls):
    policy = policy_with(allowed_profiles=["client", "server_client"])
    bad = make_request("web2", common_name="web2.example.org", profile="server")

    assert_batch_rejected(
        [make_request("web1"), bad], ca.signer, policy, build_calls, ["requests[web2]", "profile 'server'", "client, server_client"]
    )


def test_batch_rejects_disallowed_key_type(ca, build_calls):
    policy = policy_with(allowed_key_types=["ecdsa-p256"])
    bad = make_request("web2", key=generate_private_key("ed25519"), common_name="web2.example.org")

    assert_batch_rejected([make_request("web1"), bad], ca.signer, policy, build_calls, ["requests[web2]", "ed25519"])


def test_batch_rejects_exact_name_wildcard(ca, build_calls):
    policy = policy_with(allowed_dns_suffixes=None, allowed_dns_names=["web1.example.org"])
    bad = make_request("web2", common_name=None, sans=["DNS:*.web1.example.org"])

    assert_batch_rejected([make_request("web1"), bad], ca.signer, policy, build_calls, ["requests[web2]", "DNS:*.web1.example.org"])


def test_batch_all_valid_issued(ca, policy, build_calls):
    issued, warnings = sign_requests([make_request("web1"), make_request("web2")], ca.signer, policy, NOW)

    assert [record["name"] for record in issued] == ["web1", "web2"]
    assert len(build_calls) == 2
    assert warnings == []


def test_parse_request_malformed_csr():
    entry = {"name": "web2", "csr": "-----BEGIN CERTIFICATE REQUEST-----\nMAA=\n-----END CERTIFICATE REQUEST-----\n"}

    with pytest.raises(CertfleetError) as caught:
        parse_request(entry, "90d")

    message = str(caught.value)
    assert message.startswith("requests[web2]: csr is not a valid PEM certificate signing request")
    assert "certfleet.mtls.csr" in message


@pytest.mark.parametrize("csr", [None, ""])
def test_parse_request_missing_csr(csr):
    with pytest.raises(CertfleetError) as caught:
        parse_request({"name": "web2", "csr": csr}, "90d")

    assert str(caught.value).startswith("requests[web2]: csr is missing")


def test_parse_request_unknown_profile():
    entry = {"name": "web2", "csr": csr_pem(generate_private_key("ecdsa-p256"), "web2.example.org"), "profile": "mail"}

    with pytest.raises(CertfleetError) as caught:
        parse_request(entry, "90d")

    assert "requests[web2].profile='mail'" in str(caught.value)


def test_parse_request_invalid_validity():
    entry = {"name": "web2", "csr": csr_pem(generate_private_key("ecdsa-p256"), "web2.example.org"), "validity": "10x"}

    with pytest.raises(CertfleetError) as caught:
        parse_request(entry, "90d")

    assert "requests[web2].validity='10x'" in str(caught.value)


def test_parse_request_profile_from_csr():
    entry = {"name": "web2", "csr": csr_pem(generate_private_key("ecdsa-p256"), "web2.example.org", profile="client")}

    request = parse_request(entry, "30d")

    assert request.profile == "client"
    assert request.validity == datetime.timedelta(days=30)


@pytest.mark.parametrize(
    ("option", "value", "fragment"),
    [
        ("allowed_ip_networks", ["10.0.0.0/33"], "allowed_ip_networks entry '10.0.0.0/33'"),
        ("allowed_key_types", ["rsa-1024"], "allowed_key_types entry 'rsa-1024'"),
        ("allowed_profiles", ["mail"], "allowed_profiles='mail'"),
        ("max_validity", "0", "max_validity='0'"),
        ("backdate", "-1h", "backdate='-1h'"),
    ],
)
def test_build_policy_rejects(option, value, fragment):
    with pytest.raises(CertfleetError) as caught:
        policy_with(**{option: value})

    assert fragment in str(caught.value)


@pytest.mark.parametrize("value", [None, 0, "0", "0s"])
def test_build_policy_no_backdate(value):
    assert policy_with(backdate=value).backdate == datetime.timedelta(0)


def test_build_policy_lowercases_names():
    policy = policy_with(allowed_dns_names=["Web1.Example.ORG"], allowed_dns_suffixes=["Example.ORG"])

    assert policy.allowed_dns_names == frozenset({"web1.example.org"})
    assert policy.allowed_dns_suffixes == ("example.org",)


@pytest.fixture
def counted_thread_pools(monkeypatch):
    """Report four CPUs to _signer and count the thread pools it starts."""
    pools = []

    class CountingPool(_signer.ThreadPoolExecutor):
        def __init__(self, *args, **kwargs):
            pools.append(kwargs.get("max_workers"))
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(_signer, "_available_cpus", lambda: 4)
    monkeypatch.setattr(_signer, "ThreadPoolExecutor", CountingPool)
    return pools


def test_large_batch_threads_keep_order(ca, policy, counted_thread_pools):
    keys = [generate_private_key("ecdsa-p256") for _index in range(_signer.PARALLEL_MIN_REQUESTS + 3)]
    requests = [make_request(f"web{index}", key=key, common_name=f"web{index}.example.org") for index, key in enumerate(keys)]

    issued, _warnings = sign_requests(requests, ca.signer, policy, NOW)

    assert counted_thread_pools == [4, 4]
    assert [record["name"] for record in issued] == [request.name for request in requests]
    for key, record in zip(keys, issued):
        certificate = load_issued(record)
        assert spki(certificate.public_key()) == spki(key.public_key())
        assert is_issued_by(certificate, ca.signer.certificate)


def test_large_batch_first_rejection_named(ca, policy, build_calls, counted_thread_pools):
    requests = []
    for index in range(_signer.PARALLEL_MIN_REQUESTS):
        pem = csr_pem(generate_private_key("ecdsa-p256"), f"web{index}.example.org")
        if index in (20, 50):
            pem = flip_signature_byte(pem)
        requests.append(parse_request({"name": f"web{index}", "csr": pem}, "90d"))

    assert_batch_rejected(requests, ca.signer, policy, build_calls, ["requests[web20]", "signature does not verify"])
    assert counted_thread_pools == [4]


def test_small_batch_without_threads(ca, policy, counted_thread_pools):
    requests = [make_request(f"web{index}") for index in range(3)]

    issued, _warnings = sign_requests(requests, ca.signer, policy, NOW)

    assert len(issued) == 3
    assert counted_thread_pools == []
