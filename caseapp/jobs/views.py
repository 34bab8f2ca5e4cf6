"""Administrator page: failed and pending background jobs."""

from __future__ import annotations

from flask import Blueprint, Flask, render_template
from flask_babel import lazy_gettext as _l

from ..accounts.permissions import Permission, require
from .service import status

bp = Blueprint("jobs", __name__, url_prefix="/staff/admin")


@bp.get("/jobs")
@require(Permission.JOBS_READ)
def index() -> str:
    """Counts of open jobs, failed outbox jobs and rq's failed job ids."""
    return render_template("admin/jobs.html", info=status())


def init_app(app: Flask) -> None:
    """Register the blueprint and its menu entry."""
    from ..accounts.nav import add_nav

    app.register_blueprint(bp)
    add_nav(_l("Jobs"), "jobs.index", Permission.JOBS_READ)
