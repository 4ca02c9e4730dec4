"""Time the raw floor of signing: a tight loop of cryptography's CertificateBuilder.

    python sign_floor.py --ca-dir DIR --csrs FILE --result RESULT.json

Each CSR is parsed and signed by the issuing CA key that certfleet uses. The
certificates carry the extensions of certfleet's leaf certificates: basicConstraints
CA:FALSE and keyUsage digitalSignature (both critical), EKU serverAuth and
clientAuth, the CSR's SANs, a subject key identifier and an authority key identifier.
They get a random 159-bit serial and a 30-day validity backdated by 5 minutes, and
each is encoded as PEM.
Unlike certfleet it checks neither the CSR signature nor any policy. Loading the
CSR file and the CA key is not timed. The key is loaded with certfleet's
load_signer, so both scripts sign with the same key. The CA passphrase comes from
CERTFLEET_BENCH_CA_PASSPHRASE. Needs ansible_collections.certfleet.mtls on PYTHONPATH.
"""

from __future__ import annotations

import argparse
import datetime
import os
import secrets
import sys
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from ansible_collections.certfleet.mtls.plugins.module_utils._ca_store import load_signer
from common import read_csr_pems, write_result

VALIDITY = datetime.timedelta(days=30)
BACKDATE = datetime.timedelta(minutes=5)
KEY_USAGE = x509.KeyUsage(
    digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
    key_agreement=False, key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False,
)
EXTENDED_KEY_USAGE = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH])


def main() -> int:
    parser = argparse.ArgumentParser(description="Time a tight CertificateBuilder loop on a batch of CSRs.")
    parser.add_argument("--ca-dir", type=Path, required=True, help="CA directory made by make_csrs.py")
    parser.add_argument("--csrs", type=Path, required=True, help="file of concatenated PEM CSRs")
    parser.add_argument("--result", type=Path, required=True, help="JSON file that receives the timing")
    arguments = parser.parse_args()

    pems = read_csr_pems(arguments.csrs)
    signer, _warnings = load_signer(str(arguments.ca_dir), os.environ["CERTFLEET_BENCH_CA_PASSPHRASE"])
    issuer = signer.certificate
    issuer_key = signer.key
    # make_csrs.py creates a P-384 CA, and certfleet signs with SHA-384 for P-384 keys.
    digest = hashes.SHA384()

    started = time.perf_counter()
    cpu_started = time.process_time()
    now = datetime.datetime.now(datetime.timezone.utc)
    authority_key_id = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
        issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    )
    certificates = []
    for pem in pems:
        csr = x509.load_pem_x509_csr(pem.encode("ascii"))
        public_key = csr.public_key()
        names = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        certificate = (
            x509.CertificateBuilder()
            .subject_name(csr.subject)
            .issuer_name(issuer.subject)
            .public_key(public_key)
            .serial_number(secrets.randbits(158) | (1 << 158))
            .not_valid_before(now - BACKDATE)
            .not_valid_after(now + VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(KEY_USAGE, critical=True)
            .add_extension(EXTENDED_KEY_USAGE, critical=False)
            .add_extension(names, critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(authority_key_id, critical=False)
            .sign(issuer_key, digest)
        )
        certificates.append(certificate.public_bytes(serialization.Encoding.PEM))
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started

    write_result(arguments.result, "cryptography loop", len(certificates), seconds, cpu_seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
