# Copyright (c) certfleet.mtls contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The CA directory on the CA host: create, load and check it. Private: not a public API.

Layout of a CA directory (mode 0700):

- ``root.key``, ``root.pem``: the root key (PKCS#8, encrypted) and self-signed certificate
- ``intermediate.key``, ``intermediate.pem``: the issuing CA, when one is configured
- ``bundle.pem``: the trust anchors hosts install (the root certificate)
- ``chain.pem``: the CA certificates sent with each leaf (the intermediate, or empty)

An existing file is never replaced: a key that does not load or does not match its
certificate stops the run with an error and leaves every file as it was.
"""

from __future__ import annotations

import datetime
import os
from typing import NamedTuple

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
except ImportError:
    # Without cryptography, the modules fail in _module.require_cryptography before they call this code.
    pass

from ansible_collections.certfleet.mtls.plugins.module_utils._builders import build_ca_certificate
from ansible_collections.certfleet.mtls.plugins.module_utils._certinfo import load_one_certificate, serial_hex
from ansible_collections.certfleet.mtls.plugins.module_utils._chain import fingerprint, is_issued_by
from ansible_collections.certfleet.mtls.plugins.module_utils._errors import CertfleetError
from ansible_collections.certfleet.mtls.plugins.module_utils._files import ensure_directory, read_if_exists, write_atomic
from ansible_collections.certfleet.mtls.plugins.module_utils._keys import (
    generate_private_key,
    keys_match,
    load_private_key,
    serialize_private_key,
)
from ansible_collections.certfleet.mtls.plugins.module_utils._time import certificate_not_after, format_time

ROOT = "root"
# CA certificates start this long before their creation, so hosts whose clocks run a
# little behind the CA host's accept a CA made moments ago.
CA_BACKDATE = datetime.timedelta(hours=1)
INTERMEDIATE = "intermediate"


class CaLevel(NamedTuple):
    """One CA certificate with its key; ``created`` is true when this run made it."""

    certificate: x509.Certificate
    key: object
    created: bool


class CaSettings(NamedTuple):
    """Settings for a CA that has to be created."""

    common_name: str
    organization: str | None
    key_type: str
    root_validity: datetime.timedelta
    intermediate: bool
    intermediate_common_name: str
    intermediate_validity: datetime.timedelta


class Signer(NamedTuple):
    """The issuing CA: its certificate and key, the chain sent with leaves, and the trust bundle."""

    certificate: x509.Certificate
    key: object
    chain: list
    bundle: list


def ca_paths(directory: str, level: str) -> tuple[str, str]:
    """Return the key and certificate paths of one CA level."""
    return os.path.join(directory, f"{level}.key"), os.path.join(directory, f"{level}.pem")


def load_level(directory: str, level: str, passphrase: str | None) -> tuple[x509.Certificate, object, list[str]] | None:
    """Load one CA level and check that the key belongs to the certificate; None when neither file exists."""
    key_path, certificate_path = ca_paths(directory, level)
    key_data = read_if_exists(key_path, "path")
    certificate_data = read_if_exists(certificate_path, "path")
    if key_data is None and certificate_data is None:
        return None
    if key_data is None or certificate_data is None:
        present, missing = (key_path, certificate_path) if certificate_data is None else (certificate_path, key_path)
        raise CertfleetError(
            f"{present} exists but {missing} is missing; restore the missing file from backup, "
            "or move both away to create a new CA"
        )
    key, warnings = load_private_key(key_data, passphrase, f"CA key {key_path}")
    certificate, problems = load_one_certificate(certificate_data, f"CA certificate {certificate_path}")
    if not keys_match(key, certificate.public_key()):
        raise CertfleetError(
            f"the CA private key {key_path} does not belong to the CA certificate {certificate_path}; "
            "restore the matching pair from backup"
        )
    return certificate, key, warnings + problems


def ensure_ca(directory: str, settings: CaSettings, passphrase: str | None, now: datetime.datetime, check_mode: bool):
    """Load the CA in ``directory`` or create what is missing; return ``(levels, warnings, changed)``."""
    warnings: list[str] = []
    changed = False
    if not check_mode:
        changed = ensure_directory(directory, 0o700, "path")

    root, root_warnings, created = _ensure_level(
        directory, ROOT, passphrase, check_mode,
        lambda key: build_ca_certificate(
            key, settings.common_name, settings.organization, now - CA_BACKDATE, now + settings.root_validity,
            path_length=1 if settings.intermediate else 0,
        ),
        settings.key_type,
    )
    warnings += root_warnings
    changed = changed or created
    levels = {ROOT: root}

    if settings.intermediate:
        intermediate, level_warnings, created = _ensure_level(
            directory, INTERMEDIATE, passphrase, check_mode,
            lambda key: build_ca_certificate(
                key, settings.intermediate_common_name, settings.organization, now - CA_BACKDATE,
                min(now + settings.intermediate_validity, certificate_not_after(root.certificate)),
                path_length=0, issuer=root.certificate, issuer_key=root.key,
            ),
            settings.key_type,
        )
        warnings += level_warnings
        changed = changed or created
        if not is_issued_by(intermediate.certificate, root.certificate):
            raise CertfleetError(
                f"{ca_paths(directory, INTERMEDIATE)[1]} was not issued by {ca_paths(directory, ROOT)[1]}; "
                "restore the matching files from backup"
            )
        levels[INTERMEDIATE] = intermediate

    for level in levels.values():
        warnings += _expiry_warnings(level.certificate, now)
    if not check_mode:
        changed = _write_public_files(directory, levels) or changed
    return levels, warnings, changed


def _ensure_level(directory, level, passphrase, check_mode, build, key_type):
    loaded = load_level(directory, level, passphrase)
    if loaded is not None:
        certificate, key, warnings = loaded
        return CaLevel(certificate, key, False), warnings, False
    key = generate_private_key(key_type)
    certificate = build(key)
    if not check_mode:
        key_path, certificate_path = ca_paths(directory, level)
        write_atomic(key_path, serialize_private_key(key, passphrase), 0o600)
        write_atomic(certificate_path, certificate.public_bytes(serialization.Encoding.PEM), 0o644)
    return CaLevel(certificate, key, True), [], True


def _write_public_files(directory: str, levels: dict) -> bool:
    bundle = _pem(levels[ROOT].certificate)
    chain = _pem(levels[INTERMEDIATE].certificate) if INTERMEDIATE in levels else b""
    changed = False
    for name, content in (("bundle.pem", bundle), ("chain.pem", chain)):
        path = os.path.join(directory, name)
        if read_if_exists(path, "path") != content:
            write_atomic(path, content, 0o644)
            changed = True
    return changed


def _expiry_warnings(certificate: x509.Certificate, now: datetime.datetime) -> list[str]:
    not_after = certificate_not_after(certificate)
    subject = certificate.subject.rfc4514_string()
    if not_after <= now:
        return [f"the CA certificate '{subject}' expired at {format_time(not_after)}"]
    if not_after - now < datetime.timedelta(days=90):
        return [f"the CA certificate '{subject}' expires at {format_time(not_after)}, in less than 90 days"]
    return []


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def load_signer(directory: str, passphrase: str | None) -> tuple[Signer, list[str]]:
    """Load the issuing CA from ``directory``: the intermediate when there is one, else the root."""
    root = load_level(directory, ROOT, passphrase)
    if root is None:
        raise CertfleetError(
            f"ca_path={directory!r} contains no CA (root.pem and root.key are missing); create it "
            "with certfleet.mtls.ca first"
        )
    root_certificate, root_key, warnings = root
    intermediate = load_level(directory, INTERMEDIATE, passphrase)
    if intermediate is None:
        return Signer(root_certificate, root_key, [], [root_certificate]), warnings
    certificate, key, level_warnings = intermediate
    return Signer(certificate, key, [certificate], [root_certificate]), warnings + level_warnings


def describe_level(level: CaLevel) -> dict:
    """Describe one CA level for a module result, without key material."""
    certificate = level.certificate
    return {
        "subject": certificate.subject.rfc4514_string(),
        "serial": serial_hex(certificate.serial_number),
        "not_after": format_time(certificate_not_after(certificate)),
        "sha256_fingerprint": fingerprint(certificate).hex(),
        "certificate": _pem(certificate).decode("ascii"),
        "created": level.created,
    }
