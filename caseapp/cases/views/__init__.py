"""Blueprints of the case workflow: intake, cases, statistics (staff) and outcomes (portal)."""

from __future__ import annotations

from flask import Blueprint, Flask
from flask_babel import lazy_gettext as _l

from ...accounts.nav import add_nav
from ...accounts.permissions import Permission

bp = Blueprint("cases", __name__, url_prefix="/staff")
public_bp = Blueprint("cases_public", __name__)


def init_app(app: Flask) -> None:
    """Register the blueprints, the menu entries and the notification pages."""
    from ...accounts.keys import add_escrow_rewrapper
    from ...notify import views as notify_views
    from ..evidence import discard_unkept
    from ..keys import rewrap_cases_for_escrow
    from . import case, disposition, helpers, intake, public, stats, tipfiles, work  # noqa: F401

    add_escrow_rewrapper(rewrap_cases_for_escrow)
    app.teardown_request(discard_unkept)  # uploads that did not become evidence

    app.register_blueprint(bp)
    app.register_blueprint(public_bp)
    notify_views.init_app(app)
    add_nav(_l("Intake queue"), "cases.intake_queue", Permission.TIPS_DECIDE)
    add_nav(_l("Cases"), "cases.case_list", Permission.CASES_READ)
    add_nav(_l("My tasks"), "cases.my_tasks", Permission.CASES_READ)
    add_nav(_l("Statistics"), "cases.stats", Permission.STATS_READ)
