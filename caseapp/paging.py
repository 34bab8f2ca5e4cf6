"""The page number of a list, read safely from the query string."""

from __future__ import annotations

from typing import Any

MAX_PAGE = 100_000  # far beyond any real list; keeps OFFSET inside every database's integers


def page_arg(args: Any) -> int:
    """The 1-based `page` argument; malformed values give 1, huge ones the last allowed page."""
    number = args.get("page", 1, type=int) or 1
    return min(max(1, number), MAX_PAGE)
