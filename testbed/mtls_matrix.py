"""Check mutual TLS across a running fleet, from inside the hosts, with curl.

Every host calls every other host's nginx three ways: with its own client
certificate (expected status 200), without a client certificate (nginx returns 400),
and with a certificate from a different CA (nginx returns 400). The server
certificate is verified against the fleet bundle and the host name each time.

    python3 testbed/mtls_matrix.py FLEET_ID
"""

from __future__ import annotations

import argparse
import datetime
import sys
import tempfile
from pathlib import Path
from typing import NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fleet  # noqa: E402  (the sibling module of the test bed)

TLS_DIR = "/etc/certfleet/tls/host"
FOREIGN_DIR = "/tmp/certfleet-foreign-ca"
EXPECTED = {"fleet certificate": "200", "no certificate": "400", "foreign CA certificate": "400"}


class Call(NamedTuple):
    """One HTTPS request from a client host to a server host, and the status it got."""

    client: str
    server: str
    kind: str
    status: str


def curl_status(client: str, server: str, client_files: list[str]) -> str:
    """Return the HTTP status a request from ``client`` to ``server`` gets, or curl's error."""
    argv = [
        "curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10",
        "--cacert", f"{TLS_DIR}/ca.pem", *client_files, f"https://{server}/",
    ]
    completed = fleet.exec_in(client, argv, check=False)
    if completed.returncode != 0:
        return f"curl exit {completed.returncode}: {completed.stderr.strip()}"
    return completed.stdout.strip()


def install_foreign_certificate(host: str) -> None:
    """Put a client certificate from a throwaway CA, unknown to the fleet, on ``host``."""
    files = foreign_client_files(host)
    fleet.exec_in(host, ["mkdir", "-p", "-m", "0700", FOREIGN_DIR])
    with tempfile.TemporaryDirectory() as directory:
        for name, data in files.items():
            path = Path(directory) / name
            path.write_bytes(data)
            fleet.run_podman(["cp", str(path), f"{host}:{FOREIGN_DIR}/{name}"])


def foreign_client_files(host: str) -> dict[str, bytes]:
    """Make a CA and a clientAuth certificate for ``host`` that the fleet does not trust."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "foreign test CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    return {
        "cert.pem": certificate.public_bytes(pem) + ca.public_bytes(pem),
        "key.pem": key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    }


def run_matrix(hosts: list[str]) -> list[Call]:
    """Make every call of the matrix and return them all."""
    for host in hosts:
        install_foreign_certificate(host)
    variants = {
        "fleet certificate": ["--cert", f"{TLS_DIR}/fullchain.pem", "--key", f"{TLS_DIR}/key.pem"],
        "no certificate": [],
        "foreign CA certificate": ["--cert", f"{FOREIGN_DIR}/cert.pem", "--key", f"{FOREIGN_DIR}/key.pem"],
    }
    calls = []
    for client in hosts:
        for server in hosts:
            if client == server:
                continue
            for kind, files in variants.items():
                calls.append(Call(client, server, kind, curl_status(client, server, files)))
    return calls


def failed_calls(calls: list[Call]) -> list[Call]:
    """Return the calls whose status differs from the expected one."""
    return [call for call in calls if call.status != EXPECTED[call.kind]]


def format_matrix(hosts: list[str], calls: list[Call]) -> str:
    """Lay the calls out as one table per kind, clients in rows and servers in columns."""
    width = max(len(host) for host in hosts) + 2
    lines = []
    for kind, expected in EXPECTED.items():
        lines.append(f"\nclient -> server, {kind} (expected {expected}):")
        lines.append(" " * width + "".join(server.ljust(width) for server in hosts))
        for client in hosts:
            row = client.ljust(width)
            for server in hosts:
                status = next((call.status for call in calls if (call.client, call.server, call.kind) == (client, server, kind)), "-")
                row += (status if len(status) <= 3 else "ERR").ljust(width)
            lines.append(row)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("fleet_id", help="fleet id printed by 'fleet.py up'")
    arguments = parser.parse_args(argv)
    hosts = sorted(container["Names"][0] for container in fleet.labelled_containers(arguments.fleet_id))
    if not hosts:
        print(f"error: no running hosts for fleet {arguments.fleet_id}", file=sys.stderr)
        return 2
    calls = run_matrix(hosts)
    print(format_matrix(hosts, calls))
    failures = failed_calls(calls)
    for call in failures:
        print(f"FAILED: {call.client} -> {call.server} with {call.kind}: got {call.status}, expected {EXPECTED[call.kind]}")
    print(f"\n{len(calls) - len(failures)} of {len(calls)} calls gave the expected status")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
