"""Tests for _keys: generation, fingerprints, load errors and the key policy."""

from __future__ import annotations

import hashlib
import re
import subprocess
import threading

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from ansible_collections.certfleet.mtls.plugins.module_utils._errors import CertfleetError
from ansible_collections.certfleet.mtls.plugins.module_utils._keys import (
    KEY_TYPES,
    check_key_policy,
    describe_key,
    generate_private_key,
    is_encrypted_pem,
    keys_match,
    load_private_key,
    public_key_der,
    public_key_fingerprint,
    serialize_private_key,
    signature_hash,
)

KEY_PATH = "/etc/certfleet/web1.key"
PASSPHRASE = "key passphrase"
# PBES1 and PKCS#12 schemes that OpenSSL 3 can still write with its legacy provider.
# cryptography 38 loads all three. cryptography 50 loads MD5-DES and SHA1-3DES but not SHA1-DES.
LEGACY_SCHEMES = {
    "PBE-MD5-DES": "PBES1 pbeWithMD5AndDES-CBC",
    "PBE-SHA1-DES": "PBES1 pbeWithSHA1AndDES-CBC",
    "PBE-SHA1-3DES": "PKCS#12 pbeWithSHAAnd3-KeyTripleDES-CBC",
}


@pytest.fixture(scope="module")
def ec_key():
    return ec.generate_private_key(ec.SECP256R1())


def pkcs8_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def relabel(pem: bytes, label: str) -> bytes:
    return pem.replace(b"BEGIN PRIVATE KEY", b"BEGIN " + label.encode()).replace(b"END PRIVATE KEY", b"END " + label.encode())


def encrypt_with_openssl(pem: bytes, scheme: str, tmp_path) -> bytes:
    """Encrypt a PKCS#8 key with an old PBES1 or PKCS#12 scheme using the openssl command."""
    source = tmp_path / "plain.pem"
    source.write_bytes(pem)
    command = ["openssl", "pkcs8", "-topk8", "-v1", scheme, "-in", str(source), "-passout", f"pass:{PASSPHRASE}"]
    result = subprocess.run(
        command + ["-provider", "legacy", "-provider", "default"], capture_output=True, check=False, timeout=60
    )
    if result.returncode != 0:
        # OpenSSL 1.1 has no -provider option and needs none for these schemes.
        result = subprocess.run(command, capture_output=True, check=True, timeout=60)
    return result.stdout


def cryptography_loads(pem: bytes, passphrase: str | None) -> bool:
    """Tell whether the installed cryptography itself can load this key."""
    try:
        serialization.load_pem_private_key(pem, passphrase.encode() if passphrase else None)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_generate_each_type(key_type):
    key = generate_private_key(key_type)

    assert describe_key(key.public_key()) == key_type


def test_generate_rejects_unknown():
    with pytest.raises(CertfleetError) as caught:
        generate_private_key("dsa-2048")

    message = str(caught.value)
    assert "key_type='dsa-2048'" in message
    assert "ecdsa-p256" in message


def test_describe_other_keys():
    assert describe_key(ec.generate_private_key(ec.SECP521R1()).public_key()) == "ecdsa-p521"
    assert describe_key(ed448.Ed448PrivateKey.generate().public_key()) == "ed448"
    assert describe_key(rsa.generate_private_key(65537, 1024).public_key()) == "rsa-1024"


def test_fingerprint_format(ec_key):
    fingerprint = public_key_fingerprint(ec_key.public_key())
    expected = hashlib.sha256(public_key_der(ec_key.public_key())).hexdigest()

    assert re.fullmatch(r"([0-9a-f]{2}:){31}[0-9a-f]{2}", fingerprint)
    assert fingerprint.replace(":", "") == expected


def test_fingerprint_differs_per_key(ec_key):
    other = ec.generate_private_key(ec.SECP256R1())

    assert public_key_fingerprint(ec_key.public_key()) != public_key_fingerprint(other.public_key())


def test_keys_match(ec_key):
    other = ec.generate_private_key(ec.SECP256R1())

    assert keys_match(ec_key, ec_key.public_key())
    assert not keys_match(ec_key, other.public_key())


def test_signature_hash_per_type():
    assert signature_hash(ed25519.Ed25519PrivateKey.generate()) is None
    assert isinstance(signature_hash(ec.generate_private_key(ec.SECP384R1())), hashes.SHA384)
    assert isinstance(signature_hash(ec.generate_private_key(ec.SECP256R1())), hashes.SHA256)
    assert isinstance(signature_hash(generate_private_key("rsa-2048")), hashes.SHA256)


def test_serialize_round_trip_encrypted(ec_key):
    pem = serialize_private_key(ec_key, PASSPHRASE)

    loaded, warnings = load_private_key(pem, PASSPHRASE, KEY_PATH)

    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert is_encrypted_pem(pem)
    assert keys_match(loaded, ec_key.public_key())
    assert warnings == []


def test_serialize_round_trip_plain(ec_key):
    pem = serialize_private_key(ec_key, None)

    loaded, warnings = load_private_key(pem, None, KEY_PATH)

    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert not is_encrypted_pem(pem)
    assert keys_match(loaded, ec_key.public_key())
    assert warnings == []


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not a key at all\n",
        b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
    ],
)
def test_load_no_pem_block(data):
    with pytest.raises(CertfleetError) as caught:
        load_private_key(data, None, KEY_PATH)

    message = str(caught.value)
    assert KEY_PATH in message
    assert "contains no PEM private key" in message


@pytest.mark.parametrize("label", ["RSA PRIVATE KEY", "EC PRIVATE KEY"])
def test_load_pkcs8_under_old_label(label, tmp_path):
    key = generate_private_key("rsa-2048" if label.startswith("RSA") else "ecdsa-p256")
    pem = relabel(pkcs8_pem(key), label)

    if cryptography_loads(pem, None):
        # cryptography 38 reads PEM through OpenSSL 3, which accepts a PKCS#8 body under these labels.
        loaded, _warnings = load_private_key(pem, None, KEY_PATH)
        assert keys_match(loaded, key.public_key())
    else:
        with pytest.raises(CertfleetError) as caught:
            load_private_key(pem, None, KEY_PATH)
        message = str(caught.value)
        assert KEY_PATH in message
        assert f"label '{label}'" in message
        assert "PKCS#8" in message


def test_load_garbage_under_key_label():
    pem = b"-----BEGIN PRIVATE KEY-----\nMAMCAQA=\n-----END PRIVATE KEY-----\n"

    with pytest.raises(CertfleetError) as caught:
        load_private_key(pem, None, KEY_PATH)

    message = str(caught.value)
    assert KEY_PATH in message
    assert "could not be parsed as a PRIVATE KEY" in message


def test_load_encrypted_without_passphrase(ec_key):
    pem = serialize_private_key(ec_key, PASSPHRASE)
    outcome = {}

    def load():
        try:
            load_private_key(pem, None, KEY_PATH)
        except CertfleetError as error:
            outcome["error"] = error

    # A prompt for the passphrase would block this thread, so the join would time out.
    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    worker.join(timeout=30)

    assert not worker.is_alive()
    assert KEY_PATH in str(outcome["error"])
    assert "passphrase is required" in str(outcome["error"])


@pytest.mark.parametrize("passphrase", [None, ""])
def test_load_encrypted_empty_passphrase(ec_key, passphrase):
    pem = serialize_private_key(ec_key, PASSPHRASE)

    with pytest.raises(CertfleetError) as caught:
        load_private_key(pem, passphrase, KEY_PATH)

    assert "passphrase is required" in str(caught.value)


def test_load_wrong_passphrase(ec_key):
    pem = serialize_private_key(ec_key, PASSPHRASE)

    with pytest.raises(CertfleetError) as caught:
        load_private_key(pem, "not the passphrase", KEY_PATH)

    message = str(caught.value)
    assert KEY_PATH in message
    assert "passphrase is wrong" in message


def test_load_traditional_encrypted(ec_key):
    pem = ec_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.BestAvailableEncryption(PASSPHRASE.encode()),
    )

    loaded, _warnings = load_private_key(pem, PASSPHRASE, KEY_PATH)
    with pytest.raises(CertfleetError) as missing:
        load_private_key(pem, None, KEY_PATH)
    with pytest.raises(CertfleetError) as wrong:
        load_private_key(pem, "not the passphrase", KEY_PATH)

    assert b"Proc-Type: 4,ENCRYPTED" in pem
    assert keys_match(loaded, ec_key.public_key())
    assert "passphrase is required" in str(missing.value)
    assert "passphrase is wrong" in str(wrong.value)
    assert "AES-256-CBC" in str(wrong.value)


@pytest.mark.parametrize("scheme", sorted(LEGACY_SCHEMES))
def test_load_legacy_scheme(ec_key, scheme, tmp_path):
    pem = encrypt_with_openssl(pkcs8_pem(ec_key), scheme, tmp_path)

    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    if cryptography_loads(pem, PASSPHRASE):
        loaded, _warnings = load_private_key(pem, PASSPHRASE, KEY_PATH)
        assert keys_match(loaded, ec_key.public_key())
    else:
        with pytest.raises(CertfleetError) as caught:
            load_private_key(pem, PASSPHRASE, KEY_PATH)
        message = str(caught.value)
        assert KEY_PATH in message
        assert "does not support" in message
        assert LEGACY_SCHEMES[scheme] in message


@pytest.mark.parametrize("scheme", sorted(LEGACY_SCHEMES))
def test_load_legacy_scheme_wrong_passphrase(ec_key, scheme, tmp_path):
    pem = encrypt_with_openssl(pkcs8_pem(ec_key), scheme, tmp_path)

    with pytest.raises(CertfleetError) as caught:
        load_private_key(pem, "not the passphrase", KEY_PATH)

    message = str(caught.value)
    assert KEY_PATH in message
    if cryptography_loads(pem, PASSPHRASE):
        assert "passphrase is wrong" in message
    else:
        assert LEGACY_SCHEMES[scheme] in message


def test_load_passphrase_for_plain_key(ec_key):
    loaded, warnings = load_private_key(pkcs8_pem(ec_key), PASSPHRASE, KEY_PATH)

    assert keys_match(loaded, ec_key.public_key())
    assert len(warnings) == 1
    assert KEY_PATH in warnings[0]
    assert "not encrypted" in warnings[0]


def test_policy_rejects_rsa_1024():
    weak = rsa.generate_private_key(65537, 1024)

    with pytest.raises(CertfleetError) as caught:
        check_key_policy(weak.public_key(), KEY_TYPES, "requests[web1]: the CSR")

    message = str(caught.value)
    assert message.startswith("requests[web1]: the CSR")
    assert "1024 bits" in message
    assert "rsa-2048 or stronger" in message


def test_policy_rejects_disallowed_type():
    key = ed25519.Ed25519PrivateKey.generate()

    with pytest.raises(CertfleetError) as caught:
        check_key_policy(key.public_key(), ("ecdsa-p256", "rsa-2048"), "requests[web1]: the CSR")

    message = str(caught.value)
    assert "type ed25519" in message
    assert "ecdsa-p256, rsa-2048" in message


def test_policy_accepts_allowed_type(ec_key):
    assert check_key_policy(ec_key.public_key(), ("ecdsa-p256",), "requests[web1]: the CSR") is None
