# Copyright (c) certfleet.mtls contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One execution per host: check the certificate in use and prepare a request when due.

Private: not a public API. A host where nothing is due costs a single module
execution, and a host that needs a certificate gets its staged key and CSR from the
same execution.
"""

from __future__ import annotations

import datetime
from typing import NamedTuple

try:
    from cryptography.hazmat.primitives import serialization
except ImportError:
    # Without cryptography, the modules fail in _module.require_cryptography before they call this code.
    pass

from ansible_collections.certfleet.mtls.plugins.module_utils import _generations
from ansible_collections.certfleet.mtls.plugins.module_utils._assessment import assess
from ansible_collections.certfleet.mtls.plugins.module_utils._builders import build_csr
from ansible_collections.certfleet.mtls.plugins.module_utils._certinfo import load_certificates, load_one_certificate
from ansible_collections.certfleet.mtls.plugins.module_utils._errors import CertfleetError
from ansible_collections.certfleet.mtls.plugins.module_utils._files import read_if_exists, write_atomic
from ansible_collections.certfleet.mtls.plugins.module_utils._keys import (
    describe_key,
    generate_private_key,
    keys_match,
    load_private_key,
    serialize_private_key,
)
from ansible_collections.certfleet.mtls.plugins.module_utils._names import certificate_names
from ansible_collections.certfleet.mtls.plugins.module_utils._renewal import jitter_fraction, parse_threshold, renewal_time
from ansible_collections.certfleet.mtls.plugins.module_utils._time import (
    certificate_not_after,
    certificate_not_before,
    format_duration,
    format_time,
    parse_duration,
    parse_time,
)


class CheckSettings(NamedTuple):
    """Settings for the host's certificate and its renewal."""

    name: str
    common_name: str
    subject_alt_names: list
    profile: str
    key_type: str
    key_rotation: str
    validity: str
    renew_before: str | None
    jitter: float
    min_renewal_interval: datetime.timedelta
    force: bool


def assess_current(directory: str, settings: CheckSettings, now: datetime.datetime) -> tuple[dict, list[str]]:
    """Judge the generation in use; return ``(report, warnings)`` with ``needs_renewal`` and its reasons."""
    data = _generations.read_generation_file(directory, "cert.pem")
    if data is None:
        return {"exists": False, "needs_renewal": True, "renewal_reasons": ["no certificate is installed"]}, []
    try:
        certificate, problems = load_one_certificate(data, f"{directory}/cert.pem")
        key, key_warnings = load_private_key(_generations.read_generation_file(directory, "key.pem") or b"", None, f"{directory}/key.pem")
    except CertfleetError as error:
        return {"exists": True, "needs_renewal": True, "renewal_reasons": [str(error)]}, []

    threshold = parse_threshold(settings.renew_before)
    jitter = jitter_fraction(settings.name, settings.jitter)
    report, warnings = assess(
        certificate, now, threshold, private_key=key,
        chain=_certificates(directory, "chain.pem"), bundle=_certificates(directory, "ca.pem"),
        common_name=settings.common_name, sans=settings.subject_alt_names, profile=settings.profile,
    )
    due = renewal_time(certificate_not_before(certificate), certificate_not_after(certificate), threshold, jitter)
    report["renew_at"] = format_time(due.due_at)
    report["exists"] = True
    report["problems"] = problems + report["problems"]
    warnings = key_warnings + warnings + _lifetime_warnings(directory, certificate, due.due_at)

    reasons = [reason for reason in report["renewal_reasons"] if not reason.startswith("the certificate is due")]
    if now >= due.due_at and not report["expired"]:
        reasons.append(f"the certificate is due for renewal since {report['renew_at']} (renew_before {threshold.text})")
    reasons = _apply_min_interval(reasons, certificate, settings, now)
    if settings.force:
        reasons.append("renewal was forced")
    report["needs_renewal"] = bool(reasons)
    report["renewal_reasons"] = reasons
    return report, warnings


def _certificates(directory: str, name: str) -> list:
    data = _generations.read_generation_file(directory, name) or b""
    certificates, _problems = load_certificates(data, f"{directory}/{name}")
    return certificates


def _apply_min_interval(reasons: list[str], certificate, settings: CheckSettings, now: datetime.datetime) -> list[str]:
    """Drop a renewal that is due only by time when the certificate is younger than the minimum interval."""
    age = now - certificate_not_before(certificate)
    only_due_by_time = reasons and all(reason.startswith("the certificate is due") for reason in reasons)
    if only_due_by_time and age < settings.min_renewal_interval:
        return []
    return reasons


def _lifetime_warnings(directory: str, certificate, due_at: datetime.datetime) -> list[str]:
    """Warn when the CA shortened the lifetime or backdated notBefore enough to move the renewal time."""
    metadata = _generations.read_metadata(directory)
    requested = metadata.get("requested_validity")
    if not requested:
        return []
    try:
        requested_lifetime = parse_duration(requested, "requested_validity")
    except CertfleetError:
        return []
    issued = certificate_not_after(certificate) - certificate_not_before(certificate)
    not_before = format_time(certificate_not_before(certificate))
    if issued < requested_lifetime - datetime.timedelta(minutes=1):
        return [
            f"the CA issued a lifetime of {format_duration(issued)} (notBefore {not_before}) where {requested} "
            f"was requested, so renewal is due at {format_time(due_at)}"
        ]
    return _backdate_warnings(metadata, certificate, requested_lifetime, due_at)


def _backdate_warnings(metadata: dict, certificate, requested_lifetime: datetime.timedelta, due_at: datetime.datetime) -> list[str]:
    """Warn when notBefore lies well before the install time, measured against the requested lifetime.

    sign_csr backdates notBefore by 5 minutes by default, which a 30-day lifetime hardly
    notices; a backdate above 1% of the lifetime moves renewal noticeably earlier.
    """
    try:
        installed_at = parse_time(metadata.get("installed_at") or "", "installed_at")
    except CertfleetError:
        return []
    backdate = installed_at - certificate_not_before(certificate)
    if backdate <= max(datetime.timedelta(minutes=1), requested_lifetime / 100):
        return []
    return [
        f"the CA backdated notBefore to {format_time(certificate_not_before(certificate))}, {format_duration(backdate)} "
        f"before this certificate was installed, which lengthens its lifetime, so renewal is due at {format_time(due_at)}"
    ]


def prepare_key(directory: str, settings: CheckSettings, check_mode: bool):
    """Return ``(key, staged, changed)``: the key the next certificate is for.

    With key rotation, or when the key in use is missing, unreadable or of another type
    than requested, the key is a staged new key. A staged key left by an earlier run is
    reused, so an interrupted rotation completes with the same key, unless it is the key in use.
    """
    current_data = _generations.read_generation_file(directory, "key.pem")
    current = None
    if current_data:
        try:
            current = load_private_key(current_data, None, f"{directory}/key.pem")[0]
        except CertfleetError:
            # assess_current already reports the unreadable key as a renewal reason, so it
            # is replaced like a missing one instead of failing the run.
            pass
    wants_new = current is None or settings.key_rotation == "always" or describe_key(current.public_key()) != settings.key_type
    if not wants_new:
        return current, False, False

    staged_path = _generations.staged_key_path(directory)
    staged_data = read_if_exists(staged_path, "staged key")
    if staged_data is not None:
        try:
            staged = load_private_key(staged_data, None, staged_path)[0]
            # A staged key equal to the key in use is left by an install that stopped before
            # it removed the staged key. Reusing it would skip the rotation.
            in_use = current is not None and keys_match(staged, current.public_key())
            if not in_use and describe_key(staged.public_key()) == settings.key_type:
                return staged, True, False
        except CertfleetError:
            pass
    key = generate_private_key(settings.key_type)
    if not check_mode:
        write_atomic(staged_path, serialize_private_key(key, None), 0o600)
    return key, True, True


def build_request(key, settings: CheckSettings) -> dict:
    """Build the signing request entry that sign_csr takes."""
    names = certificate_names(settings.common_name, settings.subject_alt_names)
    csr = build_csr(key, settings.common_name, names, settings.profile)
    return {
        "name": settings.name,
        "csr": csr.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        "profile": settings.profile,
        "validity": settings.validity,
    }
