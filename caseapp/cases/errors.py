"""Domain errors of the case workflow; views turn them into 404, 403 or a message."""

from __future__ import annotations


class CaseError(Exception):
    """Base class of every case workflow error."""


class NotOnCase(CaseError):
    """The caller's department is not on the case (views answer 404)."""


class NoSuchObject(NotOnCase):
    """An object id that does not belong to the tip or case in the URL (views answer 404)."""


class NotAllowed(CaseError):
    """The caller may not do this (wrong role, wrong department, own proposal …)."""


class IllegalTransition(CaseError):
    """The case (or tip) cannot move from its state to the asked one."""

    def __init__(self, current: str, target: str) -> None:
        super().__init__(f"cannot go from {current} to {target}")
        self.current = current
        self.target = target


class CaseClosed(CaseError):
    """A closed case is read-only until it is reopened."""


class InvalidInput(CaseError):
    """Input the domain refuses (missing mandatory fields, unknown department …)."""


class EvidenceRefused(InvalidInput):
    """An evidence upload that is not kept: reason "too_large" or "too_many" (files)."""

    def __init__(self, reason: str, limit: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.limit = limit
