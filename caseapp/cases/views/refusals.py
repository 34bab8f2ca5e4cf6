"""What to tell a user whose form the case service refused (InvalidInput reasons → advice)."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

MESSAGES = {
    "premises": _l("Say where the action takes place."),
    "departments must be on the case": _l(
        "Tick at least one department, and only departments on the case."),
    "title": _l("Give a title."),
    "text": _l("Write something first."),
    "reason": _l("Give a reason."),
    "reason_code": _l("Choose a reason."),
    "question": _l("Write the question for the tipster."),
    "the task needs a department on the case": _l("Choose a department on the case for the task."),
    "the assignee must belong to a department on the case": _l(
        "The person assigned must belong to a department on the case."),
    "department already on the case": _l("That department is already on the case."),
    "department not on the case": _l("That department is not on the case."),
    "unknown or inactive department": _l("Choose an active department."),
    "a substantiated case needs measures and contributing tips": _l(
        "A substantiated case needs at least one measure and the tips that contributed."),
    "contributing tips must be linked to the case": _l(
        "Only tips linked to this case can be marked as contributing."),
    "tip not linked to this case": _l("That tip is not linked to this case."),
    "kind or quantity": _l("Give the kind and a quantity of at least one."),
    "empty file": _l("The file is empty."),
    "empty subject": _l("Give the subject's name."),
    "no pending reopening request": _l("There is no reopening request waiting for a decision."),
    "legal_basis": _l("Give the legal basis."),
    "outcome": _l("Choose an outcome."),
    "measure": _l("Check the measures: each needs a kind and a subject."),
    "measure subject": _l("Check the measures: each needs a kind and a subject."),
    "amount": _l("Give the amount of the fine in yuan."),
}


def advice(reason: str) -> str:
    """The sentence shown for a refusal reason (a general one for reasons not listed)."""
    known = MESSAGES.get(reason)
    return str(known) if known is not None else _(
        "Please check the form and fill in every required field.")
