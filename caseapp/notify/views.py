"""The staff notification list (kinds and links only) and marking a notice read."""

from __future__ import annotations

from flask import Blueprint, Flask, abort, redirect, render_template, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from werkzeug.wrappers import Response

from ..accounts.nav import add_nav
from ..accounts.permissions import Permission, require
from ..extensions import db
from .service import NotifyError, mark_read, unread_for

bp = Blueprint("notify", __name__, url_prefix="/staff/notifications")

KIND_LABELS = {
    "case.assigned": _l("A case was opened with your department on it"),
    "case.department_added": _l("Your department joined a case"),
    "case.tip_linked": _l("A tip was linked to a case"),
    "case.task_assigned": _l("A task was assigned"),
    "case.disposition_proposed": _l("A disposition waits for approval"),
    "case.disposition_decided": _l("A disposition was decided"),
    "case.reopen_requested": _l("A case reopening waits for approval"),
    "tip.overdue_ack": _l("A tip was not acknowledged in time"),
    "tip.overdue_decision": _l("A tip has no decision in time"),
    "case.retention_expiring": _l("A case reaches the end of its retention period soon"),
}


def target_url(object_type: str, object_id: str) -> str | None:
    """Where a notice points to (None when the object has no page)."""
    if object_type == "case":
        return url_for("cases.case_detail", case_id=int(object_id))
    if object_type == "tip":
        return url_for("cases.intake_tip", tip_id=int(object_id))
    if object_type == "reward":
        return url_for("rewards.detail", reward_id=int(object_id))
    return None


@bp.get("/")
@require(Permission.SELF_MANAGE)
def index() -> str:
    """Unread notices of the current user."""
    rows = unread_for(current_user, limit=100)
    return render_template("notify/list.html", rows=rows, labels=KIND_LABELS,
                           target_url=target_url)


@bp.post("/<int:notification_id>/read")
@require(Permission.SELF_MANAGE)
def read(notification_id: int) -> Response:
    """Mark a notice read and go to its object."""
    try:
        row = mark_read(notification_id, current_user)
    except NotifyError:
        abort(404)
    db.session.commit()
    return redirect(target_url(row.object_type, row.object_id) or url_for("notify.index"))


def init_app(app: Flask) -> None:
    """Register the blueprint and the menu entry."""
    app.register_blueprint(bp)
    add_nav(_l("Notifications"), "notify.index", Permission.SELF_MANAGE)
