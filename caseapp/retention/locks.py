"""Subject pads: create a subject's lock, turn wrapped keys into content keys, move epochs.

Wraps (department seals, symmetric wraps, escrow seals, the tipster's seal, case wraps of
tip keys) hold the raw key K; content is encrypted under `apply_pad(K, pad, binding)`.
The same call turns a content key back into K (XOR), which is what re-wrapping code uses.
Pads are opened with R[epoch] from the retention key file, never with a user's key.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date

from flask import current_app, g, has_request_context
from sqlalchemy import select

from ..crypto import (
    ACTIVE_EPOCH,
    DecryptionError,
    KeyUnavailable,
    RetentionKeys,
    apply_pad,
    new_pad,
    pad_subkey,
    unwrap_pad,
    wrap_pad,
)
from ..extensions import db
from .models import LEGACY_EPOCH, RetentionKind, RetentionLock

_CACHE = "_caseapp_retention_pads"
Pad = bytes | None  # None: a legacy subject stored before retention existed (no pad)


def retention_keys() -> RetentionKeys:
    """The retention-epoch key file of this app (instance/keys/retention.json)."""
    keys = current_app.extensions.get("caseapp_retention_keys")
    if keys is None:
        keys = RetentionKeys(current_app.config["CASEAPP"].keys_dir)
        current_app.extensions["caseapp_retention_keys"] = keys
    return keys


def epoch_of(expires_on: date | None) -> str:
    """The epoch a subject expiring on `expires_on` belongs to ("active" when open)."""
    return ACTIVE_EPOCH if expires_on is None else expires_on.strftime("%Y-%m")


def _cache() -> dict[tuple[str, int], Pad]:
    if not has_request_context():
        return {}
    cache: dict[tuple[str, int], Pad] | None = g.get(_CACHE)
    if cache is None:
        cache = {}
        setattr(g, _CACHE, cache)
    return cache


def _epoch_key(epoch: str, create: bool = False) -> bytes:
    key = retention_keys().get(epoch, create=create)
    if key is None:
        raise KeyUnavailable(f"retention key {epoch} is destroyed")
    return key


def _open(lock: RetentionLock) -> Pad:
    if lock.wrapped_pad is None:
        return None
    try:
        return unwrap_pad(_epoch_key(lock.epoch), lock.wrapped_pad, lock.subject_kind,
                          lock.subject_id, lock.epoch)
    except DecryptionError as exc:
        raise KeyUnavailable(f"{lock.subject_kind} {lock.subject_id}: pad does not open") from exc


def lock_of(kind: str, subject_id: int) -> RetentionLock | None:
    """The lock of one subject, if any."""
    return db.session.scalar(select(RetentionLock).where(
        RetentionLock.subject_kind == str(kind), RetentionLock.subject_id == int(subject_id)))


def create_lock(kind: str, subject_id: int) -> bytes:
    """A fresh pad for a new subject, wrapped under R["active"]; adds the lock and flushes."""
    pad = new_pad()
    db.session.add(RetentionLock(
        subject_kind=str(kind), subject_id=int(subject_id), epoch=ACTIVE_EPOCH,
        wrapped_pad=wrap_pad(_epoch_key(ACTIVE_EPOCH, create=True), pad, str(kind),
                             int(subject_id), ACTIVE_EPOCH)))
    db.session.flush()
    _cache()[(str(kind), int(subject_id))] = pad
    return pad


def ensure_lock(kind: str, subject_id: int) -> Pad:
    """The subject's pad, creating its lock when it has none yet."""
    try:
        return pad_of(kind, subject_id)
    except KeyUnavailable:
        if lock_of(kind, subject_id) is not None:
            raise
        return create_lock(kind, subject_id)


def pads_of(kind: str, subject_ids: Iterable[int]) -> dict[int, Pad]:
    """Pads of many subjects with one query; subjects whose pad is gone are left out."""
    cache = _cache()
    wanted = {int(i) for i in subject_ids}
    missing = sorted(i for i in wanted if (str(kind), i) not in cache)
    if missing:
        for lock in db.session.scalars(select(RetentionLock).where(
                RetentionLock.subject_kind == str(kind),
                RetentionLock.subject_id.in_(missing))):
            try:
                cache[(str(kind), lock.subject_id)] = _open(lock)
            except KeyUnavailable:
                continue
    return {i: cache[(str(kind), i)] for i in wanted if (str(kind), i) in cache}


def pad_of(kind: str, subject_id: int) -> Pad:
    """One subject's pad; KeyUnavailable when it has no lock or its epoch key is destroyed."""
    found = pads_of(kind, [subject_id])
    if int(subject_id) not in found:
        raise KeyUnavailable(f"{kind} {subject_id} has no retention pad (purged?)")
    return found[int(subject_id)]


def _binding(kind: str, subject_id: int, version: int) -> str:
    return f"{kind}:{subject_id}:v{version}"


def padded(pad: Pad, kind: str, subject_id: int, key: bytes, version: int = 1) -> bytes:
    """`apply_pad` for a subject (legacy subjects without a pad: the key unchanged)."""
    return key if pad is None else apply_pad(key, pad, _binding(kind, subject_id, version))


def subject_key(kind: str, subject_id: int, key: bytes, version: int = 1) -> bytes:
    """Wrapped key → content key, and content key → wrapped key (the same XOR)."""
    return padded(pad_of(kind, subject_id), kind, subject_id, key, version)


def subject_keys(kind: str, keys: Mapping[int, bytes]) -> dict[int, bytes]:
    """`subject_key` for many subjects (version 1); those without a pad are left out."""
    pads = pads_of(kind, keys)
    return {i: padded(pads[i], kind, i, k) for i, k in keys.items() if i in pads}


def claim_key(reward_id: int) -> bytes:
    """The key of a reward claim's inner layer (from the reward's pad alone)."""
    pad = pad_of(RetentionKind.REWARD, reward_id)
    if pad is None:
        raise KeyUnavailable(f"reward {reward_id} has a legacy lock without a pad")
    return pad_subkey(pad, f"reward:{reward_id}:claim")


def set_expiry(kind: str, subject_id: int, expires_on: date | None,
               outcome: str | None = None) -> RetentionLock | None:
    """Fix (or clear, with None) a subject's expiry and move its pad to the matching epoch.

    Server-only and cheap: the pad is re-wrapped from R[old epoch] to R[new epoch], content
    is untouched. Returns the lock (None when the subject has none); the caller commits.
    """
    lock = db.session.scalar(select(RetentionLock).where(
        RetentionLock.subject_kind == str(kind), RetentionLock.subject_id == int(subject_id))
        .with_for_update())
    if lock is None:
        return None
    target = epoch_of(expires_on)
    if lock.wrapped_pad is not None and lock.epoch != target:
        pad = _open(lock)
        assert pad is not None
        lock.wrapped_pad = wrap_pad(_epoch_key(target, create=True), pad, lock.subject_kind,
                                    lock.subject_id, target)
        lock.epoch = target
    elif lock.wrapped_pad is None:
        lock.epoch = LEGACY_EPOCH
    if lock.expires_on != expires_on:
        lock.warned_on = None
    lock.expires_on = expires_on
    lock.outcome = outcome if expires_on is not None else None
    db.session.flush()
    return lock
