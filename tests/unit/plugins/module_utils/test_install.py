"""Tests for _install: the checks a new certificate passes before it is written, and the clock skew wait."""

from __future__ import annotations

import datetime
import types

import pytest

from ansible_collections.certfleet.mtls.plugins.module_utils import _install
from ansible_collections.certfleet.mtls.plugins.module_utils._certinfo import serial_hex
from ansible_collections.certfleet.mtls.plugins.module_utils._errors import CertfleetError
from ansible_collections.certfleet.mtls.plugins.module_utils._keys import generate_private_key

from pki_helpers import NOW

KEY_SOURCE = "/etc/certfleet/tls/web1/staged/key.pem"
SANS = ["DNS:web1.example.org", "IP:10.0.0.5"]
NO_ISSUER_MESSAGE = (
    "certificate does not chain to ca_bundle: no issuer of 'CN=web1.example.org' (issued by "
    "'CN=Fleet Issuing CA,O=Example Fleet') was found in the chain or the trust bundle; "
    "pass the chain and bundle of the CA that signed it"
)


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch):
    """Make _install read NOW as this host's clock, and record sleeps instead of sleeping."""
    sleeps = []
    monkeypatch.setattr(_install, "utc_now", lambda: NOW)
    monkeypatch.setattr(_install, "time", types.SimpleNamespace(sleep=sleeps.append))
    return sleeps


@pytest.fixture
def leaf(ca, issue):
    return issue(ca.signer)


def check(leaf, ca, **overrides):
    """Run check_new_certificate with every check enabled, as certificate_generation does."""
    arguments = {
        "chain": ca.signer.chain,
        "bundle": ca.signer.bundle,
        "key": leaf.key,
        "key_source": KEY_SOURCE,
        "common_name": "web1.example.org",
        "sans": SANS,
        "profile": "server_client",
    }
    arguments.update(overrides)
    return _install.check_new_certificate(leaf.certificate, **arguments)


def test_check_passes(leaf, ca):
    report = check(leaf, ca)

    assert report["serial"] == serial_hex(leaf.certificate.serial_number)
    assert report["not_after"] == "2030-04-15T12:00:00Z"
    assert report["key_matches"] is True
    assert report["chains_to_bundle"] is True
    assert report["missing_names"] == []


def test_check_wrong_key(leaf, ca):
    with pytest.raises(CertfleetError) as caught:
        check(leaf, ca, key=generate_private_key("ecdsa-p256"))

    serial = serial_hex(leaf.certificate.serial_number)
    assert str(caught.value) == (
        f"certificate (serial {serial}) does not match the private key at {KEY_SOURCE}; sign a CSR made from this key"
    )


def test_check_wrong_chain(leaf, ca, make_ca):
    other = make_ca("other")

    with pytest.raises(CertfleetError) as caught:
        check(leaf, ca, chain=other.signer.chain, bundle=other.signer.bundle)

    # The other CA has the same names, so only the signatures tell its certificates apart.
    assert str(caught.value) == NO_ISSUER_MESSAGE


def test_check_missing_intermediate(leaf, ca):
    with pytest.raises(CertfleetError) as caught:
        check(leaf, ca, chain=[])

    assert str(caught.value) == NO_ISSUER_MESSAGE


def test_check_empty_bundle(leaf, ca):
    with pytest.raises(CertfleetError) as caught:
        check(leaf, ca, bundle=[])

    assert str(caught.value) == (
        "certificate does not chain to ca_bundle: the trust bundle contains no certificate; "
        "pass the chain and bundle of the CA that signed it"
    )


def test_check_missing_names(leaf, ca):
    with pytest.raises(CertfleetError) as caught:
        check(leaf, ca, sans=SANS + ["DNS:api.example.org", "IP:10.0.0.6"])

    assert str(caught.value) == (
        "certificate lacks the requested names DNS:api.example.org, IP:10.0.0.6; request them in the CSR"
    )


def test_check_missing_common_name(leaf, ca):
    with pytest.raises(CertfleetError) as caught:
        check(leaf, ca, common_name="web2.example.org", sans=[])

    assert str(caught.value) == "certificate lacks the requested names DNS:web2.example.org; request them in the CSR"


@pytest.mark.parametrize(
    ("issued_profile", "required_profile", "usages"),
    [
        ("server", "client", "['serverAuth']"),
        ("server", "server_client", "['serverAuth']"),
        ("client", "server", "['clientAuth']"),
    ],
)
def test_check_profile(ca, issue, issued_profile, required_profile, usages):
    leaf = issue(ca.signer, profile=issued_profile)

    with pytest.raises(CertfleetError) as caught:
        check(leaf, ca, profile=required_profile)

    assert str(caught.value) == (
        f"certificate has extended key usages {usages}, which do not cover profile={required_profile}; "
        "sign it with that profile"
    )


def test_check_first_failure_named(ca, issue, make_ca):
    # A certificate that fails every check is rejected for its key first.
    leaf = issue(ca.signer, profile="server")
    other = make_ca("other")

    with pytest.raises(CertfleetError) as caught:
        check(leaf, ca, key=generate_private_key("ecdsa-p256"), bundle=other.signer.bundle,
              sans=["DNS:api.example.org"], profile="client")

    assert "does not match the private key" in str(caught.value)


def test_check_judged_at_not_before(ca, issue):
    # Signed by a CA whose clock is a day ahead: the checks pass, and the wait handles the skew.
    leaf = issue(ca.signer, now=NOW + datetime.timedelta(days=1))

    report = check(leaf, ca)

    assert report["not_before"] == "2030-01-16T11:00:00Z"
    assert report["chains_to_bundle"] is True


def test_wait_not_before_far_ahead(ca, issue, frozen_clock):
    leaf = issue(ca.signer, now=NOW + datetime.timedelta(days=1))

    with pytest.raises(CertfleetError) as caught:
        _install.wait_for_not_before(leaf.certificate, 30)

    assert str(caught.value) == (
        "the certificate is not valid before 2030-01-16T11:00:00Z, but this host's clock reads 2030-01-15T12:00:00Z: "
        "the clocks differ by 82800s, more than clock_skew_wait=30; synchronize the clocks (NTP) of this host "
        "and the CA host, or raise backdate on sign_csr"
    )
    assert frozen_clock == []


def test_wait_not_before_slightly_ahead(ca, issue, frozen_clock):
    # Issued 1h10s ahead of this host's clock with a 1h backdate, so notBefore is 10s ahead.
    leaf = issue(ca.signer, now=NOW + datetime.timedelta(hours=1, seconds=10))

    _install.wait_for_not_before(leaf.certificate, 30)

    assert frozen_clock == [10.0]


def test_wait_not_before_at_limit(ca, issue, frozen_clock):
    leaf = issue(ca.signer, now=NOW + datetime.timedelta(hours=1, seconds=30))

    _install.wait_for_not_before(leaf.certificate, 30)

    assert frozen_clock == [30.0]


def test_wait_not_before_passed(leaf, frozen_clock):
    _install.wait_for_not_before(leaf.certificate, 0)

    assert frozen_clock == []
