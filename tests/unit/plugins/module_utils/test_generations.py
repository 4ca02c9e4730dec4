"""Tests for _generations: the certificate directory with generations, links and a staged key."""

from __future__ import annotations

import datetime
import errno
import json
import os
import threading

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ansible_collections.certfleet.mtls.plugins.module_utils import _generations
from ansible_collections.certfleet.mtls.plugins.module_utils._errors import CertfleetError
from ansible_collections.certfleet.mtls.plugins.module_utils._keys import keys_match, load_private_key, serialize_private_key

FIRST = "20300101T000000Z-aaaa"
SECOND = "20300102T000000Z-bbbb"
THIRD = "20300103T000000Z-cccc"
FOURTH = "20300104T000000Z-dddd"
FIFTH = "20300105T000000Z-eeee"
METADATA = {"serial": "aaaa", "requested_validity": "90d"}


def placeholder_files(label: str) -> dict[str, bytes]:
    """Return the five generation files with contents that name ``label`` and the file."""
    return {name: f"{label} {name}\n".encode("ascii") for name in _generations.FILES}


def read_mode(path: str) -> int:
    return os.stat(path).st_mode & 0o777


def link_target(directory: str, name: str) -> str:
    return os.readlink(os.path.join(directory, name))


def temporary_entries(directory: str) -> list[str]:
    """List every ``.tmp-`` entry in the directory and in ``generations/``."""
    found = [name for name in os.listdir(directory) if name.startswith(".tmp-")]
    generations_dir = os.path.join(directory, _generations.GENERATIONS)
    found += [name for name in os.listdir(generations_dir) if name.startswith(".tmp-")]
    return found


@pytest.fixture
def directory(tmp_path) -> str:
    """A certificate directory made by ensure_layout, with no generation yet."""
    path = str(tmp_path / "tls")
    _generations.ensure_layout(path, None, None)
    return path


def install(directory: str, generation_id: str, files: dict[str, bytes] | None = None) -> str:
    """Write a generation with placeholder files, select it and return its path."""
    path = _generations.write_generation(
        directory, generation_id, files or placeholder_files(generation_id), METADATA, None, None, 0o644,
    )
    _generations.switch_to(directory, path)
    return path


def test_layout_modes(tmp_path):
    path = str(tmp_path / "tls")

    previous_umask = os.umask(0)
    try:
        created = _generations.ensure_layout(path, None, None)
    finally:
        os.umask(previous_umask)

    assert created is True
    assert read_mode(path) == 0o700
    assert read_mode(os.path.join(path, "generations")) == 0o700
    assert read_mode(os.path.join(path, "staged")) == 0o700
    assert _generations.ensure_layout(path, None, None) is False


def test_write_generation_files_and_modes(directory):
    files = placeholder_files(FIRST)

    path = _generations.write_generation(directory, FIRST, files, METADATA, None, None, 0o644)

    assert path == os.path.join(directory, "generations", FIRST)
    assert sorted(os.listdir(path)) == ["ca.pem", "cert.pem", "chain.pem", "fullchain.pem", "key.pem", "meta.json"]
    for name, data in files.items():
        with open(os.path.join(path, name), "rb") as handle:
            assert handle.read() == data, name
    assert read_mode(path) == 0o700
    assert read_mode(os.path.join(path, "key.pem")) == 0o600
    for name in ("cert.pem", "chain.pem", "fullchain.pem", "ca.pem", "meta.json"):
        assert read_mode(os.path.join(path, name)) == 0o644, name
    with open(os.path.join(path, "meta.json"), encoding="utf-8") as handle:
        assert json.load(handle) == METADATA
    assert temporary_entries(directory) == []
    # Writing does not select the generation.
    assert _generations.generation_path(directory, "current") is None


def test_write_generation_existing_id_rejected(directory):
    install(directory, FIRST)

    with pytest.raises(CertfleetError) as caught:
        _generations.write_generation(directory, FIRST, placeholder_files("again"), METADATA, None, None, 0o644)

    assert "already exists" in str(caught.value)
    with open(os.path.join(directory, "cert.pem"), "rb") as handle:
        assert handle.read() == f"{FIRST} cert.pem\n".encode("ascii")


def test_write_generation_failure_leaves_nothing(directory, monkeypatch):
    install(directory, FIRST)
    real_write_atomic = _generations.write_atomic
    written = []

    def failing_write_atomic(path, data, mode, owner=None, group=None):
        if len(written) == 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
        real_write_atomic(path, data, mode, owner, group)
        written.append(os.path.basename(path))

    monkeypatch.setattr(_generations, "write_atomic", failing_write_atomic)

    with pytest.raises(CertfleetError) as caught:
        _generations.write_generation(directory, SECOND, placeholder_files(SECOND), METADATA, None, None, 0o644)

    generations_dir = os.path.join(directory, "generations")
    assert str(caught.value) == (
        f"writing the new generation in {generations_dir!r} failed: No space left on device; "
        "the certificate in use is unchanged"
    )
    assert written == ["key.pem", "cert.pem"]
    assert os.listdir(generations_dir) == [FIRST]
    assert temporary_entries(directory) == []
    assert link_target(directory, "current") == os.path.join("generations", FIRST)
    with open(os.path.join(directory, "cert.pem"), "rb") as handle:
        assert handle.read() == f"{FIRST} cert.pem\n".encode("ascii")


def test_switch_to_creates_stable_links(directory):
    install(directory, FIRST)

    assert link_target(directory, "current") == os.path.join("generations", FIRST)
    assert not os.path.lexists(os.path.join(directory, "previous"))
    for name in _generations.FILES:
        assert link_target(directory, name) == os.path.join("current", name)
        with open(os.path.join(directory, name), "rb") as handle:
            assert handle.read() == f"{FIRST} {name}\n".encode("ascii"), name
    assert _generations.read_metadata(directory) == METADATA


def test_switch_to_keeps_previous(directory):
    install(directory, FIRST)

    install(directory, SECOND)

    assert link_target(directory, "current") == os.path.join("generations", SECOND)
    assert link_target(directory, "previous") == os.path.join("generations", FIRST)
    assert _generations.read_generation_file(directory, "cert.pem") == f"{SECOND} cert.pem\n".encode("ascii")
    assert _generations.read_generation_file(directory, "cert.pem", "previous") == f"{FIRST} cert.pem\n".encode("ascii")


def test_switch_to_current_again_keeps_previous(directory):
    install(directory, FIRST)
    second = install(directory, SECOND)

    _generations.switch_to(directory, second)

    assert link_target(directory, "current") == os.path.join("generations", SECOND)
    assert link_target(directory, "previous") == os.path.join("generations", FIRST)


def test_roll_back_restores_previous(directory):
    install(directory, FIRST)
    install(directory, SECOND)

    restored = _generations.roll_back(directory)

    assert restored == FIRST
    assert link_target(directory, "current") == os.path.join("generations", FIRST)
    assert not os.path.lexists(os.path.join(directory, "previous"))
    with open(os.path.join(directory, "key.pem"), "rb") as handle:
        assert handle.read() == f"{FIRST} key.pem\n".encode("ascii")
    # The generation rolled back from stays on disk for inspection.
    assert sorted(os.listdir(os.path.join(directory, "generations"))) == [FIRST, SECOND]


def test_roll_back_without_previous_raises(directory):
    install(directory, FIRST)

    with pytest.raises(CertfleetError) as caught:
        _generations.roll_back(directory)

    assert str(caught.value) == f"{directory!r} has no previous generation to roll back to"
    assert link_target(directory, "current") == os.path.join("generations", FIRST)


def test_roll_back_twice_raises(directory):
    install(directory, FIRST)
    install(directory, SECOND)
    _generations.roll_back(directory)

    with pytest.raises(CertfleetError) as caught:
        _generations.roll_back(directory)

    assert "has no previous generation to roll back to" in str(caught.value)
    assert link_target(directory, "current") == os.path.join("generations", FIRST)


def test_prune_keeps_selected_and_newest(directory):
    for generation_id in (FIRST, SECOND, THIRD, FOURTH, FIFTH):
        _generations.write_generation(directory, generation_id, placeholder_files(generation_id), METADATA, None, None, 0o644)
    _generations.switch_to(directory, os.path.join(directory, "generations", FIRST))
    _generations.switch_to(directory, os.path.join(directory, "generations", THIRD))

    removed = _generations.prune(directory, keep=1)

    assert removed == [SECOND, FOURTH]
    assert sorted(os.listdir(os.path.join(directory, "generations"))) == [FIRST, THIRD, FIFTH]
    assert link_target(directory, "current") == os.path.join("generations", THIRD)
    assert link_target(directory, "previous") == os.path.join("generations", FIRST)


def test_prune_keeps_newest_count(directory):
    for generation_id in (FIRST, SECOND, THIRD, FOURTH, FIFTH):
        install(directory, generation_id)

    removed = _generations.prune(directory, keep=3)

    assert removed == [FIRST, SECOND]
    assert sorted(os.listdir(os.path.join(directory, "generations"))) == [THIRD, FOURTH, FIFTH]


def test_repair_removes_leftovers_and_points_current(directory):
    generations_dir = os.path.join(directory, "generations")
    for generation_id in (FIRST, SECOND):
        _generations.write_generation(directory, generation_id, placeholder_files(generation_id), METADATA, None, None, 0o644)
    # A newer generation that lacks ca.pem is not complete, so current must not select it.
    incomplete = os.path.join(generations_dir, THIRD)
    os.mkdir(incomplete, 0o700)
    for name in ("key.pem", "cert.pem"):
        with open(os.path.join(incomplete, name), "wb") as handle:
            handle.write(b"partial\n")
    half_written = os.path.join(generations_dir, ".tmp-" + FOURTH)
    os.mkdir(half_written, 0o700)
    with open(os.path.join(half_written, "key.pem"), "wb") as handle:
        handle.write(b"partial\n")
    os.symlink(os.path.join("generations", SECOND), os.path.join(directory, ".tmp-current"))

    repairs = _generations.repair(directory)

    assert repairs == [
        f"removed the incomplete generation .tmp-{FOURTH}",
        "removed the temporary link .tmp-current",
        f"pointed current at {SECOND}",
        "restored the stable links",
    ]
    assert temporary_entries(directory) == []
    assert link_target(directory, "current") == os.path.join("generations", SECOND)
    for name in _generations.FILES:
        assert link_target(directory, name) == os.path.join("current", name)
    assert _generations.repair(directory) == []


def test_repair_dangling_current(directory):
    install(directory, FIRST)
    install(directory, SECOND)
    os.rename(os.path.join(directory, "generations", SECOND), os.path.join(directory, "moved-away"))

    repairs = _generations.repair(directory)

    assert repairs == [f"pointed current at {FIRST}"]
    assert link_target(directory, "current") == os.path.join("generations", FIRST)
    with open(os.path.join(directory, "cert.pem"), "rb") as handle:
        assert handle.read() == f"{FIRST} cert.pem\n".encode("ascii")


def test_repair_restores_stable_links(directory):
    install(directory, FIRST)
    os.unlink(os.path.join(directory, "cert.pem"))
    os.unlink(os.path.join(directory, "ca.pem"))
    os.symlink("elsewhere/key.pem", os.path.join(directory, ".tmp-key.pem"))

    repairs = _generations.repair(directory)

    assert repairs == ["removed the temporary link .tmp-key.pem", "restored the stable links"]
    assert link_target(directory, "cert.pem") == os.path.join("current", "cert.pem")
    assert link_target(directory, "ca.pem") == os.path.join("current", "ca.pem")


def test_repair_without_generations(tmp_path):
    assert _generations.repair(str(tmp_path / "missing")) == []
    assert _generations.repair(str(tmp_path)) == []


def test_plain_files_kept_before_generations(tmp_path):
    # A directory from a layout without generations has the key and certificate as plain files.
    directory = str(tmp_path / "tls")
    os.mkdir(directory, 0o700)
    for name in ("key.pem", "cert.pem"):
        with open(os.path.join(directory, name), "wb") as handle:
            handle.write(f"old {name}\n".encode("ascii"))
    _generations.ensure_layout(directory, None, None)

    install(directory, FIRST)

    for name in ("key.pem", "cert.pem"):
        assert link_target(directory, name) == os.path.join("current", name)
        with open(os.path.join(directory, f"{name}.before-generations"), "rb") as handle:
            assert handle.read() == f"old {name}\n".encode("ascii"), name
    assert not os.path.lexists(os.path.join(directory, "chain.pem.before-generations"))
    with open(os.path.join(directory, "key.pem"), "rb") as handle:
        assert handle.read() == f"{FIRST} key.pem\n".encode("ascii")


def test_read_metadata_missing_or_invalid(directory):
    assert _generations.read_metadata(directory) == {}

    path = install(directory, FIRST)
    with open(os.path.join(path, "meta.json"), "w", encoding="utf-8") as handle:
        handle.write("{not json")

    assert _generations.read_metadata(directory) == {}


def test_new_generation_id():
    now = datetime.datetime(2030, 1, 15, 12, 0, 5, tzinfo=datetime.timezone.utc)

    assert _generations.new_generation_id(now, "7f3a9c0d1e2b4a5968778695") == "20300115T120005Z-7f3a9c0d1e2b"
    assert _generations.new_generation_id(now, "-01ab") == "20300115T120005Z-01ab"


def pem_generation_files(leaf, ca) -> dict[str, bytes]:
    """Return the five generation files for an issued leaf, as certificate_generation writes them."""
    pem = serialization.Encoding.PEM
    leaf_pem = leaf.certificate.public_bytes(pem)
    chain_pem = b"".join(item.public_bytes(pem) for item in ca.signer.chain)
    return {
        "key.pem": serialize_private_key(leaf.key, None),
        "cert.pem": leaf_pem,
        "chain.pem": chain_pem,
        "fullchain.pem": leaf_pem + chain_pem,
        "ca.pem": b"".join(item.public_bytes(pem) for item in ca.signer.bundle),
    }


def test_readers_see_complete_files_during_switch(directory, ca, issue):
    first = install(directory, FIRST, pem_generation_files(issue(ca.signer), ca))
    second = install(directory, SECOND, pem_generation_files(issue(ca.signer), ca))
    expected = {}
    for path in (first, second):
        for name in ("key.pem", "cert.pem"):
            with open(os.path.join(path, name), "rb") as handle:
                expected.setdefault(name, set()).add(handle.read())
    started = threading.Event()
    stop = threading.Event()
    failures = []
    counts = {"stable": 0, "resolved": 0}

    def read_loop():
        while not stop.is_set():
            try:
                # Through the stable links, as a service reads them: two separate opens.
                for name in ("key.pem", "cert.pem"):
                    with open(os.path.join(directory, name), "rb") as handle:
                        data = handle.read()
                    if data not in expected[name]:
                        failures.append(f"{name} read {len(data)} bytes that match neither generation")
                counts["stable"] += 1
                # Through one resolved generation directory, key and certificate always match.
                generation = os.path.realpath(os.path.join(directory, "current"))
                with open(os.path.join(generation, "key.pem"), "rb") as handle:
                    key = load_private_key(handle.read(), None, "key.pem")[0]
                with open(os.path.join(generation, "cert.pem"), "rb") as handle:
                    certificate = x509.load_pem_x509_certificate(handle.read())
                if not keys_match(key, certificate.public_key()):
                    failures.append(f"key and certificate in {generation} do not match")
                counts["resolved"] += 1
                started.set()
            except OSError as error:
                failures.append(f"read failed: {error}")

    reader = threading.Thread(target=read_loop)
    reader.start()
    try:
        assert started.wait(timeout=30)
        for switch in range(200):
            _generations.switch_to(directory, first if switch % 2 == 0 else second)
    finally:
        stop.set()
        reader.join(timeout=30)

    assert not reader.is_alive()
    assert failures == []
    assert counts["stable"] > 0
    assert counts["resolved"] > 0
    assert link_target(directory, "current") == os.path.join("generations", SECOND)
    assert link_target(directory, "previous") == os.path.join("generations", FIRST)
