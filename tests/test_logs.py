"""An unhandled error is logged with its type and frames, never with its message."""

from __future__ import annotations

import logging

import pytest
from flask import Flask

from caseapp.accounts.permissions import public

SECRET = "诊所地址-MARKER-7f3a"


@pytest.fixture
def boom_app(app: Flask) -> Flask:
    @public
    def boom() -> str:
        try:
            raise KeyError(SECRET)
        except KeyError as exc:
            raise RuntimeError(f"could not handle {SECRET}") from exc

    app.add_url_rule("/boom", "boom", boom)
    app.config["PROPAGATE_EXCEPTIONS"] = False  # answer 500 and log, as production does
    return app


def test_unhandled_error_is_logged_without_its_message(boom_app, caplog, capsys):
    with caplog.at_level(logging.ERROR):
        resp = boom_app.test_client().get("/boom")
    assert resp.status_code == 500
    assert SECRET not in resp.get_data(as_text=True)
    logged = caplog.text + "".join(capsys.readouterr())
    assert "builtins.RuntimeError (message withheld)" in logged
    assert "test_logs.py" in logged  # the frames stay, so the error can still be found
    assert SECRET not in logged


def test_flask_default_handler_output_is_content_free(boom_app):
    from io import StringIO

    from flask.logging import default_handler

    stream = StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(default_handler.formatter)
    boom_app.logger.addHandler(handler)
    try:
        boom_app.test_client().get("/boom")
    finally:
        boom_app.logger.removeHandler(handler)
    text = stream.getvalue()
    assert "Exception on /boom [GET]" in text and "message withheld" in text
    assert SECRET not in text
