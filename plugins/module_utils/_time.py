# Copyright (c) certfleet.mtls contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Aware UTC times, durations and time strings. Private: not a public API.

Every time this collection compares is an aware UTC ``datetime``: comparing an aware
time with a naive one raises or, worse, never matches, so naive values are converted
at the edge and never travel further.
"""

from __future__ import annotations

import datetime
import re

from ansible_collections.certfleet.mtls.plugins.module_utils._errors import CertfleetError

UTC = datetime.timezone.utc

_UNIT_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_DURATION_PART = re.compile(r"(\d+)([wdhms])")
_DURATION_WHOLE = re.compile(r"(?:\d+[wdhms])+")

# ASN.1 GeneralizedTime strings in UTC, with and without seconds. Each format is
# matched by its exact length, so "202401020304Z" means 03:04:00, never 03:00:04.
_ASN1_FORMATS = {15: "%Y%m%d%H%M%SZ", 13: "%Y%m%d%H%MZ"}


def utc_now() -> datetime.datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.datetime.now(UTC)


def as_utc(value: datetime.datetime) -> datetime.datetime:
    """Return ``value`` as an aware UTC datetime.

    A naive value is taken to be UTC already, which is what cryptography before 42
    returns for certificate validity times.
    """
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def format_time(value: datetime.datetime) -> str:
    """Format a time as ISO 8601 in UTC with a ``Z`` suffix, to the second."""
    return as_utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_duration(value: datetime.timedelta) -> str:
    """Format a duration compactly, such as ``29d23h``; negative durations get a minus sign."""
    seconds = int(value.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    parts = []
    for unit in ("d", "h", "m", "s"):
        count, seconds = divmod(seconds, _UNIT_SECONDS[unit])
        if count:
            parts.append(f"{count}{unit}")
    return sign + ("".join(parts) or "0s")


def parse_duration(value: object, option: str) -> datetime.timedelta:
    """Parse a duration such as ``90d``, ``12h``, ``1d12h``, ``30m`` or a number of seconds.

    Raises CertfleetError naming ``option`` when the value is not a positive duration.
    """
    if isinstance(value, bool):
        raise CertfleetError(_duration_message(option, value))
    if isinstance(value, int):
        seconds = value
    else:
        text = str(value).strip().lower()
        if text.isdigit():
            seconds = int(text)
        elif _DURATION_WHOLE.fullmatch(text):
            seconds = sum(int(count) * _UNIT_SECONDS[unit] for count, unit in _DURATION_PART.findall(text))
        else:
            raise CertfleetError(_duration_message(option, value))
    if seconds <= 0:
        raise CertfleetError(_duration_message(option, value))
    return datetime.timedelta(seconds=seconds)


def _duration_message(option: str, value: object) -> str:
    return (
        f"{option}={value!r} is not a valid duration; use a positive number of seconds or "
        "units w, d, h, m, s such as '90d', '12h' or '1d12h'"
    )


def parse_time(value: str, option: str, now: datetime.datetime | None = None) -> datetime.datetime:
    """Parse an absolute or relative time into an aware UTC datetime.

    Accepted forms: ``YYYYMMDDHHMMSSZ`` and ``YYYYMMDDHHMMZ`` (ASN.1 GeneralizedTime),
    ISO 8601 with an explicit zone (``2030-01-02T03:04:05Z``) and a duration relative
    to ``now`` (``+30d``, ``-1h``). A time without a zone is rejected because it is
    ambiguous.
    """
    text = str(value).strip()
    if text[:1] in ("+", "-"):
        try:
            offset = parse_duration(text[1:], option)
        except CertfleetError:
            # Name the whole value, sign included, not only the duration after the sign.
            raise CertfleetError(_time_message(option, value)) from None
        base = as_utc(now) if now is not None else utc_now()
        return base + offset if text[0] == "+" else base - offset

    asn1_format = _ASN1_FORMATS.get(len(text))
    if asn1_format and text.endswith("Z") and text[:-1].isdigit():
        try:
            return datetime.datetime.strptime(text, asn1_format).replace(tzinfo=UTC)
        except ValueError:
            pass
    else:
        iso_text = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
        try:
            parsed = datetime.datetime.fromisoformat(iso_text)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return parsed.astimezone(UTC)

    raise CertfleetError(_time_message(option, value))


def _time_message(option: str, value: object) -> str:
    return (
        f"{option}={value!r} is not a valid time; use YYYYMMDDHHMMSSZ, YYYYMMDDHHMMZ, ISO 8601 "
        "with a zone such as 2030-01-02T03:04:05Z, or a relative time such as +30d"
    )


def certificate_not_before(certificate) -> datetime.datetime:
    """Return a certificate's notBefore as an aware UTC datetime on any cryptography release."""
    value = getattr(certificate, "not_valid_before_utc", None)
    return value if value is not None else as_utc(certificate.not_valid_before)


def certificate_not_after(certificate) -> datetime.datetime:
    """Return a certificate's notAfter as an aware UTC datetime on any cryptography release."""
    value = getattr(certificate, "not_valid_after_utc", None)
    return value if value is not None else as_utc(certificate.not_valid_after)
