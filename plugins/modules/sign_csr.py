#!/usr/bin/python
# Copyright (c) certfleet.mtls contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: sign_csr
short_description: Sign one CSR or a batch of CSRs with the CA, under a policy
version_added: 0.1.0
description:
  - Runs on the CA host, where the CA keys made by M(certfleet.mtls.ca) live, and signs CSRs that hosts built with
    M(certfleet.mtls.csr). Pass a whole fleet's CSRs in O(requests) to sign them all in one call.
  - Every request is checked before the first one is signed, so a rejected request means nothing was issued.
    A request is rejected when its CSR does not parse, its signature does not verify, its key type or size is not
    allowed (RSA below 2048 bits never is), a requested name lies outside the allowed names, or its profile is not allowed.
  - Issued certificates carry a random positive 159-bit serial, a notBefore backdated by O(backdate), a validity capped
    at O(max_validity) and at the issuing CA's own notAfter, an authority key identifier equal to the issuer's subject key
    identifier, and SANs that always include the common name.
options:
  ca_path:
    description: Directory of the CA made by M(certfleet.mtls.ca).
    type: path
    required: true
  passphrase:
    description: Passphrase of the CA keys.
    type: str
  csr:
    description: One CSR in PEM. Mutually exclusive with O(requests).
    type: str
  name:
    description: Name of the single O(csr) in messages and results, usually the host name.
    type: str
    default: request
  profile:
    description: Profile of the single O(csr). Defaults to the profile its extended key usages request.
    type: str
    choices: [server, client, server_client]
  requests:
    description: A batch of CSRs to sign in one call. Mutually exclusive with O(csr).
    type: list
    elements: dict
    suboptions:
      name:
        description: Name of the request in messages and results, usually the host name.
        type: str
        required: true
      csr:
        description: The CSR in PEM.
        type: str
        required: true
      profile:
        description: Profile to issue. Defaults to the profile the CSR's extended key usages request.
        type: str
        choices: [server, client, server_client]
      validity:
        description: Lifetime of this certificate. Defaults to O(validity).
        type: str
  validity:
    description: Lifetime of issued certificates, as a duration such as V(30d) or V(12h).
    type: str
    default: 30d
  max_validity:
    description: Maximum lifetime the policy allows. Longer requests are cut to it, with a warning.
    type: str
    default: 397d
  backdate:
    description: How far notBefore lies before the signing time, so hosts whose clocks run behind the CA's accept a new certificate.
    type: str
    default: 5m
  allowed_key_types:
    description: Key types the policy accepts in CSRs.
    type: list
    elements: str
    default: [ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072, rsa-4096, ed25519]
  allowed_profiles:
    description: Profiles the policy issues.
    type: list
    elements: str
    default: [server, client, server_client]
  allowed_dns_names:
    description:
      - Exact DNS names the policy allows. A DNS SAN is allowed when it is in this list or under O(allowed_dns_suffixes).
      - When both options are unset, every DNS name is allowed.
    type: list
    elements: str
  allowed_dns_suffixes:
    description: DNS domains whose names, and the domain itself, the policy allows, such as V(internal.example.org).
    type: list
    elements: str
  allowed_ip_networks:
    description: IP networks that IP SANs must lie in, such as V(10.0.0.0/8). When unset, every IP address is allowed.
    type: list
    elements: str
  allowed_uri_prefixes:
    description: Prefixes that URI SANs must start with, such as V(spiffe://example.org/). When unset, every URI is allowed.
    type: list
    elements: str
attributes:
  check_mode:
    support: full
    details: Checks every request against the policy and signs nothing.
  diff_mode:
    support: none
  idempotent:
    description: When run again with the same options, makes no change and reports none.
    support: none
    details: Each call issues new certificates. Call it only for hosts that need one, as the certfleet.mtls.certificate role does.
  platform:
    support: full
    platforms: posix
requirements:
  - cryptography >= 38.0
author:
  - certfleet.mtls contributors (!UNKNOWN)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: Sign the CSRs of every host that needs a certificate, in one call on the CA host
  certfleet.mtls.sign_csr:
    ca_path: /var/lib/certfleet/ca/fleet
    passphrase: "{{ vault_certfleet_ca_passphrase }}"
    requests: "{{ pending_requests }}"
    validity: 30d
    allowed_dns_suffixes: [internal.example.org]
    allowed_ip_networks: [10.0.0.0/8]
  delegate_to: localhost
  run_once: true
  register: signed
"""

RETURN = r"""
certificates:
  description: The issued certificates, in the order of the requests.
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: Name of the request.
      type: str
    certificate:
      description: The certificate in PEM.
      type: str
    serial:
      description: Serial number in hex.
      type: str
    profile:
      description: Profile issued.
      type: str
    not_before:
      description: Start of validity, ISO 8601 UTC.
      type: str
    not_after:
      description: End of validity, ISO 8601 UTC.
      type: str
certificate:
  description: The certificate in PEM, when O(csr) was given.
  returned: success and O(csr) given and not in check mode
  type: str
chain:
  description: The CA certificates to send with each leaf certificate, in PEM. Empty when the root signs directly.
  returned: success
  type: str
ca_bundle:
  description: The trust anchors in PEM, to install on hosts.
  returned: success
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.certfleet.mtls.plugins.module_utils._module import run_module

try:
    from cryptography.hazmat.primitives import serialization

    from ansible_collections.certfleet.mtls.plugins.module_utils._ca_store import load_signer
    from ansible_collections.certfleet.mtls.plugins.module_utils._signer import (
        build_policy,
        check_request,
        parse_request,
        sign_requests,
    )
    from ansible_collections.certfleet.mtls.plugins.module_utils._time import utc_now
except ImportError:
    pass


def collect_requests(params: dict) -> list[dict]:
    if params["csr"] is not None:
        return [{"name": params["name"], "csr": params["csr"], "profile": params["profile"]}]
    return params["requests"] or []


def sign(module: AnsibleModule) -> dict:
    params = module.params
    policy = build_policy(params)
    requests = [parse_request(entry, params["validity"]) for entry in collect_requests(params)]
    signer, warnings = load_signer(params["ca_path"], params["passphrase"])
    for warning in warnings:
        module.warn(warning)

    result = {
        "changed": bool(requests),
        "certificates": [],
        "chain": "".join(_pem(cert) for cert in signer.chain),
        "ca_bundle": "".join(_pem(cert) for cert in signer.bundle),
    }
    if module.check_mode:
        for request in requests:
            check_request(request, policy)
        return result

    issued, sign_warnings = sign_requests(requests, signer, policy, utc_now())
    for warning in sign_warnings:
        module.warn(warning)
    result["certificates"] = issued
    if params["csr"] is not None:
        result["certificate"] = issued[0]["certificate"]
    return result


def _pem(certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


def main() -> None:
    profiles = ["server", "client", "server_client"]
    module = AnsibleModule(
        argument_spec={
            "ca_path": {"type": "path", "required": True},
            "passphrase": {"type": "str", "no_log": True},
            "csr": {"type": "str"},
            "name": {"type": "str", "default": "request"},
            "profile": {"type": "str", "choices": profiles},
            "requests": {
                "type": "list",
                "elements": "dict",
                "options": {
                    "name": {"type": "str", "required": True},
                    "csr": {"type": "str", "required": True},
                    "profile": {"type": "str", "choices": profiles},
                    "validity": {"type": "str"},
                },
            },
            "validity": {"type": "str", "default": "30d"},
            "max_validity": {"type": "str", "default": "397d"},
            "backdate": {"type": "str", "default": "5m"},
            "allowed_key_types": {
                "type": "list",
                "elements": "str",
                "no_log": False,
                "default": ["ecdsa-p256", "ecdsa-p384", "rsa-2048", "rsa-3072", "rsa-4096", "ed25519"],
            },
            "allowed_profiles": {"type": "list", "elements": "str", "default": profiles},
            "allowed_dns_names": {"type": "list", "elements": "str"},
            "allowed_dns_suffixes": {"type": "list", "elements": "str"},
            "allowed_ip_networks": {"type": "list", "elements": "str"},
            "allowed_uri_prefixes": {"type": "list", "elements": "str"},
        },
        mutually_exclusive=[["csr", "requests"]],
        required_one_of=[["csr", "requests"]],
        supports_check_mode=True,
    )
    run_module(module, sign)


if __name__ == "__main__":
    main()
