"""Create a certfleet CA and COUNT ECDSA P-256 CSRs for the signing benchmark (not timed).

    python make_csrs.py --ca-dir DIR --csrs FILE --count 10000

The CA is made as certfleet.mtls.ca makes it by default: an ECDSA P-384 root and
intermediate, keys encrypted with the passphrase in CERTFLEET_BENCH_CA_PASSPHRASE.
Each CSR has the common name node<number>, that name as a DNS SAN, and the EKUs
serverAuth and clientAuth, as certfleet.mtls.csr builds them for the role's
default profile. FILE receives the CSRs as concatenated PEM, in name order.
Needs ansible_collections.certfleet.mtls on PYTHONPATH.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ansible_collections.certfleet.mtls.plugins.module_utils._ca_store import CaSettings, ensure_ca
from common import request_name


def build_csr_pem(name: str) -> bytes:
    """Generate a P-256 key and return a CSR for name, signed by it, as PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
    )
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def main() -> int:
    parser = argparse.ArgumentParser(description="Create a certfleet CA and P-256 CSRs for the signing benchmark.")
    parser.add_argument("--ca-dir", type=Path, required=True, help="directory of the new CA")
    parser.add_argument("--csrs", type=Path, required=True, help="file that receives the CSRs as PEM")
    parser.add_argument("--count", type=int, required=True, help="number of CSRs")
    arguments = parser.parse_args()

    settings = CaSettings(
        common_name="bench signing root CA",
        organization=None,
        key_type="ecdsa-p384",
        root_validity=datetime.timedelta(days=3650),
        intermediate=True,
        intermediate_common_name="bench signing issuing CA",
        intermediate_validity=datetime.timedelta(days=1825),
    )
    now = datetime.datetime.now(datetime.timezone.utc)
    ensure_ca(str(arguments.ca_dir), settings, os.environ["CERTFLEET_BENCH_CA_PASSPHRASE"], now, check_mode=False)

    with arguments.csrs.open("wb") as output:
        for number in range(1, arguments.count + 1):
            output.write(build_csr_pem(request_name(number)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
