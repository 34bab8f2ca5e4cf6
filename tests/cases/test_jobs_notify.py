"""Overdue escalation (clock moved), the periodic registrations and notifications."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from caseapp import clock
from caseapp.audit.models import AuditEntry
from caseapp.cases import decisions
from caseapp.cases.intake import open_for_intake, queue
from caseapp.cases.jobs import escalate_overdue_tips
from caseapp.extensions import db
from caseapp.jobs.registry import periodic_jobs
from caseapp.notify import mark_read, notify, unread_count, unread_for
from caseapp.notify.service import NotifyError
from caseapp.tips.models import Tip

from .conftest import World, ring, tip, user


def test_overdue_tips_escalated_once_to_the_department_lead(world: World, ctx: None) -> None:
    late, _ = tip("old one")
    acked, _ = tip("acknowledged")
    decided, _ = tip("decided")
    open_for_intake(db.session.get(Tip, acked), ring(world.intake), user(world.intake))
    decisions.reject(db.session.get(Tip, decided), ring(world.intake), user(world.intake),
                     "spam")
    assert escalate_overdue_tips() == 0
    clock.move(timedelta(days=4))  # past the 3-day acknowledgement target
    assert escalate_overdue_tips() == 1
    kinds = [(n.kind, n.object_id) for n in unread_for(user(world.lead_h))]
    assert kinds == [("tip.overdue_ack", str(late))]
    assert unread_for(user(world.inv_h)) == []  # only the department lead
    assert escalate_overdue_tips() == 0  # once per deadline
    page = queue(ring(world.intake), user(world.intake), decrypt=False)
    flags = {r.tip.id: (r.overdue_ack, r.overdue_decision) for r in page.rows}
    assert flags == {late: (True, False), acked: (False, False)}
    clock.move(timedelta(days=7))  # past the 10-day decision target
    assert escalate_overdue_tips() == 2
    kinds = sorted((n.kind, n.object_id) for n in unread_for(user(world.lead_h2)))
    assert kinds == sorted([("tip.overdue_ack", str(late)), ("tip.overdue_decision", str(late)),
                            ("tip.overdue_decision", str(acked))])
    assert db.session.scalar(select(AuditEntry.action).where(
        AuditEntry.action == "tip.escalated")) == "tip.escalated"


def test_periodic_jobs_registered() -> None:
    names = {p.name for p in periodic_jobs()}
    assert {"cases.escalate_overdue", "cases.stats_refresh"} <= names


def test_notifications_by_user_department_and_role(world: World, ctx: None) -> None:
    for_lead = notify("case.assigned", object_type="case", object_id=1,
                      department_id=world.health, role="dept_lead")
    notify("case.assigned", object_type="case", object_id=2, department_id=world.health)
    notify("case.task_assigned", object_type="case", object_id=3, user_id=world.inv_p)
    db.session.commit()
    assert unread_count(user(world.lead_h)) == 2
    assert unread_count(user(world.inv_h)) == 1
    assert unread_count(user(world.inv_p)) == 1
    assert unread_count(user(world.supervisor)) == 0
    with pytest.raises(NotifyError):
        mark_read(for_lead.id, user(world.inv_h))
    mark_read(for_lead.id, user(world.lead_h2))
    db.session.commit()
    assert unread_count(user(world.lead_h)) == 1  # shared department notice
    with pytest.raises(NotifyError):
        notify("x", object_type="case", object_id=1)


def test_notification_page(app, client, world: World) -> None:  # type: ignore[no-untyped-def]
    from .conftest import login, new_case, post

    with app.app_context():
        case_id, _ = new_case(world, joint=(world.police,))
    login(client, "inv_p")
    page = client.get("/staff/notifications/")
    assert page.status_code == 200 and f"case #{case_id}" in page.get_data(as_text=True)
    with app.app_context():
        nid = unread_for(user(world.inv_p))[0].id
    resp = post(client, f"/staff/notifications/{nid}/read", token_from="/staff/notifications/")
    assert resp.status_code == 302 and resp.location.endswith(f"/staff/cases/{case_id}")
