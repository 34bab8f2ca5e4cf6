"""Tables of the tip portal: tips, their key wraps, blind indexes, files and messages.

Only what the workflow and statistics need is clear: category, district, channel, status,
outcome, the submission *date*. Everything the tipster typed (and the exact time) lives in
one envelope under the tip key; file names, types and digests in per-file envelopes.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .. import clock
from ..extensions import db


class Category(StrEnum):
    """The offences of DOMAIN.md."""

    SEX_IDENTIFICATION = "sex_identification"
    SEX_SELECTIVE_ABORTION = "sex_selective_abortion"
    ABORTION_DRUG_SALE = "abortion_drug_sale"
    INFANT_ABANDONMENT = "infant_abandonment"
    OTHER = "other"


class Channel(StrEnum):
    """How the tip reached us."""

    WEB = "web"
    PHONE = "phone"
    LETTER = "letter"
    IN_PERSON = "in_person"


class Status(StrEnum):
    """Where the tip stands; the portal shows each in plain words."""

    RECEIVED = "received"
    UNDER_REVIEW = "under_review"
    NEEDS_INFO = "needs_info"
    CASE_OPENED = "case_opened"
    CLOSED = "closed"
    REJECTED = "rejected"
    REFERRED = "referred"


class Outcome(StrEnum):
    """How a closed tip ended (set by the case workflow)."""

    SUBSTANTIATED = "substantiated"
    NOT_SUBSTANTIATED = "not_substantiated"
    DUPLICATE = "duplicate"
    OUT_OF_SCOPE = "out_of_scope"


class HolderKind(StrEnum):
    """Who a copy of the tip key is wrapped for."""

    DEPARTMENT = "department"  # HPKE-sealed to the department public key
    DEPARTMENT_SYM = "department_sym"  # wrapped under the department symmetric key (cheap)
    TIPSTER = "tipster"  # HPKE-sealed to the key derived from the receipt
    ESCROW = "escrow"  # HPKE-sealed to the installation escrow key (holder_id = key id)
    CASE = "case"  # wrapped under a case key


class Tip(db.Model):  # type: ignore[name-defined]
    """One tip; `content` is the encrypted JSON of everything the tipster typed."""

    __tablename__ = "tips"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ref: Mapped[str | None] = mapped_column(String(32), unique=True)
    category: Mapped[str] = mapped_column(String(32), index=True)
    district: Mapped[str] = mapped_column(String(16), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=Status.RECEIVED.value, index=True)
    outcome: Mapped[str | None] = mapped_column(String(32))
    submitted_on: Mapped[date] = mapped_column(Date, index=True)
    status_changed_on: Mapped[date | None] = mapped_column(Date)
    receipt_lookup: Mapped[str] = mapped_column(String(64), unique=True)
    tipster_public_key: Mapped[bytes] = mapped_column(LargeBinary)
    submitted_by_staff_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"))
    intake_department_id: Mapped[int | None] = mapped_column(
        ForeignKey("departments.id", ondelete="SET NULL"))
    content: Mapped[bytes] = mapped_column(LargeBinary, default=b"")

    wraps: Mapped[list[TipKeyWrap]] = relationship(
        back_populates="tip", cascade="all, delete-orphan", passive_deletes=True)
    files: Mapped[list[TipFile]] = relationship(
        back_populates="tip", cascade="all, delete-orphan", passive_deletes=True,
        order_by="TipFile.id")
    messages: Mapped[list[TipMessage]] = relationship(
        back_populates="tip", cascade="all, delete-orphan", passive_deletes=True,
        order_by="TipMessage.id")

    def __repr__(self) -> str:
        return f"<Tip {self.ref or self.id}>"


class TipKeyWrap(db.Model):  # type: ignore[name-defined]
    """The tip key wrapped for one holder."""

    __tablename__ = "tip_key_wraps"
    __table_args__ = (UniqueConstraint("tip_id", "holder_kind", "holder_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tip_id: Mapped[int] = mapped_column(ForeignKey("tips.id", ondelete="CASCADE"), index=True)
    holder_kind: Mapped[str] = mapped_column(String(16))
    holder_id: Mapped[str] = mapped_column(String(64), default="")
    wrapped: Mapped[bytes] = mapped_column(LargeBinary)

    tip: Mapped[Tip] = relationship(back_populates="wraps")


class TipBlindIndex(db.Model):  # type: ignore[name-defined]
    """HMAC of a normalised clinic name, phone number or address, for related-tip search."""

    __tablename__ = "tip_blind_indexes"
    __table_args__ = (Index("ix_tip_blind_indexes_lookup", "kind", "value"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tip_id: Mapped[int] = mapped_column(ForeignKey("tips.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(32))


class TipFile(db.Model):  # type: ignore[name-defined]
    """An evidence file: ciphertext in the upload store, metadata in an envelope."""

    __tablename__ = "tip_files"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tip_id: Mapped[int] = mapped_column(ForeignKey("tips.id", ondelete="CASCADE"), index=True)
    message_id: Mapped[int | None] = mapped_column(
        ForeignKey("tip_messages.id", ondelete="SET NULL"))
    stored_name: Mapped[str] = mapped_column(String(64), unique=True)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    meta: Mapped[bytes] = mapped_column(LargeBinary)
    created_on: Mapped[date] = mapped_column(Date)

    tip: Mapped[Tip] = relationship(back_populates="files")


class TipMessage(db.Model):  # type: ignore[name-defined]
    """One message between the tipster and the investigators, encrypted under the tip key."""

    __tablename__ = "tip_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tip_id: Mapped[int] = mapped_column(ForeignKey("tips.id", ondelete="CASCADE"), index=True)
    author: Mapped[str] = mapped_column(String(16))  # "tipster" | "staff"
    staff_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=clock.now)
    body: Mapped[bytes] = mapped_column(LargeBinary, default=b"")

    tip: Mapped[Tip] = relationship(back_populates="messages")


class TipFormToken(db.Model):  # type: ignore[name-defined]
    """A used one-time form token (keyed hash only), so a form submitted twice makes one tip."""

    __tablename__ = "tip_form_tokens"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    used_at: Mapped[datetime] = mapped_column(DateTime, index=True)


class PortalCounter(db.Model):  # type: ignore[name-defined]
    """Aggregate daily counters of the portal (e.g. wrong receipts); never per client."""

    __tablename__ = "tip_portal_counters"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
