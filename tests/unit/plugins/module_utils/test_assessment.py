"""Tests for _assessment: when a host's certificate needs renewal, and why."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.certfleet.mtls.plugins.module_utils._assessment import assess, chain_problems, missing_names
from ansible_collections.certfleet.mtls.plugins.module_utils._keys import generate_private_key
from ansible_collections.certfleet.mtls.plugins.module_utils._renewal import parse_threshold

from pki_helpers import NOW

UTC = datetime.timezone.utc
# A leaf issued at NOW with the default 90-day validity and 1-hour backdate is due
# one third of its lifetime (30d20m) before notAfter 2030-04-15T12:00:00Z.
DUE_AT = datetime.datetime(2030, 3, 16, 11, 40, 0, tzinfo=UTC)
ONE_SECOND = datetime.timedelta(seconds=1)


@pytest.fixture
def leaf(ca, issue):
    return issue(ca.signer)


def assess_leaf(leaf, ca, now, **overrides):
    """Assess ``leaf`` with every check enabled, as the certificate module does."""
    arguments = {
        "private_key": leaf.key,
        "chain": ca.signer.chain,
        "bundle": ca.signer.bundle,
        "common_name": "web1.example.org",
        "sans": ["DNS:web1.example.org", "IP:10.0.0.5"],
        "profile": "server_client",
    }
    arguments.update(overrides)
    return assess(leaf.certificate, now, parse_threshold(arguments.pop("renew_before", None)), **arguments)


def test_fresh_certificate(leaf, ca):
    report, warnings = assess_leaf(leaf, ca, NOW + datetime.timedelta(minutes=5))

    assert report["needs_renewal"] is False
    assert report["renewal_reasons"] == []
    assert report["key_matches"] is True
    assert report["chains_to_bundle"] is True
    assert report["chain_problems"] == []
    assert report["missing_names"] == []
    assert report["renew_at"] == "2030-03-16T11:40:00Z"
    assert warnings == []


def test_key_mismatch(leaf, ca):
    report, _warnings = assess_leaf(leaf, ca, NOW, private_key=generate_private_key("ecdsa-p256"))

    assert report["needs_renewal"] is True
    assert report["key_matches"] is False
    assert report["renewal_reasons"] == ["the certificate does not match the private key"]


def test_other_ca_bundle(leaf, ca, make_ca):
    other = make_ca("other")

    report, _warnings = assess_leaf(leaf, ca, NOW, chain=other.signer.chain, bundle=other.signer.bundle)

    assert report["needs_renewal"] is True
    assert report["chains_to_bundle"] is False
    assert len(report["renewal_reasons"]) == 1
    assert report["renewal_reasons"][0].startswith("the certificate does not chain to the trust bundle: no issuer of")


def test_missing_chain(leaf, ca):
    report, _warnings = assess_leaf(leaf, ca, NOW, chain=None)

    assert report["chains_to_bundle"] is False
    assert report["needs_renewal"] is True


def test_empty_bundle(leaf, ca):
    report, _warnings = assess_leaf(leaf, ca, NOW, bundle=[])

    assert report["chain_problems"] == ["the trust bundle contains no certificate"]
    assert report["needs_renewal"] is True


def test_missing_san(leaf, ca):
    report, _warnings = assess_leaf(leaf, ca, NOW, sans=["DNS:web1.example.org", "DNS:api.example.org", "IP:10.0.0.6"])

    assert report["needs_renewal"] is True
    assert report["missing_names"] == ["DNS:api.example.org", "IP:10.0.0.6"]
    assert report["renewal_reasons"] == ["the certificate lacks the names DNS:api.example.org, IP:10.0.0.6"]


def test_missing_cn_name(leaf, ca):
    report, _warnings = assess_leaf(leaf, ca, NOW, common_name="web2.example.org")

    assert report["missing_names"] == ["DNS:web2.example.org"]
    assert report["needs_renewal"] is True


def test_server_profile_for_server_client(ca, issue):
    server_only = issue(ca.signer, profile="server")

    report, _warnings = assess_leaf(server_only, ca, NOW, profile="server_client")

    assert report["needs_renewal"] is True
    assert report["renewal_reasons"] == [
        "the certificate's extended key usages ['serverAuth'] do not cover the server_client profile"
    ]


def test_server_client_covers_server(leaf, ca):
    report, _warnings = assess_leaf(leaf, ca, NOW, profile="server")

    assert report["needs_renewal"] is False


def test_expired_host_offline(leaf, ca):
    back_online = NOW + datetime.timedelta(days=120)

    report, _warnings = assess_leaf(leaf, ca, back_online)

    assert report["expired"] is True
    assert report["needs_renewal"] is True
    assert "the certificate expired at 2030-04-15T12:00:00Z" in report["renewal_reasons"]
    assert not any("due for renewal" in reason for reason in report["renewal_reasons"])


def test_due_by_threshold(leaf, ca):
    report, _warnings = assess_leaf(leaf, ca, DUE_AT)

    assert report["needs_renewal"] is True
    assert report["renewal_reasons"] == [
        "the certificate is due for renewal since 2030-03-16T11:40:00Z (renew_before one third of the lifetime)"
    ]


def test_not_due_before_threshold(leaf, ca):
    report, _warnings = assess_leaf(leaf, ca, DUE_AT - ONE_SECOND)

    assert report["needs_renewal"] is False


def test_due_by_duration(leaf, ca):
    report, _warnings = assess_leaf(leaf, ca, datetime.datetime(2030, 4, 8, 12, 0, 0, tzinfo=UTC), renew_before="7d")

    assert report["renew_at"] == "2030-04-08T12:00:00Z"
    assert report["needs_renewal"] is True
    assert "(renew_before 7d)" in report["renewal_reasons"][0]


def test_clamped_threshold_warns(leaf, ca):
    report, warnings = assess_leaf(leaf, ca, NOW, renew_before="89d23h50m")

    assert report["needs_renewal"] is False
    assert report["renew_at"] == "2030-03-16T11:40:00Z"
    assert len(warnings) == 1
    assert "renew_before=89d23h50m" in warnings[0]


def test_same_inputs_same_result(leaf, ca):
    first = assess_leaf(leaf, ca, NOW + datetime.timedelta(days=10))
    second = assess_leaf(leaf, ca, NOW + datetime.timedelta(days=10))

    assert first == second


def test_naive_now_rejected(leaf, ca):
    naive = datetime.datetime(2030, 1, 16, 12, 0, 0)

    with pytest.raises(TypeError):
        assess_leaf(leaf, ca, naive)


def test_report_times_are_utc(leaf, ca):
    report, _warnings = assess_leaf(leaf, ca, NOW)

    for field in ("not_before", "not_after", "renew_at"):
        assert report[field].endswith("Z")


def test_checks_skipped_without_inputs(leaf):
    report, _warnings = assess(leaf.certificate, NOW, parse_threshold(None))

    assert "key_matches" not in report
    assert "chains_to_bundle" not in report
    assert report["missing_names"] == []
    assert report["needs_renewal"] is False


def test_missing_names_case_insensitive(leaf):
    report = {"subject_alt_names": ["DNS:Web1.Example.org"]}

    assert missing_names(report, "web1.example.org", []) == []
    assert missing_names(report, None, None) == []


def test_chain_problems_expired_ca(leaf, ca):
    problems = chain_problems(leaf.certificate, ca.signer.chain, ca.signer.bundle, NOW + datetime.timedelta(days=1900))

    assert "'CN=Fleet Issuing CA,O=Example Fleet' expired at 2035-01-14T12:00:00Z" in problems
