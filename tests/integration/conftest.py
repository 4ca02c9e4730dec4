"""Fixtures of the integration tests: a playbook runner per test and one shared PKI per session.

The shared PKI costs one playbook run. Tests read it and never change it: a test that
needs to change a CA or a host file copies it into its own work directory first.
"""

from __future__ import annotations

import functools
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from integration.playbook import PlaybookRun, run_playbook

PASSPHRASE = "integration-ca-passphrase-5c1e"
HOST_NAMES = ("web1.example.internal", "web2.example.internal")


@dataclass(frozen=True)
class Host:
    """A host key made by private_key and the certificate that sign_csr issued for it (30 days)."""

    name: str
    key_path: Path
    csr: str
    certificate: str
    serial: str


@dataclass(frozen=True)
class Pki:
    """Two CAs made by the ca module with the same passphrase, and two hosts issued by the first."""

    ca_path: Path
    other_ca_path: Path
    bundle: str
    chain: str
    other_bundle: str
    other_chain: str
    hosts: dict[str, Host]


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """Build the shared PKI with the modules themselves, in one playbook run."""
    base = tmp_path_factory.mktemp("pki")
    hosts_dir = base / "hosts"
    hosts_dir.mkdir(mode=0o700)
    # Both CAs keep the default common name, so only their keys and signatures tell them apart.
    tasks: list[dict] = [
        {"name": "ca", "certfleet.mtls.ca": {"path": str(base / "ca"), "passphrase": PASSPHRASE}},
        {"name": "other ca", "certfleet.mtls.ca": {"path": str(base / "other-ca"), "passphrase": PASSPHRASE}},
    ]
    for index, name in enumerate(HOST_NAMES):
        tasks += [
            {"name": f"key {name}", "certfleet.mtls.private_key": {"path": str(hosts_dir / f"{name}.key")}},
            {
                "name": f"csr {name}",
                "certfleet.mtls.csr": {"private_key_path": str(hosts_dir / f"{name}.key"), "common_name": name},
                "register": f"csr_{index}",
            },
        ]
    tasks.append({
        "name": "sign",
        "certfleet.mtls.sign_csr": {
            "ca_path": str(base / "ca"),
            "passphrase": PASSPHRASE,
            "requests": [{"name": name, "csr": f"{{{{ csr_{index}.csr }}}}"} for index, name in enumerate(HOST_NAMES)],
        },
    })
    run = run_playbook(tasks, base / "playbooks")
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]

    ca, other, signed = run.result("ca"), run.result("other ca"), run.result("sign")
    issued = {entry["name"]: entry for entry in signed["certificates"]}
    hosts = {
        name: Host(
            name=name,
            key_path=hosts_dir / f"{name}.key",
            csr=run.result(f"csr {name}")["csr"],
            certificate=issued[name]["certificate"],
            serial=issued[name]["serial"],
        )
        for name in HOST_NAMES
    }
    return Pki(
        ca_path=base / "ca",
        other_ca_path=base / "other-ca",
        bundle=ca["bundle"],
        chain=ca["chain"],
        other_bundle=other["bundle"],
        other_chain=other["chain"],
        hosts=hosts,
    )


@pytest.fixture
def play(tmp_path: Path) -> Callable[..., PlaybookRun]:
    """Return run_playbook writing its playbooks to a directory of this test, outside ``work``."""
    return functools.partial(run_playbook, directory=tmp_path / "playbooks")


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """Return an empty directory (mode 0700) for the files the modules write in this test."""
    directory = tmp_path / "work"
    directory.mkdir(mode=0o700)
    return directory


@pytest.fixture
def work_ca(work: Path, pki: Pki) -> Path:
    """Return a copy of the shared CA inside ``work``, which a test may change."""
    return Path(shutil.copytree(pki.ca_path, work / "ca"))
