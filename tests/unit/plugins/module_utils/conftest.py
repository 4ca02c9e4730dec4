"""Fixtures shared by the module_utils unit tests: a fixed clock, CA directories, a policy and leaf certificates.

Every function under test gets its time as an explicit aware ``now``. Only the tests
that hand certificates to OpenSSL or to Python's ssl module use the real clock,
because those verifiers check validity against the current time.
"""

from __future__ import annotations

import datetime

import pytest
from cryptography import x509

from ansible_collections.certfleet.mtls.plugins.module_utils._ca_store import ensure_ca, load_signer
from ansible_collections.certfleet.mtls.plugins.module_utils._generations import ensure_layout
from ansible_collections.certfleet.mtls.plugins.module_utils._keys import generate_private_key
from ansible_collections.certfleet.mtls.plugins.module_utils._signer import build_policy, parse_request, sign_requests

from pki_helpers import CA_PASSPHRASE, NOW, POLICY_OPTIONS, CaDirectory, IssuedLeaf, ca_settings, csr_pem


@pytest.fixture
def now() -> datetime.datetime:
    return NOW


@pytest.fixture
def policy():
    return build_policy(dict(POLICY_OPTIONS))


@pytest.fixture
def make_ca(tmp_path):
    """Return a factory that creates a CA directory under tmp_path and loads its signer."""

    def factory(name: str = "ca", now: datetime.datetime = NOW, passphrase: str | None = CA_PASSPHRASE, **settings):
        directory = str(tmp_path / name)
        levels, _warnings, _changed = ensure_ca(directory, ca_settings(**settings), passphrase, now, check_mode=False)
        signer, _load_warnings = load_signer(directory, passphrase)
        return CaDirectory(directory, levels, signer)

    return factory


@pytest.fixture
def ca(make_ca) -> CaDirectory:
    """A CA with a root and an intermediate, created at NOW with ECDSA P-256 keys."""
    return make_ca()


@pytest.fixture
def issue(policy):
    """Return a factory that issues one leaf through parse_request and sign_requests."""

    def factory(
        signer,
        now: datetime.datetime = NOW,
        common_name: str | None = "web1.example.org",
        sans=("DNS:web1.example.org", "IP:10.0.0.5"),
        profile: str = "server_client",
        validity: str = "90d",
        key=None,
        key_type: str = "ecdsa-p256",
        signing_policy=None,
    ) -> IssuedLeaf:
        key = key if key is not None else generate_private_key(key_type)
        entry = {"name": "web1", "csr": csr_pem(key, common_name, sans, profile), "profile": profile, "validity": validity}
        request = parse_request(entry, "90d")
        issued, _warnings = sign_requests([request], signer, signing_policy or policy, now)
        certificate = x509.load_pem_x509_certificate(issued[0]["certificate"].encode("ascii"))
        return IssuedLeaf(certificate, key, issued[0])

    return factory


@pytest.fixture
def directory(tmp_path) -> str:
    """An empty certificate directory with its generations layout."""
    path = str(tmp_path / "tls")
    ensure_layout(path, None, None)
    return path


@pytest.fixture
def leaf(ca, issue):
    """web1's leaf, issued by ``ca`` with a DNS and an IP SAN."""
    return issue(ca.signer, sans=("DNS:web1.example.org", "IP:10.0.0.5"))
