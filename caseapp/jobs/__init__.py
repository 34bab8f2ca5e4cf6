"""STUB — jobs wiring."""

from flask import Flask


def init_app(app: Flask) -> None:
    """Placeholder."""
