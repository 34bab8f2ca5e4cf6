"""Retention periods per outcome: when an outcome is decided, fix the subject's expiry date.

Every rule ends in `locks.set_expiry`. Periods come from the Config (docs/retention.md):
tip rejected or referred by intake → `tip_rejected_days`; case closed substantiated or
referred for prosecution → `archive_days`; any other closed case →
`case_unsubstantiated_days`; tips of a case follow the case; a reward's claim follows its
case until paid, then `archive_days` from the payment. Reopening makes all of them open
("active") again.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import select

from .. import clock
from ..extensions import db
from .locks import lock_of, set_expiry
from .models import RetentionKind

ARCHIVED_OUTCOMES = frozenset({"substantiated", "referred_judicial"})


def _cfg() -> Any:
    return current_app.config["CASEAPP"]


def case_period(outcome: str) -> tuple[int, str]:
    """(days kept after closing, outcome label) for a case outcome."""
    if outcome in ARCHIVED_OUTCOMES:
        return int(_cfg().archive_days), f"case_{outcome}"
    return int(_cfg().case_unsubstantiated_days), f"case_{outcome}"


def _tip_ids(case_id: int) -> list[int]:
    from ..cases.models import CaseTip

    return list(db.session.scalars(select(CaseTip.tip_id).where(CaseTip.case_id == case_id)))


def _unpaid_rewards(case_id: int) -> list[int]:
    from ..rewards.models import Reward, RewardState

    return list(db.session.scalars(select(Reward.id).where(
        Reward.case_id == case_id, Reward.state != RewardState.PAID.value)))


def tip_closed_by_intake(tip_id: int, outcome: str, on: date | None = None) -> None:
    """Intake rejected or referred a tip: it expires `tip_rejected_days` later."""
    day = on or clock.now().date()
    set_expiry(RetentionKind.TIP, tip_id, day + timedelta(days=int(_cfg().tip_rejected_days)),
               f"tip_{outcome}")


def case_closed(case_id: int, outcome: str, on: date | None = None) -> date:
    """A disposition closed the case: fix its expiry, its tips' and unpaid rewards'."""
    days, label = case_period(outcome)
    expires = (on or clock.now().date()) + timedelta(days=days)
    set_expiry(RetentionKind.CASE, case_id, expires, label)
    for tip_id in _tip_ids(case_id):
        set_expiry(RetentionKind.TIP, tip_id, expires, label)
    for reward_id in _unpaid_rewards(case_id):
        set_expiry(RetentionKind.REWARD, reward_id, expires, label)
    return expires


def case_reopened(case_id: int) -> None:
    """A reopened case, its tips and unpaid rewards are open again (epoch "active")."""
    set_expiry(RetentionKind.CASE, case_id, None)
    for tip_id in _tip_ids(case_id):
        set_expiry(RetentionKind.TIP, tip_id, None)
    for reward_id in _unpaid_rewards(case_id):
        set_expiry(RetentionKind.REWARD, reward_id, None)


def reward_claimed(reward_id: int, case_id: int) -> None:
    """A new claim follows its case's expiry (if the case has one)."""
    case_lock = lock_of(RetentionKind.CASE, case_id)
    if case_lock is not None and case_lock.expires_on is not None:
        set_expiry(RetentionKind.REWARD, reward_id, case_lock.expires_on,
                   case_lock.outcome or "case")


def reward_paid(reward_id: int, on: date | None = None) -> None:
    """A paid reward's claim is kept for the archive period from the payment."""
    day = on or clock.now().date()
    set_expiry(RetentionKind.REWARD, reward_id, day + timedelta(days=int(_cfg().archive_days)),
               "reward_paid")


def on_disposition_approved(sender: Any, **kw: Any) -> None:
    """Signal receiver (cases.signals.disposition_approved), inside the approving transaction."""
    case, disposition = kw.get("case", sender), kw.get("disposition")
    if case is None or disposition is None:
        return
    closed = getattr(case, "closed_on", None) or clock.now().date()
    case_closed(int(case.id), str(getattr(disposition, "outcome", "")), closed)


def on_case_reopened(sender: Any, **kw: Any) -> None:
    """Signal receiver (cases.signals.case_reopened), inside the reopening transaction."""
    case = kw.get("case", sender)
    if case is not None:
        case_reopened(int(case.id))


_connected: list[bool] = []


def connect() -> None:
    """Connect the receivers to the cases signals once per process."""
    if _connected:
        return
    from ..cases.signals import case_reopened as reopened_signal
    from ..cases.signals import disposition_approved

    disposition_approved.connect(on_disposition_approved, weak=False)
    reopened_signal.connect(on_case_reopened, weak=False)
    _connected.append(True)
