"""With the real case workflow: an approved disposition creates the reward in its transaction."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from caseapp.accounts.permissions import Role
from caseapp.crypto import KeyUnavailable
from caseapp.extensions import db
from caseapp.rewards.models import Reward
from caseapp.tips.models import Tip
from tests import factories

from .helpers import make_tip, user

cases_disposition = pytest.importorskip("caseapp.cases.disposition")
from caseapp.cases import decisions, workflow  # noqa: E402
from caseapp.cases.keys import open_case_key  # noqa: E402
from caseapp.cases.models import Case, Subject  # noqa: E402

MeasureInput = cases_disposition.MeasureInput


@pytest.fixture
def leads(app, world):
    """Two department leads of the intake department (proposer and approver)."""
    with app.app_context():
        ids = (factories.make_user("lead_a", "health", [Role.DEPT_LEAD, Role.INVESTIGATOR]).id,
               factories.make_user("lead_b", "health", [Role.DEPT_LEAD]).id)
        db.session.remove()
    return ids


def _case_from(world, tip_ids):
    first = db.session.get(Tip, tip_ids[0])
    case = decisions.promote(first, factories.keyring_for(world.intake), user(world.intake),
                             lead_department_id=world.health, title="Clinic B-ultrasound",
                             summary="summary", reason="lead")
    return case.id


def _decide(case_id, leads, outcome, tip_ids, measures=True):
    proposer, approver = leads
    case = db.session.get(Case, case_id)
    subject = db.session.scalar(select(Subject.id).where(Subject.case_id == case_id))
    kinds = [MeasureInput("fine", subject, 30000), MeasureInput("licence_revocation", subject)]
    row = cases_disposition.propose(case, factories.keyring_for(proposer), user(proposer),
                                    outcome=outcome, legal_basis="人口与计划生育法 第三十九条",
                                    summary="confirmed", measures=kinds if measures else [],
                                    tip_ids=tip_ids)
    cases_disposition.approve(db.session.get(Case, case_id), factories.keyring_for(approver),
                              user(approver), row.id)
    return row.id


def test_approved_substantiated_disposition_makes_the_reward(app, world, leads):
    with app.app_context():
        tip, _ = make_tip()
        case_id = _case_from(world, [tip])
        _decide(case_id, leads, "substantiated", [tip])
        reward = db.session.scalar(select(Reward).where(Reward.case_id == case_id))
        case = db.session.get(Case, case_id)
        assert reward is not None and reward.tip_id == tip and reward.state == "eligible"
        assert (reward.case_ref, reward.category, reward.district) == (
            case.ref, case.category, case.district)
        assert reward.outcome == "fine, licence_revocation"


def test_unsubstantiated_disposition_makes_no_reward(app, world, leads):
    with app.app_context():
        tip, _ = make_tip()
        case_id = _case_from(world, [tip])
        _decide(case_id, leads, "insufficient_evidence", [], measures=False)
        assert db.session.scalar(select(func.count()).select_from(Reward)) == 0


def test_finance_cannot_open_the_case_key(app, world, leads):
    with app.app_context():
        tip, _ = make_tip()
        case = db.session.get(Case, _case_from(world, [tip]))
        for uid in (world.officer, world.approver):
            with pytest.raises(KeyUnavailable):
                open_case_key(case, factories.keyring_for(uid))
        assert len(open_case_key(case, factories.keyring_for(world.intake))) == 32


def test_reopening_the_case_withholds_the_reward(app, world, leads):
    signals = pytest.importorskip("caseapp.cases.signals")
    if not hasattr(signals, "case_reopened"):
        pytest.skip("caseapp.cases.signals has no case_reopened signal yet")
    with app.app_context():
        tip, _ = make_tip()
        case_id = _case_from(world, [tip])
        _decide(case_id, leads, "substantiated", [tip])
        case = db.session.get(Case, case_id)
        req = workflow.request_reopen(case, factories.keyring_for(leads[0]), user(leads[0]),
                                      "new evidence")
        workflow.approve_reopen(db.session.get(Case, case_id), req.id, user(leads[1]))
        assert db.session.scalar(select(Reward.state)) == "withheld"
