"""The logged-in staff member of this request, typed."""

from __future__ import annotations

from flask_login import current_user

from .models import User


def current_staff() -> User:
    """The User behind `current_user` (views are only reached logged in)."""
    user: User = current_user._get_current_object()
    return user
