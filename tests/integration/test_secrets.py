"""Key material and passphrases never reach the output, even at -vvv or with --diff."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from integration.conftest import HOST_NAMES, PASSPHRASE, Pki
from integration.playbook import JSON_CALLBACK

pytestmark = pytest.mark.integration

WEB1, WEB2 = HOST_NAMES
HOST_KEY_PASSPHRASE = "integration-host-passphrase-9d27"


def read_key_fingerprint(key_path: Path) -> str:
    """Return the SHA-256 of a key file's SubjectPublicKeyInfo as colon-separated hex, as the modules report it."""
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    public_der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(public_der).digest().hex(":")


@pytest.mark.parametrize("callback", ["default", JSON_CALLBACK])
def test_verbose_flow_hides_keys_and_passphrases(play, work: Path, callback: str) -> None:
    ca_path = work / "ca"
    tls = work / "tls"
    tls.mkdir(mode=0o700)
    host_key = {"private_key_path": str(tls / "key.pem"), "passphrase": HOST_KEY_PASSPHRASE}
    tasks = [
        {"name": "ca", "certfleet.mtls.ca": {"path": str(ca_path), "passphrase": PASSPHRASE}},
        {"name": "key", "certfleet.mtls.private_key": {"path": str(tls / "key.pem"), "passphrase": HOST_KEY_PASSPHRASE}},
        {"name": "csr", "certfleet.mtls.csr": {**host_key, "common_name": WEB1}, "register": "host_csr"},
        {
            "name": "sign",
            "certfleet.mtls.sign_csr": {"ca_path": str(ca_path), "passphrase": PASSPHRASE, "csr": "{{ host_csr.csr }}"},
            "register": "signed",
        },
        {
            "name": "install",
            "certfleet.mtls.certificate": {
                **host_key,
                "path": str(tls / "cert.pem"),
                "certificate": "{{ signed.certificate }}",
                "chain": "{{ signed.chain }}",
                "ca_bundle": "{{ signed.ca_bundle }}",
                "common_name": WEB1,
            },
        },
    ]

    run = play(tasks, verbosity=3, callback=callback)

    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    # The output carries the module results, so the checks below search real content.
    assert "BEGIN CERTIFICATE REQUEST" in run.stdout
    assert "PUBLIC KEY" in run.stdout
    if callback == JSON_CALLBACK:
        assert [name for name, _result in run.results] == ["ca", "key", "csr", "sign", "install"]
    for stream_name, text in (("stdout", run.stdout), ("stderr", run.stderr)):
        assert "PRIVATE KEY" not in text, stream_name
        assert PASSPHRASE not in text, stream_name
        assert HOST_KEY_PASSPHRASE not in text, stream_name


def test_diff_shows_fingerprints_and_serials(play, work: Path, pki: Pki) -> None:
    tls = work / "tls"
    tls.mkdir(mode=0o700)
    key_path = Path(shutil.copy2(pki.hosts[WEB1].key_path, tls / "key.pem"))
    rotated_path = Path(shutil.copy2(pki.hosts[WEB2].key_path, tls / "rotated.pem"))
    old_fingerprint = read_key_fingerprint(rotated_path)
    (tls / "cert.pem").write_text(pki.hosts[WEB2].certificate)
    tasks = [
        {"name": "new key", "certfleet.mtls.private_key": {"path": str(tls / "new.pem")}},
        {"name": "rotated key", "certfleet.mtls.private_key": {"path": str(rotated_path), "regenerate": "always"}},
        {
            "name": "install",
            "certfleet.mtls.certificate": {
                "path": str(tls / "cert.pem"),
                "private_key_path": str(key_path),
                "certificate": pki.hosts[WEB1].certificate,
                "chain": pki.chain,
                "ca_bundle": pki.bundle,
            },
        },
    ]

    # What a user reads: the default callback prints each diff as text.
    text_diff_run = play(tasks, check=True, diff=True, callback="default")
    assert text_diff_run.returncode == 0, text_diff_run.stdout[-4000:] + text_diff_run.stderr[-4000:]
    assert "public_key_fingerprint" in text_diff_run.stdout
    assert old_fingerprint in text_diff_run.stdout
    assert pki.hosts[WEB2].serial in text_diff_run.stdout
    assert pki.hosts[WEB1].serial in text_diff_run.stdout

    applied = play(tasks, diff=True)
    new_key = applied.ok("new key")
    assert new_key["diff"]["before"] == {}
    assert new_key["diff"]["after"]["public_key_fingerprint"] == read_key_fingerprint(tls / "new.pem")
    rotated = applied.ok("rotated key")
    assert rotated["diff"]["before"]["public_key_fingerprint"] == old_fingerprint
    assert rotated["diff"]["after"]["public_key_fingerprint"] == read_key_fingerprint(rotated_path)
    assert rotated["diff"]["after"]["public_key_fingerprint"] != old_fingerprint
    install = applied.ok("install")
    assert install["diff"]["before"]["serial"] == pki.hosts[WEB2].serial
    assert install["diff"]["after"]["serial"] == pki.hosts[WEB1].serial
    for run in (text_diff_run, applied):
        assert "PRIVATE KEY" not in run.stdout
        assert "PRIVATE KEY" not in run.stderr
