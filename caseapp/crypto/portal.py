"""Small keyed functions of the anonymous portal: client tags and form-token receipts."""

from __future__ import annotations

import hashlib
import hmac

from .keyring import RECEIPT_DIGITS, _check_digit
from .primitives import hkdf


def client_tag(key: bytes, address: str) -> str:
    """A short keyed hash of a client address; the address itself is never kept."""
    return hmac.new(key, b"caseapp:client|" + address.encode(), hashlib.sha256).hexdigest()[:32]


def token_digest(secret: bytes, token: str) -> str:
    """The stored form of a one-time form token (a keyed hash, not the token)."""
    key = hkdf(secret, "caseapp:form-token-digest")
    return hmac.new(key, token.encode(), hashlib.sha256).hexdigest()


def receipt_from_token(secret: bytes, token: str) -> str:
    """The receipt of a submission, derived from its one-time form token.

    The token carries 128 random bits and reaches the server only in the form post, so a
    double submission shows the same receipt again while the database never holds what
    would yield it. 27 digits (89.7 bits) plus the check digit, like `new_receipt`.
    """
    key = hkdf(secret, "caseapp:receipt-from-form-token")
    mac = hmac.new(key, token.encode(), hashlib.sha512).digest()
    body = str(int.from_bytes(mac, "big") % 10 ** (RECEIPT_DIGITS - 1))
    body = body.zfill(RECEIPT_DIGITS - 1)
    return body + _check_digit(body)
