#!/usr/bin/python
# Copyright (c) certfleet.mtls contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: certificate_info
short_description: Report on a host's certificate and whether it needs renewal
version_added: 0.1.0
description:
  - Reads a certificate on the managed host and reports its subject, SANs, issuer, serial, validity, time left, whether it
    matches the private key, whether it chains to the trust bundle, and whether it needs renewal.
  - A certificate needs renewal when it is missing, cannot be read, has malformed content, does not match the key, does not
    chain to the bundle, lacks a requested name or the extended key usages of the requested profile, has expired, or has
    reached its renewal time.
  - The renewal time is computed from the issued certificate's own validity. A threshold that would make a freshly issued
    certificate due at once is clamped to one third of the lifetime, with a warning.
  - Odd certificates (negative serials, extensions that do not parse) are reported with their problems, never with a traceback.
options:
  path:
    description: Path of the certificate (PEM). A missing file is reported with RV(exists=false) and RV(needs_renewal=true).
    type: path
    required: true
  private_key_path:
    description: Path of the private key, to check that the certificate matches it.
    type: path
  passphrase:
    description: Passphrase of the private key, when it is encrypted.
    type: str
  chain_path:
    description: Path of the intermediate CA certificates (PEM) used to build the chain.
    type: path
  ca_bundle_path:
    description: Path of the trust bundle (PEM) that the certificate must chain to.
    type: path
  common_name:
    description: Common name the certificate must carry as a SAN.
    type: str
  subject_alt_names:
    description: SANs the certificate must carry, in the forms M(certfleet.mtls.csr) accepts.
    type: list
    elements: str
  profile:
    description: Profile whose extended key usages the certificate must carry.
    type: str
    choices: [server, client, server_client]
  renew_before:
    description:
      - When renewal is due, as a duration before notAfter such as V(30d) or V(12h), or as a percentage of the lifetime
        left such as V(33%).
      - Defaults to one third of the certificate's lifetime.
    type: str
  valid_at:
    description:
      - Judge the certificate as of this time instead of now, such as V(20300101000000Z), V(2030-01-01T00:00:00Z) or V(+30d).
    type: str
attributes:
  check_mode:
    support: full
    details: Reads only, so check mode reports the same.
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
- name: Check whether the host certificate needs renewal
  certfleet.mtls.certificate_info:
    path: /etc/certfleet/tls/host/cert.pem
    private_key_path: /etc/certfleet/tls/host/key.pem
    chain_path: /etc/certfleet/tls/host/chain.pem
    ca_bundle_path: /etc/certfleet/tls/host/ca.pem
    common_name: "{{ inventory_hostname }}"
    profile: server_client
    renew_before: 10d
  register: host_certificate

- name: Show the reasons
  ansible.builtin.debug:
    var: host_certificate.renewal_reasons
  when: host_certificate.needs_renewal
"""

RETURN = r"""
exists:
  description: Whether the certificate file exists.
  returned: always
  type: bool
needs_renewal:
  description: Whether the certificate should be replaced now.
  returned: always
  type: bool
renewal_reasons:
  description: Why the certificate needs renewal; empty when it does not.
  returned: always
  type: list
  elements: str
renew_at:
  description: When the certificate becomes due, ISO 8601 UTC.
  returned: when the certificate can be read
  type: str
subject:
  description: Subject as an RFC 4514 string.
  returned: when the certificate can be read
  type: str
issuer:
  description: Issuer as an RFC 4514 string.
  returned: when the certificate can be read
  type: str
serial:
  description: Serial number in hex, with a minus sign when negative.
  returned: when the certificate can be read
  type: str
not_before:
  description: Start of validity, ISO 8601 UTC.
  returned: when the certificate can be read
  type: str
not_after:
  description: End of validity, ISO 8601 UTC.
  returned: when the certificate can be read
  type: str
seconds_left:
  description: Seconds until notAfter; negative once expired.
  returned: when the certificate can be read
  type: int
fraction_left:
  description: Fraction of the lifetime left, from 0 to 1.
  returned: when the certificate can be read
  type: float
subject_alt_names:
  description: SANs as V(TYPE:value).
  returned: when the certificate can be read
  type: list
  elements: str
extended_key_usage:
  description: Extended key usages by name.
  returned: when the certificate can be read
  type: list
  elements: str
key_matches:
  description: Whether the certificate matches the private key.
  returned: when O(private_key_path) is given and the certificate can be read
  type: bool
chains_to_bundle:
  description: Whether the certificate chains to the trust bundle and every certificate on the way is valid now.
  returned: when O(ca_bundle_path) is given and the certificate can be read
  type: bool
bad_extensions:
  description: OIDs of extensions that cannot be parsed.
  returned: when the certificate can be read
  type: list
  elements: str
problems:
  description: What is odd about the certificate, such as a non-positive serial.
  returned: when the certificate can be read
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.certfleet.mtls.plugins.module_utils._module import run_module

try:
    from ansible_collections.certfleet.mtls.plugins.module_utils._assessment import assess
    from ansible_collections.certfleet.mtls.plugins.module_utils._certinfo import load_certificates, load_one_certificate
    from ansible_collections.certfleet.mtls.plugins.module_utils._errors import CertfleetError
    from ansible_collections.certfleet.mtls.plugins.module_utils._files import read_if_exists
    from ansible_collections.certfleet.mtls.plugins.module_utils._keys import load_private_key
    from ansible_collections.certfleet.mtls.plugins.module_utils._renewal import parse_threshold
    from ansible_collections.certfleet.mtls.plugins.module_utils._time import parse_time, utc_now
except ImportError:
    pass


def load_optional_certificates(path: str | None, option: str) -> list | None:
    if not path:
        return None
    data = read_if_exists(path, option)
    if data is None:
        return []
    certificates, _problems = load_certificates(data, f"{option}={path}")
    return certificates


def load_optional_key(params: dict):
    path = params["private_key_path"]
    if not path:
        return None, []
    data = read_if_exists(path, "private_key_path")
    if data is None:
        raise CertfleetError(f"private_key_path={path!r} does not exist")
    return load_private_key(data, params["passphrase"], f"private_key_path={path}")


def inspect(module: AnsibleModule) -> dict:
    params = module.params
    threshold = parse_threshold(params["renew_before"])
    now = parse_time(params["valid_at"], "valid_at") if params["valid_at"] else utc_now()
    data = read_if_exists(params["path"], "path")
    if data is None:
        return {"changed": False, "exists": False, "needs_renewal": True, "renewal_reasons": ["the certificate does not exist"]}
    try:
        certificate, problems = load_one_certificate(data, f"path={params['path']}")
    except CertfleetError as error:
        return {"changed": False, "exists": True, "needs_renewal": True, "renewal_reasons": [str(error)]}

    key, warnings = load_optional_key(params)
    report, assess_warnings = assess(
        certificate, now, threshold,
        private_key=key,
        chain=load_optional_certificates(params["chain_path"], "chain_path"),
        bundle=load_optional_certificates(params["ca_bundle_path"], "ca_bundle_path"),
        common_name=params["common_name"],
        sans=params["subject_alt_names"],
        profile=params["profile"],
    )
    for warning in warnings + assess_warnings:
        module.warn(warning)
    report["problems"] = problems + report["problems"]
    return {"changed": False, "exists": True, **report}


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "private_key_path": {"type": "path"},
            "passphrase": {"type": "str", "no_log": True},
            "chain_path": {"type": "path"},
            "ca_bundle_path": {"type": "path"},
            "common_name": {"type": "str"},
            "subject_alt_names": {"type": "list", "elements": "str"},
            "profile": {"type": "str", "choices": ["server", "client", "server_client"]},
            "renew_before": {"type": "str"},
            "valid_at": {"type": "str"},
        },
        supports_check_mode=True,
    )
    run_module(module, inspect)


if __name__ == "__main__":
    main()
