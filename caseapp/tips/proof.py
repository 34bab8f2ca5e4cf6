"""Signed proof of submission: a short text, signed with the installation's Ed25519 key.

It names the receipt's lookup hash (not the receipt), the exact submission time and the
category, so two tipsters who reported the same clinic can show who was first; only the
holder of the receipt can show the lookup hash is theirs.
"""

from __future__ import annotations

import base64
from datetime import datetime

from ..crypto import KeyStore

HEADER = "caseapp proof of submission v1"
FIELDS = ("receipt-lookup", "submitted-at", "category", "key-id")


def proof_body(lookup: str, submitted_at: datetime, category: str, key_id: str) -> str:
    """The signed part of a proof."""
    lines = [HEADER, f"receipt-lookup: {lookup}",
             f"submitted-at: {submitted_at.isoformat(timespec='seconds')}Z",
             f"category: {category}", f"key-id: {key_id}"]
    return "\n".join(lines) + "\n"


def make_proof(store: KeyStore, lookup: str, submitted_at: datetime, category: str) -> str:
    """A signed proof text for one tip."""
    body = proof_body(lookup, submitted_at, category, store.signing_current)
    kid, signature = store.sign(body.encode())
    assert kid == store.signing_current
    return body + f"signature: {base64.b64encode(signature).decode()}\n"


def parse_proof(text: str) -> tuple[str, dict[str, str], bytes] | None:
    """Split a proof into (signed body, fields, signature); None when malformed."""
    text = text.replace("\r\n", "\n")
    body, sep, tail = text.rpartition("signature: ")
    if not sep or not body.startswith(HEADER + "\n"):
        return None
    fields: dict[str, str] = {}
    for line in body.splitlines()[1:]:
        name, colon, value = line.partition(": ")
        if not colon or name not in FIELDS or name in fields:
            return None
        fields[name] = value
    if set(fields) != set(FIELDS):
        return None
    try:
        signature = base64.b64decode(tail.strip(), validate=True)
    except ValueError:
        return None
    return body, fields, signature


def verify_proof(store: KeyStore, text: str) -> dict[str, str] | None:
    """The proof's fields when its signature is valid; None otherwise."""
    parsed = parse_proof(text)
    if parsed is None:
        return None
    body, fields, signature = parsed
    if not store.verify(fields["key-id"], body.encode(), signature):
        return None
    return fields
