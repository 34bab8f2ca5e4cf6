"""Intake bookkeeping of a tip: acknowledgement, deadlines' escalation, and decisions."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import DateTime, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from ... import clock
from ...extensions import db


class DecisionKind(StrEnum):
    """What intake decided about a tip."""

    PROMOTE = "promote"
    LINK = "link"
    ASK = "ask"
    REJECT = "reject"
    REFER = "refer"


class TipIntake(db.Model):  # type: ignore[name-defined]
    """Per-tip intake state (created on first acknowledgement, decision or escalation)."""

    __tablename__ = "tip_intake"

    tip_id: Mapped[int] = mapped_column(ForeignKey("tips.id", ondelete="CASCADE"),
                                        primary_key=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime)
    acknowledged_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"))
    first_decision_at: Mapped[datetime | None] = mapped_column(DateTime)
    first_decision_days: Mapped[int | None] = mapped_column(Integer)
    asked_at: Mapped[datetime | None] = mapped_column(DateTime)
    ack_escalated_at: Mapped[datetime | None] = mapped_column(DateTime)
    decision_escalated_at: Mapped[datetime | None] = mapped_column(DateTime)


class TipDecision(db.Model):  # type: ignore[name-defined]
    """One intake decision; `reason` is encrypted under the tip key."""

    __tablename__ = "tip_decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tip_id: Mapped[int] = mapped_column(ForeignKey("tips.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    reason_code: Mapped[str] = mapped_column(String(32), default="")
    reason: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="SET NULL"))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime] = mapped_column(DateTime, default=clock.now)
