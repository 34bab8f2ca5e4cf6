"""Escrow paths for tips: re-wrap on escrow rotation, and grant a department from escrow.

Both run offline with the escrow private key (never stored on the server): after
`flask keys rotate-escrow`, and when a tip arrived while the intake department had no key
(it is then sealed to the tipster and escrow only).
"""

from __future__ import annotations

from sqlalchemy import select

from ..crypto import KeyStore, PrivateKey, PublicKey, escrow_aad, seal, unseal
from ..extensions import db
from .models import HolderKind, Tip, TipKeyWrap
from .service import key_aad


def rewrap_tips_for_escrow(old_kid: str, old_private: PrivateKey, store: KeyStore) -> int:
    """Move every tip key sealed to escrow key `old_kid` to the current escrow key; commits."""
    done = 0
    rows = db.session.scalars(select(TipKeyWrap).where(
        TipKeyWrap.holder_kind == HolderKind.ESCROW.value, TipKeyWrap.holder_id == old_kid))
    for wrap in rows.all():
        key = unseal(wrap.wrapped, old_private, escrow_aad("tip", wrap.tip_id, old_kid))
        wrap.wrapped = seal(key, store.escrow_key,
                            escrow_aad("tip", wrap.tip_id, store.escrow_current))
        wrap.holder_id = store.escrow_current
        done += 1
        if done % 200 == 0:
            db.session.commit()
    db.session.commit()
    return done


def escrow_grant_department(escrow_private: PrivateKey, escrow_kid: str, department_id: int,
                            department_public: bytes, only_missing: bool = True) -> int:
    """Seal tip keys to a department via escrow (e.g. a late intake department); commits."""
    have = set(db.session.scalars(select(TipKeyWrap.tip_id).where(
        TipKeyWrap.holder_kind == HolderKind.DEPARTMENT.value,
        TipKeyWrap.holder_id == str(department_id))))
    done = 0
    rows = db.session.scalars(select(TipKeyWrap).where(
        TipKeyWrap.holder_kind == HolderKind.ESCROW.value, TipKeyWrap.holder_id == escrow_kid))
    for wrap in rows.all():
        if wrap.tip_id in have:
            continue
        tip = db.session.get(Tip, wrap.tip_id)
        if tip is None or (only_missing and tip.intake_department_id is not None):
            continue
        key = unseal(wrap.wrapped, escrow_private, escrow_aad("tip", wrap.tip_id, escrow_kid))
        db.session.add(TipKeyWrap(
            tip_id=tip.id, holder_kind=HolderKind.DEPARTMENT.value, holder_id=str(department_id),
            wrapped=seal(key, PublicKey(department_public),
                         key_aad(tip.id, "department", department_id))))
        tip.intake_department_id = tip.intake_department_id or department_id
        done += 1
    db.session.commit()
    return done
