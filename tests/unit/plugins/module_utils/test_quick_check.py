"""Tests for _quick_check: later checks reuse a recorded verdict only while it still applies."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys

import pytest
from cryptography.hazmat.primitives import serialization
from test_host_check import DUE_AT, NOT_AFTER, ONE_SECOND, install, make_settings

from ansible_collections.certfleet.mtls.plugins.module_utils import _generations
from ansible_collections.certfleet.mtls.plugins.module_utils._host_check import assess_current
from ansible_collections.certfleet.mtls.plugins.module_utils._keys import generate_private_key
from ansible_collections.certfleet.mtls.plugins.module_utils._quick_check import VERDICT_FILE, quick_assess

from pki_helpers import NOW

DAY = datetime.timedelta(days=1)


def verdict_path(directory: str) -> str:
    return os.path.join(_generations.generation_path(directory, _generations.CURRENT), VERDICT_FILE)


def recorded(directory, settings=None, now=NOW + DAY):
    """Run a full check that records its verdict, and return its result."""
    return assess_current(directory, settings or make_settings(), now, record=True)


def test_recorded_verdict_reused(directory, leaf, ca):
    install(directory, leaf, ca)
    full = recorded(directory)

    quick = quick_assess(directory, make_settings(), NOW + DAY)

    assert quick is not None
    report, warnings = quick
    assert warnings == full[1] == []
    for key in ("exists", "serial", "not_after", "renew_at", "seconds_left", "subject_alt_names", "problems",
                "needs_renewal", "renewal_reasons"):
        assert report[key] == full[0][key], key


def test_no_verdict_without_record(directory, leaf, ca):
    install(directory, leaf, ca)

    assess_current(directory, make_settings(), NOW + DAY)

    assert not os.path.exists(verdict_path(directory))
    assert quick_assess(directory, make_settings(), NOW + DAY) is None


@pytest.mark.parametrize(
    "settings",
    [
        make_settings(jitter=0.05),
        make_settings(renew_before="10d"),
        make_settings(renew_before="95%"),
        make_settings(min_renewal_interval=datetime.timedelta(days=70)),
        make_settings(force=True),
        make_settings(name="web2.example.org", jitter=0.05),
    ],
    ids=["jitter", "duration", "clamped-percentage", "min-interval", "force", "other-host-jitter"],
)
@pytest.mark.parametrize(
    "when",
    [NOW + DAY, DUE_AT - DAY - ONE_SECOND, DUE_AT - ONE_SECOND, DUE_AT, NOT_AFTER - ONE_SECOND],
    ids=["fresh", "before-jitter", "before-due", "due", "last-second"],
)
def test_quick_and_full_checks_decide_alike(directory, leaf, ca, settings, when):
    install(directory, leaf, ca, installed_at="2030-01-15T12:00:00Z")
    recorded(directory, settings)

    full = assess_current(directory, settings, when)
    quick = quick_assess(directory, settings, when)

    assert quick is not None
    assert quick[0]["needs_renewal"] == full[0]["needs_renewal"]
    assert quick[0]["renewal_reasons"] == full[0]["renewal_reasons"]
    assert quick[0]["renew_at"] == full[0]["renew_at"]
    assert quick[0]["seconds_left"] == full[0]["seconds_left"]
    assert quick[1] == full[1]


def test_verdict_ignored_after_expiry(directory, leaf, ca):
    install(directory, leaf, ca)
    recorded(directory)

    assert quick_assess(directory, make_settings(), NOT_AFTER) is None
    assert quick_assess(directory, make_settings(), NOT_AFTER + DAY) is None


def test_verdict_ignored_before_not_before(directory, leaf, ca):
    install(directory, leaf, ca)
    recorded(directory)

    assert quick_assess(directory, make_settings(), NOW - DAY) is None


def test_window_ends_at_first_expiry(directory, leaf, ca, make_ca):
    # A trust anchor in the bundle that expires long before the leaf ends the window there,
    # so the full check runs again from then on.
    short = make_ca("short", root_validity="20d", intermediate=False)
    install(directory, leaf, ca)
    bundle = os.path.join(_generations.generation_path(directory, _generations.CURRENT), "ca.pem")
    with open(bundle, "ab") as handle:
        handle.write(short.signer.bundle[0].public_bytes(serialization.Encoding.PEM))
    full = recorded(directory)
    assert full[0]["needs_renewal"] is False

    assert quick_assess(directory, make_settings(), NOW + datetime.timedelta(days=19)) is not None
    assert quick_assess(directory, make_settings(), NOW + datetime.timedelta(days=21)) is None


@pytest.mark.parametrize("name", ["key.pem", "cert.pem", "chain.pem", "ca.pem"])
def test_verdict_ignored_when_a_judged_file_changes(directory, leaf, ca, name):
    install(directory, leaf, ca)
    recorded(directory)
    path = os.path.join(_generations.generation_path(directory, _generations.CURRENT), name)
    with open(path, "ab") as handle:
        handle.write(b"\n")

    assert quick_assess(directory, make_settings(), NOW + DAY) is None


def test_replaced_key_is_caught_by_the_full_check(directory, leaf, ca):
    install(directory, leaf, ca)
    recorded(directory)
    other = generate_private_key("ecdsa-p256")
    install(directory, leaf, ca, key=other)

    assert quick_assess(directory, make_settings(), NOW + DAY) is None
    report, _warnings = recorded(directory)
    assert "the certificate does not match the private key" in report["renewal_reasons"]
    # A generation that failed the full check gets no verdict to reuse.
    assert not os.path.exists(verdict_path(directory))


@pytest.mark.parametrize(
    "settings",
    [
        make_settings(subject_alt_names=["IP:10.0.0.5", "DNS:api.example.org"]),
        make_settings(common_name="web9.example.org"),
        make_settings(profile="client"),
    ],
    ids=["added-san", "other-common-name", "other-profile"],
)
def test_verdict_ignored_when_requested_names_or_profile_change(directory, leaf, ca, settings):
    install(directory, leaf, ca)
    recorded(directory)

    assert quick_assess(directory, settings, NOW + DAY) is None


@pytest.mark.parametrize(
    "content",
    [b"", b"not json", b"[]", json.dumps({"version": 99}).encode(), b'{"version": 1}'],
    ids=["empty", "garbage", "list", "other-version", "fields-missing"],
)
def test_damaged_verdict_falls_back_to_the_full_check(directory, leaf, ca, content):
    install(directory, leaf, ca)
    recorded(directory)
    with open(verdict_path(directory), "wb") as handle:
        handle.write(content)

    assert quick_assess(directory, make_settings(), NOW + DAY) is None


def test_verdict_belongs_to_its_generation(directory, leaf, ca, issue):
    install(directory, leaf, ca)
    recorded(directory)
    newer = issue(ca.signer, sans=("DNS:web1.example.org", "IP:10.0.0.5"))
    install(directory, newer, ca)

    assert quick_assess(directory, make_settings(), NOW + DAY) is None


def test_quick_check_imports_no_cryptography():
    # The quick check exists to decide without loading cryptography.
    code = (
        "import sys\n"
        "from ansible_collections.certfleet.mtls.plugins.module_utils import _quick_check\n"
        "print(sorted(name for name in sys.modules if name.startswith('cryptography')))\n"
    )
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=environment)

    assert result.stdout.strip() == "[]"
