"""Time certfleet's signer on a batch of CSRs: one sign_requests call for all of them.

    python sign_certfleet.py --ca-dir DIR --csrs FILE --result RESULT.json

The timed section is what certfleet.mtls.sign_csr does with a batch once its CA is
loaded: build_policy with the request names as allowed DNS names (the role allows the
play's hosts by default), parse_request for every CSR, then one sign_requests call,
which checks every request against the policy and then signs them all, in one thread
per CPU (at most 8) for a batch of 64 or more. Loading the
CSR file and the CA key (load_signer) is not timed. The CA passphrase comes from
CERTFLEET_BENCH_CA_PASSPHRASE. Needs ansible_collections.certfleet.mtls on PYTHONPATH.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import time
from pathlib import Path

from ansible_collections.certfleet.mtls.plugins.module_utils._ca_store import load_signer
from ansible_collections.certfleet.mtls.plugins.module_utils._signer import build_policy, parse_request, sign_requests
from common import read_csr_pems, request_name, write_result


def main() -> int:
    parser = argparse.ArgumentParser(description="Time certfleet's signer on a batch of CSRs.")
    parser.add_argument("--ca-dir", type=Path, required=True, help="CA directory made by make_csrs.py")
    parser.add_argument("--csrs", type=Path, required=True, help="file of concatenated PEM CSRs")
    parser.add_argument("--result", type=Path, required=True, help="JSON file that receives the timing")
    arguments = parser.parse_args()

    pems = read_csr_pems(arguments.csrs)
    names = [request_name(number) for number in range(1, len(pems) + 1)]
    entries = [
        {"name": name, "csr": pem, "profile": "server_client", "validity": "30d"}
        for name, pem in zip(names, pems)
    ]
    signer, _warnings = load_signer(str(arguments.ca_dir), os.environ["CERTFLEET_BENCH_CA_PASSPHRASE"])

    started = time.perf_counter()
    cpu_started = time.process_time()
    policy = build_policy({"allowed_dns_names": names, "max_validity": "397d", "backdate": "5m"})
    requests = [parse_request(entry, "30d") for entry in entries]
    issued, _warnings = sign_requests(requests, signer, policy, datetime.datetime.now(datetime.timezone.utc))
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started

    if len(issued) != len(pems):
        print(f"error: sign_requests issued {len(issued)} certificates for {len(pems)} CSRs", file=sys.stderr)
        return 1
    write_result(arguments.result, "certfleet", len(issued), seconds, cpu_seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
