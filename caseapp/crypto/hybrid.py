"""Hybrid post-quantum key pairs (ML-KEM-768 + X25519) and HPKE seal/unseal (RFC 9180)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import mlkem, x25519

from .errors import CryptoError, DecryptionError

SEAL_V1 = 0x01
SUITE_MLKEM768_X25519 = 0x01  # ML-KEM-768+X25519, HKDF-SHA256, AES-256-GCM
SUITE_X25519 = 0x02  # classical fallback suite, readable for old envelopes

_SUITES = {
    SUITE_MLKEM768_X25519: hpke.Suite(
        hpke.KEM.MLKEM768_X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM
    ),
    SUITE_X25519: hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM),
}
MLKEM_SEED = 64
MLKEM_PUB = 1184
X25519_LEN = 32
PRIVATE_BYTES = MLKEM_SEED + X25519_LEN
PUBLIC_BYTES = MLKEM_PUB + X25519_LEN


@dataclass(frozen=True)
class PublicKey:
    """The public half of a hybrid key pair."""

    raw: bytes

    def __post_init__(self) -> None:
        if len(self.raw) != PUBLIC_BYTES:
            raise CryptoError("not a hybrid public key")

    def _hpke(self) -> hpke.MLKEM768X25519PublicKey:
        return hpke.MLKEM768X25519PublicKey(
            mlkem.MLKEM768PublicKey.from_public_bytes(self.raw[:MLKEM_PUB]),
            x25519.X25519PublicKey.from_public_bytes(self.raw[MLKEM_PUB:]),
        )


class PrivateKey:
    """The private half; its bytes are only ever stored wrapped."""

    __slots__ = ("_raw",)

    def __init__(self, raw: bytes) -> None:
        if len(raw) != PRIVATE_BYTES:
            raise CryptoError("not a hybrid private key")
        self._raw = bytes(raw)

    def __repr__(self) -> str:
        return "<PrivateKey hidden>"

    def to_bytes(self) -> bytes:
        """Serialise (64-byte ML-KEM seed ‖ 32-byte X25519 scalar); wrap before storing."""
        return self._raw

    def _hpke(self) -> hpke.MLKEM768X25519PrivateKey:
        return hpke.MLKEM768X25519PrivateKey(
            mlkem.MLKEM768PrivateKey.from_seed_bytes(self._raw[:MLKEM_SEED]),
            x25519.X25519PrivateKey.from_private_bytes(self._raw[MLKEM_SEED:]),
        )

    def public_key(self) -> PublicKey:
        """Derive the public half."""
        mk = mlkem.MLKEM768PrivateKey.from_seed_bytes(self._raw[:MLKEM_SEED])
        xk = x25519.X25519PrivateKey.from_private_bytes(self._raw[MLKEM_SEED:])
        return PublicKey(mk.public_key().public_bytes_raw() + xk.public_key().public_bytes_raw())


def generate_keypair() -> PrivateKey:
    """A fresh random hybrid key pair."""
    return PrivateKey(os.urandom(PRIVATE_BYTES))


def keypair_from_seed(seed: bytes) -> PrivateKey:
    """A deterministic key pair from 96 bytes of KDF output (the tipster key)."""
    if len(seed) != PRIVATE_BYTES:
        raise CryptoError("seed must be 96 bytes")
    return PrivateKey(seed)


def _info(aad: str) -> bytes:
    if not aad:
        raise CryptoError("every sealed value must be bound to its object")
    return b"caseapp:seal:v1|" + aad.encode()


def seal(data: bytes, public_key: PublicKey, aad: str) -> bytes:
    """Encrypt `data` to a public key (HPKE base mode), bound to `aad`."""
    body = _SUITES[SUITE_MLKEM768_X25519].encrypt(data, public_key._hpke(), info=_info(aad))
    return bytes([SEAL_V1, SUITE_MLKEM768_X25519]) + body


def unseal(envelope: bytes, private_key: PrivateKey, aad: str) -> bytes:
    """Open a sealed envelope with the matching private key and binding."""
    if len(envelope) < 3 or envelope[0] != SEAL_V1 or envelope[1] not in _SUITES:
        raise DecryptionError("unknown or damaged sealed envelope")
    if envelope[1] != SUITE_MLKEM768_X25519:
        raise DecryptionError("suite not supported by this key type")
    try:
        return _SUITES[envelope[1]].decrypt(envelope[2:], private_key._hpke(), info=_info(aad))
    except (InvalidTag, ValueError) as exc:
        raise DecryptionError("sealed value does not open with this key and binding") from exc
