"""Tests for _names: SAN parsing, the names a certificate carries and the policy's name limits."""

from __future__ import annotations

import ipaddress

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from ansible_collections.certfleet.mtls.plugins.module_utils._errors import CertfleetError
from ansible_collections.certfleet.mtls.plugins.module_utils._names import (
    build_subject,
    certificate_names,
    common_name_of,
    format_san,
    name_allowed,
    parse_san,
)

SPIFFE_ID = "spiffe://example.org/ns/prod/sa/web"


def dns(value: str) -> x509.DNSName:
    return x509.DNSName(value)


def ip(value: str) -> x509.IPAddress:
    return x509.IPAddress(ipaddress.ip_address(value))


def uri(value: str) -> x509.UniformResourceIdentifier:
    return x509.UniformResourceIdentifier(value)


def allowed(name, dns_names=None, dns_suffixes=None, ip_networks=None, uri_prefixes=None) -> bool:
    networks = None if ip_networks is None else [ipaddress.ip_network(value) for value in ip_networks]
    return name_allowed(name, dns_names, dns_suffixes, networks, uri_prefixes)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("DNS:web1.example.org", dns("web1.example.org")),
        ("dns:Web1.Example.ORG", dns("web1.example.org")),
        ("DNS:*.example.org", dns("*.example.org")),
        ("DNS:web1.example.org.", dns("web1.example.org")),
        ("IP:10.0.0.5", ip("10.0.0.5")),
        ("IP:::1", ip("::1")),
        ("ip:fd00::5", ip("fd00::5")),
        (f"URI:{SPIFFE_ID}", uri(SPIFFE_ID)),
        ("EMAIL:ops@example.org", x509.RFC822Name("ops@example.org")),
        (" DNS: web1.example.org ", dns("web1.example.org")),
    ],
)
def test_parse_san_prefixed(value, expected):
    assert parse_san(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("web1.example.org", dns("web1.example.org")),
        ("localhost", dns("localhost")),
        ("10.0.0.5", ip("10.0.0.5")),
        ("::1", ip("::1")),
        ("fe80::1", ip("fe80::1")),
        ("2001:db8::7", ip("2001:db8::7")),
        (SPIFFE_ID, uri(SPIFFE_ID)),
        ("https://web1.example.org/health", uri("https://web1.example.org/health")),
    ],
)
def test_parse_san_bare(value, expected):
    assert parse_san(value) == expected


@pytest.mark.parametrize("value", ["10.0.0.5", "::1", "192.168.1.1"])
def test_parse_san_ip_never_dns(value):
    parsed = parse_san(value)

    assert isinstance(parsed, x509.IPAddress)
    assert not isinstance(parsed, x509.DNSName)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("IP:10.0.0.256", "not a valid IP address"),
        ("IP:web1.example.org", "not a valid IP address"),
        ("IP:10.0.0.0/8", "not a valid IP address"),
        ("URI:not a uri", "not a valid URI"),
        ("URI:example.org/web", "not a valid URI"),
        ("URI:spiffe://", "not a valid URI"),
        ("EMAIL:nobody", "not a valid email address"),
        ("web_1.example.org", "not a valid DNS name"),
        ("-web.example.org", "not a valid DNS name"),
        ("web1..example.org", "not a valid DNS name"),
        ("exa mple.org", "not a valid DNS name"),
        ("web.*.example.org", "not a valid DNS name"),
        ("a" * 64 + ".example.org", "not a valid DNS name"),
        ("", "not a valid DNS name"),
        ("DNS:", "not a valid DNS name"),
    ],
)
def test_parse_san_rejects(value, fragment):
    with pytest.raises(CertfleetError) as caught:
        parse_san(value, "subject_alt_names")

    message = str(caught.value)
    assert f"subject_alt_names entry {value!r}" in message
    assert fragment in message


@pytest.mark.parametrize(
    "name",
    [dns("web1.example.org"), ip("10.0.0.5"), ip("::1"), uri(SPIFFE_ID), x509.RFC822Name("ops@example.org")],
)
def test_format_san_round_trip(name):
    assert parse_san(format_san(name)) == name


def test_format_san_directory_name():
    name = x509.DirectoryName(build_subject("web1", "Example Fleet"))

    assert format_san(name) == "DIRNAME:CN=web1,O=Example Fleet"


def test_certificate_names_adds_cn():
    names = certificate_names("web1.example.org", ["IP:10.0.0.5"])

    assert names == [dns("web1.example.org"), ip("10.0.0.5")]


def test_certificate_names_ip_cn():
    names = certificate_names("10.0.0.5", ["DNS:web1.example.org"])

    assert names == [ip("10.0.0.5"), dns("web1.example.org")]
    assert not any(isinstance(name, x509.DNSName) and name.value == "10.0.0.5" for name in names)


def test_certificate_names_no_duplicates():
    names = certificate_names("Web1.Example.org", ["DNS:web1.example.org", "web1.example.org", "IP:10.0.0.5", "10.0.0.5"])

    assert names == [dns("web1.example.org"), ip("10.0.0.5")]


def test_certificate_names_sans_only():
    assert certificate_names(None, [SPIFFE_ID]) == [uri(SPIFFE_ID)]


def test_certificate_names_invalid_cn():
    with pytest.raises(CertfleetError) as caught:
        certificate_names("web 1", [])

    assert "common_name entry 'web 1'" in str(caught.value)


@pytest.mark.parametrize("sans", [[], None])
def test_certificate_names_requires_one(sans):
    with pytest.raises(CertfleetError) as caught:
        certificate_names(None, sans)

    assert "no names given" in str(caught.value)


def test_build_subject_and_cn():
    subject = build_subject("web1.example.org", "Example Fleet")

    assert common_name_of(subject) == "web1.example.org"
    assert subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Example Fleet"


def test_common_name_missing():
    assert common_name_of(build_subject(None, "Example Fleet")) is None


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("example.org", True),
        ("web1.example.org", True),
        ("a.b.example.org", True),
        ("*.example.org", True),
        ("evilexample.org", False),
        ("example.org.evil.net", False),
        ("org", False),
        ("example.net", False),
    ],
)
def test_name_allowed_suffix(name, expected):
    assert allowed(dns(name), dns_suffixes=["example.org"]) is expected


@pytest.mark.parametrize("suffix", [".example.org", "*.example.org", "Example.ORG"])
def test_name_allowed_suffix_spellings(suffix):
    assert allowed(dns("web1.example.org"), dns_suffixes=[suffix])
    assert not allowed(dns("evilexample.org"), dns_suffixes=[suffix])


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("web1.other.net", True),
        ("web2.other.net", False),
        ("x.web1.other.net", False),
        ("*.web1.other.net", False),
        ("other.net", False),
    ],
)
def test_name_allowed_exact(name, expected):
    assert allowed(dns(name), dns_names=["web1.other.net"]) is expected


def test_name_allowed_exact_wildcard_listed():
    assert allowed(dns("*.web1.other.net"), dns_names=["*.web1.other.net"])


def test_name_allowed_exact_or_suffix():
    assert allowed(dns("web1.other.net"), dns_names=["web1.other.net"], dns_suffixes=["example.org"])
    assert allowed(dns("web2.example.org"), dns_names=["web1.other.net"], dns_suffixes=["example.org"])
    assert not allowed(dns("web2.other.net"), dns_names=["web1.other.net"], dns_suffixes=["example.org"])


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("10.0.0.5", True),
        ("10.255.255.255", True),
        ("11.0.0.1", False),
        ("192.168.1.5", False),
        ("fd00::5", True),
        ("fe80::1", False),
        ("::1", False),
    ],
)
def test_name_allowed_ip_networks(address, expected):
    assert allowed(ip(address), ip_networks=["10.0.0.0/8", "fd00::/8"]) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (SPIFFE_ID, True),
        ("spiffe://example.org/", True),
        ("spiffe://evil.org/ns/prod", False),
        ("spiffe://example.org.evil.net/web", False),
        ("https://example.org/web", False),
    ],
)
def test_name_allowed_uri_prefixes(value, expected):
    assert allowed(uri(value), uri_prefixes=["spiffe://example.org/"]) is expected


@pytest.mark.parametrize("name", [dns("anything.example.net"), ip("192.168.1.5"), uri("https://anywhere/")])
def test_name_allowed_none_no_limit(name):
    assert allowed(name)


def test_name_allowed_empty_allows_none():
    assert not allowed(dns("web1.example.org"), dns_names=[], dns_suffixes=[])
    assert not allowed(dns("web1.example.org"), dns_names=[])
    assert not allowed(dns("web1.example.org"), dns_suffixes=[])
    assert not allowed(ip("10.0.0.5"), ip_networks=[])
    assert not allowed(uri(SPIFFE_ID), uri_prefixes=[])


def test_name_allowed_limits_per_kind():
    # A DNS limit leaves IP addresses and URIs unlimited, and the other way round.
    assert allowed(ip("192.168.1.5"), dns_suffixes=["example.org"])
    assert allowed(uri(SPIFFE_ID), ip_networks=[])
    assert allowed(dns("web1.example.net"), ip_networks=[], uri_prefixes=[])


def test_name_allowed_email_never():
    assert not allowed(x509.RFC822Name("ops@example.org"))
