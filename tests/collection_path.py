"""Expose the working tree as the installed collection ``certfleet.mtls``.

Ansible and Python find a collection at ``<dir>/ansible_collections/<namespace>/<name>``.
This module links the repository there, inside a directory of its own outside the
tree, so tools that walk the repository never meet a link to its own root.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def collections_dir() -> Path:
    """Return a directory whose ``ansible_collections/certfleet/mtls`` is this repository."""
    checkout = hashlib.sha256(str(ROOT).encode()).hexdigest()[:12]
    default = Path(tempfile.gettempdir()) / f"certfleet-collections-{os.getuid()}-{checkout}"
    base = Path(os.environ.get("CERTFLEET_COLLECTIONS_DIR") or default)
    link = base / "ansible_collections" / "certfleet" / "mtls"
    link.parent.mkdir(parents=True, exist_ok=True)
    if not (link.is_symlink() and link.resolve() == ROOT):
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(ROOT, target_is_directory=True)
    return base


if __name__ == "__main__":
    print(collections_dir())
