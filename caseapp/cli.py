"""`flask --app caseapp …` commands: each feature contributes its own group."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register every feature's commands."""
    from . import backup
    from .accounts import cli as accounts_cli
    from .audit import cli as audit_cli
    from .jobs import cli as jobs_cli
    from .tips import cli as tips_cli

    for module in (accounts_cli, audit_cli, jobs_cli, tips_cli, backup):
        module.register(app)
