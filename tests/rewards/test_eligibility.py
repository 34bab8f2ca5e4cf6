"""When a reward exists: substantiated cases only, the first contributing tip, one per case."""

from __future__ import annotations

from datetime import date, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from caseapp import clock
from caseapp.audit.models import AuditEntry
from caseapp.extensions import db
from caseapp.rewards import hooks
from caseapp.rewards.eligibility import create_reward, first_eligible_tip, withhold_for_case
from caseapp.rewards.models import Reward
from caseapp.tips.models import Tip

from .helpers import bank_claim, claim, facts, make_reward, make_tip, to_approved


def _case(case_id=7):
    return SimpleNamespace(id=case_id, ref=f"C-2026-{case_id:05d}", category="sex_identification",
                           district="411702")


def _approve_disposition(case, outcome, tip_ids):
    """What the cases feature's `disposition_approved` signal delivers."""
    hooks.on_disposition_approved(None, case=case, disposition=SimpleNamespace(
        outcome=outcome, severity="fine"), tip_ids=tip_ids)
    db.session.commit()


def test_substantiated_disposition_makes_reward_for_earliest_tip(app, world, config):
    with app.app_context():
        first, _ = make_tip()
        clock.move(timedelta(days=1))
        second, _ = make_tip()
        _approve_disposition(_case(), "substantiated", [second, first])
        rewards = db.session.scalars(select(Reward)).all()
        assert len(rewards) == 1
        reward = rewards[0]
        assert (reward.tip_id, reward.case_id, reward.case_ref) == (first, 7, "C-2026-00007")
        assert (reward.state, reward.amount, reward.currency) == ("eligible", 10000, "CNY")
        assert (reward.category, reward.district, reward.outcome) == (
            "sex_identification", "411702", "fine")
        assert reward.claim_deadline - reward.eligible_at == timedelta(days=90)
        assert db.session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "reward.eligible")) == 1


@pytest.mark.parametrize("outcome", ["not_substantiated", "duplicate", "out_of_scope", ""])
def test_unsubstantiated_disposition_makes_none(app, world, outcome):
    with app.app_context():
        tip, _ = make_tip()
        _approve_disposition(_case(), outcome, [tip])
        assert db.session.scalar(select(func.count()).select_from(Reward)) == 0


def test_substantiated_flag_and_enum_are_understood(app, world):
    with app.app_context():
        tip, _ = make_tip()
        hooks.on_disposition_approved(None, case=_case(1), disposition={"substantiated": True},
                                      contributing_tip_ids=[tip])
        hooks.on_disposition_approved(None, case=_case(2), disposition=SimpleNamespace(
            substantiated=False, outcome="substantiated"), tip_ids=[tip])
        db.session.commit()
        assert [r.case_id for r in db.session.scalars(select(Reward))] == [1]


def test_two_tips_on_one_case_only_the_first_is_rewarded(app, world, config):
    """Ordered by submission date, then id (ids follow submission order within a day)."""
    with app.app_context():
        a, _ = make_tip()
        b, _ = make_tip()
        assert first_eligible_tip(db.session, [b, a], ()).id == a  # same day: id decides
        # b was submitted on an earlier day than a: the date wins over the id
        db.session.get(Tip, b).submitted_on = date.today() - timedelta(days=3)
        db.session.commit()
        make_reward(config, [a, b], case_id=3)
        assert db.session.scalar(select(Reward.tip_id)) == b
        assert db.session.scalar(select(func.count()).select_from(Reward)) == 1


def test_one_reward_per_case_also_at_database_level(app, world, config):
    with app.app_context():
        a, _ = make_tip()
        b, _ = make_tip()
        first = make_reward(config, [a], case_id=5)
        again = create_reward(db.session, facts(5), [b], config)
        assert again is not None and again.id == first and again.tip_id == a
        db.session.add(Reward(case_id=5, tip_id=b, amount=1, claim_deadline=clock.now()))
        with pytest.raises(IntegrityError):
            db.session.flush()
        db.session.rollback()


def test_tips_of_excluded_staff_are_not_eligible(app, world, config):
    with app.app_context():
        own, _ = make_tip(staff_user_id=world.investigator, channel="phone")
        citizen_by_phone, _ = make_tip(staff_user_id=world.intake, channel="phone")
        assert first_eligible_tip(db.session, [own, citizen_by_phone],
                                  config.reward_excluded_roles).id == citizen_by_phone
        assert create_reward(db.session, facts(9), [own], config) is None
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(Reward)) == 0
        strict = config.with_(reward_excluded_roles=("intake", "investigator"))
        assert first_eligible_tip(db.session, [own, citizen_by_phone],
                                  strict.reward_excluded_roles) is None


def test_changing_the_bounty_setting_does_not_change_existing_rewards(app, world, config):
    with app.app_context():
        a, _ = make_tip()
        b, _ = make_tip()
        old = make_reward(config, [a], case_id=1)
        new = make_reward(config.with_(bounty_amount_cny=20000), [b], case_id=2)
        assert db.session.get(Reward, old).amount == 10000
        assert db.session.get(Reward, new).amount == 20000


def test_case_reopened_withholds_and_a_new_substantiation_reinstates(app, world, config):
    with app.app_context():
        tip, _ = make_tip()
        reward_id = make_reward(config, [tip], case_id=4)
        claim(reward_id, tip, bank_claim())
        to_approved(reward_id, world.officer, world.approver)
        hooks.on_case_reopened(None, case=_case(4))
        db.session.commit()
        reward = db.session.get(Reward, reward_id)
        assert (reward.state, reward.reason) == ("withheld", "case reopened")
        _approve_disposition(_case(4), "substantiated", [tip])
        db.session.refresh(reward)
        # the claim stays; verification and approval must be done again
        assert (reward.state, reward.verified_by_id, reward.approved_by_id) == (
            "claimed", None, None)
        assert withhold_for_case(db.session, 999) is None


def test_wired_to_the_cases_signals(app, world, monkeypatch):
    """`hooks.connect` connects to `caseapp.cases.signals` (a stand-in until cases lands)."""
    import sys
    import types

    from blinker import Namespace

    ns = Namespace()
    fake = types.ModuleType("caseapp.cases.signals")
    fake.disposition_approved = ns.signal("disposition_approved")
    fake.case_reopened = ns.signal("case_reopened")
    monkeypatch.setitem(sys.modules, "caseapp.cases.signals", fake)
    hooks.connect()
    hooks.connect()  # idempotent
    with app.app_context():
        tip, _ = make_tip()
        fake.disposition_approved.send(None, case=_case(12), disposition=SimpleNamespace(
            outcome="substantiated"), tip_ids=[tip])
        db.session.commit()
        assert db.session.scalar(select(Reward.state).where(Reward.case_id == 12)) == "eligible"
        fake.case_reopened.send(None, case=_case(12))
        db.session.commit()
        assert db.session.scalar(select(Reward.state).where(Reward.case_id == 12)) == "withheld"
