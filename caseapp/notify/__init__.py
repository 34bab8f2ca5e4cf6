"""Content-free notifications for staff: who should look at what, never what it says."""

from .models import Notification
from .service import mark_read, notify, unread_count, unread_for

__all__ = ["Notification", "mark_read", "notify", "unread_count", "unread_for"]
