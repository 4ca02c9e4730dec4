"""Helpers shared by the two signing scripts: reading the CSRs and writing the result."""

from __future__ import annotations

import json
import re
from pathlib import Path

_PEM_CSR = re.compile(r"-----BEGIN CERTIFICATE REQUEST-----.*?-----END CERTIFICATE REQUEST-----\n", re.DOTALL)


def request_name(number: int) -> str:
    """Return the host name of the CSR with this number, such as node00001."""
    return f"node{number:05d}"


def read_csr_pems(path: Path) -> list[str]:
    """Split a file of concatenated PEM CSRs into one PEM string per CSR."""
    return _PEM_CSR.findall(path.read_text(encoding="ascii"))


def write_result(path: Path, signer: str, count: int, seconds: float, cpu_seconds: float) -> None:
    """Write the timed section's result: certificates signed, wall seconds and CPU seconds of all threads."""
    result = {"signer": signer, "certificates": count, "seconds": seconds, "cpu_seconds": cpu_seconds}
    path.write_text(json.dumps(result, indent=2) + "\n")
