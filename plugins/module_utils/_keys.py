# Copyright (c) certfleet.mtls contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private keys: generate, load with precise errors, serialize, describe. Private: not a public API."""

from __future__ import annotations

import base64
import hashlib
import re

try:
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
except ImportError:
    # Without cryptography, the modules fail in _module.require_cryptography before they call this code.
    pass

from ansible_collections.certfleet.mtls.plugins.module_utils import _der
from ansible_collections.certfleet.mtls.plugins.module_utils._errors import CertfleetError

KEY_TYPES = ("ecdsa-p256", "ecdsa-p384", "rsa-2048", "rsa-3072", "rsa-4096", "ed25519")
DEFAULT_KEY_TYPE = "ecdsa-p256"
MIN_RSA_BITS = 2048

_CURVE_NAMES = {"secp256r1": "ecdsa-p256", "secp384r1": "ecdsa-p384", "secp521r1": "ecdsa-p521"}
_PRIVATE_KEY_LABELS = ("PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY")
_PEM_BLOCK = re.compile(
    rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END \1-----", re.DOTALL
)
_PBES2_OID = "1.2.840.113549.1.5.13"
_ENCRYPTION_SCHEME_NAMES = {
    "1.2.840.113549.1.5.1": "PBES1 pbeWithMD2AndDES-CBC",
    "1.2.840.113549.1.5.3": "PBES1 pbeWithMD5AndDES-CBC",
    "1.2.840.113549.1.5.4": "PBES1 pbeWithMD2AndRC2-CBC",
    "1.2.840.113549.1.5.6": "PBES1 pbeWithMD5AndRC2-CBC",
    "1.2.840.113549.1.5.10": "PBES1 pbeWithSHA1AndDES-CBC",
    "1.2.840.113549.1.5.11": "PBES1 pbeWithSHA1AndRC2-CBC",
    "1.2.840.113549.1.12.1.1": "PKCS#12 pbeWithSHAAnd128BitRC4",
    "1.2.840.113549.1.12.1.2": "PKCS#12 pbeWithSHAAnd40BitRC4",
    "1.2.840.113549.1.12.1.3": "PKCS#12 pbeWithSHAAnd3-KeyTripleDES-CBC",
    "1.2.840.113549.1.12.1.4": "PKCS#12 pbeWithSHAAnd2-KeyTripleDES-CBC",
    "1.2.840.113549.1.12.1.5": "PKCS#12 pbeWithSHAAnd128BitRC2-CBC",
    "1.2.840.113549.1.12.1.6": "PKCS#12 pbeWithSHAAnd40BitRC2-CBC",
}


def generate_private_key(key_type: str):
    """Generate a new private key of one of KEY_TYPES."""
    if key_type == "ecdsa-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "ecdsa-p384":
        return ec.generate_private_key(ec.SECP384R1())
    if key_type in ("rsa-2048", "rsa-3072", "rsa-4096"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(key_type[4:]))
    if key_type == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise CertfleetError(f"key_type={key_type!r} is not supported; use one of {', '.join(KEY_TYPES)}")


def describe_key(public_key) -> str:
    """Name a public key's type in the KEY_TYPES vocabulary, such as ``rsa-1024`` or ``ed25519``."""
    if isinstance(public_key, rsa.RSAPublicKey):
        return f"rsa-{public_key.key_size}"
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return _CURVE_NAMES.get(public_key.curve.name, f"ecdsa-{public_key.curve.name}")
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return "ed25519"
    if isinstance(public_key, ed448.Ed448PublicKey):
        return "ed448"
    return type(public_key).__name__


def public_key_der(public_key) -> bytes:
    """Return the DER SubjectPublicKeyInfo of a public key."""
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def public_key_fingerprint(public_key) -> str:
    """Return the SHA-256 fingerprint of a public key's SubjectPublicKeyInfo, colon-separated hex."""
    digest = hashlib.sha256(public_key_der(public_key)).hexdigest()
    return ":".join(digest[index:index + 2] for index in range(0, len(digest), 2))


def keys_match(private_key, public_key) -> bool:
    """Tell whether ``public_key`` is the public half of ``private_key``."""
    return public_key_der(private_key.public_key()) == public_key_der(public_key)


def signature_hash(private_key):
    """Return the hash a signature by this key uses: None for EdDSA, SHA-384 for P-384, else SHA-256."""
    if isinstance(private_key, (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)):
        return None
    if isinstance(private_key, ec.EllipticCurvePrivateKey) and private_key.curve.key_size >= 384:
        return hashes.SHA384()
    return hashes.SHA256()


def check_key_policy(public_key, allowed_key_types, source: str) -> None:
    """Raise CertfleetError when a public key is weak or of a type the policy does not allow."""
    key_type = describe_key(public_key)
    if isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size < MIN_RSA_BITS:
        raise CertfleetError(
            f"{source} has an RSA key of {public_key.key_size} bits, below the minimum of "
            f"{MIN_RSA_BITS} bits; generate a new key with key_type rsa-2048 or stronger"
        )
    if key_type not in allowed_key_types:
        raise CertfleetError(
            f"{source} has a key of type {key_type}, which the policy does not allow; allowed "
            f"key types are {', '.join(allowed_key_types)}"
        )


def serialize_private_key(private_key, passphrase: str | None) -> bytes:
    """Serialize a private key as PKCS#8 PEM, encrypted when a passphrase is given."""
    if passphrase:
        encryption = serialization.BestAvailableEncryption(passphrase.encode("utf-8"))
    else:
        encryption = serialization.NoEncryption()
    return private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def is_encrypted_pem(data: bytes) -> bool:
    """Tell whether PEM data contains an encrypted private key."""
    block = _find_key_block(data)
    return block is not None and _block_is_encrypted(block)


def load_private_key(data: bytes, passphrase: str | None, source: str):
    """Load a PEM private key and return ``(key, warnings)``.

    Each failure gets its own message: not a key, a label that does not fit the body,
    a missing passphrase, an unsupported encryption scheme, a wrong passphrase. The
    load never prompts: cryptography has no prompt, and a missing passphrase fails.
    """
    warnings: list[str] = []
    block = _find_key_block(data)
    if block is None:
        raise CertfleetError(
            f"{source} contains no PEM private key (expected a '-----BEGIN PRIVATE KEY-----' "
            "block); point the option at the key file or remove the file to generate a new key"
        )
    label, _headers, _body, text = block
    encrypted = _block_is_encrypted(block)

    if encrypted and not passphrase:
        raise CertfleetError(
            f"{source} is encrypted and a passphrase is required; set the passphrase option"
        )
    if passphrase and not encrypted:
        warnings.append(f"{source} is not encrypted, so the given passphrase was ignored")
        passphrase = None

    password = passphrase.encode("utf-8") if passphrase else None
    try:
        return serialization.load_pem_private_key(text, password=password), warnings
    except (ValueError, TypeError, UnsupportedAlgorithm) as error:
        raise CertfleetError(_explain_load_failure(block, source, error)) from None


def _find_key_block(data: bytes):
    for match in _PEM_BLOCK.finditer(data):
        label = match.group(1).decode("ascii")
        if label in _PRIVATE_KEY_LABELS:
            headers, body = _split_pem_headers(match.group(2))
            return label, headers, body, match.group(0)
    return None


def _split_pem_headers(inner: bytes) -> tuple[dict[str, str], bytes]:
    headers: dict[str, str] = {}
    body_lines = []
    for raw_line in inner.splitlines():
        line = raw_line.strip()
        if b":" in line and not body_lines:
            name, value = line.split(b":", 1)
            headers[name.decode("ascii", "replace").strip()] = value.decode("ascii", "replace").strip()
        elif line:
            body_lines.append(line)
    try:
        body = base64.b64decode(b"".join(body_lines), validate=True)
    except ValueError:
        body = b""
    return headers, body


def _block_is_encrypted(block) -> bool:
    label, headers, _body, _text = block
    return label == "ENCRYPTED PRIVATE KEY" or "ENCRYPTED" in headers.get("Proc-Type", "")


def _explain_load_failure(block, source: str, error: Exception) -> str:
    label, headers, body, _text = block
    if label == "ENCRYPTED PRIVATE KEY":
        scheme = _pkcs8_encryption_scheme(body)
        # A scheme that decrypts but fails its padding check reports "Incorrect password"
        # (cryptography 38 and 50), so that error means the scheme is supported.
        wrong_passphrase = "incorrect password" in str(error).lower()
        if scheme is not None and scheme != _PBES2_OID and not wrong_passphrase:
            name = _ENCRYPTION_SCHEME_NAMES.get(scheme, f"OID {scheme}")
            return (
                f"{source} is encrypted with {name}, which this cryptography release does not "
                "support; re-encrypt it with PBES2 and AES (for example "
                "'openssl pkcs8 -topk8 -v2 aes-256-cbc') and run again"
            )
        return (
            f"{source} could not be decrypted: the passphrase is wrong; set passphrase to the "
            "one the key was encrypted with"
        )
    if "ENCRYPTED" in headers.get("Proc-Type", ""):
        cipher = headers.get("DEK-Info", "unknown").split(",")[0]
        return (
            f"{source} could not be decrypted: the passphrase is wrong or the cipher {cipher} "
            "is not supported; re-encrypt it as PKCS#8 with AES and run again"
        )
    if label in ("RSA PRIVATE KEY", "EC PRIVATE KEY") and _looks_like_pkcs8(body):
        return (
            f"{source} has the label '{label}' but holds a PKCS#8 body; change the "
            "BEGIN/END lines to 'PRIVATE KEY' and run again"
        )
    return f"{source} could not be parsed as a {label}: {error}"


def _pkcs8_encryption_scheme(body: bytes) -> str | None:
    """Return the OID of an EncryptedPrivateKeyInfo's encryption algorithm, or None."""
    try:
        outer, _end = _der.read_element(body)
        algorithm = next(_der.iterate_children(outer.content))
        oid = next(_der.iterate_children(algorithm.content))
        return _der.decode_oid(oid.content) if oid.tag == _der.TAG_OID else None
    except (ValueError, StopIteration):
        return None


def _looks_like_pkcs8(body: bytes) -> bool:
    """Tell whether DER is a PrivateKeyInfo: version, then an AlgorithmIdentifier sequence."""
    try:
        outer, _end = _der.read_element(body)
        children = list(_der.iterate_children(outer.content))
    except ValueError:
        return False
    return len(children) >= 3 and children[0].tag == _der.TAG_INTEGER and children[1].tag == _der.TAG_SEQUENCE
