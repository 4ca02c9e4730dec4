# Copyright (c) certfleet.mtls contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Building CSRs and certificates to an RFC 5280 profile. Private: not a public API.

Every certificate gets the extensions strict verifiers need (Python 3.13's default
context, ``openssl verify -x509_strict``, Go's crypto/x509): CAs carry a critical
basicConstraints with a path length, keyCertSign and cRLSign, and an SKI; every
certificate signed by a CA carries an AKI equal to the issuer's SKI; leaf
certificates always carry SANs and the EKUs of their profile.
"""

from __future__ import annotations

import datetime
import secrets

try:
    from cryptography import x509
except ImportError:
    # Without cryptography, the modules fail in _module.require_cryptography before they call this code.
    pass

from ansible_collections.certfleet.mtls.plugins.module_utils._keys import signature_hash
from ansible_collections.certfleet.mtls.plugins.module_utils._names import build_subject
from ansible_collections.certfleet.mtls.plugins.module_utils._profiles import (
    ca_key_usage,
    extended_key_usage,
    leaf_key_usage,
)

# Serials are 159 random bits with the top one set: positive, at least 2^158, below
# 2^159, so they fit the 20 octets RFC 5280 allows and carry 158 bits of entropy.
SERIAL_BITS = 159


def random_serial() -> int:
    """Return a random positive serial number with 158 bits of entropy."""
    return secrets.randbits(SERIAL_BITS - 1) | (1 << (SERIAL_BITS - 1))


def build_csr(private_key, common_name: str | None, names: list, profile: str, organization: str | None = None):
    """Build and sign a CSR that requests ``names`` as SANs and the EKUs of ``profile``."""
    builder = x509.CertificateSigningRequestBuilder().subject_name(build_subject(common_name, organization))
    builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=not common_name)
    builder = builder.add_extension(extended_key_usage(profile), critical=False)
    return builder.sign(private_key, signature_hash(private_key))


def authority_key_identifier(issuer: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    """Build an AKI equal to the issuer's SKI, computing the SKI when the issuer lacks one."""
    try:
        ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)
    except x509.ExtensionNotFound:
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.public_key())


def build_ca_certificate(
    private_key,
    common_name: str,
    organization: str | None,
    not_before: datetime.datetime,
    not_after: datetime.datetime,
    path_length: int | None,
    issuer: x509.Certificate | None = None,
    issuer_key=None,
) -> x509.Certificate:
    """Build a CA certificate: self-signed when ``issuer`` is None, else signed by the issuer."""
    public_key = private_key.public_key()
    subject = build_subject(common_name, organization)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject if issuer is not None else subject)
        .public_key(public_key)
        .serial_number(random_serial())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(ca_key_usage(), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
    if issuer is not None:
        builder = builder.add_extension(authority_key_identifier(issuer), critical=False)
    signer = issuer_key if issuer is not None else private_key
    return builder.sign(signer, signature_hash(signer))


def build_leaf_certificate(
    public_key,
    common_name: str | None,
    names: list,
    profile: str,
    issuer: x509.Certificate,
    issuer_key,
    not_before: datetime.datetime,
    not_after: datetime.datetime,
) -> x509.Certificate:
    """Build an end-entity certificate for ``public_key`` signed by the issuing CA."""
    builder = (
        x509.CertificateBuilder()
        .subject_name(build_subject(common_name))
        .issuer_name(issuer.subject)
        .public_key(public_key)
        .serial_number(random_serial())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(leaf_key_usage(public_key), critical=True)
        .add_extension(extended_key_usage(profile), critical=False)
        .add_extension(x509.SubjectAlternativeName(names), critical=not common_name)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(authority_key_identifier(issuer), critical=False)
    )
    return builder.sign(issuer_key, signature_hash(issuer_key))
