"""The certificate role on three local hosts: issue, re-run, a failed signing batch and a bad service entry."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from collection_path import collections_dir

HOSTS = ("node1", "node2", "node3")
PASSPHRASE = "role-test-ca-passphrase-2b7d"
RECAP_LINE = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.MULTILINE)

PLAYBOOK = """
- name: Ensure the CA
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Create the CA unless the test asks for a missing one
      ansible.builtin.include_role:
        name: certfleet.mtls.ca
      when: make_ca | bool

- name: Ensure a certificate on every host
  hosts: fleet
  gather_facts: false
  roles:
    - role: certfleet.mtls.certificate

- name: Write every host's outcome for the test to read
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Write the outcomes
      ansible.builtin.copy:
        content: "{{ groups['fleet'] | map('extract', hostvars) | map('certfleet.mtls.certificate_outcome') | list | to_json }}"
        dest: "{{ outcome_file }}"
        mode: "0644"
"""


def write_inventory(work: Path) -> Path:
    hosts = {name: {} for name in HOSTS}
    inventory = {
        "all": {
            "vars": {
                "ansible_connection": "local",
                "ansible_python_interpreter": sys.executable,
                "certfleet_ca_dir": str(work / "ca"),
                "certfleet_ca_passphrase": PASSPHRASE,
                "certfleet_certificate_dir": str(work / "hosts") + "/{{ inventory_hostname }}",
                "certfleet_certificate_owner": None,
                "certfleet_certificate_group": None,
                "outcome_file": str(work / "outcomes.json"),
            },
            "children": {"fleet": {"hosts": hosts}},
        }
    }
    path = work / "inventory.json"
    path.write_text(json.dumps(inventory), encoding="utf-8")
    return path


def run_role(
    work: Path, make_ca: bool = True, extra_vars: dict | None = None
) -> tuple[subprocess.CompletedProcess, dict, list[dict]]:
    """Run the playbook and return the process, the PLAY RECAP per host and the outcomes in host order."""
    playbook = work / "role.yml"
    playbook.write_text(PLAYBOOK, encoding="utf-8")
    outcome_file = work / "outcomes.json"
    if outcome_file.exists():
        outcome_file.unlink()
    environment = {
        **os.environ,
        "ANSIBLE_COLLECTIONS_PATH": str(collections_dir()),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
    }
    completed = subprocess.run(
        [str(Path(sys.executable).with_name("ansible-playbook")), "-i", str(write_inventory(work)),
         "-e", json.dumps({"make_ca": make_ca, **(extra_vars or {})}), str(playbook)],
        cwd=work, env=environment, capture_output=True, text=True, timeout=300, check=False,
    )
    recap = {
        host: {"ok": int(ok), "changed": int(changed), "unreachable": int(unreachable), "failed": int(failed)}
        for host, ok, changed, unreachable, failed in RECAP_LINE.findall(completed.stdout)
    }
    outcomes = json.loads(outcome_file.read_text(encoding="utf-8")) if outcome_file.exists() else []
    return completed, recap, outcomes


def current_generation(work: Path, host: str) -> Path:
    return (work / "hosts" / host / "current").resolve()


@pytest.fixture
def work(tmp_path) -> Path:
    return tmp_path


def test_role_issue_then_rerun(work):
    first, first_recap, first_outcomes = run_role(work)
    assert first.returncode == 0, first.stdout[-3000:]
    assert [outcome["status"] for outcome in first_outcomes] == ["issued"] * 3
    for host in HOSTS:
        assert first_recap[host]["changed"] > 0
        assert (current_generation(work, host) / "verdict.json").is_file()

    second, second_recap, second_outcomes = run_role(work)

    assert second.returncode == 0, second.stdout[-3000:]
    assert [outcome["status"] for outcome in second_outcomes] == ["current"] * 3
    for host, outcome, earlier in zip(HOSTS, second_outcomes, first_outcomes):
        assert second_recap[host]["changed"] == 0
        # Only the check ran, and the install result of the first run is not reported again.
        assert outcome["old_serial"] == earlier["new_serial"]
        assert outcome["new_serial"] == earlier["new_serial"]


def fatal_message(stdout: str, host: str) -> str:
    """Return the message of the host's last fatal line in the playbook output, or an empty string.

    A task that fails inside the role's block prints a fatal line before the rescue
    runs, so the last one is the host's final failure.
    """
    lines = re.findall(rf"^fatal: \[{re.escape(host)}\]: FAILED! => (.*)$", stdout, re.MULTILINE)
    return json.loads(lines[-1])["msg"] if lines else ""


def test_failed_signing_fails_whole_batch(work):
    completed, recap, _outcomes = run_role(work, make_ca=False)

    # Every host of the play failed, so Ansible ends the run before the outcome play.
    assert completed.returncode == 2
    for host in HOSTS:
        assert recap[host]["failed"] == 1, f"{host} did not fail: {recap}"
        assert not (work / "hosts" / host / "current").exists()
        message = fatal_message(completed.stdout, host)
        assert "signing on localhost failed for this batch" in message
        assert "contains no CA" in message


def test_failed_signing_outcomes_recorded(work):
    completed, recap, outcomes = run_role(work, make_ca=False, extra_vars={"certfleet_certificate_fail_on_error": False})

    assert completed.returncode == 0, completed.stdout[-3000:]
    assert [outcome["status"] for outcome in outcomes] == ["failed"] * 3
    for host, outcome in zip(HOSTS, outcomes):
        assert recap[host]["failed"] == 0
        assert "signing on localhost failed for this batch" in outcome["reasons"][0]
        assert "contains no CA" in outcome["reasons"][0]


def test_bad_service_entry_rolls_back(work):
    first, _first_recap, _first_outcomes = run_role(work)
    assert first.returncode == 0, first.stdout[-3000:]
    before = {host: current_generation(work, host) for host in HOSTS}

    # A forced rotation replaces the generation in use, so the service entry is checked.
    bad_services = {"certfleet_certificate_force": True, "certfleet_certificate_services": [{"name": "web"}]}
    completed, recap, _outcomes = run_role(work, extra_vars=bad_services)

    assert completed.returncode == 2
    for host in HOSTS:
        assert recap[host]["failed"] == 1, f"{host} did not fail: {recap}"
        assert current_generation(work, host) == before[host]
        message = fatal_message(completed.stdout, host)
        assert "certfleet_certificate_services has the entry" in message
        assert "Rolled back to serial" in message
