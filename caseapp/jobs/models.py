"""The job outbox (written with the change that causes a job) and periodic-run bookkeeping."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db


class OutboxJob(db.Model):  # type: ignore[name-defined]
    """A job to run after its transaction commits; the row is the durable record of it."""

    __tablename__ = "outbox_jobs"
    __table_args__ = (
        Index("ix_outbox_jobs_open", "done_at", "failed_at", "dispatched_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    payload: Mapped[str] = mapped_column(Text, nullable=False, default="{}")
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    run_after: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    dispatched_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    done_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    failed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)

    @property
    def kwargs(self) -> dict[str, Any]:
        """The job's keyword arguments (ids only)."""
        value = json.loads(self.payload or "{}")
        return value if isinstance(value, dict) else {}

    @property
    def rq_job_id(self) -> str:
        """The id of this job in rq."""
        return f"outbox-{self.id}"

    def __repr__(self) -> str:
        return f"<OutboxJob {self.id} {self.name}>"


class PeriodicRun(db.Model):  # type: ignore[name-defined]
    """When a periodic job was last enqueued; the row lock stops two workers doubling it."""

    __tablename__ = "periodic_runs"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    last_enqueued_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
