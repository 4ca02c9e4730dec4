# Copyright (c) certfleet.mtls contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Judging a host's certificate against its key, trust bundle, names, profile and renewal policy.

Private: not a public API. The certificate_info module reports this judgement, and
the certificate module requires a passing one before it installs anything.
"""

from __future__ import annotations

import datetime

try:
    from cryptography import x509
except ImportError:
    # Without cryptography, the modules fail in _module.require_cryptography before they call this code.
    pass

from ansible_collections.certfleet.mtls.plugins.module_utils._certinfo import certificate_report
from ansible_collections.certfleet.mtls.plugins.module_utils._chain import build_chain, check_path
from ansible_collections.certfleet.mtls.plugins.module_utils._errors import CertfleetError
from ansible_collections.certfleet.mtls.plugins.module_utils._keys import keys_match
from ansible_collections.certfleet.mtls.plugins.module_utils._names import certificate_names, format_san
from ansible_collections.certfleet.mtls.plugins.module_utils._profiles import profile_satisfied
from ansible_collections.certfleet.mtls.plugins.module_utils._renewal import Threshold, renewal_time
from ansible_collections.certfleet.mtls.plugins.module_utils._time import (
    certificate_not_after,
    certificate_not_before,
    format_time,
)


def missing_names(report: dict, common_name: str | None, sans: list[str] | None) -> list[str]:
    """List the requested names (the common name included) that the certificate lacks."""
    if not common_name and not sans:
        return []
    requested = [format_san(name) for name in certificate_names(common_name, sans or [])]
    present = {value.lower() for value in report["subject_alt_names"]}
    return [name for name in requested if name.lower() not in present]


def chain_problems(certificate: x509.Certificate, chain: list, bundle: list, now: datetime.datetime) -> list[str]:
    """List why ``certificate`` does not chain to ``bundle`` through ``chain`` at ``now``; empty when it does."""
    if not bundle:
        return ["the trust bundle contains no certificate"]
    try:
        path = build_chain(certificate, chain, bundle)
    except CertfleetError as error:
        return [str(error)]
    return check_path(path, now)


def assess(
    certificate: x509.Certificate,
    now: datetime.datetime,
    threshold: Threshold,
    private_key=None,
    chain: list | None = None,
    bundle: list | None = None,
    common_name: str | None = None,
    sans: list[str] | None = None,
    profile: str | None = None,
) -> tuple[dict, list[str]]:
    """Report on a certificate and decide whether it needs renewal; return ``(report, warnings)``.

    The checks that need an input (key, bundle, names, profile) run only when it is given;
    the report then carries ``key_matches``, ``chains_to_bundle`` and their reasons.
    """
    report = certificate_report(certificate, now)
    reasons = []
    warnings = []

    if private_key is not None:
        report["key_matches"] = keys_match(private_key, certificate.public_key())
        if not report["key_matches"]:
            reasons.append("the certificate does not match the private key")
    if bundle is not None:
        problems = chain_problems(certificate, chain or [], bundle, now)
        report["chains_to_bundle"] = not problems
        report["chain_problems"] = problems
        if problems:
            reasons.append("the certificate does not chain to the trust bundle: " + "; ".join(problems))

    report["missing_names"] = missing_names(report, common_name, sans)
    if report["missing_names"]:
        reasons.append("the certificate lacks the names " + ", ".join(report["missing_names"]))
    if profile is not None and not profile_satisfied(report["extended_key_usage"], profile):
        reasons.append(f"the certificate's extended key usages {report['extended_key_usage']} do not cover the {profile} profile")
    if report["bad_extensions"] or report["problems"]:
        reasons.append("the certificate has malformed content: " + "; ".join(report["problems"]))

    due = renewal_time(certificate_not_before(certificate), certificate_not_after(certificate), threshold)
    if due.warning:
        warnings.append(due.warning)
    report["renew_at"] = format_time(due.due_at)
    if report["expired"]:
        reasons.append(f"the certificate expired at {report['not_after']}")
    elif now >= due.due_at:
        reasons.append(f"the certificate is due for renewal since {report['renew_at']} (renew_before {threshold.text})")

    report["needs_renewal"] = bool(reasons)
    report["renewal_reasons"] = reasons
    return report, warnings
