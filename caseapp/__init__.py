"""caseapp: case management for tips about illegal fetal sex determination (两非)."""

from __future__ import annotations

from flask import Flask, render_template
from werkzeug.exceptions import HTTPException

from .config import Config


def create_app(config: Config | None = None) -> Flask:
    """Build the application; the only place an app is created."""
    from . import cli, database, i18n, jobs, logs, security
    from .accounts import views as accounts_views
    from .accounts.sessions import ServerSessionInterface
    from .audit import views as audit_views
    from .cases import views as cases_views
    from .extensions import babel, csrf, db, login_manager, migrate
    from .retention import init_app as retention_init
    from .rewards import views as rewards_views
    from .tips import views as tips_views

    cfg = config or Config.from_env()
    app = Flask(__name__, instance_path=str(cfg.instance_path))
    app.config.update(
        CASEAPP=cfg,
        SECRET_KEY=cfg.secret_key,
        TESTING=cfg.testing,
        SQLALCHEMY_DATABASE_URI=cfg.database_url,
        SQLALCHEMY_ENGINE_OPTIONS=_engine_options(cfg.database_url),
        SESSION_COOKIE_NAME="caseapp_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=cfg.session_cookie_secure,
        WTF_CSRF_TIME_LIMIT=None,
        BABEL_DEFAULT_LOCALE=cfg.default_locale,
        BABEL_TRANSLATION_DIRECTORIES="translations",
        MAX_CONTENT_LENGTH=None,
    )
    if cfg.proxy_fix:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_proto=1, x_host=1)  # type: ignore[method-assign]

    db.init_app(app)
    database.init_app(app)
    migrate.init_app(app, db, directory=str(_migrations_dir()))
    login_manager.init_app(app)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=i18n.select_locale)
    app.session_interface = ServerSessionInterface()

    i18n.init_app(app)
    security.init_app(app)
    logs.init_app(app)
    jobs.init_app(app)
    accounts_views.init_app(app)
    audit_views.init_app(app)
    tips_views.init_app(app)
    cases_views.init_app(app)
    rewards_views.init_app(app)
    retention_init(app)
    cli.init_app(app)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[str, int]:
        return render_template("error.html", error=exc), exc.code or 500

    return app


def _engine_options(url: str) -> dict[str, object]:
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 30, "check_same_thread": False}}
    return {"pool_pre_ping": True}


def _migrations_dir() -> object:
    from pathlib import Path

    return Path(__file__).resolve().parent.parent / "migrations"
