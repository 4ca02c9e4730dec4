"""The bench/run command: choose the scenarios, run them, print and store the tables."""

from __future__ import annotations

import argparse
import datetime
import logging
import os
import shlex
import sys
import time
from dataclasses import replace
from pathlib import Path

from harness import scenarios
from harness.environment import (
    MEASURED_TREES,
    RESULTS_ROOT,
    WORK_ROOT,
    BenchmarkError,
    ansible_environment,
    code_fingerprint,
    file_hashes,
    find_toolchain,
    git_revision,
    machine_details,
)
from harness.fleet_layout import FleetTree, make_local_tree, make_podman_tree, testbed_fleet
from harness.report import fleet_table, median_rows, signing_table, write_json
from harness.scenarios import CERTFLEET, COMMUNITY_CRYPTO, FLOOR, PlaybookRunner, Row
from harness.signing import SigningRow, measure_signing

SCENARIO_NAMES = ("issuance", "rerun", "rotation", "floor", "signing")
PODMAN_SCENARIO_NAMES = ("issuance", "rerun", "floor")
DEFAULT_HOSTS = 100
SCALING_HOSTS = (100, 300, 1000)
PODMAN_HOSTS = 5

log = logging.getLogger("certfleet.bench")


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/run",
        description=(
            "Time certfleet.mtls against community.crypto's own-CA flow and Ansible's dispatch floor on one "
            "simulated fleet, then print the table and write it as JSON under bench/results/."
        ),
    )
    parser.add_argument(
        "--hosts", type=int, help=f"hosts in the simulated local fleet (default: {DEFAULT_HOSTS})",
    )
    parser.add_argument("--forks", type=int, default=5, help="Ansible forks for every run (default: 5)")
    parser.add_argument(
        "--scaling", action="store_true",
        help=f"also run certfleet and the floor on {', '.join(map(str, SCALING_HOSTS))} hosts",
    )
    parser.add_argument(
        "--podman", action="store_true",
        help=f"run scenarios issuance, rerun and floor on {PODMAN_HOSTS} podman hosts from testbed/fleet.py instead",
    )
    parser.add_argument("--only", choices=SCENARIO_NAMES, help="run this scenario alone")
    parser.add_argument(
        "--repeat", type=int, default=1,
        help="rounds of the fleet scenarios, each on fresh trees; the table shows each row's median round (default: 1)",
    )

    arguments = parser.parse_args(argv)
    if arguments.podman and (arguments.scaling or arguments.hosts is not None):
        parser.error(f"--podman runs on {PODMAN_HOSTS} hosts; leave out --hosts and --scaling")
    if arguments.hosts is None:
        arguments.hosts = PODMAN_HOSTS if arguments.podman else DEFAULT_HOSTS
    if arguments.hosts < 1 or arguments.forks < 1 or arguments.repeat < 1:
        parser.error("--hosts, --forks and --repeat must be at least 1")
    if arguments.podman and arguments.only and arguments.only not in PODMAN_SCENARIO_NAMES:
        parser.error(f"--podman runs only {', '.join(PODMAN_SCENARIO_NAMES)}; --only {arguments.only} is not one of them")
    return arguments


def needed_tools(selected: tuple[str, ...], with_community_crypto: bool) -> list[str]:
    """Return the tools whose fleet trees the selected scenarios use."""
    tools = []
    if {"issuance", "rerun", "rotation"} & set(selected):
        tools.append(CERTFLEET)
    if with_community_crypto and {"issuance", "rerun"} & set(selected):
        tools.append(COMMUNITY_CRYPTO)
    if "floor" in selected:
        tools.append(FLOOR)
    return tools


def run_fleet_scenarios(runner: PlaybookRunner, trees: dict[str, FleetTree], selected: tuple[str, ...]) -> list[Row]:
    """Run the selected fleet scenarios on the trees, floor first, then each scenario for every tool."""
    rows: list[Row] = []
    if FLOOR in trees:
        rows += scenarios.floor(runner, trees[FLOOR])
    tools = [trees[tool] for tool in (CERTFLEET, COMMUNITY_CRYPTO) if tool in trees]
    for tree in tools:
        rows.append(scenarios.set_up_ca(runner, tree))
    if "issuance" in selected:
        rows += [scenarios.issue(runner, tree) for tree in tools]
    if "rerun" in selected:
        rows += [scenarios.rerun(runner, tree) for tree in tools]
    if "rotation" in selected and CERTFLEET in trees:
        rows.append(scenarios.rotate(runner, trees[CERTFLEET]))
    return rows


def run_local(
    runner: PlaybookRunner, session: Path, hosts: int, selected: tuple[str, ...], with_community_crypto: bool, rounds: int,
) -> list[Row]:
    """Run the selected scenarios in rounds on fresh trees, so that the machine's changing load affects every tool alike."""
    rows: list[Row] = []
    for round_number in range(1, rounds + 1):
        trees = {
            tool: make_local_tree(session, tool, hosts, runner.toolchain.python, round_number)
            for tool in needed_tools(selected, with_community_crypto)
        }
        rows += [replace(row, round_number=round_number) for row in run_fleet_scenarios(runner, trees, selected)]
    return rows


def run_podman(runner: PlaybookRunner, session: Path, selected: tuple[str, ...]) -> list[Row]:
    # NOTE: CPU time and tree RSS cover the controller side only. Modules run inside
    # the containers as children of podman's conmon, outside ansible-playbook's tree.
    fleet = testbed_fleet.start_fleet(PODMAN_HOSTS)
    try:
        trees = {
            tool: make_podman_tree(session, tool, fleet, runner.toolchain.python)
            for tool in needed_tools(selected, with_community_crypto=True)
        }
        return run_fleet_scenarios(runner, trees, selected)
    finally:
        testbed_fleet.stop_fleet(fleet.id)


def selected_scenarios(arguments: argparse.Namespace) -> tuple[str, ...]:
    if arguments.only:
        return (arguments.only,)
    return PODMAN_SCENARIO_NAMES if arguments.podman else SCENARIO_NAMES


def run_all(
    runner: PlaybookRunner, session: Path, arguments: argparse.Namespace, selected: tuple[str, ...]
) -> tuple[list[Row], list[SigningRow]]:
    """Run every selected scenario on every fleet size, then the signing benchmark when selected."""
    if arguments.podman:
        return run_podman(runner, session, selected), []

    rows = run_local(runner, session, arguments.hosts, selected, with_community_crypto=True, rounds=arguments.repeat)
    if arguments.scaling:
        for hosts in SCALING_HOSTS:
            if hosts != arguments.hosts:
                rows += run_local(runner, session, hosts, selected, with_community_crypto=False, rounds=1)
    signing_rows = measure_signing(runner.toolchain, session) if "signing" in selected else []
    return rows, signing_rows


def edited_files(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """Return the paths whose hash differs between two file_hashes results, added and removed files included."""
    return sorted(path for path in before.keys() | after.keys() if before.get(path) != after.get(path))


def print_results(header: dict, arguments: argparse.Namespace, rows: list[Row], signing_rows: list[SigningRow]) -> None:
    details = ", ".join(f"{key} {value}" for key, value in header["machine"].items())
    print(f"\nMachine: {details}")
    print(f"Code: git {header['git_revision']}, fingerprint {header['code_fingerprint_at_start']}. Forks {arguments.forks}.")
    print("Ratios are wall / CPU time; cc is community.crypto.")
    print("Load is the machine's 1-minute load average when the run ended.")
    if arguments.podman:
        print("Podman hosts: CPU and RSS count the controller's processes, not the modules run inside containers.")
    if arguments.repeat > 1:
        print(f"Each fleet row is the median by wall time of {arguments.repeat} rounds; the JSON file lists every round.")
    print()
    if rows:
        print(fleet_table(median_rows(rows)))
    if signing_rows:
        print()
        print(signing_table(signing_rows))

    edited = header["files_edited_during_run"]
    if edited:
        print(
            f"\nWARNING: {len(edited)} files under {', '.join(MEASURED_TREES)} changed during the run "
            f"({', '.join(edited[:5])}{', ...' if len(edited) > 5 else ''}), "
            "so rows may have measured different code. Run the benchmark again."
        )


def run(arguments: argparse.Namespace) -> int:
    started = time.monotonic()
    started_utc = datetime.datetime.now(datetime.timezone.utc)
    stamp = started_utc.strftime("%Y%m%dT%H%M%SZ") + ("-podman" if arguments.podman else "")
    session = WORK_ROOT / stamp
    session.mkdir(parents=True)
    log.info("work directory %s", session)

    toolchain = find_toolchain()
    machine = machine_details(toolchain)
    revision = git_revision()
    hashes_at_start = file_hashes()
    runner = PlaybookRunner(toolchain, ansible_environment(toolchain), arguments.forks)

    rows, signing_rows = run_all(runner, session, arguments, selected_scenarios(arguments))

    duration = time.monotonic() - started
    hashes_at_end = file_hashes()
    header = {
        "started_utc": started_utc.isoformat(timespec="seconds"),
        "duration_seconds": duration,
        "command": shlex.join(["bench/run", *sys.argv[1:]]),
        "settings": {
            "hosts": arguments.hosts,
            "forks": arguments.forks,
            "scaling": arguments.scaling,
            "podman": arguments.podman,
            "only": arguments.only,
            "repeat": arguments.repeat,
        },
        "machine": machine,
        "git_revision": revision,
        "code_fingerprint_at_start": code_fingerprint(hashes_at_start),
        "code_fingerprint_at_end": code_fingerprint(hashes_at_end),
        "files_edited_during_run": edited_files(hashes_at_start, hashes_at_end),
        "load_average_1min_at_end": round(os.getloadavg()[0], 2),
        "work_directory": str(session),
    }
    results = RESULTS_ROOT / f"{stamp}.json"
    write_json(results, header, rows, signing_rows)

    print_results(header, arguments, rows, signing_rows)
    print(f"\nTotal time {duration / 60:.1f} min. JSON: {results}")
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="bench: %(message)s", stream=sys.stderr)
    arguments = parse_arguments(argv)
    try:
        return run(arguments)
    except (BenchmarkError, testbed_fleet.FleetError, testbed_fleet.CommandError) as error:
        print(f"bench: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130
