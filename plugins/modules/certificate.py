#!/usr/bin/python
# Copyright (c) certfleet.mtls contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: certificate
short_description: Install a signed certificate, its chain and the trust bundle on the host
version_added: 0.1.0
description:
  - Installs the certificate that M(certfleet.mtls.sign_csr) issued, with the CA chain and the trust bundle, on the host that
    holds the private key.
  - Before writing anything it checks that the certificate matches the private key, chains to the bundle, carries the
    requested names and the extended key usages of the requested profile, and is valid by the host's own clock.
    A failed check stops the task with the reason and leaves the installed files unchanged.
  - Each file is replaced atomically, and only when its content differs, so a second run reports no change.
  - When the certificate's notBefore is still in the future by the host's clock (the CA's clock runs ahead), the module waits
    up to O(clock_skew_wait) and otherwise fails with a clock skew message.
options:
  path:
    description: Path of the leaf certificate (PEM).
    type: path
    required: true
  certificate:
    description: The leaf certificate in PEM.
    type: str
    required: true
  chain:
    description: The intermediate CA certificates in PEM, as RV(certfleet.mtls.sign_csr#module:chain) returns them. May be empty.
    type: str
    default: ''
  ca_bundle:
    description: The trust anchors in PEM.
    type: str
    required: true
  private_key_path:
    description: Path of the private key that the certificate must match.
    type: path
    required: true
  passphrase:
    description: Passphrase of the private key, when it is encrypted.
    type: str
  chain_path:
    description: Where to write O(chain). Not written when unset.
    type: path
  fullchain_path:
    description: Where to write the certificate followed by O(chain), the file servers such as nginx read. Not written when unset.
    type: path
  ca_bundle_path:
    description: Where to write O(ca_bundle). Not written when unset.
    type: path
  common_name:
    description: Common name the certificate must carry as a SAN.
    type: str
  subject_alt_names:
    description: SANs the certificate must carry.
    type: list
    elements: str
  profile:
    description: Profile whose extended key usages the certificate must carry.
    type: str
    choices: [server, client, server_client]
  clock_skew_wait:
    description: Maximum time to wait, in seconds, for a certificate whose notBefore is in the future by the host's clock.
    type: int
    default: 30
  mode:
    description: File mode of the certificate files, as an octal string.
    type: str
    default: '0644'
  owner:
    description: Owner of the certificate files. Unchanged when unset.
    type: str
  group:
    description: Group of the certificate files. Unchanged when unset.
    type: str
  backup:
    description: Keep a timestamped copy of each file it replaces.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    details: Runs every check and reports which files would change, without writing.
  diff_mode:
    support: full
    details: The diff shows the serial, subject, SANs and notAfter before and after, not the PEM text.
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
- name: Install the certificate issued for this host
  certfleet.mtls.certificate:
    path: /etc/certfleet/tls/host/cert.pem
    fullchain_path: /etc/certfleet/tls/host/fullchain.pem
    chain_path: /etc/certfleet/tls/host/chain.pem
    ca_bundle_path: /etc/certfleet/tls/host/ca.pem
    private_key_path: /etc/certfleet/tls/host/key.pem
    certificate: "{{ signed.certificates | selectattr('name', 'equalto', inventory_hostname) | map(attribute='certificate') | first }}"
    chain: "{{ signed.chain }}"
    ca_bundle: "{{ signed.ca_bundle }}"
    common_name: "{{ inventory_hostname }}"
    profile: server_client
"""

RETURN = r"""
serial:
  description: Serial number of the installed certificate, in hex.
  returned: success
  type: str
not_after:
  description: End of validity of the installed certificate, ISO 8601 UTC.
  returned: success
  type: str
changed_files:
  description: Paths of the files that were, or in check mode would be, written.
  returned: success
  type: list
  elements: str
backup_files:
  description: Paths of backup copies made.
  returned: when O(backup=true) and a file was replaced
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.certfleet.mtls.plugins.module_utils._module import parse_mode, run_module

try:
    from cryptography.hazmat.primitives import serialization

    from ansible_collections.certfleet.mtls.plugins.module_utils._certinfo import (
        certificate_report,
        load_certificates,
        load_one_certificate,
    )
    from ansible_collections.certfleet.mtls.plugins.module_utils._errors import CertfleetError
    from ansible_collections.certfleet.mtls.plugins.module_utils._files import (
        apply_file_attributes,
        file_attributes_differ,
        read_if_exists,
        write_atomic,
    )
    from ansible_collections.certfleet.mtls.plugins.module_utils._install import check_new_certificate, wait_for_not_before
    from ansible_collections.certfleet.mtls.plugins.module_utils._keys import load_private_key
    from ansible_collections.certfleet.mtls.plugins.module_utils._time import utc_now
except ImportError:
    pass


def load_inputs(params: dict):
    certificate, _problems = load_one_certificate(params["certificate"].encode("utf-8"), "certificate")
    chain, _problems = load_certificates((params["chain"] or "").encode("utf-8"), "chain")
    bundle, _problems = load_certificates(params["ca_bundle"].encode("utf-8"), "ca_bundle")
    key_data = read_if_exists(params["private_key_path"], "private_key_path")
    if key_data is None:
        raise CertfleetError(f"private_key_path={params['private_key_path']!r} does not exist")
    key, _warnings = load_private_key(key_data, params["passphrase"], f"private_key_path={params['private_key_path']}")
    return certificate, chain, bundle, key


def planned_files(params: dict, certificate, chain: list, bundle: list) -> list[tuple[str, bytes]]:
    def pem(items):
        return b"".join(item.public_bytes(serialization.Encoding.PEM) for item in items)

    files = [(params["path"], pem([certificate]))]
    if params["chain_path"]:
        files.append((params["chain_path"], pem(chain)))
    if params["fullchain_path"]:
        files.append((params["fullchain_path"], pem([certificate] + chain)))
    if params["ca_bundle_path"]:
        files.append((params["ca_bundle_path"], pem(bundle)))
    return files


def install(module: AnsibleModule) -> dict:
    params = module.params
    mode = parse_mode(params["mode"], "mode")
    certificate, chain, bundle, key = load_inputs(params)
    report = check_new_certificate(
        certificate, chain, bundle, key, f"private_key_path={params['private_key_path']!r}",
        params["common_name"], params["subject_alt_names"], params["profile"],
    )

    files = planned_files(params, certificate, chain, bundle)
    previous = read_if_exists(params["path"], "path")
    content_changes = [(path, data) for path, data in files if read_if_exists(path, path) != data]
    attribute_changes = [
        path for path, data in files
        if (path, data) not in content_changes and file_attributes_differ(path, mode, params["owner"], params["group"])
    ]
    result = {
        "changed": bool(content_changes or attribute_changes),
        "serial": report["serial"],
        "not_after": report["not_after"],
        "changed_files": [path for path, _data in content_changes] + attribute_changes,
        "diff": {"before": _summary(previous), "after": _summary_of(report)},
    }
    if module.check_mode or not result["changed"]:
        return result

    wait_for_not_before(certificate, params["clock_skew_wait"])
    backups = []
    # The leaf goes last: a reader that sees the new certificate finds its chain in place.
    for path, data in sorted(content_changes, key=lambda item: item[0] == params["path"]):
        if params["backup"] and read_if_exists(path, path) is not None:
            backups.append(module.backup_local(path))
        write_atomic(path, data, mode, params["owner"], params["group"])
    for path in attribute_changes:
        apply_file_attributes(path, mode, params["owner"], params["group"])
    if backups:
        result["backup_files"] = backups
    return result


def _summary(data: bytes | None) -> dict:
    if not data:
        return {}
    try:
        certificate, _problems = load_one_certificate(data, "path")
    except CertfleetError:
        return {"content": "unreadable"}
    return _summary_of(certificate_report(certificate, utc_now()))


def _summary_of(report: dict) -> dict:
    return {key: report[key] for key in ("subject", "serial", "subject_alt_names", "not_after")}


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "certificate": {"type": "str", "required": True},
            "chain": {"type": "str", "default": ""},
            "ca_bundle": {"type": "str", "required": True},
            "private_key_path": {"type": "path", "required": True},
            "passphrase": {"type": "str", "no_log": True},
            "chain_path": {"type": "path"},
            "fullchain_path": {"type": "path"},
            "ca_bundle_path": {"type": "path"},
            "common_name": {"type": "str"},
            "subject_alt_names": {"type": "list", "elements": "str"},
            "profile": {"type": "str", "choices": ["server", "client", "server_client"]},
            "clock_skew_wait": {"type": "int", "default": 30},
            "mode": {"type": "str", "default": "0644"},
            "owner": {"type": "str"},
            "group": {"type": "str"},
            "backup": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    run_module(module, install)


if __name__ == "__main__":
    main()
