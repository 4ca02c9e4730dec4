"""Run each Molecule scenario in extensions/molecule with ``molecule test``.

Every run gets its own CERTFLEET_MOLECULE_RUN, which goes into the names of the
scenario's containers and network, and its own Molecule ephemeral directory, so
a leftover of an earlier or concurrent run never collides with this one.
Molecule destroys the containers and the network at the end, also after a
failed step.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from collection_path import ROOT

sys.path.insert(0, str(ROOT / "testbed"))

import fleet  # noqa: E402  (the test bed's podman helpers)

pytestmark = pytest.mark.fleet

SCENARIOS = ("ca", "certificate", "nginx")
VENV_BIN = Path(sys.executable).parent
# The limit only stops a run that hangs. Each scenario takes about a minute or
# less on a 2-core VM (Debian 12, podman 4.3) without other load.
MOLECULE_TIMEOUT_SECONDS = 600
DESTROY_TIMEOUT_SECONDS = 180
TAIL_LINES = 60
# Maximum number of lines shown from a failed task's header to its result line.
FAILURE_EXCERPT_LINES = 40
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
# Ansible's result line of a failed task. The verify playbooks also fail tasks on
# purpose inside block/rescue, so the last such line is the one that counts.
FAILED_TASK_LINE = re.compile(r"^(fatal|failed): ")
TASK_HEADER_LINE = re.compile(r"^(TASK|RUNNING HANDLER) \[")


def molecule_environment(run_id: str, ephemeral_directory: Path) -> dict[str, str]:
    """Return os.environ plus the settings of one molecule run.

    tests/conftest.py has already set CONTAINERS_CONF and ANSIBLE_COLLECTIONS_PATH.
    """
    environment = dict(os.environ)
    environment["PATH"] = os.pathsep.join([str(VENV_BIN), environment.get("PATH", "")])
    environment["CERTFLEET_MOLECULE_RUN"] = run_id
    environment["MOLECULE_EPHEMERAL_DIRECTORY"] = str(ephemeral_directory)
    environment["ANSIBLE_NOCOLOR"] = "1"
    environment["NO_COLOR"] = "1"
    return environment


def run_molecule(arguments: list[str], environment: dict[str, str], timeout: float) -> tuple[int | None, str]:
    """Run molecule from the collection root and return its exit status and output.

    The status is None when the run timed out. Molecule then gets killed together
    with the ansible-playbook processes it started, because they share a new
    process group.
    """
    process = subprocess.Popen(
        [str(VENV_BIN / "molecule"), *arguments],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output = process.communicate(timeout=timeout)[0]
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output = process.communicate()[0]
        return None, ANSI_ESCAPE.sub("", output)
    return process.returncode, ANSI_ESCAPE.sub("", output)


def failure_report(output: str, log_file: Path) -> str:
    """Return the last failed task with Ansible's error, the last lines, and the log path."""
    lines = output.splitlines()
    parts = [f"full output: {log_file}"]
    failed = [number for number, line in enumerate(lines) if FAILED_TASK_LINE.match(line)]
    if failed:
        last = failed[-1]
        first = max(0, last - FAILURE_EXCERPT_LINES)
        headers = [number for number in range(first, last) if TASK_HEADER_LINE.match(lines[number])]
        if headers:
            first = headers[-1]
        excerpt = "\n".join(lines[first : last + 1])
        parts.append(f"last failed task:\n{excerpt}")
    parts.append("last lines of the output:\n" + "\n".join(lines[-TAIL_LINES:]))
    return "\n\n".join(parts)


@pytest.fixture(scope="module")
def molecule_ready() -> None:
    """Fail with the fix when molecule, podman or the test host image is missing."""
    if not (VENV_BIN / "molecule").exists():
        pytest.fail(
            f"molecule not found in {VENV_BIN}; install the test requirements with "
            "scripts/bootstrap-venv.sh requirements/tests.txt"
        )
    try:
        fleet.check_prerequisites(fleet.IMAGE)
    except fleet.FleetError as error:
        pytest.fail(str(error))


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_molecule_scenario(scenario: str, molecule_ready: None, tmp_path: Path) -> None:
    run_id = "pt" + secrets.token_hex(3)
    environment = molecule_environment(run_id, tmp_path / "molecule")
    log_file = tmp_path / "molecule-test.log"

    status, output = run_molecule(
        ["test", "--scenario-name", scenario, "--no-command-borders"], environment, MOLECULE_TIMEOUT_SECONDS
    )
    log_file.write_text(output)

    if status is None:
        destroy_status, destroy_output = run_molecule(
            ["destroy", "--scenario-name", scenario], environment, DESTROY_TIMEOUT_SECONDS
        )
        pytest.fail(
            f"molecule test -s {scenario} (run {run_id}) timed out after {MOLECULE_TIMEOUT_SECONDS} s; "
            f"molecule destroy exited with status {destroy_status}.\n{failure_report(output, log_file)}"
            f"\n\nmolecule destroy output:\n{destroy_output[-2000:]}"
        )
    assert status == 0, (
        f"molecule test -s {scenario} (run {run_id}) exited with status {status}.\n"
        f"{failure_report(output, log_file)}"
    )


def test_rotation_schedule_scenario(molecule_ready: None, tmp_path: Path) -> None:
    """Run the rotation_schedule scenario: one automation host with the timer, the wrapper and cron."""
    test_molecule_scenario("rotation_schedule", molecule_ready, tmp_path)
