"""The intake queue: new tips oldest first, their deadlines, and opening one tip."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select

from .. import clock
from ..crypto import DecryptionError, KeyUnavailable, decrypt_text, unwrap_key
from ..extensions import db
from ..retention.locks import subject_keys
from ..retention.models import RetentionKind
from ..tips.access import TipContent, open_content
from ..tips.models import HolderKind, Status, Tip, TipKeyWrap, TipMessage
from ..tips.service import content_aad, key_aad
from .common import Page, cfg, commit_for_display, opened
from .models import TipIntake
from .subjects import related_counts
from .tipkeys import intake_tip_key

QUEUE_STATUSES = (Status.RECEIVED.value, Status.UNDER_REVIEW.value, Status.NEEDS_INFO.value)
SUMMARY_CHARS = 80


@dataclass
class QueueRow:
    """One tip in the queue: clear metadata, deadlines, related count, decrypted summary."""

    tip: Tip
    intake: TipIntake | None
    age_days: int
    overdue_ack: bool
    overdue_decision: bool
    related: int
    replied: bool
    place: str | None = None
    summary: str | None = None


def deadlines(submitted_on: date) -> tuple[date, date]:
    """(acknowledge by, first decision by) for a tip submitted on `submitted_on`."""
    config = cfg()
    return (submitted_on + timedelta(days=config.ack_days),
            submitted_on + timedelta(days=config.decision_days))


def overdue_flags(tip: Tip, intake: TipIntake | None, today: date) -> tuple[bool, bool]:
    """(acknowledgement overdue, first decision overdue)."""
    ack_by, decide_by = deadlines(tip.submitted_on)
    ack_done = intake is not None and intake.acknowledged_at is not None
    decided = intake is not None and intake.first_decision_at is not None
    return (not ack_done and today > ack_by, not decided and today > decide_by)


def intake_tip_keys(tips: list[Tip], keyring: Any) -> dict[int, bytes]:
    """Tip keys for a page of tips: one query for the symmetric wraps, then AES only."""
    if not tips:
        return {}
    dept_id = getattr(keyring.user, "department_id", None)
    out: dict[int, bytes] = {}
    if dept_id is not None:
        try:
            sym = keyring.department_symmetric(int(dept_id))
        except KeyUnavailable:
            return {}
        for tip_id, wrapped in db.session.execute(select(
                TipKeyWrap.tip_id, TipKeyWrap.wrapped).where(
                TipKeyWrap.tip_id.in_([t.id for t in tips]),
                TipKeyWrap.holder_kind == HolderKind.DEPARTMENT_SYM.value,
                TipKeyWrap.holder_id == str(dept_id))):
            try:
                out[tip_id] = unwrap_key(sym, wrapped, key_aad(tip_id, "department", dept_id))
            except DecryptionError:
                continue
        out = subject_keys(RetentionKind.TIP, out)  # wrapped keys → content keys
    for tip in tips:
        if tip.id not in out:
            try:
                out[tip.id] = intake_tip_key(tip, keyring)  # adds the symmetric wrap
            except KeyUnavailable:
                continue
    return out


def tip_fields(tip: Tip, key: bytes) -> dict[str, str]:
    """The typed fields of a tip (content envelope only, no files or messages)."""
    envelope = json.loads(decrypt_text(key, tip.content, content_aad(tip.id)))
    fields = envelope.get("fields", {})
    return fields if isinstance(fields, dict) else {}


def _replied(rows: list[tuple[Tip, TipIntake | None]]) -> set[int]:
    """Tips waiting for information whose tipster answered after the question."""
    asked = {t.id: i.asked_at for t, i in rows
             if t.status == Status.NEEDS_INFO and i is not None and i.asked_at is not None}
    if not asked:
        return set()
    latest = db.session.execute(
        select(TipMessage.tip_id, func.max(TipMessage.created_at))
        .where(TipMessage.tip_id.in_(list(asked)), TipMessage.author == "tipster")
        .group_by(TipMessage.tip_id)).all()
    return {tid for tid, at in latest if at is not None and at > asked[tid]}


def queue(keyring: Any, actor: Any, *, page: int = 1, per_page: int = 50,
          decrypt: bool = True, status: str | None = None) -> Page[QueueRow]:
    """A page of the intake queue, oldest first; with `decrypt`, summaries are opened."""
    statuses = [status] if status in QUEUE_STATUSES else list(QUEUE_STATUSES)
    total = int(db.session.scalar(select(func.count()).select_from(Tip).where(
        Tip.status.in_(statuses))) or 0)
    page = max(1, page)
    # Walk the submission-date index oldest first and stop after one page; the status test
    # is wrapped so that the planner does not sort every waiting tip by date instead.
    ids = list(db.session.scalars(
        select(Tip.id).where(func.coalesce(Tip.status, "").in_(statuses))
        .order_by(Tip.submitted_on, Tip.id).limit(per_page).offset((page - 1) * per_page)))
    found = db.session.execute(select(Tip, TipIntake).outerjoin(
        TipIntake, TipIntake.tip_id == Tip.id).where(Tip.id.in_(ids))).all()
    order = {tip_id: n for n, tip_id in enumerate(ids)}
    pairs = sorted(((t, i) for t, i in found), key=lambda pair: order[pair[0].id])
    today = clock.now().date()
    counts = related_counts([t.id for t, _ in pairs])
    replied = _replied(pairs)
    rows = []
    for tip, intake in pairs:
        ack, decide = overdue_flags(tip, intake, today)
        rows.append(QueueRow(tip, intake, (today - tip.submitted_on).days, ack, decide,
                             counts.get(tip.id, 0), tip.id in replied))
    if decrypt and rows:
        keys = intake_tip_keys([r.tip for r in rows], keyring)
        for row in rows:
            key = keys.get(row.tip.id)
            if key is None:
                continue
            fields = tip_fields(row.tip, key)
            row.place = fields.get("place_name") or None
            row.summary = (fields.get("narrative") or "")[:SUMMARY_CHARS]
        if keys:
            opened("tip", None, actor, "intake_queue", ids=sorted(keys))
            commit_for_display()
    return Page(rows, total, page, per_page)


def intake_row(tip_id: int) -> TipIntake:
    """The intake row of a tip, created when missing (flushed)."""
    row = db.session.get(TipIntake, tip_id)
    if row is None:
        row = TipIntake(tip_id=tip_id)
        db.session.add(row)
        db.session.flush()
    return row


def acknowledge(tip: Tip, actor: Any) -> bool:
    """Mark the tip acknowledged (first opening by intake); received → under review."""
    row = intake_row(tip.id)
    changed = False
    if row.acknowledged_at is None:
        row.acknowledged_at = clock.now()
        row.acknowledged_by_id = getattr(actor, "id", None)
        changed = True
    if tip.status == Status.RECEIVED:
        tip.status = Status.UNDER_REVIEW.value
        tip.status_changed_on = clock.now().date()
        changed = True
    if changed:
        from ..audit.service import record

        record("tip.acknowledged", actor=actor, object_type="tip", object_id=tip.id)
    return changed


def open_for_intake(tip: Tip, keyring: Any, actor: Any) -> TipContent:
    """Open a tip for intake: acknowledge it, decrypt everything, audit; commits."""
    key = intake_tip_key(tip, keyring)
    content = open_content(tip, key)
    acknowledge(tip, actor)
    opened("tip", tip.id, actor, "intake_tip")
    commit_for_display()
    return content
