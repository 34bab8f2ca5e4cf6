"""Subjects of a case (clinic, person, pharmacy) and their blind indexes; related items."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, select

from ..crypto import blind_index
from ..extensions import db
from ..keys import keystore
from ..tips.models import Tip, TipBlindIndex
from .common import audit, clean, current_key, ensure_writable, row_aad, seal_json, touch
from .errors import InvalidInput
from .models import Case, Subject, SubjectIndex, SubjectKind

INDEX_KINDS = ("clinic", "phone", "address")
RECORD_FIELDS = ("name", "address", "phone", "licence", "note")
_PHONE_SPLIT = re.compile(r"[,;/|，；、\n]+")


def subject_aad(case_id: int, subject_id: int) -> str:
    """Binding of a subject record."""
    return row_aad(case_id, "subject", subject_id)


def index_values(kind: str, data: dict[str, str]) -> list[tuple[str, str]]:
    """(index kind, value) pairs of a subject: its name (clinics, pharmacies), phones, address."""
    pairs: list[tuple[str, str]] = []
    if kind in (SubjectKind.CLINIC, SubjectKind.PHARMACY) and data.get("name"):
        pairs.append(("clinic", data["name"]))
    pairs += [("phone", p) for p in _PHONE_SPLIT.split(data.get("phone") or "") if p.strip()]
    if data.get("address"):
        pairs.append(("address", data["address"]))
    return pairs


def add_subject_row(case: Case, version: int, key: bytes, kind: str, data: dict[str, str],
                    actor: Any) -> Subject:
    """Store an encrypted subject with its blind indexes (no checks, no audit); flushes."""
    if kind not in SubjectKind._value2member_map_:
        raise InvalidInput("subject kind")
    record = {f: clean(data.get(f), 2000) for f in RECORD_FIELDS}
    if not any(record.values()):
        raise InvalidInput("empty subject")
    row = Subject(case_id=case.id, key_version=version, kind=kind, record=b"",
                  created_by_id=getattr(actor, "id", None))
    db.session.add(row)
    db.session.flush()
    row.record = seal_json(key, record, subject_aad(case.id, row.id))
    store = keystore()
    seen: set[tuple[str, str]] = set()
    for ikind, value in index_values(kind, record):
        digest = blind_index(store.index_key, ikind, value)
        if digest and (ikind, digest) not in seen:
            seen.add((ikind, digest))
            db.session.add(SubjectIndex(case_id=case.id, subject_id=row.id, kind=ikind,
                                        value=digest, key_id=store.index_current))
    db.session.flush()
    return row


def add_subject(case: Case, keyring: Any, actor: Any, kind: str,
                data: dict[str, str]) -> Subject:
    """A case member records a subject; audited."""
    ensure_writable(case)
    version, key = current_key(case, keyring)
    row = add_subject_row(case, version, key, kind, data, actor)
    touch(case)
    audit("case.subject_added", case, actor, subject=row.id, kind=kind)
    return row


# -- related items ---------------------------------------------------------------------
@dataclass(frozen=True)
class Related:
    """Tips and cases sharing a blind index: {id: [kinds that matched]}."""

    tips: dict[int, list[str]]
    cases: dict[int, list[str]]

    @property
    def count(self) -> int:
        """How many items in all."""
        return len(self.tips) + len(self.cases)


def _merge(rows: Any) -> dict[int, list[str]]:
    found: dict[int, set[str]] = {}
    for obj_id, kind in rows:
        found.setdefault(int(obj_id), set()).add(kind)
    return {k: sorted(v) for k, v in sorted(found.items())}


def related_to_tip(tip_id: int, limit: int = 50) -> Related:
    """Other tips and cases that name the same clinic, phone or address as this tip."""
    mine = select(TipBlindIndex.kind, TipBlindIndex.value).where(
        TipBlindIndex.tip_id == tip_id).subquery()
    tips = db.session.execute(
        select(TipBlindIndex.tip_id, TipBlindIndex.kind)
        .join(mine, and_(mine.c.kind == TipBlindIndex.kind, mine.c.value == TipBlindIndex.value))
        .where(TipBlindIndex.tip_id != tip_id).limit(limit * 3)).all()
    cases = db.session.execute(
        select(SubjectIndex.case_id, SubjectIndex.kind)
        .join(mine, and_(mine.c.kind == SubjectIndex.kind, mine.c.value == SubjectIndex.value))
        .limit(limit * 3)).all()
    return Related(_merge(tips), _merge(cases))


def search(kind: str, value: str, limit: int = 100) -> Related:
    """Tips and cases whose blind index matches a typed clinic name, phone or address."""
    if kind not in INDEX_KINDS:
        raise InvalidInput("index kind")
    store = keystore()
    digests = [d for d in (blind_index(k, kind, value) for k in store.index_keys.values()) if d]
    if not digests:
        return Related({}, {})
    tips = db.session.execute(select(TipBlindIndex.tip_id, TipBlindIndex.kind).where(
        TipBlindIndex.kind == kind, TipBlindIndex.value.in_(digests)).limit(limit)).all()
    cases = db.session.execute(select(SubjectIndex.case_id, SubjectIndex.kind).where(
        SubjectIndex.kind == kind, SubjectIndex.value.in_(digests)).limit(limit)).all()
    return Related(_merge(tips), _merge(cases))


def related_counts(tip_ids: list[int]) -> dict[int, int]:
    """For a page of tips: how many other tips and cases share a blind index with each."""
    if not tip_ids:
        return {}
    a = TipBlindIndex.__table__.alias("a")
    b = TipBlindIndex.__table__.alias("b")
    counts: dict[int, int] = {}
    for tip_id, n in db.session.execute(
            select(a.c.tip_id, db.func.count(db.distinct(b.c.tip_id)))
            .join(b, and_(a.c.kind == b.c.kind, a.c.value == b.c.value,
                          b.c.tip_id != a.c.tip_id))
            .where(a.c.tip_id.in_(tip_ids)).group_by(a.c.tip_id)):
        counts[int(tip_id)] = int(n)
    for tip_id, n in db.session.execute(
            select(a.c.tip_id, db.func.count(db.distinct(SubjectIndex.case_id)))
            .join(SubjectIndex, and_(a.c.kind == SubjectIndex.kind,
                                     a.c.value == SubjectIndex.value))
            .where(a.c.tip_id.in_(tip_ids)).group_by(a.c.tip_id)):
        counts[int(tip_id)] = counts.get(int(tip_id), 0) + int(n)
    return counts


def tips_by_id(ids: list[int]) -> dict[int, Tip]:
    """Tip rows (clear metadata only) by id."""
    if not ids:
        return {}
    return {t.id: t for t in db.session.scalars(select(Tip).where(Tip.id.in_(ids)))}


def cases_by_id(ids: list[int]) -> dict[int, Case]:
    """Case rows (clear metadata only) by id."""
    if not ids:
        return {}
    return {c.id: c for c in db.session.scalars(select(Case).where(Case.id.in_(ids)))}
