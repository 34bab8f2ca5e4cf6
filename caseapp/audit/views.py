"""Auditor pages: the audit log, filtered and paginated, newest first."""

from __future__ import annotations

from flask import Blueprint, Flask, render_template, request
from flask_babel import lazy_gettext as _l

from ..accounts.permissions import Permission, require
from ..paging import page_arg
from .forms import AuditFilterForm
from .service import detail_of, entries

bp = Blueprint("audit", __name__, url_prefix="/staff/audit")
PER_PAGE = 50


@bp.get("/")
@require(Permission.AUDIT_READ)
def index() -> str:
    """List audit entries matching the GET filters."""
    form = AuditFilterForm(formdata=request.args)
    form.validate()
    page = page_arg(request.args)
    result = entries(page=page, per_page=PER_PAGE, **form.filters())
    keep = {k: v for k, v in request.args.items() if k != "page" and v}
    return render_template("audit/list.html", form=form, page=result, keep=keep,
                           detail_of=detail_of)


def init_app(app: Flask) -> None:
    """Register the blueprint and its menu entry."""
    from ..accounts.nav import add_nav

    app.register_blueprint(bp)
    add_nav(_l("Audit log"), "audit.index", Permission.AUDIT_READ)
