# Copyright (c) certfleet.mtls contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Subject names and subjectAltNames. Private: not a public API."""

from __future__ import annotations

import ipaddress
import re

try:
    from cryptography import x509
    from cryptography.x509.oid import NameOID
except ImportError:
    # Without cryptography, the modules fail in _module.require_cryptography before they call this code.
    pass

from ansible_collections.certfleet.mtls.plugins.module_utils._errors import CertfleetError

# A DNS name of letters, digits and hyphens, optionally starting with one "*." label.
_DNS_NAME = re.compile(r"(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?")
_URI = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://\S+")


def parse_san(value: str, option: str = "subject_alt_names") -> x509.GeneralName:
    """Parse one SAN such as ``DNS:web1``, ``IP:10.0.0.5`` or ``URI:spiffe://example.org/web``.

    A value without a prefix is an IP address if it parses as one, a URI if it has a
    scheme, and a DNS name otherwise: IP literals never become DNS names, because
    verifiers do not match an IP address against a DNS SAN.
    """
    text = str(value).strip()
    kind, separator, rest = text.partition(":")
    kind = kind.upper()
    if separator and kind in ("DNS", "IP", "URI", "EMAIL"):
        text = rest.strip()
    else:
        kind = _guess_kind(text)

    if kind == "IP":
        try:
            return x509.IPAddress(ipaddress.ip_address(text))
        except ValueError:
            raise CertfleetError(f"{option} entry {value!r} is not a valid IP address") from None
    if kind == "URI":
        if not _URI.fullmatch(text):
            raise CertfleetError(
                f"{option} entry {value!r} is not a valid URI; use a scheme such as "
                "'URI:spiffe://example.org/service'"
            )
        return x509.UniformResourceIdentifier(text)
    if kind == "EMAIL":
        if "@" not in text:
            raise CertfleetError(f"{option} entry {value!r} is not a valid email address")
        return x509.RFC822Name(text)
    return x509.DNSName(_check_dns_name(text.lower(), value, option))


def _guess_kind(text: str) -> str:
    try:
        ipaddress.ip_address(text)
        return "IP"
    except ValueError:
        pass
    return "URI" if "://" in text else "DNS"


def _check_dns_name(name: str, original: object, option: str) -> str:
    if len(name) > 253 or not _DNS_NAME.fullmatch(name):
        raise CertfleetError(
            f"{option} entry {original!r} is not a valid DNS name; use letters, digits, hyphens "
            "and dots, or prefix the value with IP: or URI:"
        )
    return name.rstrip(".")


def format_san(name: x509.GeneralName) -> str:
    """Format a SAN in the ``TYPE:value`` form that parse_san accepts."""
    if isinstance(name, x509.DNSName):
        return f"DNS:{name.value}"
    if isinstance(name, x509.IPAddress):
        return f"IP:{name.value}"
    if isinstance(name, x509.UniformResourceIdentifier):
        return f"URI:{name.value}"
    if isinstance(name, x509.RFC822Name):
        return f"EMAIL:{name.value}"
    if isinstance(name, x509.DirectoryName):
        return f"DIRNAME:{name.value.rfc4514_string()}"
    if isinstance(name, x509.OtherName):
        return f"OTHERNAME:{name.type_id.dotted_string}"
    return f"{type(name).__name__}:{getattr(name, 'value', '')}"


def certificate_names(common_name: str | None, sans: list[str], option: str = "subject_alt_names") -> list[x509.GeneralName]:
    """Return the SANs a certificate must carry: the given ones plus the CN, without duplicates.

    Go (since 1.15), Python and browsers ignore the CN when matching names, so the CN
    is always repeated as a SAN: a DNS SAN, or an IP SAN when it is an IP literal.
    """
    names: list[x509.GeneralName] = []
    if common_name:
        names.append(parse_san(common_name, "common_name"))
    for value in sans or []:
        names.append(parse_san(value, option))
    unique: list[x509.GeneralName] = []
    for name in names:
        if name not in unique:
            unique.append(name)
    if not unique:
        raise CertfleetError(
            "no names given; set common_name or subject_alt_names so the certificate carries a SAN"
        )
    return unique


def build_subject(common_name: str | None, organization: str | None = None) -> x509.Name:
    """Build a subject Name from a CN and an optional organization."""
    attributes = []
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    if common_name:
        attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


def common_name_of(name: x509.Name) -> str | None:
    """Return the first CN of a Name as text, or None."""
    values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not values:
        return None
    value = values[0].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def name_allowed(name: x509.GeneralName, dns_names, dns_suffixes, ip_networks, uri_prefixes) -> bool:
    """Tell whether a SAN falls inside the policy's allowed names.

    A policy list of None places no limit on that kind of name; an empty list allows none.
    """
    if isinstance(name, x509.DNSName):
        if dns_names is None and dns_suffixes is None:
            return True
        value = name.value.lower()
        # An exact name allows only itself: "web1" does not allow "*.web1", which would
        # cover every name under it. A suffix allows the wildcards under it.
        if value in (dns_names or []):
            return True
        if value.startswith("*."):
            value = value[2:]
        return any(value == suffix or value.endswith("." + suffix) for suffix in _clean_suffixes(dns_suffixes))
    if isinstance(name, x509.IPAddress):
        if ip_networks is None:
            return True
        return any(name.value in network for network in ip_networks)
    if isinstance(name, x509.UniformResourceIdentifier):
        if uri_prefixes is None:
            return True
        return any(name.value.startswith(prefix) for prefix in uri_prefixes)
    return False


def _clean_suffixes(suffixes) -> list[str]:
    return [suffix.lower().lstrip("*").lstrip(".") for suffix in suffixes or []]
