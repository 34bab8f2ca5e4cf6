"""Creating, listing and marking notifications; callers commit."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from .. import clock
from ..extensions import db
from .models import Notification


class NotifyError(Exception):
    """A notification without a recipient, or one the user may not touch."""


def notify(kind: str, *, object_type: str, object_id: int | str,
           department_id: int | None = None, role: str | None = None,
           user_id: int | None = None) -> Notification:
    """Add a notice for a user, or for a department (optionally only one role in it)."""
    if user_id is None and department_id is None:
        raise NotifyError("a notification needs a user or a department")
    row = Notification(kind=kind, object_type=object_type, object_id=str(object_id),
                       department_id=department_id, role=role, user_id=user_id,
                       created_at=clock.now())
    db.session.add(row)
    db.session.flush()
    return row


def _addressed_to(user: Any) -> ColumnElement[bool]:
    """Notices for this user personally or for their department and one of their roles."""
    personal = Notification.user_id == user.id
    dept_id = getattr(user, "department_id", None)
    if dept_id is None:
        return personal
    roles = sorted(getattr(user, "roles", ()) or ())
    shared = and_(Notification.user_id.is_(None), Notification.department_id == dept_id,
                  or_(Notification.role.is_(None), Notification.role.in_(roles)))
    return or_(personal, shared)


def unread_for(user: Any, limit: int = 20) -> list[Notification]:
    """The newest unread notices for `user` (for the staff home)."""
    stmt = (select(Notification).where(_addressed_to(user), Notification.read_at.is_(None))
            .order_by(Notification.created_at.desc(), Notification.id.desc()).limit(limit))
    return list(db.session.scalars(stmt))


def unread_count(user: Any) -> int:
    """How many unread notices `user` has."""
    stmt = select(func.count()).select_from(Notification).where(
        _addressed_to(user), Notification.read_at.is_(None))
    return int(db.session.scalar(stmt) or 0)


def mark_read(notification_id: int, user: Any) -> Notification:
    """Mark one notice read (only its recipients may)."""
    row = db.session.scalar(select(Notification).where(
        Notification.id == notification_id, _addressed_to(user)))
    if row is None:
        raise NotifyError("no such notification for this user")
    if row.read_at is None:
        row.read_at = clock.now()
        row.read_by_id = user.id
    return row
