"""Tip keys as the case workflow sees them: wrapped under a case key, or sealed on link.

Promote: intake opens the tip with its department key and wraps the tip key under the new
case key (TipKeyWrap holder "case", holder_id "<case id>:<version>").
Link: intake usually cannot open the existing case's key, so it seals the tip key to
each case department's public key (`CaseTipSeal`) and marks the link pending; the first
case member who opens the case unseals their department's copy, wraps the tip key under
the newest case key and deletes the seals (`settle_links`). When intake happens to hold
the case key (its department is on the case), it wraps under the case key at once.

Seals and case wraps hold the tip's raw key K (under the case's *content* key); callers pass
and receive content keys, converted with the tip's retention pad (`retention.locks`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, select

from ..accounts.models import Department
from ..crypto import DecryptionError, KeyUnavailable, PublicKey, seal, unseal, unwrap_key, wrap_key
from ..extensions import db
from ..retention.locks import subject_key, subject_keys
from ..retention.models import RetentionKind
from ..tips.access import open_tip_key
from ..tips.errors import TipNotReadable
from ..tips.models import HolderKind, Tip, TipKeyWrap
from ..tips.service import key_aad
from .keys import open_case_key, open_case_keys
from .models import Case, CaseTip, CaseTipSeal


def case_holder(case_id: int, version: int) -> str:
    """TipKeyWrap.holder_id of a tip key wrapped under a case key version."""
    return f"{case_id}:{version}"


def seal_aad(tip_id: int, case_id: int, dept_id: int) -> str:
    """Binding of a tip key sealed to a case department while a link is pending."""
    return f"tip:{tip_id}:key:case-link:{case_id}:dept:{dept_id}"


def intake_tip_key(tip: Tip, keyring: Any) -> bytes:
    """The tip key through the caller's department (intake); KeyUnavailable otherwise."""
    try:
        return open_tip_key(tip, keyring)
    except TipNotReadable as exc:
        raise KeyUnavailable(str(exc)) from exc


def wrap_under_case(tip_id: int, tip_key: bytes, case_id: int, version: int,
                    case_key: bytes) -> TipKeyWrap:
    """Wrap a tip (content) key under one case key version, replacing an older copy; flushes."""
    return _wrap_raw(tip_id, subject_key(RetentionKind.TIP, tip_id, tip_key), case_id, version,
                     case_key)


def _wrap_raw(tip_id: int, raw_key: bytes, case_id: int, version: int,
              case_key: bytes) -> TipKeyWrap:
    holder = case_holder(case_id, version)
    wrapped = wrap_key(case_key, raw_key, key_aad(tip_id, "case", holder))
    row = db.session.scalar(select(TipKeyWrap).where(
        TipKeyWrap.tip_id == tip_id, TipKeyWrap.holder_kind == HolderKind.CASE.value,
        TipKeyWrap.holder_id == holder))
    if row is None:
        row = TipKeyWrap(tip_id=tip_id, holder_kind=HolderKind.CASE.value, holder_id=holder,
                         wrapped=wrapped)
        db.session.add(row)
    else:
        row.wrapped = wrapped
    db.session.flush()
    return row


def seal_for_case_departments(tip_id: int, tip_key: bytes, case_id: int,
                              departments: Iterable[Department]) -> int:
    """Seal a linked tip's (raw) key to every department on the case; returns how many."""
    raw_key = subject_key(RetentionKind.TIP, tip_id, tip_key)
    n = 0
    for dept in departments:
        db.session.add(CaseTipSeal(case_id=case_id, tip_id=tip_id, department_id=dept.id,
                                   sealed=seal(raw_key, PublicKey(dept.public_key),
                                               seal_aad(tip_id, case_id, dept.id))))
        n += 1
    db.session.flush()
    return n


def drop_department_seals(case_id: int, dept_id: int) -> None:
    """A department leaving a case loses its pending seals too."""
    db.session.execute(delete(CaseTipSeal).where(CaseTipSeal.case_id == case_id,
                                                 CaseTipSeal.department_id == dept_id))


def settle_links(case: Case, keyring: Any) -> list[int]:
    """Convert pending links the caller's department can unseal; returns the tip ids done."""
    dept_id = getattr(keyring.user, "department_id", None)
    if dept_id is None:
        return []
    seals = db.session.scalars(select(CaseTipSeal).where(
        CaseTipSeal.case_id == case.id, CaseTipSeal.department_id == dept_id)).all()
    if not seals:
        return []
    case_key = open_case_key(case, keyring)
    done: list[int] = []
    for row in seals:
        try:
            tip_key = unseal(row.sealed, keyring.department_key(dept_id),
                             seal_aad(row.tip_id, case.id, dept_id))
        except (KeyUnavailable, DecryptionError):
            continue
        _wrap_raw(row.tip_id, tip_key, case.id, case.key_version, case_key)
        db.session.execute(delete(CaseTipSeal).where(CaseTipSeal.case_id == case.id,
                                                     CaseTipSeal.tip_id == row.tip_id))
        link = db.session.get(CaseTip, row.tip_id)
        if link is not None:
            link.pending = False
        done.append(row.tip_id)
    db.session.flush()
    return done


def case_tip_keys(case: Case, keyring: Any) -> dict[int, bytes]:
    """Content keys of every (settled) tip of a case the caller can open: {tip id: key}."""
    tip_ids = list(db.session.scalars(select(CaseTip.tip_id).where(CaseTip.case_id == case.id)))
    if not tip_ids:
        return {}
    prefix = f"{case.id}:"
    wraps = [w for w in db.session.scalars(select(TipKeyWrap).where(
        TipKeyWrap.tip_id.in_(tip_ids), TipKeyWrap.holder_kind == HolderKind.CASE.value))
        if w.holder_id.startswith(prefix)]
    versions = {(case.id, int(w.holder_id.split(":", 1)[1])) for w in wraps}
    case_keys = open_case_keys(versions, keyring)
    out: dict[int, bytes] = {}
    for w in wraps:
        pair = (case.id, int(w.holder_id.split(":", 1)[1]))
        if pair in case_keys and w.tip_id not in out:
            try:
                out[w.tip_id] = unwrap_key(case_keys[pair], w.wrapped,
                                           key_aad(w.tip_id, "case", w.holder_id))
            except DecryptionError:
                continue
    return subject_keys(RetentionKind.TIP, out)
