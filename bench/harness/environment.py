"""Paths, the environment every measured command gets, and the machine's details."""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
BENCH_ROOT = REPOSITORY_ROOT / "bench"
PLAYBOOKS = BENCH_ROOT / "playbooks"
SIGNING_SCRIPTS = BENCH_ROOT / "signing"
WORK_ROOT = BENCH_ROOT / "work"
RESULTS_ROOT = BENCH_ROOT / "results"
MEASURE_SCRIPT = BENCH_ROOT / "harness" / "measure.py"
VENV = REPOSITORY_ROOT / ".venv-bench"
VENV_BIN = VENV / "bin"
CONTAINERS_CONF = REPOSITORY_ROOT / "testbed" / "containers.conf"

# A throwaway passphrase for the benchmark CAs, which live only under bench/work.
CA_PASSPHRASE = "certfleet-bench-only"


class BenchmarkError(Exception):
    """A failed setup step or measured run; the message names what failed and where its log is."""


@dataclass(frozen=True)
class Toolchain:
    """The programs every measured command runs, all from .venv-bench."""

    python: Path
    ansible_playbook: Path
    collections_dir: Path


def find_toolchain() -> Toolchain:
    """Locate .venv-bench and expose the working tree as the collection certfleet.mtls."""
    python = VENV_BIN / "python"
    ansible_playbook = VENV_BIN / "ansible-playbook"
    for program in (python, ansible_playbook):
        if not program.exists():
            raise BenchmarkError(f"{program} not found; run bench/setup.sh to create .venv-bench")
    result = subprocess.run(
        [str(python), str(REPOSITORY_ROOT / "tests" / "collection_path.py")],
        capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        raise BenchmarkError(f"tests/collection_path.py failed with exit status {result.returncode}:\n{result.stderr}")
    return Toolchain(python, ansible_playbook, Path(result.stdout.strip()))


def ansible_environment(toolchain: Toolchain) -> dict[str, str]:
    """Return the environment for ansible-playbook: inherited variables minus ANSIBLE_*, plus the bench's settings.

    Inherited ANSIBLE_* variables are dropped so that a developer's shell cannot change
    what is measured. ANSIBLE_CONFIG names an empty file, so no ansible.cfg applies either,
    and only the default stdout callback runs: callbacks_enabled keeps its default, [].
    """
    # NOTE: ANSIBLE_CALLBACKS_ENABLED is left unset on purpose. ansible-core 2.21.5
    # reads an empty value as [''] and ansible-playbook stops with "A non-empty
    # plugin name is required", so unset is the only way to ask for no extra callbacks.
    environment = {name: value for name, value in os.environ.items() if not name.startswith("ANSIBLE_")}
    environment.update({
        "ANSIBLE_CONFIG": str(BENCH_ROOT / "ansible.cfg"),
        "ANSIBLE_COLLECTIONS_PATH": str(toolchain.collections_dir),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "CONTAINERS_CONF": str(CONTAINERS_CONF),
        "PATH": f"{VENV_BIN}{os.pathsep}{environment.get('PATH', '')}",
    })
    return environment


def python_environment(toolchain: Toolchain) -> dict[str, str]:
    """Return the environment for the signing scripts, which import certfleet's module_utils."""
    environment = dict(os.environ)
    environment["PYTHONPATH"] = str(toolchain.collections_dir)
    return environment


# The code a fleet run executes: the collection and the benchmark's playbooks.
MEASURED_TREES = ("plugins", "roles", "meta", "bench/playbooks")


def file_hashes() -> dict[str, str]:
    """Hash each file under MEASURED_TREES, so that a run can detect code edited while it ran."""
    hashes = {}
    for tree in MEASURED_TREES:
        for path in sorted((REPOSITORY_ROOT / tree).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                hashes[str(path.relative_to(REPOSITORY_ROOT))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return hashes


def code_fingerprint(hashes: dict[str, str]) -> str:
    """Combine per-file hashes into one short fingerprint of the measured code."""
    digest = hashlib.sha256()
    for path, file_hash in sorted(hashes.items()):
        digest.update(f"{path}\0{file_hash}\n".encode())
    return digest.hexdigest()[:16]


def git_revision() -> str:
    """Return the checked-out commit, with "+changes" when the working tree differs from it."""
    def git(*arguments: str) -> str:
        result = subprocess.run(["git", *arguments], cwd=REPOSITORY_ROOT, capture_output=True, text=True, check=False)
        return result.stdout.strip() if result.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    return commit + ("+changes" if git("status", "--porcelain", "--untracked-files=no") else "")


def _package_version(toolchain: Toolchain, code: str) -> str:
    result = subprocess.run([str(toolchain.python), "-c", code], capture_output=True, text=True, check=False)
    return result.stdout.strip() if result.returncode == 0 else f"unknown ({result.stderr.strip()[-200:]})"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_details(toolchain: Toolchain) -> dict[str, str | int | float]:
    """Describe the machine and the versions that the numbers depend on."""
    community_crypto = (
        "import json, ansible_collections.community.crypto as c, pathlib; "
        "print(json.loads((pathlib.Path(list(c.__path__)[0]) / 'MANIFEST.json').read_text())"
        "['collection_info']['version'])"
    )
    return {
        "nproc": os.cpu_count() or 0,
        "cpu": _cpu_model(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "kernel": platform.release(),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "harness_python": sys.version.split()[0],
        "bench_python": _package_version(toolchain, "import platform; print(platform.python_version())"),
        "ansible_core": _package_version(toolchain, "import ansible.release as r; print(r.__version__)"),
        "ansible": _package_version(toolchain, "import ansible_collections.ansible_release as r; print(r.ansible_version)"),
        "community_crypto": _package_version(toolchain, community_crypto),
        "cryptography": _package_version(toolchain, "import cryptography; print(cryptography.__version__)"),
    }
