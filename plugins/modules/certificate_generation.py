#!/usr/bin/python
# Copyright (c) certfleet.mtls contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: certificate_generation
short_description: Install a certificate with its key as a new generation, or roll back to the previous one
version_added: 0.1.0
description:
  - Installs key, certificate, chain, full chain and trust bundle as one generation in a certificate directory and
    switches the C(current) link to it with one atomic rename, so a service never reads a new key with an old
    certificate. The generation it replaces stays as C(previous), for rollback.
  - The key is the staged key that M(certfleet.mtls.renewal_check) made, or the key in use when the certificate is for
    that key. Before anything is written, the certificate must match the key, chain to the bundle, carry the requested
    names and profile, and be valid by the host's clock (waiting up to O(clock_skew_wait) when the CA's clock is ahead).
  - Services read the stable links C(key.pem), C(cert.pem), C(chain.pem), C(fullchain.pem) and C(ca.pem) in the directory.
  - With O(state=rollback), selects the previous generation again; the failed one stays on disk but is no longer a
    rollback target.
options:
  directory:
    description: The certificate directory.
    type: path
    required: true
  state:
    description: V(present) installs O(certificate) as the current generation; V(rollback) selects the previous generation.
    type: str
    choices: [present, rollback]
    default: present
  certificate:
    description: The leaf certificate in PEM. Required with O(state=present).
    type: str
  chain:
    description: The intermediate CA certificates in PEM. May be empty.
    type: str
    default: ''
  ca_bundle:
    description: The trust anchors in PEM. Required with O(state=present).
    type: str
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
  requested_validity:
    description: The lifetime that was requested, recorded so later checks can warn when the CA issued another.
    type: str
  clock_skew_wait:
    description: Maximum time to wait, in seconds, for a certificate whose notBefore is still ahead by the host's clock.
    type: int
    default: 30
  check_id:
    description:
      - The C(check_id) that M(certfleet.mtls.renewal_check) returned for the check this installation follows.
        It is returned unchanged, so that a playbook can tell a result of this run from one registered earlier.
    type: str
  keep:
    description: Number of generations to keep on disk, the current and previous ones always among them.
    type: int
    default: 3
  mode:
    description: File mode of the certificate files; the key is always C(0600).
    type: str
    default: '0644'
  owner:
    description: Owner of the new files. Unchanged when unset.
    type: str
  group:
    description: Group of the new files. Unchanged when unset.
    type: str
attributes:
  check_mode:
    support: full
    description: Runs every check and reports whether it would switch, without writing.
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
- name: Install the new certificate as the current generation
  certfleet.mtls.certificate_generation:
    directory: /etc/certfleet/tls/host
    certificate: "{{ issued.certificate }}"
    chain: "{{ signed.chain }}"
    ca_bundle: "{{ signed.ca_bundle }}"
    common_name: "{{ inventory_hostname }}"
    profile: server_client

- name: Go back to the previous generation after a failed service check
  certfleet.mtls.certificate_generation:
    directory: /etc/certfleet/tls/host
    state: rollback
"""

RETURN = r"""
serial:
  description: Serial of the certificate now in use, in hex.
  returned: success
  type: str
not_after:
  description: End of validity of the certificate now in use, ISO 8601 UTC.
  returned: when O(state=present)
  type: str
previous_serial:
  description: Serial of the certificate that was in use before, in hex.
  returned: when a certificate was in use before
  type: str
generation:
  description: Name of the generation now in use.
  returned: success
  type: str
check_id:
  description: The O(check_id) given.
  returned: when O(check_id) is given
  type: str
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.certfleet.mtls.plugins.module_utils._module import parse_mode, run_module

try:
    from cryptography.hazmat.primitives import serialization

    from ansible_collections.certfleet.mtls.plugins.module_utils import _generations
    from ansible_collections.certfleet.mtls.plugins.module_utils._quick_check import (
        settings_digest,
        sound_apart_from_time,
        validity_of,
        write_verdict,
    )
    from ansible_collections.certfleet.mtls.plugins.module_utils._certinfo import (
        load_certificates,
        load_one_certificate,
        serial_hex,
    )
    from ansible_collections.certfleet.mtls.plugins.module_utils._errors import CertfleetError
    from ansible_collections.certfleet.mtls.plugins.module_utils._files import read_if_exists
    from ansible_collections.certfleet.mtls.plugins.module_utils._install import check_new_certificate, wait_for_not_before
    from ansible_collections.certfleet.mtls.plugins.module_utils._keys import keys_match, load_private_key
    from ansible_collections.certfleet.mtls.plugins.module_utils._time import certificate_not_after, format_time, utc_now
except ImportError:
    pass


def serial_in_use(directory: str) -> str | None:
    data = _generations.read_generation_file(directory, "cert.pem")
    if data is None:
        return None
    try:
        return serial_hex(load_one_certificate(data, "cert.pem")[0].serial_number)
    except CertfleetError:
        return None


def find_key(directory: str, certificate):
    """Return ``(key, source)``: the staged key or the key in use, whichever the certificate is for."""
    candidates = (
        (_generations.staged_key_path(directory), read_if_exists(_generations.staged_key_path(directory), "staged key")),
        (f"{directory}/key.pem", _generations.read_generation_file(directory, "key.pem")),
    )
    for source, data in candidates:
        if data is None:
            continue
        key = load_private_key(data, None, source)[0]
        if keys_match(key, certificate.public_key()):
            return key, source
    raise CertfleetError(
        f"certificate (serial {serial_hex(certificate.serial_number)}) matches neither the staged key nor the key in "
        f"use in {directory!r}; sign the CSR that certfleet.mtls.renewal_check returned for this host"
    )


def install(module: AnsibleModule, params: dict) -> dict:
    directory = params["directory"]
    certificate, _problems = load_one_certificate(params["certificate"].encode("utf-8"), "certificate")
    chain = load_certificates((params["chain"] or "").encode("utf-8"), "chain")[0]
    bundle = load_certificates(params["ca_bundle"].encode("utf-8"), "ca_bundle")[0]
    pem = serialization.Encoding.PEM
    leaf = certificate.public_bytes(pem)
    previous = serial_in_use(directory)

    if _generations.read_generation_file(directory, "cert.pem") == leaf:
        return {"changed": False, "serial": previous, "generation": _generation_name(directory), **_validity(certificate)}

    key, source = find_key(directory, certificate)
    report = check_new_certificate(
        certificate, chain, bundle, key, source, params["common_name"], params["subject_alt_names"], params["profile"],
    )
    result = {"changed": True, "serial": report["serial"], "not_after": report["not_after"]}
    if previous:
        result["previous_serial"] = previous
    if module.check_mode:
        return result

    wait_for_not_before(certificate, params["clock_skew_wait"])
    chain_pem = b"".join(item.public_bytes(pem) for item in chain)
    files = {
        "key.pem": read_if_exists(source, source),
        "cert.pem": leaf,
        "chain.pem": chain_pem,
        "fullchain.pem": leaf + chain_pem,
        "ca.pem": b"".join(item.public_bytes(pem) for item in bundle),
    }
    metadata = {
        "serial": report["serial"],
        "not_before": report["not_before"],
        "not_after": report["not_after"],
        "installed_at": format_time(utc_now()),
        "requested_validity": params["requested_validity"],
    }
    generation_id = _generations.new_generation_id(utc_now(), report["serial"])
    path = _generations.write_generation(
        directory, generation_id, files, metadata, params["owner"], params["group"], parse_mode(params["mode"], "mode"),
    )
    # The checks above are a full check of the new generation, so the next renewal_check
    # can reuse their verdict instead of parsing the files again.
    if sound_apart_from_time(report):
        write_verdict(
            path, settings_digest(params["common_name"], params["subject_alt_names"], params["profile"]), report,
            validity_of(certificate, chain + bundle),
        )
    _generations.switch_to(directory, path)
    if source == _generations.staged_key_path(directory):
        _remove_staged_key(directory)
    _generations.prune(directory, params["keep"])
    result["generation"] = generation_id
    return result


def _remove_staged_key(directory: str) -> None:
    os.unlink(_generations.staged_key_path(directory))


def _generation_name(directory: str) -> str | None:
    path = _generations.generation_path(directory, _generations.CURRENT)
    return os.path.basename(path) if path else None


def _validity(certificate) -> dict:
    return {"not_after": format_time(certificate_not_after(certificate))}


def roll_back(module: AnsibleModule, params: dict) -> dict:
    directory = params["directory"]
    failed = serial_in_use(directory)
    if module.check_mode:
        if _generations.generation_path(directory, _generations.PREVIOUS) is None:
            raise CertfleetError(f"{directory!r} has no previous generation to roll back to")
        return {"changed": True, "serial": serial_in_use_previous(directory), "previous_serial": failed}
    generation = _generations.roll_back(directory)
    return {"changed": True, "serial": serial_in_use(directory), "previous_serial": failed, "generation": generation}


def serial_in_use_previous(directory: str) -> str | None:
    data = _generations.read_generation_file(directory, "cert.pem", _generations.PREVIOUS)
    return serial_hex(load_one_certificate(data, "cert.pem")[0].serial_number) if data else None


def run(module: AnsibleModule) -> dict:
    params = module.params
    result = roll_back(module, params) if params["state"] == "rollback" else install(module, params)
    if params["check_id"] is not None:
        result["check_id"] = params["check_id"]
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "directory": {"type": "path", "required": True},
            "state": {"type": "str", "choices": ["present", "rollback"], "default": "present"},
            "certificate": {"type": "str"},
            "chain": {"type": "str", "default": ""},
            "ca_bundle": {"type": "str"},
            "common_name": {"type": "str"},
            "subject_alt_names": {"type": "list", "elements": "str"},
            "profile": {"type": "str", "choices": ["server", "client", "server_client"]},
            "requested_validity": {"type": "str"},
            "clock_skew_wait": {"type": "int", "default": 30},
            "check_id": {"type": "str"},
            "keep": {"type": "int", "default": 3},
            "mode": {"type": "str", "default": "0644"},
            "owner": {"type": "str"},
            "group": {"type": "str"},
        },
        required_if=[["state", "present", ["certificate", "ca_bundle"]]],
        supports_check_mode=True,
    )
    run_module(module, run)


if __name__ == "__main__":
    main()
