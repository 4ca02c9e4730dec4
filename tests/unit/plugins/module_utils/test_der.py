"""Tests for _der: reading and writing DER elements and OIDs."""

from __future__ import annotations

import pytest

from ansible_collections.certfleet.mtls.plugins.module_utils import _der


@pytest.mark.parametrize("length", [0, 1, 127, 128, 255, 256, 70000])
def test_encode_read_round_trip(length):
    content = bytes(range(256)) * (length // 256) + bytes(length % 256)

    encoded = _der.encode_element(_der.TAG_OCTET_STRING, content)
    element, end = _der.read_element(encoded)

    assert element.tag == _der.TAG_OCTET_STRING
    assert element.content == content
    assert element.encoded == encoded
    assert end == len(encoded)


def test_encode_long_form_header():
    assert _der.encode_element(_der.TAG_SEQUENCE, bytes(200))[:3] == bytes([0x30, 0x81, 200])
    assert _der.encode_element(_der.TAG_SEQUENCE, bytes(300))[:4] == bytes([0x30, 0x82, 0x01, 0x2C])


def test_read_at_offset():
    data = _der.encode_element(_der.TAG_INTEGER, b"\x01") + _der.encode_element(_der.TAG_INTEGER, b"\x02")

    first, offset = _der.read_element(data)
    second, end = _der.read_element(data, offset)

    assert first.content == b"\x01"
    assert second.content == b"\x02"
    assert end == len(data)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x30",
        b"\x30\x05\x00",
        b"\x30\x80\x00\x00",
        b"\x30\x85\x00\x00\x00\x00\x01\x00",
        b"\x30\x82\x01",
    ],
)
def test_read_rejects_bad_lengths(data):
    with pytest.raises(ValueError):
        _der.read_element(data)


def test_iterate_children():
    inner = _der.encode_element(_der.TAG_INTEGER, b"\x05") + _der.encode_oid("2.5.29.19")

    children = list(_der.iterate_children(inner))

    assert [child.tag for child in children] == [_der.TAG_INTEGER, _der.TAG_OID]
    assert _der.decode_oid(children[1].content) == "2.5.29.19"


@pytest.mark.parametrize(
    ("dotted", "encoded_hex"),
    [
        ("2.5.29.19", "0603551d13"),
        ("1.2.840.113549.1.5.13", "06092a864886f70d01050d"),
        ("1.2.840.10045.4.3.2", "06082a8648ce3d040302"),
        ("2.999.1", "0603883701"),
    ],
)
def test_oid_encoding(dotted, encoded_hex):
    encoded = _der.encode_oid(dotted)

    assert encoded.hex() == encoded_hex
    assert _der.decode_oid(encoded[2:]) == dotted


def test_decode_empty_oid():
    with pytest.raises(ValueError):
        _der.decode_oid(b"")
