#!/usr/bin/python
# Copyright (c) certfleet.mtls contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: renewal_check
short_description: Check a host's certificate generation and prepare a signing request when it is due
version_added: 0.1.0
description:
  - Works on a certificate directory with generations, as M(certfleet.mtls.certificate_generation) installs them.
    It checks the certificate in use and, when it needs renewal, stages a key and returns a CSR, all in one module
    execution, so a host where nothing is due costs one execution per run.
  - A certificate is due when none is installed, when it cannot be read, does not match its key, does not chain to the
    installed bundle, lacks a requested name or the extended key usages of the profile, has expired (a host that was
    offline past expiry is renewed on its next run), or has reached its renewal time.
  - The renewal time comes from the issued certificate's own notBefore and notAfter, comes earlier by a per-host jitter,
    and is never inside the first tenth of the lifetime. When the CA issued a shorter lifetime than was requested,
    a warning reports it with the renewal time.
  - With O(key_rotation=always) the next certificate is for a new key, staged in C(staged/key.pem). The staged key never
    replaces the key in use until its certificate is installed. A staged key left by an interrupted run is reused.
  - Also repairs what an interrupted run left behind, such as half-written generations, temporary links or a missing
    C(current) link.
options:
  directory:
    description: The certificate directory, created with mode C(0700) when missing.
    type: path
    required: true
  name:
    description: Name of the request in signing results, usually the inventory host name.
    type: str
    required: true
  common_name:
    description: Common name of the certificate, also requested as a SAN.
    type: str
    required: true
  subject_alt_names:
    description: Extra SANs, as in M(certfleet.mtls.csr).
    type: list
    elements: str
    default: []
  profile:
    description: Extended key usages to request and to require of the certificate in use.
    type: str
    choices: [server, client, server_client]
    default: server_client
  key_type:
    description: Type of new keys. A key in use of another type is replaced at the next issuance.
    type: str
    choices: [ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072, rsa-4096, ed25519]
    default: ecdsa-p256
  key_rotation:
    description: V(always) requests each new certificate for a new key; V(never) keeps the key in use.
    type: str
    choices: [always, never]
    default: always
  validity:
    description: Lifetime to request, as a duration such as V(30d).
    type: str
    default: 30d
  renew_before:
    description:
      - Renewal threshold, a duration before notAfter such as V(10d) or a percentage of the lifetime such as V(33%).
      - Defaults to one third of the lifetime.
    type: str
  jitter:
    description: Largest fraction of the lifetime by which a host's renewal comes earlier, chosen per host from O(name).
    type: float
    default: 0.05
  min_renewal_interval:
    description:
      - Shortest age of a certificate before its renewal time alone makes it due, such as V(1h), so a misconfigured
        threshold cannot renew on every run. Expiry, a key mismatch and the other faults still make it due.
    type: str
    default: 0s
  force:
    description: Renew even when nothing else makes the certificate due.
    type: bool
    default: false
  owner:
    description: Owner of the directory and new files. Unchanged when unset.
    type: str
  group:
    description: Group of the directory and new files. Unchanged when unset.
    type: str
attributes:
  check_mode:
    support: full
    description: Reports whether and why the certificate is due, and stages nothing.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
requirements:
  - cryptography >= 38.0
author:
  - certfleet.mtls contributors (!UNKNOWN)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: Check the host certificate and prepare a request when due
  certfleet.mtls.renewal_check:
    directory: /etc/certfleet/tls/host
    name: "{{ inventory_hostname }}"
    common_name: "{{ inventory_hostname }}"
    renew_before: 10d
  register: host_check
"""

RETURN = r"""
needs_renewal:
  description: Whether the certificate should be replaced now.
  returned: always
  type: bool
renewal_reasons:
  description: Why the certificate is due; empty when it is not.
  returned: always
  type: list
  elements: str
request:
  description: The signing request for M(certfleet.mtls.sign_csr), with C(name), C(csr), C(profile) and C(validity).
  returned: when due and not in check mode
  type: dict
serial:
  description: Serial of the certificate in use, in hex.
  returned: when a certificate is installed and readable
  type: str
not_after:
  description: End of validity of the certificate in use, ISO 8601 UTC.
  returned: when a certificate is installed and readable
  type: str
renew_at:
  description: When the certificate in use becomes due, ISO 8601 UTC, jitter included.
  returned: when a certificate is installed and readable
  type: str
repairs:
  description: What was repaired after an interrupted run.
  returned: always
  type: list
  elements: str
check_id:
  description:
    - A random identifier of this check. Pass it to M(certfleet.mtls.certificate_generation) as O(certfleet.mtls.certificate_generation#module:check_id)
      to tell later which results of a playbook run belong to this check.
  returned: always
  type: str
  sample: 3f9c2a7d41e0b6c5
"""

import datetime
import secrets

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.certfleet.mtls.plugins.module_utils._module import run_module

try:
    from ansible_collections.certfleet.mtls.plugins.module_utils import _generations
    from ansible_collections.certfleet.mtls.plugins.module_utils._quick_check import CheckSettings, quick_assess
    from ansible_collections.certfleet.mtls.plugins.module_utils._time import parse_duration, utc_now
except ImportError:
    pass

_REPORTED = ("exists", "serial", "not_after", "renew_at", "seconds_left", "subject_alt_names", "problems")


def check(module: AnsibleModule) -> dict:
    params = module.params
    directory = params["directory"]
    settings = CheckSettings(
        name=params["name"],
        common_name=params["common_name"],
        subject_alt_names=params["subject_alt_names"],
        profile=params["profile"],
        key_type=params["key_type"],
        key_rotation=params["key_rotation"],
        validity=params["validity"],
        renew_before=params["renew_before"],
        jitter=params["jitter"],
        min_renewal_interval=_interval(params["min_renewal_interval"]),
        force=params["force"],
    )
    changed = False
    repairs = []
    if not module.check_mode:
        changed = _generations.ensure_layout(directory, params["owner"], params["group"])
        repairs = _generations.repair(directory)

    now = utc_now()
    # Most runs find nothing due, and the recorded verdict of an earlier full check then
    # decides without loading cryptography. Anything due takes the full check.
    assessed = quick_assess(directory, settings, now)
    if assessed is None or assessed[0]["needs_renewal"]:
        from ansible_collections.certfleet.mtls.plugins.module_utils._host_check import assess_current

        assessed = assess_current(directory, settings, now, record=not module.check_mode)
    report, warnings = assessed
    for warning in warnings:
        module.warn(warning)
    result = {key: report[key] for key in _REPORTED if key in report}
    result.update(needs_renewal=report["needs_renewal"], renewal_reasons=report["renewal_reasons"], repairs=repairs)

    if report["needs_renewal"] and module.check_mode:
        # Check mode reports the key it would stage, without writing it.
        changed = True
    elif report["needs_renewal"]:
        from ansible_collections.certfleet.mtls.plugins.module_utils._host_check import build_request, prepare_key

        key, staged, key_changed = prepare_key(directory, settings, module.check_mode)
        result["request"] = build_request(key, settings)
        result["staged_key"] = staged
        changed = changed or key_changed
    result["changed"] = changed or bool(repairs)
    result["check_id"] = secrets.token_hex(8)
    return result


def _interval(value: str) -> datetime.timedelta:
    if str(value).strip() in ("0", "0s", ""):
        return datetime.timedelta(0)
    return parse_duration(value, "min_renewal_interval")


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "directory": {"type": "path", "required": True},
            "name": {"type": "str", "required": True},
            "common_name": {"type": "str", "required": True},
            "subject_alt_names": {"type": "list", "elements": "str", "default": []},
            "profile": {"type": "str", "choices": ["server", "client", "server_client"], "default": "server_client"},
            "key_type": {
                "type": "str",
                "choices": ["ecdsa-p256", "ecdsa-p384", "rsa-2048", "rsa-3072", "rsa-4096", "ed25519"],
                "default": "ecdsa-p256",
            },
            "key_rotation": {"type": "str", "choices": ["always", "never"], "default": "always"},
            "validity": {"type": "str", "default": "30d"},
            "renew_before": {"type": "str"},
            "jitter": {"type": "float", "default": 0.05},
            "min_renewal_interval": {"type": "str", "default": "0s"},
            "force": {"type": "bool", "default": False},
            "owner": {"type": "str"},
            "group": {"type": "str"},
        },
        supports_check_mode=True,
    )
    run_module(module, check)


if __name__ == "__main__":
    main()
