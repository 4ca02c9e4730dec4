"""Tests for _profiles: EKUs per profile and keyUsage bits."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, ObjectIdentifier

from ansible_collections.certfleet.mtls.plugins.module_utils._errors import CertfleetError
from ansible_collections.certfleet.mtls.plugins.module_utils._profiles import (
    PROFILES,
    ca_key_usage,
    check_profile,
    eku_name,
    extended_key_usage,
    key_usage_names,
    leaf_key_usage,
    profile_of,
    profile_satisfied,
)


def key_usage(**bits) -> x509.KeyUsage:
    fields = {
        "digital_signature": False, "content_commitment": False, "key_encipherment": False,
        "data_encipherment": False, "key_agreement": False, "key_cert_sign": False, "crl_sign": False,
        "encipher_only": False, "decipher_only": False,
    }
    fields.update(bits)
    return x509.KeyUsage(**fields)


@pytest.mark.parametrize(
    ("profile", "expected"),
    [
        ("server", [ExtendedKeyUsageOID.SERVER_AUTH]),
        ("client", [ExtendedKeyUsageOID.CLIENT_AUTH]),
        ("server_client", [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
    ],
)
def test_extended_key_usage_per_profile(profile, expected):
    assert list(extended_key_usage(profile)) == expected


def test_profiles_listed():
    assert PROFILES == ("server", "client", "server_client")


def test_check_profile_rejects():
    with pytest.raises(CertfleetError) as caught:
        check_profile("mail", "requests[web1].profile")

    message = str(caught.value)
    assert "requests[web1].profile='mail'" in message
    assert "server, client, server_client" in message


def test_extended_key_usage_rejects_unknown():
    with pytest.raises(CertfleetError):
        extended_key_usage("code_signing")


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["serverAuth", "clientAuth"], "server_client"),
        (["clientAuth", "serverAuth", "codeSigning"], "server_client"),
        (["serverAuth"], "server"),
        (["clientAuth"], "client"),
        (["codeSigning"], None),
        ([], None),
    ],
)
def test_profile_of(names, expected):
    assert profile_of(names) == expected


def test_profile_satisfied():
    assert profile_satisfied(["serverAuth", "clientAuth"], "server")
    assert profile_satisfied(["serverAuth", "clientAuth"], "server_client")
    assert not profile_satisfied(["serverAuth"], "server_client")
    assert not profile_satisfied(["serverAuth"], "client")
    assert not profile_satisfied([], "server")


def test_eku_name():
    assert eku_name(ExtendedKeyUsageOID.SERVER_AUTH) == "serverAuth"
    assert eku_name(ExtendedKeyUsageOID.OCSP_SIGNING) == "OCSPSigning"
    assert eku_name(ObjectIdentifier("1.3.6.1.4.1.99999.1")) == "1.3.6.1.4.1.99999.1"


def test_key_usage_names_without_agreement():
    usage = key_usage(digital_signature=True, key_encipherment=True)

    assert key_usage_names(usage) == ["digital_signature", "key_encipherment"]


def test_key_usage_names_encipher_only():
    usage = key_usage(key_agreement=True, encipher_only=True)

    assert key_usage_names(usage) == ["key_agreement", "encipher_only"]


def test_key_usage_names_decipher_only():
    usage = key_usage(key_agreement=True, decipher_only=True)

    assert key_usage_names(usage) == ["key_agreement", "decipher_only"]


def test_leaf_key_usage_rsa():
    usage = leaf_key_usage(rsa.generate_private_key(65537, 2048).public_key())

    assert key_usage_names(usage) == ["digital_signature", "key_encipherment"]


def test_leaf_key_usage_ecdsa():
    usage = leaf_key_usage(ec.generate_private_key(ec.SECP256R1()).public_key())

    assert key_usage_names(usage) == ["digital_signature"]


def test_ca_key_usage():
    assert key_usage_names(ca_key_usage()) == ["digital_signature", "key_cert_sign", "crl_sign"]
