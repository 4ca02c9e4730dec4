"""Tests for _files: atomic writes with the final mode, and failed writes that keep the old file."""

from __future__ import annotations

import errno
import os
import stat

import pytest

from ansible_collections.certfleet.mtls.plugins.module_utils import _files
from ansible_collections.certfleet.mtls.plugins.module_utils._errors import CertfleetError
from ansible_collections.certfleet.mtls.plugins.module_utils._files import (
    apply_file_attributes,
    ensure_directory,
    file_attributes_differ,
    read_if_exists,
    resolve_owner,
    write_atomic,
)


def mode_of(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def temporary_files(directory) -> list[str]:
    return [name for name in os.listdir(directory) if name.startswith(".certfleet-") and name.endswith(".tmp")]


@pytest.fixture
def replaced_temporaries(monkeypatch):
    """Record the mode and content of each temporary file at the moment os.replace renames it."""
    seen = []
    original = os.replace

    def recording_replace(source, target):
        with open(source, "rb") as handle:
            seen.append({"name": os.path.basename(source), "mode": mode_of(source), "data": handle.read()})
        return original(source, target)

    monkeypatch.setattr(_files.os, "replace", recording_replace)
    return seen


def test_write_new_file_mode(tmp_path):
    path = tmp_path / "web1.key"

    write_atomic(str(path), b"secret", 0o600)

    assert path.read_bytes() == b"secret"
    assert mode_of(path) == 0o600
    assert temporary_files(tmp_path) == []


def test_write_mode_before_rename(tmp_path, replaced_temporaries):
    path = tmp_path / "web1.key"
    path.write_bytes(b"old")
    os.chmod(path, 0o644)

    write_atomic(str(path), b"secret", 0o600)

    assert len(replaced_temporaries) == 1
    assert replaced_temporaries[0]["name"].startswith(".certfleet-")
    assert replaced_temporaries[0]["mode"] == 0o600
    assert replaced_temporaries[0]["data"] == b"secret"


def test_write_replaces_looser_mode(tmp_path):
    path = tmp_path / "web1.key"
    path.write_bytes(b"old")
    os.chmod(path, 0o644)

    write_atomic(str(path), b"new", 0o600)

    assert path.read_bytes() == b"new"
    assert mode_of(path) == 0o600


def test_write_public_mode(tmp_path):
    path = tmp_path / "web1.pem"

    write_atomic(str(path), b"certificate", 0o644)

    assert mode_of(path) == 0o644


def test_write_failure_keeps_old(tmp_path, monkeypatch):
    path = tmp_path / "web1.key"
    path.write_bytes(b"old content")

    def failing_replace(source, target):
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(_files.os, "replace", failing_replace)

    with pytest.raises(CertfleetError) as caught:
        write_atomic(str(path), b"new content", 0o600)

    message = str(caught.value)
    assert str(path) in message
    assert os.strerror(errno.EIO) in message
    assert "previous file is unchanged" in message
    assert path.read_bytes() == b"old content"
    assert temporary_files(tmp_path) == []


def test_write_interrupt_removes_temporary(tmp_path, monkeypatch):
    path = tmp_path / "web1.key"
    path.write_bytes(b"old content")

    def interrupted_replace(source, target):
        raise KeyboardInterrupt

    monkeypatch.setattr(_files.os, "replace", interrupted_replace)

    with pytest.raises(KeyboardInterrupt):
        write_atomic(str(path), b"new content", 0o600)

    assert path.read_bytes() == b"old content"
    assert temporary_files(tmp_path) == []


def test_write_missing_directory(tmp_path):
    path = tmp_path / "missing" / "web1.key"

    with pytest.raises(CertfleetError) as caught:
        write_atomic(str(path), b"secret", 0o600)

    assert "does not exist" in str(caught.value)
    assert not path.parent.exists()


def test_write_with_owner(tmp_path):
    path = tmp_path / "web1.key"

    write_atomic(str(path), b"secret", 0o640, owner=str(os.getuid()), group=str(os.getgid()))

    assert os.stat(path).st_uid == os.getuid()
    assert os.stat(path).st_gid == os.getgid()
    assert mode_of(path) == 0o640


def test_read_if_exists(tmp_path):
    path = tmp_path / "web1.pem"
    path.write_bytes(b"data")

    assert read_if_exists(str(path), "path") == b"data"
    assert read_if_exists(str(tmp_path / "missing.pem"), "path") is None


def test_read_if_exists_directory(tmp_path):
    with pytest.raises(CertfleetError) as caught:
        read_if_exists(str(tmp_path), "certificate_path")

    assert str(caught.value).startswith(f"certificate_path={str(tmp_path)!r} cannot be read")


def test_resolve_owner():
    assert resolve_owner(None, None) == (-1, -1)
    assert resolve_owner("root", "root") == (0, 0)
    assert resolve_owner("0", None) == (0, -1)


def test_resolve_owner_unknown():
    with pytest.raises(CertfleetError) as caught:
        resolve_owner("certfleet-no-such-user", None)

    assert "owner='certfleet-no-such-user'" in str(caught.value)


def test_ensure_directory(tmp_path):
    path = tmp_path / "ca"
    previous_umask = os.umask(0o022)
    try:
        created = ensure_directory(str(path), 0o700, "path")
        created_again = ensure_directory(str(path), 0o700, "path")
    finally:
        os.umask(previous_umask)

    assert created is True
    assert created_again is False
    assert mode_of(path) == 0o700


def test_file_attributes(tmp_path):
    path = tmp_path / "web1.key"
    path.write_bytes(b"secret")
    os.chmod(path, 0o644)

    differs_before = file_attributes_differ(str(path), 0o600, None, None)
    apply_file_attributes(str(path), 0o600, None, None)
    differs_after = file_attributes_differ(str(path), 0o600, None, None)

    assert differs_before is True
    assert differs_after is False
    assert mode_of(path) == 0o600
