#!/usr/bin/python
# Copyright (c) certfleet.mtls contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: tls_probe
short_description: Probe a TLS service with a client certificate and check the certificate it presents
version_added: 0.1.0
description:
  - Opens a real TLS connection from the managed host to a service (by default the host's own nginx), presenting a
    client certificate, verifying the server's certificate against a trust bundle and the server name, and sends one
    HTTP GET request, so a service that rejects the client certificate fails the probe too.
  - With O(expected_serial), the server must present that certificate; the probe retries until it does or O(timeout)
    passes, because a reloading server finishes old connections with the old certificate.
options:
  host:
    description: Address to connect to.
    type: str
    default: 127.0.0.1
  port:
    description: TCP port.
    type: int
    default: 443
  server_name:
    description: Name sent in SNI and matched against the server certificate's SANs.
    type: str
    required: true
  ca_bundle_path:
    description: Trust bundle that the server certificate must chain to.
    type: path
    required: true
  client_certificate_path:
    description: Client certificate with its chain (PEM), such as C(fullchain.pem).
    type: path
    required: true
  client_key_path:
    description: Key of the client certificate.
    type: path
    required: true
  expected_serial:
    description: Serial, in hex, that the server certificate must have.
    type: str
  http_path:
    description: Path of the HTTP GET request sent after the handshake.
    type: str
    default: /
  expected_status:
    description: HTTP status codes that count as success.
    type: list
    elements: int
    default: [200]
  timeout:
    description: Seconds to keep retrying before the probe fails.
    type: int
    default: 15
attributes:
  check_mode:
    support: full
    description: Probes in check mode too, because probing changes nothing.
  diff_mode:
    support: none
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
- name: Check that nginx serves the new certificate and accepts our client certificate
  certfleet.mtls.tls_probe:
    server_name: "{{ inventory_hostname }}"
    ca_bundle_path: /etc/certfleet/tls/host/ca.pem
    client_certificate_path: /etc/certfleet/tls/host/fullchain.pem
    client_key_path: /etc/certfleet/tls/host/key.pem
    expected_serial: "{{ installed.serial }}"
"""

RETURN = r"""
serial:
  description: Serial of the certificate the server presented, in hex.
  returned: success
  type: str
status:
  description: HTTP status of the response.
  returned: success
  type: int
tls_version:
  description: Negotiated TLS version.
  returned: success
  type: str
attempts:
  description: Number of connections made.
  returned: always
  type: int
"""

import socket
import ssl
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.certfleet.mtls.plugins.module_utils._module import run_module

try:
    from cryptography import x509

    from ansible_collections.certfleet.mtls.plugins.module_utils._certinfo import serial_hex
    from ansible_collections.certfleet.mtls.plugins.module_utils._errors import CertfleetError
except ImportError:
    pass


def probe_once(params: dict) -> dict:
    """Connect once, send one GET request and return the server serial, HTTP status and TLS version."""
    context = ssl.create_default_context(cafile=params["ca_bundle_path"])
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(params["client_certificate_path"], params["client_key_path"])
    with socket.create_connection((params["host"], params["port"]), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname=params["server_name"]) as connection:
            der = connection.getpeercert(binary_form=True)
            request = f"GET {params['http_path']} HTTP/1.1\r\nHost: {params['server_name']}\r\nConnection: close\r\n\r\n"
            connection.sendall(request.encode("ascii"))
            status_line = connection.recv(4096).split(b"\r\n", 1)[0].decode("ascii", "replace")
            version = connection.version()
    parts = status_line.split()
    status = int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else 0
    serial = serial_hex(x509.load_der_x509_certificate(der).serial_number)
    return {"serial": serial, "status": status, "tls_version": version}


def probe(module: AnsibleModule) -> dict:
    params = module.params
    deadline = time.monotonic() + params["timeout"]
    attempts = 0
    while True:
        attempts += 1
        try:
            outcome = probe_once(params)
            problem = _problem(outcome, params)
        except (OSError, ssl.SSLError) as error:
            outcome, problem = {}, f"the TLS connection to {params['host']}:{params['port']} failed: {error}"
        if problem is None:
            return {"changed": False, "attempts": attempts, **outcome}
        if time.monotonic() >= deadline:
            raise CertfleetError(f"{problem} (after {attempts} attempts in {params['timeout']}s)")
        time.sleep(0.5)


def _problem(outcome: dict, params: dict) -> str | None:
    expected = params["expected_serial"]
    if expected and outcome["serial"].lower() != expected.lower():
        return f"the server presents serial {outcome['serial']}, not the expected {expected}"
    if outcome["status"] not in params["expected_status"]:
        return f"the server answered HTTP status {outcome['status']}, expected one of {params['expected_status']}"
    return None


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "host": {"type": "str", "default": "127.0.0.1"},
            "port": {"type": "int", "default": 443},
            "server_name": {"type": "str", "required": True},
            "ca_bundle_path": {"type": "path", "required": True},
            "client_certificate_path": {"type": "path", "required": True},
            "client_key_path": {"type": "path", "required": True},
            "expected_serial": {"type": "str"},
            "http_path": {"type": "str", "default": "/"},
            "expected_status": {"type": "list", "elements": "int", "default": [200]},
            "timeout": {"type": "int", "default": 15},
        },
        supports_check_mode=True,
    )
    run_module(module, probe)


if __name__ == "__main__":
    main()
