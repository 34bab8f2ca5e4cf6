"""Dispositions: proposed by the lead department, approved by another person's lead role.

Approval closes the case, sets the linked tips' outcomes, sends `disposition_approved`
inside the same transaction, and allows an anonymised public outcome to be published.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from .. import clock
from ..accounts.permissions import Permission
from ..extensions import db
from ..notify import notify
from ..tips.models import Outcome, Status, Tip
from .common import audit, clean, current_key, open_json, require_lead_member, row_aad, seal_json
from .errors import IllegalTransition, InvalidInput, NotAllowed
from .keys import open_case_key
from .models import (
    AMOUNT_MEASURES,
    Case,
    CaseStatus,
    CaseTip,
    Disposition,
    DispositionMeasure,
    DispositionStatus,
    DispositionTip,
    MeasureKind,
    OutcomeKind,
    PublicOutcome,
    Subject,
)
from .signals import disposition_approved
from .workflow import transition


@dataclass(frozen=True)
class MeasureInput:
    """One measure as proposed: which subject (or none), what, and an amount in CNY."""

    kind: str
    subject_id: int | None = None
    amount: int | None = None


def _check_fields(case: Case, outcome: str, legal_basis: str, measures: Sequence[MeasureInput],
                  tip_ids: Iterable[int]) -> list[int]:
    """Refuse a disposition missing a mandatory field; returns the contributing tip ids."""
    if outcome not in OutcomeKind._value2member_map_:
        raise InvalidInput("outcome")
    if not clean(legal_basis):
        raise InvalidInput("legal_basis")
    linked = set(db.session.scalars(select(CaseTip.tip_id).where(CaseTip.case_id == case.id)))
    tips = sorted({int(t) for t in tip_ids})
    if not set(tips) <= linked:
        raise InvalidInput("contributing tips must be linked to the case")
    subjects = set(db.session.scalars(select(Subject.id).where(Subject.case_id == case.id)))
    for m in measures:
        if m.kind not in MeasureKind._value2member_map_:
            raise InvalidInput("measure")
        if m.subject_id is not None and m.subject_id not in subjects:
            raise InvalidInput("measure subject")
        if m.kind in AMOUNT_MEASURES and (m.amount is None or m.amount <= 0):
            raise InvalidInput("amount")
    if outcome == OutcomeKind.SUBSTANTIATED and (not measures or not tips):
        raise InvalidInput("a substantiated case needs measures and contributing tips")
    return tips


def propose(case: Case, keyring: Any, actor: Any, *, outcome: str, legal_basis: str,
            summary: str = "", measures: Sequence[MeasureInput] = (),
            tip_ids: Iterable[int] = ()) -> Disposition:
    """A lead-department investigator proposes the disposition; the case waits; commits."""
    require_lead_member(case, actor)
    if not actor.can(Permission.DISPOSITION_PROPOSE):
        raise NotAllowed("proposing needs the investigator role")
    if db.session.scalar(select(Disposition.id).where(
            Disposition.case_id == case.id,
            Disposition.status == DispositionStatus.PROPOSED.value)) is not None:
        raise IllegalTransition(case.status, "second proposal")
    tips = _check_fields(case, outcome, legal_basis, measures, tip_ids)
    transition(case, CaseStatus.DISPOSITION_PROPOSED, actor)
    version, key = current_key(case, keyring)
    row = Disposition(case_id=case.id, key_version=version, outcome=outcome,
                      status=DispositionStatus.PROPOSED.value, proposed_by_id=actor.id,
                      proposed_at=clock.now(), body=b"")
    db.session.add(row)
    db.session.flush()
    row.body = seal_json(key, {"legal_basis": clean(legal_basis), "summary": clean(summary)},
                         row_aad(case.id, "disposition", row.id))
    db.session.add_all(DispositionMeasure(disposition_id=row.id, subject_id=m.subject_id,
                                          kind=m.kind,
                                          amount=m.amount if m.kind in AMOUNT_MEASURES else None)
                       for m in measures)
    db.session.add_all(DispositionTip(disposition_id=row.id, tip_id=t) for t in tips)
    audit("case.disposition_proposed", case, actor, disposition=row.id, outcome=outcome,
          measures=[m.kind for m in measures], tips=tips)
    notify("case.disposition_proposed", object_type="case", object_id=case.id,
           department_id=case.lead_department_id, role="dept_lead")
    db.session.commit()
    return row


def _pending(case: Case, disposition_id: int) -> Disposition:
    row = db.session.get(Disposition, disposition_id)
    if row is None or row.case_id != case.id:
        raise InvalidInput("disposition")
    if row.status != DispositionStatus.PROPOSED:
        raise IllegalTransition(row.status, DispositionStatus.APPROVED.value)
    return row


def _approver(case: Case, row: Disposition, actor: Any) -> None:
    require_lead_member(case, actor)
    if not actor.can(Permission.DISPOSITION_APPROVE):
        raise NotAllowed("approving needs the department lead role")
    if row.proposed_by_id == actor.id:
        raise NotAllowed("the proposer cannot approve their own disposition")


def contributing_tips(disposition_id: int) -> list[int]:
    """Contributing tip ids, earliest submitted first."""
    return list(db.session.scalars(
        select(Tip.id).join(DispositionTip, DispositionTip.tip_id == Tip.id)
        .where(DispositionTip.disposition_id == disposition_id)
        .order_by(Tip.submitted_on, Tip.id)))


def _close_tips(case: Case, outcome: str, contributing: set[int]) -> None:
    today = clock.now().date()
    tips = db.session.scalars(select(Tip).join(CaseTip, CaseTip.tip_id == Tip.id)
                              .where(CaseTip.case_id == case.id))
    for tip in tips:
        if outcome in (OutcomeKind.REFERRED_JUDICIAL, OutcomeKind.REFERRED_OTHER_REGION):
            tip.status = Status.REFERRED.value
        else:
            tip.status = Status.CLOSED.value
        substantiated = outcome == OutcomeKind.SUBSTANTIATED and tip.id in contributing
        tip.outcome = (Outcome.SUBSTANTIATED if substantiated
                       else Outcome.NOT_SUBSTANTIATED).value
        tip.status_changed_on = today


def approve(case: Case, keyring: Any, actor: Any, disposition_id: int) -> Disposition:
    """A department lead other than the proposer approves: the case closes; commits."""
    row = _pending(case, disposition_id)
    _approver(case, row, actor)
    body = open_json(open_case_key(case, keyring, row.key_version), row.body,
                     row_aad(case.id, "disposition", row.id))
    measures = [MeasureInput(m.kind, m.subject_id, m.amount) for m in measures_of(row.id)]
    tips = contributing_tips(row.id)
    _check_fields(case, row.outcome, body.get("legal_basis", ""), measures, tips)
    now = clock.now()
    transition(case, CaseStatus.CLOSED, actor, disposition=row.id)
    row.status = DispositionStatus.APPROVED.value
    row.decided_by_id, row.decided_at, row.decided_on = actor.id, now, now.date()
    case.closed_at, case.closed_on = now, now.date()
    case.days_to_close = (now.date() - case.created_on).days
    _close_tips(case, row.outcome, set(tips))
    audit("case.disposition_approved", case, actor, disposition=row.id, outcome=row.outcome,
          tips=tips)
    notify("case.disposition_decided", object_type="case", object_id=case.id,
           department_id=case.lead_department_id)
    disposition_approved.send(case, disposition=row, tip_ids=tips)
    db.session.commit()
    return row


def refuse(case: Case, actor: Any, disposition_id: int) -> None:
    """A department lead sends the proposal back: the case returns to investigating; commits."""
    row = _pending(case, disposition_id)
    _approver(case, row, actor)
    row.status = DispositionStatus.REFUSED.value
    row.decided_by_id, row.decided_at = actor.id, clock.now()
    transition(case, CaseStatus.INVESTIGATING, actor, disposition=row.id)
    audit("case.disposition_refused", case, actor, disposition=row.id)
    db.session.commit()


def measures_of(disposition_id: int) -> list[DispositionMeasure]:
    """The measures of a disposition."""
    return list(db.session.scalars(select(DispositionMeasure).where(
        DispositionMeasure.disposition_id == disposition_id).order_by(DispositionMeasure.id)))


def approved_of(case: Case) -> Disposition | None:
    """The approved disposition of a closed case (the latest)."""
    return db.session.scalar(select(Disposition).where(
        Disposition.case_id == case.id, Disposition.status == DispositionStatus.APPROVED.value)
        .order_by(Disposition.id.desc()).limit(1))


def publish(case: Case, actor: Any) -> PublicOutcome:
    """Publish the anonymised outcome (category, district, measures, date); commits."""
    require_lead_member(case, actor)
    if not actor.can(Permission.DISPOSITION_APPROVE):
        raise NotAllowed("publishing needs the department lead role")
    row = approved_of(case) if case.status == CaseStatus.CLOSED else None
    if row is None or row.decided_on is None:
        raise IllegalTransition(case.status, "publish")
    kinds = sorted({m.kind for m in measures_of(row.id)})
    public = db.session.scalar(select(PublicOutcome).where(PublicOutcome.case_id == case.id))
    if public is None:
        public = PublicOutcome(case_id=case.id)
        db.session.add(public)
    public.category, public.district, public.outcome = case.category, case.district, row.outcome
    public.measures, public.decided_on = ",".join(kinds), row.decided_on
    public.published_at, public.published_by_id = clock.now(), actor.id
    audit("case.outcome_published", case, actor, disposition=row.id)
    db.session.commit()
    return public


def public_outcomes(page: int = 1, per_page: int = 30) -> tuple[list[PublicOutcome], int]:
    """Published outcomes, newest first, and their total."""
    total = int(db.session.scalar(select(func.count()).select_from(PublicOutcome)) or 0)
    rows = db.session.scalars(select(PublicOutcome).order_by(
        PublicOutcome.decided_on.desc(), PublicOutcome.id.desc())
        .limit(per_page).offset((max(page, 1) - 1) * per_page)).all()
    return list(rows), total
