"""Tests for _renewal: thresholds and the exact renewal time they give."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.certfleet.mtls.plugins.module_utils._errors import CertfleetError
from ansible_collections.certfleet.mtls.plugins.module_utils._renewal import parse_threshold, renewal_time
from ansible_collections.certfleet.mtls.plugins.module_utils._time import certificate_not_after, certificate_not_before

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
