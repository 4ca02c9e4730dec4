# Copyright (c) certfleet.mtls contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""When a certificate is due for renewal. Private: not a public API.

The rule works from the validity of the issued certificate, not from what was
requested, so a CA that shortens the lifetime or backdates notBefore moves the
renewal time with it.
"""

from __future__ import annotations

import datetime
import hashlib
from typing import NamedTuple

from ansible_collections.certfleet.mtls.plugins.module_utils._errors import CertfleetError
from ansible_collections.certfleet.mtls.plugins.module_utils._time import format_duration, parse_duration

DEFAULT_FRACTION = 1 / 3
# A renewal time earlier than this fraction of the lifetime after notBefore would make
# a freshly issued certificate due at once (a backdated notBefore eats into the
# lifetime), so such thresholds fall back to the default of one third.
EARLIEST_FRACTION = 0.1


class Threshold(NamedTuple):
    """How long before notAfter a certificate is due: a duration, or a fraction of its lifetime."""

    duration: datetime.timedelta | None
    fraction: float | None
    text: str


class RenewalTime(NamedTuple):
    """The computed renewal time, the threshold actually applied and any warning about it."""

    due_at: datetime.datetime
    renew_before: datetime.timedelta
    warning: str | None


def parse_threshold(value: object, option: str = "renew_before") -> Threshold:
    """Parse ``30d``, ``12h`` or a percentage such as ``25%``; None means one third of the lifetime."""
    if value is None or str(value).strip() == "":
        return Threshold(None, DEFAULT_FRACTION, "one third of the lifetime")
    text = str(value).strip()
    if text.endswith("%"):
        try:
            percent = float(text[:-1])
        except ValueError:
            percent = -1.0
        if not 0 < percent < 100:
            raise CertfleetError(
                f"{option}={value!r} is not a valid percentage; use a value above 0% and below "
                "100%, such as '33%', or a duration such as '30d'"
            )
        return Threshold(None, percent / 100, text)
    return Threshold(parse_duration(text, option), None, text)


def jitter_fraction(name: str, spread: float) -> float:
    """Return a fraction in ``[0, spread)`` that depends only on ``name``.

    Hosts issued at the same moment get different renewal times this way, and each
    host gets the same one on every run.
    """
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return spread * int.from_bytes(digest[:8], "big") / 2**64


def renewal_time(
    not_before: datetime.datetime,
    not_after: datetime.datetime,
    threshold: Threshold,
    jitter: float = 0.0,
) -> RenewalTime:
    """Compute when a certificate with this validity becomes due.

    ``jitter`` is a fraction of the lifetime by which the renewal comes earlier. A
    threshold that would put the renewal time in the first tenth of the lifetime,
    including one at least as long as the lifetime, is clamped to one third of the
    lifetime, with a warning, so a freshly issued certificate is never due.
    """
    lifetime = not_after - not_before
    if lifetime <= datetime.timedelta(0):
        return RenewalTime(not_before, datetime.timedelta(0), "the certificate's notAfter is not after its notBefore")

    if threshold.duration is not None:
        renew_before = threshold.duration
    else:
        renew_before = lifetime * threshold.fraction

    latest = lifetime * (1 - EARLIEST_FRACTION)
    warning = None
    if renew_before > latest:
        clamped = lifetime / 3
        warning = (
            f"renew_before={threshold.text} leaves less than a tenth of the certificate's lifetime "
            f"of {format_duration(lifetime)} before renewal, so one third ({format_duration(clamped)}) "
            "is used instead; set renew_before shorter than the lifetime"
        )
        renew_before = clamped
    # The jitter comes after the clamp, so it only ever moves renewal earlier, and never
    # into the first tenth of the lifetime.
    renew_before = min(renew_before + lifetime * jitter, latest)
    return RenewalTime(not_after - renew_before, renew_before, warning)
