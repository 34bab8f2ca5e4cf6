"""The one clock of caseapp: naive UTC datetimes; tests move it instead of sleeping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_offset = timedelta(0)


def now() -> datetime:
    """Current time as naive UTC (what every DateTime column stores)."""
    return datetime.now(UTC).replace(tzinfo=None) + _offset


def move(delta: timedelta) -> None:
    """Shift the clock forward (tests only)."""
    global _offset
    _offset += delta


def reset() -> None:
    """Undo every `move` (tests only)."""
    global _offset
    _offset = timedelta(0)
