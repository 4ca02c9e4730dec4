#!/usr/bin/env python
"""Start and remove fleets of podman test hosts for the certfleet collection.

A fleet is a podman network ``<id>-net`` plus containers ``<id>-h1`` to
``<id>-hN`` that run systemd from the image made by testbed/build-image.sh.
Every container and network carries the label ``certfleet.fleet=<id>``. The
hosts reach each other by container name through aardvark-dns.
``.testbed/<id>/inventory.ini`` lists them for Ansible's
containers.podman.podman connection plugin.

Command line::

    python3 testbed/fleet.py up --hosts 3
    python3 testbed/fleet.py down FLEET_ID
    python3 testbed/fleet.py down --all
    python3 testbed/fleet.py list

From tests::

    from fleet import start_fleet, stop_fleet, exec_in

    with start_fleet(2) as fleet:
        exec_in(fleet.hosts[0], ["getent", "hosts", fleet.hosts[1]])

Run it as root, the user that built the image, because rootless podman has a
separate image store. Every podman call gets CONTAINERS_CONF set to
testbed/containers.conf. Ansible's podman connection plugin runs podman
too, so export the same variable (``.testbed/<id>/env.sh`` does it) before
running ansible against a fleet.

Start long-running test servers in a host as systemd units, for example with
``exec_in(host, ["systemd-run", "--unit", "probe-http", "python3", "-m",
"http.server", "8080"])``. A process started with ``podman exec --detach``
makes ``podman stop`` of that host wait for the full stop timeout.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
CONTAINERS_CONF = REPOSITORY_ROOT / "testbed" / "containers.conf"
FLEETS_DIRECTORY = REPOSITORY_ROOT / ".testbed"
IMAGE = "localhost/certfleet-testhost:bookworm"
FLEET_LABEL = "certfleet.fleet"

# A fleet id becomes part of container names and host names, so it must be a
# valid DNS label after "-h<number>" is appended.
FLEET_ID_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,40}[a-z0-9])?$")

BOOT_TIMEOUT_SECONDS = 60.0
BOOT_POLL_INTERVAL_SECONDS = 0.25
# Seconds podman waits after the stop signal before it kills a container that
# is being removed. The hosts are disposable, so removal kills them at once.
# A graceful stop would usually take under a second. But when a process
# started with `podman exec --detach` is still running, systemd-shutdown
# (systemd 252) waits until podman's timeout runs out.
STOP_TIMEOUT_SECONDS = 0
PODMAN_COMMAND_TIMEOUT_SECONDS = 120.0

log = logging.getLogger("certfleet.testbed.fleet")


class FleetError(Exception):
    """Failure to start, inspect or remove a fleet."""


class CommandError(subprocess.CalledProcessError):
    """Failed command whose message includes its standard output and error."""

    def __str__(self) -> str:
        message = (
            f"command {shlex.join(self.cmd)} failed with exit status {self.returncode}"
        )
        for name, text in (("stdout", self.stdout), ("stderr", self.stderr)):
            if text and text.strip():
                message += f"\n{name}:\n{text.strip()}"
        return message


@dataclass
class Fleet:
    """Running fleet: its id, container names, network and inventory file."""

    id: str
    hosts: list[str]
    network: str
    inventory: Path

    @property
    def directory(self) -> Path:
        return self.inventory.parent

    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, *exc_info: object) -> None:
        stop_fleet(self.id)


def command_environment() -> dict[str, str]:
    """Return a copy of os.environ with CONTAINERS_CONF set to the test bed's file."""
    environment = dict(os.environ)
    environment["CONTAINERS_CONF"] = str(CONTAINERS_CONF)
    return environment


def run_podman(
    arguments: list[str],
    check: bool = True,
    input: str | None = None,
    timeout: float | None = PODMAN_COMMAND_TIMEOUT_SECONDS,
) -> subprocess.CompletedProcess[str]:
    """Run podman with CONTAINERS_CONF set and return its captured output.

    Raises CommandError when check is true and podman exits with a non-zero
    status, and FleetError when podman is not installed or times out.
    """
    command = ["podman", *arguments]
    try:
        result = subprocess.run(
            command,
            check=False,
            input=input,
            capture_output=True,
            text=True,
            env=command_environment(),
            timeout=timeout,
        )
    except FileNotFoundError as error:
        raise FleetError(
            "podman not found; install the test bed packages with "
            "testbed/install-host-packages.sh (as root)"
        ) from error
    except subprocess.TimeoutExpired as error:
        raise FleetError(
            f"command {shlex.join(command)} timed out after {timeout} s"
        ) from error

    if check and result.returncode != 0:
        raise CommandError(result.returncode, command, result.stdout, result.stderr)
    return result


def exec_in(
    host: str,
    argv: list[str],
    check: bool = True,
    input: str | None = None,
    timeout: float | None = PODMAN_COMMAND_TIMEOUT_SECONDS,
) -> subprocess.CompletedProcess[str]:
    """Run argv inside container host with ``podman exec``.

    Text given as input goes to the command's standard input. Raises
    CommandError when check is true and the command exits with a non-zero
    status.
    """
    arguments = ["exec"]
    if input is not None:
        arguments.append("--interactive")
    arguments += [host, *argv]
    return run_podman(arguments, check=check, input=input, timeout=timeout)


def validate_fleet_id(fleet_id: str) -> str:
    """Return fleet_id unchanged, or raise FleetError if it is not a valid id."""
    if not FLEET_ID_PATTERN.match(fleet_id):
        raise FleetError(
            f"invalid fleet id {fleet_id!r}: use 1 to 42 lowercase letters, digits "
            "and hyphens, starting and ending with a letter or digit"
        )
    return fleet_id


def network_name(fleet_id: str) -> str:
    return f"{fleet_id}-net"


def host_names(fleet_id: str, count: int) -> list[str]:
    return [f"{fleet_id}-h{number}" for number in range(1, count + 1)]


def fleet_directory(fleet_id: str) -> Path:
    return FLEETS_DIRECTORY / fleet_id


def labelled_containers(fleet_id: str | None = None) -> list[dict]:
    """Return podman's JSON records of the containers of one fleet, or of all fleets."""
    label_filter = FLEET_LABEL if fleet_id is None else f"{FLEET_LABEL}={fleet_id}"
    result = run_podman(
        ["ps", "--all", "--filter", f"label={label_filter}", "--format", "json"]
    )
    return json.loads(result.stdout or "[]")


def labelled_networks(fleet_id: str | None = None) -> list[dict]:
    """Return podman's JSON records of the networks of one fleet, or of all fleets."""
    label_filter = FLEET_LABEL if fleet_id is None else f"{FLEET_LABEL}={fleet_id}"
    result = run_podman(
        ["network", "ls", "--filter", f"label={label_filter}", "--format", "json"]
    )
    return json.loads(result.stdout or "[]")


def fleet_exists(fleet_id: str) -> bool:
    """Return whether any container, network or inventory directory uses fleet_id."""
    if labelled_containers(fleet_id) or labelled_networks(fleet_id):
        return True
    if (
        run_podman(
            ["network", "exists", network_name(fleet_id)], check=False
        ).returncode
        == 0
    ):
        return True
    return fleet_directory(fleet_id).exists()


def new_fleet_id() -> str:
    """Return a random fleet id, "cf" and 6 hex digits, that no fleet uses yet."""
    for _attempt in range(10):
        fleet_id = "cf" + secrets.token_hex(3)
        if not fleet_exists(fleet_id):
            return fleet_id
    raise FleetError("failed to find an unused fleet id after 10 random tries")


def check_prerequisites(image: str) -> None:
    """Raise FleetError naming the fix when podman, iptables or the image is missing."""
    if shutil.which("podman") is None:
        raise FleetError(
            "podman not found; install the test bed packages with "
            "testbed/install-host-packages.sh (as root)"
        )

    # netavark 1.4 sets up container networks with iptables and fails with the
    # bare message "No such file or directory (os error 2)" when it is missing.
    search_path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    if shutil.which("iptables", path=search_path) is None:
        raise FleetError(
            "iptables not found, but netavark needs it to connect containers to "
            "a network; install it with 'apt-get install iptables'"
        )

    if run_podman(["image", "exists", image], check=False).returncode != 0:
        raise FleetError(
            f"image {image} not found; build it with testbed/build-image.sh (as root)"
        )


def write_inventory(fleet_id: str, hosts: list[str]) -> Path:
    """Write .testbed/<id>/inventory.ini and env.sh, and return the inventory path."""
    directory = fleet_directory(fleet_id)
    directory.mkdir(parents=True, exist_ok=True)

    lines = [f"# Fleet {fleet_id}, written by testbed/fleet.py.", "[fleet]", *hosts, ""]
    lines += [
        "[fleet:vars]",
        "ansible_connection=containers.podman.podman",
        "ansible_python_interpreter=/usr/bin/python3",
        "",
        "[controller]",
        'localhost ansible_connection=local ansible_python_interpreter="{{ ansible_playbook_python }}"',
        "",
    ]
    inventory = directory / "inventory.ini"
    inventory.write_text("\n".join(lines))

    environment_file = directory / "env.sh"
    environment_file.write_text(
        f"# Source this file before running podman or ansible against fleet {fleet_id}.\n"
        f"export CONTAINERS_CONF={shlex.quote(str(CONTAINERS_CONF))}\n"
    )
    return inventory


def system_state(host: str) -> str:
    """Return the output of ``systemctl is-system-running`` in host, or podman's error."""
    result = exec_in(host, ["systemctl", "is-system-running"], check=False, timeout=15)
    # systemctl exits non-zero for every state except "running", so only the
    # output distinguishes "degraded" from "starting".
    return (
        result.stdout.strip()
        or result.stderr.strip()
        or f"exit status {result.returncode}"
    )


def container_status(host: str) -> str:
    result = run_podman(
        ["container", "inspect", "--format", "{{.State.Status}}", host], check=False
    )
    return result.stdout.strip() or "missing"


def wait_for_boot(hosts: list[str], timeout: float) -> None:
    """Wait until systemd in every host reports "running" or "degraded".

    Raises FleetError when a container stops or when timeout seconds pass.
    """
    deadline = time.monotonic() + timeout
    states = {host: "not checked" for host in hosts}
    pending = list(hosts)
    while pending:
        for host in list(pending):
            states[host] = system_state(host)
            if states[host] in ("running", "degraded"):
                pending.remove(host)
                if states[host] == "degraded":
                    log.warning(
                        "%s booted degraded; see 'systemctl --failed' in it", host
                    )
                continue

            status = container_status(host)
            if status in ("exited", "stopped", "stopping", "removing", "missing"):
                logs = run_podman(["logs", "--tail", "20", host], check=False)
                log_text = (logs.stdout + logs.stderr).strip()
                detail = (
                    f"last lines of its log:\n{log_text}"
                    if log_text
                    else "it wrote no log"
                )
                raise FleetError(
                    f"container {host} is {status} instead of running; {detail}"
                )

        if not pending:
            break
        if time.monotonic() > deadline:
            summary = ", ".join(f"{host}: {states[host]}" for host in pending)
            raise FleetError(
                f"timed out after {timeout:g} s waiting for systemd to boot ({summary}); "
                "raise the boot timeout (--timeout) on a slow machine"
            )
        time.sleep(BOOT_POLL_INTERVAL_SECONDS)


def start_fleet(
    count: int,
    fleet_id: str | None = None,
    image: str = IMAGE,
    boot_timeout: float = BOOT_TIMEOUT_SECONDS,
) -> Fleet:
    """Create a network and count booted hosts, and write their inventory.

    Raises FleetError when the arguments are invalid, the fleet id is in use
    or the hosts fail to boot. Whatever was created before a failure is
    removed again.
    """
    if count < 1:
        raise FleetError(f"invalid host count {count}: a fleet needs at least 1 host")
    check_prerequisites(image)

    if fleet_id is None:
        fleet_id = new_fleet_id()
    else:
        validate_fleet_id(fleet_id)
        if fleet_exists(fleet_id):
            raise FleetError(
                f"fleet {fleet_id} already exists; remove it with 'testbed/fleet.py down {fleet_id}'"
            )

    network = network_name(fleet_id)
    hosts = host_names(fleet_id, count)
    started = time.monotonic()
    try:
        run_podman(
            ["network", "create", "--label", f"{FLEET_LABEL}={fleet_id}", network]
        )
        for host in hosts:
            run_podman(
                [
                    "run",
                    "--detach",
                    "--name",
                    host,
                    "--hostname",
                    host,
                    "--systemd=always",
                    "--network",
                    network,
                    "--network-alias",
                    host,
                    "--label",
                    f"{FLEET_LABEL}={fleet_id}",
                    image,
                ]
            )
        wait_for_boot(hosts, boot_timeout)
        inventory = write_inventory(fleet_id, hosts)
    except BaseException:
        log.error("starting fleet %s failed; removing what was created", fleet_id)
        try:
            stop_fleet(fleet_id)
        except (FleetError, subprocess.CalledProcessError) as cleanup_error:
            log.error(
                "failed to remove fleet %s after the failed start: %s",
                fleet_id,
                cleanup_error,
            )
        raise

    log.info(
        "fleet %s: %d hosts booted in %.1f s",
        fleet_id,
        count,
        time.monotonic() - started,
    )
    return Fleet(id=fleet_id, hosts=hosts, network=network, inventory=inventory)


def stop_fleet(fleet_id: str) -> bool:
    """Remove the containers, network and inventory directory of a fleet.

    Returns whether anything was left to remove, so removing a fleet that is
    already gone succeeds and returns False.
    """
    validate_fleet_id(fleet_id)
    removed = []

    container_ids = [record["Id"] for record in labelled_containers(fleet_id)]
    if container_ids:
        run_podman(
            ["rm", "--force", "--time", str(STOP_TIMEOUT_SECONDS), *container_ids]
        )
        removed.append(f"{len(container_ids)} containers")

    networks = sorted({record["name"] for record in labelled_networks(fleet_id)})
    for network in networks:
        run_podman(["network", "rm", network])
    if networks:
        removed.append(f"network {', '.join(networks)}")

    directory = fleet_directory(fleet_id)
    if directory.exists():
        shutil.rmtree(directory)
        removed.append(f"directory {directory}")

    if removed:
        log.info("fleet %s: removed %s", fleet_id, "; ".join(removed))
    return bool(removed)


def list_fleet_ids() -> list[str]:
    """Return the ids of all fleets with a labelled container or network or an inventory directory."""
    fleet_ids = {record["Labels"][FLEET_LABEL] for record in labelled_containers()}
    fleet_ids |= {record["labels"][FLEET_LABEL] for record in labelled_networks()}
    if FLEETS_DIRECTORY.is_dir():
        fleet_ids |= {
            path.name
            for path in FLEETS_DIRECTORY.iterdir()
            if FLEET_ID_PATTERN.match(path.name) and (path / "inventory.ini").exists()
        }
    return sorted(fleet_ids)


def stop_all_fleets() -> list[str]:
    """Remove every fleet that list_fleet_ids finds, and return their ids."""
    fleet_ids = list_fleet_ids()
    for fleet_id in fleet_ids:
        stop_fleet(fleet_id)
    return fleet_ids


def command_up(arguments: argparse.Namespace) -> None:
    started = time.monotonic()
    fleet = start_fleet(
        arguments.hosts, arguments.id, arguments.image, arguments.timeout
    )
    print(f"fleet: {fleet.id}")
    print(f"inventory: {fleet.inventory}")
    print(f"hosts: {' '.join(fleet.hosts)}")
    print(f"network: {fleet.network}")
    print(f"started in {time.monotonic() - started:.1f} s")
    print(f"Before running podman or ansible, run: source {fleet.directory / 'env.sh'}")


def command_down(arguments: argparse.Namespace) -> None:
    if arguments.all:
        removed = stop_all_fleets()
        print(f"removed fleets: {' '.join(removed)}" if removed else "no fleets found")
    elif stop_fleet(arguments.fleet_id):
        print(f"removed fleet {arguments.fleet_id}")
    else:
        print(f"fleet {arguments.fleet_id} not found; nothing to remove")


def command_list(arguments: argparse.Namespace) -> None:
    for fleet_id in list_fleet_ids():
        print(fleet_id)


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="fleet.py",
        description="Start and remove fleets of podman test hosts.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    up = commands.add_parser("up", help="start a fleet and write its inventory")
    up.add_argument(
        "--hosts", type=int, default=3, help="number of hosts to start (default: 3)"
    )
    up.add_argument("--id", help="fleet id (default: 'cf' and 6 random hex digits)")
    up.add_argument("--image", default=IMAGE, help=f"host image (default: {IMAGE})")
    up.add_argument(
        "--timeout",
        type=float,
        default=BOOT_TIMEOUT_SECONDS,
        help=f"seconds to wait for systemd to boot in all hosts (default: {BOOT_TIMEOUT_SECONDS:.0f})",
    )
    up.set_defaults(handler=command_up)

    down = commands.add_parser(
        "down", help="remove a fleet; succeeds if it is already gone"
    )
    target = down.add_mutually_exclusive_group(required=True)
    target.add_argument("fleet_id", nargs="?", help="id of the fleet to remove")
    target.add_argument(
        "--all", action="store_true", help="remove every fleet this script made"
    )
    down.set_defaults(handler=command_down)

    list_parser = commands.add_parser("list", help="print the ids of existing fleets")
    list_parser.set_defaults(handler=command_list)

    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO, format="fleet.py: %(message)s", stream=sys.stderr
    )
    arguments = parse_arguments(argv)
    try:
        arguments.handler(arguments)
    except (FleetError, CommandError) as error:
        print(f"fleet.py: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("fleet.py: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
