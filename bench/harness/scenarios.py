"""The fleet scenarios: CA setup, first issuance, re-run, forced rotation and the floor.

Each scenario runs one playbook on one tool's fleet tree and returns a Row. A
scenario that needs issued certificates issues them first when the tree has none
yet, in a run the table leaves out, so every scenario also runs alone
(bench/run --only NAME).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from harness.environment import PLAYBOOKS, BenchmarkError, Toolchain
from harness.fleet_layout import FleetTree, certificate_contents, hosts_without_certificate
from harness.timing import Measurement, log_tail, run_measured

CERTFLEET = "certfleet"
COMMUNITY_CRYPTO = "community.crypto"
FLOOR = "floor"

log = logging.getLogger("certfleet.bench")

# Scenario keys, in the order the table lists them.
CA_SETUP = "ca-setup"
ISSUANCE = "issuance"
RERUN = "rerun"
ROTATION = "rotation"
FLOOR_CHECK = "floor-check"
FLOOR_ISSUANCE = "floor-issuance"

SCENARIO_LABELS = {
    CA_SETUP: "0 CA setup (not in 1)",
    ISSUANCE: "1 first issuance",
    RERUN: "2 re-run, nothing due",
    ROTATION: "3 forced rotation",
    FLOOR_CHECK: "4 floor: 1 ping/host",
    FLOOR_ISSUANCE: "4 floor: 2 pings/host",
}

_RECAP_LINE = re.compile(
    r"^(?P<host>\S+)\s+: ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)\s+failed=(?P<failed>\d+)",
    re.MULTILINE,
)


@dataclass(frozen=True)
class Row:
    """One measured run in the results table."""

    scenario: str
    tool: str
    hosts: int
    measurement: Measurement
    changed: int
    round_number: int = 1


@dataclass
class PlaybookRunner:
    """Runs playbooks on fleet trees with fixed forks and environment."""

    toolchain: Toolchain
    environment: dict[str, str]
    forks: int

    def run(
        self, tree: FleetTree, playbook: str, log_name: str, *options: str, expected_hosts: list[str] | None = None
    ) -> tuple[Measurement, int]:
        """Run a playbook on the tree's inventory; return its measurement and the number of changed results.

        expected_hosts must all appear in the PLAY RECAP; by default they are the fleet's hosts.
        """
        command = [
            str(self.toolchain.ansible_playbook), "-i", str(tree.inventory), "--forks", str(self.forks),
            *options, str(PLAYBOOKS / playbook),
        ]
        log_path = tree.next_log(log_name)
        log.info("%s, %s on %d hosts: running %s, log %s", tree.tool, log_name, len(tree.hosts), playbook, log_path)
        measurement = run_measured(self.toolchain, command, self.environment, log_path, cwd=tree.directory)
        log.info("%s, %s on %d hosts: finished in %.1f s", tree.tool, log_name, len(tree.hosts), measurement.wall_seconds)
        return measurement, _changed_results(log_path, tree.hosts if expected_hosts is None else expected_hosts)


def _changed_results(log: Path, expected_hosts: list[str]) -> int:
    """Sum the changed counts of the PLAY RECAP, after checking that every expected host appears in it."""
    text = log.read_text(encoding="utf-8", errors="replace")
    recap = {match["host"]: match for match in _RECAP_LINE.finditer(text)}
    missing = [host for host in expected_hosts if host not in recap]
    if missing:
        raise BenchmarkError(
            f"the PLAY RECAP in {log} lacks {len(missing)} expected hosts, such as {missing[0]}; last lines:\n{log_tail(log)}"
        )
    return sum(int(match["changed"]) for match in recap.values())


_TOOL_PLAYBOOKS = {
    CERTFLEET: ("certfleet.yml", "certfleet.yml"),
    COMMUNITY_CRYPTO: ("crypto.yml", "crypto_ca.yml"),
}


def _check_issued(tree: FleetTree, log: Path) -> None:
    missing = hosts_without_certificate(tree)
    if missing:
        raise BenchmarkError(
            f"{tree.tool}: the run succeeded, but {len(missing)} hosts have no {tree.hosts_dir}/<host>/cert.pem, "
            f"such as {missing[0]}; see {log}"
        )


def set_up_ca(runner: PlaybookRunner, tree: FleetTree) -> Row:
    """Create the tool's CA on the CA host, timed on its own row."""
    _fleet_playbook, ca_playbook = _TOOL_PLAYBOOKS[tree.tool]
    # certfleet.yml limited to the CA host runs only its first play, the certfleet.mtls.ca role.
    options = ("--limit", "ca") if tree.tool == CERTFLEET else ()
    measurement, changed = runner.run(tree, ca_playbook, "ca-setup", *options, expected_hosts=["localhost"])
    tree.ca_ready = True
    return Row(CA_SETUP, tree.tool, len(tree.hosts), measurement, changed)


def issue(runner: PlaybookRunner, tree: FleetTree) -> Row:
    """Scenario 1: issue a key and certificate for every host of a fresh tree (the CA exists)."""
    if tree.issued:
        raise BenchmarkError(f"{tree.tool}: first issuance needs a fresh tree, and {tree.directory} is issued")
    playbook, _ca_playbook = _TOOL_PLAYBOOKS[tree.tool]
    measurement, changed = runner.run(tree, playbook, "issuance")
    _check_issued(tree, measurement.log)
    tree.issued = True
    return Row(ISSUANCE, tree.tool, len(tree.hosts), measurement, changed)


def ensure_issued(runner: PlaybookRunner, tree: FleetTree) -> None:
    """Issue certificates, outside the table, when the tree has none yet; create the CA first when needed."""
    if not tree.ca_ready:
        set_up_ca(runner, tree)
    if not tree.issued:
        issue(runner, tree)


def rerun(runner: PlaybookRunner, tree: FleetTree) -> Row:
    """Scenario 2: run again when nothing is due; community.crypto adds its renewal check."""
    ensure_issued(runner, tree)
    playbook, _ca_playbook = _TOOL_PLAYBOOKS[tree.tool]
    options = ("--extra-vars", "bench_check_renewal=true") if tree.tool == COMMUNITY_CRYPTO else ()
    measurement, changed = runner.run(tree, playbook, "rerun", *options)
    return Row(RERUN, tree.tool, len(tree.hosts), measurement, changed)


def rotate(runner: PlaybookRunner, tree: FleetTree) -> Row:
    """Scenario 3: renew every host's certificate with the role's force option, certfleet only."""
    if tree.tool != CERTFLEET:
        raise BenchmarkError(f"forced rotation is measured for certfleet only, not {tree.tool}")
    ensure_issued(runner, tree)
    before = certificate_contents(tree)
    measurement, changed = runner.run(tree, "certfleet.yml", "rotation", "--extra-vars", "certfleet_certificate_force=true")
    after = certificate_contents(tree)
    unchanged = [host for host in tree.hosts if before[host] == after[host]]
    if unchanged:
        raise BenchmarkError(
            f"certfleet: the forced rotation left {len(unchanged)} certificates unchanged, such as {unchanged[0]}'s; "
            f"check that the certificate role supports certfleet_certificate_force, and see {measurement.log}"
        )
    return Row(ROTATION, tree.tool, len(tree.hosts), measurement, changed)


def floor(runner: PlaybookRunner, tree: FleetTree) -> list[Row]:
    """Scenario 4: Ansible's own dispatch cost, one and two trivial modules per host."""
    rows = []
    for scenario, playbook in ((FLOOR_CHECK, "floor_check.yml"), (FLOOR_ISSUANCE, "floor_issue.yml")):
        measurement, changed = runner.run(tree, playbook, scenario)
        rows.append(Row(scenario, tree.tool, len(tree.hosts), measurement, changed))
    return rows
