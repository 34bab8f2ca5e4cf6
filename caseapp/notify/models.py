"""The notification table: recipient, kind and object; no content, ever."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .. import clock
from ..extensions import db


class Notification(db.Model):  # type: ignore[name-defined]
    """One notice for a user, or for every holder of a role in a department.

    A department/role notice is shared: the first member who marks it read marks it read
    for all of them (it is a work item, not a personal inbox).
    """

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_dept_role", "department_id", "role", "read_at"),
        Index("ix_notifications_user", "user_id", "read_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(String(64))
    department_id: Mapped[int | None] = mapped_column(
        ForeignKey("departments.id", ondelete="CASCADE"))
    role: Mapped[str | None] = mapped_column(String(32))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=clock.now)
    read_at: Mapped[datetime | None] = mapped_column(DateTime)
    read_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
