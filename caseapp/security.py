"""App-wide guards: deny-by-default permission check and security headers on every response."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, abort, redirect, request, url_for
from flask_login import current_user
from werkzeug.routing import IntegerConverter
from werkzeug.wrappers import Response as BaseResponse

from .accounts.permissions import Permission
from .tips.uploads import BIDI_CONTROLS

_NO_BIDI = str.maketrans(dict.fromkeys(BIDI_CONTROLS))

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
    "Cache-Control": "no-store",
}


def required_permission(app: Flask, endpoint: str) -> Permission | None | bool:
    """The permission an endpoint needs; True when public; None when it declares nothing."""
    view = app.view_functions.get(endpoint)
    if view is None or endpoint == "static" or getattr(view, "_caseapp_public", False):
        return True
    return getattr(view, "_caseapp_permission", None)


def guard() -> BaseResponse | None:
    """Before every request: public views pass, others need a login and the permission."""
    from flask import current_app

    from .audit.service import record

    if request.endpoint is None:
        return None  # 404/405 are answered by Flask
    need = required_permission(current_app, request.endpoint)
    if need is True:
        return None
    if not current_user.is_authenticated:
        return redirect(url_for("accounts.login", next=request.path))
    if need is None or not current_user.can(need):
        record("access.denied", actor=current_user, object_type="endpoint",
               object_id=request.endpoint, detail={"method": request.method,
                                                   "needs": str(need)}, commit=True)
        abort(403)
    return None


def add_headers(response: Response) -> Response:
    """Security headers on every response, errors included."""
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", "max-age=63072000")
    return response


class BoundedInt(IntegerConverter):
    """`<int:…>` in URLs, at most 2**31 - 1: a larger id is a 404, not a database error."""

    def __init__(self, map: Any, fixed_digits: int = 0, min: int | None = None,  # noqa: A002
                 max: int | None = 2**31 - 1, signed: bool = False) -> None:  # noqa: A002
        super().__init__(map, fixed_digits, min, max, signed)


def refuse_nul() -> None:
    """A NUL character in the query string or a form field is never typed: 400.

    PostgreSQL cannot store or compare it, so it would otherwise end as a server error.
    """
    values = list(request.args.values())
    if request.method == "POST" and request.mimetype in ("application/x-www-form-urlencoded",
                                                         "multipart/form-data"):
        values += [v for vs in request.form.listvalues() for v in vs]
    if any("\x00" in v for v in values):
        abort(400)


def without_bidi(value: Any) -> Any:
    """Jinja `finalize`: printed text loses direction overrides, so none can reorder a page."""
    return value.translate(_NO_BIDI) if isinstance(value, str) else value  # Markup stays Markup


def init_app(app: Flask) -> None:
    """Install the URL converter, the guards and the header hook (before any route exists)."""
    app.jinja_env.finalize = without_bidi
    app.url_map.converters["int"] = BoundedInt
    app.before_request(refuse_nul)
    app.before_request(guard)
    app.after_request(add_headers)
