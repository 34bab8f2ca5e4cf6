"""Intake decisions on a tip: promote, link, ask the tipster, reject, refer.

Each decision is recorded with a reason (a clear code plus text encrypted under the tip
key), written to the audit log of the tip (and of the case it touches), and counts as the
tip's first decision for the deadline and the statistics.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from .. import clock
from ..accounts.models import Department
from ..audit.service import record
from ..crypto import KeyUnavailable, encrypt_field
from ..extensions import db
from ..notify import notify
from ..retention.policy import tip_closed_by_intake
from ..tips.access import post_staff_message
from ..tips.models import Outcome, Status, Tip
from .common import audit, cfg, clean, header_aad, seal_json
from .errors import IllegalTransition, InvalidInput
from .intake import QUEUE_STATUSES, intake_row, intake_tip_key, tip_fields
from .keys import department_ids, issue_key, open_case_key
from .models import (
    Case,
    CaseDepartment,
    CaseStatus,
    CaseTip,
    DecisionKind,
    DepartmentRole,
    SubjectKind,
    TipDecision,
)
from .subjects import add_subject_row
from .tipkeys import seal_for_case_departments, wrap_under_case

REJECT_REASONS = {"spam": Outcome.NOT_SUBSTANTIATED, "out_of_scope": Outcome.OUT_OF_SCOPE,
                  "insufficient": Outcome.NOT_SUBSTANTIATED, "duplicate": Outcome.DUPLICATE}
REFER_REASONS = ("other_region", "other_authority", "judicial")


def decision_aad(tip_id: int, decision_id: int) -> str:
    """Binding of a decision's reason text."""
    return f"tip:{tip_id}:decision:{decision_id}"


def _check_open(tip: Tip) -> None:
    if tip.status not in QUEUE_STATUSES:
        raise IllegalTransition(tip.status, "decision")


def _set_status(tip: Tip, status: Status, outcome: Outcome | None = None) -> None:
    tip.status = status.value
    tip.status_changed_on = clock.now().date()
    if outcome is not None:
        tip.outcome = outcome.value


def _decide(tip: Tip, tip_key: bytes, actor: Any, kind: DecisionKind, reason: str,
            reason_code: str = "", case_id: int | None = None) -> TipDecision:
    """Store the decision, its encrypted reason, and the first-decision bookkeeping."""
    now = clock.now()
    row = TipDecision(tip_id=tip.id, kind=kind.value, reason_code=reason_code, case_id=case_id,
                      decided_by_id=getattr(actor, "id", None), decided_at=now, reason=b"")
    db.session.add(row)
    db.session.flush()
    row.reason = encrypt_field(tip_key, clean(reason, 4000), decision_aad(tip.id, row.id))
    intake = intake_row(tip.id)
    if intake.acknowledged_at is None:
        intake.acknowledged_at = now
        intake.acknowledged_by_id = getattr(actor, "id", None)
    if intake.first_decision_at is None:
        intake.first_decision_at = now
        intake.first_decision_days = (now.date() - tip.submitted_on).days
    if kind == DecisionKind.ASK:
        intake.asked_at = now
    record("tip.decided", actor=actor, object_type="tip", object_id=tip.id,
           detail={"decision": kind.value, "reason_code": reason_code, "case": case_id,
                   "decision_id": row.id})
    return row


def _departments(lead_id: int, joint_ids: Iterable[int]) -> tuple[Department, list[Department]]:
    ids = {int(lead_id), *(int(j) for j in joint_ids)}
    found = {d.id: d for d in db.session.scalars(select(Department).where(
        Department.id.in_(sorted(ids)), Department.active.is_(True)))}
    if len(found) != len(ids):
        raise InvalidInput("unknown or inactive department")
    lead = found.pop(int(lead_id))
    return lead, sorted(found.values(), key=lambda d: d.id)


def _becomes_first(case: Case, tip: Tip) -> bool:
    if case.first_tip_id is None:
        return True
    first = db.session.get(Tip, case.first_tip_id)
    return first is None or (tip.submitted_on, tip.id) < (first.submitted_on, first.id)


def promote(tip: Tip, keyring: Any, actor: Any, *, lead_department_id: int,
            joint_department_ids: Iterable[int] = (), title: str, summary: str = "",
            reason: str = "") -> Case:
    """Open a new case from a tip; the case key is sealed to its departments; commits."""
    _check_open(tip)
    if not clean(title):
        raise InvalidInput("title")
    lead, joints = _departments(lead_department_id, joint_department_ids)
    tip_key = intake_tip_key(tip, keyring)
    now = clock.now()
    case = Case(category=tip.category, district=tip.district, status=CaseStatus.OPEN.value,
                lead_department_id=lead.id, key_version=1, header_version=1, header=b"",
                created_at=now, created_on=now.date(), updated_at=now,
                created_by_id=getattr(actor, "id", None), first_tip_id=tip.id,
                due_on=now.date() + timedelta(days=cfg().case_days), reopen_count=0)
    db.session.add(case)
    db.session.flush()
    case.ref = f"C-{now.year}-{case.id:06d}"
    db.session.add(CaseDepartment(case_id=case.id, department_id=lead.id,
                                  role=DepartmentRole.LEAD.value, added_at=now,
                                  added_by_id=getattr(actor, "id", None)))
    for dept in joints:
        db.session.add(CaseDepartment(case_id=case.id, department_id=dept.id,
                                      role=DepartmentRole.JOINT.value, added_at=now,
                                      added_by_id=getattr(actor, "id", None)))
    case_key = issue_key(case, 1, [lead, *joints], keyring)
    case.header = seal_json(case_key, {"title": clean(title, 300), "summary": clean(summary)},
                            header_aad(case.id))
    wrap_under_case(tip.id, tip_key, case.id, 1, case_key)
    db.session.add(CaseTip(tip_id=tip.id, case_id=case.id, via="promote", pending=False,
                           linked_at=now, linked_by_id=getattr(actor, "id", None)))
    fields = tip_fields(tip, tip_key)
    subject = {"name": fields.get("place_name", ""), "address": fields.get("address", ""),
               "phone": fields.get("subject_phone", "")}
    if any(subject.values()):
        add_subject_row(case, 1, case_key, SubjectKind.CLINIC.value, subject, actor)
    _set_status(tip, Status.CASE_OPENED)
    decision = _decide(tip, tip_key, actor, DecisionKind.PROMOTE, reason, case_id=case.id)
    audit("case.created", case, actor, tip=tip.id, decision=decision.id, lead=lead.id,
          joint=[d.id for d in joints])
    for dept in [lead, *joints]:
        notify("case.assigned", object_type="case", object_id=case.id, department_id=dept.id)
    db.session.commit()
    return case


def link(tip: Tip, case: Case, keyring: Any, actor: Any, reason: str = "") -> CaseTip:
    """Join a tip to an existing case (its key sealed to the case departments); commits."""
    _check_open(tip)
    if case.status == CaseStatus.CLOSED:
        raise IllegalTransition(case.status, "link")
    tip_key = intake_tip_key(tip, keyring)
    now = clock.now()
    row = CaseTip(tip_id=tip.id, case_id=case.id, via="link", pending=True, linked_at=now,
                  linked_by_id=getattr(actor, "id", None))
    db.session.add(row)
    try:
        case_key = open_case_key(case, keyring)
    except KeyUnavailable:
        depts = list(db.session.scalars(select(Department).where(
            Department.id.in_(department_ids(case.id)))))
        seal_for_case_departments(tip.id, tip_key, case.id, depts)
    else:
        wrap_under_case(tip.id, tip_key, case.id, case.key_version, case_key)
        row.pending = False
    first = _becomes_first(case, tip)
    if first:
        case.first_tip_id = tip.id
    _set_status(tip, Status.CASE_OPENED)
    decision = _decide(tip, tip_key, actor, DecisionKind.LINK, reason, case_id=case.id)
    audit("case.tip_linked", case, actor, tip=tip.id, decision=decision.id,
          pending=row.pending, first_reporter=first)
    notify("case.tip_linked", object_type="case", object_id=case.id,
           department_id=case.lead_department_id)
    db.session.commit()
    return row


def ask_tipster(tip: Tip, keyring: Any, actor: Any, question: str) -> TipDecision:
    """Ask the tipster through the portal conversation; the tip waits in needs_info; commits."""
    _check_open(tip)
    text = clean(question)
    if not text:
        raise InvalidInput("question")
    tip_key = intake_tip_key(tip, keyring)
    _set_status(tip, Status.NEEDS_INFO)
    decision = _decide(tip, tip_key, actor, DecisionKind.ASK, text, reason_code="question")
    post_staff_message(tip, tip_key, actor, text)  # commits the whole transaction
    return decision


def reject(tip: Tip, keyring: Any, actor: Any, reason_code: str, reason: str = "") -> TipDecision:
    """Reject as spam, out of scope, insufficient or duplicate; the tipster sees it; commits."""
    _check_open(tip)
    if reason_code not in REJECT_REASONS:
        raise InvalidInput("reason_code")
    tip_key = intake_tip_key(tip, keyring)
    _set_status(tip, Status.REJECTED, REJECT_REASONS[reason_code])
    decision = _decide(tip, tip_key, actor, DecisionKind.REJECT, reason, reason_code)
    tip_closed_by_intake(tip.id, "rejected")
    db.session.commit()
    return decision


def refer(tip: Tip, keyring: Any, actor: Any, reason_code: str, reason: str) -> TipDecision:
    """Refer to another jurisdiction or authority (named in the encrypted reason); commits."""
    _check_open(tip)
    if reason_code not in REFER_REASONS:
        raise InvalidInput("reason_code")
    if not clean(reason):
        raise InvalidInput("reason")
    tip_key = intake_tip_key(tip, keyring)
    _set_status(tip, Status.REFERRED, Outcome.OUT_OF_SCOPE)
    decision = _decide(tip, tip_key, actor, DecisionKind.REFER, reason, reason_code)
    tip_closed_by_intake(tip.id, "referred")
    db.session.commit()
    return decision


def decisions_of(tip: Tip, tip_key: bytes) -> list[tuple[TipDecision, str]]:
    """The tip's decisions with their reasons decrypted, oldest first."""
    from ..crypto import decrypt_text

    rows = db.session.scalars(select(TipDecision).where(TipDecision.tip_id == tip.id)
                              .order_by(TipDecision.id)).all()
    return [(r, decrypt_text(tip_key, r.reason, decision_aad(tip.id, r.id)) if r.reason else "")
            for r in rows]
