"""Exactly one payout: 50 concurrent approve/pay requests, and the ledger's own guarantees."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from caseapp import clock
from caseapp.extensions import db
from caseapp.rewards import service
from caseapp.rewards.errors import AlreadyPaid, IllegalTransition, RewardError
from caseapp.rewards.models import PayoutLedger, Reward

from .helpers import claim, make_reward, make_tip, pay_bank, to_approved, user

THREADS = 50


def _race(app, reward_id, world, steps=("approve", "pay")):
    """Every thread approves (as one of two approvers), then pays; returns the outcomes."""
    barrier = threading.Barrier(THREADS)
    outcomes: list[str] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        results = []
        with app.app_context():
            try:
                barrier.wait(timeout=60)
                approver = world.approver if n % 2 else world.approver2
                payer = world.officer if n % 3 else world.cashier
                for step in steps:
                    try:
                        if step == "approve":
                            service.approve(db.session, reward_id, user(approver))
                        else:
                            service.pay(db.session, reward_id, user(payer), method="bank",
                                        reference=f"PZ-{n}", paid_on=clock.now().date())
                        results.append(f"{step}:ok")
                    except AlreadyPaid:
                        results.append(f"{step}:already_paid")
                    except IllegalTransition as exc:
                        results.append(f"{step}:illegal:{exc.state}")
                    except RewardError as exc:
                        results.append(f"{step}:{type(exc).__name__}")
            except Exception as exc:  # anything else is a failure of the test
                results.append(f"crash:{type(exc).__name__}:{exc}")
            finally:
                db.session.remove()
        with lock:
            outcomes.extend(results)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    return Counter(outcomes)


def test_50_concurrent_approve_and_pay_give_exactly_one_ledger_row(app, world, config):
    with app.app_context():
        tip, _ = make_tip()
        reward_id = make_reward(config, [tip])
        claim(reward_id, tip)
        service.verify(db.session, reward_id, user(world.officer))
        db.session.remove()
    counts = _race(app, reward_id, world)
    assert not [k for k in counts if k.startswith("crash")], counts
    assert counts["approve:ok"] == 1, counts
    assert counts["pay:ok"] == 1, counts
    assert counts["approve:illegal:approved"] + counts["approve:illegal:paid"] == THREADS - 1
    # a pay that ran before the approval committed is refused as illegal, never silently
    assert counts["pay:ok"] + counts["pay:already_paid"] + counts["pay:illegal:verified"] \
        == THREADS, counts
    with app.app_context():
        rows = db.session.scalars(select(PayoutLedger)).all()
        assert len(rows) == 1 and rows[0].reward_id == reward_id
        reward = db.session.get(Reward, reward_id)
        assert reward.state == "paid" and reward.version == 5


def _paid(app, world, config):
    with app.app_context():
        tip, _ = make_tip()
        reward_id = make_reward(config, [tip])
        claim(reward_id, tip)
        to_approved(reward_id, world.officer, world.approver)
        pay_bank(reward_id, world.officer)
        db.session.remove()
    return reward_id


def test_second_payout_refused_by_the_database_even_if_the_state_check_is_bypassed(
        app, world, config):
    reward_id = _paid(app, world, config)
    with app.app_context():
        # an attacker (or a bug) puts the reward back to "approved" behind the service's back
        db.session.execute(update(Reward).where(Reward.id == reward_id)
                           .values(state="approved"))
        db.session.commit()
        with pytest.raises(AlreadyPaid):
            pay_bank(reward_id, world.officer, reference="PZ-TWICE")
        assert db.session.get(Reward, reward_id).state == "approved"  # rolled back
        entry = db.session.scalar(select(PayoutLedger))
        with pytest.raises(IntegrityError):
            db.session.add(PayoutLedger(
                reward_id=reward_id, case_id=entry.case_id, case_ref="x", category="x",
                district="x", amount=1, currency="CNY", method="bank", reference="raw",
                paid_on=entry.paid_on, recorded_by_id=world.officer,
                verified_by_id=world.officer, approved_by_id=world.approver))
            db.session.flush()
        db.session.rollback()
        assert db.session.scalar(select(func.count()).select_from(PayoutLedger)) == 1


@pytest.mark.parametrize("sql", ["UPDATE payout_ledger SET amount = 1",
                                 "DELETE FROM payout_ledger"])
def test_ledger_rows_cannot_be_changed_or_removed(app, world, config, sql):
    _paid(app, world, config)
    with app.app_context():
        with pytest.raises(DBAPIError) as exc:
            db.session.execute(text(sql))
        assert "append-only" in str(exc.value)
        db.session.rollback()
        assert db.session.scalar(select(PayoutLedger.amount)) == 10000


def test_50_concurrent_payouts_of_an_approved_reward_give_one_row(app, world, config):
    with app.app_context():
        tip, _ = make_tip()
        reward_id = make_reward(config, [tip])
        claim(reward_id, tip)
        to_approved(reward_id, world.officer, world.approver)
        db.session.remove()
    counts = _race(app, reward_id, world, steps=("pay",))
    assert counts == {"pay:ok": 1, "pay:already_paid": THREADS - 1}, counts
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(PayoutLedger)) == 1
