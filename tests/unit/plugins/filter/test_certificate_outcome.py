"""Tests for the certificate_outcome filter: one outcome per host from the role's records of this run."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.certfleet.mtls.plugins.filter.certificate_outcome import FilterModule, certificate_outcome

CURRENT_CHECK = {
    "check_id": "c2", "needs_renewal": False, "renewal_reasons": [], "serial": "aa", "not_after": "2030-04-15T12:00:00Z",
}
DUE_CHECK = {
    "check_id": "c2", "needs_renewal": True, "renewal_reasons": ["the certificate is due for renewal since X"],
    "serial": "aa", "not_after": "2030-04-15T12:00:00Z",
}
REQUEST_CHECK = {**DUE_CHECK, "request": {"name": "web1", "csr": "..."}}
INSTALLED = {"check_id": "c2", "changed": True, "serial": "bb", "previous_serial": "aa", "not_after": "2030-07-15T12:00:00Z"}


def test_filter_is_registered():
    assert FilterModule().filters()["certificate_outcome"] is certificate_outcome


def test_unchecked_host():
    assert certificate_outcome({})["status"] == "unchecked"


def test_failed_check():
    outcome = certificate_outcome({"certfleet_certificate_check": {"failed": True, "msg": "directory is not writable"}})

    assert outcome["status"] == "failed"
    assert outcome["reasons"] == ["directory is not writable"]


def test_nothing_due():
    outcome = certificate_outcome({"certfleet_certificate_check": CURRENT_CHECK})

    assert outcome == {
        "status": "current", "old_serial": "aa", "new_serial": "aa", "not_after": "2030-04-15T12:00:00Z", "reasons": [],
    }


def test_due_in_a_check_only_pass():
    outcome = certificate_outcome({"certfleet_certificate_check": DUE_CHECK})

    assert outcome["status"] == "due"
    assert outcome["reasons"] == DUE_CHECK["renewal_reasons"]


def test_rotated():
    outcome = certificate_outcome({"certfleet_certificate_check": REQUEST_CHECK, "certfleet_certificate_installed": INSTALLED})

    assert outcome == {
        "status": "rotated", "old_serial": "aa", "new_serial": "bb", "not_after": "2030-07-15T12:00:00Z",
        "reasons": DUE_CHECK["renewal_reasons"],
    }


def test_first_issuance():
    check = {"check_id": "c2", "needs_renewal": True, "renewal_reasons": ["no certificate is installed"], "request": {}}
    installed = {"check_id": "c2", "changed": True, "serial": "bb", "not_after": "2030-07-15T12:00:00Z"}

    outcome = certificate_outcome({"certfleet_certificate_check": check, "certfleet_certificate_installed": installed})

    assert outcome["status"] == "issued"
    assert outcome["old_serial"] == ""
    assert outcome["new_serial"] == "bb"


def test_failure_of_this_run():
    failure = {"check_id": "c2", "new_serial": "bb", "reasons": ["Rotation on web1 failed at 'Reload nginx': exit 1."]}

    outcome = certificate_outcome({
        "certfleet_certificate_check": REQUEST_CHECK, "certfleet_certificate_installed": INSTALLED,
        "certfleet_certificate_failure": failure,
    })

    assert outcome["status"] == "failed"
    assert outcome["old_serial"] == "aa"
    assert outcome["new_serial"] == "bb"
    assert outcome["reasons"] == failure["reasons"]


@pytest.mark.parametrize("check", [CURRENT_CHECK, DUE_CHECK], ids=["current", "due"])
def test_records_of_an_earlier_run_are_ignored(check):
    # An earlier run of the role in the same playbook installed and then failed under check c1.
    host_vars = {
        "certfleet_certificate_check": check,
        "certfleet_certificate_installed": {**INSTALLED, "check_id": "c1"},
        "certfleet_certificate_failure": {"check_id": "c1", "new_serial": "bb", "reasons": ["old failure"]},
    }

    outcome = certificate_outcome(host_vars)

    assert outcome["status"] == ("current" if check is CURRENT_CHECK else "due")


def test_interrupted_between_request_and_install():
    outcome = certificate_outcome({
        "certfleet_certificate_check": REQUEST_CHECK, "certfleet_certificate_installed": {**INSTALLED, "check_id": "c1"},
    })

    assert outcome["status"] == "interrupted"
    assert "became unreachable" in outcome["reasons"][0]


def test_install_that_found_the_certificate_in_place():
    installed = {"check_id": "c2", "changed": False, "serial": "aa", "not_after": "2030-04-15T12:00:00Z"}

    outcome = certificate_outcome({"certfleet_certificate_check": REQUEST_CHECK, "certfleet_certificate_installed": installed})

    assert outcome["status"] == "current"


@pytest.mark.parametrize("value", [None, "web1", ["web1"]], ids=["none", "string", "list"])
def test_rejects_what_is_not_a_host_s_variables(value):
    with pytest.raises(AnsibleFilterError, match=r"hostvars\[inventory_hostname\]"):
        certificate_outcome(value)
