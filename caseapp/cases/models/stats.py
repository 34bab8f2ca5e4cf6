"""The statistics roll-up: clear metadata aggregated per month and district by a job."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ...extensions import db


class StatsCell(db.Model):  # type: ignore[name-defined]
    """One aggregate: `metric` for (month, district, category, dim[, days]) → n, amount."""

    __tablename__ = "stats_cells"
    __table_args__ = (Index("ix_stats_cells_metric", "metric", "month", "district"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    metric: Mapped[str] = mapped_column(String(24))
    month: Mapped[str] = mapped_column(String(7))
    district: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(32), default="")
    dim: Mapped[str] = mapped_column(String(32), default="")
    days: Mapped[int | None] = mapped_column(Integer)
    n: Mapped[int] = mapped_column(Integer, default=0)
    amount: Mapped[int] = mapped_column(Integer, default=0)


class StatsState(db.Model):  # type: ignore[name-defined]
    """The single row (id=1) saying when the roll-up was last rebuilt."""

    __tablename__ = "stats_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    refreshed_at: Mapped[datetime] = mapped_column(DateTime)
    as_of: Mapped[str] = mapped_column(String(10))  # the day "overdue" was computed for
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
