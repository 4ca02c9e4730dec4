"""renewal_check, certificate_generation and tls_probe through Ansible, in a certificate directory with generations.

Each test signs with a copy of the shared CA. The tls_probe tests start a TLS server on
127.0.0.1 in this process and stop it before they end.
"""

from __future__ import annotations

import datetime
import json
import os
import socket
import ssl
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from integration.conftest import HOST_NAMES, PASSPHRASE, Pki
from integration.playbook import PlaybookRun
from integration.snapshot import snapshot

pytestmark = pytest.mark.integration

WEB1, WEB2 = HOST_NAMES
STABLE_LINKS = ("key.pem", "cert.pem", "chain.pem", "fullchain.pem", "ca.pem")


def renewal_check(name: str, directory: Path, register: str | None = None, **overrides) -> dict:
    """Return a renewal_check task for web1 in ``directory``."""
    arguments = {"directory": str(directory), "name": WEB1, "common_name": WEB1, **overrides}
    task = {"name": name, "certfleet.mtls.renewal_check": arguments}
    if register:
        task["register"] = register
    return task


def issuance(label: str, directory: Path, ca_path: Path, **check_overrides) -> list[dict]:
    """Return the tasks of one issuance: check, sign the returned request, install it as a generation.

    The task names end in ``label``, so several issuances fit in one playbook.
    """
    return [
        renewal_check(f"check {label}", directory, register=f"check_{label}", **check_overrides),
        {
            "name": f"sign {label}",
            "certfleet.mtls.sign_csr": {
                "ca_path": str(ca_path), "passphrase": PASSPHRASE, "requests": [f"{{{{ check_{label}.request }}}}"],
            },
            "register": f"signed_{label}",
        },
        install_task(
            directory,
            f"{{{{ signed_{label}.certificates[0].certificate }}}}",
            f"{{{{ signed_{label}.chain }}}}",
            f"{{{{ signed_{label}.ca_bundle }}}}",
            name=f"install {label}",
        ),
    ]


def install_task(directory: Path, certificate: str, chain: str, bundle: str, name: str = "install") -> dict:
    """Return a certificate_generation task that installs web1's certificate with every check enabled."""
    return {
        "name": name,
        "certfleet.mtls.certificate_generation": {
            "directory": str(directory),
            "certificate": certificate,
            "chain": chain,
            "ca_bundle": bundle,
            "common_name": WEB1,
            "profile": "server_client",
            "requested_validity": "30d",
        },
    }


def rollback_task(directory: Path) -> dict:
    return {"name": "rollback", "certfleet.mtls.certificate_generation": {"directory": str(directory), "state": "rollback"}}


def links(directory: Path) -> dict[str, str]:
    """Map the path (relative to ``directory``) of every symbolic link below it to its target."""
    return {str(path.relative_to(directory)): os.readlink(path) for path in sorted(directory.rglob("*")) if path.is_symlink()}


def directory_state(directory: Path) -> tuple[dict, dict]:
    return snapshot(directory), links(directory)


def read_mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def public_key_bytes(key_or_request) -> bytes:
    return key_or_request.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo,
    )


def load_key(path: Path):
    return serialization.load_pem_private_key(path.read_bytes(), password=None)


def task_seconds(run: PlaybookRun, task_name: str) -> float:
    """Return how long ``task_name`` ran, from the start and end times the JSON callback records."""
    for line in reversed(run.stdout.splitlines()):
        if line.startswith("{") and '"plays"' in line:
            for play in json.loads(line)["plays"]:
                for task in play["tasks"]:
                    if task["task"]["name"] == task_name:
                        duration = task["task"]["duration"]
                        start = datetime.datetime.fromisoformat(duration["start"].rstrip("Z"))
                        end = datetime.datetime.fromisoformat(duration["end"].rstrip("Z"))
                        return (end - start).total_seconds()
    raise AssertionError(f"no duration for task {task_name!r} in the playbook output")


# renewal_check


def test_renewal_check_check_apply_again(play, work: Path) -> None:
    directory = work / "tls"
    tasks = [renewal_check("check", directory)]

    checked = play(tasks, check=True).ok("check")
    assert checked["needs_renewal"] is True
    assert checked["renewal_reasons"] == ["no certificate is installed"]
    assert "request" not in checked
    assert checked["repairs"] == []
    assert not directory.exists()

    applied = play(tasks).ok("check")
    assert applied["changed"] is True
    assert applied["needs_renewal"] is True
    assert applied["renewal_reasons"] == ["no certificate is installed"]
    assert applied["staged_key"] is True
    assert sorted(applied["request"]) == ["csr", "name", "profile", "validity"]
    assert applied["request"]["name"] == WEB1
    assert applied["request"]["profile"] == "server_client"
    assert applied["request"]["validity"] == "30d"
    for path in (directory, directory / "generations", directory / "staged"):
        assert read_mode(path) == 0o700, path
    staged = directory / "staged" / "key.pem"
    assert read_mode(staged) == 0o600
    csr = x509.load_pem_x509_csr(applied["request"]["csr"].encode("ascii"))
    assert csr.subject.rfc4514_string() == f"CN={WEB1}"
    assert public_key_bytes(csr) == public_key_bytes(load_key(staged))
    written = directory_state(work)

    again = play(tasks).ok("check")
    assert again["changed"] is False
    assert again["needs_renewal"] is True
    # The staged key is reused, so the new CSR is for the same key.
    again_csr = x509.load_pem_x509_csr(again["request"]["csr"].encode("ascii"))
    assert public_key_bytes(again_csr) == public_key_bytes(csr)
    assert directory_state(work) == written


# certificate_generation


def test_certificate_generation_check_apply_again(play, work: Path, work_ca: Path) -> None:
    directory = work / "tls"
    prepared = play(issuance("first", directory, work_ca)[:2])
    staged_bytes = (directory / "staged" / "key.pem").read_bytes()
    signed = prepared.ok("sign first")
    issued = signed["certificates"][0]
    tasks = [install_task(directory, issued["certificate"], signed["chain"], signed["ca_bundle"])]
    before = directory_state(work)

    checked = play(tasks, check=True).ok("install")
    assert checked["changed"] is True
    assert checked["serial"] == issued["serial"]
    assert "previous_serial" not in checked
    assert directory_state(work) == before

    applied = play(tasks).ok("install")
    assert applied["changed"] is True
    assert applied["serial"] == issued["serial"]
    assert applied["not_after"] == issued["not_after"]
    assert "previous_serial" not in applied
    generation = directory / "generations" / applied["generation"]
    assert os.readlink(directory / "current") == f"generations/{applied['generation']}"
    assert not (directory / "previous").is_symlink()
    for name in STABLE_LINKS:
        assert os.readlink(directory / name) == f"current/{name}", name
    assert (directory / "key.pem").read_bytes() == staged_bytes
    assert not (directory / "staged" / "key.pem").exists()
    assert (directory / "cert.pem").read_text() == issued["certificate"]
    assert (directory / "chain.pem").read_text() == signed["chain"]
    assert (directory / "fullchain.pem").read_text() == issued["certificate"] + signed["chain"]
    assert (directory / "ca.pem").read_text() == signed["ca_bundle"]
    assert read_mode(generation / "key.pem") == 0o600
    assert read_mode(generation / "cert.pem") == 0o644
    metadata = json.loads((generation / "meta.json").read_text())
    assert metadata["serial"] == issued["serial"]
    assert metadata["requested_validity"] == "30d"
    written = directory_state(work)

    again = play(tasks).ok("install")
    assert again["changed"] is False
    assert again["serial"] == issued["serial"]
    assert again["generation"] == applied["generation"]
    assert directory_state(work) == written

    # The installed certificate is not due, and its 5-minute backdate is no reason to warn.
    # A threshold longer than the lifetime shows that warnings reach the results.
    checked_runs = play([renewal_check("check", directory), renewal_check("too long", directory, renew_before="40d")])
    checked_after = checked_runs.ok("check")
    assert len(checked_runs.ok("too long")["warnings"]) == 1
    assert checked_after["changed"] is False
    assert checked_after["needs_renewal"] is False
    assert checked_after["renewal_reasons"] == []
    assert checked_after["serial"] == issued["serial"]
    assert "request" not in checked_after
    assert checked_after.get("warnings", []) == []


def test_rotation_sets_previous_then_rollback(play, work: Path, work_ca: Path) -> None:
    directory = work / "tls"
    run = play(issuance("first", directory, work_ca) + issuance("second", directory, work_ca, force=True))
    first, second = run.ok("install first"), run.ok("install second")
    assert run.ok("check second")["renewal_reasons"] == ["renewal was forced"]

    assert second["changed"] is True
    assert second["previous_serial"] == first["serial"]
    assert second["serial"] != first["serial"]
    first_key = load_key(directory / "generations" / first["generation"] / "key.pem")
    second_key = load_key(directory / "key.pem")
    assert public_key_bytes(second_key) != public_key_bytes(first_key)
    assert os.readlink(directory / "current") == f"generations/{second['generation']}"
    assert os.readlink(directory / "previous") == f"generations/{first['generation']}"
    rotated = directory_state(work)

    checked = play([rollback_task(directory)], check=True).ok("rollback")
    assert checked["changed"] is True
    assert checked["serial"] == first["serial"]
    assert checked["previous_serial"] == second["serial"]
    assert directory_state(work) == rotated

    rolled_back = play([rollback_task(directory)]).ok("rollback")
    assert rolled_back["changed"] is True
    assert rolled_back["serial"] == first["serial"]
    assert rolled_back["previous_serial"] == second["serial"]
    assert rolled_back["generation"] == first["generation"]
    assert os.readlink(directory / "current") == f"generations/{first['generation']}"
    assert not (directory / "previous").is_symlink()
    assert public_key_bytes(load_key(directory / "key.pem")) == public_key_bytes(first_key)
    # The generation rolled back from stays on disk for inspection.
    assert (directory / "generations" / second["generation"] / "cert.pem").is_file()

    again = play([rollback_task(directory)]).result("rollback")
    assert again.get("failed") is True
    assert again["msg"] == f"{str(directory)!r} has no previous generation to roll back to"


def test_unrelated_certificate_rejected(play, work: Path, work_ca: Path, pki: Pki) -> None:
    directory = work / "tls"
    # One certificate installed and a new key staged, so both candidate keys exist.
    play(issuance("first", directory, work_ca) + [renewal_check("stage", directory, force=True)]).ok("stage")
    assert (directory / "staged" / "key.pem").is_file()
    before = directory_state(work)
    unrelated = pki.hosts[WEB2]
    tasks = [install_task(directory, unrelated.certificate, pki.chain, pki.bundle)]

    for check_mode in (True, False):
        result = play(tasks, check=check_mode).result("install")

        assert result.get("failed") is True, check_mode
        assert result["msg"] == (
            f"certificate (serial {unrelated.serial}) matches neither the staged key nor the key in use in "
            f"{str(directory)!r}; sign the CSR that certfleet.mtls.renewal_check returned for this host"
        )
        assert directory_state(work) == before


def test_renewal_check_repairs_interrupted_run(play, installed) -> None:
    directory, install = installed
    # What a run killed while writing a generation and switching a link leaves behind.
    half_written = directory / "generations" / ".tmp-20300101T000000Z-0123"
    half_written.mkdir(mode=0o700)
    (half_written / "key.pem").write_bytes(b"partial\n")
    (directory / ".tmp-current").symlink_to(f"generations/{install['generation']}")
    (directory / "cert.pem").unlink()
    tasks = [renewal_check("check", directory)]
    leftovers = directory_state(directory)

    checked = play(tasks, check=True).ok("check")
    assert checked["repairs"] == []
    assert directory_state(directory) == leftovers

    repaired = play(tasks).ok("check")
    assert repaired["changed"] is True
    assert repaired["repairs"] == [
        "removed the incomplete generation .tmp-20300101T000000Z-0123",
        "removed the temporary link .tmp-current",
        "restored the stable links",
    ]
    assert repaired["needs_renewal"] is False
    assert repaired["serial"] == install["serial"]
    assert not half_written.exists()
    assert not (directory / ".tmp-current").is_symlink()
    assert os.readlink(directory / "cert.pem") == "current/cert.pem"


# tls_probe


class MutualTlsServer:
    """An HTTPS server on 127.0.0.1 that requires a client certificate and returns 200 OK to every request.

    It handles one connection at a time in a background thread, which is what the
    probe needs, and records the serial of each client certificate it accepted.
    """

    def __init__(self, certificate_path: Path, key_path: Path, client_ca_path: Path) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(str(certificate_path), str(key_path))
        self.context.verify_mode = ssl.CERT_REQUIRED
        self.context.load_verify_locations(cafile=str(client_ca_path))
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.client_serials: list[str] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="mtls-test-server", daemon=True)

    def __enter__(self) -> MutualTlsServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.listener.close()
        assert not self._thread.is_alive(), "the test TLS server did not stop"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                raw, _address = self.listener.accept()
            except socket.timeout:
                continue
            raw.settimeout(5)
            connection = self.context.wrap_socket(raw, server_side=True, do_handshake_on_connect=False)
            try:
                connection.do_handshake()
            except OSError as error:
                self.errors.append(str(error))
                self._drain_and_close(connection)
                continue
            with connection:
                try:
                    self._answer(connection)
                except OSError as error:
                    self.errors.append(str(error))

    @staticmethod
    def _drain_and_close(connection: ssl.SSLSocket) -> None:
        """Read what the client still sends until it closes, then close, so the close sends no TCP reset.

        A reset could reach the client before the TLS alert that gives the reason its certificate was rejected.
        """
        with socket.socket(fileno=connection.detach()) as plain:
            plain.settimeout(1)
            try:
                while plain.recv(4096):
                    pass
            except OSError:
                pass

    def _answer(self, connection: ssl.SSLSocket) -> None:
        client = x509.load_der_x509_certificate(connection.getpeercert(binary_form=True))
        self.client_serials.append(format(client.serial_number, "x"))
        request = b""
        while b"\r\n\r\n" not in request:
            data = connection.recv(4096)
            if not data:
                return
            request += data
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n")


@pytest.fixture
def installed(play, work: Path, work_ca: Path) -> tuple[Path, dict]:
    """Install a certificate for web1 in ``work/tls`` and return the directory and the install result."""
    directory = work / "tls"
    run = play(issuance("first", directory, work_ca))
    return directory, run.ok("install first")


@pytest.fixture
def web2_client(work: Path, pki: Pki) -> tuple[Path, Path]:
    """Write web2's certificate with the shared chain and return it with web2's key path."""
    fullchain = work / "web2-fullchain.pem"
    fullchain.write_text(pki.hosts[WEB2].certificate + pki.chain, encoding="ascii")
    return fullchain, pki.hosts[WEB2].key_path


def probe_task(directory: Path, port: int, client: tuple[Path, Path], **overrides) -> dict:
    arguments = {
        "port": port,
        "server_name": WEB1,
        "ca_bundle_path": str(directory / "ca.pem"),
        "client_certificate_path": str(client[0]),
        "client_key_path": str(client[1]),
        "timeout": 2,
        **overrides,
    }
    return {"name": "probe", "certfleet.mtls.tls_probe": arguments}


def test_tls_probe_expected_serial(play, installed, web2_client, pki: Pki) -> None:
    directory, install = installed
    with MutualTlsServer(directory / "fullchain.pem", directory / "key.pem", directory / "ca.pem") as server:
        result = play([probe_task(directory, server.port, web2_client, expected_serial=install["serial"])]).ok("probe")

    assert result["changed"] is False
    assert result["serial"] == install["serial"]
    assert result["status"] == 200
    assert result["tls_version"] in ("TLSv1.2", "TLSv1.3")
    assert result["attempts"] == 1
    assert server.client_serials == [pki.hosts[WEB2].serial]
    assert server.errors == []


def test_tls_probe_wrong_serial_times_out(play, installed, web2_client) -> None:
    directory, install = installed
    with MutualTlsServer(directory / "fullchain.pem", directory / "key.pem", directory / "ca.pem") as server:
        run = play([probe_task(directory, server.port, web2_client, expected_serial="0123abcd")])
    result = run.result("probe")

    assert result.get("failed") is True
    message = result["msg"]
    assert message.startswith(f"the server presents serial {install['serial']}, not the expected 0123abcd (after ")
    assert message.endswith(" attempts in 2s)")
    attempts = int(message.rsplit("(after ", 1)[1].split(" ", 1)[0])
    # One connection every half second for 2 seconds.
    assert 2 <= attempts <= 6
    assert len(server.client_serials) == attempts
    assert 2 <= task_seconds(run, "probe") < 10


def test_tls_probe_client_certificate_rejected(play, installed, web2_client, pki: Pki, work: Path) -> None:
    directory, _install = installed
    other_bundle = work / "other-bundle.pem"
    other_bundle.write_text(pki.other_bundle, encoding="ascii")
    # The server accepts only client certificates from the other CA, which did not issue web2's.
    with MutualTlsServer(directory / "fullchain.pem", directory / "key.pem", other_bundle) as server:
        run = play([probe_task(directory, server.port, web2_client)])
    result = run.result("probe")

    assert result.get("failed") is True
    message = result["msg"]
    assert message.startswith(f"the TLS connection to 127.0.0.1:{server.port} failed: ")
    # The alert the server sent, as OpenSSL names it, because no CA that it trusts issued the client certificate.
    assert "alert unknown ca" in message.lower()
    assert message.endswith(" attempts in 2s)")
    assert server.client_serials == []
    assert server.errors != []
    for error in server.errors:
        assert "certificate verify failed" in error
    assert task_seconds(run, "probe") < 10
