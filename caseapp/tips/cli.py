"""Tip commands (`flask --app caseapp tips …`)."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

tips_group = AppGroup("tips", help="Tip portal commands.")


def register(app: Flask) -> None:
    """Add the `tips` command group."""
    app.cli.add_command(tips_group)


__all__ = ["click", "register"]
