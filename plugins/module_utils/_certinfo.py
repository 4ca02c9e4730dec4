# Copyright (c) certfleet.mtls contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Loading certificates and reporting on them without tracebacks. Private: not a public API.

Certificates from other CAs can be odd: negative serials, DER that encodes default
values, unknown extensions. Reading such a certificate does not raise here: what cannot be read is
listed in ``problems`` and, for extensions, in ``bad_extensions`` by OID.
"""

from __future__ import annotations

import datetime
import re
import warnings

try:
    from cryptography import x509
except ImportError:
    # Without cryptography, the modules fail in _module.require_cryptography before they call this code.
    pass

from ansible_collections.certfleet.mtls.plugins.module_utils import _der
from ansible_collections.certfleet.mtls.plugins.module_utils._errors import CertfleetError
from ansible_collections.certfleet.mtls.plugins.module_utils._keys import describe_key, public_key_fingerprint
from ansible_collections.certfleet.mtls.plugins.module_utils._names import common_name_of, format_san
from ansible_collections.certfleet.mtls.plugins.module_utils._profiles import eku_name, key_usage_names
from ansible_collections.certfleet.mtls.plugins.module_utils._time import (
    certificate_not_after,
    certificate_not_before,
    format_time,
)

_CERTIFICATE_BLOCK = re.compile(
    rb"-----BEGIN CERTIFICATE-----\r?\n.*?-----END CERTIFICATE-----", re.DOTALL
)
_EXTENSION_REQUEST_OID = "1.2.840.113549.1.9.14"
_ECDSA_SHA256_OID = "1.2.840.10045.4.3.2"


def load_certificates(data: bytes, source: str) -> tuple[list, list[str]]:
    """Load every PEM certificate in ``data`` and return ``(certificates, problems)``.

    Warnings that cryptography emits while loading (a negative serial, for example)
    become problems instead of exceptions, even under ``-W error``. Raises
    CertfleetError when a block does not parse.
    """
    certificates = []
    problems: list[str] = []
    for index, match in enumerate(_CERTIFICATE_BLOCK.finditer(data)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                certificate = x509.load_pem_x509_certificate(match.group(0))
                certificate.serial_number  # noqa: B018 (some releases warn on first access)
            except ValueError as error:
                raise CertfleetError(f"{source}: certificate number {index + 1} cannot be parsed: {error}") from None
        problems.extend(f"{source}: {warning.message}" for warning in caught)
        certificates.append(certificate)
    return certificates, problems


def load_one_certificate(data: bytes, source: str) -> tuple[x509.Certificate, list[str]]:
    """Load the first PEM certificate of ``data``; raise CertfleetError when there is none."""
    certificates, problems = load_certificates(data, source)
    if not certificates:
        raise CertfleetError(f"{source} contains no PEM certificate (expected a '-----BEGIN CERTIFICATE-----' block)")
    return certificates[0], problems


def read_extensions(certificate: x509.Certificate) -> tuple[x509.Extensions | None, list[str], str | None]:
    """Return ``(extensions, bad_extension_oids, error)``; extensions is None when they cannot be parsed."""
    try:
        return certificate.extensions, [], None
    except ValueError as error:
        return None, find_bad_extensions(certificate), str(error)


def find_bad_extensions(certificate: x509.Certificate) -> list[str]:
    """Return the OIDs of the extensions that cryptography cannot parse.

    Each extension is parsed on its own by wrapping it in a minimal, unsigned CSR,
    because cryptography parses a certificate's extensions all at once.
    """
    try:
        raw_extensions = _raw_extensions(certificate.tbs_certificate_bytes)
    except (ValueError, StopIteration):
        return []
    public_key_info = _raw_public_key_info(certificate.tbs_certificate_bytes)
    bad = []
    for oid, encoded in raw_extensions:
        request = _request_with_extension(public_key_info, encoded)
        try:
            x509.load_der_x509_csr(request).extensions
        except ValueError:
            bad.append(oid)
    return bad


def _tbs_children(tbs: bytes) -> list:
    outer, _end = _der.read_element(tbs)
    return list(_der.iterate_children(outer.content))


def _raw_extensions(tbs: bytes) -> list[tuple[str, bytes]]:
    for child in _tbs_children(tbs):
        if child.tag == 0xA3:
            sequence = next(_der.iterate_children(child.content))
            result = []
            for extension in _der.iterate_children(sequence.content):
                oid = next(_der.iterate_children(extension.content))
                result.append((_der.decode_oid(oid.content), extension.encoded))
            return result
    return []


def _raw_public_key_info(tbs: bytes) -> bytes:
    # TBSCertificate: [0] version, serial, signature, issuer, validity, subject, SPKI.
    children = _tbs_children(tbs)
    offset = 1 if children[0].tag == 0xA0 else 0
    return children[offset + 5].encoded


def _request_with_extension(public_key_info: bytes, extension: bytes) -> bytes:
    extensions = _der.encode_element(_der.TAG_SEQUENCE, extension)
    attribute = _der.encode_element(
        _der.TAG_SEQUENCE,
        _der.encode_oid(_EXTENSION_REQUEST_OID) + _der.encode_element(_der.TAG_SET, extensions),
    )
    info = _der.encode_element(
        _der.TAG_SEQUENCE,
        _der.encode_element(_der.TAG_INTEGER, b"\x00")
        + _der.encode_element(_der.TAG_SEQUENCE, b"")
        + public_key_info
        + _der.encode_element(0xA0, attribute),
    )
    algorithm = _der.encode_element(_der.TAG_SEQUENCE, _der.encode_oid(_ECDSA_SHA256_OID))
    signature = _der.encode_element(_der.TAG_BIT_STRING, b"\x00\x00")
    return _der.encode_element(_der.TAG_SEQUENCE, info + algorithm + signature)


def certificate_sans(extensions: x509.Extensions | None) -> list[str]:
    """Return a certificate's SANs in ``TYPE:value`` form; empty when it has none."""
    if extensions is None:
        return []
    try:
        names = extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [format_san(name) for name in names]


def certificate_ekus(extensions: x509.Extensions | None) -> list[str]:
    """Return a certificate's extended key usages by name; empty when it has none."""
    if extensions is None:
        return []
    try:
        usages = extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return []
    return [eku_name(oid) for oid in usages]


def serial_hex(serial: int) -> str:
    """Format a serial number as lowercase hex, with a minus sign when it is negative."""
    return ("-" if serial < 0 else "") + format(abs(serial), "x")


def certificate_report(certificate: x509.Certificate, now: datetime.datetime) -> dict:
    """Describe a certificate as plain data for a module result; does not raise on the odd inputs above."""
    not_before = certificate_not_before(certificate)
    not_after = certificate_not_after(certificate)
    lifetime = (not_after - not_before).total_seconds()
    seconds_left = int((not_after - now).total_seconds())
    extensions, bad_extensions, extension_error = read_extensions(certificate)
    problems = []
    if extension_error:
        problems.append(f"extensions cannot be parsed ({extension_error}); bad OIDs: {', '.join(bad_extensions) or 'unknown'}")
    with warnings.catch_warnings():
        # cryptography warns on every read of a negative serial (38) or a non-positive one
        # (50), so under "-W error" the read would raise. The check below reports it instead.
        warnings.simplefilter("ignore")
        serial = certificate.serial_number
    if serial <= 0:
        problems.append(f"serial number {serial} is not positive, which RFC 5280 forbids")

    report = {
        "subject": certificate.subject.rfc4514_string(),
        "common_name": common_name_of(certificate.subject),
        "issuer": certificate.issuer.rfc4514_string(),
        "serial": serial_hex(serial),
        "not_before": format_time(not_before),
        "not_after": format_time(not_after),
        "seconds_left": seconds_left,
        "lifetime_seconds": int(lifetime),
        "fraction_left": round(max(0.0, min(1.0, seconds_left / lifetime)), 4) if lifetime > 0 else 0.0,
        "expired": now > not_after,
        "not_yet_valid": now < not_before,
        "subject_alt_names": certificate_sans(extensions),
        "extended_key_usage": certificate_ekus(extensions),
        "key_usage": [],
        "is_ca": False,
        "public_key_type": describe_key(certificate.public_key()),
        "public_key_fingerprint": public_key_fingerprint(certificate.public_key()),
        "bad_extensions": bad_extensions,
        "problems": problems,
    }
    if extensions is not None:
        report.update(_constraint_fields(extensions))
    return report


def _constraint_fields(extensions: x509.Extensions) -> dict:
    fields: dict = {}
    try:
        fields["is_ca"] = extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        pass
    try:
        fields["key_usage"] = key_usage_names(extensions.get_extension_for_class(x509.KeyUsage).value)
    except x509.ExtensionNotFound:
        pass
    return fields
