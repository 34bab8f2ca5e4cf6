"""When a reward exists: a substantiated case earns one, owed to its first contributing tip.

"First" is the earliest submission. A tip keeps only its submission *date* in clear (the
exact time is inside its encrypted envelope, which nobody approving a disposition needs to
open), so tips are ordered by `(submitted_on, id)`: ids are handed out in insertion order,
which is submission order, so the id breaks ties within one day exactly.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update

from .. import clock
from ..audit.service import record
from ..config import Config
from ..tips.models import Tip
from .models import DbSession, Reward, RewardState

log = logging.getLogger(__name__)
WITHHOLDABLE = (RewardState.ELIGIBLE, RewardState.CLAIMED, RewardState.VERIFIED,
                RewardState.APPROVED)


@dataclass(frozen=True)
class CaseFacts:
    """The clear facts of a case that finance may see on a reward."""

    case_id: int
    case_ref: str
    category: str
    district: str
    outcome: str


def excluded_staff_ids(session: DbSession, staff_ids: Iterable[int],
                       excluded_roles: Iterable[str]) -> set[int]:
    """Those of `staff_ids` who hold one of the excluded roles."""
    from ..accounts.models import UserRole

    ids, roles = set(staff_ids), set(excluded_roles)
    if not ids or not roles:
        return set()
    return set(session.scalars(select(UserRole.user_id).where(
        UserRole.user_id.in_(ids), UserRole.role.in_(roles))))


def first_eligible_tip(session: DbSession, tip_ids: Iterable[int],
                       excluded_roles: Iterable[str]) -> Tip | None:
    """The earliest of the given tips not submitted by an excluded staff member."""
    ids = {int(t) for t in tip_ids}
    if not ids:
        return None
    tips = list(session.scalars(select(Tip).where(Tip.id.in_(ids))
                                .order_by(Tip.submitted_on, Tip.id)))
    excluded = excluded_staff_ids(
        session, (t.submitted_by_staff_id for t in tips if t.submitted_by_staff_id),
        excluded_roles)
    for tip in tips:
        if tip.submitted_by_staff_id is None or tip.submitted_by_staff_id not in excluded:
            return tip
    return None


def create_reward(session: DbSession, facts: CaseFacts, tip_ids: Iterable[int],
                  cfg: Config) -> Reward | None:
    """Make the case's reward eligible in the caller's transaction (no commit).

    Returns None when no contributing tip is eligible. A case that already has a reward
    keeps it: a withheld one (case reopened) is reinstated, any other is left alone.
    """
    existing = session.scalar(select(Reward).where(Reward.case_id == facts.case_id))
    if existing is not None:
        if existing.state == RewardState.WITHHELD:
            reinstate(session, existing, cfg)
        return existing
    tip = first_eligible_tip(session, tip_ids, cfg.reward_excluded_roles)
    if tip is None:
        record("reward.none_eligible", object_type="case", object_id=facts.case_id,
               detail={"tips": len(set(tip_ids))})
        return None
    now = clock.now()
    reward = Reward(case_id=facts.case_id, tip_id=tip.id, case_ref=facts.case_ref,
                    category=facts.category or tip.category,
                    district=facts.district or tip.district, outcome=facts.outcome,
                    amount=int(cfg.bounty_amount_cny), currency=cfg.reward_currency,
                    state=RewardState.ELIGIBLE.value, eligible_at=now,
                    claim_deadline=now + timedelta(days=cfg.reward_claim_days), version=1)
    session.add(reward)
    session.flush()
    record("reward.eligible", object_type="reward", object_id=reward.id,
           detail={"case": facts.case_id, "amount": reward.amount,
                   "currency": reward.currency})
    return reward


def reinstate(session: DbSession, reward: Reward, cfg: Config) -> None:
    """A withheld reward of a case substantiated again: claimed if it was, else eligible."""
    now = clock.now()
    target = RewardState.CLAIMED if reward.claimed_at is not None else RewardState.ELIGIBLE
    values: dict[str, object] = {"state": target.value, "version": Reward.version + 1,
                                 "reason": None, "closed_at": None,
                                 "verified_by_id": None, "verified_at": None,
                                 "approved_by_id": None, "approved_at": None}
    if target == RewardState.ELIGIBLE:
        values["claim_deadline"] = now + timedelta(days=cfg.reward_claim_days)
    session.execute(update(Reward).where(Reward.id == reward.id,
                                         Reward.state == RewardState.WITHHELD.value)
                    .values(**values).execution_options(synchronize_session=False))
    session.refresh(reward)
    record("reward.reinstated", object_type="reward", object_id=reward.id,
           detail={"case": reward.case_id, "state": target.value})


def withhold_for_case(session: DbSession, case_id: int, reason: str = "case reopened",
                      actor: object = None) -> Reward | None:
    """The case was reopened: put its unpaid reward on hold (no commit); None if none."""
    reward = session.scalar(select(Reward).where(Reward.case_id == case_id))
    if reward is None:
        return None
    if reward.state not in WITHHOLDABLE:
        if reward.state == RewardState.PAID:
            log.warning("case %s reopened after its reward %s was paid", case_id, reward.id)
            record("reward.reopened_after_payment", actor=actor, object_type="reward",
                   object_id=reward.id, detail={"case": case_id})
        return reward
    from .service import withhold

    return withhold(session, reward.id, actor=actor, reason=reason, commit=False)
