"""Tables of the rewards feature: one reward per substantiated case, and the payout ledger.

In clear: what finance and the statistics need (case number, category, district, outcome,
amount, state, dates, who verified/approved). The claim — payee, ID-card number, payout
method and its details — is sealed twice: to the finance department key and to escrow.
The collection code of an in-person payout is kept only as a keyed hash.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any, TypeAlias

from sqlalchemy import (
    DDL,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    event,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, scoped_session

from .. import clock
from ..database import pg_append_only
from ..extensions import db

DbSession: TypeAlias = Session | scoped_session[Any]  # a plain session or `db.session`


class RewardState(StrEnum):
    """Where a reward stands; `paid`, `expired` and `rejected` are final."""

    ELIGIBLE = "eligible"
    CLAIMED = "claimed"
    VERIFIED = "verified"
    APPROVED = "approved"
    PAID = "paid"
    EXPIRED = "expired"
    REJECTED = "rejected"
    WITHHELD = "withheld"


class PayoutMethod(StrEnum):
    """How the bounty reaches the tipster."""

    BANK = "bank"
    IN_PERSON = "in_person"


class Reward(db.Model):  # type: ignore[name-defined]
    """The bounty of one substantiated case, owed to its first contributing tip."""

    __tablename__ = "rewards"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # No FK to cases.id yet: the cases package lands in parallel; the migration adds it.
    case_id: Mapped[int] = mapped_column(Integer, unique=True)
    tip_id: Mapped[int | None] = mapped_column(
        ForeignKey("tips.id", ondelete="SET NULL"), index=True)
    case_ref: Mapped[str] = mapped_column(String(64), default="")
    category: Mapped[str] = mapped_column(String(32), default="")
    district: Mapped[str] = mapped_column(String(16), default="", index=True)
    outcome: Mapped[str] = mapped_column(String(64), default="")
    amount: Mapped[int] = mapped_column(Integer)  # whole yuan, copied from the setting
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    state: Mapped[str] = mapped_column(String(16), default=RewardState.ELIGIBLE.value,
                                       index=True)
    eligible_at: Mapped[datetime] = mapped_column(DateTime, default=clock.now)
    claim_deadline: Mapped[datetime] = mapped_column(DateTime, index=True)
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime)
    verified_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    verified_at: Mapped[datetime | None] = mapped_column(DateTime)
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approved_at: Mapped[datetime | None] = mapped_column(DateTime)
    paid_at: Mapped[datetime | None] = mapped_column(DateTime)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime)  # expired/rejected/withheld
    reason: Mapped[str | None] = mapped_column(Text)  # why rejected or withheld (plain words)
    version: Mapped[int] = mapped_column(Integer, default=1)  # bumped by every transition
    # -- the claim, sealed (see service.claim_aad) ---------------------------------------
    claim_department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    claim_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    claim_escrow: Mapped[bytes | None] = mapped_column(LargeBinary)
    claim_escrow_kid: Mapped[str | None] = mapped_column(String(64))
    collection_code_hash: Mapped[str | None] = mapped_column(String(64))
    collection_code_kid: Mapped[str | None] = mapped_column(String(32))

    @property
    def final(self) -> bool:
        """True when no transition leaves this state."""
        return self.state in FINAL_STATES

    def __repr__(self) -> str:
        return f"<Reward {self.id} case={self.case_id} {self.state}>"


FINAL_STATES = frozenset({RewardState.PAID.value, RewardState.EXPIRED.value,
                          RewardState.REJECTED.value})


class PayoutLedger(db.Model):  # type: ignore[name-defined]
    """One payment, append-only; UNIQUE(reward_id) makes a second payout impossible."""

    __tablename__ = "payout_ledger"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reward_id: Mapped[int] = mapped_column(ForeignKey("rewards.id"), unique=True)
    case_id: Mapped[int] = mapped_column(Integer)
    case_ref: Mapped[str] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(String(32))
    district: Mapped[str] = mapped_column(String(16), index=True)
    amount: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    method: Mapped[str] = mapped_column(String(16))
    reference: Mapped[str] = mapped_column(String(100))  # voucher / bank transaction number
    paid_on: Mapped[date] = mapped_column(Date, index=True)
    recorded_at: Mapped[datetime] = mapped_column(DateTime, default=clock.now)
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    verified_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    approved_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    handover_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    handover_witness_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    def __repr__(self) -> str:
        return f"<PayoutLedger {self.id} reward={self.reward_id} {self.amount}>"


# PostgreSQL: ledger rows cannot be changed or removed (the initial revision holds a frozen
# copy of these statements).
PG_LEDGER_TRIGGER_SQL, PG_LEDGER_TRIGGER_DROP_SQL = pg_append_only("payout_ledger")
# SQLite: the same refusal as triggers (the migration: `op.execute` each when on SQLite).
SQLITE_LEDGER_TRIGGER_SQL: tuple[str, ...] = (
    """
CREATE TRIGGER IF NOT EXISTS payout_ledger_no_update
BEFORE UPDATE ON payout_ledger
BEGIN SELECT RAISE(ABORT, 'payout_ledger is append-only: UPDATE refused'); END
""",
    """
CREATE TRIGGER IF NOT EXISTS payout_ledger_no_delete
BEFORE DELETE ON payout_ledger
BEGIN SELECT RAISE(ABORT, 'payout_ledger is append-only: DELETE refused'); END
""",
)
SQLITE_LEDGER_TRIGGER_DROP_SQL: tuple[str, ...] = (
    "DROP TRIGGER IF EXISTS payout_ledger_no_delete",
    "DROP TRIGGER IF EXISTS payout_ledger_no_update",
)


def _attach_triggers() -> None:
    """Create the triggers whenever `create_all` creates the ledger table."""
    table = PayoutLedger.__table__
    for sql in PG_LEDGER_TRIGGER_SQL:
        event.listen(table, "after_create", DDL(sql).execute_if(dialect="postgresql"))
    for sql in SQLITE_LEDGER_TRIGGER_SQL:
        event.listen(table, "after_create", DDL(sql).execute_if(dialect="sqlite"))


_attach_triggers()
