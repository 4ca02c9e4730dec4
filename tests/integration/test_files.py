"""File modes and encryption at rest of what the modules write."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from integration.conftest import HOST_NAMES, PASSPHRASE, Pki

pytestmark = pytest.mark.integration

ENCRYPTED_PKCS8 = b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n"


def read_mode(path: Path) -> int:
    """Return the permission bits of a file or directory."""
    return path.stat().st_mode & 0o777


def test_shared_keys_private_and_ca_keys_encrypted(pki: Pki) -> None:
    for ca_path in (pki.ca_path, pki.other_ca_path):
        assert read_mode(ca_path) == 0o700, ca_path
        for name in ("root.key", "intermediate.key"):
            key_path = ca_path / name
            assert read_mode(key_path) == 0o600, key_path
            assert key_path.read_bytes().startswith(ENCRYPTED_PKCS8), key_path
        for name in ("root.pem", "intermediate.pem", "bundle.pem", "chain.pem"):
            assert read_mode(ca_path / name) == 0o644, ca_path / name
    for host in pki.hosts.values():
        assert read_mode(host.key_path) == 0o600, host.key_path
        assert host.key_path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----\n"), host.key_path


def test_modes_ignore_permissive_umask(play, work: Path, pki: Pki) -> None:
    ca_path = work / "ca"
    loose_key = Path(shutil.copy2(pki.hosts[HOST_NAMES[0]].key_path, work / "loose.key"))
    loose_key.chmod(0o644)
    loose_bytes = loose_key.read_bytes()
    tasks = [
        {"name": "ca", "certfleet.mtls.ca": {"path": str(ca_path), "passphrase": PASSPHRASE}},
        {"name": "new key", "certfleet.mtls.private_key": {"path": str(work / "new.key")}},
        {"name": "loose key", "certfleet.mtls.private_key": {"path": str(loose_key)}},
    ]

    # A umask of 0 would leave every file world-writable if a module relied on it.
    previous_umask = os.umask(0)
    try:
        run = play(tasks)
    finally:
        os.umask(previous_umask)

    run.ok("ca")
    assert read_mode(ca_path) == 0o700
    for name in ("root.key", "intermediate.key"):
        assert read_mode(ca_path / name) == 0o600, name
        assert (ca_path / name).read_bytes().startswith(ENCRYPTED_PKCS8), name
    for name in ("root.pem", "intermediate.pem", "bundle.pem", "chain.pem"):
        assert read_mode(ca_path / name) == 0o644, name
    assert run.ok("new key")["changed"] is True
    assert read_mode(work / "new.key") == 0o600
    # An existing key with a loose mode is tightened in place, not replaced.
    assert run.ok("loose key")["changed"] is True
    assert read_mode(loose_key) == 0o600
    assert loose_key.read_bytes() == loose_bytes
