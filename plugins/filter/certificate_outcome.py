# Copyright (c) certfleet.mtls contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The certificate_outcome filter: what the certificate role did on one host in this playbook run."""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

CHECK = "certfleet_certificate_check"
INSTALLED = "certfleet_certificate_installed"
FAILURE = "certfleet_certificate_failure"

INTERRUPTED = "the run stopped between the request and the install: this host or the CA host became unreachable"


def _mapping(value) -> Mapping:
    return value if isinstance(value, Mapping) else {}


def _outcome(status: str, old_serial=None, new_serial=None, not_after=None, reasons=None) -> dict:
    return {
        "status": status,
        "old_serial": old_serial or "",
        "new_serial": new_serial or "",
        "not_after": not_after or "",
        "reasons": list(reasons or []),
    }


def certificate_outcome(host_vars) -> dict:
    """Return the outcome of the certificate role on the host whose variables are given.

    The role registers a check on every run. On a host it installs to, it also registers
    the install result, tagged with the check's identifier, and records a failure with the
    same identifier. Only records of the latest check count, so a result that an earlier
    run of the role left in the host's variables is never reported as this run's.
    """
    if not isinstance(host_vars, Mapping):
        raise AnsibleFilterError(
            f"certificate_outcome expects a host's variables, such as hostvars[inventory_hostname], not {type(host_vars).__name__}"
        )
    check = _mapping(host_vars.get(CHECK))
    if not check:
        return _outcome("unchecked", reasons=["the certificate of this host was not checked in this run"])
    if check.get("failed"):
        return _outcome("failed", reasons=[str(check.get("msg") or "the certificate check failed")])

    check_id = check.get("check_id")
    old_serial = check.get("serial")
    failure = _mapping(host_vars.get(FAILURE))
    if check_id and failure.get("check_id") == check_id:
        return _outcome("failed", old_serial, failure.get("new_serial"), check.get("not_after"), failure.get("reasons"))

    installed = _mapping(host_vars.get(INSTALLED))
    if check_id and installed.get("check_id") == check_id and not installed.get("failed"):
        if not installed.get("changed"):
            return _outcome("current", old_serial, old_serial, installed.get("not_after"))
        status = "rotated" if installed.get("previous_serial") else "issued"
        return _outcome(
            status, installed.get("previous_serial"), installed.get("serial"), installed.get("not_after"),
            check.get("renewal_reasons"),
        )

    if "request" in check:
        return _outcome("interrupted", old_serial, None, check.get("not_after"), [INTERRUPTED])
    if check.get("needs_renewal"):
        return _outcome("due", old_serial, None, check.get("not_after"), check.get("renewal_reasons"))
    return _outcome("current", old_serial, old_serial, check.get("not_after"))


class FilterModule:
    """Filters of certfleet.mtls."""

    def filters(self):
        return {"certificate_outcome": certificate_outcome}
