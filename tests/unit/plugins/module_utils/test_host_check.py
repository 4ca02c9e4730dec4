"""Tests for _host_check: judging the generation in use, staging the next key and building its request."""

from __future__ import annotations

import datetime
import os

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ansible_collections.certfleet.mtls.plugins.module_utils import _generations
from ansible_collections.certfleet.mtls.plugins.module_utils._host_check import (
    CheckSettings,
    assess_current,
    build_request,
    prepare_key,
)
from ansible_collections.certfleet.mtls.plugins.module_utils._keys import (
    describe_key,
    generate_private_key,
    keys_match,
    load_private_key,
    serialize_private_key,
)

from pki_helpers import NOW

UTC = datetime.timezone.utc
# A leaf from the issue fixture at NOW: notBefore 2030-01-15T11:00:00Z (backdated 1h),
# notAfter 2030-04-15T12:00:00Z, so a lifetime of 90d1h. One third of it is 30d20m.
NOT_AFTER = datetime.datetime(2030, 4, 15, 12, 0, 0, tzinfo=UTC)
DUE_AT = datetime.datetime(2030, 3, 16, 11, 40, 0, tzinfo=UTC)
ONE_SECOND = datetime.timedelta(seconds=1)


def make_settings(**overrides) -> CheckSettings:
    """Build the settings renewal_check passes for web1, without jitter unless overridden."""
    values = {
        "name": "web1.example.org",
        "common_name": "web1.example.org",
        "subject_alt_names": ["IP:10.0.0.5"],
        "profile": "server_client",
        "key_type": "ecdsa-p256",
        "key_rotation": "always",
        "validity": "90d",
        "renew_before": None,
        "jitter": 0.0,
        "min_renewal_interval": datetime.timedelta(0),
        "force": False,
    }
    values.update(overrides)
    return CheckSettings(**values)


def install(directory: str, leaf, ca, requested_validity: str | None = "90d", key=None, installed_at: str | None = None) -> str:
    """Install ``leaf`` as the current generation, with ``key`` in place of its own key when given."""
    pem = serialization.Encoding.PEM
    leaf_pem = leaf.certificate.public_bytes(pem)
    chain_pem = b"".join(item.public_bytes(pem) for item in ca.signer.chain)
    files = {
        "key.pem": serialize_private_key(key if key is not None else leaf.key, None),
        "cert.pem": leaf_pem,
        "chain.pem": chain_pem,
        "fullchain.pem": leaf_pem + chain_pem,
        "ca.pem": b"".join(item.public_bytes(pem) for item in ca.signer.bundle),
    }
    metadata = {"requested_validity": requested_validity} if requested_validity else {}
    if installed_at:
        metadata["installed_at"] = installed_at
    _generations.ensure_layout(directory, None, None)
    generation_id = f"20300115T120000Z-{len(os.listdir(os.path.join(directory, 'generations'))):04d}"
    path = _generations.write_generation(directory, generation_id, files, metadata, None, None, 0o644)
    _generations.switch_to(directory, path)
    return path


def staged_key(directory: str):
    with open(_generations.staged_key_path(directory), "rb") as handle:
        return load_private_key(handle.read(), None, "staged key")[0]


def same_key(private_key, other) -> bool:
    """Tell whether ``other`` (a private key or a CSR) has the public half of ``private_key``."""
    return keys_match(private_key, other.public_key())


# assess_current


def test_assess_no_certificate(directory):
    report, warnings = assess_current(directory, make_settings(), NOW)

    assert report == {"exists": False, "needs_renewal": True, "renewal_reasons": ["no certificate is installed"]}
    assert warnings == []


def test_assess_fresh_certificate(directory, leaf, ca):
    install(directory, leaf, ca)

    report, warnings = assess_current(directory, make_settings(), NOW + datetime.timedelta(days=1))

    assert report["exists"] is True
    assert report["needs_renewal"] is False
    assert report["renewal_reasons"] == []
    assert report["renew_at"] == "2030-03-16T11:40:00Z"
    assert report["problems"] == []
    # The 1h backdate makes the lifetime 90d1h for a 90d request, which is no reason to warn.
    assert warnings == []


def test_assess_due_at_renewal_time(directory, leaf, ca):
    install(directory, leaf, ca)

    before, _warnings = assess_current(directory, make_settings(), DUE_AT - ONE_SECOND)
    at, _warnings = assess_current(directory, make_settings(), DUE_AT)

    assert before["needs_renewal"] is False
    assert at["needs_renewal"] is True
    assert at["renewal_reasons"] == [
        "the certificate is due for renewal since 2030-03-16T11:40:00Z (renew_before one third of the lifetime)"
    ]


def test_assess_jitter_comes_earlier(directory, leaf, ca):
    install(directory, leaf, ca)
    # jitter_fraction("web1.example.org", 0.05) is 0.030860550744692933, and 90d1h times
    # that is 2d18h41m22.740573s, so the renewal time moves from 11:40:00 on 16 March.
    jittered_due = datetime.datetime(2030, 3, 13, 16, 58, 37, 259427, tzinfo=UTC)

    before, _warnings = assess_current(directory, make_settings(jitter=0.05), jittered_due - ONE_SECOND)
    after, _warnings = assess_current(directory, make_settings(jitter=0.05), jittered_due)

    assert before["renew_at"] == "2030-03-13T16:58:37Z"
    assert before["needs_renewal"] is False
    assert after["needs_renewal"] is True
    assert after["renewal_reasons"] == [
        "the certificate is due for renewal since 2030-03-13T16:58:37Z (renew_before one third of the lifetime)"
    ]


def test_assess_jitter_differs_per_name(directory, leaf, ca):
    install(directory, leaf, ca)

    web1, _warnings = assess_current(directory, make_settings(jitter=0.05), NOW)
    web2, _warnings = assess_current(directory, make_settings(name="web2.example.org", jitter=0.05), NOW)

    # jitter_fraction("web2.example.org", 0.05) is 0.04460536654074159, 4d23m31.90954s of 90d1h.
    assert web1["renew_at"] == "2030-03-13T16:58:37Z"
    assert web2["renew_at"] == "2030-03-12T11:16:28Z"


def test_assess_shortened_lifetime_warns(directory, make_ca, issue, now):
    # The issuing CA expires 40 days after NOW, so the 90-day request gets 40d1h.
    short_ca = make_ca("short", now=now, intermediate_validity="40d")
    short_leaf = issue(short_ca.signer, now=now, validity="90d")
    install(directory, short_leaf, short_ca, requested_validity="90d")

    report, warnings = assess_current(directory, make_settings(), now + datetime.timedelta(days=1))

    assert report["renew_at"] == "2030-02-11T03:40:00Z"
    assert report["needs_renewal"] is False
    assert warnings == [
        "the CA issued a lifetime of 40d1h (notBefore 2030-01-15T11:00:00Z) where 90d was requested, "
        "so renewal is due at 2030-02-11T03:40:00Z"
    ]


# No recorded request, the issued 40d (plus the 1h backdate), a request shorter than issued, an invalid value.
@pytest.mark.parametrize("requested_validity", [None, "40d", "39d", "not a duration"])
def test_assess_lifetime_no_warning(directory, make_ca, issue, now, requested_validity):
    short_ca = make_ca("short", now=now, intermediate_validity="40d")
    short_leaf = issue(short_ca.signer, now=now, validity="40d")
    install(directory, short_leaf, short_ca, requested_validity=requested_validity)

    _report, warnings = assess_current(directory, make_settings(), now + datetime.timedelta(days=1))

    assert warnings == []


def test_assess_backdate_warning(directory, make_ca, issue, now):
    # The policy backdates notBefore by 1h, a large share of a 1-day lifetime.
    short_ca = make_ca("backdated", now=now)
    short_leaf = issue(short_ca.signer, now=now, validity="1d")
    install(directory, short_leaf, short_ca, requested_validity="1d", installed_at="2030-01-15T12:00:00Z")

    _report, warnings = assess_current(directory, make_settings(jitter=0.0), now)

    assert len(warnings) == 1
    assert "backdated notBefore to 2030-01-15T11:00:00Z, 1h before this certificate was installed" in warnings[0]
    assert "renewal is due at 2030-01-16T03:40:00Z" in warnings[0]


def test_assess_small_backdate_no_warning(directory, leaf, ca):
    # 1h of a 90-day lifetime is below the 1% that moves renewal noticeably.
    install(directory, leaf, ca, requested_validity="90d", installed_at="2030-01-15T12:00:00Z")

    _report, warnings = assess_current(directory, make_settings(), NOW)

    assert warnings == []


def test_assess_expired_certificate_due(directory, leaf, ca):
    # The host was offline for 30 days past expiry and runs the check again.
    install(directory, leaf, ca)

    report, _warnings = assess_current(directory, make_settings(jitter=0.05), NOT_AFTER + datetime.timedelta(days=30))

    assert report["expired"] is True
    assert report["needs_renewal"] is True
    assert report["renewal_reasons"] == [
        "the certificate does not chain to the trust bundle: 'CN=web1.example.org' expired at 2030-04-15T12:00:00Z",
        "the certificate expired at 2030-04-15T12:00:00Z",
    ]


def test_assess_threshold_longer_than_lifetime(directory, leaf, ca):
    install(directory, leaf, ca)
    settings = make_settings(renew_before="120d", jitter=0.05)

    fresh, _warnings = assess_current(directory, settings, NOW)
    later, _warnings = assess_current(directory, settings, DUE_AT)

    # 120d is clamped to one third of the lifetime, and the host's jitter comes on top,
    # as it does for the default threshold.
    default, _warnings = assess_current(directory, make_settings(jitter=0.05), NOW)
    assert fresh["needs_renewal"] is False
    assert fresh["renew_at"] == "2030-03-13T16:58:37Z"
    assert fresh["renew_at"] == default["renew_at"]
    assert later["needs_renewal"] is True


def test_assess_unreadable_certificate(directory, leaf, ca):
    path = install(directory, leaf, ca)
    with open(os.path.join(path, "cert.pem"), "wb") as handle:
        handle.write(b"not a certificate\n")

    report, warnings = assess_current(directory, make_settings(), NOW)

    assert report["exists"] is True
    assert report["needs_renewal"] is True
    assert len(report["renewal_reasons"]) == 1
    assert f"{directory}/cert.pem" in report["renewal_reasons"][0]
    assert warnings == []


def test_assess_force(directory, leaf, ca):
    install(directory, leaf, ca)

    report, _warnings = assess_current(directory, make_settings(force=True), NOW + datetime.timedelta(days=1))

    assert report["needs_renewal"] is True
    assert report["renewal_reasons"] == ["renewal was forced"]


# min_renewal_interval


def test_min_interval_drops_young_renewal(directory, leaf, ca):
    # renew_before=81d makes the certificate due at 2030-01-24T12:00:00Z, 9d1h after notBefore.
    install(directory, leaf, ca)
    now = datetime.datetime(2030, 1, 26, 12, 0, 0, tzinfo=UTC)

    without, _warnings = assess_current(directory, make_settings(renew_before="81d"), now)
    with_interval, _warnings = assess_current(
        directory, make_settings(renew_before="81d", min_renewal_interval=datetime.timedelta(days=30)), now,
    )

    assert without["needs_renewal"] is True
    assert without["renewal_reasons"] == ["the certificate is due for renewal since 2030-01-24T12:00:00Z (renew_before 81d)"]
    assert with_interval["needs_renewal"] is False
    assert with_interval["renewal_reasons"] == []


def test_min_interval_passed(directory, leaf, ca):
    install(directory, leaf, ca)
    # Age 11d1h, more than the 11d interval.
    now = datetime.datetime(2030, 1, 26, 12, 0, 0, tzinfo=UTC)

    report, _warnings = assess_current(
        directory, make_settings(renew_before="81d", min_renewal_interval=datetime.timedelta(days=11)), now,
    )

    assert report["needs_renewal"] is True


def test_min_interval_keeps_expired(directory, leaf, ca):
    install(directory, leaf, ca)
    settings = make_settings(min_renewal_interval=datetime.timedelta(days=400))

    report, _warnings = assess_current(directory, settings, NOT_AFTER + ONE_SECOND)

    assert report["needs_renewal"] is True
    assert "the certificate expired at 2030-04-15T12:00:00Z" in report["renewal_reasons"]


def test_min_interval_keeps_key_mismatch(directory, leaf, ca):
    install(directory, leaf, ca, key=generate_private_key("ecdsa-p256"))
    settings = make_settings(min_renewal_interval=datetime.timedelta(days=30))

    report, _warnings = assess_current(directory, settings, NOW + datetime.timedelta(hours=1))

    assert report["needs_renewal"] is True
    assert report["renewal_reasons"] == ["the certificate does not match the private key"]


def test_min_interval_keeps_missing_names(directory, leaf, ca):
    install(directory, leaf, ca)
    settings = make_settings(
        subject_alt_names=["IP:10.0.0.5", "DNS:api.example.org"], min_renewal_interval=datetime.timedelta(days=30),
    )

    report, _warnings = assess_current(directory, settings, NOW + datetime.timedelta(hours=1))

    assert report["needs_renewal"] is True
    assert report["renewal_reasons"] == ["the certificate lacks the names DNS:api.example.org"]


def test_min_interval_keeps_mismatch_with_time(directory, leaf, ca):
    # Due by time and by a key mismatch: the interval drops nothing.
    install(directory, leaf, ca, key=generate_private_key("ecdsa-p256"))
    settings = make_settings(renew_before="81d", min_renewal_interval=datetime.timedelta(days=30))

    report, _warnings = assess_current(directory, settings, datetime.datetime(2030, 1, 26, 12, 0, 0, tzinfo=UTC))

    assert report["renewal_reasons"] == [
        "the certificate does not match the private key",
        "the certificate is due for renewal since 2030-01-24T12:00:00Z (renew_before 81d)",
    ]


# prepare_key


def test_prepare_key_without_key_stages(directory):
    key, staged, changed = prepare_key(directory, make_settings(key_rotation="never"), check_mode=False)

    assert staged is True
    assert changed is True
    assert describe_key(key.public_key()) == "ecdsa-p256"
    path = _generations.staged_key_path(directory)
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert same_key(staged_key(directory), key)


def test_prepare_key_rotation_stages_new(directory, leaf, ca):
    install(directory, leaf, ca)

    key, staged, changed = prepare_key(directory, make_settings(key_rotation="always"), check_mode=False)

    assert staged is True
    assert changed is True
    assert not same_key(key, leaf.key)
    assert same_key(staged_key(directory), key)
    assert os.stat(_generations.staged_key_path(directory)).st_mode & 0o777 == 0o600
    # The key in use stays until a certificate for the staged key is installed.
    assert same_key(load_private_key(_generations.read_generation_file(directory, "key.pem"), None, "key")[0], leaf.key)


def test_prepare_key_reuses_staged(directory, leaf, ca):
    install(directory, leaf, ca)
    first, _staged, _changed = prepare_key(directory, make_settings(), check_mode=False)
    path = _generations.staged_key_path(directory)
    status = os.stat(path)

    second, staged, changed = prepare_key(directory, make_settings(), check_mode=False)

    assert staged is True
    assert changed is False
    assert same_key(second, first)
    assert os.stat(path).st_mtime_ns == status.st_mtime_ns


def test_prepare_key_staged_other_type(directory, leaf, ca):
    install(directory, leaf, ca)
    stale = generate_private_key("ed25519")
    with open(_generations.staged_key_path(directory), "wb") as handle:
        handle.write(serialize_private_key(stale, None))

    key, staged, changed = prepare_key(directory, make_settings(key_type="ecdsa-p256"), check_mode=False)

    assert staged is True
    assert changed is True
    assert describe_key(key.public_key()) == "ecdsa-p256"
    assert same_key(staged_key(directory), key)


def test_prepare_key_staged_unreadable(directory, leaf, ca):
    install(directory, leaf, ca)
    with open(_generations.staged_key_path(directory), "wb") as handle:
        handle.write(b"-----BEGIN PRIVATE KEY-----\ntruncated\n")

    key, staged, changed = prepare_key(directory, make_settings(), check_mode=False)

    assert staged is True
    assert changed is True
    assert same_key(staged_key(directory), key)


def test_prepare_key_never_keeps_current(directory, leaf, ca):
    # An install that stopped after switching but before removing the staged key leaves
    # the key in use in staged/key.pem. Rotation must not reuse it.
    install(directory, leaf, ca)
    with open(_generations.staged_key_path(directory), "wb") as handle:
        handle.write(serialize_private_key(leaf.key, None))

    key, staged, changed = prepare_key(directory, make_settings(key_rotation="always"), check_mode=False)

    assert staged is True
    assert changed is True
    assert not same_key(key, leaf.key)
    assert same_key(staged_key(directory), key)


def test_prepare_key_no_rotation_keeps_current(directory, leaf, ca):
    install(directory, leaf, ca)

    key, staged, changed = prepare_key(directory, make_settings(key_rotation="never"), check_mode=False)

    assert staged is False
    assert changed is False
    assert same_key(key, leaf.key)
    assert not os.path.exists(_generations.staged_key_path(directory))


def test_prepare_key_type_change_stages(directory, leaf, ca):
    install(directory, leaf, ca)

    key, staged, changed = prepare_key(directory, make_settings(key_rotation="never", key_type="ed25519"), check_mode=False)

    assert staged is True
    assert changed is True
    assert describe_key(key.public_key()) == "ed25519"
    assert same_key(staged_key(directory), key)


@pytest.mark.parametrize("key_rotation", ["always", "never"])
def test_prepare_key_check_mode_writes_nothing(directory, leaf, ca, key_rotation):
    install(directory, leaf, ca)
    settings = make_settings(key_rotation=key_rotation, key_type="ed25519")

    key, staged, changed = prepare_key(directory, settings, check_mode=True)

    assert staged is True
    assert changed is True
    assert describe_key(key.public_key()) == "ed25519"
    assert os.listdir(os.path.join(directory, "staged")) == []


# build_request


def test_build_request(leaf):
    settings = make_settings(subject_alt_names=["IP:10.0.0.5", "DNS:api.example.org"], profile="server", validity="30d")

    request = build_request(leaf.key, settings)

    assert sorted(request) == ["csr", "name", "profile", "validity"]
    assert request["name"] == "web1.example.org"
    assert request["profile"] == "server"
    assert request["validity"] == "30d"
    csr = x509.load_pem_x509_csr(request["csr"].encode("ascii"))
    assert csr.is_signature_valid
    assert same_key(leaf.key, csr)
    assert csr.subject.rfc4514_string() == "CN=web1.example.org"
    sans = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["web1.example.org", "api.example.org"]
    assert [str(address) for address in sans.get_values_for_type(x509.IPAddress)] == ["10.0.0.5"]


def test_prepare_key_unreadable_current_stages(directory, leaf, ca):
    # assess_current reports the unreadable key as a renewal reason, so the run must be able to stage a new one.
    path = install(directory, leaf, ca)
    with open(os.path.join(path, "key.pem"), "wb") as handle:
        handle.write(b"-----BEGIN PRIVATE KEY-----\ntruncated\n")
    settings = make_settings(key_rotation="never")

    report, _warnings = assess_current(directory, settings, NOW)
    key, staged, changed = prepare_key(directory, settings, check_mode=False)

    assert report["needs_renewal"] is True
    assert len(report["renewal_reasons"]) == 1
    assert f"{directory}/key.pem" in report["renewal_reasons"][0]
    assert staged is True
    assert changed is True
    assert same_key(staged_key(directory), key)
