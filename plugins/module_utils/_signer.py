# Copyright (c) certfleet.mtls contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checking CSRs against the issuing policy and signing them in one batch. Private: not a public API."""

from __future__ import annotations

import datetime
import ipaddress
import os
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
except ImportError:
    # Without cryptography, the modules fail in _module.require_cryptography before they call this code.
    pass

from ansible_collections.certfleet.mtls.plugins.module_utils._builders import build_leaf_certificate
from ansible_collections.certfleet.mtls.plugins.module_utils._ca_store import Signer
from ansible_collections.certfleet.mtls.plugins.module_utils._certinfo import serial_hex
from ansible_collections.certfleet.mtls.plugins.module_utils._errors import CertfleetError
from ansible_collections.certfleet.mtls.plugins.module_utils._keys import KEY_TYPES, check_key_policy
from ansible_collections.certfleet.mtls.plugins.module_utils._names import (
    certificate_names,
    common_name_of,
    format_san,
    name_allowed,
)
from ansible_collections.certfleet.mtls.plugins.module_utils._profiles import PROFILES, check_profile, eku_name, profile_of
from ansible_collections.certfleet.mtls.plugins.module_utils._time import (
    certificate_not_after,
    certificate_not_before,
    format_duration,
    format_time,
    parse_duration,
)


class Policy(NamedTuple):
    """Issuing policy of the CA. A name list of None places no limit on that kind of name."""

    allowed_key_types: tuple
    allowed_profiles: tuple
    allowed_dns_names: frozenset | None
    allowed_dns_suffixes: tuple | None
    allowed_ip_networks: tuple | None
    allowed_uri_prefixes: tuple | None
    max_validity: datetime.timedelta
    backdate: datetime.timedelta


class Request(NamedTuple):
    """One CSR to sign: an identifier for messages (usually the host name), the CSR, profile and validity."""

    name: str
    csr: x509.CertificateSigningRequest
    profile: str
    validity: datetime.timedelta


def build_policy(options: dict) -> Policy:
    """Build a Policy from module options, raising CertfleetError on invalid values."""
    networks = options.get("allowed_ip_networks")
    if networks is not None:
        parsed = []
        for value in networks:
            try:
                parsed.append(ipaddress.ip_network(value, strict=False))
            except ValueError:
                raise CertfleetError(f"allowed_ip_networks entry {value!r} is not an IP network such as 10.0.0.0/8") from None
        networks = tuple(parsed)
    for key_type in options.get("allowed_key_types") or KEY_TYPES:
        if key_type not in KEY_TYPES:
            raise CertfleetError(f"allowed_key_types entry {key_type!r} is not a key type; use {', '.join(KEY_TYPES)}")
    for profile in options.get("allowed_profiles") or PROFILES:
        check_profile(profile, "allowed_profiles")
    return Policy(
        allowed_key_types=tuple(options.get("allowed_key_types") or KEY_TYPES),
        allowed_profiles=tuple(options.get("allowed_profiles") or PROFILES),
        # A set, because a fleet-wide batch checks thousands of names against thousands of hosts.
        allowed_dns_names=_optional_set(options.get("allowed_dns_names")),
        allowed_dns_suffixes=_optional_tuple(options.get("allowed_dns_suffixes"), str.lower),
        allowed_ip_networks=networks,
        allowed_uri_prefixes=_optional_tuple(options.get("allowed_uri_prefixes"), str),
        max_validity=parse_duration(options["max_validity"], "max_validity"),
        backdate=_parse_backdate(options.get("backdate")),
    )


def _optional_set(values) -> frozenset | None:
    return None if values is None else frozenset(str(value).lower() for value in values)


def _optional_tuple(values, convert):
    return None if values is None else tuple(convert(str(value)) for value in values)


def _parse_backdate(value) -> datetime.timedelta:
    if value in (None, 0, "0", "0s"):
        return datetime.timedelta(0)
    return parse_duration(value, "backdate")


def parse_request(entry: dict, default_validity: str) -> Request:
    """Load one request entry (``name``, ``csr``, optional ``profile`` and ``validity``)."""
    name = str(entry.get("name") or "request")
    data = entry.get("csr")
    if not data:
        raise CertfleetError(f"requests[{name}]: csr is missing; pass the PEM that certfleet.mtls.csr returned")
    try:
        csr = x509.load_pem_x509_csr(str(data).encode("utf-8"))
    except ValueError as error:
        raise CertfleetError(
            f"requests[{name}]: csr is not a valid PEM certificate signing request ({error}); "
            "build it again with certfleet.mtls.csr"
        ) from None
    profile = entry.get("profile") or _requested_profile(csr, name) or "server_client"
    validity = parse_duration(entry.get("validity") or default_validity, f"requests[{name}].validity")
    return Request(name, csr, check_profile(profile, f"requests[{name}].profile"), validity)


def _requested_profile(csr: x509.CertificateSigningRequest, name: str) -> str | None:
    try:
        usages = csr.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return None
    except ValueError as error:
        raise CertfleetError(f"requests[{name}]: the CSR's extensions cannot be parsed ({error})") from None
    return profile_of([eku_name(oid) for oid in usages])


def check_request(request: Request, policy: Policy) -> list:
    """Check a request against the policy and return the SANs to issue; raise CertfleetError when it fails."""
    source = f"requests[{request.name}]"
    if not request.csr.is_signature_valid:
        raise CertfleetError(
            f"{source}: the CSR signature does not verify, so the CSR was altered or not signed by "
            "its key; build it again with certfleet.mtls.csr"
        )
    check_key_policy(request.csr.public_key(), policy.allowed_key_types, f"{source}: the CSR")
    if request.profile not in policy.allowed_profiles:
        raise CertfleetError(
            f"{source}: profile {request.profile!r} is not allowed by the policy; allowed profiles "
            f"are {', '.join(policy.allowed_profiles)}"
        )

    names = certificate_names(common_name_of(request.csr.subject), _csr_sans(request, source), f"{source} SAN")
    for name in names:
        if not name_allowed(
            name, policy.allowed_dns_names, policy.allowed_dns_suffixes,
            policy.allowed_ip_networks, policy.allowed_uri_prefixes,
        ):
            raise CertfleetError(
                f"{source}: the name {format_san(name)} is outside the policy ({_describe_limits(policy)}); "
                "request only allowed names or extend the policy"
            )
    return names


def _csr_sans(request: Request, source: str) -> list[str]:
    try:
        names = request.csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    except ValueError as error:
        raise CertfleetError(f"{source}: the CSR's extensions cannot be parsed ({error})") from None
    return [format_san(name) for name in names]


def _describe_limits(policy: Policy) -> str:
    parts = []
    if policy.allowed_dns_names is not None:
        parts.append(f"DNS names {', '.join(sorted(policy.allowed_dns_names)) or 'none'}")
    if policy.allowed_dns_suffixes is not None:
        parts.append(f"DNS suffixes {', '.join(policy.allowed_dns_suffixes) or 'none'}")
    if policy.allowed_ip_networks is not None:
        parts.append(f"IP networks {', '.join(str(net) for net in policy.allowed_ip_networks) or 'none'}")
    if policy.allowed_uri_prefixes is not None:
        parts.append(f"URI prefixes {', '.join(policy.allowed_uri_prefixes) or 'none'}")
    return "allowed: " + "; ".join(parts) if parts else "no names allowed"


# cryptography releases the GIL while it verifies a CSR signature and while it signs,
# so threads use every core of the CA host. With cryptography 50 on two cores, two
# threads verify 10,000 P-256 CSRs in half the time of one. The threshold is an
# estimate of where starting the pool stops paying off.
PARALLEL_MIN_REQUESTS = 64
MAX_SIGNING_THREADS = 8


def _available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _map_in_order(function, items: list) -> list:
    """Apply function to each item and return the results in item order.

    A large batch is cut into one contiguous slice per thread. Either way the exception
    of the first failing item, in item order, is raised, as a plain loop raises it.
    """
    threads = min(_available_cpus(), MAX_SIGNING_THREADS)
    if len(items) < PARALLEL_MIN_REQUESTS or threads < 2:
        return [function(item) for item in items]
    size = -(-len(items) // threads)
    slices = [items[start:start + size] for start in range(0, len(items), size)]
    with ThreadPoolExecutor(max_workers=len(slices)) as pool:
        futures = [pool.submit(lambda part: [function(item) for item in part], part) for part in slices]
        return [result for future in futures for result in future.result()]


def sign_requests(requests: list, signer: Signer, policy: Policy, now: datetime.datetime) -> tuple[list, list[str]]:
    """Check every request, then sign them all; return ``(issued, warnings)``.

    Every request is checked before the first is signed, so a rejected request means
    nothing was issued.
    """
    checked = _map_in_order(lambda request: (request, check_request(request, policy)), requests)
    issuer_not_after = certificate_not_after(signer.certificate)
    not_before = now - policy.backdate
    warnings = []
    to_sign = []
    for request, names in checked:
        validity = request.validity
        if validity > policy.max_validity:
            warnings.append(
                f"requests[{request.name}]: validity {format_duration(validity)} is capped at "
                f"max_validity {format_duration(policy.max_validity)}"
            )
            validity = policy.max_validity
        not_after = now + validity
        if not_after > issuer_not_after:
            warnings.append(
                f"requests[{request.name}]: notAfter is cut to the issuing CA's notAfter {format_time(issuer_not_after)}"
            )
            not_after = issuer_not_after
        to_sign.append((request, names, not_after))

    def issue(job) -> dict:
        request, names, not_after = job
        certificate = build_leaf_certificate(
            request.csr.public_key(), common_name_of(request.csr.subject), names, request.profile,
            signer.certificate, signer.key, not_before, not_after,
        )
        return _describe_issued(request, certificate)

    return _map_in_order(issue, to_sign), warnings


def _describe_issued(request: Request, certificate: x509.Certificate) -> dict:
    return {
        "name": request.name,
        "certificate": certificate.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        "serial": serial_hex(certificate.serial_number),
        "profile": request.profile,
        "not_before": format_time(certificate_not_before(certificate)),
        "not_after": format_time(certificate_not_after(certificate)),
    }
