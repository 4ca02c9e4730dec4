"""Independent checks of issued certificates: ``openssl verify -x509_strict`` and a TLS handshake with Python's ssl.

Both verifiers check validity against the real clock, so these tests create the CA and
leaves at the current time. The handshake runs over in-memory BIOs, with no socket.
"""

from __future__ import annotations

import ssl
import subprocess
import sys

import pytest
from cryptography.hazmat.primitives import serialization

from ansible_collections.certfleet.mtls.plugins.module_utils._keys import serialize_private_key
from ansible_collections.certfleet.mtls.plugins.module_utils._time import utc_now

HANDSHAKE_ROUNDS = 20


@pytest.fixture
def pki(make_ca, issue, tmp_path):
    """Write a bundle, a chain and three leaves (server_client, server, client) issued at the current time."""
    current = utc_now()
    ca = make_ca("live", now=current)
    files = {"bundle": tmp_path / "bundle.pem", "chain": tmp_path / "chain.pem"}
    files["bundle"].write_bytes(b"".join(pem(certificate) for certificate in ca.signer.bundle))
    files["chain"].write_bytes(b"".join(pem(certificate) for certificate in ca.signer.chain))
    for profile in ("server_client", "server", "client"):
        leaf = issue(ca.signer, now=current, profile=profile)
        files[profile] = tmp_path / f"{profile}.pem"
        files[profile].write_bytes(pem(leaf.certificate))
        files[f"{profile}.fullchain"] = tmp_path / f"{profile}.fullchain.pem"
        files[f"{profile}.fullchain"].write_bytes(pem(leaf.certificate) + files["chain"].read_bytes())
        files[f"{profile}.key"] = tmp_path / f"{profile}.key"
        files[f"{profile}.key"].write_bytes(serialize_private_key(leaf.key, None))
    return files


def pem(certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def openssl_verify(files, leaf: str, purpose: str) -> subprocess.CompletedProcess:
    command = [
        "openssl", "verify", "-x509_strict", "-purpose", purpose,
        "-CAfile", str(files["bundle"]), "-untrusted", str(files["chain"]), str(files[leaf]),
    ]
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=60)


def strict_client_context(files, hostname_check: bool = True) -> ssl.SSLContext:
    """Build the client side as Python 3.13's default context does, strict flags included on older Pythons."""
    context = ssl.create_default_context()
    context.verify_flags |= ssl.VERIFY_X509_STRICT
    context.check_hostname = hostname_check
    context.load_verify_locations(cafile=str(files["bundle"]))
    return context


def server_context(files, leaf: str, require_client: bool) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certfile=str(files[f"{leaf}.fullchain"]), keyfile=str(files[f"{leaf}.key"]))
    if require_client:
        context.verify_mode = ssl.CERT_REQUIRED
        context.verify_flags |= ssl.VERIFY_X509_STRICT
        context.load_verify_locations(cafile=str(files["bundle"]))
    return context


def handshake(client_context: ssl.SSLContext, server_ctx: ssl.SSLContext, server_hostname: str) -> bytes:
    """Run a TLS handshake between two in-memory endpoints, send one message and return what the server read."""
    client_incoming, client_outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    server_incoming, server_outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = client_context.wrap_bio(client_incoming, client_outgoing, server_hostname=server_hostname)
    server = server_ctx.wrap_bio(server_incoming, server_outgoing, server_side=True)

    finished = {"client": False, "server": False}
    for _round in range(HANDSHAKE_ROUNDS):
        for name, endpoint in (("client", client), ("server", server)):
            if not finished[name]:
                try:
                    endpoint.do_handshake()
                    finished[name] = True
                except ssl.SSLWantReadError:
                    pass
            server_incoming.write(client_outgoing.read())
            client_incoming.write(server_outgoing.read())
        if all(finished.values()):
            break
    assert all(finished.values()), f"handshake did not finish in {HANDSHAKE_ROUNDS} rounds: {finished}"

    client.write(b"ping")
    server_incoming.write(client_outgoing.read())
    return server.read(4)


@pytest.mark.parametrize(
    ("leaf", "purpose"),
    [
        ("server_client", "sslclient"),
        ("server_client", "sslserver"),
        ("server", "sslserver"),
        ("client", "sslclient"),
    ],
)
def test_openssl_verify_accepts(pki, leaf, purpose):
    result = openssl_verify(pki, leaf, purpose)

    assert result.returncode == 0, result.stderr + result.stdout
    assert result.stdout.strip().endswith(": OK")


@pytest.mark.parametrize(("leaf", "purpose"), [("server", "sslclient"), ("client", "sslserver")])
def test_openssl_verify_rejects_wrong_purpose(pki, leaf, purpose):
    result = openssl_verify(pki, leaf, purpose)

    assert result.returncode != 0
    assert "unsuitable certificate purpose" in result.stdout + result.stderr


def test_openssl_verify_needs_chain(pki):
    command = ["openssl", "verify", "-x509_strict", "-CAfile", str(pki["bundle"]), str(pki["server_client"])]
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=60)

    assert result.returncode != 0


def test_python_ssl_mutual_tls(pki):
    client_context = strict_client_context(pki)
    client_context.load_cert_chain(certfile=str(pki["client.fullchain"]), keyfile=str(pki["client.key"]))

    received = handshake(client_context, server_context(pki, "server_client", require_client=True), "web1.example.org")

    assert received == b"ping"


def test_python_ssl_rejects_server_profile_client(pki):
    # A server-only certificate lacks clientAuth, so the server refuses it as a client certificate.
    client_context = strict_client_context(pki)
    client_context.load_cert_chain(certfile=str(pki["server.fullchain"]), keyfile=str(pki["server.key"]))

    with pytest.raises(ssl.SSLError):
        handshake(client_context, server_context(pki, "server_client", require_client=True), "web1.example.org")


def test_python_ssl_ip_san(pki):
    received = handshake(strict_client_context(pki), server_context(pki, "server", require_client=False), "10.0.0.5")

    assert received == b"ping"


def test_python_ssl_strict_flags(pki):
    # Python 3.13 sets VERIFY_X509_STRICT in create_default_context and 3.11 does not,
    # so strict_client_context sets it on every release.
    default_is_strict = bool(ssl.create_default_context().verify_flags & ssl.VERIFY_X509_STRICT)
    context = strict_client_context(pki)

    assert default_is_strict is (sys.version_info >= (3, 13))
    assert context.verify_flags & ssl.VERIFY_X509_STRICT
    assert context.check_hostname is True
    assert context.verify_mode == ssl.CERT_REQUIRED


def test_python_ssl_rejects_hostname(pki):
    with pytest.raises(ssl.SSLCertVerificationError) as caught:
        handshake(strict_client_context(pki), server_context(pki, "server", require_client=False), "web2.example.org")

    assert "mismatch" in str(caught.value) or "match" in str(caught.value)


def test_python_ssl_rejects_client_profile(pki):
    # A client-only certificate lacks serverAuth, so a client refuses it as a server certificate.
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(strict_client_context(pki), server_context(pki, "client", require_client=False), "web1.example.org")


def test_python_ssl_rejects_unknown_ca(pki, make_ca, tmp_path):
    other = make_ca("other", now=utc_now())
    other_bundle = tmp_path / "other-bundle.pem"
    other_bundle.write_bytes(pem(other.signer.bundle[0]))
    client_context = ssl.create_default_context()
    client_context.load_verify_locations(cafile=str(other_bundle))

    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(client_context, server_context(pki, "server", require_client=False), "web1.example.org")
