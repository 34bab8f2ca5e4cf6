"""Filter form of the audit log page (GET, no CSRF: it changes nothing)."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, StringField
from wtforms.validators import Length, Optional


class AuditFilterForm(FlaskForm):
    """Who, what object, which action, which dates."""

    class Meta:
        csrf = False

    user = StringField(_l("User (name or id)"), validators=[Optional(), Length(max=200)])
    object_type = StringField(_l("Object type"), validators=[Optional(), Length(max=100)])
    object_id = StringField(_l("Object id"), validators=[Optional(), Length(max=200)])
    action = StringField(_l("Action"), validators=[Optional(), Length(max=100)])
    date_from = DateField(_l("From"), validators=[Optional()])
    date_to = DateField(_l("To"), validators=[Optional()])

    def filters(self) -> dict[str, Any]:
        """The filled-in fields as keyword arguments of `service.entries`."""
        out: dict[str, Any] = {}
        user = (self.user.data or "").strip()
        if user.isascii() and user.isdigit() and int(user) < 2**31:  # an id the column holds
            out["actor_id"] = int(user)
        elif user:
            out["actor_name"] = user
        for name in ("object_type", "object_id", "action"):
            value = (getattr(self, name).data or "").strip()
            if value:
                out[name] = value
        if self.date_from.data:
            out["date_from"] = self.date_from.data
        if self.date_to.data:
            out["date_to"] = self.date_to.data
        return out
