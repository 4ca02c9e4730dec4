"""Scenario 5: CA signing throughput, certfleet's signer against a raw CertificateBuilder loop."""

from __future__ import annotations

import json
import logging
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from harness.environment import CA_PASSPHRASE, SIGNING_SCRIPTS, BenchmarkError, Toolchain, python_environment
from harness.timing import Measurement, log_tail, run_measured

SIGNING_CSRS = 10_000

log = logging.getLogger("certfleet.bench")
SIGNERS = (
    ("certfleet signer", "sign_certfleet.py"),
    ("cryptography loop", "sign_floor.py"),
)


@dataclass(frozen=True)
class SigningRow:
    """One signer's run: certificates signed, wall and CPU seconds of the timed section, and the process's measurement."""

    signer: str
    certificates: int
    seconds: float
    cpu_seconds: float
    measurement: Measurement

    @property
    def per_second(self) -> float:
        return self.certificates / self.seconds


def _prepare(toolchain: Toolchain, environment: dict[str, str], directory: Path, count: int) -> tuple[Path, Path]:
    """Create the CA and the CSRs, not timed, and return the CA directory and the CSR file."""
    ca_dir = directory / "ca"
    csrs = directory / "csrs.pem"
    log_path = directory / "make-csrs.log"
    command = [
        str(toolchain.python), str(SIGNING_SCRIPTS / "make_csrs.py"),
        "--ca-dir", str(ca_dir), "--csrs", str(csrs), "--count", str(count),
    ]
    log.info("signing: creating a CA and %d CSRs in %s (not timed)", count, directory)
    with log_path.open("wb") as output:
        completed = subprocess.run(command, env=environment, stdout=output, stderr=subprocess.STDOUT, check=False)
    if completed.returncode != 0:
        raise BenchmarkError(
            f"make_csrs.py exited with status {completed.returncode}; last lines of {log_path}:\n{log_tail(log_path)}"
        )
    return ca_dir, csrs


def measure_signing(toolchain: Toolchain, session: Path, count: int = SIGNING_CSRS) -> list[SigningRow]:
    """Sign count CSRs with each signer, each in its own measured process."""
    directory = session / "signing"
    directory.mkdir(parents=True)
    environment = python_environment(toolchain)
    environment["CERTFLEET_BENCH_CA_PASSPHRASE"] = CA_PASSPHRASE
    ca_dir, csrs = _prepare(toolchain, environment, directory, count)

    rows = []
    for signer, script in SIGNERS:
        result_path = directory / f"{Path(script).stem}.json"
        command = [
            str(toolchain.python), str(SIGNING_SCRIPTS / script),
            "--ca-dir", str(ca_dir), "--csrs", str(csrs), "--result", str(result_path),
        ]
        log.info("signing: %s signs %d CSRs", signer, count)
        measurement = run_measured(toolchain, command, environment, directory / f"{Path(script).stem}.log", cwd=directory)
        result = json.loads(result_path.read_text())
        if result["certificates"] != count:
            raise BenchmarkError(f"{script} signed {result['certificates']} of {count} CSRs; see {measurement.log}")
        rows.append(SigningRow(signer, result["certificates"], result["seconds"], result["cpu_seconds"], measurement))
    os.remove(csrs)
    return rows
