"""The main job end to end: site.yml on three podman hosts, then mTLS between them."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from collection_path import ROOT

sys.path.insert(0, str(ROOT / "testbed"))

import fleet  # noqa: E402
import mtls_matrix  # noqa: E402

pytestmark = pytest.mark.fleet

TLS_DIR = "/etc/certfleet/tls/host"
VENV_BIN = Path(sys.executable).parent
RECAP_LINE = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.MULTILINE)


def run_site(inventory: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """Run certfleet.mtls.site against the fleet and return the finished process."""
    return subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), "certfleet.mtls.site", *extra],
        check=False, capture_output=True, text=True, cwd=ROOT, env=dict(os.environ), timeout=900,
    )


def recap(output: str) -> dict[str, dict[str, int]]:
    """Parse the PLAY RECAP lines into counters per host."""
    return {
        host: {"ok": int(ok), "changed": int(changed), "unreachable": int(unreachable), "failed": int(failed)}
        for host, ok, changed, unreachable, failed in RECAP_LINE.findall(output)
    }


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """Start three hosts, run site.yml once, and yield the fleet with the passphrase and first output."""
    running = fleet.start_fleet(3)
    try:
        passphrase = secrets.token_urlsafe(18)
        group_vars = running.directory / "group_vars"
        group_vars.mkdir(mode=0o700)
        (group_vars / "all.yml").write_text(
            f"certfleet_ca_dir: {running.directory / 'ca'}\ncertfleet_ca_passphrase: {passphrase}\n"
        )
        first = run_site(running.inventory)
        yield running, passphrase, first
    finally:
        fleet.stop_fleet(running.id)


def test_site_first_run_succeeds(site):
    running, _passphrase, first = site
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
    counters = recap(first.stdout)
    for host in running.hosts:
        assert counters[host]["failed"] == 0
        assert counters[host]["changed"] > 0


def test_mtls_matrix_between_all_hosts(site):
    running, _passphrase, first = site
    assert first.returncode == 0
    calls = mtls_matrix.run_matrix(running.hosts)
    assert len(calls) == 3 * 2 * 3
    failures = mtls_matrix.failed_calls(calls)
    assert failures == [], mtls_matrix.format_matrix(running.hosts, calls)


def test_chain_passes_strict_verifiers(site):
    running, _passphrase, _first = site
    go = shutil.which("go")
    for host in running.hosts:
        for purpose in ("sslclient", "sslserver"):
            completed = fleet.exec_in(host, [
                "openssl", "verify", "-x509_strict", "-purpose", purpose,
                "-CAfile", f"{TLS_DIR}/ca.pem", "-untrusted", f"{TLS_DIR}/chain.pem", f"{TLS_DIR}/cert.pem",
            ], check=False)
            assert completed.returncode == 0, completed.stdout + completed.stderr
        if go is None:
            pytest.fail("go is missing; testbed/install-host-packages.sh installs golang-go")
        local = running.directory / f"verify-{host}"
        local.mkdir(exist_ok=True)
        for name in ("ca.pem", "chain.pem", "cert.pem"):
            (local / name).write_text(fleet.exec_in(host, ["cat", f"{TLS_DIR}/{name}"]).stdout)
        completed = subprocess.run(
            [go, "run", str(ROOT / "tests" / "verifiers" / "x509verify.go"),
             str(local / "ca.pem"), str(local / "chain.pem"), str(local / "cert.pem"), host],
            check=False, capture_output=True, text=True, env={**os.environ, "GOCACHE": str(running.directory / "gocache")},
            timeout=300,
        )
        assert completed.stdout.strip() == "ok", completed.stdout + completed.stderr


def test_key_files_are_private(site):
    running, _passphrase, _first = site
    for host in running.hosts:
        modes = fleet.exec_in(host, ["stat", "-L", "-c", "%a %U", TLS_DIR, f"{TLS_DIR}/key.pem", f"{TLS_DIR}/current"]).stdout.split("\n")
        assert modes[0] == "700 root"
        assert modes[1] == "600 root"
        assert modes[2] == "700 root"
    ca_dir = running.directory / "ca"
    assert oct(ca_dir.stat().st_mode & 0o777) == "0o700"
    for name in ("root.key", "intermediate.key"):
        key = ca_dir / name
        assert oct(key.stat().st_mode & 0o777) == "0o600"
        assert key.read_text().startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")


def test_verbose_rerun_no_change_no_secret(site):
    running, passphrase, _first = site
    second = run_site(running.inventory, "-vvv")
    output = second.stdout + second.stderr
    assert second.returncode == 0, output[-4000:]
    counters = recap(second.stdout)
    for host in running.hosts + ["localhost"]:
        assert counters[host]["changed"] == 0, f"{host} changed on the second run"
    assert "PRIVATE KEY" not in output
    assert passphrase not in output
