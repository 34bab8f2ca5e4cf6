"""Locale selection: `?lang=` wins, then the staff session's choice, then zh_CN.

The portal never sets a cookie for the language: the choice travels in the query
string (added to every generated URL), so a visitor has no cookie until they submit.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, g, request, session


def select_locale() -> str:
    """Pick the locale for this request."""
    locales = current_app.config["CASEAPP"].locales
    asked = request.args.get("lang")
    if asked in locales:
        return str(asked)
    chosen = session.get("lang") if session else None
    if chosen in locales:
        return str(chosen)
    return str(current_app.config["CASEAPP"].default_locale)


def _keep_lang(endpoint: str, values: dict[str, Any]) -> None:
    """Carry an explicit `?lang=` into every URL built during this request."""
    lang = request.args.get("lang") if request else None
    if lang and "lang" not in values and endpoint != "static":
        values["lang"] = lang


def _remember_lang() -> None:
    """A logged-in staff member's choice is kept in their server-side session."""
    g.locale = select_locale()
    asked = request.args.get("lang")
    locales = current_app.config["CASEAPP"].locales
    if asked in locales and session.get("_user_id") and session.get("lang") != asked:
        session["lang"] = asked


def lang_url(lang: str) -> str:
    """The current page in another language."""
    args = request.args.to_dict()
    args["lang"] = lang
    from urllib.parse import urlencode

    return request.path + "?" + urlencode(args)


def init_app(app: Flask) -> None:
    """Register the URL and request hooks."""
    app.url_defaults(_keep_lang)
    app.before_request(_remember_lang)
    app.jinja_env.globals["lang_url"] = lang_url
