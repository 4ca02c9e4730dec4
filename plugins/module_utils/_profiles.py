# Copyright (c) certfleet.mtls contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Certificate profiles and the extensions they set. Private: not a public API."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from ansible_collections.certfleet.mtls.plugins.module_utils._errors import CertfleetError

PROFILE_USAGES = {
    "server": (ExtendedKeyUsageOID.SERVER_AUTH,),
    "client": (ExtendedKeyUsageOID.CLIENT_AUTH,),
    "server_client": (ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH),
}
PROFILES = tuple(PROFILE_USAGES)

_EKU_NAMES = {
    ExtendedKeyUsageOID.SERVER_AUTH.dotted_string: "serverAuth",
    ExtendedKeyUsageOID.CLIENT_AUTH.dotted_string: "clientAuth",
    ExtendedKeyUsageOID.CODE_SIGNING.dotted_string: "codeSigning",
    ExtendedKeyUsageOID.EMAIL_PROTECTION.dotted_string: "emailProtection",
    ExtendedKeyUsageOID.TIME_STAMPING.dotted_string: "timeStamping",
    ExtendedKeyUsageOID.OCSP_SIGNING.dotted_string: "OCSPSigning",
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
    return x509.ExtendedKeyUsage(list(PROFILE_USAGES[check_profile(profile)]))


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
    required = {eku_name(oid) for oid in PROFILE_USAGES[profile]}
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
