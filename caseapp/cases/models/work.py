"""The work on a case: tasks, notes, joint actions, seized items, evidence and subjects.

Every row's `body` (or `record`/`meta`) is encrypted under the case key version stored in
`key_version`, bound to the row (`case:<id>:<kind>:<row id>`); only what lists, deadlines
and statistics need stays clear.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Date, DateTime, ForeignKey, Index, Integer, LargeBinary, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from ... import clock
from ...extensions import db


class TaskStatus(StrEnum):
    """State of a task."""

    TODO = "todo"
    DOING = "doing"
    DONE = "done"
    CANCELLED = "cancelled"


class ActionStatus(StrEnum):
    """State of a joint action."""

    PLANNED = "planned"
    DONE = "done"
    CANCELLED = "cancelled"


class SeizedKind(StrEnum):
    """Kinds of seized or sealed items."""

    ULTRASOUND = "ultrasound_machine"
    SUCTION = "suction_device"
    FETAL_HEART_MONITOR = "fetal_heart_monitor"
    DRUGS = "drugs"
    OTHER = "other"


class SubjectKind(StrEnum):
    """Who or what a case is about."""

    CLINIC = "clinic"
    PERSON = "person"
    PHARMACY = "pharmacy"


class _CaseRow:
    """Columns every encrypted case row has."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=clock.now)


class Task(_CaseRow, db.Model):  # type: ignore[name-defined]
    """A task for a department or a person; body = {title, detail}."""

    __tablename__ = "case_tasks"
    __table_args__ = (
        Index("ix_case_tasks_user_status", "assignee_user_id", "status"),
        Index("ix_case_tasks_dept_status", "assignee_department_id", "status"),
    )

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    body: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    assignee_department_id: Mapped[int | None] = mapped_column(
        ForeignKey("departments.id", ondelete="SET NULL"))
    assignee_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"))
    due_on: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(12), default=TaskStatus.TODO.value)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=clock.now)


class Note(_CaseRow, db.Model):  # type: ignore[name-defined]
    """An internal note (never shown to the tipster)."""

    __tablename__ = "case_notes"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    body: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class JointAction(_CaseRow, db.Model):  # type: ignore[name-defined]
    """A joint action (联合行动); body = {premises, departments, people, result}."""

    __tablename__ = "case_actions"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    planned_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(12), default=ActionStatus.PLANNED.value)
    body: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class SeizedItem(_CaseRow, db.Model):  # type: ignore[name-defined]
    """A seized or sealed item; kind and count clear, body = {description, custody}."""

    __tablename__ = "case_seized_items"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    action_id: Mapped[int | None] = mapped_column(
        ForeignKey("case_actions.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(24))
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    sealed_only: Mapped[bool] = mapped_column(default=False)
    body: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


LAYOUT_ROW_ID = 1  # the file's content is bound to the row id (stored before one-pass uploads)
LAYOUT_STORED_NAME = 2  # bound to the stored name, so it can be written before the row exists


class Evidence(_CaseRow, db.Model):  # type: ignore[name-defined]
    """An evidence file: ciphertext on disk; meta = {name, mime, size, sha256} encrypted."""

    __tablename__ = "case_evidence"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    stored_name: Mapped[str] = mapped_column(String(64), unique=True)
    layout: Mapped[int] = mapped_column(SmallInteger, default=LAYOUT_STORED_NAME,
                                        server_default=str(LAYOUT_ROW_ID))
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    meta: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    uploaded_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"))


class Subject(_CaseRow, db.Model):  # type: ignore[name-defined]
    """A clinic, person or pharmacy; record = {name, address, phone, licence, note}."""

    __tablename__ = "case_subjects"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(12))
    record: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class SubjectIndex(db.Model):  # type: ignore[name-defined]
    """Blind index (clinic, phone, address) of a subject, same scheme as the tips'."""

    __tablename__ = "case_blind_indexes"
    __table_args__ = (Index("ix_case_blind_indexes_lookup", "kind", "value"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("case_subjects.id", ondelete="CASCADE"),
                                            index=True)
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(32))
