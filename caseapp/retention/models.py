"""The retention lock of a subject: its wrapped pad, its epoch and when it expires."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Date, DateTime, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .. import clock
from ..extensions import db


class RetentionKind(StrEnum):
    """What a retention lock covers."""

    TIP = "tip"
    CASE = "case"
    REWARD = "reward"  # the claim of a reward (the reward row itself is kept for accounting)


LEGACY_EPOCH = "legacy"  # subjects stored before retention existed: no pad (wrapped_pad NULL)


class RetentionLock(db.Model):  # type: ignore[name-defined]
    """One subject's pad, wrapped under R[epoch] from the retention key file.

    `epoch` is "active" while the subject has no outcome and "YYYY-MM" of `expires_on`
    once an outcome fixed it; the purge deletes the subject, then this row, then (when no
    lock is left in it and its month is over) the epoch key itself.
    """

    __tablename__ = "retention_locks"
    __table_args__ = (
        UniqueConstraint("subject_kind", "subject_id", name="uq_retention_locks_subject"),
        Index("ix_retention_locks_expires_on", "expires_on"),
        Index("ix_retention_locks_epoch", "epoch"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_kind: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[int] = mapped_column(Integer)
    epoch: Mapped[str] = mapped_column(String(16))
    wrapped_pad: Mapped[bytes | None] = mapped_column(LargeBinary)
    expires_on: Mapped[date | None] = mapped_column(Date)
    outcome: Mapped[str | None] = mapped_column(String(32))  # what fixed the expiry date
    warned_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=clock.now)

    def __repr__(self) -> str:
        return f"<RetentionLock {self.subject_kind}:{self.subject_id} {self.epoch}>"
