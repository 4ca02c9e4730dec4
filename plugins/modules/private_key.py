#!/usr/bin/python
# Copyright (c) certfleet.mtls contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: private_key
short_description: Ensure a private key exists on the managed host
version_added: 0.1.0
description:
  - Generates a private key on the host where it will be used, so the key never travels.
  - Writes the key as PKCS#8 PEM, atomically, with its final mode and owner set before the first byte is written.
  - An existing key that cannot be read (wrong passphrase, unsupported encryption, a label that does not fit the body) stops
    the task with an error and is never overwritten.
  - Returns the public key and its fingerprint, never the private key.
options:
  path:
    description: Path of the key file. Its directory must exist; create it with mode C(0700).
    type: path
    required: true
  key_type:
    description: Type and size of the key.
    type: str
    choices: [ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072, rsa-4096, ed25519]
    default: ecdsa-p256
  passphrase:
    description:
      - Passphrase that encrypts the key at rest. Leave unset for keys that services such as nginx read at start.
    type: str
  regenerate:
    description:
      - When to replace an existing, readable key.
      - V(never) keeps it even if its type differs from O(key_type), with a warning.
      - V(on_mismatch) replaces it when its type differs from O(key_type).
      - V(always) generates a new key on every run, for rotation.
      - A key that cannot be read is never replaced, whatever this option says.
    type: str
    choices: [never, on_mismatch, always]
    default: on_mismatch
  mode:
    description: File mode of the key, as an octal string.
    type: str
    default: '0600'
  owner:
    description: Owner of the key file. Unchanged when unset.
    type: str
  group:
    description: Group of the key file. Unchanged when unset.
    type: str
  backup:
    description: Keep a timestamped copy of the key it replaces, in the same directory.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    details: Reports whether a key would be generated, without writing.
  diff_mode:
    support: full
    details: The diff shows the key type and public key fingerprint, never key material.
  platform:
    support: full
    platforms: posix
    details: Runs on POSIX hosts with Python cryptography 38 or newer.
requirements:
  - cryptography >= 38.0
author:
  - certfleet.mtls contributors (!UNKNOWN)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: Ensure the host's TLS key
  certfleet.mtls.private_key:
    path: /etc/certfleet/tls/host/key.pem
    key_type: ecdsa-p256

- name: Ensure an RSA key owned by the service user
  certfleet.mtls.private_key:
    path: /etc/myservice/tls/key.pem
    key_type: rsa-3072
    owner: myservice
    group: myservice
"""

RETURN = r"""
path:
  description: Path of the key file.
  returned: always
  type: str
key_type:
  description: Type of the key on the host after the task.
  returned: always
  type: str
  sample: ecdsa-p256
public_key:
  description: Public key in PEM.
  returned: always
  type: str
public_key_fingerprint:
  description: SHA-256 of the public key's SubjectPublicKeyInfo, as colon-separated hex.
  returned: always
  type: str
backup_file:
  description: Path of the backup copy, when one was made.
  returned: changed and O(backup=true)
  type: str
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.certfleet.mtls.plugins.module_utils._module import parse_mode, run_module

try:
    from cryptography.hazmat.primitives import serialization

    from ansible_collections.certfleet.mtls.plugins.module_utils._files import (
        apply_file_attributes,
        file_attributes_differ,
        read_if_exists,
        write_atomic,
    )
    from ansible_collections.certfleet.mtls.plugins.module_utils._keys import (
        KEY_TYPES,
        describe_key,
        generate_private_key,
        load_private_key,
        public_key_fingerprint,
        serialize_private_key,
    )
except ImportError:
    KEY_TYPES = ("ecdsa-p256", "ecdsa-p384", "rsa-2048", "rsa-3072", "rsa-4096", "ed25519")


def decide_generation(existing_type: str | None, requested_type: str, regenerate: str) -> tuple[bool, str | None]:
    """Decide whether to generate a key; return ``(generate, warning)``."""
    if existing_type is None or regenerate == "always":
        return True, None
    if existing_type == requested_type:
        return False, None
    if regenerate == "never":
        return False, f"the existing key is {existing_type}, not {requested_type}; kept because regenerate=never"
    return True, None


def ensure_private_key(module: AnsibleModule) -> dict:
    params = module.params
    path = params["path"]
    mode = parse_mode(params["mode"], "mode")
    existing = read_if_exists(path, "path")

    key = None
    if existing is not None:
        key, warnings = load_private_key(existing, params["passphrase"], f"path={path}")
        for warning in warnings:
            module.warn(warning)
    existing_type = describe_key(key.public_key()) if key is not None else None
    # Described before a new key replaces it, so a rotation shows the old fingerprint too.
    before = _describe_state(key)

    generate, warning = decide_generation(existing_type, params["key_type"], params["regenerate"])
    if warning:
        module.warn(warning)
    if generate:
        key = generate_private_key(params["key_type"])

    attributes_differ = not generate and file_attributes_differ(path, mode, params["owner"], params["group"])
    changed = generate or attributes_differ
    result = {
        "changed": changed,
        "path": path,
        "key_type": describe_key(key.public_key()),
        "public_key": key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii"),
        "public_key_fingerprint": public_key_fingerprint(key.public_key()),
        "diff": {
            "before": before,
            "after": _describe_state(key),
        },
    }
    if module.check_mode or not changed:
        return result

    if generate:
        if existing is not None and params["backup"]:
            result["backup_file"] = module.backup_local(path)
        write_atomic(path, serialize_private_key(key, params["passphrase"]), mode, params["owner"], params["group"])
    else:
        apply_file_attributes(path, mode, params["owner"], params["group"])
    return result


def _describe_state(key) -> dict:
    """Describe a key for the diff by its type and public key fingerprint, or return {} when there is no key."""
    if key is None:
        return {}
    return {"key_type": describe_key(key.public_key()), "public_key_fingerprint": public_key_fingerprint(key.public_key())}


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "key_type": {"type": "str", "choices": list(KEY_TYPES), "default": "ecdsa-p256"},
            "passphrase": {"type": "str", "no_log": True},
            "regenerate": {"type": "str", "choices": ["never", "on_mismatch", "always"], "default": "on_mismatch"},
            "mode": {"type": "str", "default": "0600"},
            "owner": {"type": "str"},
            "group": {"type": "str"},
            "backup": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    if not os.path.isdir(os.path.dirname(os.path.abspath(module.params["path"]))):
        module.fail_json(
            msg=f"path={module.params['path']!r}: the directory does not exist; create it with mode 0700 first"
        )
    run_module(module, ensure_private_key)


if __name__ == "__main__":
    main()
