"""Recording, verifying and querying the append-only, hash-chained audit log."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import Select, func, select

from .. import clock
from ..extensions import db
from .models import GENESIS_HASH, AuditEntry, AuditHead

MAX_DETAIL_CHARS = 4000
_SCALARS = (str, int, float, bool, type(None))


class AuditError(Exception):
    """An audit entry could not be built (e.g. the detail is not plain metadata)."""


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of `verify_chain`: ok, entries checked, and where and why it broke."""

    ok: bool
    checked: int
    first_bad_seq: int | None = None
    reason: str = ""
    bad_id: int | None = None
    head_hash: str | None = None


def canonical_detail(detail: dict[str, Any] | None) -> str:
    """The detail as canonical JSON text (sorted keys, no spaces); refuses non-metadata."""
    if detail is None:
        return "{}"
    if not isinstance(detail, dict):
        raise AuditError("detail must be a dict")
    _check_plain(detail)
    text = json.dumps(detail, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if len(text) > MAX_DETAIL_CHARS:
        raise AuditError("detail too long: the audit log holds metadata, not content")
    return text


def _check_plain(value: Any) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise AuditError("detail keys must be strings")
            _check_plain(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _check_plain(item)
    elif not isinstance(value, _SCALARS):
        raise AuditError(f"detail values must be JSON scalars, not {type(value).__name__}")


def entry_hash(
    *, seq: int, created_at: datetime, actor_id: int | None, actor_name: str, action: str,
    object_type: str | None, object_id: str | None, detail: str, prev_hash: str,
) -> str:
    """sha256 over the canonical JSON of an entry's fields followed by the previous hash."""
    body = json.dumps(
        [seq, created_at.isoformat(), actor_id, actor_name, action, object_type, object_id,
         detail],
        separators=(",", ":"), ensure_ascii=False,
    )
    return hashlib.sha256((body + prev_hash).encode("utf-8")).hexdigest()


def _hash_of(entry: Any) -> str:
    return entry_hash(
        seq=entry.seq, created_at=entry.created_at, actor_id=entry.actor_id,
        actor_name=entry.actor_name, action=entry.action, object_type=entry.object_type,
        object_id=entry.object_id, detail=entry.detail, prev_hash=entry.prev_hash,
    )


def _actor_fields(actor: Any) -> tuple[int | None, str]:
    """(actor_id, actor_name) of a user object, an anonymous user, or None (the system)."""
    if actor is None:
        return None, "system"
    if not getattr(actor, "is_authenticated", True):
        return None, "anonymous"
    actor_id = getattr(actor, "id", None)
    if actor_id is None:
        return None, "anonymous"
    return int(actor_id), str(getattr(actor, "username", "") or f"user {actor_id}")


def _locked_head() -> AuditHead:
    """The head row, locked until the caller's transaction ends; created on first use."""
    stmt = (select(AuditHead).where(AuditHead.id == 1).with_for_update()
            .execution_options(populate_existing=True))
    head = db.session.execute(stmt).scalar_one_or_none()
    if head is None:
        dialect = db.session.get_bind().dialect.name
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            ins: Any = pg_insert(AuditHead)
        else:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            ins = sqlite_insert(AuditHead)
        db.session.execute(
            ins.values(id=1, seq=0, last_hash=GENESIS_HASH).on_conflict_do_nothing()
        )
        head = db.session.execute(stmt).scalar_one()
    return head


def record(
    action: str,
    *,
    actor: Any = None,
    object_type: str | None = None,
    object_id: str | int | None = None,
    detail: dict[str, Any] | None = None,
    commit: bool = False,
) -> AuditEntry:
    """Append an entry in the caller's transaction (it commits or rolls back with it).

    Appends are serialised by a lock on the head row held until the transaction ends,
    so record late in a transaction (just before its commit), not at its start.
    """
    detail_text = canonical_detail(detail)
    actor_id, actor_name = _actor_fields(actor)
    head = _locked_head()
    entry = AuditEntry(
        seq=head.seq + 1,
        created_at=clock.now(),
        actor_id=actor_id,
        actor_name=actor_name[:200],
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        detail=detail_text,
        prev_hash=head.last_hash,
    )
    entry.hash = _hash_of(entry)
    head.seq = entry.seq
    head.last_hash = entry.hash
    db.session.add(entry)
    db.session.flush()
    if commit:
        db.session.commit()
    return entry


def _walk(batch: int = 2000) -> Iterator[Any]:
    """Every entry as a plain row (not kept in the session), in seq order, in batches."""
    columns = AuditEntry.__table__.c
    last = 0
    while True:
        rows = db.session.execute(
            select(*columns).where(columns.seq > last).order_by(columns.seq).limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].seq


def verify_chain() -> VerifyResult:
    """Recompute every hash, check the links, seq contiguity and the head row."""
    expected_seq, prev_hash, checked = 1, GENESIS_HASH, 0
    last_id: int | None = None
    for entry in _walk():
        if entry.seq != expected_seq:
            return VerifyResult(False, checked, expected_seq,
                                f"entry missing (next present entry is #{entry.seq})")
        if entry.prev_hash != prev_hash:
            return VerifyResult(False, checked, entry.seq,
                                "link broken: prev_hash does not match the previous entry",
                                entry.id)
        if _hash_of(entry) != entry.hash:
            return VerifyResult(False, checked, entry.seq,
                                "hash mismatch: entry was altered", entry.id)
        checked += 1
        expected_seq, prev_hash, last_id = entry.seq + 1, entry.hash, entry.id
    head = db.session.get(AuditHead, 1, populate_existing=True)
    last_seq = expected_seq - 1
    if head is None:
        if checked:
            return VerifyResult(False, checked, last_seq, "head row missing", last_id)
        return VerifyResult(True, 0, head_hash=GENESIS_HASH)
    if head.seq > last_seq:
        return VerifyResult(False, checked, last_seq + 1,
                            f"entries #{last_seq + 1}..#{head.seq} missing (tail deleted)")
    if head.seq < last_seq or head.last_hash != prev_hash:
        return VerifyResult(False, checked, last_seq,
                            "head row does not match the last entry", last_id)
    return VerifyResult(True, checked, head_hash=head.last_hash)


def _day_start(value: date | datetime) -> datetime:
    return value if isinstance(value, datetime) else datetime.combine(value, time.min)


def entries_query(
    *,
    actor_id: int | None = None,
    actor_name: str | None = None,
    object_type: str | None = None,
    object_id: str | int | None = None,
    action: str | None = None,
    date_from: date | datetime | None = None,
    date_to: date | datetime | None = None,
) -> Select[tuple[AuditEntry]]:
    """The filtered select, newest first (a date `date_to` includes that whole day)."""
    stmt = select(AuditEntry)
    if actor_id is not None:
        stmt = stmt.where(AuditEntry.actor_id == actor_id)
    if actor_name:
        stmt = stmt.where(func.lower(AuditEntry.actor_name) == actor_name.strip().lower())
    if object_type:
        stmt = stmt.where(AuditEntry.object_type == object_type)
    if object_id is not None and object_id != "":
        stmt = stmt.where(AuditEntry.object_id == str(object_id))
    if action:
        if action.endswith("*") or action.endswith("."):
            stmt = stmt.where(AuditEntry.action.startswith(action.rstrip("*"), autoescape=True))
        else:
            stmt = stmt.where(AuditEntry.action == action)
    if date_from is not None:
        stmt = stmt.where(AuditEntry.created_at >= _day_start(date_from))
    if isinstance(date_to, datetime):
        stmt = stmt.where(AuditEntry.created_at <= date_to)
    elif date_to is not None:
        stmt = stmt.where(AuditEntry.created_at < _day_start(date_to + timedelta(days=1)))
    return stmt.order_by(AuditEntry.seq.desc())


def entries(
    actor_id: int | None = None,
    object_type: str | None = None,
    object_id: str | int | None = None,
    date_from: date | datetime | None = None,
    date_to: date | datetime | None = None,
    action: str | None = None,
    page: int = 1,
    per_page: int = 50,
    actor_name: str | None = None,
) -> Pagination:
    """One page of entries matching the filters, newest first."""
    stmt = entries_query(actor_id=actor_id, actor_name=actor_name, object_type=object_type,
                         object_id=object_id, action=action, date_from=date_from,
                         date_to=date_to)
    return db.paginate(stmt, page=max(page, 1), per_page=min(max(per_page, 1), 200),
                       error_out=False)


def timeline(object_type: str, object_id: str | int) -> list[AuditEntry]:
    """Every entry about one object, oldest first (for case timelines)."""
    stmt = (select(AuditEntry)
            .where(AuditEntry.object_type == object_type,
                   AuditEntry.object_id == str(object_id))
            .order_by(AuditEntry.seq))
    return list(db.session.execute(stmt).scalars())


def detail_of(entry: AuditEntry) -> dict[str, Any]:
    """The entry's detail parsed back into a dict (empty when unreadable)."""
    try:
        value = json.loads(entry.detail or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
