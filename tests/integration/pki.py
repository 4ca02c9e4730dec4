"""Test material made outside the collection: keys, CSRs, tampered PEM, and ``openssl verify``.

Building these with the cryptography library instead of the modules lets the tests
feed the modules input that the modules themselves would never produce.
"""

from __future__ import annotations

import base64
import subprocess
import textwrap
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def generate_ec_key() -> ec.EllipticCurvePrivateKey:
    """Generate a P-256 key, the collection's default key type."""
    return ec.generate_private_key(ec.SECP256R1())


def build_csr(private_key, common_name: str, dns_names: list[str]) -> str:
    """Build a CSR in PEM for ``common_name`` that requests ``dns_names`` as DNS SANs."""
    builder = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name) for name in dns_names]), critical=False)
    )
    return builder.sign(private_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode("ascii")


def pem_to_der(pem: str) -> tuple[str, bytes]:
    """Return the label and DER body of the first PEM block in ``pem``."""
    lines = pem.strip().splitlines()
    label = lines[0].removeprefix("-----BEGIN ").removesuffix("-----")
    return label, base64.b64decode("".join(lines[1:-1]))


def der_to_pem(label: str, der: bytes) -> str:
    """Encode DER as a PEM block with ``label``, 64 base64 characters a line."""
    body = "\n".join(textwrap.wrap(base64.b64encode(der).decode("ascii"), 64))
    return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----\n"


def flip_last_byte(pem: str) -> str:
    """Return ``pem`` with the last DER byte inverted.

    In a CSR or certificate the last byte belongs to the signature, so the structure
    still parses but the signature no longer verifies.
    """
    label, der = pem_to_der(pem)
    return der_to_pem(label, der[:-1] + bytes([der[-1] ^ 0xFF]))


def run_openssl_verify(
    directory: Path, certificate: str, bundle: str, chain: str, hostname: str | None = None
) -> subprocess.CompletedProcess:
    """Run ``openssl verify -x509_strict`` on ``certificate`` with ``bundle`` as trust anchors and ``chain`` as untrusted."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, content in (("certificate", certificate), ("bundle", bundle), ("chain", chain)):
        paths[name] = directory / f"{name}.pem"
        paths[name].write_text(content, encoding="ascii")
    command = ["openssl", "verify", "-x509_strict", "-CAfile", str(paths["bundle"])]
    if chain:
        command += ["-untrusted", str(paths["chain"])]
    if hostname:
        command += ["-verify_hostname", hostname]
    command.append(str(paths["certificate"]))
    return subprocess.run(command, capture_output=True, text=True, check=False)
