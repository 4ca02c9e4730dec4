# Copyright (c) certfleet.mtls contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One execution per host: check the certificate in use and prepare a request when due.

Private: not a public API. A host where nothing is due costs a single module
execution, and a host that needs a certificate gets its staged key and CSR from the
same execution.
"""

from __future__ import annotations

import datetime

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
from ansible_collections.certfleet.mtls.plugins.module_utils._quick_check import (
    CheckSettings,
    decide,
    record_verdict,
    sound_apart_from_time,
    validity_of,
)
from ansible_collections.certfleet.mtls.plugins.module_utils._renewal import parse_threshold


def assess_current(directory: str, settings: CheckSettings, now: datetime.datetime, record: bool = False) -> tuple[dict, list[str]]:
    """Judge the generation in use; return ``(report, warnings)`` with ``needs_renewal`` and its reasons.

    With ``record``, a generation found sound apart from the time gets a recorded
    verdict, which later checks reuse without parsing anything (see _quick_check).
    """
    data = _generations.read_generation_file(directory, "cert.pem")
    if data is None:
        return {"exists": False, "needs_renewal": True, "renewal_reasons": ["no certificate is installed"]}, []
    try:
        certificate, problems = load_one_certificate(data, f"{directory}/cert.pem")
        key, key_warnings = load_private_key(_generations.read_generation_file(directory, "key.pem") or b"", None, f"{directory}/key.pem")
    except CertfleetError as error:
        return {"exists": True, "needs_renewal": True, "renewal_reasons": [str(error)]}, []

    chain = _certificates(directory, "chain.pem")
    bundle = _certificates(directory, "ca.pem")
    report, warnings = assess(
        certificate, now, parse_threshold(settings.renew_before), private_key=key, chain=chain, bundle=bundle,
        common_name=settings.common_name, sans=settings.subject_alt_names, profile=settings.profile,
    )
    report["exists"] = True
    report["problems"] = problems + report["problems"]
    validity = validity_of(certificate, chain + bundle)
    if record and sound_apart_from_time(report):
        record_verdict(directory, settings, report, validity)
    return decide(directory, settings, now, report, key_warnings + warnings, validity.not_before, validity.not_after)


def _certificates(directory: str, name: str) -> list:
    data = _generations.read_generation_file(directory, name) or b""
    certificates, _problems = load_certificates(data, f"{directory}/{name}")
    return certificates


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
