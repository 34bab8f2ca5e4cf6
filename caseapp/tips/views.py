"""The public portal blueprint (anonymous; its own base template; no cookie until needed)."""

from __future__ import annotations

from flask import Blueprint, Flask, render_template

from ..accounts.permissions import public

bp = Blueprint("tips", __name__)


@bp.get("/")
@public
def index() -> str:
    """Landing page of the tip portal."""
    return render_template("tips/index.html")


def init_app(app: Flask) -> None:
    """Register the portal blueprint."""
    app.register_blueprint(bp)
