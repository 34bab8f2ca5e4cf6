"""States, read-only closed cases, reopening, dispositions, the reward signal, publication."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from caseapp import clock
from caseapp.audit.service import timeline
from caseapp.cases import content, disposition, subjects, workflow
from caseapp.cases.disposition import MeasureInput
from caseapp.cases.errors import CaseClosed, IllegalTransition, InvalidInput, NotAllowed
from caseapp.cases.models import Case, CaseStatus, PublicOutcome, Subject
from caseapp.cases.signals import case_reopened, disposition_approved
from caseapp.extensions import db
from caseapp.tips.models import Outcome, Status, Tip

from .conftest import World, new_case, ring, user


def _case(case_id: int) -> Case:
    row = db.session.get(Case, case_id)
    assert row is not None
    return row


def _propose(w: World, case_id: int, tip_id: int, who: int | None = None) -> int:
    subject = db.session.scalar(select(Subject.id).where(Subject.case_id == case_id))
    d = disposition.propose(
        _case(case_id), ring(who or w.inv_h), user(who or w.inv_h), outcome="substantiated",
        legal_basis="人口与计划生育法 第三十九条", summary="B-ultrasound confirmed",
        measures=[MeasureInput("fine", subject, 30000), MeasureInput("licence_revocation",
                                                                     subject)],
        tip_ids=[tip_id])
    return d.id


def test_transitions_enforced(world: World, ctx: None) -> None:
    case_id, _ = new_case(world)
    case = _case(case_id)
    with pytest.raises(IllegalTransition):
        workflow.transition(case, CaseStatus.CLOSED, user(world.lead_h))
    with pytest.raises(IllegalTransition):
        workflow.transition(case, CaseStatus.REOPENED, user(world.lead_h))
    workflow.start_investigation(case, user(world.inv_h))
    assert case.status == "investigating"
    with pytest.raises(IllegalTransition):  # never a silent no-op
        workflow.start_investigation(case, user(world.inv_h))
    assert workflow.can_move("disposition_proposed", CaseStatus.CLOSED)
    assert not workflow.can_move("open", CaseStatus.CLOSED)


def test_only_lead_department_starts_and_proposes(world: World, ctx: None) -> None:
    case_id, tip_id = new_case(world, joint=(world.police,))
    with pytest.raises(NotAllowed):
        workflow.start_investigation(_case(case_id), user(world.inv_p))
    with pytest.raises(NotAllowed):
        _propose(world, case_id, tip_id, who=world.inv_p)


def test_disposition_approval_closes_and_sends_signal(world: World, ctx: None) -> None:
    case_id, tip_id = new_case(world)
    workflow.start_investigation(_case(case_id), user(world.inv_h))
    did = _propose(world, case_id, tip_id, who=world.lead_h)
    assert _case(case_id).status == "disposition_proposed"
    with pytest.raises(NotAllowed):  # the proposer cannot approve their own
        disposition.approve(_case(case_id), ring(world.lead_h), user(world.lead_h), did)
    with pytest.raises(NotAllowed):  # investigators cannot approve
        disposition.approve(_case(case_id), ring(world.inv_h), user(world.inv_h), did)
    received: list[dict[str, Any]] = []

    def listener(sender: Any, **kw: Any) -> None:
        received.append({"case": sender.id, "disposition": kw["disposition"].id,
                         "tips": kw["tip_ids"], "in_tx": db.session().in_transaction()})

    disposition_approved.connect(listener)
    try:
        disposition.approve(_case(case_id), ring(world.lead_h2), user(world.lead_h2), did)
    finally:
        disposition_approved.disconnect(listener)
    assert received == [{"case": case_id, "disposition": did, "tips": [tip_id], "in_tx": True}]
    case = _case(case_id)
    assert case.status == "closed" and case.days_to_close == 0 and case.closed_on
    tip = db.session.get(Tip, tip_id)
    assert tip is not None and tip.status == Status.CLOSED
    assert tip.outcome == Outcome.SUBSTANTIATED
    actions = [e.action for e in timeline("case", case_id)]
    assert actions[0] == "case.created" and "case.disposition_approved" in actions


def test_failing_listener_rolls_back_approval(world: World, ctx: None) -> None:
    case_id, tip_id = new_case(world)
    did = _propose(world, case_id, tip_id)

    def boom(_sender: Any, **_kw: Any) -> None:
        raise RuntimeError("rewards down")

    disposition_approved.connect(boom)
    try:
        with pytest.raises(RuntimeError):
            disposition.approve(_case(case_id), ring(world.lead_h), user(world.lead_h), did)
    finally:
        disposition_approved.disconnect(boom)
    db.session.rollback()
    assert _case(case_id).status == "disposition_proposed"


def test_mandatory_fields(world: World, ctx: None) -> None:
    case_id, tip_id = new_case(world)
    case, who = _case(case_id), user(world.inv_h)
    with pytest.raises(InvalidInput):
        disposition.propose(case, ring(world.inv_h), who, outcome="substantiated",
                            legal_basis="", tip_ids=[tip_id],
                            measures=[MeasureInput("warning")])
    with pytest.raises(InvalidInput):  # substantiated needs measures and tips
        disposition.propose(case, ring(world.inv_h), who, outcome="substantiated",
                            legal_basis="art. 39")
    with pytest.raises(InvalidInput):  # a fine needs an amount
        disposition.propose(case, ring(world.inv_h), who, outcome="substantiated",
                            legal_basis="art. 39", tip_ids=[tip_id],
                            measures=[MeasureInput("fine")])
    with pytest.raises(InvalidInput):
        disposition.propose(case, ring(world.inv_h), who, outcome="maybe", legal_basis="x")
    db.session.rollback()
    assert _case(case_id).status == "open"
    d = disposition.propose(_case(case_id), ring(world.inv_h), who,
                            outcome="insufficient_evidence", legal_basis="art. 39")
    assert d.id


def test_refused_disposition_returns_to_investigating(world: World, ctx: None) -> None:
    case_id, tip_id = new_case(world)
    did = _propose(world, case_id, tip_id)
    disposition.refuse(_case(case_id), user(world.lead_h), did)
    assert _case(case_id).status == "investigating"
    with pytest.raises(IllegalTransition):
        disposition.approve(_case(case_id), ring(world.lead_h), user(world.lead_h), did)


def _closed_case(world: World) -> tuple[int, int]:
    case_id, tip_id = new_case(world, joint=(world.police,))
    did = _propose(world, case_id, tip_id)
    disposition.approve(_case(case_id), ring(world.lead_h), user(world.lead_h), did)
    return case_id, tip_id


def test_closed_case_is_read_only(world: World, ctx: None) -> None:
    case_id, tip_id = _closed_case(world)
    case = _case(case_id)
    r, u = ring(world.inv_h), user(world.inv_h)
    attempts = [
        lambda: content.add_note(case, r, u, "late note"),
        lambda: content.add_task(case, r, u, title="late", department_id=world.health),
        lambda: content.add_action(case, r, u, planned_on=date.today(), premises="x",
                                   departments=[world.health]),
        lambda: content.add_seized(case, r, u, kind="drugs", quantity=1, description="",
                                   custody="x"),
        lambda: content.message_tipster(case, r, u, tip_id, "hello"),
        lambda: subjects.add_subject(case, r, u, "clinic", {"name": "x"}),
        lambda: workflow.add_department(case, world.drugs, ring(world.lead_h),
                                        user(world.lead_h)),
        lambda: workflow.remove_department(case, world.police, ring(world.lead_h),
                                           user(world.lead_h)),
    ]
    for attempt in attempts:
        with pytest.raises(CaseClosed):
            attempt()
        db.session.rollback()
    with pytest.raises(IllegalTransition):
        workflow.start_investigation(_case(case_id), u)


def test_reopen_needs_reason_and_lead_approval(world: World, ctx: None) -> None:
    case_id, _ = _closed_case(world)
    with pytest.raises(InvalidInput):
        workflow.request_reopen(_case(case_id), ring(world.inv_h), user(world.inv_h), " ")
    with pytest.raises(NotAllowed):  # a joint department cannot ask
        workflow.request_reopen(_case(case_id), ring(world.inv_p), user(world.inv_p), "new")
    req = workflow.request_reopen(_case(case_id), ring(world.inv_h), user(world.inv_h),
                                  "The clinic reopened under a new name")
    with pytest.raises(NotAllowed):
        workflow.approve_reopen(_case(case_id), req.id, user(world.inv_h))
    seen: list[Any] = []

    def listener(sender: Any, **kw: Any) -> None:
        seen.append((sender.id, kw["actor"].id, sender.status))

    case_reopened.connect(listener)
    try:
        workflow.approve_reopen(_case(case_id), req.id, user(world.lead_h))
    finally:
        case_reopened.disconnect(listener)
    assert seen == [(case_id, world.lead_h, "reopened")]
    case = _case(case_id)
    assert case.status == "reopened" and case.reopen_count == 1 and case.closed_on is None
    assert workflow.reopen_requests(case, ring(world.inv_p))[0][1].startswith("The clinic")
    content.add_note(case, ring(world.inv_h), user(world.inv_h), "writable again")
    workflow.start_investigation(_case(case_id), user(world.inv_h))
    assert _case(case_id).status == "investigating"


def test_publish_anonymised_outcome(world: World, ctx: None, client: Any) -> None:
    case_id, _ = _closed_case(world)
    with pytest.raises(NotAllowed):
        disposition.publish(_case(case_id), user(world.inv_h))
    public = disposition.publish(_case(case_id), user(world.lead_h))
    assert public.measures == "fine,licence_revocation" and public.outcome == "substantiated"
    assert db.session.scalar(select(PublicOutcome.case_id)) == case_id
    req = workflow.request_reopen(_case(case_id), ring(world.inv_h), user(world.inv_h), "new")
    workflow.approve_reopen(_case(case_id), req.id, user(world.lead_h))
    assert db.session.scalar(select(PublicOutcome.case_id)) is None  # withdrawn


def test_portal_shows_published_outcome_without_names(world: World, app: Any,
                                                     client: Any) -> None:
    with app.app_context():
        case_id, _ = _closed_case(world)
        disposition.publish(_case(case_id), user(world.lead_h))
        ref = _case(case_id).ref
    resp = client.get("/cases-handled?lang=en")
    body = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "Fine" in body and "Licence revocation" in body
    assert "仁爱诊所" not in body and ref not in body and "解放路" not in body


def test_tasks_and_my_tasks(world: World, ctx: None) -> None:
    from caseapp.cases.listing import my_tasks

    case_id, _ = new_case(world, joint=(world.police,))
    case = _case(case_id)
    with pytest.raises(InvalidInput):  # a department not on the case
        content.add_task(case, ring(world.inv_h), user(world.inv_h), title="x",
                         department_id=world.drugs)
    content.add_task(case, ring(world.inv_h), user(world.inv_h), title="Visit the clinic",
                     user_id=world.inv_p, due_on=clock.now().date() - timedelta(days=1))
    content.add_task(case, ring(world.inv_h), user(world.inv_h), title="Check the pharmacy",
                     department_id=world.police)
    rows = my_tasks(ring(world.inv_p), user(world.inv_p))
    assert [r.title for r in rows] == ["Visit the clinic", "Check the pharmacy"]
    assert rows[0].overdue
    assert my_tasks(ring(world.inv_d), user(world.inv_d)) == []
    content.set_task_status(case, rows[0].task.id, user(world.inv_p), "done")
    assert [r.title for r in my_tasks(ring(world.inv_p), user(world.inv_p))] == [
        "Check the pharmacy"]
