"""Tests for _chain: path building (roots among intermediates, cross-signing cycles) and path checks."""

from __future__ import annotations

import datetime
import threading

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from ansible_collections.certfleet.mtls.plugins.module_utils._chain import (
    MAX_CHAIN_LENGTH,
    build_chain,
    check_path,
    is_issued_by,
    verify_signature,
)
from ansible_collections.certfleet.mtls.plugins.module_utils._errors import CertfleetError
from ansible_collections.certfleet.mtls.plugins.module_utils._keys import signature_hash
from ansible_collections.certfleet.mtls.plugins.module_utils._names import build_subject
from ansible_collections.certfleet.mtls.plugins.module_utils._profiles import ca_key_usage

from pki_helpers import NOW

ONE_SECOND = datetime.timedelta(seconds=1)
WALK_TIMEOUT_SECONDS = 30


def make_certificate(
    subject: str,
    key,
    issuer: str,
    issuer_key,
    ca: bool | None = True,
    key_cert_sign: bool = True,
    not_before: datetime.datetime = NOW - datetime.timedelta(days=1),
    not_after: datetime.datetime = NOW + datetime.timedelta(days=365),
) -> x509.Certificate:
    """Build a certificate with cryptography's builder; ``ca=None`` leaves out basicConstraints."""
    builder = (
        x509.CertificateBuilder()
        .subject_name(build_subject(subject))
        .issuer_name(build_subject(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    if ca is not None:
        builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    if ca and key_cert_sign:
        builder = builder.add_extension(ca_key_usage(), critical=True)
    return builder.sign(issuer_key, signature_hash(issuer_key))


def new_key():
    return ec.generate_private_key(ec.SECP256R1())


def walk_with_timeout(leaf, intermediates, anchors):
    """Run build_chain in a thread and return ("path", path) or ("error", message); fail on a hang."""
    outcome = {}

    def walk():
        try:
            outcome["path"] = build_chain(leaf, intermediates, anchors)
        except CertfleetError as error:
            outcome["error"] = str(error)

    worker = threading.Thread(target=walk, daemon=True)
    worker.start()
    worker.join(timeout=WALK_TIMEOUT_SECONDS)
    assert not worker.is_alive(), f"build_chain did not return within {WALK_TIMEOUT_SECONDS} seconds"
    return next(iter(outcome.items()))


@pytest.fixture
def three_levels(ca, issue):
    """Return (leaf, intermediate, root) from the shared CA."""
    leaf = issue(ca.signer).certificate
    return leaf, ca.signer.chain[0], ca.signer.bundle[0]


def test_build_chain_three_levels(three_levels):
    leaf, intermediate, root = three_levels

    assert build_chain(leaf, [intermediate], [root]) == [leaf, intermediate, root]


def test_build_chain_root_among_intermediates(three_levels):
    leaf, intermediate, root = three_levels

    path = build_chain(leaf, [root, intermediate, root], [root])

    assert path == [leaf, intermediate, root]


def test_build_chain_leaf_is_anchor(three_levels):
    leaf, intermediate, root = three_levels

    assert build_chain(leaf, [intermediate], [leaf]) == [leaf]


def test_build_chain_intermediate_as_anchor(three_levels):
    leaf, intermediate, _root = three_levels

    assert build_chain(leaf, [], [intermediate]) == [leaf, intermediate]


def test_build_chain_no_issuer(three_levels):
    leaf, _intermediate, root = three_levels

    with pytest.raises(CertfleetError) as caught:
        build_chain(leaf, [], [root])

    message = str(caught.value)
    assert message.startswith("no issuer of 'CN=web1.example.org'")
    assert "issued by 'CN=Fleet Issuing CA,O=Example Fleet'" in message


def test_build_chain_root_not_in_bundle(three_levels, make_ca):
    leaf, intermediate, root = three_levels
    other_root = make_ca("other").signer.bundle[0]

    with pytest.raises(CertfleetError) as caught:
        build_chain(leaf, [intermediate, root], [other_root])

    message = str(caught.value)
    assert "the chain ends at the root 'CN=Fleet Root CA,O=Example Fleet'" in message
    assert "not in the trust bundle" in message


def test_build_chain_ignores_same_name_impostor(three_levels):
    leaf, intermediate, root = three_levels
    impostor = make_certificate("Fleet Issuing CA", new_key(), "Fleet Root CA", new_key())

    path = build_chain(leaf, [impostor, intermediate], [root])

    assert path == [leaf, intermediate, root]


def test_cross_signed_cycle_no_anchor():
    key_a, key_b = new_key(), new_key()
    a_by_b = make_certificate("CA A", key_a, "CA B", key_b)
    b_by_a = make_certificate("CA B", key_b, "CA A", key_a)
    leaf = make_certificate("web1", new_key(), "CA A", key_a, ca=False)
    unrelated = make_certificate("Unrelated Root", new_key(), "Unrelated Root", new_key())

    kind, result = walk_with_timeout(leaf, [a_by_b, b_by_a], [unrelated])

    # The walk goes leaf, A signed by B, B signed by A, and then finds only visited certificates.
    assert kind == "error"
    assert "no issuer of 'CN=CA B' (issued by 'CN=CA A')" in result


def test_cross_signed_cycle_with_anchor():
    key_a, key_b = new_key(), new_key()
    a_by_b = make_certificate("CA A", key_a, "CA B", key_b)
    b_by_a = make_certificate("CA B", key_b, "CA A", key_a)
    root_b = make_certificate("CA B", key_b, "CA B", key_b)
    leaf = make_certificate("web1", new_key(), "CA A", key_a, ca=False)

    kind, result = walk_with_timeout(leaf, [b_by_a, a_by_b], [root_b])

    assert kind == "path"
    assert result == [leaf, a_by_b, root_b]


def test_cross_signed_cycle_same_names():
    # Both CAs use one name, so each cross certificate is self-issued but signed by the other key.
    key_a, key_b = new_key(), new_key()
    a_by_b = make_certificate("Fleet CA", key_a, "Fleet CA", key_b)
    b_by_a = make_certificate("Fleet CA", key_b, "Fleet CA", key_a)
    leaf = make_certificate("web1", new_key(), "Fleet CA", key_a, ca=False)
    unrelated = make_certificate("Unrelated Root", new_key(), "Unrelated Root", new_key())

    kind, result = walk_with_timeout(leaf, [a_by_b, b_by_a], [unrelated])

    assert kind == "error"
    assert "the chain ends at the root 'CN=Fleet CA'" in result


def test_build_chain_too_long():
    keys = [new_key() for _index in range(MAX_CHAIN_LENGTH + 2)]
    cas = [make_certificate(f"CA {index}", keys[index], f"CA {index + 1}", keys[index + 1]) for index in range(len(keys) - 1)]
    leaf = make_certificate("web1", new_key(), "CA 0", keys[0], ca=False)
    unrelated = make_certificate("Unrelated Root", new_key(), "Unrelated Root", new_key())

    kind, result = walk_with_timeout(leaf, cas, [unrelated])

    assert kind == "error"
    assert f"longer than {MAX_CHAIN_LENGTH} certificates" in result


def test_verify_signature_wrong_key(three_levels):
    leaf, intermediate, root = three_levels

    assert verify_signature(intermediate.public_key(), leaf)
    assert not verify_signature(root.public_key(), leaf)
    assert not is_issued_by(leaf, root)


def test_check_path_valid(three_levels):
    assert check_path(list(three_levels), NOW) == []


def test_check_path_expired(three_levels):
    leaf, _intermediate, _root = three_levels
    after_expiry = NOW + datetime.timedelta(days=90) + ONE_SECOND

    problems = check_path(list(three_levels), after_expiry)

    assert problems == ["'CN=web1.example.org' expired at 2030-04-15T12:00:00Z"]
    assert leaf.subject.rfc4514_string() == "CN=web1.example.org"


def test_check_path_valid_at_not_after(three_levels):
    assert check_path(list(three_levels), NOW + datetime.timedelta(days=90)) == []


def test_check_path_not_yet_valid(three_levels):
    before_issue = NOW - datetime.timedelta(hours=3)

    problems = check_path(list(three_levels), before_issue)

    assert "'CN=web1.example.org' is not valid before 2030-01-15T11:00:00Z" in problems
    assert "'CN=Fleet Issuing CA,O=Example Fleet' is not valid before 2030-01-15T11:00:00Z" in problems
    assert "'CN=Fleet Root CA,O=Example Fleet' is not valid before 2030-01-15T11:00:00Z" in problems


def test_check_path_non_ca_issuer():
    issuer_key = new_key()
    issuer = make_certificate("web0", issuer_key, "web0", issuer_key, ca=False)
    leaf = make_certificate("web1", new_key(), "web0", issuer_key, ca=False)

    problems = check_path([leaf, issuer], NOW)

    assert problems == ["the issuer 'CN=web0' is not a CA (basicConstraints CA is false)"]


def test_check_path_issuer_without_constraints():
    issuer_key = new_key()
    issuer = make_certificate("Old CA", issuer_key, "Old CA", issuer_key, ca=None)
    leaf = make_certificate("web1", new_key(), "Old CA", issuer_key, ca=False)

    problems = check_path([leaf, issuer], NOW)

    assert problems == ["the issuer 'CN=Old CA' has no basicConstraints, so it is not a CA"]


def test_check_path_issuer_without_cert_sign():
    issuer_key = new_key()
    usage = x509.KeyUsage(
        digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
        key_agreement=False, key_cert_sign=False, crl_sign=True, encipher_only=False, decipher_only=False,
    )
    issuer = (
        x509.CertificateBuilder()
        .subject_name(build_subject("CRL CA"))
        .issuer_name(build_subject("CRL CA"))
        .public_key(issuer_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(days=1))
        .not_valid_after(NOW + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .sign(issuer_key, signature_hash(issuer_key))
    )
    leaf = make_certificate("web1", new_key(), "CRL CA", issuer_key, ca=False)

    problems = check_path([leaf, issuer], NOW)

    assert problems == ["the issuer 'CN=CRL CA' lacks the keyCertSign key usage"]
