"""The simulated fleet: host names, each tool's directory tree and its inventory.

A local fleet is N inventory hosts named node0001, node0002, ..., all with
ansible_connection=local, each with its own directory for key, certificate,
chain and bundle under bench/work/<session>/<tool>-n<N>/hosts/<host>/. The CA
lives on localhost under .../ca. A podman fleet uses the containers of
testbed/fleet.py as hosts, with their files inside each container.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import sys
from dataclasses import dataclass
from pathlib import Path

from harness.environment import CA_PASSPHRASE, REPOSITORY_ROOT, BenchmarkError

sys.path.insert(0, str(REPOSITORY_ROOT / "testbed"))
import fleet as testbed_fleet  # noqa: E402  (testbed/fleet.py, found through the line above)

CERTIFICATE_FILE = "cert.pem"
PODMAN_HOSTS_ROOT = "/var/lib/certfleet-bench"


@dataclass
class FleetTree:
    """One tool's fresh fleet: where its files live, its inventory, and whether its CA and certificates exist."""

    tool: str
    directory: Path
    hosts: list[str]
    hosts_dir: str
    inventory: Path
    podman: bool
    ca_ready: bool = False
    issued: bool = False
    log_count: int = 0

    def host_dir(self, host: str) -> str:
        return f"{self.hosts_dir}/{host}"

    def next_log(self, name: str) -> Path:
        """Return a new log path under the tree's logs/, numbered in run order."""
        self.log_count += 1
        return self.directory / "logs" / f"{self.log_count:02d}-{name}.log"


def local_host_names(count: int) -> list[str]:
    """Return the inventory names of a local fleet: node0001, node0002, ..."""
    return [f"node{number:04d}" for number in range(1, count + 1)]


def _write_inventory(path: Path, hosts: list[str], host_vars: dict, common_vars: dict, controller_python: Path) -> None:
    # JSON is valid YAML, and json.dumps quotes every name and path safely.
    inventory = {
        "all": {
            "vars": common_vars,
            "children": {
                "ca": {
                    "hosts": {
                        "localhost": {
                            "ansible_connection": "local",
                            "ansible_python_interpreter": str(controller_python),
                        },
                    },
                },
                "fleet": {"hosts": {host: None for host in hosts}, "vars": host_vars},
            },
        },
    }
    path.write_text(json.dumps(inventory, indent=1) + "\n")


def _common_vars(directory: Path, hosts_dir: str, owner: str, group: str) -> dict:
    return {
        "bench_ca_dir": str(directory / "ca"),
        "bench_hosts_dir": hosts_dir,
        "bench_ca_passphrase": CA_PASSPHRASE,
        "bench_file_owner": owner,
        "bench_file_group": group,
    }


def make_local_tree(session: Path, tool: str, count: int, python: Path, round_number: int = 1) -> FleetTree:
    """Create a fresh local fleet of count hosts for one tool and one round of measurements, and its inventory."""
    directory = session / f"{tool}-n{count}-r{round_number}"
    if directory.exists():
        raise BenchmarkError(f"{directory} already exists; every tool needs a fresh tree")
    hosts_dir = directory / "hosts"
    hosts_dir.mkdir(parents=True)
    hosts = local_host_names(count)
    owner = pwd.getpwuid(os.getuid()).pw_name
    group = grp.getgrgid(os.getgid()).gr_name
    inventory = directory / "inventory.yml"
    host_vars = {"ansible_connection": "local", "ansible_python_interpreter": str(python)}
    _write_inventory(inventory, hosts, host_vars, _common_vars(directory, str(hosts_dir), owner, group), python)
    return FleetTree(tool, directory, hosts, str(hosts_dir), inventory, podman=False)


def make_podman_tree(session: Path, tool: str, fleet: testbed_fleet.Fleet, python: Path) -> FleetTree:
    """Lay out a fresh tree for one tool on a running podman fleet, with its files inside the containers."""
    directory = session / f"{tool}-podman{len(fleet.hosts)}"
    if directory.exists():
        raise BenchmarkError(f"{directory} already exists; every tool needs a fresh tree")
    directory.mkdir(parents=True)
    hosts_dir = f"{PODMAN_HOSTS_ROOT}/{session.name}-{tool}"
    inventory = directory / "inventory.yml"
    host_vars = {
        "ansible_connection": "containers.podman.podman",
        "ansible_python_interpreter": "/usr/bin/python3",
    }
    _write_inventory(inventory, fleet.hosts, host_vars, _common_vars(directory, hosts_dir, "root", "root"), python)
    return FleetTree(tool, directory, list(fleet.hosts), hosts_dir, inventory, podman=True)


def certificate_contents(tree: FleetTree) -> dict[str, bytes]:
    """Read every host's installed certificate, so that a run can be checked to have replaced it."""
    if tree.podman:
        raise BenchmarkError("reading certificates is implemented for local fleets only")
    return {host: Path(tree.host_dir(host), CERTIFICATE_FILE).read_bytes() for host in tree.hosts}


def hosts_without_certificate(tree: FleetTree) -> list[str]:
    """Return the hosts whose certificate file is missing or empty."""
    missing = []
    for host in tree.hosts:
        path = f"{tree.host_dir(host)}/{CERTIFICATE_FILE}"
        if tree.podman:
            present = testbed_fleet.exec_in(host, ["test", "-s", path], check=False).returncode == 0
        else:
            present = Path(path).is_file() and Path(path).stat().st_size > 0
        if not present:
            missing.append(host)
    return missing
