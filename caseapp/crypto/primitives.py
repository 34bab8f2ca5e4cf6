"""Symmetric building blocks: AEAD field envelopes, key wrapping, KDFs and the blind index."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import unicodedata

from argon2.low_level import Type, hash_secret_raw
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .errors import CryptoError, DecryptionError

FIELD_V1 = 0x01  # AES-256-GCM, 96-bit random nonce, AAD = "caseapp:v1|" + binding
KEY_BYTES = 32
NONCE_BYTES = 12
_AAD_PREFIX = b"caseapp:v1|"


def random_key() -> bytes:
    """A fresh 256-bit symmetric key (case key, tip key, file key)."""
    return os.urandom(KEY_BYTES)


def _aad(binding: str) -> bytes:
    if not binding:
        raise CryptoError("every ciphertext must be bound to where it lives")
    return _AAD_PREFIX + binding.encode()


def encrypt_field(key: bytes, plaintext: bytes | str, aad: str) -> bytes:
    """Encrypt a value under `key`, bound to `aad` (e.g. "tip:12:narrative")."""
    data = plaintext.encode() if isinstance(plaintext, str) else plaintext
    nonce = os.urandom(NONCE_BYTES)
    return bytes([FIELD_V1]) + nonce + AESGCM(key).encrypt(nonce, data, _aad(aad))


def decrypt_field(key: bytes, envelope: bytes, aad: str) -> bytes:
    """Open an envelope made by `encrypt_field`; any mismatch raises DecryptionError."""
    if not envelope or envelope[0] != FIELD_V1 or len(envelope) < 1 + NONCE_BYTES + 16:
        raise DecryptionError("unknown or damaged envelope")
    nonce, body = envelope[1 : 1 + NONCE_BYTES], envelope[1 + NONCE_BYTES :]
    try:
        return AESGCM(key).decrypt(nonce, body, _aad(aad))
    except (InvalidTag, ValueError) as exc:
        raise DecryptionError("ciphertext does not open with this key and binding") from exc


def decrypt_text(key: bytes, envelope: bytes, aad: str) -> str:
    """Open an envelope holding UTF-8 text."""
    return decrypt_field(key, envelope, aad).decode()


def wrap_key(kek: bytes, key: bytes, aad: str) -> bytes:
    """Wrap a symmetric key under a key-encryption key (same envelope as fields)."""
    return encrypt_field(kek, key, "wrap|" + aad)


def unwrap_key(kek: bytes, wrapped: bytes, aad: str) -> bytes:
    """Unwrap a key wrapped by `wrap_key`."""
    return decrypt_field(kek, wrapped, "wrap|" + aad)


def hkdf(secret: bytes, label: str, length: int = KEY_BYTES) -> bytes:
    """Derive a sub-key from high-entropy `secret` for one purpose."""
    return HKDF(hashes.SHA256(), length, salt=None, info=label.encode()).derive(secret)


def argon2id(secret: bytes, salt: bytes, time_cost: int, memory_kib: int, parallelism: int,
             length: int = KEY_BYTES) -> bytes:
    """Argon2id over a low-entropy secret (password, receipt)."""
    return hash_secret_raw(secret, salt, time_cost, memory_kib, parallelism, length, Type.ID)


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256 of `data`."""
    return hashlib.sha256(data).hexdigest()


def constant_time_equal(a: bytes | str, b: bytes | str) -> bool:
    """Compare two secrets without leaking where they differ."""
    a_b = a.encode() if isinstance(a, str) else a
    b_b = b.encode() if isinstance(b, str) else b
    return hmac.compare_digest(a_b, b_b)


_DROP = re.compile(r"[\s\-_.,，。、·:：;；'\"()（）\[\]【】/\\]+")


def normalise(value: str, kind: str = "text") -> str:
    """Normalise a name, phone or address so spellings of one thing index alike."""
    text = unicodedata.normalize("NFKC", value).casefold().strip()
    if kind == "phone":
        digits = re.sub(r"\D", "", text)
        return digits[-11:] if len(digits) > 11 and digits.startswith("86") else digits
    return _DROP.sub("", text)


def blind_index(index_key: bytes, kind: str, value: str) -> str | None:
    """HMAC-SHA256 of the normalised value; None when nothing is left to index."""
    norm = normalise(value, kind)
    if not norm:
        return None
    mac = hmac.new(index_key, f"{kind}|{norm}".encode(), hashlib.sha256)
    return mac.hexdigest()
