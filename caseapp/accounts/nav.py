"""The staff navigation: a small registry every feature appends to."""

from __future__ import annotations

from typing import Any, NamedTuple

from flask import current_app, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from .permissions import Permission


class NavEntry(NamedTuple):
    """One registered menu entry."""

    label: Any  # a lazy string
    endpoint: str
    permission: Permission


class NavItem(NamedTuple):
    """One menu entry rendered for the current user."""

    label: str
    url: str
    active: bool


NAV: list[NavEntry] = [
    NavEntry(_l("Home"), "accounts.home", Permission.SELF_MANAGE),
    NavEntry(_l("Department keys"), "accounts.department_keys", Permission.KEYS_GRANT),
    NavEntry(_l("Users"), "admin.users", Permission.USERS_MANAGE),
    NavEntry(_l("Departments"), "admin.departments", Permission.DEPARTMENTS_MANAGE),
]


def add_nav(label: Any, endpoint: str, permission: Permission) -> None:
    """Register a menu entry (use `lazy_gettext` for the label); idempotent per endpoint."""
    if all(entry.endpoint != endpoint for entry in NAV):
        NAV.append(NavEntry(label, endpoint, permission))


def staff_nav() -> list[NavItem]:
    """Menu entries the current user may use, skipping endpoints this app lacks."""
    if not current_user.is_authenticated:
        return []
    here = request.endpoint or ""
    items = []
    for entry in NAV:
        if entry.endpoint not in current_app.view_functions:
            continue
        if not current_user.can(entry.permission):
            continue
        active = here == entry.endpoint or (
            entry.endpoint != "accounts.home"
            and here.rsplit(".", 1)[0] == entry.endpoint.rsplit(".", 1)[0]
            and _same_section(here, entry.endpoint))
        items.append(NavItem(str(entry.label), url_for(entry.endpoint), active))
    return items


def _same_section(here: str, endpoint: str) -> bool:
    """`admin.user_edit` belongs to `admin.users`: compare the first word of the view name."""
    a = here.rsplit(".", 1)[-1].split("_")[0].rstrip("s")
    b = endpoint.rsplit(".", 1)[-1].split("_")[0].rstrip("s")
    return a == b
