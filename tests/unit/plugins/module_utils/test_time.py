"""Tests for _time: durations, time strings and UTC conversion, also under a non-UTC local zone."""

from __future__ import annotations

import datetime
import os
import time

import pytest

from ansible_collections.certfleet.mtls.plugins.module_utils._errors import CertfleetError
from ansible_collections.certfleet.mtls.plugins.module_utils._time import (
    as_utc,
    certificate_not_after,
    certificate_not_before,
    format_duration,
    format_time,
    parse_duration,
    parse_time,
    utc_now,
)

UTC = datetime.timezone.utc
NOW = datetime.datetime(2030, 1, 15, 12, 0, 0, tzinfo=UTC)
# A POSIX TZ rule, so the test needs no zoneinfo files: UTC-5 in winter, UTC-4 in summer.
NEW_YORK_RULE = "EST+05EDT,M3.2.0,M11.1.0"


@pytest.fixture
def local_zone_new_york():
    """Switch the process's local time zone to UTC-5/UTC-4 and restore it afterwards."""
    previous = os.environ.get("TZ")
    os.environ["TZ"] = NEW_YORK_RULE
    time.tzset()
    try:
        yield
    finally:
        if previous is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = previous
        time.tzset()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("30d", datetime.timedelta(days=30)),
        ("12h", datetime.timedelta(hours=12)),
        ("1d12h", datetime.timedelta(days=1, hours=12)),
        ("2w", datetime.timedelta(weeks=2)),
        ("45m", datetime.timedelta(minutes=45)),
        ("90s", datetime.timedelta(seconds=90)),
        ("3600", datetime.timedelta(hours=1)),
        (86400, datetime.timedelta(days=1)),
        (" 1D ", datetime.timedelta(days=1)),
    ],
)
def test_parse_duration_accepts(value, expected):
    assert parse_duration(value, "renew_before") == expected


@pytest.mark.parametrize("value", [0, "0", "0d", -1, "-1", "-1d", "abc", "10x", "1.5d", "d", "", True, False])
def test_parse_duration_rejects(value):
    with pytest.raises(CertfleetError) as caught:
        parse_duration(value, "renew_before")

    message = str(caught.value)
    assert message.startswith("renew_before=")
    assert repr(value) in message
    assert "'90d'" in message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (datetime.timedelta(days=29, hours=23), "29d23h"),
        (datetime.timedelta(days=1, seconds=61), "1d1m1s"),
        (datetime.timedelta(0), "0s"),
        (datetime.timedelta(hours=-1), "-1h"),
    ],
)
def test_format_duration(value, expected):
    assert format_duration(value) == expected


def test_parse_time_minutes_form():
    parsed = parse_time("202401020304Z", "not_after")

    assert parsed == datetime.datetime(2024, 1, 2, 3, 4, 0, tzinfo=UTC)
    assert parsed.minute == 4
    assert parsed.second == 0


def test_parse_time_seconds_form():
    parsed = parse_time("20240102030405Z", "not_after")

    assert parsed == datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2030-01-02T03:04:05Z", datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2030-01-02T03:04:05z", datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2030-01-02T03:04:05+00:00", datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2030-01-02T03:04:05+02:00", datetime.datetime(2030, 1, 2, 1, 4, 5, tzinfo=UTC)),
        ("2030-01-02T03:04:05-05:30", datetime.datetime(2030, 1, 2, 8, 34, 5, tzinfo=UTC)),
    ],
)
def test_parse_time_iso_with_zone(value, expected):
    parsed = parse_time(value, "not_after")

    assert parsed == expected
    assert parsed.utcoffset() == datetime.timedelta(0)


def test_parse_time_relative_future():
    assert parse_time("+30d", "not_after", now=NOW) == datetime.datetime(2030, 2, 14, 12, 0, 0, tzinfo=UTC)


def test_parse_time_relative_past():
    assert parse_time("-1h", "not_before", now=NOW) == datetime.datetime(2030, 1, 15, 11, 0, 0, tzinfo=UTC)


def test_parse_time_relative_naive_now_is_utc():
    naive_now = datetime.datetime(2030, 1, 15, 12, 0, 0)

    assert parse_time("+1d", "not_after", now=naive_now) == datetime.datetime(2030, 1, 16, 12, 0, 0, tzinfo=UTC)


def test_parse_time_rejects_naive_iso():
    with pytest.raises(CertfleetError) as caught:
        parse_time("2030-01-02T03:04:05", "not_after")

    message = str(caught.value)
    assert "not_after='2030-01-02T03:04:05'" in message
    assert "with a zone" in message


@pytest.mark.parametrize(
    "value",
    [
        "2024010203Z",
        "20240102030Z",
        "2024010203040Z",
        "202401020304056Z",
        "20241302030405Z",
        "20240132030405Z",
        "20240102250405Z",
        "202401020304",
        "20240102030405",
        "2024-01-02 03:04",
        "tomorrow",
        "+abc",
        "+0d",
        "+",
        "",
    ],
)
def test_parse_time_rejects_unmatched(value):
    with pytest.raises(CertfleetError) as caught:
        parse_time(value, "not_after", now=NOW)

    assert f"not_after={value!r}" in str(caught.value)


def test_as_utc_naive_is_taken_as_utc():
    converted = as_utc(datetime.datetime(2030, 1, 2, 3, 4, 5))

    assert converted == datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert converted.tzinfo is UTC


def test_as_utc_converts_offset():
    plus_two = datetime.timezone(datetime.timedelta(hours=2))
    converted = as_utc(datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=plus_two))

    assert converted == datetime.datetime(2030, 1, 2, 1, 4, 5, tzinfo=UTC)
    assert converted.hour == 1
    assert converted.utcoffset() == datetime.timedelta(0)


def test_format_time_converts_to_z():
    minus_five = datetime.timezone(datetime.timedelta(hours=-5))

    assert format_time(datetime.datetime(2030, 1, 2, 22, 0, 0, tzinfo=minus_five)) == "2030-01-03T03:00:00Z"


def test_utc_now_is_aware_utc():
    before = datetime.datetime.now(UTC)
    current = utc_now()
    after = datetime.datetime.now(UTC)

    assert current.utcoffset() == datetime.timedelta(0)
    assert before <= current <= after


def test_local_zone_fixture_is_not_utc(local_zone_new_york):
    assert time.timezone == 5 * 3600


def test_local_zone_same_parse_results(local_zone_new_york):
    assert parse_time("202401020304Z", "not_after") == datetime.datetime(2024, 1, 2, 3, 4, 0, tzinfo=UTC)
    assert parse_time("2030-01-02T03:04:05+02:00", "not_after") == datetime.datetime(2030, 1, 2, 1, 4, 5, tzinfo=UTC)
    assert parse_time("+30d", "not_after", now=NOW) == datetime.datetime(2030, 2, 14, 12, 0, 0, tzinfo=UTC)


def test_local_zone_same_conversions(local_zone_new_york):
    assert as_utc(datetime.datetime(2030, 7, 1, 12, 0, 0)) == datetime.datetime(2030, 7, 1, 12, 0, 0, tzinfo=UTC)
    assert format_time(datetime.datetime(2030, 7, 1, 12, 0, 0, tzinfo=UTC)) == "2030-07-01T12:00:00Z"
    assert format_time(datetime.datetime(2030, 7, 1, 12, 0, 0)) == "2030-07-01T12:00:00Z"


def test_local_zone_same_utc_now(local_zone_new_york):
    reference = datetime.datetime.now(UTC)
    current = utc_now()

    assert current.utcoffset() == datetime.timedelta(0)
    assert abs(current - reference) < datetime.timedelta(seconds=5)


def test_local_zone_same_certificate_times(local_zone_new_york, ca, issue, now):
    leaf = issue(ca.signer, now=now)

    assert certificate_not_before(leaf.certificate) == now - datetime.timedelta(hours=1)
    assert certificate_not_after(leaf.certificate) == now + datetime.timedelta(days=90)
