"""Case states and transitions, joint departments joining and leaving, and reopening."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select

from .. import clock
from ..accounts.models import Department
from ..accounts.permissions import Permission
from ..crypto import decrypt_text, encrypt_field
from ..extensions import db
from ..notify import notify
from .common import (
    audit,
    clean,
    current_key,
    ensure_writable,
    require_lead_member,
    require_member,
    row_aad,
    touch,
)
from .errors import IllegalTransition, InvalidInput, NotAllowed
from .keys import department_ids, grant_department, open_case_key, revoke_department
from .models import (
    Case,
    CaseDepartment,
    CaseStatus,
    DepartmentRole,
    PublicOutcome,
    ReopenRequest,
)
from .signals import case_reopened
from .tipkeys import drop_department_seals, settle_links

S = CaseStatus
TRANSITIONS: dict[CaseStatus, frozenset[CaseStatus]] = {
    S.OPEN: frozenset({S.INVESTIGATING, S.DISPOSITION_PROPOSED}),
    S.INVESTIGATING: frozenset({S.DISPOSITION_PROPOSED}),
    S.DISPOSITION_PROPOSED: frozenset({S.INVESTIGATING, S.CLOSED}),
    S.CLOSED: frozenset({S.REOPENED}),
    S.REOPENED: frozenset({S.INVESTIGATING, S.DISPOSITION_PROPOSED}),
}


def can_move(current: str, target: CaseStatus) -> bool:
    """True when the state machine allows `current` → `target`."""
    return current in S._value2member_map_ and target in TRANSITIONS[S(current)]


def transition(case: Case, target: CaseStatus, actor: Any, **detail: Any) -> None:
    """Move the case to `target` or raise IllegalTransition (never a silent no-op)."""
    if not can_move(case.status, target):
        raise IllegalTransition(case.status, target.value)
    before = case.status
    case.status = target.value
    touch(case)
    audit("case.state_changed", case, actor, **{"from": before, "to": target.value, **detail})


def start_investigation(case: Case, actor: Any) -> None:
    """open/reopened → investigating, by a member of the lead department; commits."""
    require_lead_member(case, actor)
    transition(case, S.INVESTIGATING, actor)
    db.session.commit()


def _require_case_manager(case: Case, actor: Any) -> None:
    require_lead_member(case, actor)
    if not actor.can(Permission.CASES_MANAGE):
        raise NotAllowed("only the lead department's lead manages the departments")


def add_department(case: Case, dept_id: int, keyring: Any, actor: Any) -> None:
    """The lead department's lead adds a joint department: every key version sealed; commits."""
    ensure_writable(case)
    _require_case_manager(case, actor)
    dept = db.session.get(Department, dept_id)
    if dept is None or not dept.active:
        raise InvalidInput("unknown or inactive department")
    if dept.id in department_ids(case.id):
        raise InvalidInput("department already on the case")
    settle_links(case, keyring)  # pending tips move under the case key the newcomer gets
    versions = grant_department(case, dept, keyring)
    db.session.add(CaseDepartment(case_id=case.id, department_id=dept.id,
                                  role=DepartmentRole.JOINT.value, added_at=clock.now(),
                                  added_by_id=actor.id))
    touch(case)
    audit("case.department_added", case, actor, department=dept.id, versions=versions)
    notify("case.department_added", object_type="case", object_id=case.id,
           department_id=dept.id)
    db.session.commit()


def remove_department(case: Case, dept_id: int, keyring: Any, actor: Any) -> int:
    """Remove a joint department: its wraps go and the case key rotates; commits."""
    ensure_writable(case)
    _require_case_manager(case, actor)
    row = db.session.get(CaseDepartment, (case.id, dept_id))
    if row is None:
        raise InvalidInput("department not on the case")
    if row.role == DepartmentRole.LEAD:
        raise NotAllowed("the lead department cannot be removed")
    open_case_key(case, keyring)  # the remover must hold the key before anything changes
    settle_links(case, keyring)
    db.session.delete(row)
    drop_department_seals(case.id, dept_id)
    db.session.flush()
    remaining = list(db.session.scalars(select(Department).where(
        Department.id.in_(department_ids(case.id)))))
    version = revoke_department(case, dept_id, remaining, keyring)
    touch(case)
    audit("case.department_removed", case, actor, department=dept_id, new_key_version=version)
    db.session.commit()
    return version


# -- reopening -------------------------------------------------------------------------
def request_reopen(case: Case, keyring: Any, actor: Any, reason: str) -> ReopenRequest:
    """A lead-department member asks to reopen a closed case, with a reason; commits."""
    require_lead_member(case, actor)
    if case.status != S.CLOSED:
        raise IllegalTransition(case.status, S.REOPENED.value)
    if not clean(reason):
        raise InvalidInput("reason")
    version, key = current_key(case, keyring)
    req = ReopenRequest(case_id=case.id, key_version=version, status="pending",
                        requested_by_id=actor.id, requested_at=clock.now(), reason=b"")
    db.session.add(req)
    db.session.flush()
    req.reason = encrypt_field(key, clean(reason), row_aad(case.id, "reopen", req.id))
    audit("case.reopen_requested", case, actor, request=req.id)
    notify("case.reopen_requested", object_type="case", object_id=case.id,
           department_id=case.lead_department_id, role="dept_lead")
    db.session.commit()
    return req


def approve_reopen(case: Case, request_id: int, actor: Any) -> None:
    """The lead department's lead approves: closed → reopened (published outcome withdrawn,
    `case_reopened` sent in the transaction); commits."""
    _require_case_manager(case, actor)
    req = db.session.get(ReopenRequest, request_id)
    if req is None or req.case_id != case.id or req.status != "pending":
        raise InvalidInput("no pending reopening request")
    transition(case, S.REOPENED, actor, request=req.id)
    req.status = "approved"
    req.decided_by_id = actor.id
    req.decided_at = clock.now()
    case.reopen_count = (case.reopen_count or 0) + 1
    case.closed_at = None
    case.closed_on = None
    case.days_to_close = None
    db.session.execute(delete(PublicOutcome).where(PublicOutcome.case_id == case.id))
    case_reopened.send(case, actor=actor, request_id=req.id)
    db.session.commit()


def refuse_reopen(case: Case, request_id: int, actor: Any) -> None:
    """The lead department's lead refuses a reopening request; commits."""
    _require_case_manager(case, actor)
    req = db.session.get(ReopenRequest, request_id)
    if req is None or req.case_id != case.id or req.status != "pending":
        raise InvalidInput("no pending reopening request")
    req.status = "refused"
    req.decided_by_id = actor.id
    req.decided_at = clock.now()
    audit("case.reopen_refused", case, actor, request=req.id)
    db.session.commit()


def reopen_requests(case: Case, keyring: Any) -> list[tuple[ReopenRequest, str]]:
    """Reopening requests with their reasons decrypted."""
    rows = db.session.scalars(select(ReopenRequest).where(ReopenRequest.case_id == case.id)
                              .order_by(ReopenRequest.id)).all()
    return [(r, decrypt_text(open_case_key(case, keyring, r.key_version), r.reason,
                             row_aad(case.id, "reopen", r.id))) for r in rows]


def member_departments(case: Case) -> list[tuple[Department, str]]:
    """(department, role) pairs of the case, lead first."""
    rows = db.session.execute(select(Department, CaseDepartment.role).join(
        CaseDepartment, CaseDepartment.department_id == Department.id).where(
        CaseDepartment.case_id == case.id).order_by(CaseDepartment.role.desc(),
                                                    Department.id)).all()
    return [(d, r) for d, r in rows]


def load_case(case_id: int, actor: Any) -> Case:
    """The case if the actor's department is on it; NotOnCase otherwise."""
    from .errors import NotOnCase

    case = db.session.get(Case, case_id)
    if case is None:
        raise NotOnCase(f"case {case_id}")
    require_member(case, actor)
    return case
