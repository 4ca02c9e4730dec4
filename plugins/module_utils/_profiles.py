# Copyright (c) certfleet.mtls contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Certificate profiles and the extensions they set. Private: not a public API."""

from __future__ import annotations

try:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import rsa
except ImportError:
    # Without cryptography, the modules fail in _module.require_cryptography before they call this code.
    pass

from ansible_collections.certfleet.mtls.plugins.module_utils._errors import CertfleetError

# Extended key usage OIDs (RFC 5280, section 4.2.1.12) as dotted strings, so that this
# module imports without cryptography.
SERVER_AUTH = "1.3.6.1.5.5.7.3.1"
CLIENT_AUTH = "1.3.6.1.5.5.7.3.2"

PROFILE_USAGES = {
    "server": (SERVER_AUTH,),
    "client": (CLIENT_AUTH,),
    "server_client": (SERVER_AUTH, CLIENT_AUTH),
}
PROFILES = tuple(PROFILE_USAGES)

_EKU_NAMES = {
    SERVER_AUTH: "serverAuth",
    CLIENT_AUTH: "clientAuth",
    "1.3.6.1.5.5.7.3.3": "codeSigning",
    "1.3.6.1.5.5.7.3.4": "emailProtection",
    "1.3.6.1.5.5.7.3.8": "timeStamping",
    "1.3.6.1.5.5.7.3.9": "OCSPSigning",
}
_KEY_USAGE_FIELDS = (
    "digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
    "key_agreement", "key_cert_sign", "crl_sign",
)


def check_profile(profile: str, option: str = "profile") -> str:
    """Return ``profile`` when it is known, else raise CertfleetError naming the choices."""
    if profile not in PROFILE_USAGES:
        raise CertfleetError(f"{option}={profile!r} is not a profile; use one of {', '.join(PROFILES)}")
    return profile


def extended_key_usage(profile: str) -> x509.ExtendedKeyUsage:
    """Build the EKU extension of a profile."""
    return x509.ExtendedKeyUsage([x509.ObjectIdentifier(oid) for oid in PROFILE_USAGES[check_profile(profile)]])


def profile_of(usage_names: list[str]) -> str | None:
    """Return the narrowest profile that a set of EKU names satisfies, or None."""
    names = set(usage_names)
    if {"serverAuth", "clientAuth"} <= names:
        return "server_client"
    if "serverAuth" in names:
        return "server"
    if "clientAuth" in names:
        return "client"
    return None


def profile_satisfied(usage_names: list[str], profile: str) -> bool:
    """Tell whether EKU names include every usage that ``profile`` needs."""
    required = {_EKU_NAMES[oid] for oid in PROFILE_USAGES[profile]}
    return required <= set(usage_names)


def eku_name(oid) -> str:
    """Name an EKU OID as RFC 5280 does, or return its dotted form."""
    return _EKU_NAMES.get(oid.dotted_string, oid.dotted_string)


def leaf_key_usage(public_key) -> x509.KeyUsage:
    """Build the keyUsage of an end-entity certificate: digitalSignature, plus keyEncipherment for RSA."""
    return x509.KeyUsage(
        digital_signature=True, content_commitment=False,
        key_encipherment=isinstance(public_key, rsa.RSAPublicKey), data_encipherment=False,
        key_agreement=False, key_cert_sign=False, crl_sign=False,
        encipher_only=False, decipher_only=False,
    )


def ca_key_usage() -> x509.KeyUsage:
    """Build the keyUsage of a CA certificate: keyCertSign and cRLSign, plus digitalSignature."""
    return x509.KeyUsage(
        digital_signature=True, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
        encipher_only=False, decipher_only=False,
    )


def key_usage_names(usage: x509.KeyUsage) -> list[str]:
    """List the set bits of a keyUsage.

    cryptography raises when ``encipher_only`` or ``decipher_only`` is read while
    ``key_agreement`` is false, so those two are read only when it is true.
    """
    names = [field for field in _KEY_USAGE_FIELDS if getattr(usage, field)]
    if usage.key_agreement:
        names.extend(field for field in ("encipher_only", "decipher_only") if getattr(usage, field))
    return names
