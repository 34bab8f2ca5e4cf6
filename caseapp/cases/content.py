"""Work on a case: tasks, internal notes, messages to the tipster, joint actions, seizures."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select

from .. import clock
from ..accounts.models import User
from ..crypto import KeyUnavailable, encrypt_field
from ..extensions import db
from ..notify import notify
from ..tips.access import post_staff_message
from ..tips.models import Tip, TipMessage
from .common import (
    audit,
    clean,
    current_key,
    ensure_writable,
    require_member,
    row_aad,
    seal_json,
    touch,
)
from .errors import InvalidInput, NotAllowed
from .keys import department_ids
from .models import (
    ActionStatus,
    Case,
    CaseTip,
    JointAction,
    Note,
    SeizedItem,
    SeizedKind,
    Task,
    TaskStatus,
)
from .tipkeys import case_tip_keys, settle_links


def _writable_member(case: Case, actor: Any) -> None:
    require_member(case, actor)
    ensure_writable(case)


# -- tasks -----------------------------------------------------------------------------
def add_task(case: Case, keyring: Any, actor: Any, *, title: str, detail: str = "",
             department_id: int | None = None, user_id: int | None = None,
             due_on: date | None = None) -> Task:
    """A task for a department on the case or for one of its members; commits."""
    _writable_member(case, actor)
    if not clean(title):
        raise InvalidInput("title")
    members = set(department_ids(case.id))
    if user_id is not None:
        user = db.session.get(User, user_id)
        if user is None or user.department_id not in members:
            raise InvalidInput("the assignee must belong to a department on the case")
        department_id = user.department_id
    if department_id is None or department_id not in members:
        raise InvalidInput("the task needs a department on the case")
    version, key = current_key(case, keyring)
    now = clock.now()
    task = Task(case_id=case.id, key_version=version, assignee_department_id=department_id,
                assignee_user_id=user_id, due_on=due_on, status=TaskStatus.TODO.value,
                created_by_id=actor.id, created_at=now, updated_at=now, body=b"")
    db.session.add(task)
    db.session.flush()
    task.body = seal_json(key, {"title": clean(title, 300), "detail": clean(detail)},
                          row_aad(case.id, "task", task.id))
    touch(case)
    audit("case.task_added", case, actor, task=task.id, department=department_id, user=user_id)
    notify("case.task_assigned", object_type="case", object_id=case.id,
           department_id=None if user_id else department_id, user_id=user_id)
    db.session.commit()
    return task


def set_task_status(case: Case, task_id: int, actor: Any, status: str) -> None:
    """Move a task to to do / doing / done / cancelled; commits."""
    _writable_member(case, actor)
    task = db.session.get(Task, task_id)
    if task is None or task.case_id != case.id:
        raise InvalidInput("task")
    if status not in TaskStatus._value2member_map_:
        raise InvalidInput("status")
    lead = actor.department_id == case.lead_department_id
    if not lead and actor.department_id != task.assignee_department_id:
        raise NotAllowed("only the assignee's department or the lead department")
    before, task.status, task.updated_at = task.status, status, clock.now()
    touch(case)
    audit("case.task_status", case, actor, task=task.id, **{"from": before, "to": status})
    db.session.commit()


# -- notes and messages ------------------------------------------------------------------
def add_note(case: Case, keyring: Any, actor: Any, text: str) -> Note:
    """An internal note, encrypted under the newest case key; commits."""
    _writable_member(case, actor)
    if not clean(text):
        raise InvalidInput("text")
    version, key = current_key(case, keyring)
    note = Note(case_id=case.id, key_version=version, author_id=actor.id,
                created_at=clock.now(), body=b"")
    db.session.add(note)
    db.session.flush()
    note.body = encrypt_field(key, clean(text), row_aad(case.id, "note", note.id))
    touch(case)
    audit("case.note_added", case, actor, note=note.id)
    db.session.commit()
    return note


def message_tipster(case: Case, keyring: Any, actor: Any, tip_id: int, text: str) -> TipMessage:
    """A message to the tipster of a linked tip (under the tip key, which the tipster holds)."""
    _writable_member(case, actor)
    if not clean(text):
        raise InvalidInput("text")
    link = db.session.get(CaseTip, tip_id)
    if link is None or link.case_id != case.id:
        raise InvalidInput("tip not linked to this case")
    settle_links(case, keyring)
    key = case_tip_keys(case, keyring).get(tip_id)
    if key is None:
        raise KeyUnavailable(f"tip {tip_id} not readable through case {case.id}")
    tip = db.session.get(Tip, tip_id)
    assert tip is not None
    touch(case)
    audit("case.tipster_messaged", case, actor, tip=tip_id)
    return post_staff_message(tip, key, actor, clean(text))  # commits


# -- joint actions and seized items ------------------------------------------------------
def add_action(case: Case, keyring: Any, actor: Any, *, planned_on: date, premises: str,
               departments: list[int], people: str = "") -> JointAction:
    """Plan a joint action with the departments and people taking part; commits."""
    _writable_member(case, actor)
    if not clean(premises):
        raise InvalidInput("premises")
    members = set(department_ids(case.id))
    if not departments or not set(departments) <= members:
        raise InvalidInput("departments must be on the case")
    version, key = current_key(case, keyring)
    action = JointAction(case_id=case.id, key_version=version, planned_on=planned_on,
                         status=ActionStatus.PLANNED.value, created_by_id=actor.id,
                         created_at=clock.now(), body=b"")
    db.session.add(action)
    db.session.flush()
    action.body = seal_json(key, {"premises": clean(premises, 2000),
                                  "departments": sorted(set(departments)),
                                  "people": clean(people, 2000), "result": ""},
                            row_aad(case.id, "action", action.id))
    touch(case)
    audit("case.action_planned", case, actor, action=action.id, departments=sorted(departments),
          planned_on=planned_on.isoformat())
    db.session.commit()
    return action


def record_action_result(case: Case, keyring: Any, actor: Any, action_id: int, *,
                         status: str, result: str) -> None:
    """Record how a joint action went (done or cancelled) and its result; commits."""
    from .common import open_json
    from .keys import open_case_key

    _writable_member(case, actor)
    action = db.session.get(JointAction, action_id)
    if action is None or action.case_id != case.id:
        raise InvalidInput("action")
    if status not in (ActionStatus.DONE, ActionStatus.CANCELLED):
        raise InvalidInput("status")
    old = open_json(open_case_key(case, keyring, action.key_version), action.body,
                    row_aad(case.id, "action", action.id))
    old["result"] = clean(result)
    version, key = current_key(case, keyring)
    action.key_version, action.status = version, status
    action.body = seal_json(key, old, row_aad(case.id, "action", action.id))
    touch(case)
    audit("case.action_result", case, actor, action=action.id, status=status)
    db.session.commit()


def add_seized(case: Case, keyring: Any, actor: Any, *, kind: str, quantity: int,
               description: str, custody: str, action_id: int | None = None,
               sealed_only: bool = False) -> SeizedItem:
    """Log a seized or sealed item with its count and custody; commits."""
    _writable_member(case, actor)
    if kind not in SeizedKind._value2member_map_ or quantity < 1:
        raise InvalidInput("kind or quantity")
    if not clean(custody):
        raise InvalidInput("custody")
    if action_id is not None:
        action = db.session.get(JointAction, action_id)
        if action is None or action.case_id != case.id:
            raise InvalidInput("action")
    version, key = current_key(case, keyring)
    item = SeizedItem(case_id=case.id, key_version=version, action_id=action_id, kind=kind,
                      quantity=quantity, sealed_only=sealed_only, created_by_id=actor.id,
                      created_at=clock.now(), body=b"")
    db.session.add(item)
    db.session.flush()
    item.body = seal_json(key, {"description": clean(description, 2000),
                                "custody": clean(custody, 2000)},
                          row_aad(case.id, "seized", item.id))
    touch(case)
    audit("case.item_seized", case, actor, item=item.id, kind=kind, quantity=quantity)
    db.session.commit()
    return item


def actions_of(case_id: int) -> list[JointAction]:
    """A case's joint actions by date."""
    return list(db.session.scalars(select(JointAction).where(JointAction.case_id == case_id)
                                   .order_by(JointAction.planned_on, JointAction.id)))
