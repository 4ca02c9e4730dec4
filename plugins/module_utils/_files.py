# Copyright (c) certfleet.mtls contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Atomic file writes with the final mode from the first byte. Private: not a public API.

ansible-core's ``atomic_move`` copies the old file's mode onto the new one before the
module can tighten it, so a private key could briefly be readable with the mode of the
file it replaces. These helpers instead create the temporary file with its final
mode and owner, write and flush it, and rename it over the target.
"""

from __future__ import annotations

import grp
import os
import pwd
import tempfile

from ansible_collections.certfleet.mtls.plugins.module_utils._errors import CertfleetError


def read_if_exists(path: str, option: str) -> bytes | None:
    """Return a file's bytes, None when it does not exist; raise CertfleetError when it cannot be read."""
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise CertfleetError(f"{option}={path!r} cannot be read: {error.strerror}; check the path and its permissions") from None


def resolve_owner(owner: str | None, group: str | None) -> tuple[int, int]:
    """Return the uid and gid to set, -1 for each one left unchanged."""
    uid = gid = -1
    try:
        if owner is not None:
            uid = int(owner) if str(owner).isdigit() else pwd.getpwnam(owner).pw_uid
        if group is not None:
            gid = int(group) if str(group).isdigit() else grp.getgrnam(group).gr_gid
    except KeyError:
        raise CertfleetError(f"owner={owner!r} or group={group!r} does not exist on this host") from None
    return uid, gid


def ensure_directory(path: str, mode: int, option: str) -> bool:
    """Create a directory with ``mode`` when missing and return whether it was created."""
    if os.path.isdir(path):
        return False
    try:
        os.makedirs(path, mode=mode)
        os.chmod(path, mode)
    except OSError as error:
        raise CertfleetError(f"{option}: directory {path!r} cannot be created: {error.strerror}") from None
    return True


def write_atomic(path: str, data: bytes, mode: int, owner: str | None = None, group: str | None = None) -> None:
    """Replace ``path`` with ``data`` in one rename, with ``mode`` and owner set before any byte is written.

    On failure the temporary file is removed and the old file stays as it was.
    """
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise CertfleetError(f"directory {directory!r} for {path!r} does not exist; create it first (mode 0700 for keys)")
    uid, gid = resolve_owner(owner, group)
    try:
        handle, temporary = tempfile.mkstemp(dir=directory, prefix=".certfleet-", suffix=".tmp")
    except OSError as error:
        raise CertfleetError(f"cannot create a temporary file in {directory!r}: {error.strerror}") from None
    try:
        os.fchmod(handle, mode)
        if uid != -1 or gid != -1:
            os.fchown(handle, uid, gid)
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except OSError as error:
        _remove_quietly(temporary)
        raise CertfleetError(f"writing {path!r} failed: {error.strerror}; the previous file is unchanged") from None
    except BaseException:
        _remove_quietly(temporary)
        raise
    _sync_directory(directory)


def file_attributes_differ(path: str, mode: int, owner: str | None, group: str | None) -> bool:
    """Tell whether an existing file's mode or owner differs from the requested ones."""
    status = os.stat(path)
    uid, gid = resolve_owner(owner, group)
    if (status.st_mode & 0o7777) != mode:
        return True
    return (uid != -1 and status.st_uid != uid) or (gid != -1 and status.st_gid != gid)


def apply_file_attributes(path: str, mode: int, owner: str | None, group: str | None) -> None:
    """Set a file's mode and owner in place."""
    uid, gid = resolve_owner(owner, group)
    os.chmod(path, mode)
    if uid != -1 or gid != -1:
        os.chown(path, uid, gid)


def _remove_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _sync_directory(directory: str) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
