"""The reward transitions: each a guarded, concurrency-safe function over a session.

Every transition is one conditional UPDATE (`… WHERE id = ? AND state IN (…)`) whose row
count says whether this caller won; the loser learns why from a fresh read and gets a
domain error. `pay` inserts the ledger row in the same transaction; UNIQUE(reward_id)
backs the state check at the database level on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.exc import IntegrityError

from .. import clock
from ..accounts.models import User
from ..accounts.permissions import Permission
from ..audit.service import record
from ..retention.policy import reward_paid
from .claims import check_collection_code
from .errors import (
    AlreadyPaid,
    IllegalTransition,
    InvalidPayout,
    NoSuchReward,
    NotPermitted,
    SeparationOfDuties,
    StaleReward,
)
from .models import DbSession, PayoutLedger, PayoutMethod, Reward, RewardState

S = RewardState
MAX_REASON = 2000
MAX_REFERENCE = 100


def get_reward(session: DbSession, reward_id: int) -> Reward:
    """The reward with this id; NoSuchReward otherwise."""
    reward = session.get(Reward, reward_id)
    if reward is None:
        raise NoSuchReward(str(reward_id))
    return reward


def _require(actor: User | None, *permissions: Permission) -> User:
    if actor is None or not any(actor.can(p) for p in permissions):
        raise NotPermitted(", ".join(str(p) for p in permissions))
    return actor


def transition(session: DbSession, reward_id: int, *, action: str, sources: Iterable[S],
               target: S, values: dict[str, Any] | None = None,
               where: Sequence[ColumnElement[bool]] = (),
               expected_version: int | None = None) -> Reward:
    """Move a reward from one of `sources` to `target` if still there; else a domain error."""
    states = [s.value for s in sources]
    stmt = update(Reward).where(Reward.id == reward_id, Reward.state.in_(states), *where)
    if expected_version is not None:
        stmt = stmt.where(Reward.version == expected_version)
    stmt = stmt.values(state=target.value, version=Reward.version + 1, **(values or {}))
    result = session.execute(stmt.execution_options(synchronize_session=False))
    if getattr(result, "rowcount", 0) != 1:
        now = session.execute(select(Reward.state, Reward.version)
                              .where(Reward.id == reward_id)).first()
        if now is None:
            raise NoSuchReward(str(reward_id))
        if now.state == S.PAID and target == S.PAID:
            raise AlreadyPaid(str(reward_id))
        if now.state in states and expected_version is not None \
                and now.version != expected_version:
            raise StaleReward(str(reward_id))
        raise IllegalTransition(action, now.state)
    reward = session.get(Reward, reward_id, populate_existing=True)
    assert reward is not None
    return reward


@contextmanager
def unit(session: DbSession, commit: bool) -> Iterator[None]:
    """Commit (or only flush) what the block did; with `commit`, roll back on any error."""
    try:
        yield
        if commit:
            session.commit()
        else:
            session.flush()
    except BaseException:
        if commit:
            session.rollback()
        raise


def verify(session: DbSession, reward_id: int, actor: User | None, *,
           expected_version: int | None = None, commit: bool = True) -> Reward:
    """A finance officer has checked the claim: claimed → verified."""
    with unit(session, commit):
        user = _require(actor, Permission.REWARDS_VERIFY)
        reward = transition(session, reward_id, action="verify", sources=[S.CLAIMED],
                            target=S.VERIFIED, expected_version=expected_version,
                            values={"verified_by_id": user.id, "verified_at": clock.now()})
        record("reward.verified", actor=user, object_type="reward", object_id=reward.id,
               detail={"case": reward.case_id})
    return reward


def approve(session: DbSession, reward_id: int, actor: User | None, *,
            expected_version: int | None = None, commit: bool = True) -> Reward:
    """A finance approver, not the verifier, approves the payout: verified → approved."""
    with unit(session, commit):
        user = _require(actor, Permission.REWARDS_APPROVE)
        verifier = session.scalar(select(Reward.verified_by_id).where(Reward.id == reward_id))
        if verifier is not None and verifier == user.id:
            raise SeparationOfDuties("the verifier cannot approve")
        reward = transition(session, reward_id, action="approve", sources=[S.VERIFIED],
                            target=S.APPROVED, expected_version=expected_version,
                            where=[Reward.verified_by_id.is_not(None),
                                   Reward.verified_by_id != user.id],
                            values={"approved_by_id": user.id, "approved_at": clock.now()})
        record("reward.approved", actor=user, object_type="reward", object_id=reward.id,
               detail={"case": reward.case_id})
    return reward


def _check_payout(session: DbSession, reward_id: int, method: str, reference: str,
                  paid_on: date, collection_code: str | None,
                  handover_ids: Sequence[int]) -> tuple[str, tuple[int, int] | None]:
    """Refuse an incomplete or inconsistent payout record before touching the reward."""
    reference = " ".join((reference or "").split())
    if not reference:
        raise InvalidPayout("reference", "required")
    if len(reference) > MAX_REFERENCE:
        raise InvalidPayout("reference", "too_long")
    if paid_on > clock.now().date():
        raise InvalidPayout("paid_on", "future")
    if method not in {m.value for m in PayoutMethod}:
        raise InvalidPayout("method", "unknown")
    row = session.execute(select(Reward.collection_code_hash, Reward.approved_at)
                          .where(Reward.id == reward_id)).first()
    if row is None:
        raise NoSuchReward(str(reward_id))
    if row.approved_at is not None and paid_on < row.approved_at.date():
        raise InvalidPayout("paid_on", "before_approval")
    in_person = row.collection_code_hash is not None
    if method == PayoutMethod.BANK:
        if in_person:
            raise InvalidPayout("method", "claimed_in_person")
        return reference, None
    if not in_person:
        raise InvalidPayout("method", "claimed_bank")
    ids = [int(i) for i in handover_ids if i]
    if len(ids) != 2 or ids[0] == ids[1]:
        raise InvalidPayout("handover", "two_distinct")
    found = session.scalars(select(User).where(User.id.in_(ids))).all()
    if len(found) != 2 or not all(u.active for u in found):
        raise InvalidPayout("handover", "unknown_staff")
    reward = session.get(Reward, reward_id)
    assert reward is not None
    if not check_collection_code(reward, collection_code or ""):
        raise InvalidPayout("collection_code", "mismatch")
    return reference, (ids[0], ids[1])


def pay(session: DbSession, reward_id: int, actor: User | None, *, method: str, reference: str,
        paid_on: date, collection_code: str | None = None, handover_ids: Sequence[int] = (),
        expected_version: int | None = None) -> PayoutLedger:
    """Record the payout: approved → paid plus one ledger row, in one transaction; commits.

    Of many concurrent calls exactly one wins: the conditional UPDATE lets one through, and
    UNIQUE(reward_id) on the ledger refuses a second row even if that check were bypassed.
    """
    user = _require(actor, Permission.REWARDS_PAY)
    try:
        state = session.scalar(select(Reward.state).where(Reward.id == reward_id))
        if state == S.PAID:
            raise AlreadyPaid(str(reward_id))
        if state is not None and state != S.APPROVED:
            raise IllegalTransition("pay", state)
        reference, handover = _check_payout(session, reward_id, method, reference, paid_on,
                                            collection_code, handover_ids)
    except InvalidPayout as exc:
        session.rollback()
        if exc.field == "collection_code":
            record("reward.code_mismatch", actor=user, object_type="reward",
                   object_id=reward_id, commit=True)
        raise
    except BaseException:
        session.rollback()
        raise
    now = clock.now()
    try:
        reward = transition(session, reward_id, action="pay", sources=[S.APPROVED],
                            target=S.PAID, expected_version=expected_version,
                            values={"paid_at": now})
        entry = PayoutLedger(
            reward_id=reward.id, case_id=reward.case_id, case_ref=reward.case_ref,
            category=reward.category, district=reward.district, amount=reward.amount,
            currency=reward.currency, method=method, reference=reference, paid_on=paid_on,
            recorded_at=now, recorded_by_id=user.id,
            verified_by_id=reward.verified_by_id, approved_by_id=reward.approved_by_id,
            handover_by_id=handover[0] if handover else None,
            handover_witness_id=handover[1] if handover else None)
        session.add(entry)
        session.flush()
        reward_paid(reward.id, now.date())
        record("reward.paid", actor=user, object_type="reward", object_id=reward.id,
               detail={"case": reward.case_id, "amount": reward.amount, "method": method,
                       "ledger": entry.id})
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise AlreadyPaid(str(reward_id)) from exc
    except BaseException:
        session.rollback()
        raise
    return entry


def reject(session: DbSession, reward_id: int, actor: User | None, reason: str, *,
           expected_version: int | None = None, commit: bool = True) -> Reward:
    """Finance refuses the claim (e.g. fraud) with a reason: a final state."""
    with unit(session, commit):
        user = _require(actor, Permission.REWARDS_VERIFY, Permission.REWARDS_APPROVE)
        text = (reason or "").strip()
        if not text:
            raise InvalidPayout("reason", "required")
        reward = transition(session, reward_id, action="reject",
                            sources=[S.ELIGIBLE, S.CLAIMED, S.VERIFIED, S.APPROVED, S.WITHHELD],
                            target=S.REJECTED, expected_version=expected_version,
                            values={"reason": text[:MAX_REASON], "closed_at": clock.now()})
        record("reward.rejected", actor=user, object_type="reward", object_id=reward.id,
               detail={"case": reward.case_id})
    return reward


def withhold(session: DbSession, reward_id: int, *, actor: Any = None,
             reason: str = "case reopened", commit: bool = True) -> Reward:
    """The case was reopened: any unpaid, open reward is put on hold."""
    with unit(session, commit):
        reward = transition(session, reward_id, action="withhold",
                            sources=[S.ELIGIBLE, S.CLAIMED, S.VERIFIED, S.APPROVED],
                            target=S.WITHHELD,
                            values={"reason": reason[:MAX_REASON], "closed_at": clock.now()})
        record("reward.withheld", actor=actor, object_type="reward", object_id=reward.id,
               detail={"case": reward.case_id})
    return reward


def expire(session: DbSession, reward_id: int, now: datetime | None = None) -> Reward:
    """An eligible reward whose claim window is over becomes expired (no commit)."""
    moment = now or clock.now()
    reward = transition(session, reward_id, action="expire", sources=[S.ELIGIBLE],
                        target=S.EXPIRED, where=[Reward.claim_deadline <= moment],
                        values={"closed_at": moment})
    record("reward.expired", object_type="reward", object_id=reward.id,
           detail={"case": reward.case_id})
    session.flush()
    return reward


def expire_due(session: DbSession, now: datetime | None = None) -> list[int]:
    """Expire every eligible reward past its deadline; returns their ids (no commit)."""
    moment = now or clock.now()
    ids = list(session.scalars(select(Reward.id).where(
        Reward.state == S.ELIGIBLE.value, Reward.claim_deadline <= moment).order_by(Reward.id)))
    done = []
    for reward_id in ids:
        try:
            expire(session, reward_id, moment)
        except IllegalTransition:
            continue  # claimed at the last moment
        done.append(reward_id)
    return done


def queue_counts(session: DbSession) -> dict[str, int]:
    """Number of rewards in each state (every state present, zero when none)."""
    from sqlalchemy import func

    rows = session.execute(select(Reward.state, func.count(Reward.id)).group_by(Reward.state))
    counts = {s.value: 0 for s in S}
    counts.update({state: int(n) for state, n in rows})
    return counts


def queue(session: DbSession, state: str | None = None, limit: int = 200) -> list[Reward]:
    """Rewards in one state (all when None), oldest first."""
    stmt = select(Reward).order_by(Reward.eligible_at, Reward.id).limit(limit)
    if state:
        stmt = stmt.where(Reward.state == state)
    return list(session.scalars(stmt))
