"""Fixtures of the retention tests: the case world plus finance, closed cases, paid rewards."""

from __future__ import annotations

import io
from dataclasses import dataclass

import pytest
from flask import Flask
from sqlalchemy import select

from caseapp.accounts.permissions import Role
from caseapp.cases import disposition, evidence
from caseapp.cases.disposition import MeasureInput
from caseapp.cases.models import Case, Subject
from caseapp.extensions import db
from caseapp.rewards.models import Reward
from tests import factories
from tests.cases.conftest import World, ctx, new_case, ring, tip, user, world  # noqa: F401
from tests.rewards.helpers import claim, pay_bank, to_approved

DISTRICT_TIP = "411702"
EVIDENCE = b"EVIDENCE-MARKER-2b9e scanned B-ultrasound log"


@dataclass(frozen=True)
class Finance:
    """The finance department and two of its staff."""

    dept: int
    officer: int
    approver: int


@pytest.fixture
def fin(app: Flask, world: World) -> Finance:  # noqa: F811 - the imported fixture
    """A finance department (whose key opens claims) with an officer and an approver."""
    with app.app_context():
        dept = factories.make_department("finance")
        out = Finance(dept.id,
                      factories.make_user("officer1", dept, [Role.FINANCE_OFFICER]).id,
                      factories.make_user("approver1", dept, [Role.FINANCE_APPROVER]).id)
        db.session.remove()
    return out


def case_row(case_id: int) -> Case:
    """A case in the current session."""
    row = db.session.get(Case, case_id)
    assert row is not None
    return row


def add_evidence(w: World, case_id: int) -> int:
    """An evidence file on the case (stored encrypted); returns its id."""
    row = evidence.add_evidence(case_row(case_id), ring(w.inv_h), user(w.inv_h), "log.txt",
                                "text/plain", io.BytesIO(EVIDENCE))
    return int(row.id)


def close_case(w: World, case_id: int, tip_id: int, outcome: str = "substantiated") -> None:
    """Propose (investigator) and approve (lead) a disposition with `outcome`."""
    subject = db.session.scalar(select(Subject.id).where(Subject.case_id == case_id))
    measures = [MeasureInput("fine", subject, 30000)] if outcome == "substantiated" else []
    row = disposition.propose(case_row(case_id), ring(w.inv_h), user(w.inv_h), outcome=outcome,
                              legal_basis="人口与计划生育法 第三十九条", summary="done",
                              measures=measures, tip_ids=[tip_id])
    disposition.approve(case_row(case_id), ring(w.lead_h), user(w.lead_h), row.id)


def reward_of(case_id: int) -> Reward:
    """The reward a substantiated case created."""
    row = db.session.scalar(select(Reward).where(Reward.case_id == case_id))
    assert row is not None
    return row


def claimed_case(w: World, *, paid: Finance | None = None) -> tuple[int, int, int]:
    """A substantiated case with evidence, its reward claimed (and paid when `paid`)."""
    case_id, tip_id = new_case(w, joint=(w.police,))
    add_evidence(w, case_id)
    close_case(w, case_id, tip_id)
    reward_id = reward_of(case_id).id
    claim(reward_id, tip_id)
    if paid is not None:
        to_approved(reward_id, paid.officer, paid.approver)
        pay_bank(reward_id, paid.officer)
    return case_id, tip_id, reward_id
