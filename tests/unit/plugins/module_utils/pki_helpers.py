"""Constants and builders shared by the module_utils unit tests and their fixtures in conftest.py."""

from __future__ import annotations

import datetime
from typing import NamedTuple

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ansible_collections.certfleet.mtls.plugins.module_utils._builders import build_csr
from ansible_collections.certfleet.mtls.plugins.module_utils._ca_store import CaSettings
from ansible_collections.certfleet.mtls.plugins.module_utils._names import certificate_names
from ansible_collections.certfleet.mtls.plugins.module_utils._time import parse_duration

UTC = datetime.timezone.utc
NOW = datetime.datetime(2030, 1, 15, 12, 0, 0, tzinfo=UTC)
CA_PASSPHRASE = "correct horse battery staple"
POLICY_OPTIONS = {
    "allowed_dns_suffixes": ["example.org"],
    "allowed_ip_networks": ["10.0.0.0/8", "fd00::/8"],
    "allowed_uri_prefixes": ["spiffe://example.org/"],
    "max_validity": "397d",
    "backdate": "1h",
}


class CaDirectory(NamedTuple):
    """A CA directory made by ensure_ca, with the levels it returned and the signer loaded from it."""

    path: str
    levels: dict
    signer: object


class IssuedLeaf(NamedTuple):
    """A leaf certificate issued by sign_requests, with its private key and the issue record."""

    certificate: x509.Certificate
    key: object
    record: dict


def ca_settings(
    intermediate: bool = True,
    key_type: str = "ecdsa-p256",
    root_validity: str = "3650d",
    intermediate_validity: str = "1825d",
) -> CaSettings:
    """Build CaSettings for a test CA named Fleet Root CA, with an optional Fleet Issuing CA."""
    return CaSettings(
        common_name="Fleet Root CA",
        organization="Example Fleet",
        key_type=key_type,
        root_validity=parse_duration(root_validity, "root_validity"),
        intermediate=intermediate,
        intermediate_common_name="Fleet Issuing CA",
        intermediate_validity=parse_duration(intermediate_validity, "intermediate_validity"),
    )


def csr_pem(key, common_name: str | None, sans=(), profile: str = "server_client") -> str:
    """Build a CSR with the project's builder and return it as PEM text."""
    names = certificate_names(common_name, list(sans))
    csr = build_csr(key, common_name, names, profile)
    return csr.public_bytes(serialization.Encoding.PEM).decode("ascii")
