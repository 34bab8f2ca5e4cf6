"""STUB — audit recording."""

from typing import Any


def record(action: str, **kwargs: Any) -> None:
    """Placeholder."""
