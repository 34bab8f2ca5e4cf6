"""Key-hierarchy operations over bytes: user keys, department keys, sessions, tipster keys.

The models that store the results live in the feature packages; this module only turns
keys into wrapped bytes and back, so every cryptographic decision stays in one place.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import asdict, dataclass

from .hybrid import PRIVATE_BYTES, PrivateKey, PublicKey, keypair_from_seed, seal, unseal
from .primitives import argon2id, decrypt_field, encrypt_field, hkdf


@dataclass(frozen=True)
class KdfParams:
    """Argon2id parameters stored beside a wrapped key."""

    time_cost: int
    memory_kib: int
    parallelism: int

    def as_dict(self) -> dict[str, int]:
        """JSON-friendly form."""
        return asdict(self)


def wrap_user_key(private: PrivateKey, password: str, user_id: int,
                  params: KdfParams) -> tuple[bytes, bytes]:
    """Wrap a user's private key under Argon2id(password); returns (salt, envelope)."""
    salt = os.urandom(16)
    kek = argon2id(password.encode(), salt, params.time_cost, params.memory_kib,
                   params.parallelism)
    return salt, encrypt_field(kek, private.to_bytes(), f"user:{user_id}:private-key")


def unlock_user_key(envelope: bytes, salt: bytes, password: str, user_id: int,
                    params: KdfParams) -> PrivateKey:
    """Open a user's private key with the password; DecryptionError when wrong."""
    kek = argon2id(password.encode(), salt, params.time_cost, params.memory_kib,
                   params.parallelism)
    return PrivateKey(decrypt_field(kek, envelope, f"user:{user_id}:private-key"))


# -- server-side sessions --------------------------------------------------------
def new_session_token() -> str:
    """The random value the session cookie carries (256 bits)."""
    return secrets.token_urlsafe(32)


def session_id(token: str) -> str:
    """The id under which the server stores a session: a hash, never the token."""
    return hashlib.sha256(b"caseapp:session-id|" + token.encode()).hexdigest()


def seal_for_session(token: str, secret: bytes, purpose: str) -> bytes:
    """Encrypt `secret` under a key only the cookie's token yields."""
    key = hkdf(token.encode(), "caseapp:session-key")
    return encrypt_field(key, secret, f"session:{session_id(token)}:{purpose}")


def open_from_session(token: str, envelope: bytes, purpose: str) -> bytes:
    """Open what `seal_for_session` stored, with the token from the cookie."""
    key = hkdf(token.encode(), "caseapp:session-key")
    return decrypt_field(key, envelope, f"session:{session_id(token)}:{purpose}")


# -- departments -----------------------------------------------------------------
def member_aad(department_id: int, user_id: int) -> str:
    """Binding of a department key wrapped for a member."""
    return f"dept:{department_id}:member:{user_id}"


def escrow_aad(kind: str, object_id: int | str, escrow_kid: str) -> str:
    """Binding of any key wrapped for escrow."""
    return f"{kind}:{object_id}:escrow:{escrow_kid}"


def seal_department_key(dept_key: PrivateKey, member_public: PublicKey, department_id: int,
                        user_id: int) -> bytes:
    """Wrap a department private key for one member's public key."""
    return seal(dept_key.to_bytes(), member_public, member_aad(department_id, user_id))


def open_department_key(envelope: bytes, member_private: PrivateKey, department_id: int,
                        user_id: int) -> PrivateKey:
    """Open a department private key with a member's unlocked key."""
    return PrivateKey(unseal(envelope, member_private, member_aad(department_id, user_id)))


def department_symmetric_key(dept_key: PrivateKey) -> bytes:
    """Symmetric key derived from the department key, for cheap per-row unwrapping."""
    return hkdf(dept_key.to_bytes(), "caseapp:department-symmetric")


# -- tipsters --------------------------------------------------------------------
RECEIPT_DIGITS = 28  # 27 random digits (89.7 bits) + 1 check digit, shown in groups of 4


def _check_digit(digits: str) -> str:
    """Damm check digit: catches every single-digit error and adjacent swap."""
    table = ("0317598642", "7092154863", "4206871359", "1750983426", "6123045978",
             "3674209581", "5869720134", "8945362017", "9438617205", "2581436790")
    interim = 0
    for ch in digits:
        interim = int(table[interim][int(ch)])
    return str(interim)


def new_receipt() -> str:
    """A fresh receipt: 28 digits, the last a check digit."""
    body = "".join(str(secrets.randbelow(10)) for _ in range(RECEIPT_DIGITS - 1))
    return body + _check_digit(body)


def normalise_receipt(text: str) -> str | None:
    """Digits of a typed receipt, or None when its length or check digit is wrong."""
    digits = "".join(ch for ch in text if ch.isdigit())
    if len(digits) != RECEIPT_DIGITS or _check_digit(digits[:-1]) != digits[-1]:
        return None
    return digits


def format_receipt(receipt: str) -> str:
    """Group a receipt in fours for reading aloud."""
    return " ".join(receipt[i : i + 4] for i in range(0, len(receipt), 4))


@dataclass(frozen=True)
class TipsterCredentials:
    """What a receipt yields: the lookup hash and the tipster key pair."""

    lookup: str
    private_key: PrivateKey

    @property
    def public_key(self) -> PublicKey:
        """The tipster's public key."""
        return self.private_key.public_key()


def tipster_credentials(receipt: str, salt: bytes, params: KdfParams) -> TipsterCredentials:
    """Argon2id(receipt, installation salt) → lookup hash and tipster key pair."""
    master = argon2id(receipt.encode(), salt, params.time_cost, params.memory_kib,
                      params.parallelism, length=64)
    seed = hkdf(master, "caseapp:tipster-key", PRIVATE_BYTES)
    lookup = hkdf(master, "caseapp:receipt-lookup").hex()
    return TipsterCredentials(lookup, keypair_from_seed(seed))



