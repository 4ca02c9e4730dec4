"""Record every file under a directory, to prove that a run left them alone."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import NamedTuple


class FileState(NamedTuple):
    """Content hash, modification time and permission bits of one file."""

    sha256: str
    mtime_ns: int
    mode: int


def snapshot(directory: Path) -> dict[str, FileState]:
    """Map the path (relative to ``directory``) of every file below it to its state.

    Hidden files are included, so a temporary file left behind by a failed write shows up.
    """
    states = {}
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            status = path.stat()
            states[str(path.relative_to(directory))] = FileState(
                hashlib.sha256(path.read_bytes()).hexdigest(), status.st_mtime_ns, status.st_mode & 0o7777
            )
    return states
