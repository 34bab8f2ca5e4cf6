"""Retention periods and crypto-shredding (docs/retention.md).

`locks` holds each subject's pad (half of its content key), `policy` turns outcomes into
expiry dates, `service` warns before expiry and purges (rows, files, then epoch keys).
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Connect the case signals, add `flask retention …` and the expiry template helper."""
    from . import cli, models, policy, service  # noqa: F401 - models registers the table

    policy.connect()
    cli.register(app)
    app.add_template_global(service.expiry_of_case, "retention_expiry")
