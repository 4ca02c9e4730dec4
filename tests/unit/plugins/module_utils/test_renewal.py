"""Tests for _renewal: thresholds and the exact renewal time they give."""

from __future__ import annotations

import datetime
import os
import time

import pytest

from ansible_collections.certfleet.mtls.plugins.module_utils._errors import CertfleetError
from ansible_collections.certfleet.mtls.plugins.module_utils._renewal import jitter_fraction, parse_threshold, renewal_time
from ansible_collections.certfleet.mtls.plugins.module_utils._time import (
    as_utc,
    certificate_not_after,
    certificate_not_before,
    format_time,
    parse_time,
    utc_now,
)

UTC = datetime.timezone.utc
NOT_BEFORE = datetime.datetime(2030, 1, 1, 0, 0, 0, tzinfo=UTC)
NOT_AFTER = datetime.datetime(2030, 4, 1, 0, 0, 0, tzinfo=UTC)  # NOT_BEFORE + 90 days


def test_validity_fixture_is_ninety_days():
    assert NOT_AFTER - NOT_BEFORE == datetime.timedelta(days=90)


@pytest.mark.parametrize("value", [None, "", "  "])
def test_threshold_default_one_third(value):
    result = renewal_time(NOT_BEFORE, NOT_AFTER, parse_threshold(value))

    assert result.due_at == datetime.datetime(2030, 3, 2, 0, 0, 0, tzinfo=UTC)
    assert result.renew_before == datetime.timedelta(days=30)
    assert result.warning is None


@pytest.mark.parametrize(
    ("value", "expected_due"),
    [
        ("30d", datetime.datetime(2030, 3, 2, 0, 0, 0, tzinfo=UTC)),
        ("12h", datetime.datetime(2030, 3, 31, 12, 0, 0, tzinfo=UTC)),
        ("1d12h", datetime.datetime(2030, 3, 30, 12, 0, 0, tzinfo=UTC)),
        ("2w", datetime.datetime(2030, 3, 18, 0, 0, 0, tzinfo=UTC)),
        ("3600", datetime.datetime(2030, 3, 31, 23, 0, 0, tzinfo=UTC)),
    ],
)
def test_threshold_duration(value, expected_due):
    result = renewal_time(NOT_BEFORE, NOT_AFTER, parse_threshold(value))

    assert result.due_at == expected_due
    assert result.warning is None


@pytest.mark.parametrize(
    ("value", "expected_due"),
    [
        ("25%", datetime.datetime(2030, 3, 9, 12, 0, 0, tzinfo=UTC)),
        ("50%", datetime.datetime(2030, 2, 15, 0, 0, 0, tzinfo=UTC)),
        ("10%", datetime.datetime(2030, 3, 23, 0, 0, 0, tzinfo=UTC)),
        ("90%", datetime.datetime(2030, 1, 10, 0, 0, 0, tzinfo=UTC)),
    ],
)
def test_threshold_percentage(value, expected_due):
    result = renewal_time(NOT_BEFORE, NOT_AFTER, parse_threshold(value))

    assert result.due_at == expected_due
    assert result.warning is None


@pytest.mark.parametrize("value", ["0%", "100%", "abc%", "150%", "-5%", "%", "nan%"])
def test_threshold_rejects_percentage(value):
    with pytest.raises(CertfleetError) as caught:
        parse_threshold(value)

    message = str(caught.value)
    assert f"renew_before={value!r}" in message
    assert "percentage" in message


@pytest.mark.parametrize("value", ["0", "0d", "-1d", "abc", "10x"])
def test_threshold_rejects_duration(value):
    with pytest.raises(CertfleetError) as caught:
        parse_threshold(value, "renew_before")

    assert f"renew_before={value!r}" in str(caught.value)


@pytest.mark.parametrize("value", ["90d", "120d", "91%", "99%"])
def test_threshold_too_long_clamped(value):
    result = renewal_time(NOT_BEFORE, NOT_AFTER, parse_threshold(value))

    assert result.renew_before == datetime.timedelta(days=30)
    assert result.due_at == datetime.datetime(2030, 3, 2, 0, 0, 0, tzinfo=UTC)
    assert result.warning is not None
    assert f"renew_before={value}" in result.warning
    assert "one third (30d)" in result.warning


def test_threshold_backdated_clamped():
    issued_at = datetime.datetime(2030, 1, 1, 0, 0, 0, tzinfo=UTC)
    not_before = issued_at - datetime.timedelta(hours=1)
    not_after = issued_at + datetime.timedelta(days=90)

    result = renewal_time(not_before, not_after, parse_threshold("89d23h50m"))

    assert result.renew_before == datetime.timedelta(days=30, minutes=20)
    assert result.due_at == datetime.datetime(2030, 3, 1, 23, 40, 0, tzinfo=UTC)
    assert result.due_at > issued_at
    assert result.warning is not None


def test_threshold_below_limit_kept():
    # 81 days is exactly nine tenths of 90 days, the longest threshold kept as given.
    result = renewal_time(NOT_BEFORE, NOT_AFTER, parse_threshold("81d"))

    assert result.renew_before == datetime.timedelta(days=81)
    assert result.due_at == datetime.datetime(2030, 1, 10, 0, 0, 0, tzinfo=UTC)
    assert result.warning is None


def test_leap_day_default():
    not_before = datetime.datetime(2028, 2, 28, 0, 0, 0, tzinfo=UTC)
    not_after = datetime.datetime(2028, 3, 1, 0, 0, 0, tzinfo=UTC)

    result = renewal_time(not_before, not_after, parse_threshold(None))

    assert result.renew_before == datetime.timedelta(hours=16)
    assert result.due_at == datetime.datetime(2028, 2, 29, 8, 0, 0, tzinfo=UTC)


def test_leap_day_ninety_days():
    not_before = datetime.datetime(2028, 2, 28, 0, 0, 0, tzinfo=UTC)
    not_after = not_before + datetime.timedelta(days=90)

    result = renewal_time(not_before, not_after, parse_threshold("50%"))

    assert not_after == datetime.datetime(2028, 5, 28, 0, 0, 0, tzinfo=UTC)
    assert result.due_at == datetime.datetime(2028, 4, 13, 0, 0, 0, tzinfo=UTC)


def test_lifetime_not_positive():
    result = renewal_time(NOT_AFTER, NOT_BEFORE, parse_threshold(None))

    assert result.due_at == NOT_AFTER
    assert result.renew_before == datetime.timedelta(0)
    assert "notAfter is not after its notBefore" in result.warning


def test_shortened_lifetime_moves_renewal(make_ca, issue, now):
    # The issuing CA expires 40 days after NOW, so a 90-day request gets a 40-day certificate.
    short_ca = make_ca("short", now=now, intermediate_validity="40d")
    leaf = issue(short_ca.signer, now=now, validity="90d")
    not_before = certificate_not_before(leaf.certificate)
    not_after = certificate_not_after(leaf.certificate)

    result = renewal_time(not_before, not_after, parse_threshold(None))

    assert not_before == datetime.datetime(2030, 1, 15, 11, 0, 0, tzinfo=UTC)
    assert not_after == datetime.datetime(2030, 2, 24, 12, 0, 0, tzinfo=UTC)
    assert result.renew_before == datetime.timedelta(days=13, hours=8, minutes=20)
    assert result.due_at == datetime.datetime(2030, 2, 11, 3, 40, 0, tzinfo=UTC)


def test_full_lifetime_renewal(ca, issue, now):
    leaf = issue(ca.signer, now=now, validity="90d")

    result = renewal_time(
        certificate_not_before(leaf.certificate), certificate_not_after(leaf.certificate), parse_threshold(None)
    )

    assert result.renew_before == datetime.timedelta(days=30, minutes=20)
    assert result.due_at == datetime.datetime(2030, 3, 16, 11, 40, 0, tzinfo=UTC)


# Jitter


def test_jitter_fraction_exact():
    assert jitter_fraction("web1.example.org", 1.0) == 0.6172110148938587
    assert jitter_fraction("web1.example.org", 0.05) == 0.030860550744692933
    assert jitter_fraction("web2.example.org", 0.05) == 0.04460536654074159


def test_jitter_fraction_deterministic():
    first = jitter_fraction("db1.example.org", 0.05)

    assert jitter_fraction("db1.example.org", 0.05) == first
    assert jitter_fraction("db1.example.org", 0.0) == 0.0
    # The fraction scales with the spread, so a host keeps its place in the spread.
    assert jitter_fraction("db1.example.org", 0.1) == 2 * first


@pytest.mark.parametrize("spread", [0.01, 0.05, 0.5, 1.0])
def test_jitter_fraction_in_range(spread):
    fractions = [jitter_fraction(f"host-{index:03d}.example.org", spread) for index in range(500)]

    assert min(fractions) >= 0.0
    assert max(fractions) < spread


def test_jitter_fraction_spreads_names():
    spread = 0.05
    fractions = [jitter_fraction(f"host-{index:03d}.example.org", spread) for index in range(100)]
    quarters = [0, 0, 0, 0]
    for fraction in fractions:
        quarters[int(fraction / spread * 4)] += 1

    assert len(set(fractions)) == 100
    for count in quarters:
        assert count >= 10, quarters


@pytest.mark.parametrize(
    ("value", "expected_due"),
    [
        (None, datetime.datetime(2030, 2, 25, 12, 0, 0, tzinfo=UTC)),
        ("10d", datetime.datetime(2030, 3, 17, 12, 0, 0, tzinfo=UTC)),
        ("25%", datetime.datetime(2030, 3, 5, 0, 0, 0, tzinfo=UTC)),
    ],
)
def test_jitter_comes_earlier(value, expected_due):
    # A jitter of 0.05 on a 90-day lifetime is 4d12h.
    plain = renewal_time(NOT_BEFORE, NOT_AFTER, parse_threshold(value))
    jittered = renewal_time(NOT_BEFORE, NOT_AFTER, parse_threshold(value), jitter=0.05)

    assert jittered.due_at == expected_due
    assert plain.due_at - jittered.due_at == datetime.timedelta(days=4, hours=12)
    assert jittered.renew_before - plain.renew_before == datetime.timedelta(days=4, hours=12)
    assert jittered.warning is None


def test_jitter_per_name_exact():
    jitter = jitter_fraction("web1.example.org", 0.05)

    plain = renewal_time(NOT_BEFORE, NOT_AFTER, parse_threshold(None))
    jittered = renewal_time(NOT_BEFORE, NOT_AFTER, parse_threshold(None), jitter=jitter)

    assert plain.due_at - jittered.due_at == (NOT_AFTER - NOT_BEFORE) * jitter
    assert plain.due_at - jittered.due_at == datetime.timedelta(days=2, seconds=67171, microseconds=642591)
    assert jittered.due_at == datetime.datetime(2030, 2, 27, 5, 20, 28, 357409, tzinfo=UTC)


@pytest.mark.parametrize("value", ["90d", "120d", "99%"])
@pytest.mark.parametrize(
    ("jitter", "expected"),
    [
        # Clamped to one third of the lifetime (30d), then the jitter comes on top,
        # up to nine tenths of the lifetime (81d).
        (0.0, datetime.datetime(2030, 3, 2, 0, 0, 0, tzinfo=UTC)),
        (0.05, datetime.datetime(2030, 2, 25, 12, 0, 0, tzinfo=UTC)),
        (0.99, datetime.datetime(2030, 1, 10, 0, 0, 0, tzinfo=UTC)),
    ],
)
def test_threshold_too_long_never_due_fresh(value, jitter, expected):
    result = renewal_time(NOT_BEFORE, NOT_AFTER, parse_threshold(value), jitter=jitter)

    assert result.due_at == expected
    assert result.due_at >= NOT_BEFORE + (NOT_AFTER - NOT_BEFORE) / 10
    assert result.warning is not None


def test_jitter_alone_never_due_fresh():
    # The largest spread with the default threshold would put the renewal time at day 2.
    jitter = jitter_fraction("web2.example.org", 1.0)

    result = renewal_time(NOT_BEFORE, NOT_AFTER, parse_threshold(None), jitter=jitter)

    assert jitter == 0.8921073308148317
    # Capped at nine tenths of the lifetime, so the renewal time stays out of the first tenth.
    assert result.due_at == datetime.datetime(2030, 1, 10, 0, 0, 0, tzinfo=UTC)
    assert result.due_at == NOT_BEFORE + (NOT_AFTER - NOT_BEFORE) / 10


# Expiry


@pytest.mark.parametrize("value", [None, "1s", "10d", "50%", "120d"])
@pytest.mark.parametrize("jitter", [0.0, 0.05])
def test_expired_certificate_due(value, jitter):
    # A host offline past expiry runs its check 30 days after notAfter.
    offline_until = NOT_AFTER + datetime.timedelta(days=30)

    result = renewal_time(NOT_BEFORE, NOT_AFTER, parse_threshold(value), jitter=jitter)

    assert result.due_at < NOT_AFTER
    assert offline_until >= result.due_at


# Leap day


def test_leap_day_two_day_lifetime():
    not_before = datetime.datetime(2028, 2, 28, 12, 0, 0, tzinfo=UTC)
    not_after = not_before + datetime.timedelta(days=2)

    result = renewal_time(not_before, not_after, parse_threshold(None))

    assert not_after == datetime.datetime(2028, 3, 1, 12, 0, 0, tzinfo=UTC)
    assert result.renew_before == datetime.timedelta(hours=16)
    assert result.due_at == datetime.datetime(2028, 2, 29, 20, 0, 0, tzinfo=UTC)
    assert result.warning is None


def test_non_leap_year_two_day_lifetime():
    not_before = datetime.datetime(2027, 2, 28, 12, 0, 0, tzinfo=UTC)
    not_after = not_before + datetime.timedelta(days=2)

    result = renewal_time(not_before, not_after, parse_threshold(None))

    assert not_after == datetime.datetime(2027, 3, 2, 12, 0, 0, tzinfo=UTC)
    assert result.due_at == datetime.datetime(2027, 3, 1, 20, 0, 0, tzinfo=UTC)


# A controller whose local time zone is not UTC

# Offsets west of UTC are positive in time.timezone. New York also changes to daylight
# saving time on 2030-03-10, inside the 90-day lifetimes used below.
ZONE_OFFSETS = {"America/New_York": 5 * 3600, "Asia/Kolkata": -(5 * 3600 + 30 * 60)}


@pytest.fixture(params=sorted(ZONE_OFFSETS))
def local_time_zone(request):
    """Set this process's local time zone for one test and restore the previous one after it."""
    previous = os.environ.get("TZ")
    os.environ["TZ"] = request.param
    time.tzset()
    try:
        # Without the zone's tzdata the C library falls back to UTC, which would prove nothing.
        assert time.timezone == ZONE_OFFSETS[request.param]
        yield request.param
    finally:
        if previous is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = previous
        time.tzset()


def test_zone_issued_certificate_times(local_time_zone, ca, issue, now):
    leaf = issue(ca.signer, now=now, validity="90d")
    not_before = certificate_not_before(leaf.certificate)
    not_after = certificate_not_after(leaf.certificate)

    result = renewal_time(not_before, not_after, parse_threshold(None))

    assert not_before == datetime.datetime(2030, 1, 15, 11, 0, 0, tzinfo=UTC)
    assert not_after == datetime.datetime(2030, 4, 15, 12, 0, 0, tzinfo=UTC)
    assert not_before.utcoffset() == datetime.timedelta(0)
    assert result.due_at == datetime.datetime(2030, 3, 16, 11, 40, 0, tzinfo=UTC)
    assert format_time(result.due_at) == "2030-03-16T11:40:00Z"


def test_zone_jitter_and_leap_day(local_time_zone):
    jittered = renewal_time(NOT_BEFORE, NOT_AFTER, parse_threshold(None), jitter=jitter_fraction("web1.example.org", 0.05))
    leap_start = datetime.datetime(2028, 2, 28, 12, 0, 0, tzinfo=UTC)
    leap = renewal_time(leap_start, leap_start + datetime.timedelta(days=2), parse_threshold(None))

    assert jittered.due_at == datetime.datetime(2030, 2, 27, 5, 20, 28, 357409, tzinfo=UTC)
    assert leap.due_at == datetime.datetime(2028, 2, 29, 20, 0, 0, tzinfo=UTC)


def test_zone_parse_and_format(local_time_zone):
    expected = datetime.datetime(2030, 3, 16, 11, 40, 0, tzinfo=UTC)
    kolkata = datetime.timezone(datetime.timedelta(hours=5, minutes=30))

    assert parse_time("2030-03-16T11:40:00Z", "renew_at") == expected
    assert parse_time("20300316114000Z", "renew_at") == expected
    assert parse_time("2030-03-16T07:40:00-04:00", "renew_at") == expected
    assert parse_time("+30d", "renew_at", now=expected - datetime.timedelta(days=30)) == expected
    assert format_time(datetime.datetime(2030, 3, 16, 17, 10, 0, tzinfo=kolkata)) == "2030-03-16T11:40:00Z"
    # A naive time is UTC, as cryptography before 42 returns validity times, never local time.
    assert as_utc(datetime.datetime(2030, 3, 16, 11, 40, 0)) == expected


def test_zone_utc_now(local_time_zone):
    current = utc_now()

    assert current.utcoffset() == datetime.timedelta(0)
    assert abs(current.timestamp() - time.time()) < 5
