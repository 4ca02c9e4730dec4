"""Tests for _ca_store: creating, reloading and guarding the CA directory."""

from __future__ import annotations

import datetime
import os
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ansible_collections.certfleet.mtls.plugins.module_utils._ca_store import (
    INTERMEDIATE,
    CA_BACKDATE,
    ROOT,
    ca_paths,
    describe_level,
    ensure_ca,
    load_signer,
)
from ansible_collections.certfleet.mtls.plugins.module_utils._chain import is_issued_by
from ansible_collections.certfleet.mtls.plugins.module_utils._errors import CertfleetError
from ansible_collections.certfleet.mtls.plugins.module_utils._keys import (
    generate_private_key,
    keys_match,
    serialize_private_key,
)
from ansible_collections.certfleet.mtls.plugins.module_utils._time import certificate_not_after, certificate_not_before

from pki_helpers import CA_PASSPHRASE, NOW, ca_settings

UTC = datetime.timezone.utc


def snapshot(directory: str) -> dict:
    """Map each file name in ``directory`` to its bytes."""
    result = {}
    for name in sorted(os.listdir(directory)):
        with open(os.path.join(directory, name), "rb") as handle:
            result[name] = handle.read()
    return result


def extension(certificate: x509.Certificate, extension_class):
    return certificate.extensions.get_extension_for_class(extension_class)


def test_root_basic_constraints(ca):
    constraints = extension(ca.levels[ROOT].certificate, x509.BasicConstraints)

    assert constraints.critical is True
    assert constraints.value.ca is True
    assert constraints.value.path_length == 1


def test_intermediate_basic_constraints(ca):
    constraints = extension(ca.levels[INTERMEDIATE].certificate, x509.BasicConstraints)

    assert constraints.critical is True
    assert constraints.value.ca is True
    assert constraints.value.path_length == 0


def test_root_only_path_length(make_ca):
    single = make_ca("single", intermediate=False)
    constraints = extension(single.levels[ROOT].certificate, x509.BasicConstraints)

    assert constraints.value.path_length == 0
    assert INTERMEDIATE not in single.levels


@pytest.mark.parametrize("level", [ROOT, INTERMEDIATE])
def test_ca_key_usage(ca, level):
    usage = extension(ca.levels[level].certificate, x509.KeyUsage)

    assert usage.critical is True
    assert usage.value.key_cert_sign is True
    assert usage.value.crl_sign is True


@pytest.mark.parametrize("level", [ROOT, INTERMEDIATE])
def test_ca_subject_key_identifier(ca, level):
    certificate = ca.levels[level].certificate
    ski = extension(certificate, x509.SubjectKeyIdentifier)

    assert ski.value.digest == x509.SubjectKeyIdentifier.from_public_key(certificate.public_key()).digest


def test_intermediate_aki_is_root_ski(ca):
    root_ski = extension(ca.levels[ROOT].certificate, x509.SubjectKeyIdentifier).value.digest
    aki = extension(ca.levels[INTERMEDIATE].certificate, x509.AuthorityKeyIdentifier)

    assert aki.value.key_identifier == root_ski


def test_intermediate_issued_by_root(ca):
    root = ca.levels[ROOT].certificate
    intermediate = ca.levels[INTERMEDIATE].certificate

    assert intermediate.issuer == root.subject
    assert is_issued_by(intermediate, root)
    assert not is_issued_by(root, intermediate)


def test_ca_validity(ca):
    root = ca.levels[ROOT].certificate
    intermediate = ca.levels[INTERMEDIATE].certificate

    assert certificate_not_before(root) == NOW - CA_BACKDATE
    assert certificate_not_before(intermediate) == NOW - CA_BACKDATE
    assert certificate_not_after(root) == NOW + datetime.timedelta(days=3650)
    assert certificate_not_after(intermediate) == NOW + datetime.timedelta(days=1825)


def test_intermediate_capped_at_root(make_ca):
    capped = make_ca("capped", root_validity="365d", intermediate_validity="730d")

    assert certificate_not_after(capped.levels[INTERMEDIATE].certificate) == NOW + datetime.timedelta(days=365)


def test_ca_file_modes(ca):
    assert stat.S_IMODE(os.stat(ca.path).st_mode) == 0o700
    for level in (ROOT, INTERMEDIATE):
        key_path, certificate_path = ca_paths(ca.path, level)
        assert stat.S_IMODE(os.stat(key_path).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(certificate_path).st_mode) == 0o644


def test_ca_keys_encrypted(ca):
    for level in (ROOT, INTERMEDIATE):
        key_path, _certificate_path = ca_paths(ca.path, level)
        with open(key_path, "rb") as handle:
            assert handle.read().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")


def test_bundle_and_chain_files(ca):
    files = snapshot(ca.path)
    root_pem = ca.levels[ROOT].certificate.public_bytes(serialization.Encoding.PEM)
    intermediate_pem = ca.levels[INTERMEDIATE].certificate.public_bytes(serialization.Encoding.PEM)

    assert sorted(files) == ["bundle.pem", "chain.pem", "intermediate.key", "intermediate.pem", "root.key", "root.pem"]
    assert files["bundle.pem"] == root_pem
    assert files["chain.pem"] == intermediate_pem


def test_root_only_chain_empty(make_ca):
    single = make_ca("single", intermediate=False)

    assert snapshot(single.path)["chain.pem"] == b""


def test_ensure_ca_created_flags(ca):
    assert ca.levels[ROOT].created is True
    assert ca.levels[INTERMEDIATE].created is True


def test_ensure_ca_second_run_unchanged(ca):
    before = snapshot(ca.path)

    levels, warnings, changed = ensure_ca(ca.path, ca_settings(), CA_PASSPHRASE, NOW + datetime.timedelta(days=1), False)

    assert changed is False
    assert warnings == []
    assert levels[ROOT].created is False
    assert levels[INTERMEDIATE].created is False
    assert levels[ROOT].certificate == ca.levels[ROOT].certificate
    assert levels[INTERMEDIATE].certificate == ca.levels[INTERMEDIATE].certificate
    assert snapshot(ca.path) == before


def test_ensure_ca_rewrites_bundle(ca):
    bundle_path = os.path.join(ca.path, "bundle.pem")
    os.unlink(bundle_path)

    _levels, _warnings, changed = ensure_ca(ca.path, ca_settings(), CA_PASSPHRASE, NOW, False)

    assert changed is True
    assert os.path.exists(bundle_path)


def test_ensure_ca_adds_intermediate(make_ca):
    single = make_ca("grow", intermediate=False)

    levels, _warnings, changed = ensure_ca(single.path, ca_settings(), CA_PASSPHRASE, NOW, False)

    assert changed is True
    assert levels[ROOT].created is False
    assert levels[INTERMEDIATE].created is True
    assert is_issued_by(levels[INTERMEDIATE].certificate, levels[ROOT].certificate)


def test_ensure_ca_check_mode(tmp_path):
    directory = str(tmp_path / "planned")

    levels, _warnings, changed = ensure_ca(directory, ca_settings(), CA_PASSPHRASE, NOW, check_mode=True)

    assert changed is True
    assert levels[ROOT].created is True
    assert not os.path.exists(directory)


def test_wrong_passphrase_leaves_files(ca):
    before = snapshot(ca.path)

    with pytest.raises(CertfleetError) as caught:
        ensure_ca(ca.path, ca_settings(), "not the passphrase", NOW, False)

    assert "passphrase is wrong" in str(caught.value)
    assert ca_paths(ca.path, ROOT)[0] in str(caught.value)
    assert snapshot(ca.path) == before


def test_missing_passphrase_leaves_files(ca):
    before = snapshot(ca.path)

    with pytest.raises(CertfleetError) as caught:
        ensure_ca(ca.path, ca_settings(), None, NOW, False)

    assert "passphrase is required" in str(caught.value)
    assert snapshot(ca.path) == before


@pytest.mark.parametrize("level", [ROOT, INTERMEDIATE])
def test_foreign_key_leaves_files(ca, level):
    key_path, certificate_path = ca_paths(ca.path, level)
    with open(key_path, "wb") as handle:
        handle.write(serialize_private_key(generate_private_key("ecdsa-p256"), CA_PASSPHRASE))
    before = snapshot(ca.path)

    with pytest.raises(CertfleetError) as caught:
        ensure_ca(ca.path, ca_settings(), CA_PASSPHRASE, NOW, False)

    message = str(caught.value)
    assert "does not belong" in message
    assert key_path in message
    assert certificate_path in message
    assert snapshot(ca.path) == before


def test_missing_certificate_leaves_files(ca):
    _key_path, certificate_path = ca_paths(ca.path, ROOT)
    os.unlink(certificate_path)
    before = snapshot(ca.path)

    with pytest.raises(CertfleetError) as caught:
        ensure_ca(ca.path, ca_settings(), CA_PASSPHRASE, NOW, False)

    assert f"{certificate_path} is missing" in str(caught.value)
    assert snapshot(ca.path) == before


def test_foreign_intermediate_rejected(ca, make_ca):
    other = make_ca("other")
    for path_index in (0, 1):
        source = ca_paths(other.path, INTERMEDIATE)[path_index]
        target = ca_paths(ca.path, INTERMEDIATE)[path_index]
        with open(source, "rb") as reader, open(target, "wb") as writer:
            writer.write(reader.read())

    with pytest.raises(CertfleetError) as caught:
        ensure_ca(ca.path, ca_settings(), CA_PASSPHRASE, NOW, False)

    assert "was not issued by" in str(caught.value)


def test_expiry_warnings(make_ca, tmp_path):
    directory = str(tmp_path / "short")
    settings = ca_settings(intermediate=False, root_validity="30d")

    _levels, soon, _changed = ensure_ca(directory, settings, CA_PASSPHRASE, NOW, False)
    _levels, expired, _changed = ensure_ca(directory, settings, CA_PASSPHRASE, NOW + datetime.timedelta(days=31), False)

    assert len(soon) == 1
    assert "in less than 90 days" in soon[0]
    assert len(expired) == 1
    assert "expired at 2030-02-14T12:00:00Z" in expired[0]


def test_load_signer_intermediate(ca):
    signer, warnings = load_signer(ca.path, CA_PASSPHRASE)

    assert signer.certificate == ca.levels[INTERMEDIATE].certificate
    assert keys_match(signer.key, ca.levels[INTERMEDIATE].certificate.public_key())
    assert signer.chain == [ca.levels[INTERMEDIATE].certificate]
    assert signer.bundle == [ca.levels[ROOT].certificate]
    assert warnings == []


def test_load_signer_root_only(make_ca):
    single = make_ca("single", intermediate=False)

    assert single.signer.certificate == single.levels[ROOT].certificate
    assert single.signer.chain == []
    assert single.signer.bundle == [single.levels[ROOT].certificate]


def test_load_signer_empty_directory(tmp_path):
    with pytest.raises(CertfleetError) as caught:
        load_signer(str(tmp_path), CA_PASSPHRASE)

    assert "contains no CA" in str(caught.value)


def test_unencrypted_ca_warns_on_passphrase(make_ca):
    plain = make_ca("plain", passphrase=None)

    _signer, warnings = load_signer(plain.path, CA_PASSPHRASE)

    assert len(warnings) == 2
    assert all("not encrypted" in warning for warning in warnings)


def test_describe_level(ca):
    description = describe_level(ca.levels[ROOT])

    assert description["subject"] == "CN=Fleet Root CA,O=Example Fleet"
    assert description["not_after"] == "2040-01-13T12:00:00Z"
    assert description["created"] is True
    assert description["certificate"].startswith("-----BEGIN CERTIFICATE-----")
    assert len(description["sha256_fingerprint"]) == 64
    assert "key" not in description
