# Copyright (c) certfleet.mtls contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Certificate generations on a managed host: stage, install, switch, roll back. Private: not a public API.

A certificate directory keeps each issued key and certificate as one generation, and
symbolic links select the one in use, so key and certificate always change together:

- ``generations/<id>/``: ``key.pem`` (0600), ``cert.pem``, ``chain.pem``,
  ``fullchain.pem``, ``ca.pem`` and ``meta.json``, written in a temporary directory
  and renamed into place complete
- ``current`` and ``previous``: links to the generation in use and the one before it,
  kept for rollback
- ``staged/key.pem``: a new key waiting for its certificate; it never replaces the key
  in use until a certificate for it is issued, checked and installed
- ``key.pem``, ``cert.pem``, ``chain.pem``, ``fullchain.pem``, ``ca.pem``: stable links
  through ``current`` that services read

Switching is one ``rename`` of the ``current`` link, which POSIX makes atomic. A run
killed at any point leaves either the old or the new generation selected, plus
leftovers that ``repair`` removes on the next run.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil

from ansible_collections.certfleet.mtls.plugins.module_utils._errors import CertfleetError
from ansible_collections.certfleet.mtls.plugins.module_utils._files import (
    ensure_directory,
    read_if_exists,
    resolve_owner,
    write_atomic,
)

FILES = ("key.pem", "cert.pem", "chain.pem", "fullchain.pem", "ca.pem")
CURRENT = "current"
PREVIOUS = "previous"
GENERATIONS = "generations"
STAGED = "staged"
_TEMPORARY_PREFIX = ".tmp-"


def generation_path(directory: str, link: str) -> str | None:
    """Return the generation directory a link (``current`` or ``previous``) selects, or None."""
    target = os.path.join(directory, link)
    if not os.path.islink(target):
        return None
    resolved = os.path.realpath(target)
    return resolved if os.path.isdir(resolved) else None


def staged_key_path(directory: str) -> str:
    """Return the path of the staged key."""
    return os.path.join(directory, STAGED, "key.pem")


def read_generation_file(directory: str, name: str, link: str = CURRENT) -> bytes | None:
    """Read one file of the selected generation, or None when there is no generation or file."""
    generation = generation_path(directory, link)
    if generation is None:
        return None
    return read_if_exists(os.path.join(generation, name), name)


def read_metadata(directory: str, link: str = CURRENT) -> dict:
    """Read a generation's ``meta.json``; an empty dict when it is missing or unreadable."""
    data = read_generation_file(directory, "meta.json", link)
    try:
        return json.loads(data) if data else {}
    except ValueError:
        return {}


def ensure_layout(directory: str, owner: str | None, group: str | None) -> bool:
    """Create the certificate directory and its subdirectories, mode 0700; return whether any was made."""
    changed = ensure_directory(directory, 0o700, "directory")
    for name in (GENERATIONS, STAGED):
        changed = ensure_directory(os.path.join(directory, name), 0o700, "directory") or changed
    uid, gid = resolve_owner(owner, group)
    if changed and (uid != -1 or gid != -1):
        for path in (directory, os.path.join(directory, GENERATIONS), os.path.join(directory, STAGED)):
            os.chown(path, uid, gid)
    return changed


def repair(directory: str) -> list[str]:
    """Undo what an interrupted run left behind and return a description of each repair.

    Removes half-written generation directories and temporary links, points ``current``
    at the newest complete generation when the link is missing or dangling, and
    restores the stable links.
    """
    repairs = []
    generations_dir = os.path.join(directory, GENERATIONS)
    if not os.path.isdir(generations_dir):
        return repairs
    for name in sorted(os.listdir(generations_dir)):
        if name.startswith(_TEMPORARY_PREFIX):
            shutil.rmtree(os.path.join(generations_dir, name), ignore_errors=True)
            repairs.append(f"removed the incomplete generation {name}")
    for name in os.listdir(directory):
        if name.startswith(_TEMPORARY_PREFIX):
            os.unlink(os.path.join(directory, name))
            repairs.append(f"removed the temporary link {name}")

    complete = _complete_generations(generations_dir)
    if generation_path(directory, CURRENT) is None and complete:
        _switch_link(directory, CURRENT, os.path.join(GENERATIONS, complete[-1]))
        repairs.append(f"pointed current at {complete[-1]}")
    if generation_path(directory, CURRENT) is not None and ensure_stable_links(directory):
        repairs.append("restored the stable links")
    return repairs


def _complete_generations(generations_dir: str) -> list[str]:
    names = []
    for name in sorted(os.listdir(generations_dir)):
        path = os.path.join(generations_dir, name)
        if not name.startswith(_TEMPORARY_PREFIX) and all(os.path.isfile(os.path.join(path, f)) for f in FILES):
            names.append(name)
    return names


def ensure_stable_links(directory: str) -> bool:
    """Point ``key.pem``, ``cert.pem`` and the others at ``current/``; return whether any link changed."""
    changed = False
    for name in FILES:
        target = os.path.join(CURRENT, name)
        path = os.path.join(directory, name)
        if os.path.islink(path) and os.readlink(path) == target:
            continue
        if os.path.isfile(path) and not os.path.islink(path):
            # A plain file from a layout without generations is kept beside the link.
            os.replace(path, f"{path}.before-generations")
        _switch_link(directory, name, target)
        changed = True
    return changed


def _switch_link(directory: str, name: str, target: str) -> None:
    """Point the link ``directory/name`` at ``target`` with one atomic rename."""
    temporary = os.path.join(directory, f"{_TEMPORARY_PREFIX}{name}")
    try:
        if os.path.lexists(temporary):
            os.unlink(temporary)
        os.symlink(target, temporary)
        os.replace(temporary, os.path.join(directory, name))
    except OSError as error:
        raise CertfleetError(f"switching {name} in {directory!r} to {target} failed: {error.strerror}") from None


def new_generation_id(now: datetime.datetime, serial: str) -> str:
    """Name a generation by its install time in UTC and the start of its serial."""
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{serial.lstrip('-')[:12]}"


def write_generation(directory: str, generation_id: str, files: dict[str, bytes], metadata: dict,
                     owner: str | None, group: str | None, mode: int) -> str:
    """Write a complete generation directory and return its path; nothing is selected yet.

    The files go to a temporary directory first, which is renamed into place only
    when every file is written and synced, so a generation directory is always complete.
    """
    generations_dir = os.path.join(directory, GENERATIONS)
    final = os.path.join(generations_dir, generation_id)
    if os.path.exists(final):
        raise CertfleetError(f"generation {final!r} already exists; run again to use a new generation name")
    temporary = os.path.join(generations_dir, _TEMPORARY_PREFIX + generation_id)
    try:
        os.mkdir(temporary, 0o700)
        uid, gid = resolve_owner(owner, group)
        if uid != -1 or gid != -1:
            os.chown(temporary, uid, gid)
        for name, data in files.items():
            file_mode = 0o600 if name == "key.pem" else mode
            write_atomic(os.path.join(temporary, name), data, file_mode, owner, group)
        write_atomic(os.path.join(temporary, "meta.json"), json.dumps(metadata, indent=2).encode() + b"\n", mode, owner, group)
        os.rename(temporary, final)
    except (OSError, CertfleetError) as error:
        shutil.rmtree(temporary, ignore_errors=True)
        reason = error.strerror if isinstance(error, OSError) else str(error)
        raise CertfleetError(f"writing the new generation in {generations_dir!r} failed: {reason}; the certificate in use is unchanged") from None
    return final


def switch_to(directory: str, generation: str) -> None:
    """Select ``generation`` as current and keep the one it replaces as previous."""
    old = generation_path(directory, CURRENT)
    if old is not None and os.path.realpath(old) != os.path.realpath(generation):
        _switch_link(directory, PREVIOUS, os.path.join(GENERATIONS, os.path.basename(old)))
    _switch_link(directory, CURRENT, os.path.join(GENERATIONS, os.path.basename(generation)))
    ensure_stable_links(directory)


def roll_back(directory: str) -> str:
    """Select the previous generation again and return its id; raise when there is none."""
    previous = generation_path(directory, PREVIOUS)
    if previous is None:
        raise CertfleetError(f"{directory!r} has no previous generation to roll back to")
    failed = generation_path(directory, CURRENT)
    _switch_link(directory, CURRENT, os.path.join(GENERATIONS, os.path.basename(previous)))
    if failed is not None:
        # The failed generation stays on disk for inspection, but is no longer a rollback target.
        os.unlink(os.path.join(directory, PREVIOUS))
    ensure_stable_links(directory)
    return os.path.basename(previous)


def prune(directory: str, keep: int) -> list[str]:
    """Remove all generations but the newest ``keep`` ones and those current or previous select."""
    generations_dir = os.path.join(directory, GENERATIONS)
    selected = {os.path.basename(path) for path in (generation_path(directory, CURRENT), generation_path(directory, PREVIOUS)) if path}
    complete = _complete_generations(generations_dir)
    removable = [name for name in complete[:-keep] if name not in selected] if keep > 0 else []
    for name in removable:
        shutil.rmtree(os.path.join(generations_dir, name), ignore_errors=True)
    return removable
