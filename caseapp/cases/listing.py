"""Lists across cases: the case list of a department and "my tasks"; titles decrypted in bulk.

A page opens its case keys with one wrap query and AES only (the symmetric wraps), so a
page of 50 cases costs one department-key opening at most, then microseconds per row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select

from .. import clock
from ..crypto import DecryptionError
from ..extensions import db
from .common import Page, commit_for_display, header_aad, open_json, opened, row_aad
from .keys import open_case_keys
from .models import Case, CaseDepartment, CaseStatus, Task, TaskStatus

OPEN_TASKS = (TaskStatus.TODO.value, TaskStatus.DOING.value)


@dataclass
class CaseRow:
    """One case in a list; title and summary are None until decrypted."""

    case: Case
    role: str
    title: str | None = None
    summary: str | None = None


def case_list(keyring: Any, actor: Any, *, page: int = 1, per_page: int = 50,
              status: str | None = None, decrypt: bool = True) -> Page[CaseRow]:
    """Cases the actor's department is on, most recently changed first."""
    dept_id = getattr(actor, "department_id", None)
    if dept_id is None:
        return Page([], 0, 1, per_page)
    where = [CaseDepartment.department_id == dept_id]
    if status in CaseStatus._value2member_map_:
        where.append(Case.status == status)
    elif status == "active":
        where.append(Case.status != CaseStatus.CLOSED.value)
    total = int(db.session.scalar(select(func.count()).select_from(Case).join(
        CaseDepartment, CaseDepartment.case_id == Case.id).where(*where)) or 0)
    page = max(1, page)
    # Walk the cases newest-changed first, testing membership per row, and stop after a
    # page (instead of sorting every case of the department).
    member = select(CaseDepartment.case_id).where(CaseDepartment.case_id == Case.id,
                                                  CaseDepartment.department_id == dept_id)
    ids = list(db.session.scalars(
        select(Case.id).where(member.exists(), *where[1:])
        .order_by(Case.updated_at.desc(), Case.id.desc())
        .limit(per_page).offset((page - 1) * per_page)))
    found = db.session.execute(
        select(Case, CaseDepartment.role).join(CaseDepartment, CaseDepartment.case_id == Case.id)
        .where(CaseDepartment.department_id == dept_id, Case.id.in_(ids))).all()
    order = {case_id: n for n, case_id in enumerate(ids)}
    rows = sorted((CaseRow(c, r) for c, r in found), key=lambda row: order[row.case.id])
    if decrypt and rows:
        decrypt_headers(rows, keyring)
        opened("case", None, actor, "case_list", ids=[r.case.id for r in rows])
        commit_for_display()
    return Page(rows, total, page, per_page)


def decrypt_headers(rows: list[CaseRow], keyring: Any) -> None:
    """Fill in titles and summaries of a page of cases."""
    keys = open_case_keys([(r.case.id, r.case.header_version) for r in rows], keyring)
    for row in rows:
        key = keys.get((row.case.id, row.case.header_version))
        if key is None:
            continue
        try:
            header = open_json(key, row.case.header, header_aad(row.case.id))
        except DecryptionError:
            continue
        row.title, row.summary = header.get("title", ""), header.get("summary", "")


@dataclass
class TaskRow:
    """One task in "my tasks", with its case and decrypted title."""

    task: Task
    case: Case
    title: str | None = None
    overdue: bool = False


def my_tasks(keyring: Any, actor: Any, *, include_department: bool = True,
             limit: int = 200) -> list[TaskRow]:
    """Open tasks assigned to the actor (and, optionally, to their department), due first."""
    dept_id = getattr(actor, "department_id", None)
    mine = Task.assignee_user_id == actor.id
    if include_department and dept_id is not None:
        mine = or_(mine, (Task.assignee_user_id.is_(None))
                   & (Task.assignee_department_id == dept_id))
    found = db.session.execute(
        select(Task, Case).join(Case, Case.id == Task.case_id)
        .join(CaseDepartment, (CaseDepartment.case_id == Case.id)
              & (CaseDepartment.department_id == dept_id))
        .where(mine, Task.status.in_(OPEN_TASKS))
        .order_by(Task.due_on.is_(None), Task.due_on, Task.id).limit(limit)).all()
    today = clock.now().date()
    rows = [TaskRow(t, c, overdue=t.due_on is not None and t.due_on < today) for t, c in found]
    if rows:
        keys = open_case_keys({(r.case.id, r.task.key_version) for r in rows}, keyring)
        for row in rows:
            key = keys.get((row.case.id, row.task.key_version))
            if key is not None:
                row.title = open_json(key, row.task.body,
                                      row_aad(row.case.id, "task", row.task.id)).get("title")
        opened("case", None, actor, "my_tasks", ids=sorted({r.case.id for r in rows}))
        commit_for_display()
    return rows
