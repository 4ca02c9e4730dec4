"""Rotation end to end: rotate.yml on a running podman fleet, under load, in check mode and through faults.

One fleet serves the whole module: three hosts in the group ``fleet`` and one more host
whose certificate directory is a 512 KiB tmpfs, for the full-disk case. Certificates
live 10 minutes, so the renewal rule can be tested on real certificates without
changing any clock. Every test ends with each host serving HTTPS with a working
certificate, so the next test starts from a working fleet.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from collection_path import ROOT

sys.path.insert(0, str(ROOT / "testbed"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import fleet  # noqa: E402
import rotation_client  # noqa: E402

pytestmark = pytest.mark.fleet

TLS_DIR = "/etc/certfleet/tls/host"
TMPFS_MOUNT = "/etc/certfleet/tls"
VALIDITY = datetime.timedelta(minutes=10)
VENV_BIN = Path(sys.executable).parent
PLAYBOOK_TIMEOUT_SECONDS = 600
RECAP_LINE = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.MULTILINE)
FORCE = ("-e", "certfleet_certificate_force=true")
# Free space left on the tmpfs before a rotation. It fits the staged key (one 4 KiB
# page) but not a generation of six files.
TMPFS_FREE_KIB = 12


@dataclass
class RotationFleet:
    """The running fleet, its inventory, and an mTLS client that the fleet CA signed."""

    running: fleet.Fleet
    inventory: Path
    passphrase: str
    tmpfs_host: str
    addresses: dict[str, str]
    client: rotation_client.ClientFiles

    @property
    def hosts(self) -> list[str]:
        return self.running.hosts

    @property
    def directory(self) -> Path:
        return self.running.directory


def run_playbook(inventory: Path, playbook: str, *extra: str) -> subprocess.CompletedProcess[str]:
    """Run ansible-playbook against the fleet and return the finished process."""
    return subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), playbook, *extra],
        check=False, capture_output=True, text=True, cwd=ROOT, env=dict(os.environ),
        timeout=PLAYBOOK_TIMEOUT_SECONDS,
    )


def rotate(inventory: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_playbook(inventory, "certfleet.mtls.rotate", *extra)


def describe(completed: subprocess.CompletedProcess[str]) -> str:
    """Return the end of a playbook's output, for assertion messages."""
    return f"exit status {completed.returncode}\n{completed.stdout[-6000:]}\n{completed.stderr[-2000:]}"


def recap(output: str) -> dict[str, dict[str, int]]:
    """Parse the PLAY RECAP lines into counters per host."""
    return {
        host: {"ok": int(ok), "changed": int(changed), "unreachable": int(unreachable), "failed": int(failed)}
        for host, ok, changed, unreachable, failed in RECAP_LINE.findall(output)
    }


def summary_lines(completed: subprocess.CompletedProcess[str]) -> list[str]:
    """Return the lines of rotate.yml's summary: one per host, then the counts."""
    output = completed.stdout
    task = output.find("TASK [Report rotated, skipped and failed hosts]")
    assert task >= 0, f"rotate.yml printed no summary\n{describe(completed)}"
    prefix = "ok: [localhost] => "
    start = output.index(prefix, task) + len(prefix)
    end = output.index("\n}\n", start) + 2
    return json.loads(output[start:end])["msg"]


def host_entry(summary: list[str], host: str) -> str:
    """Return the summary line of one host."""
    entries = [line for line in summary if line.startswith(f"{host}: ")]
    assert len(entries) == 1, f"expected one summary line for {host}: {summary}"
    return entries[0]


def current_generation(host: str) -> str:
    return fleet.exec_in(host, ["readlink", f"{TLS_DIR}/current"]).stdout.strip()


def current_generations(hosts: list[str]) -> dict[str, str]:
    return {host: current_generation(host) for host in hosts}


def certificate_files(host: str) -> list[str]:
    """List every file, link and directory under the certificate directory, with its type."""
    listing = fleet.exec_in(host, ["find", TLS_DIR, "-printf", "%y %p\\n"]).stdout
    return sorted(listing.splitlines())


def container_address(host: str, network: str) -> str:
    networks = json.loads(fleet.run_podman(["inspect", host, "--format", "{{json .NetworkSettings.Networks}}"]).stdout)
    return networks[network]["IPAddress"]


def served_serial(rotation_fleet: RotationFleet, host: str) -> str:
    """Make one mTLS request to the host's nginx, assert HTTP 200 and return the serial it presents."""
    context = rotation_client.client_context(rotation_fleet.client)
    response = rotation_client.request_once(context, rotation_fleet.addresses[host], host)
    assert response.status == 200, f"{host} answered HTTP {response.status} to a client with a fleet certificate"
    return response.serial


def served_serials(rotation_fleet: RotationFleet, hosts: list[str]) -> dict[str, str]:
    return {host: served_serial(rotation_fleet, host) for host in hosts}


def public_key_fingerprint(pem: str) -> str:
    """Return the SHA-256 of the DER SubjectPublicKeyInfo in a PUBLIC KEY or CERTIFICATE PEM."""
    data = pem.encode("ascii")
    if b"CERTIFICATE" in data:
        public_key = x509.load_pem_x509_certificate(data).public_key()
    else:
        public_key = serialization.load_pem_public_key(data)
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def installed_not_before(host: str) -> datetime.datetime:
    pem = fleet.exec_in(host, ["cat", f"{TLS_DIR}/cert.pem"]).stdout
    return x509.load_pem_x509_certificate(pem.encode("ascii")).not_valid_before_utc


def write_inventory(running: fleet.Fleet, tmpfs_host: str) -> Path:
    """Write an inventory with the group fleet, the tmpfs host in a group of its own, and both in rotation_site."""
    inventory = running.directory / "rotation-inventory.ini"
    inventory.write_text(
        "[fleet]\n" + "\n".join(running.hosts) + "\n\n"
        # Two hours for the tmpfs host, whose first certificate must outlast the tests before its own.
        f"[rotation_tmpfs]\n{tmpfs_host} certfleet_certificate_validity=2h\n\n"
        "[rotation_site:children]\nfleet\nrotation_tmpfs\n\n"
        "[rotation_site:vars]\n"
        "ansible_connection=containers.podman.podman\n"
        "ansible_python_interpreter=/usr/bin/python3\n"
    )
    return inventory


def start_tmpfs_host(running: fleet.Fleet) -> str:
    """Start one more host on the fleet's network with a 512 KiB tmpfs for its certificates, and return its name."""
    host = f"{running.id}-tmpfs"
    fleet.run_podman([
        "run", "--detach", "--name", host, "--hostname", host, "--systemd=always",
        "--network", running.network, "--network-alias", host,
        "--label", f"{fleet.FLEET_LABEL}={running.id}",
        "--tmpfs", f"{TMPFS_MOUNT}:size=512k",
        fleet.IMAGE,
    ])
    fleet.wait_for_boot([host], fleet.BOOT_TIMEOUT_SECONDS)
    return host


@pytest.fixture(scope="module")
def rotation_fleet():
    """Start the fleet and the tmpfs host, run site.yml once on all four, and yield them."""
    running = fleet.start_fleet(3)
    try:
        tmpfs_host = start_tmpfs_host(running)
        passphrase = secrets.token_urlsafe(18)
        group_vars = running.directory / "group_vars"
        group_vars.mkdir(mode=0o700)
        # backdate 0s makes notBefore the issuing time, so certificate ages are exact.
        (group_vars / "all.yml").write_text(
            f"certfleet_ca_dir: {running.directory / 'ca'}\n"
            f"certfleet_ca_passphrase: {passphrase}\n"
            f"certfleet_certificate_validity: {VALIDITY.seconds // 60}m\n"
            "certfleet_ca_backdate: 0s\n"
        )
        inventory = write_inventory(running, tmpfs_host)

        site = run_playbook(inventory, "certfleet.mtls.site", "-e", "certfleet_fleet_group=rotation_site")
        assert site.returncode == 0, describe(site)

        all_hosts = [*running.hosts, tmpfs_host]
        yield RotationFleet(
            running=running,
            inventory=inventory,
            passphrase=passphrase,
            tmpfs_host=tmpfs_host,
            addresses={host: container_address(host, running.network) for host in all_hosts},
            client=rotation_client.issue_client_certificate(running.directory / "ca", passphrase, running.directory),
        )
    finally:
        fleet.stop_fleet(running.id)


def test_rotation_under_load_drops_no_request(rotation_fleet):
    hosts = rotation_fleet.hosts
    before = served_serials(rotation_fleet, hosts)
    generations_before = current_generations(hosts)
    context = rotation_client.client_context(rotation_fleet.client)
    fleet_addresses = {host: rotation_fleet.addresses[host] for host in hosts}

    with rotation_client.LoadClient(context, fleet_addresses) as load:
        completed = rotate(rotation_fleet.inventory, *FORCE)

    assert completed.returncode == 0, describe(completed)
    summary = summary_lines(completed)
    assert summary[-1] == "3 rotated, 0 issued, 0 skipped, 0 failed, 0 not attempted, 0 would rotate"
    after = served_serials(rotation_fleet, hosts)
    for host in hosts:
        host_load = load.loads[host]
        assert host_load.failures == [], (
            f"{host}: {len(host_load.failures)} of {host_load.requests} requests failed, "
            f"the first ones: {host_load.failures[:5]}"
        )
        assert host_load.requests >= 300, f"{host}: only {host_load.requests} requests during the rotation"
        assert after[host] != before[host]
        assert host_entry(summary, host).startswith(f"{host}: rotated {before[host]} -> {after[host]}, valid until ")
        assert host_load.serials[0] == before[host]
        assert host_load.serials[-1] == after[host]
        assert current_generation(host) != generations_before[host]


def test_rotation_second_run_changes_nothing(rotation_fleet):
    hosts = rotation_fleet.hosts
    before = served_serials(rotation_fleet, hosts)
    generations_before = current_generations(hosts)

    completed = rotate(rotation_fleet.inventory)

    assert completed.returncode == 0, describe(completed)
    assert summary_lines(completed)[-1] == "0 rotated, 0 issued, 3 skipped, 0 failed, 0 not attempted, 0 would rotate"
    counters = recap(completed.stdout)
    for host in hosts:
        assert counters[host]["changed"] == 0, f"{host} changed on a run where nothing was due"
    assert current_generations(hosts) == generations_before
    assert served_serials(rotation_fleet, hosts) == before


def test_check_mode_predicts_without_changes(rotation_fleet):
    hosts = rotation_fleet.hosts
    before = served_serials(rotation_fleet, hosts)
    generations_before = current_generations(hosts)
    files_before = {host: certificate_files(host) for host in hosts}

    completed = rotate(rotation_fleet.inventory, "--check", *FORCE)

    assert completed.returncode == 0, describe(completed)
    summary = summary_lines(completed)
    assert summary[-1] == "0 rotated, 0 issued, 0 skipped, 0 failed, 0 not attempted, 3 would rotate"
    for host in hosts:
        assert host_entry(summary, host) == f"{host}: would rotate {before[host]}: renewal was forced"
    # In check mode, "changed" in the recap is the change a real run would make.
    counters = recap(completed.stdout)
    for host in hosts:
        assert counters[host]["changed"] >= 1, f"check mode predicted no change on {host}"
    assert current_generations(hosts) == generations_before
    assert served_serials(rotation_fleet, hosts) == before
    for host in hosts:
        assert certificate_files(host) == files_before[host], f"check mode changed files on {host}"


def test_rejected_nginx_config_rolls_back(rotation_fleet):
    hosts = rotation_fleet.hosts
    # The canary is the first due host in inventory order, so the last host fails in
    # the batch after it, and the other hosts still rotate.
    broken_host = hosts[-1]
    before = served_serials(rotation_fleet, hosts)
    generations_before = current_generations(hosts)

    fleet.exec_in(broken_host, ["sh", "-c", "echo 'not_an_nginx_directive on;' > /etc/nginx/conf.d/broken.conf"])
    try:
        completed = rotate(rotation_fleet.inventory, *FORCE)
    finally:
        fleet.exec_in(broken_host, ["rm", "-f", "/etc/nginx/conf.d/broken.conf"])

    assert completed.returncode == 2, describe(completed)
    summary = summary_lines(completed)
    assert summary[-1] == "2 rotated, 0 issued, 0 skipped, 1 failed, 0 not attempted, 0 would rotate"
    assert len(summary) == len(hosts) + 1, "a host's summary spans more than one line"
    entry = host_entry(summary, broken_host)
    assert entry.startswith(f"{broken_host}: failed {before[broken_host]} -> ")
    assert "failed at 'Test the configuration, nginx'" in entry
    assert 'unknown directive "not_an_nginx_directive"' in entry
    assert entry.endswith(f"Rolled back to serial {before[broken_host]}.")
    assert current_generation(broken_host) == generations_before[broken_host]
    assert served_serial(rotation_fleet, broken_host) == before[broken_host]
    for host in hosts[:-1]:
        assert served_serial(rotation_fleet, host) != before[host]


def test_interrupted_rotation_resumes_with_staged_key(rotation_fleet):
    hosts = rotation_fleet.hosts
    host = hosts[1]
    before = served_serials(rotation_fleet, hosts)
    generation_before = current_generation(host)

    # renewal_check with force stages a key and returns a CSR. A rotation killed after
    # that step and before the swap leaves the same state.
    stage_playbook = rotation_fleet.directory / "rotation-stage-key.yml"
    stage_playbook.write_text(
        "- name: Stage a key as an interrupted rotation leaves it\n"
        f"  hosts: {host}\n"
        "  gather_facts: false\n"
        "  tasks:\n"
        "    - name: Check with force, which stages a new key\n"
        "      certfleet.mtls.renewal_check:\n"
        f"        directory: {TLS_DIR}\n"
        "        name: '{{ inventory_hostname }}'\n"
        "        common_name: '{{ inventory_hostname }}'\n"
        "        force: true\n"
    )
    staged = run_playbook(rotation_fleet.inventory, str(stage_playbook))
    assert staged.returncode == 0, describe(staged)
    staged_public_key = fleet.exec_in(host, ["openssl", "pkey", "-in", f"{TLS_DIR}/staged/key.pem", "-pubout"]).stdout
    # A generation written halfway and a link made but not yet renamed over current.
    fleet.exec_in(host, ["sh", "-c", (
        f"cd {TLS_DIR} && mkdir generations/.tmp-20260101T000000Z-0123456789ab"
        " && echo partial > generations/.tmp-20260101T000000Z-0123456789ab/cert.pem"
        " && ln -s generations/.tmp-20260101T000000Z-0123456789ab .tmp-current"
    )])

    completed = rotate(rotation_fleet.inventory, *FORCE)

    assert completed.returncode == 0, describe(completed)
    assert summary_lines(completed)[-1] == "3 rotated, 0 issued, 0 skipped, 0 failed, 0 not attempted, 0 would rotate"
    leftovers = fleet.exec_in(host, ["find", TLS_DIR, "-name", ".tmp-*"]).stdout
    assert leftovers == ""
    assert fleet.exec_in(host, ["ls", "-A", f"{TLS_DIR}/staged"]).stdout == ""
    assert current_generation(host) != generation_before
    installed_certificate = fleet.exec_in(host, ["cat", f"{TLS_DIR}/cert.pem"]).stdout
    assert public_key_fingerprint(installed_certificate) == public_key_fingerprint(staged_public_key)
    assert served_serials(rotation_fleet, hosts) != before


def test_unreachable_ca_host_keeps_certificates(rotation_fleet):
    hosts = rotation_fleet.hosts
    missing_ca = f"{rotation_fleet.running.id}-missing-ca"
    # A copy of the inventory next to the original, so it reads the same group_vars.
    inventory = rotation_fleet.directory / "rotation-inventory-missing-ca.ini"
    inventory.write_text(
        rotation_fleet.inventory.read_text()
        + f"\n[rotation_missing_ca]\n{missing_ca} ansible_connection=containers.podman.podman\n"
    )
    before = served_serials(rotation_fleet, hosts)
    generations_before = current_generations(hosts)

    completed = rotate(inventory, *FORCE, "-e", f"certfleet_ca_host={missing_ca}")

    # ansible-playbook exits 4, not 2, when a host was unreachable, here the CA host
    # that signing was delegated to. The summary play still runs and fails.
    assert completed.returncode == 4, describe(completed)
    assert f"Container '{missing_ca}' not found" in completed.stdout
    summary = summary_lines(completed)
    assert summary[-1] == "0 rotated, 0 issued, 0 skipped, 1 failed, 2 not attempted, 0 would rotate"
    canary_entry = host_entry(summary, hosts[0])
    assert canary_entry.startswith(f"{hosts[0]}: failed {before[hosts[0]]} -> -, valid until ")
    assert f"this host or the CA host {missing_ca} became unreachable" in canary_entry
    for host in hosts[1:]:
        assert host_entry(summary, host) == f"{host}: not attempted (due: renewal was forced)"
    assert current_generations(hosts) == generations_before
    assert served_serials(rotation_fleet, hosts) == before


def test_wrong_ca_passphrase_keeps_certificates(rotation_fleet):
    hosts = rotation_fleet.hosts
    before = served_serials(rotation_fleet, hosts)
    generations_before = current_generations(hosts)

    # Not the bare word "wrong", because Ansible masks every value of a no_log option in
    # its output, and the expected error message contains "the passphrase is wrong".
    completed = rotate(rotation_fleet.inventory, *FORCE, "-e", "certfleet_ca_passphrase=not-the-ca-passphrase")

    assert completed.returncode == 2, describe(completed)
    summary = summary_lines(completed)
    assert summary[-1] == "0 rotated, 0 issued, 0 skipped, 1 failed, 2 not attempted, 0 would rotate"
    canary_entry = host_entry(summary, hosts[0])
    assert canary_entry.startswith(f"{hosts[0]}: failed {before[hosts[0]]} -> -, valid until ")
    assert "root.key could not be decrypted: the passphrase is wrong" in canary_entry
    for host in hosts[1:]:
        assert host_entry(summary, host) == f"{host}: not attempted (due: renewal was forced)"
    assert current_generations(hosts) == generations_before
    assert served_serials(rotation_fleet, hosts) == before
    assert rotation_fleet.passphrase not in completed.stdout + completed.stderr


def test_full_disk_keeps_previous_generation(rotation_fleet):
    host = rotation_fleet.tmpfs_host
    tmpfs_group = ("-e", "certfleet_fleet_group=rotation_tmpfs")
    before = served_serial(rotation_fleet, host)
    generation_before = current_generation(host)

    available_kib = int(fleet.exec_in(host, ["df", "--output=avail", "-k", TMPFS_MOUNT]).stdout.split()[-1])
    fleet.exec_in(host, [
        "dd", "if=/dev/zero", f"of={TMPFS_MOUNT}/filler", "bs=1k", f"count={available_kib - TMPFS_FREE_KIB}", "status=none",
    ])
    try:
        failed = rotate(rotation_fleet.inventory, *tmpfs_group, *FORCE)
    finally:
        fleet.exec_in(host, ["rm", "-f", f"{TMPFS_MOUNT}/filler"])

    assert failed.returncode == 2, describe(failed)
    summary = summary_lines(failed)
    assert summary[-1] == "0 rotated, 0 issued, 0 skipped, 1 failed, 0 not attempted, 0 would rotate"
    entry = host_entry(summary, host)
    assert entry.startswith(f"{host}: failed {before} -> ")
    assert f"writing the new generation in '{TLS_DIR}/generations' failed" in entry
    assert "No space left on device" in entry
    assert current_generation(host) == generation_before
    assert fleet.exec_in(host, ["find", f"{TLS_DIR}/generations", "-name", ".tmp-*"]).stdout == ""
    assert served_serial(rotation_fleet, host) == before

    completed = rotate(rotation_fleet.inventory, *tmpfs_group, *FORCE)

    assert completed.returncode == 0, describe(completed)
    assert summary_lines(completed)[-1] == "1 rotated, 0 issued, 0 skipped, 0 failed, 0 not attempted, 0 would rotate"
    assert current_generation(host) != generation_before
    assert served_serial(rotation_fleet, host) != before


def test_renewal_threshold_rotates_due_certificates(rotation_fleet):
    hosts = rotation_fleet.hosts
    # renew_before 9m on a 10m certificate puts its renewal time 1m after notBefore,
    # the earliest the renewal rule allows (a tenth of the lifetime), jitter included.
    renew_before = ("-e", "certfleet_certificate_renew_before=9m")
    # New certificates live 20m, so the same threshold makes them due 11m after
    # notBefore, or up to 1m earlier with jitter.
    longer_validity = ("-e", "certfleet_certificate_validity=20m")
    due_at = max(installed_not_before(host) for host in hosts) + VALIDITY / 10 + datetime.timedelta(seconds=5)
    wait = (due_at - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
    if wait > 0:
        time.sleep(wait)
    before = served_serials(rotation_fleet, hosts)

    completed = rotate(rotation_fleet.inventory, "-v", *renew_before, *longer_validity)

    assert completed.returncode == 0, describe(completed)
    assert summary_lines(completed)[-1] == "3 rotated, 0 issued, 0 skipped, 0 failed, 0 not attempted, 0 would rotate"
    for host in hosts:
        check_line = re.search(rf"^ok: \[{re.escape(host)}\] => .*\"renewal_reasons\": \[([^]]*)\]", completed.stdout, re.MULTILINE)
        assert check_line is not None, f"no check result for {host}\n{describe(completed)}"
        assert "the certificate is due for renewal since" in check_line.group(1)
        assert "renew_before 9m" in check_line.group(1)
    after = served_serials(rotation_fleet, hosts)
    for host in hosts:
        assert after[host] != before[host]

    again = rotate(rotation_fleet.inventory, *renew_before, *longer_validity)

    assert again.returncode == 0, describe(again)
    assert summary_lines(again)[-1] == "0 rotated, 0 issued, 3 skipped, 0 failed, 0 not attempted, 0 would rotate"
    counters = recap(again.stdout)
    for host in hosts:
        assert counters[host]["changed"] == 0, f"{host} changed although its new certificate is not due"
    assert served_serials(rotation_fleet, hosts) == after
