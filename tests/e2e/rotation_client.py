"""An mTLS client on the controller for the rotation tests: one-off probes and a load loop.

The client certificate comes from the fleet CA itself, signed with the collection's
own CA store and signing policy code, so nginx verifies it against the same bundle as
the hosts' own certificates.
"""

from __future__ import annotations

import datetime
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ansible_collections.certfleet.mtls.plugins.module_utils import _ca_store, _signer
from ansible_collections.certfleet.mtls.plugins.module_utils._builders import build_csr
from ansible_collections.certfleet.mtls.plugins.module_utils._names import certificate_names

CLIENT_NAME = "rotation-test-client"
CONNECT_TIMEOUT_SECONDS = 5.0


class ClientFiles(NamedTuple):
    """Paths of the client certificate (with its chain), its key and the fleet trust bundle."""

    certificate: Path
    key: Path
    bundle: Path


class Response(NamedTuple):
    """What one request returned: the HTTP status and the serial of the server certificate, in hex."""

    status: int
    serial: str


def issue_client_certificate(ca_dir: Path, passphrase: str, directory: Path) -> ClientFiles:
    """Sign a client certificate for CLIENT_NAME with the fleet CA and write it, its key and the bundle."""
    signer, _warnings = _ca_store.load_signer(str(ca_dir), passphrase)
    key = ec.generate_private_key(ec.SECP256R1())
    csr = build_csr(key, CLIENT_NAME, certificate_names(CLIENT_NAME, []), "client")
    policy = _signer.build_policy({"allowed_dns_names": [CLIENT_NAME], "max_validity": "1d", "backdate": "1m"})
    request = _signer.Request(CLIENT_NAME, csr, "client", datetime.timedelta(hours=2))
    issued, _warnings = _signer.sign_requests([request], signer, policy, datetime.datetime.now(datetime.timezone.utc))

    pem = serialization.Encoding.PEM
    files = ClientFiles(directory / "client-fullchain.pem", directory / "client-key.pem", directory / "bundle.pem")
    chain = b"".join(certificate.public_bytes(pem) for certificate in signer.chain)
    files.certificate.write_bytes(issued[0]["certificate"].encode("ascii") + chain)
    files.key.touch(mode=0o600)
    files.key.write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    files.bundle.write_bytes(b"".join(certificate.public_bytes(pem) for certificate in signer.bundle))
    return files


def client_context(files: ClientFiles) -> ssl.SSLContext:
    """Build a TLS client context that verifies servers against the fleet bundle and sends the client certificate."""
    context = ssl.create_default_context(cafile=str(files.bundle))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(files.certificate), str(files.key))
    return context


def request_once(context: ssl.SSLContext, address: str, server_name: str, port: int = 443) -> Response:
    """Open a new TLS connection, send GET / and return the status and the server's serial.

    Raises OSError (ssl.SSLError among them) when the connection or handshake fails,
    and ValueError when the response has no HTTP status line.
    """
    with socket.create_connection((address, port), timeout=CONNECT_TIMEOUT_SECONDS) as raw:
        with context.wrap_socket(raw, server_hostname=server_name) as connection:
            der = connection.getpeercert(binary_form=True)
            request = f"GET / HTTP/1.1\r\nHost: {server_name}\r\nConnection: close\r\n\r\n"
            connection.sendall(request.encode("ascii"))
            response = b""
            while b"\r\n" not in response:
                chunk = connection.recv(4096)
                if not chunk:
                    break
                response += chunk
    status_line = response.split(b"\r\n", 1)[0].decode("ascii", "replace")
    parts = status_line.split()
    if len(parts) < 2 or not parts[1].isdigit():
        raise ValueError(f"no HTTP status line in the response: {status_line!r}")
    serial = format(x509.load_der_x509_certificate(der).serial_number, "x")
    return Response(int(parts[1]), serial)


@dataclass
class HostLoad:
    """Counters of one host's load loop: requests made, failures with their errors, serials seen."""

    requests: int = 0
    failures: list[str] = field(default_factory=list)
    serials: list[str] = field(default_factory=list)


class LoadClient:
    """Background load: one thread per host sends requests, each on a new TLS connection, until stopped.

    Every response other than HTTP 200, and every connection error, counts as a
    failure and is kept with its error text and time.
    """

    def __init__(self, context: ssl.SSLContext, addresses: dict[str, str]):
        self._context = context
        self._addresses = addresses
        self._stop = threading.Event()
        self.loads = {host: HostLoad() for host in addresses}
        self._threads = [
            threading.Thread(target=self._run, args=(host,), name=f"load-{host}", daemon=True) for host in addresses
        ]

    def __enter__(self) -> LoadClient:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=2 * CONNECT_TIMEOUT_SECONDS)

    def _run(self, host: str) -> None:
        load = self.loads[host]
        started = time.monotonic()
        while not self._stop.is_set():
            try:
                response = request_once(self._context, self._addresses[host], host)
            except (OSError, ValueError) as error:
                load.failures.append(f"{time.monotonic() - started:.3f}s: {type(error).__name__}: {error}")
            else:
                if response.status != 200:
                    load.failures.append(f"{time.monotonic() - started:.3f}s: HTTP status {response.status}")
                if not load.serials or load.serials[-1] != response.serial:
                    load.serials.append(response.serial)
            load.requests += 1
