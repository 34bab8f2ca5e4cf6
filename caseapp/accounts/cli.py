"""STUB — account commands."""

from flask import Flask


def register(app: Flask) -> None:
    """Placeholder."""
