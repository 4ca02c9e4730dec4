# Copyright (c) certfleet.mtls contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A minimal DER reader and writer. Private: not a public API.

cryptography parses certificates and keys as a whole and raises on the first flaw. To
report which part is flawed (an extension, an encryption scheme), the collection walks
the DER structure itself with these few helpers. They handle definite lengths only,
which is all DER allows.
"""

from __future__ import annotations

from typing import Iterator, NamedTuple

TAG_INTEGER = 0x02
TAG_BIT_STRING = 0x03
TAG_OCTET_STRING = 0x04
TAG_OID = 0x06
TAG_SEQUENCE = 0x30
TAG_SET = 0x31


class Element(NamedTuple):
    """One DER element: its tag, its content bytes and its whole encoding."""

    tag: int
    content: bytes
    encoded: bytes


def read_element(data: bytes, offset: int = 0) -> tuple[Element, int]:
    """Read one element at ``offset`` and return it with the offset after it.

    Raises ValueError on truncated data or a long-form length that DER forbids.
    """
    if offset + 2 > len(data):
        raise ValueError("truncated DER element")
    tag = data[offset]
    length = data[offset + 1]
    position = offset + 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or position + count > len(data):
            raise ValueError("invalid DER length")
        length = int.from_bytes(data[position:position + count], "big")
        position += count
    end = position + length
    if end > len(data):
        raise ValueError("truncated DER element")
    return Element(tag, data[position:end], data[offset:end]), end


def iterate_children(content: bytes) -> Iterator[Element]:
    """Yield the elements inside a constructed element's content, in order."""
    offset = 0
    while offset < len(content):
        element, offset = read_element(content, offset)
        yield element


def decode_oid(content: bytes) -> str:
    """Decode an OBJECT IDENTIFIER's content bytes into dotted form."""
    if not content:
        raise ValueError("empty OID")
    arcs = []
    value = 0
    for byte in content:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(str(arc) for arc in [first, arcs[0] - 40 * first] + arcs[1:])


def encode_element(tag: int, content: bytes) -> bytes:
    """Encode one element with a definite DER length."""
    length = len(content)
    if length < 0x80:
        header = bytes([tag, length])
    else:
        size = (length.bit_length() + 7) // 8
        header = bytes([tag, 0x80 | size]) + length.to_bytes(size, "big")
    return header + content


def encode_oid(dotted: str) -> bytes:
    """Encode a dotted OID as a complete DER element."""
    arcs = [int(part) for part in dotted.split(".")]
    numbers = [40 * arcs[0] + arcs[1]] + arcs[2:]
    content = b""
    for number in numbers:
        chunk = [number & 0x7F]
        number >>= 7
        while number:
            chunk.append(0x80 | (number & 0x7F))
            number >>= 7
        content += bytes(reversed(chunk))
    return encode_element(TAG_OID, content)
