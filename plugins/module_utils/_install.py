# Copyright (c) certfleet.mtls contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks a new certificate passes on the host before anything is written. Private: not a public API."""

from __future__ import annotations

import time

from ansible_collections.certfleet.mtls.plugins.module_utils._assessment import assess
from ansible_collections.certfleet.mtls.plugins.module_utils._errors import CertfleetError
from ansible_collections.certfleet.mtls.plugins.module_utils._profiles import profile_satisfied
from ansible_collections.certfleet.mtls.plugins.module_utils._renewal import parse_threshold
from ansible_collections.certfleet.mtls.plugins.module_utils._time import certificate_not_before, format_time, utc_now


def check_new_certificate(certificate, chain: list, bundle: list, key, key_source: str,
                          common_name: str | None, sans: list | None, profile: str | None) -> dict:
    """Run every check on a certificate about to be installed; raise CertfleetError naming the first failure."""
    # Judged as of notBefore when that is still ahead, so clock skew gets its own message later.
    judged_at = max(utc_now(), certificate_not_before(certificate))
    report, _warnings = assess(
        certificate, judged_at, parse_threshold(None), private_key=key, chain=chain, bundle=bundle,
        common_name=common_name, sans=sans, profile=profile,
    )
    if not report["key_matches"]:
        raise CertfleetError(
            f"certificate (serial {report['serial']}) does not match the private key at {key_source}; "
            "sign a CSR made from this key"
        )
    if not report["chains_to_bundle"]:
        raise CertfleetError(
            "certificate does not chain to ca_bundle: " + "; ".join(report["chain_problems"])
            + "; pass the chain and bundle of the CA that signed it"
        )
    if report["missing_names"]:
        raise CertfleetError(
            f"certificate lacks the requested names {', '.join(report['missing_names'])}; request them in the CSR"
        )
    if profile and not profile_satisfied(report["extended_key_usage"], profile):
        raise CertfleetError(
            f"certificate has extended key usages {report['extended_key_usage']}, which do not cover "
            f"profile={profile}; sign it with that profile"
        )
    return report


def wait_for_not_before(certificate, longest_wait: int) -> None:
    """Wait until the certificate is valid by this host's clock, or raise a clock skew error."""
    not_before = certificate_not_before(certificate)
    ahead = (not_before - utc_now()).total_seconds()
    if ahead <= 0:
        return
    if ahead > longest_wait:
        raise CertfleetError(
            f"the certificate is not valid before {format_time(not_before)}, but this host's clock reads "
            f"{format_time(utc_now())}: the clocks differ by {int(ahead)}s, more than clock_skew_wait={longest_wait}; "
            "synchronize the clocks (NTP) of this host and the CA host, or raise backdate on sign_csr"
        )
    time.sleep(ahead)
