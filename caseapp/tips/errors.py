"""Domain errors of the tip portal; the views turn them into plain-words messages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


class TipError(Exception):
    """Base class of every tip error."""


@dataclass(frozen=True)
class FileProblem:
    """Why one file was refused: type, oversize, count, too_many_pixels or damaged_image."""

    filename: str
    reason: str


class FilesRefused(TipError):
    """One or more files cannot be accepted; nothing was stored."""

    def __init__(self, problems: list[FileProblem]) -> None:
        super().__init__(", ".join(f"{p.filename}: {p.reason}" for p in problems))
        self.problems = problems


class InvalidTip(TipError):
    """The typed data is not acceptable (unknown category or district, empty narrative)."""


class DuplicateSubmission(TipError):
    """This form was already submitted; `used_at` says when."""

    def __init__(self, used_at: datetime) -> None:
        super().__init__("form already submitted")
        self.used_at = used_at


class StorageFailed(TipError):
    """The tip could not be stored; nothing was kept and no receipt may be shown."""


class WrongReceipt(TipError):
    """No tip answers to this receipt (or it was mistyped)."""


class Throttled(TipError):
    """Too many wrong receipts from this client; try again after `wait_seconds`."""

    def __init__(self, wait_seconds: int) -> None:
        super().__init__(f"wait {wait_seconds} s")
        self.wait_seconds = wait_seconds


class TipNotReadable(TipError):
    """The caller holds no key that opens this tip."""
