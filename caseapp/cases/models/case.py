"""The case, its departments, its versioned key wraps and the tips linked to it."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from ... import clock
from ...extensions import db


class CaseStatus(StrEnum):
    """Where a case stands."""

    OPEN = "open"
    INVESTIGATING = "investigating"
    DISPOSITION_PROPOSED = "disposition_proposed"
    CLOSED = "closed"
    REOPENED = "reopened"


class DepartmentRole(StrEnum):
    """A department's part in a case."""

    LEAD = "lead"
    JOINT = "joint"


class WrapKind(StrEnum):
    """Who a copy of a case key is wrapped for."""

    DEPARTMENT = "department"  # HPKE-sealed to the department public key
    DEPARTMENT_SYM = "department_sym"  # wrapped under the department symmetric key (cheap)
    ESCROW = "escrow"  # HPKE-sealed to the escrow key; holder_id = escrow key id


class Case(db.Model):  # type: ignore[name-defined]
    """A case; `header` is the encrypted JSON {title, summary} under `header_version`."""

    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_lead_status", "lead_department_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ref: Mapped[str | None] = mapped_column(String(32), unique=True)
    category: Mapped[str] = mapped_column(String(32), index=True)
    district: Mapped[str] = mapped_column(String(16), index=True)
    status: Mapped[str] = mapped_column(String(24), default=CaseStatus.OPEN.value, index=True)
    lead_department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))
    key_version: Mapped[int] = mapped_column(Integer, default=1)
    header_version: Mapped[int] = mapped_column(Integer, default=1)
    header: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=clock.now)
    created_on: Mapped[date] = mapped_column(Date, index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=clock.now, index=True)
    due_on: Mapped[date | None] = mapped_column(Date)
    first_tip_id: Mapped[int | None] = mapped_column(ForeignKey("tips.id", ondelete="SET NULL"))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime)
    closed_on: Mapped[date | None] = mapped_column(Date)
    days_to_close: Mapped[int | None] = mapped_column(Integer)
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)

    def __repr__(self) -> str:
        return f"<Case {self.ref or self.id}>"


class CaseDepartment(db.Model):  # type: ignore[name-defined]
    """A department on a case (exactly one lead, any number of joint departments)."""

    __tablename__ = "case_departments"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"),
                                         primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id", ondelete="CASCADE"),
                                               primary_key=True, index=True)
    role: Mapped[str] = mapped_column(String(8))
    added_at: Mapped[datetime] = mapped_column(DateTime, default=clock.now)
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class CaseKeyWrap(db.Model):  # type: ignore[name-defined]
    """One version of a case key wrapped for one holder."""

    __tablename__ = "case_key_wraps"
    __table_args__ = (UniqueConstraint("case_id", "key_version", "holder_kind", "holder_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    key_version: Mapped[int] = mapped_column(Integer)
    holder_kind: Mapped[str] = mapped_column(String(16))
    holder_id: Mapped[str] = mapped_column(String(64))
    wrapped: Mapped[bytes] = mapped_column(LargeBinary)


class CaseTip(db.Model):  # type: ignore[name-defined]
    """A tip that belongs to a case (promoted into it or linked to it later).

    `pending` means the tip key is not yet wrapped under the case key: intake sealed it
    to each case department's public key (`CaseTipSeal`), and the first case member who
    opens the case converts the seal into a case-key wrap.
    """

    __tablename__ = "case_tips"

    tip_id: Mapped[int] = mapped_column(ForeignKey("tips.id", ondelete="CASCADE"),
                                        primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    via: Mapped[str] = mapped_column(String(8))  # "promote" | "link"
    pending: Mapped[bool] = mapped_column(Boolean, default=False)
    linked_at: Mapped[datetime] = mapped_column(DateTime, default=clock.now)
    linked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class CaseTipSeal(db.Model):  # type: ignore[name-defined]
    """A linked tip's key sealed to one case department until a member converts it."""

    __tablename__ = "case_tip_seals"
    __table_args__ = (UniqueConstraint("case_id", "tip_id", "department_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    tip_id: Mapped[int] = mapped_column(ForeignKey("tips.id", ondelete="CASCADE"))
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id", ondelete="CASCADE"))
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
