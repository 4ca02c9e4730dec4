"""Bad input: each case must fail the task, name the value and the fix, and leave every file as it was."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from integration.conftest import HOST_NAMES, PASSPHRASE, Host, Pki
from integration.pki import build_csr, flip_last_byte, generate_ec_key
from integration.playbook import PlaybookRun
from integration.snapshot import snapshot

pytestmark = pytest.mark.integration

WEB1, WEB2 = HOST_NAMES


def expect_failure(run: PlaybookRun, task_name: str) -> str:
    """Assert that the task failed and issued nothing, and return its message."""
    result = run.result(task_name)
    assert result.get("failed") is True, result
    assert "certificates" not in result
    return result["msg"]


def build_sign_task(ca_path: Path, csr: str, name: str = WEB1, task_name: str = "sign", **policy) -> dict:
    """Build a sign_csr task for one CSR that lets the play go on when it fails."""
    arguments = {"ca_path": str(ca_path), "passphrase": PASSPHRASE, "csr": csr, "name": name, **policy}
    return {"name": task_name, "certfleet.mtls.sign_csr": arguments, "ignore_errors": True}


def build_checked_sign_task(ca_path: Path, csr: str, **policy) -> dict:
    """Build the same task as build_sign_task, in check mode, which must reject the same requests."""
    return {**build_sign_task(ca_path, csr, task_name="sign in check mode", **policy), "check_mode": True}


def install_host_files(pki: Pki, host: Host, tls: Path) -> dict[str, Path]:
    """Copy the host's key and write its installed certificate, chain, full chain and bundle into ``tls``."""
    tls.mkdir(mode=0o700)
    paths = {name: tls / f"{name}.pem" for name in ("key", "cert", "chain", "fullchain", "ca")}
    shutil.copy2(host.key_path, paths["key"])
    paths["cert"].write_text(host.certificate)
    paths["chain"].write_text(pki.chain)
    paths["fullchain"].write_text(host.certificate + pki.chain)
    paths["ca"].write_text(pki.bundle)
    return paths


def build_install_task(paths: dict[str, Path], certificate: str, chain: str, ca_bundle: str) -> dict:
    """Build a certificate task that installs over the files that install_host_files wrote."""
    return {
        "name": "install",
        "ignore_errors": True,
        "certfleet.mtls.certificate": {
            "path": str(paths["cert"]),
            "chain_path": str(paths["chain"]),
            "fullchain_path": str(paths["fullchain"]),
            "ca_bundle_path": str(paths["ca"]),
            "private_key_path": str(paths["key"]),
            "certificate": certificate,
            "chain": chain,
            "ca_bundle": ca_bundle,
        },
    }


def test_sign_csr_malformed_csr(play, work: Path, work_ca: Path) -> None:
    malformed = "-----BEGIN CERTIFICATE REQUEST-----\nbm90IGEgQ1NS\n-----END CERTIFICATE REQUEST-----\n"
    before = snapshot(work)

    message = expect_failure(play([build_sign_task(work_ca, malformed)]), "sign")

    assert f"requests[{WEB1}]" in message
    assert "not a valid PEM certificate signing request" in message
    assert "build it again with certfleet.mtls.csr" in message
    assert snapshot(work) == before


def test_sign_csr_tampered_signature(play, work: Path, work_ca: Path, pki: Pki) -> None:
    tampered = flip_last_byte(pki.hosts[WEB1].csr)
    before = snapshot(work)

    message = expect_failure(play([build_sign_task(work_ca, tampered)]), "sign")

    assert f"requests[{WEB1}]" in message
    assert "signature does not verify" in message
    assert "build it again with certfleet.mtls.csr" in message
    assert snapshot(work) == before


def test_sign_csr_san_outside_policy(play, work: Path, work_ca: Path) -> None:
    csr = build_csr(generate_ec_key(), WEB1, [WEB1, "evil.example.com"])
    before = snapshot(work)

    run = play([
        build_checked_sign_task(work_ca, csr, allowed_dns_suffixes=["example.internal"]),
        build_sign_task(work_ca, csr, allowed_dns_suffixes=["example.internal"]),
    ])

    for task_name in ("sign in check mode", "sign"):
        message = expect_failure(run, task_name)
        assert "DNS:evil.example.com" in message, task_name
        assert "outside the policy" in message, task_name
        assert "DNS suffixes example.internal" in message, task_name
        assert "request only allowed names or extend the policy" in message, task_name
    assert snapshot(work) == before


def test_sign_csr_rsa_1024_key(play, work: Path, work_ca: Path) -> None:
    weak_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    csr = build_csr(weak_key, WEB1, [WEB1])
    before = snapshot(work)

    run = play([build_checked_sign_task(work_ca, csr), build_sign_task(work_ca, csr)])

    for task_name in ("sign in check mode", "sign"):
        message = expect_failure(run, task_name)
        assert f"requests[{WEB1}]" in message, task_name
        assert "RSA key of 1024 bits" in message, task_name
        assert "minimum of 2048 bits" in message, task_name
        assert "key_type rsa-2048 or stronger" in message, task_name
    assert snapshot(work) == before


def test_wrong_ca_passphrase(play, work: Path, work_ca: Path, pki: Pki) -> None:
    wrong = "not-the-ca-passphrase"
    sign = build_sign_task(work_ca, pki.hosts[WEB1].csr)
    sign["certfleet.mtls.sign_csr"]["passphrase"] = wrong
    tasks = [
        {"name": "ca", "certfleet.mtls.ca": {"path": str(work_ca), "passphrase": wrong}, "ignore_errors": True},
        sign,
    ]
    before = snapshot(work)

    run = play(tasks)

    for task_name in ("ca", "sign"):
        message = expect_failure(run, task_name)
        assert str(work_ca / "root.key") in message, task_name
        assert "could not be decrypted" in message, task_name
        assert "passphrase is wrong" in message, task_name
        assert "set passphrase" in message, task_name
    assert snapshot(work) == before


def test_ca_key_not_matching_certificate(play, work: Path, work_ca: Path, pki: Pki) -> None:
    shutil.copy2(pki.other_ca_path / "root.key", work_ca / "root.key")
    tasks = [
        {"name": "ca", "certfleet.mtls.ca": {"path": str(work_ca), "passphrase": PASSPHRASE}, "ignore_errors": True},
        build_sign_task(work_ca, pki.hosts[WEB1].csr),
    ]
    before = snapshot(work)

    run = play(tasks)

    for task_name in ("ca", "sign"):
        message = expect_failure(run, task_name)
        assert str(work_ca / "root.key") in message, task_name
        assert "does not belong to the CA certificate" in message, task_name
        assert str(work_ca / "root.pem") in message, task_name
        assert "restore the matching pair from backup" in message, task_name
    assert snapshot(work) == before


def build_encrypted_key() -> bytes:
    """Build a PEM P-256 key encrypted with a passphrase that the test never passes."""
    return generate_ec_key().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"host-key-passphrase"),
    )


def build_pkcs8_under_rsa_label() -> bytes:
    """Build an unencrypted PKCS#8 RSA key whose BEGIN/END lines read 'RSA PRIVATE KEY', the PKCS#1 label."""
    pkcs8 = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return pkcs8.replace(b" PRIVATE KEY-----", b" RSA PRIVATE KEY-----")


@pytest.mark.parametrize(
    ("make_content", "phrases"),
    [
        pytest.param(
            lambda: b"this file holds no key\n",
            ["contains no PEM private key", "remove the file to generate a new key"],
            id="garbage",
        ),
        pytest.param(
            build_encrypted_key,
            ["is encrypted and a passphrase is required", "set the passphrase option"],
            id="encrypted-without-passphrase",
        ),
        pytest.param(
            build_pkcs8_under_rsa_label,
            ["label 'RSA PRIVATE KEY'", "PKCS#8 body", "change the BEGIN/END lines"],
            id="pkcs8-under-rsa-label",
        ),
    ],
)
def test_private_key_unreadable_existing_key(play, work: Path, make_content, phrases: list[str]) -> None:
    key_path = work / "host.key"
    key_path.write_bytes(make_content())
    key_path.chmod(0o600)
    # A key that cannot be read is never replaced, not even with regenerate=always.
    tasks = [
        {"name": regenerate, "certfleet.mtls.private_key": {"path": str(key_path), "regenerate": regenerate}, "ignore_errors": True}
        for regenerate in ("on_mismatch", "always")
    ]
    before = snapshot(work)

    run = play(tasks)

    for task_name in ("on_mismatch", "always"):
        message = expect_failure(run, task_name)
        assert str(key_path) in message, task_name
        for phrase in phrases:
            assert phrase in message, (task_name, phrase)
    assert snapshot(work) == before


def test_certificate_not_matching_key(play, work: Path, pki: Pki) -> None:
    # web2's key and installed files, and then web1's certificate arrives.
    paths = install_host_files(pki, pki.hosts[WEB2], work / "tls")
    before = snapshot(work)

    run = play([build_install_task(paths, pki.hosts[WEB1].certificate, pki.chain, pki.bundle)])

    message = expect_failure(run, "install")
    assert f"serial {pki.hosts[WEB1].serial}" in message
    assert "does not match the private key" in message
    assert str(paths["key"]) in message
    assert "sign a CSR made from this key" in message
    assert snapshot(work) == before


def test_certificate_chain_not_leading_to_bundle(play, work: Path, pki: Pki) -> None:
    paths = install_host_files(pki, pki.hosts[WEB1], work / "tls")
    before = snapshot(work)

    run = play([build_install_task(paths, pki.hosts[WEB1].certificate, pki.chain, pki.other_bundle)])

    message = expect_failure(run, "install")
    assert "does not chain to ca_bundle" in message
    assert "no issuer of 'CN=certfleet root CA issuing'" in message
    assert "pass the chain and bundle of the CA that signed it" in message
    assert snapshot(work) == before


def test_ca_without_passphrase(play, work: Path) -> None:
    ca_path = work / "ca"

    run = play([{"name": "ca", "certfleet.mtls.ca": {"path": str(ca_path)}, "ignore_errors": True}])

    message = expect_failure(run, "ca")
    assert "passphrase is not set" in message
    assert "set passphrase" in message
    assert "allow_unencrypted_key=true" in message
    assert not ca_path.exists()
