"""Short staff-facing labels of clear values (categories, states, channels)."""

from __future__ import annotations

from typing import Any

from flask import current_app, g
from flask_babel import lazy_gettext as _l

from ...tips.forms import CONTACT_CHOICES, HOW_CHOICES
from ...tips.models import Category, Channel, Status
from ..forms import (
    MEASURE_LABELS,
    OUTCOME_LABELS,
    REFER_LABELS,
    REJECT_LABELS,
    SEIZED_LABELS,
    SUBJECT_LABELS,
    TASK_LABELS,
)
from ..models import CaseStatus, DecisionKind

CATEGORY = {
    Category.SEX_IDENTIFICATION: _l("Fetal sex identification"),
    Category.SEX_SELECTIVE_ABORTION: _l("Sex-selective abortion"),
    Category.ABORTION_DRUG_SALE: _l("Illegal sale of abortion drugs"),
    Category.INFANT_ABANDONMENT: _l("Abandoning or trafficking baby girls"),
    Category.OTHER: _l("Other"),
}
CHANNEL = {Channel.WEB: _l("Web"), Channel.PHONE: _l("Phone"), Channel.LETTER: _l("Letter"),
           Channel.IN_PERSON: _l("In person")}
TIP_STATUS = {
    Status.RECEIVED: _l("Received"), Status.UNDER_REVIEW: _l("Under review"),
    Status.NEEDS_INFO: _l("Waiting for the tipster"), Status.CASE_OPENED: _l("In a case"),
    Status.CLOSED: _l("Closed"), Status.REJECTED: _l("Rejected"), Status.REFERRED: _l("Referred"),
}
CASE_STATUS = {
    CaseStatus.OPEN: _l("Open"), CaseStatus.INVESTIGATING: _l("Investigating"),
    CaseStatus.DISPOSITION_PROPOSED: _l("Disposition proposed"),
    CaseStatus.CLOSED: _l("Closed"), CaseStatus.REOPENED: _l("Reopened"),
}
DECISION = {
    DecisionKind.PROMOTE: _l("Promoted to a case"), DecisionKind.LINK: _l("Linked to a case"),
    DecisionKind.ASK: _l("Asked the tipster"), DecisionKind.REJECT: _l("Rejected"),
    DecisionKind.REFER: _l("Referred"),
}
ROLE = {"lead": _l("Lead department"), "joint": _l("Joint department")}
# the fields of a report (caseapp.tips.service.TipInput), worded like the portal form
TIP_FIELD = {
    "category": _l("Category"), "district": _l("District or county"),
    "township": _l("Township or street"),
    "place_name": _l("Name of the clinic, pharmacy or person"),
    "address": _l("Address or description of the place"),
    "subject_phone": _l("Their phone number"), "when": _l("When did it happen?"),
    "how_known": _l("How the tipster knows"), "narrative": _l("What happened"),
    "contact": _l("Contact"), "contact_phone": _l("Tipster's phone number"),
}

ALL: dict[str, dict[Any, Any]] = {
    "category": CATEGORY, "channel": CHANNEL, "tip_status": TIP_STATUS,
    "case_status": CASE_STATUS, "decision": DECISION, "role": ROLE, "outcome": OUTCOME_LABELS,
    "measure": MEASURE_LABELS, "seized": SEIZED_LABELS, "subject": SUBJECT_LABELS,
    "task": TASK_LABELS, "reject": REJECT_LABELS, "refer": REFER_LABELS,
    "tip_field": TIP_FIELD, "how_known": dict(HOW_CHOICES), "contact": dict(CONTACT_CHOICES),
}


def label(kind: str, value: Any) -> str:
    """The label of a clear value (the value itself when unknown)."""
    if value is None:
        return ""
    return str(ALL.get(kind, {}).get(value, value))


def district(code: str) -> str:
    """A district's name in the current language."""
    from ...tips.regions import regions

    locale = str(g.get("locale") or current_app.config["CASEAPP"].default_locale)
    return regions().label(code, locale) if code else ""


def department_name(dept: Any) -> str:
    """A department's name in the current language."""
    if dept is None:
        return ""
    return str(dept.name("en" if g.get("locale") == "en" else "zh"))
