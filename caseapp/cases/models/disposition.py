"""Dispositions (proposal and approval), their measures, published outcomes and reopening."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Date, DateTime, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from ... import clock
from ...extensions import db


class OutcomeKind(StrEnum):
    """How a case ends."""

    SUBSTANTIATED = "substantiated"
    UNSUBSTANTIATED = "unsubstantiated"
    INSUFFICIENT_EVIDENCE = "insufficient_evidence"
    REFERRED_JUDICIAL = "referred_judicial"
    REFERRED_OTHER_REGION = "referred_other_region"


class MeasureKind(StrEnum):
    """Measures taken against one subject."""

    WARNING = "warning"
    CONFISCATION = "confiscation"  # of illegal gains, with amount
    FINE = "fine"  # with amount
    LICENCE_REVOCATION = "licence_revocation"
    DISCIPLINE_REFERRAL = "discipline_referral"
    CRIMINAL_REFERRAL = "criminal_referral"


AMOUNT_MEASURES = frozenset({MeasureKind.CONFISCATION, MeasureKind.FINE})


class DispositionStatus(StrEnum):
    """State of a disposition."""

    PROPOSED = "proposed"
    APPROVED = "approved"
    REFUSED = "refused"


class Disposition(db.Model):  # type: ignore[name-defined]
    """A proposed or decided disposition; body = {legal_basis, summary} encrypted."""

    __tablename__ = "case_dispositions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    key_version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12), default=DispositionStatus.PROPOSED.value)
    outcome: Mapped[str] = mapped_column(String(32))
    body: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    proposed_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"))
    proposed_at: Mapped[datetime] = mapped_column(DateTime, default=clock.now)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)
    decided_on: Mapped[date | None] = mapped_column(Date)


class DispositionMeasure(db.Model):  # type: ignore[name-defined]
    """One measure against one subject; kind and amount (CNY) clear for statistics."""

    __tablename__ = "case_disposition_measures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    disposition_id: Mapped[int] = mapped_column(
        ForeignKey("case_dispositions.id", ondelete="CASCADE"), index=True)
    subject_id: Mapped[int | None] = mapped_column(
        ForeignKey("case_subjects.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(24))
    amount: Mapped[int | None] = mapped_column(Integer)


class DispositionTip(db.Model):  # type: ignore[name-defined]
    """A linked tip that contributed to the disposition (rewards follow from these)."""

    __tablename__ = "case_disposition_tips"

    disposition_id: Mapped[int] = mapped_column(
        ForeignKey("case_dispositions.id", ondelete="CASCADE"), primary_key=True)
    tip_id: Mapped[int] = mapped_column(ForeignKey("tips.id", ondelete="CASCADE"),
                                        primary_key=True)


class PublicOutcome(db.Model):  # type: ignore[name-defined]
    """The anonymised outcome shown on the portal: no names, no addresses, no ref."""

    __tablename__ = "case_public_outcomes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"),
                                         unique=True)
    category: Mapped[str] = mapped_column(String(32))
    district: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str] = mapped_column(String(32))
    measures: Mapped[str] = mapped_column(String(200), default="")  # comma-separated kinds
    decided_on: Mapped[date] = mapped_column(Date)
    published_at: Mapped[datetime] = mapped_column(DateTime, default=clock.now, index=True)
    published_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"))


class ReopenRequest(db.Model):  # type: ignore[name-defined]
    """A request to reopen a closed case; `reason` encrypted under the case key."""

    __tablename__ = "case_reopen_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    key_version: Mapped[int] = mapped_column(Integer)
    reason: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    status: Mapped[str] = mapped_column(String(12), default="pending")
    requested_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"))
    requested_at: Mapped[datetime] = mapped_column(DateTime, default=clock.now)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)
