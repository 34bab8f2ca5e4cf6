"""Fixtures of the browser tests: Chromium present, a zh_CN app with demo users, a live server."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from flask import Flask
from werkzeug.serving import WSGIRequestHandler, make_server

from caseapp.config import Config
from tests.conftest import IN_CI

from .browser import CHROMIUM


@pytest.fixture
def chromium_path() -> str:
    """Debian's Chromium: a failure under CI=true, a skip locally when it is missing."""
    if not CHROMIUM.exists():
        if IN_CI:
            raise RuntimeError(f"CI=true but {CHROMIUM} is missing (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} not installed")
    return str(CHROMIUM)


@pytest.fixture
def config(config: Config) -> Config:
    """The shared test config, but with the default zh_CN UI a citizen sees."""
    return config.with_(default_locale="zh_CN")


@pytest.fixture
def demo_app(app: Flask) -> Flask:
    """`app` with the demo departments and users of `flask demo` (keys granted)."""
    from caseapp.accounts.demo import load_demo
    from caseapp.crypto.keystore import ESCROW_FILE
    from caseapp.extensions import db

    with app.app_context():
        load_demo(app.config["CASEAPP"].instance_path / ESCROW_FILE)
        db.session.commit()
        db.session.remove()
    return app


class _QuietHandler(WSGIRequestHandler):
    """No access log lines in the test output."""

    def log_request(self, *args: object, **kwargs: object) -> None:
        """Skip."""


@pytest.fixture
def live_server(demo_app: Flask) -> Iterator[str]:
    """The app served over HTTP by a threaded werkzeug server; yields its base URL."""
    server = make_server("127.0.0.1", 0, demo_app, threaded=True,
                         request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="e2e-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
