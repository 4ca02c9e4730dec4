# Copyright (c) certfleet.mtls contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Certificate chains: signature checks, path building and path checks. Private: not a public API.

cryptography gained a verifier only in release 42, and the managed hosts may run 38,
so the collection builds and checks paths itself. The checks are the ones a mutual
TLS deployment depends on: each signature verifies, each issuer is a CA allowed to
sign certificates, each certificate is within its validity, and the path ends at a
certificate of the trust bundle.
"""

from __future__ import annotations

import datetime

try:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
except ImportError:
    # Without cryptography, the modules fail in _module.require_cryptography before they call this code.
    pass

from ansible_collections.certfleet.mtls.plugins.module_utils._errors import CertfleetError
from ansible_collections.certfleet.mtls.plugins.module_utils._time import (
    certificate_not_after,
    certificate_not_before,
    format_time,
)

MAX_CHAIN_LENGTH = 8


def fingerprint(certificate: x509.Certificate) -> bytes:
    """Return a certificate's SHA-256 fingerprint."""
    return certificate.fingerprint(hashes.SHA256())


def verify_signature(issuer_public_key, certificate: x509.Certificate) -> bool:
    """Tell whether ``issuer_public_key`` made the signature on ``certificate``.

    RSA-PSS signatures are not checked and count as not verified.
    """
    signature = certificate.signature
    data = certificate.tbs_certificate_bytes
    try:
        if isinstance(issuer_public_key, rsa.RSAPublicKey):
            issuer_public_key.verify(signature, data, padding.PKCS1v15(), certificate.signature_hash_algorithm)
        elif isinstance(issuer_public_key, ec.EllipticCurvePublicKey):
            issuer_public_key.verify(signature, data, ec.ECDSA(certificate.signature_hash_algorithm))
        elif isinstance(issuer_public_key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
            issuer_public_key.verify(signature, data)
        else:
            return False
    except (InvalidSignature, UnsupportedAlgorithm, ValueError, TypeError):
        return False
    return True


def is_issued_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Tell whether ``issuer``'s name and key match ``certificate``'s issuer and signature."""
    return certificate.issuer == issuer.subject and verify_signature(issuer.public_key(), certificate)


def build_chain(leaf: x509.Certificate, intermediates: list, anchors: list) -> list:
    """Return the path from ``leaf`` to a trust anchor, leaf first and anchor last.

    The walk stops at an anchor, at a self-issued certificate or at a certificate it
    has already visited, so a root passed among the intermediates or a cross-signing
    cycle ends in a result or a clear error, never in an endless loop.
    """
    anchor_prints = {fingerprint(anchor) for anchor in anchors}
    if fingerprint(leaf) in anchor_prints:
        return [leaf]

    path = [leaf]
    seen = {fingerprint(leaf)}
    current = leaf
    while len(path) <= MAX_CHAIN_LENGTH:
        anchor = _find_issuer(current, anchors)
        if anchor is not None:
            return path + [anchor]
        if current.issuer == current.subject:
            raise CertfleetError(
                f"the chain ends at the root '{current.subject.rfc4514_string()}', which is not "
                "in the trust bundle; install the bundle of the CA that issued the certificate"
            )
        issuer = _find_issuer(current, [cert for cert in intermediates if fingerprint(cert) not in seen])
        if issuer is None:
            raise CertfleetError(
                f"no issuer of '{current.subject.rfc4514_string()}' (issued by "
                f"'{current.issuer.rfc4514_string()}') was found in the chain or the trust bundle"
            )
        path.append(issuer)
        seen.add(fingerprint(issuer))
        current = issuer
    raise CertfleetError(f"the chain is longer than {MAX_CHAIN_LENGTH} certificates")


def _find_issuer(certificate: x509.Certificate, candidates: list):
    for candidate in candidates:
        if is_issued_by(certificate, candidate):
            return candidate
    return None


def check_path(path: list, now: datetime.datetime) -> list[str]:
    """List what is wrong with a built path at time ``now``; an empty list means it is valid."""
    problems = []
    for certificate in path:
        subject = certificate.subject.rfc4514_string()
        if now < certificate_not_before(certificate):
            problems.append(f"'{subject}' is not valid before {format_time(certificate_not_before(certificate))}")
        if now > certificate_not_after(certificate):
            problems.append(f"'{subject}' expired at {format_time(certificate_not_after(certificate))}")
    for issuer in path[1:]:
        problems.extend(_issuer_problems(issuer))
    return problems


def _issuer_problems(issuer: x509.Certificate) -> list[str]:
    subject = issuer.subject.rfc4514_string()
    try:
        constraints = issuer.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return [f"the issuer '{subject}' has no basicConstraints, so it is not a CA"]
    except ValueError as error:
        return [f"the issuer '{subject}' has an extension that cannot be parsed: {error}"]
    if not constraints.ca:
        return [f"the issuer '{subject}' is not a CA (basicConstraints CA is false)"]
    try:
        usage = issuer.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return []
    if not usage.key_cert_sign:
        return [f"the issuer '{subject}' lacks the keyCertSign key usage"]
    return []
