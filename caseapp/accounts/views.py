"""STUB — staff login and home."""

from flask import Blueprint, Flask

from ..extensions import login_manager
from .permissions import Permission, public, require

bp = Blueprint("accounts", __name__, url_prefix="/staff")


@bp.get("/login")
@public
def login() -> str:
    """Placeholder login."""
    return "login"


@bp.get("/")
@require(Permission.SELF_MANAGE)
def home() -> str:
    """Placeholder home."""
    return "home"


@bp.get("/account")
@require(Permission.SELF_MANAGE)
def account() -> str:
    """Placeholder."""
    return "account"


@bp.post("/logout")
@require(Permission.SELF_MANAGE)
def logout() -> str:
    """Placeholder."""
    return "logout"


@login_manager.user_loader
def _load(_uid: str) -> None:
    return None


def init_app(app: Flask) -> None:
    """Register the blueprint."""
    app.register_blueprint(bp)
    app.jinja_env.globals["staff_nav"] = lambda: []
