#!/usr/bin/python
# Copyright (c) certfleet.mtls contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: ca
short_description: Ensure a private certificate authority on the CA host
version_added: 0.1.0
description:
  - Ensures a root CA and, by default, an intermediate (issuing) CA signed by it, in one directory on the CA host.
  - Keys are PKCS#8, encrypted at rest with O(passphrase), mode C(0600), in a C(0700) directory. They never leave the CA host.
  - Certificates follow the RFC 5280 CA profile that strict verifiers require, critical basicConstraints with a path length,
    critical keyUsage keyCertSign and cRLSign, a subject key identifier, and an authority key identifier on the intermediate.
  - An existing CA is loaded and checked, never replaced. A wrong passphrase, or a key that does not match its certificate,
    stops the task with an error and leaves every file unchanged.
  - The directory holds C(root.key), C(root.pem), C(intermediate.key), C(intermediate.pem), C(bundle.pem) (the trust anchors
    hosts install) and C(chain.pem) (the CA certificates sent with each leaf certificate).
options:
  path:
    description: Directory of the CA. Created with mode C(0700) when missing.
    type: path
    required: true
  passphrase:
    description:
      - Passphrase that encrypts the CA keys at rest. Keep it in Ansible Vault.
      - Required unless O(allow_unencrypted_key=true).
    type: str
  allow_unencrypted_key:
    description: Allow CA keys without encryption when O(passphrase) is unset. Meant for demos and throwaway test CAs only.
    type: bool
    default: false
  common_name:
    description: Common name of the root CA.
    type: str
    default: certfleet root CA
  organization:
    description: Organization name in the subjects of both CAs.
    type: str
  key_type:
    description: Key type of newly created CA keys.
    type: str
    choices: [ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072, rsa-4096, ed25519]
    default: ecdsa-p384
  root_validity:
    description: Lifetime of a new root certificate, as a duration such as V(3650d).
    type: str
    default: 3650d
  intermediate:
    description: Also ensure an intermediate CA that signs leaf certificates, so the root key can stay unused.
    type: bool
    default: true
  intermediate_common_name:
    description: Common name of the intermediate CA. Defaults to O(common_name) followed by C(issuing).
    type: str
  intermediate_validity:
    description: Lifetime of a new intermediate certificate. Never extends past the root's notAfter.
    type: str
    default: 1825d
attributes:
  check_mode:
    support: full
    details: Loads and checks an existing CA, or reports that one would be created, without writing.
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
- name: Ensure the fleet CA on the controller
  certfleet.mtls.ca:
    path: /var/lib/certfleet/ca/fleet
    common_name: Example fleet root CA
    passphrase: "{{ vault_certfleet_ca_passphrase }}"
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
root:
  description: The root CA certificate and facts about it.
  returned: always
  type: dict
  contains:
    subject:
      description: Subject as an RFC 4514 string.
      type: str
    serial:
      description: Serial number in hex.
      type: str
    not_after:
      description: End of validity, ISO 8601 UTC.
      type: str
    sha256_fingerprint:
      description: SHA-256 fingerprint of the certificate, hex.
      type: str
    certificate:
      description: The certificate in PEM.
      type: str
    created:
      description: Whether this run created it.
      type: bool
intermediate:
  description: The intermediate CA, with the same fields as RV(root).
  returned: when O(intermediate=true)
  type: dict
bundle:
  description: The trust bundle hosts install, in PEM.
  returned: always
  type: str
chain:
  description: The CA certificates sent with each leaf certificate, in PEM. Empty without an intermediate.
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.certfleet.mtls.plugins.module_utils._module import run_module

try:
    from ansible_collections.certfleet.mtls.plugins.module_utils._ca_store import (
        INTERMEDIATE,
        ROOT,
        CaSettings,
        describe_level,
        ensure_ca,
    )
    from ansible_collections.certfleet.mtls.plugins.module_utils._errors import CertfleetError
    from ansible_collections.certfleet.mtls.plugins.module_utils._time import parse_duration, utc_now
except ImportError:
    pass


def check_passphrase(params: dict) -> str | None:
    """Return the passphrase to use, or raise when none is set and unencrypted keys are not allowed."""
    if params["passphrase"]:
        return params["passphrase"]
    if params["allow_unencrypted_key"]:
        return None
    raise CertfleetError(
        "passphrase is not set, and CA keys are kept encrypted at rest; set passphrase (keep it in "
        "Ansible Vault), or set allow_unencrypted_key=true for a demo CA"
    )


def ensure(module: AnsibleModule) -> dict:
    params = module.params
    passphrase = check_passphrase(params)
    settings = CaSettings(
        common_name=params["common_name"],
        organization=params["organization"],
        key_type=params["key_type"],
        root_validity=parse_duration(params["root_validity"], "root_validity"),
        intermediate=params["intermediate"],
        intermediate_common_name=params["intermediate_common_name"] or f"{params['common_name']} issuing",
        intermediate_validity=parse_duration(params["intermediate_validity"], "intermediate_validity"),
    )
    levels, warnings, changed = ensure_ca(params["path"], settings, passphrase, utc_now(), module.check_mode)
    for warning in warnings:
        module.warn(warning)

    result = {
        "changed": changed,
        "root": describe_level(levels[ROOT]),
        "bundle": describe_level(levels[ROOT])["certificate"],
        "chain": "",
    }
    if INTERMEDIATE in levels:
        result["intermediate"] = describe_level(levels[INTERMEDIATE])
        result["chain"] = result["intermediate"]["certificate"]
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "passphrase": {"type": "str", "no_log": True},
            "allow_unencrypted_key": {"type": "bool", "default": False},
            "common_name": {"type": "str", "default": "certfleet root CA"},
            "organization": {"type": "str"},
            "key_type": {
                "type": "str",
                "choices": ["ecdsa-p256", "ecdsa-p384", "rsa-2048", "rsa-3072", "rsa-4096", "ed25519"],
                "default": "ecdsa-p384",
            },
            "root_validity": {"type": "str", "default": "3650d"},
            "intermediate": {"type": "bool", "default": True},
            "intermediate_common_name": {"type": "str"},
            "intermediate_validity": {"type": "str", "default": "1825d"},
        },
        supports_check_mode=True,
    )
    run_module(module, ensure)


if __name__ == "__main__":
    main()
