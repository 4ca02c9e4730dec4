# Copyright (c) certfleet.mtls contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The renewal decision, and a check that needs no cryptography when nothing changed.

Private: not a public API. On most runs nothing is due, and the check is the only
module that runs on the host. A full check parses the key and the certificates,
which costs an import of cryptography and much of the module's run time. When a full
check finds the generation in use sound, it records its verdict in the generation
(``verdict.json``) with a digest of the files it judged and of the settings it judged
them against. A later check that finds the same bytes, the same settings, and a time
inside the validity of every certificate involved reuses that verdict and only
recomputes what depends on the time. Everything here uses the standard library only.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
from typing import NamedTuple

from ansible_collections.certfleet.mtls.plugins.module_utils import _generations
from ansible_collections.certfleet.mtls.plugins.module_utils._errors import CertfleetError
from ansible_collections.certfleet.mtls.plugins.module_utils._files import read_if_exists, write_atomic
from ansible_collections.certfleet.mtls.plugins.module_utils._renewal import jitter_fraction, parse_threshold, renewal_time
from ansible_collections.certfleet.mtls.plugins.module_utils._time import (
    certificate_not_after,
    certificate_not_before,
    format_duration,
    format_time,
    parse_duration,
    parse_time,
)

VERDICT_FILE = "verdict.json"
VERDICT_VERSION = 1
# The files of a generation whose content a verdict covers.
JUDGED_FILES = ("key.pem", "cert.pem", "chain.pem", "ca.pem")
DUE_PREFIX = "the certificate is due"


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


class Validity(NamedTuple):
    """The certificate's validity, and the window in which every certificate of its chain and bundle is valid."""

    not_before: datetime.datetime
    not_after: datetime.datetime
    window_start: datetime.datetime
    window_end: datetime.datetime


def validity_of(certificate, others: list) -> Validity:
    """Return the validity of ``certificate`` and the window in which it and all of ``others`` are valid."""
    everything = [certificate, *others]
    return Validity(
        certificate_not_before(certificate),
        certificate_not_after(certificate),
        max(certificate_not_before(item) for item in everything),
        min(certificate_not_after(item) for item in everything),
    )


def sound_apart_from_time(report: dict) -> bool:
    """Tell whether a full check found nothing wrong that a later time could not change."""
    time_reasons = (DUE_PREFIX, "the certificate expired")
    return (
        report.get("key_matches") is True
        and report.get("chains_to_bundle") is True
        and not report["problems"]
        and not report["bad_extensions"]
        and not report.get("missing_names")
        and all(reason.startswith(time_reasons) for reason in report.get("renewal_reasons", []))
    )


def settings_digest(common_name: str | None, subject_alt_names: list | None, profile: str | None) -> str:
    """Return the digest of the settings a verdict depends on: the requested names and the profile."""
    data = json.dumps([common_name, list(subject_alt_names or []), profile])
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


def content_digest(generation: str) -> str | None:
    """Return the digest of the judged files of a generation directory, or None when one is missing."""
    digest = hashlib.sha256()
    for name in JUDGED_FILES:
        data = read_if_exists(os.path.join(generation, name), name)
        if data is None:
            return None
        digest.update(f"{name}:{len(data)}:".encode("ascii"))
        digest.update(data)
    return digest.hexdigest()


def write_verdict(generation: str, settings: str, report: dict, validity: Validity) -> None:
    """Record in a generation directory that its files passed a full check against the settings digest ``settings``.

    Call only when the full check found nothing wrong apart from the time. A failure to
    write is ignored: the next check is then a full one again.
    """
    digest = content_digest(generation)
    if digest is None:
        return
    verdict = {
        "version": VERDICT_VERSION,
        "content": digest,
        "settings": settings,
        "serial": report["serial"],
        "subject_alt_names": report["subject_alt_names"],
        "not_before": format_time(validity.not_before),
        "not_after": format_time(validity.not_after),
        "window_start": format_time(validity.window_start),
        "window_end": format_time(validity.window_end),
    }
    try:
        write_atomic(os.path.join(generation, VERDICT_FILE), json.dumps(verdict, indent=1).encode("utf-8"), 0o600)
    except CertfleetError:
        pass


def record_verdict(directory: str, settings: CheckSettings, report: dict, validity: Validity) -> None:
    """Record the verdict of a full check on the generation in use."""
    generation = _generations.generation_path(directory, _generations.CURRENT)
    if generation is not None:
        write_verdict(generation, _check_settings_digest(settings), report, validity)


def _check_settings_digest(settings: CheckSettings) -> str:
    return settings_digest(settings.common_name, settings.subject_alt_names, settings.profile)


def quick_assess(directory: str, settings: CheckSettings, now: datetime.datetime) -> tuple[dict, list[str]] | None:
    """Judge the generation in use from its recorded verdict; None when a full check is needed."""
    generation = _generations.generation_path(directory, _generations.CURRENT)
    if generation is None:
        return None
    try:
        verdict = json.loads(read_if_exists(os.path.join(generation, VERDICT_FILE), VERDICT_FILE) or b"null")
    except (ValueError, CertfleetError):
        return None
    if not isinstance(verdict, dict) or verdict.get("version") != VERDICT_VERSION:
        return None
    if verdict.get("settings") != _check_settings_digest(settings) or verdict.get("content") != content_digest(generation):
        return None
    try:
        validity = Validity(*(parse_time(verdict[field], field) for field in Validity._fields))
    except (KeyError, TypeError, CertfleetError):
        return None
    # Outside the window a certificate of the chain or bundle has expired or is not yet
    # valid, which only a full check reports properly.
    if not validity.window_start <= now < validity.window_end:
        return None

    report = {
        "exists": True,
        "serial": verdict.get("serial"),
        "not_after": format_time(validity.not_after),
        "seconds_left": int((validity.not_after - now).total_seconds()),
        "subject_alt_names": verdict.get("subject_alt_names") or [],
        "problems": [],
        "expired": False,
        "renewal_reasons": [],
    }
    threshold = parse_threshold(settings.renew_before)
    unjittered = renewal_time(validity.not_before, validity.not_after, threshold)
    warnings = [unjittered.warning] if unjittered.warning else []
    return decide(directory, settings, now, report, warnings, validity.not_before, validity.not_after)


def decide(
    directory: str,
    settings: CheckSettings,
    now: datetime.datetime,
    report: dict,
    warnings: list[str],
    not_before: datetime.datetime,
    not_after: datetime.datetime,
) -> tuple[dict, list[str]]:
    """Apply the renewal policy to a judged certificate; set ``needs_renewal`` and its reasons.

    ``report["renewal_reasons"]`` contains what the judgement found. A reason that the
    certificate is due by time is replaced by one computed with this host's jitter.
    """
    threshold = parse_threshold(settings.renew_before)
    due = renewal_time(not_before, not_after, threshold, jitter_fraction(settings.name, settings.jitter))
    report["renew_at"] = format_time(due.due_at)
    warnings = warnings + lifetime_warnings(directory, not_before, not_after, due.due_at)

    reasons = [reason for reason in report["renewal_reasons"] if not reason.startswith(DUE_PREFIX)]
    if now >= due.due_at and not report["expired"]:
        reasons.append(f"{DUE_PREFIX} for renewal since {report['renew_at']} (renew_before {threshold.text})")
    reasons = _apply_min_interval(reasons, not_before, settings, now)
    if settings.force:
        reasons.append("renewal was forced")
    report["needs_renewal"] = bool(reasons)
    report["renewal_reasons"] = reasons
    return report, warnings


def _apply_min_interval(reasons: list[str], not_before: datetime.datetime, settings: CheckSettings, now: datetime.datetime) -> list[str]:
    """Drop a renewal that is due only by time when the certificate is younger than the minimum interval."""
    age = now - not_before
    only_due_by_time = reasons and all(reason.startswith(DUE_PREFIX) for reason in reasons)
    if only_due_by_time and age < settings.min_renewal_interval:
        return []
    return reasons


def lifetime_warnings(directory: str, not_before: datetime.datetime, not_after: datetime.datetime, due_at: datetime.datetime) -> list[str]:
    """Warn when the CA shortened the lifetime or backdated notBefore enough to move the renewal time."""
    metadata = _generations.read_metadata(directory)
    requested = metadata.get("requested_validity")
    if not requested:
        return []
    try:
        requested_lifetime = parse_duration(requested, "requested_validity")
    except CertfleetError:
        return []
    issued = not_after - not_before
    if issued < requested_lifetime - datetime.timedelta(minutes=1):
        return [
            f"the CA issued a lifetime of {format_duration(issued)} (notBefore {format_time(not_before)}) where {requested} "
            f"was requested, so renewal is due at {format_time(due_at)}"
        ]
    return _backdate_warnings(metadata, not_before, requested_lifetime, due_at)


def _backdate_warnings(metadata: dict, not_before: datetime.datetime, requested_lifetime: datetime.timedelta, due_at: datetime.datetime) -> list[str]:
    """Warn when notBefore lies well before the install time, measured against the requested lifetime.

    sign_csr backdates notBefore by 5 minutes by default, which a 30-day lifetime hardly
    notices. A backdate above 1% of the lifetime moves renewal noticeably earlier.
    """
    try:
        installed_at = parse_time(metadata.get("installed_at") or "", "installed_at")
    except CertfleetError:
        return []
    backdate = installed_at - not_before
    if backdate <= max(datetime.timedelta(minutes=1), requested_lifetime / 100):
        return []
    return [
        f"the CA backdated notBefore to {format_time(not_before)}, {format_duration(backdate)} "
        f"before this certificate was installed, which lengthens its lifetime, so renewal is due at {format_time(due_at)}"
    ]
