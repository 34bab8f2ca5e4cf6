"""The reward states: guarded transitions, two-person approval, payout, expiry, notices."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from caseapp import clock
from caseapp.audit.models import AuditEntry
from caseapp.extensions import db
from caseapp.jobs import OutboxJob, tick
from caseapp.rewards import service
from caseapp.rewards.errors import (
    AlreadyPaid,
    ClaimWindowClosed,
    IllegalTransition,
    InvalidClaim,
    InvalidPayout,
    NoSuchReward,
    NotPermitted,
    SeparationOfDuties,
    StaleReward,
)
from caseapp.rewards.models import PayoutLedger, Reward

from .helpers import (
    bank_claim,
    claim,
    make_reward,
    make_tip,
    pay_bank,
    person_claim,
    to_approved,
    user,
)


@pytest.fixture
def claimed(app, world, config):
    """(reward id, tip id) of a reward claimed by bank transfer."""
    with app.app_context():
        tip, _ = make_tip()
        reward_id = make_reward(config, [tip])
        claim(reward_id, tip)
        db.session.remove()
    return reward_id, tip


def _state(reward_id):
    db.session.expire_all()
    return db.session.get(Reward, reward_id).state


def test_full_path_bank_transfer(app, world, claimed):
    reward_id, _ = claimed
    with app.app_context():
        assert _state(reward_id) == "claimed"
        service.verify(db.session, reward_id, user(world.officer))
        service.approve(db.session, reward_id, user(world.approver))
        entry = pay_bank(reward_id, world.officer, reference="PZ-001")
        reward = db.session.get(Reward, reward_id)
        assert reward.state == "paid" and reward.paid_at is not None
        assert (reward.verified_by_id, reward.approved_by_id) == (world.officer, world.approver)
        assert (entry.amount, entry.method, entry.reference, entry.case_ref) == (
            10000, "bank", "PZ-001", "C-2026-00001")
        assert (entry.verified_by_id, entry.approved_by_id, entry.recorded_by_id) == (
            world.officer, world.approver, world.officer)
        assert reward.version == 5  # claim, verify, approve, pay after creation
        actions = list(db.session.scalars(select(AuditEntry.action).where(
            AuditEntry.object_type == "reward").order_by(AuditEntry.seq)))
        assert actions == ["reward.eligible", "reward.claimed", "reward.verified",
                           "reward.approved", "reward.paid"]


def test_verifier_cannot_approve(app, world, claimed):
    reward_id, _ = claimed
    with app.app_context():
        service.verify(db.session, reward_id, user(world.finance_both))
        with pytest.raises(SeparationOfDuties):
            service.approve(db.session, reward_id, user(world.finance_both))
        assert _state(reward_id) == "verified"
        service.approve(db.session, reward_id, user(world.approver))
        assert _state(reward_id) == "approved"


@pytest.mark.parametrize("who", ["investigator", "intake", "admin", "supervisor", "approver"])
def test_roles_without_the_permission_cannot_verify(app, world, claimed, who):
    reward_id, _ = claimed
    with app.app_context(), pytest.raises(NotPermitted):
        service.verify(db.session, reward_id, user(getattr(world, who)))
    with app.app_context():
        assert _state(reward_id) == "claimed"
        with pytest.raises(NotPermitted):
            service.approve(db.session, reward_id, user(world.officer))
        with pytest.raises(NotPermitted):
            service.pay(db.session, reward_id, user(world.investigator), method="bank",
                        reference="x", paid_on=clock.now().date())
        with pytest.raises(NotPermitted):
            service.reject(db.session, reward_id, None, "no actor")


def test_illegal_transitions_are_refused(app, world, config):
    with app.app_context():
        tip, _ = make_tip()
        rid = make_reward(config, [tip])
        officer, approver = user(world.officer), user(world.approver)
        for call in (lambda: service.verify(db.session, rid, officer),
                     lambda: service.approve(db.session, rid, approver),
                     lambda: pay_bank(rid, world.officer)):
            with pytest.raises(IllegalTransition) as exc:
                call()
            assert exc.value.state == "eligible"
        claim(rid, tip)
        with pytest.raises(IllegalTransition):
            claim(rid, tip)  # a second claim
        with pytest.raises(IllegalTransition):
            service.approve(db.session, rid, approver)  # not verified yet
        with pytest.raises(IllegalTransition):
            service.expire(db.session, rid)
        service.verify(db.session, rid, officer)
        with pytest.raises(IllegalTransition):
            service.verify(db.session, rid, officer)
        with pytest.raises(IllegalTransition):
            pay_bank(rid, world.officer)  # verified, not approved
        service.approve(db.session, rid, approver)
        pay_bank(rid, world.officer)
        with pytest.raises(AlreadyPaid):
            pay_bank(rid, world.officer)
        for call in (lambda: service.reject(db.session, rid, officer, "fraud"),
                     lambda: service.withhold(db.session, rid),
                     lambda: service.approve(db.session, rid, user(world.approver2))):
            with pytest.raises(IllegalTransition):
                call()
        with pytest.raises(NoSuchReward):
            service.verify(db.session, 4242, officer)
        assert _state(rid) == "paid"
        assert db.session.scalar(select(func.count()).select_from(PayoutLedger)) == 1


def test_reject_needs_a_reason_and_is_final(app, world, claimed):
    reward_id, tip = claimed
    with app.app_context():
        with pytest.raises(InvalidPayout):
            service.reject(db.session, reward_id, user(world.officer), "   ")
        service.reject(db.session, reward_id, user(world.approver), "ID card does not exist")
        reward = db.session.get(Reward, reward_id)
        assert (reward.state, reward.reason) == ("rejected", "ID card does not exist")
        with pytest.raises(IllegalTransition):
            service.verify(db.session, reward_id, user(world.officer))


def test_stale_page_is_refused(app, world, claimed):
    reward_id, _ = claimed
    with app.app_context():
        version = db.session.get(Reward, reward_id).version
        service.verify(db.session, reward_id, user(world.officer), expected_version=version)
        with pytest.raises(StaleReward):
            service.reject(db.session, reward_id, user(world.officer), "late",
                           expected_version=version)
        assert _state(reward_id) == "verified"


def test_payout_record_must_be_complete(app, world, claimed):
    reward_id, _ = claimed
    with app.app_context():
        to_approved(reward_id, world.officer, world.approver)
        today = clock.now().date()
        payer = user(world.officer)
        cases = [
            dict(method="bank", reference=" ", paid_on=today),
            dict(method="bank", reference="x" * 101, paid_on=today),
            dict(method="bank", reference="PZ", paid_on=today + timedelta(days=1)),
            dict(method="bank", reference="PZ", paid_on=today - timedelta(days=1)),
            dict(method="cash", reference="PZ", paid_on=today),
            dict(method="in_person", reference="PZ", paid_on=today),  # claimed by bank
        ]
        for kwargs in cases:
            with pytest.raises(InvalidPayout):
                service.pay(db.session, reward_id, payer, **kwargs)
        assert _state(reward_id) == "approved"
        assert db.session.scalar(select(func.count()).select_from(PayoutLedger)) == 0


def test_in_person_payout_checks_code_and_two_named_staff(app, world, config):
    with app.app_context():
        tip, _ = make_tip()
        rid = make_reward(config, [tip])
        done = claim(rid, tip, person_claim(config))
        code = done.collection_code
        assert code and len(code) == 14 and code.count("-") == 2
        reward = db.session.get(Reward, rid)
        assert reward.collection_code_hash and code not in reward.collection_code_hash
        to_approved(rid, world.officer, world.approver)
        payer, today = user(world.officer), clock.now().date()

        def pay(**kw):
            args = dict(method="in_person", reference="RC-7", paid_on=today,
                        collection_code=code, handover_ids=[world.cashier, world.officer])
            args.update(kw)
            return service.pay(db.session, rid, payer, **args)

        for kw, field in [({"collection_code": "AAAA-BBBB-CCCC"}, "collection_code"),
                          ({"collection_code": ""}, "collection_code"),
                          ({"handover_ids": [world.cashier, world.cashier]}, "handover"),
                          ({"handover_ids": [world.cashier]}, "handover"),
                          ({"handover_ids": [world.cashier, 9999]}, "handover"),
                          ({"method": "bank"}, "method")]:
            with pytest.raises(InvalidPayout) as exc:
                pay(**kw)
            assert exc.value.field == field
        assert db.session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "reward.code_mismatch")) == 2
        entry = pay(collection_code=code.lower().replace("-", " "))
        assert (entry.method, entry.handover_by_id, entry.handover_witness_id) == (
            "in_person", world.cashier, world.officer)
        with pytest.raises(AlreadyPaid):
            pay()


def test_claim_refused_after_deadline_and_expiry_job_moves_unclaimed(app, world, config):
    with app.app_context():
        tips = [make_tip()[0] for _ in range(3)]
        unclaimed = make_reward(config, [tips[0]], case_id=1)
        claimed_one = make_reward(config, [tips[1]], case_id=2)
        claim(claimed_one, tips[1])
        clock.move(timedelta(days=30))
        later = make_reward(config, [tips[2]], case_id=3)  # window ends 30 days later
        clock.move(timedelta(days=60, minutes=1))
        with pytest.raises(ClaimWindowClosed):
            claim(unclaimed, tips[0])
        assert tick()  # periodic jobs are due; run inline (no Redis)
        db.session.expire_all()
        assert _state(unclaimed) == "expired"
        assert _state(claimed_one) == "claimed"
        assert _state(later) == "eligible"
        clock.move(timedelta(days=31))
        assert service.expire_due(db.session) == [later]
        db.session.commit()
        assert _state(later) == "expired"


def test_invalid_claim_stores_nothing(app, world, config):
    with app.app_context():
        tip, _ = make_tip()
        rid = make_reward(config, [tip])
        with pytest.raises(InvalidClaim):
            claim(rid, tip, bank_claim(id_number="110105194912310021"))
        other, _ = make_tip()
        with pytest.raises(NoSuchReward):
            claim(rid, other)  # another tipster's receipt
        reward = db.session.get(Reward, rid)
        assert reward.state == "eligible" and reward.claim_sealed is None


def test_claim_tells_finance_through_a_content_free_job(app, world, claimed):
    with app.app_context():
        jobs = db.session.scalars(select(OutboxJob).where(
            OutboxJob.name == "rewards.notify_claim")).all()
        assert len(jobs) == 1
        assert json.loads(jobs[0].payload) == {"reward_id": claimed[0]}
        assert jobs[0].done_at is not None and jobs[0].failed_at is None


def test_expire_job_is_registered_as_periodic():
    from caseapp.jobs.registry import periodic_jobs

    assert "rewards.expire_unclaimed" in {p.name for p in periodic_jobs()}


def test_notice_to_finance_names_only_the_event(app, world, config, monkeypatch):
    """With `caseapp.notify` present, the job calls it with ids only (a stand-in here)."""
    import sys
    import types

    calls = []
    fake = types.ModuleType("caseapp.notify")
    fake.notify = lambda *args, **kwargs: calls.append((args, kwargs))
    monkeypatch.setitem(sys.modules, "caseapp.notify", fake)
    with app.app_context():
        tip, _ = make_tip()
        rid = make_reward(config, [tip])
        claim(rid, tip)
    assert calls == [(("rewards.claim_arrived",), {"department_id": world.finance,
                                                   "object_type": "reward", "object_id": rid})]


def test_claim_notice_reaches_the_finance_department(app, world, claimed):
    notify = pytest.importorskip("caseapp.notify")
    with app.app_context():
        rows = db.session.scalars(select(notify.Notification)).all()
        assert [(n.kind, n.department_id, n.object_type, n.object_id) for n in rows] == [
            ("rewards.claim_arrived", world.finance, "reward", str(claimed[0]))]
        officer = user(world.officer)
        assert notify.unread_count(officer) == 1
        assert notify.unread_count(user(world.investigator)) == 0
