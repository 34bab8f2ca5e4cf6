"""The portal's "cases handled" page: anonymised outcomes only (no names, no references)."""

from __future__ import annotations

from flask import render_template, request

from ...accounts.permissions import public
from ...paging import page_arg
from ..disposition import public_outcomes
from . import public_bp


@public_bp.get("/cases-handled")
@public
def cases_handled() -> str:
    """Published outcomes, newest first."""
    page = page_arg(request.args)
    rows, total = public_outcomes(page)
    return render_template("cases/public_outcomes.html", rows=rows, total=total, page=page)
