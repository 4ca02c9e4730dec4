"""Check mode, apply and apply again for each module.

Check mode must report the change and write nothing. Applying makes the change, and
applying again must report no change and leave every file byte-identical, with the
same modification time.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from cryptography import x509

from integration.conftest import HOST_NAMES, PASSPHRASE, Pki
from integration.pki import build_csr, generate_ec_key, run_openssl_verify
from integration.snapshot import snapshot

pytestmark = pytest.mark.integration

WEB1 = HOST_NAMES[0]
CA_FILES = {"root.key", "root.pem", "intermediate.key", "intermediate.pem", "bundle.pem", "chain.pem"}


def copy_host_key(pki: Pki, directory: Path) -> Path:
    """Copy web1's key from the shared PKI into ``directory`` and return the copy's path."""
    directory.mkdir(mode=0o700, exist_ok=True)
    return Path(shutil.copy2(pki.hosts[WEB1].key_path, directory / "key.pem"))


def test_private_key_check_apply_again(play, work: Path) -> None:
    key_path = work / "host.key"
    tasks = [{"name": "key", "certfleet.mtls.private_key": {"path": str(key_path)}}]

    checked = play(tasks, check=True).ok("key")
    assert checked["changed"] is True
    assert not key_path.exists()

    applied = play(tasks).ok("key")
    assert applied["changed"] is True
    assert key_path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    written = snapshot(work)

    again = play(tasks).ok("key")
    assert again["changed"] is False
    assert again["public_key_fingerprint"] == applied["public_key_fingerprint"]
    assert snapshot(work) == written


def test_csr_check_apply_again(play, work: Path, pki: Pki) -> None:
    key_path = copy_host_key(pki, work / "tls")
    csr_path = work / "tls" / "host.csr"
    arguments = {"private_key_path": str(key_path), "common_name": WEB1, "subject_alt_names": ["IP:10.0.0.5"]}
    tasks = [
        {"name": "stored", "certfleet.mtls.csr": {**arguments, "path": str(csr_path)}},
        {"name": "returned only", "certfleet.mtls.csr": arguments},
    ]
    key_only = snapshot(work)

    checked = play(tasks, check=True)
    assert checked.ok("stored")["changed"] is True
    assert checked.ok("returned only")["changed"] is False
    assert snapshot(work) == key_only

    applied = play(tasks)
    assert applied.ok("stored")["changed"] is True
    assert applied.ok("returned only")["changed"] is False
    assert csr_path.read_text() == applied.ok("stored")["csr"]
    assert applied.ok("stored")["subject_alt_names"] == [f"DNS:{WEB1}", "IP:10.0.0.5"]
    written = snapshot(work)

    again = play(tasks)
    assert again.ok("stored")["changed"] is False
    assert again.ok("returned only")["changed"] is False
    assert again.ok("stored")["csr"] == applied.ok("stored")["csr"]
    assert snapshot(work) == written


def test_ca_check_apply_again(play, work: Path) -> None:
    ca_path = work / "ca"
    tasks = [{"name": "ca", "certfleet.mtls.ca": {"path": str(ca_path), "passphrase": PASSPHRASE}}]

    checked = play(tasks, check=True).ok("ca")
    assert checked["changed"] is True
    assert checked["root"]["created"] is True
    assert not ca_path.exists()

    applied = play(tasks).ok("ca")
    assert applied["changed"] is True
    assert {path.name for path in ca_path.iterdir()} == CA_FILES
    assert (ca_path / "bundle.pem").read_text() == applied["bundle"]
    assert (ca_path / "chain.pem").read_text() == applied["chain"]
    written = snapshot(work)

    again = play(tasks).ok("ca")
    assert again["changed"] is False
    assert again["root"]["created"] is False
    assert again["intermediate"]["created"] is False
    assert again["root"]["sha256_fingerprint"] == applied["root"]["sha256_fingerprint"]
    assert snapshot(work) == written


def test_sign_csr_check_then_apply(play, work: Path, work_ca: Path, pki: Pki, tmp_path: Path) -> None:
    tasks = [{
        "name": "sign",
        "certfleet.mtls.sign_csr": {
            "ca_path": str(work_ca), "passphrase": PASSPHRASE, "csr": pki.hosts[WEB1].csr, "name": WEB1,
            "allowed_dns_suffixes": ["example.internal"],
        },
    }]
    ca_files = snapshot(work)

    checked = play(tasks, check=True).ok("sign")
    assert checked["certificates"] == []
    assert "certificate" not in checked
    assert snapshot(work) == ca_files

    applied = play(tasks).ok("sign")
    assert applied["changed"] is True
    assert [entry["name"] for entry in applied["certificates"]] == [WEB1]
    assert applied["certificate"] == applied["certificates"][0]["certificate"]
    verified = run_openssl_verify(tmp_path / "openssl", applied["certificate"], applied["ca_bundle"], applied["chain"], WEB1)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert snapshot(work) == ca_files


def test_sign_csr_batch_distinct_serials(play, work_ca: Path, tmp_path: Path) -> None:
    names = [f"host{number}.example.internal" for number in (1, 2, 3)]
    requests = [{"name": name, "csr": build_csr(generate_ec_key(), name, [name])} for name in names]
    tasks = [{
        "name": "sign",
        "certfleet.mtls.sign_csr": {
            "ca_path": str(work_ca), "passphrase": PASSPHRASE, "requests": requests,
            "allowed_dns_suffixes": ["example.internal"],
        },
    }]

    signed = play(tasks).ok("sign")

    issued = signed["certificates"]
    assert [entry["name"] for entry in issued] == names
    assert len({entry["serial"] for entry in issued}) == 3
    for entry in issued:
        certificate = x509.load_pem_x509_certificate(entry["certificate"].encode("ascii"))
        assert format(certificate.serial_number, "x") == entry["serial"]
        verified = run_openssl_verify(
            tmp_path / "openssl", entry["certificate"], signed["ca_bundle"], signed["chain"], entry["name"]
        )
        assert verified.returncode == 0, verified.stdout + verified.stderr


def test_certificate_check_apply_again(play, work: Path, pki: Pki) -> None:
    tls = work / "tls"
    key_path = copy_host_key(pki, tls)
    host = pki.hosts[WEB1]
    paths = {name: tls / f"{name}.pem" for name in ("cert", "chain", "fullchain", "ca")}
    tasks = [{
        "name": "install",
        "certfleet.mtls.certificate": {
            "path": str(paths["cert"]),
            "chain_path": str(paths["chain"]),
            "fullchain_path": str(paths["fullchain"]),
            "ca_bundle_path": str(paths["ca"]),
            "private_key_path": str(key_path),
            "certificate": host.certificate,
            "chain": pki.chain,
            "ca_bundle": pki.bundle,
            "common_name": WEB1,
            "profile": "server_client",
        },
    }]

    checked = play(tasks, check=True).ok("install")
    assert checked["changed"] is True
    assert sorted(checked["changed_files"]) == sorted(str(path) for path in paths.values())
    assert [path.name for path in tls.iterdir()] == ["key.pem"]

    applied = play(tasks).ok("install")
    assert applied["changed"] is True
    assert applied["serial"] == host.serial
    assert paths["cert"].read_text() == host.certificate
    assert paths["chain"].read_text() == pki.chain
    assert paths["fullchain"].read_text() == host.certificate + pki.chain
    assert paths["ca"].read_text() == pki.bundle
    assert {path.stat().st_mode & 0o777 for path in paths.values()} == {0o644}
    written = snapshot(work)

    again = play(tasks).ok("install")
    assert again["changed"] is False
    assert again["changed_files"] == []
    assert snapshot(work) == written


# Task name, extra arguments, expected needs_renewal, and a phrase the first renewal reason must contain.
# The shared certificate is valid for 30 days (sign_csr's default) from a notBefore backdated by 5 minutes.
CERTIFICATE_INFO_CASES = [
    ("fresh", {}, False, None),
    ("default threshold at +15d", {"valid_at": "+15d"}, False, None),
    ("default threshold at +29d", {"valid_at": "+29d"}, True, "due for renewal"),
    ("renew_before 10d at +19d", {"renew_before": "10d", "valid_at": "+19d"}, False, None),
    ("renew_before 10d at +21d", {"renew_before": "10d", "valid_at": "+21d"}, True, "renew_before 10d"),
    ("renew_before 50% at +14d", {"renew_before": "50%", "valid_at": "+14d"}, False, None),
    ("renew_before 50% at +16d", {"renew_before": "50%", "valid_at": "+16d"}, True, "renew_before 50%"),
    ("renew_before beyond lifetime at +1d", {"renew_before": "40d", "valid_at": "+1d"}, False, None),
    ("expired at +31d", {"valid_at": "+31d"}, True, "expired"),
]


def test_certificate_info_check_and_apply(play, work: Path, pki: Pki) -> None:
    tls = work / "tls"
    key_path = copy_host_key(pki, tls)
    (tls / "cert.pem").write_text(pki.hosts[WEB1].certificate)
    (tls / "chain.pem").write_text(pki.chain)
    (tls / "ca.pem").write_text(pki.bundle)
    base = {
        "path": str(tls / "cert.pem"),
        "private_key_path": str(key_path),
        "chain_path": str(tls / "chain.pem"),
        "ca_bundle_path": str(tls / "ca.pem"),
        "common_name": WEB1,
        "profile": "server_client",
    }
    tasks = [{"name": "missing", "certfleet.mtls.certificate_info": {**base, "path": str(tls / "absent.pem")}}]
    tasks += [{"name": name, "certfleet.mtls.certificate_info": {**base, **extra}} for name, extra, _needs_renewal, _reason in CERTIFICATE_INFO_CASES]
    before = snapshot(work)

    # The module only reads, so check mode runs a few of the tasks to show that it reports the same.
    checked = play(tasks[:3], check=True)
    applied = play(tasks)

    assert snapshot(work) == before
    for run in (checked, applied):
        missing = run.ok("missing")
        assert missing["changed"] is False
        assert missing["exists"] is False
        assert missing["needs_renewal"] is True
        assert missing["renewal_reasons"] == ["the certificate does not exist"]
    for name, _extra, needs_renewal, reason in CERTIFICATE_INFO_CASES:
        report = applied.ok(name)
        assert report["changed"] is False, name
        assert report["exists"] is True, name
        assert report["needs_renewal"] is needs_renewal, (name, report["renewal_reasons"])
        if reason is None:
            assert report["renewal_reasons"] == [], name
        else:
            assert reason in report["renewal_reasons"][0], (name, report["renewal_reasons"])
    for name in ("fresh", "default threshold at +15d"):
        assert checked.ok(name)["needs_renewal"] is applied.ok(name)["needs_renewal"], name
        assert checked.ok(name)["renew_at"] == applied.ok(name)["renew_at"], name

    fresh = applied.ok("fresh")
    assert fresh["key_matches"] is True
    assert fresh["chains_to_bundle"] is True
    assert fresh["serial"] == pki.hosts[WEB1].serial
    assert "one third of the lifetime" in applied.ok("default threshold at +29d")["renewal_reasons"][0]
    clamped = applied.ok("renew_before beyond lifetime at +1d")
    assert any("renew_before=40d" in warning for warning in clamped.get("warnings", [])), clamped
