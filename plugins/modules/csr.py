#!/usr/bin/python
# Copyright (c) certfleet.mtls contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: csr
short_description: Build a certificate signing request from the host's private key
version_added: 0.1.0
description:
  - Builds a CSR on the managed host from the key made by M(certfleet.mtls.private_key), and returns it as PEM so the
    CA host can sign it with M(certfleet.mtls.sign_csr).
  - The CSR requests the SANs and the extended key usages of a profile. The common name is always requested as a SAN too,
    because current verifiers ignore the common name when they match names.
  - With O(path), the CSR is also stored on the host and reused while it still fits the key, names and profile.
options:
  private_key_path:
    description: Path of the private key on the host.
    type: path
    required: true
  passphrase:
    description: Passphrase of the private key, when it is encrypted.
    type: str
  common_name:
    description: Subject common name. Also requested as a DNS SAN, or an IP SAN when it is an IP address.
    type: str
    required: true
  subject_alt_names:
    description:
      - Extra SANs, each as V(DNS:name), V(IP:address), V(URI:uri) (such as a SPIFFE ID) or V(EMAIL:address).
      - A value without a prefix is an IP SAN when it parses as an IP address, a URI SAN when it has a scheme, else a DNS SAN.
    type: list
    elements: str
    default: []
  organization:
    description: Subject organization name.
    type: str
  profile:
    description:
      - V(server) requests serverAuth, V(client) requests clientAuth and V(server_client) requests both, for hosts that
        serve TLS and call other hosts with the same certificate.
    type: str
    choices: [server, client, server_client]
    default: server_client
  path:
    description: Where to store the CSR on the host. When unset, the CSR is only returned.
    type: path
attributes:
  check_mode:
    support: full
    details: Builds and returns the CSR, and writes nothing.
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
- name: Build a CSR for the host
  certfleet.mtls.csr:
    private_key_path: /etc/certfleet/tls/host/key.pem
    common_name: "{{ inventory_hostname }}"
    subject_alt_names:
      - "IP:{{ ansible_default_ipv4.address }}"
      - URI:spiffe://example.org/web
    profile: server_client
  register: host_csr
"""

RETURN = r"""
csr:
  description: The CSR in PEM.
  returned: always
  type: str
subject_alt_names:
  description: The SANs the CSR requests, the common name included, as V(TYPE:value).
  returned: always
  type: list
  elements: str
public_key_fingerprint:
  description: SHA-256 fingerprint of the public key in the CSR.
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.certfleet.mtls.plugins.module_utils._module import run_module

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from ansible_collections.certfleet.mtls.plugins.module_utils._builders import build_csr
    from ansible_collections.certfleet.mtls.plugins.module_utils._errors import CertfleetError
    from ansible_collections.certfleet.mtls.plugins.module_utils._files import read_if_exists, write_atomic
    from ansible_collections.certfleet.mtls.plugins.module_utils._keys import (
        keys_match,
        load_private_key,
        public_key_fingerprint,
    )
    from ansible_collections.certfleet.mtls.plugins.module_utils._names import certificate_names, format_san
    from ansible_collections.certfleet.mtls.plugins.module_utils._profiles import extended_key_usage
except ImportError:
    pass


def load_key(params: dict):
    path = params["private_key_path"]
    data = read_if_exists(path, "private_key_path")
    if data is None:
        raise CertfleetError(
            f"private_key_path={path!r} does not exist; create the key with certfleet.mtls.private_key first"
        )
    return load_private_key(data, params["passphrase"], f"private_key_path={path}")


def stored_csr_fits(data: bytes | None, key, subject: x509.Name, names: list, profile: str) -> bool:
    """Tell whether a stored CSR was made by ``key`` for the same subject, SANs and profile."""
    if data is None:
        return False
    try:
        csr = x509.load_pem_x509_csr(data)
        sans = list(csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
        usages = csr.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except (ValueError, x509.ExtensionNotFound):
        return False
    return (
        csr.is_signature_valid
        and keys_match(key, csr.public_key())
        and csr.subject == subject
        and sans == names
        and list(usages) == list(extended_key_usage(profile))
    )


def ensure_csr(module: AnsibleModule) -> dict:
    params = module.params
    key, warnings = load_key(params)
    for warning in warnings:
        module.warn(warning)
    names = certificate_names(params["common_name"], params["subject_alt_names"])
    csr = build_csr(key, params["common_name"], names, params["profile"], params["organization"])

    changed = False
    path = params["path"]
    if path:
        stored = read_if_exists(path, "path")
        if stored_csr_fits(stored, key, csr.subject, names, params["profile"]):
            csr = x509.load_pem_x509_csr(stored)
        else:
            changed = True
            if not module.check_mode:
                write_atomic(path, csr.public_bytes(serialization.Encoding.PEM), 0o644)

    return {
        "changed": changed,
        "csr": csr.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        "subject_alt_names": [format_san(name) for name in names],
        "public_key_fingerprint": public_key_fingerprint(key.public_key()),
    }


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "private_key_path": {"type": "path", "required": True},
            "passphrase": {"type": "str", "no_log": True},
            "common_name": {"type": "str", "required": True},
            "subject_alt_names": {"type": "list", "elements": "str", "default": []},
            "organization": {"type": "str"},
            "profile": {"type": "str", "choices": ["server", "client", "server_client"], "default": "server_client"},
            "path": {"type": "path"},
        },
        supports_check_mode=True,
    )
    run_module(module, ensure_csr)


if __name__ == "__main__":
    main()
