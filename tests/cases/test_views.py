"""The case pages through HTTP: outsiders get 404 everywhere, content views are audited."""

from __future__ import annotations

import io
from datetime import date
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from caseapp.accounts.permissions import Role
from caseapp.audit.models import AuditEntry
from caseapp.cases import content, disposition, workflow
from caseapp.cases.models import Case, CaseKeyWrap, Evidence, Note
from caseapp.extensions import db
from tests import factories

from .conftest import World, login, new_case, post, ring, tip, user


def _case(case_id: int) -> Case:
    row = db.session.get(Case, case_id)
    assert row is not None
    return row


@pytest.fixture
def busy_case(app: Flask, world: World) -> dict[str, int]:
    """A case (health lead, police joint) with one of every sub-object."""
    from caseapp.cases.disposition import MeasureInput
    from caseapp.cases.evidence import add_evidence

    with app.app_context():
        factories.make_user("lead_d", db.session.get(
            __import__("caseapp.accounts.models", fromlist=["Department"]).Department,
            world.drugs), [Role.DEPT_LEAD])
        case_id, tip_id = new_case(world, joint=(world.police,))
        r, u = ring(world.inv_h), user(world.inv_h)
        task = content.add_task(_case(case_id), r, u, title="t", department_id=world.health)
        action = content.add_action(_case(case_id), r, u, planned_on=date.today(),
                                    premises="the clinic", departments=[world.health])
        ev = add_evidence(_case(case_id), r, u, "photo.jpg", "image/jpeg",
                          io.BytesIO(b"secret evidence bytes"))
        d = disposition.propose(_case(case_id), r, u, outcome="insufficient_evidence",
                                legal_basis="art. 1", measures=[MeasureInput("warning")],
                                tip_ids=[tip_id])
        ids = {"case": case_id, "tip": tip_id, "task": task.id, "action": action.id,
               "evidence": ev.id, "disposition": d.id}
        db.session.remove()
    return ids


def _urls(ids: dict[str, int], w: World) -> list[tuple[str, str]]:
    c = f"/staff/cases/{ids['case']}"
    return [
        ("GET", c), ("GET", f"{c}/timeline"), ("GET", f"{c}/evidence/{ids['evidence']}"),
        ("GET", f"{c}/evidence/integrity.csv"), ("POST", f"{c}/investigate"),
        ("POST", f"{c}/departments"), ("POST", f"{c}/departments/{w.police}/remove"),
        ("POST", f"{c}/reopen"), ("POST", f"{c}/reopen/1/approve"),
        ("POST", f"{c}/disposition"), ("POST", f"{c}/disposition/{ids['disposition']}/approve"),
        ("POST", f"{c}/disposition/{ids['disposition']}/refuse"), ("POST", f"{c}/publish"),
        ("POST", f"{c}/tasks"), ("POST", f"{c}/tasks/{ids['task']}"), ("POST", f"{c}/notes"),
        ("POST", f"{c}/messages"), ("POST", f"{c}/actions"),
        ("POST", f"{c}/actions/{ids['action']}"), ("POST", f"{c}/seized"),
        ("POST", f"{c}/subjects"), ("POST", f"{c}/evidence"),
    ]


def test_every_case_url_is_404_for_a_department_not_on_the_case(
        app: Flask, client: FlaskClient, world: World, busy_case: dict[str, int]) -> None:
    login(client, "lead_d")  # a department lead: every permission, wrong department
    data = {"n-text": "x", "t-title": "x", "t-assignee": f"d{world.drugs}", "d-department":
            str(world.drugs), "p-outcome": "unsubstantiated", "p-legal_basis": "x",
            "ro-text": "x", "m-text": "x", "m-tip": str(busy_case["tip"])}
    for method, url in _urls(busy_case, world):
        resp = client.get(url) if method == "GET" else post(client, url, data)
        assert resp.status_code == 404, (method, url, resp.status_code)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Note)) == 0
        assert _case(busy_case["case"]).status == "disposition_proposed"
        assert db.session.scalar(select(CaseKeyWrap.id).where(
            CaseKeyWrap.holder_id == str(world.drugs))) is None


def test_members_reach_the_same_urls(app: Flask, client: FlaskClient, world: World,
                                     busy_case: dict[str, int]) -> None:
    login(client, "inv_p")  # joint department
    c = f"/staff/cases/{busy_case['case']}"
    page = client.get(c)
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "Clinic B-ultrasound" in body and "仁爱诊所" in body
    assert client.get(f"{c}/timeline").status_code == 200
    resp = client.get(f"{c}/evidence/{busy_case['evidence']}")
    assert resp.status_code == 200 and resp.data == b"secret evidence bytes"


def test_content_views_write_audit_entries(app: Flask, client: FlaskClient, world: World,
                                           busy_case: dict[str, int]) -> None:
    def opened() -> list[tuple[str | None, str | None, str]]:
        with app.app_context():
            from caseapp.audit.service import detail_of

            rows = db.session.scalars(select(AuditEntry).where(
                AuditEntry.action == "content.opened").order_by(AuditEntry.seq)).all()
            return [(r.object_type, r.object_id, detail_of(r)["view"]) for r in rows]

    c = f"/staff/cases/{busy_case['case']}"
    login(client, "inv_h")
    views: list[tuple[str, str, str | None]] = [
        ("/staff/cases", "case_list", None), (c, "case_detail", str(busy_case["case"])),
        (f"{c}/timeline", "timeline", str(busy_case["case"])),
        (f"{c}/evidence/{busy_case['evidence']}", "evidence_download", str(busy_case["case"])),
        (f"{c}/evidence/integrity.csv", "evidence_integrity", str(busy_case["case"])),
    ]
    with app.app_context():
        content.add_task(_case(busy_case["case"]), ring(world.inv_h), user(world.inv_h),
                         title="mine", user_id=world.inv_h)
    views.append(("/staff/cases/tasks", "my_tasks", None))
    for url, view, object_id in views:
        before = len(opened())
        assert client.get(url).status_code == 200, url
        new = opened()[before:]
        assert any(v == view and o == object_id and t == "case" for t, o, v in new), (url, new)
    factories.logout(client)
    login(client, "intake")
    other, _ = _submit(app)
    for url, view, object_id in [("/staff/intake", "intake_queue", None),
                                 (f"/staff/intake/tips/{other}", "intake_tip", str(other))]:
        before = len(opened())
        assert client.get(url).status_code == 200, url
        new = opened()[before:]
        assert any(v == view and o == object_id and t == "tip" for t, o, v in new), (url, new)


def _submit(app: Flask, **kw: Any) -> tuple[int, str]:
    with app.app_context():
        return tip(**kw)


def test_intake_decisions_through_the_forms(app: Flask, client: FlaskClient,
                                            world: World) -> None:
    tip_id, _ = _submit(app, place="Harmony Clinic")
    login(client, "intake")
    page = client.get(f"/staff/intake/tips/{tip_id}")
    assert page.status_code == 200 and "Harmony Clinic" in page.get_data(as_text=True)
    resp = post(client, f"/staff/intake/tips/{tip_id}/promote", {
        "p-title": "Harmony", "p-lead": str(world.police), "p-joint": [str(world.market)],
        "p-reason": "credible"}, token_from="/staff/intake")
    assert resp.status_code == 303
    with app.app_context():
        case = db.session.scalar(select(Case))
        assert case is not None and case.lead_department_id == world.police
        case_id = case.id
    second, _ = _submit(app)
    resp = post(client, f"/staff/intake/tips/{second}/link",
                {"l-case_ref": f"C-{date.today().year}-{case_id:06d}", "l-reason": "same"},
                token_from="/staff/intake")
    assert resp.status_code == 303
    third, _ = _submit(app)
    resp = post(client, f"/staff/intake/tips/{third}/reject",
                {"r-reason_code": "spam", "r-reason": "advert"}, token_from="/staff/intake")
    assert resp.status_code == 303
    resp = post(client, f"/staff/intake/tips/{third}/reject",
                {"r-reason_code": "spam"}, token_from="/staff/intake")
    assert resp.status_code == 303  # already decided: refused with a message, no change
    with app.app_context():
        from caseapp.tips.models import Tip

        assert db.session.get(Tip, third).status == "rejected"  # type: ignore[union-attr]
        assert db.session.get(Tip, second).status == "case_opened"  # type: ignore[union-attr]
    factories.logout(client)
    login(client, "inv_m")  # joint department: opening settles the pending link
    assert client.get(f"/staff/cases/{case_id}").status_code == 200
    resp = post(client, f"/staff/cases/{case_id}/notes", {"n-text": "market note"},
                token_from=f"/staff/cases/{case_id}")
    assert resp.status_code == 303
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Note)) == 1


def test_closed_case_forms_are_refused(app: Flask, client: FlaskClient, world: World,
                                       busy_case: dict[str, int]) -> None:
    with app.app_context():
        disposition.approve(_case(busy_case["case"]), ring(world.lead_h), user(world.lead_h),
                            busy_case["disposition"])
    login(client, "inv_h")
    c = f"/staff/cases/{busy_case['case']}"
    resp = post(client, f"{c}/notes", {"n-text": "too late"}, token_from=c)
    assert resp.status_code == 303
    page = client.get(c).get_data(as_text=True)
    assert "read-only" in page
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Note)) == 0


def test_evidence_upload_is_encrypted_hashed_and_exported(app: Flask, client: FlaskClient,
                                                         world: World) -> None:
    import hashlib

    with app.app_context():
        case_id, _ = new_case(world)
    login(client, "inv_h")
    c = f"/staff/cases/{case_id}"
    payload = b"ultrasound log " * 10000
    resp = post(client, f"{c}/evidence", {"e-file": (io.BytesIO(payload), "log.txt")},
                token_from=c, content_type="multipart/form-data")
    assert resp.status_code == 303
    with app.app_context():
        from caseapp.cases.evidence import store

        row = db.session.scalar(select(Evidence))
        assert row is not None
        raw = store().path(row.stored_name).read_bytes()
        assert b"ultrasound log" not in raw and hashlib.sha256(payload).hexdigest().encode() \
            not in raw and b"log.txt" not in row.meta
        eid, path = row.id, store().path(row.stored_name)
    assert client.get(f"{c}/evidence/{eid}").data == payload
    csv_text = client.get(f"{c}/evidence/integrity.csv").get_data(as_text=True)
    assert hashlib.sha256(payload).hexdigest() in csv_text and ",yes," in csv_text
    data = bytearray(path.read_bytes())
    data[100] ^= 1
    path.write_bytes(bytes(data))
    assert ",NO," in client.get(f"{c}/evidence/integrity.csv").get_data(as_text=True)


def test_department_add_remove_through_views(app: Flask, client: FlaskClient,
                                             world: World) -> None:
    with app.app_context():
        case_id, _ = new_case(world)
    c = f"/staff/cases/{case_id}"
    login(client, "lead_h")
    assert post(client, f"{c}/departments", {"d-department": str(world.police)},
                token_from=c).status_code == 303
    factories.logout(client)
    login(client, "inv_p")
    assert client.get(c).status_code == 200
    factories.logout(client)
    login(client, "lead_h")
    assert post(client, f"{c}/departments/{world.police}/remove", {},
                token_from=c).status_code == 303
    factories.logout(client)
    login(client, "inv_p")
    assert client.get(c).status_code == 404
    with app.app_context():
        assert _case(case_id).key_version == 2
        workflow.load_case(case_id, user(world.inv_h))


def test_pages_render_in_every_state(app: Flask, client: FlaskClient, world: World,
                                     busy_case: dict[str, int]) -> None:
    c = f"/staff/cases/{busy_case['case']}"
    login(client, "intake")
    for url in ("/staff/intake?status=needs_info",
                "/staff/intake/search?kind=clinic&value=仁爱诊所",
                "/staff/intake/search?kind=phone&value=13800138000"):
        resp = client.get(url)
        assert resp.status_code == 200, url
    assert "C-" in client.get("/staff/intake/search?kind=clinic&value=仁爱 诊所").get_data(
        as_text=True)
    factories.logout(client)
    login(client, "lead_h2")  # not the proposer: may approve
    page = client.get(c).get_data(as_text=True)
    assert "Approve and close" in page
    resp = post(client, f"{c}/disposition/{busy_case['disposition']}/approve", token_from=c)
    assert resp.status_code == 303
    page = client.get(c).get_data(as_text=True)
    assert "read-only" in page and "Publish the anonymised outcome" in page
    assert post(client, f"{c}/publish", token_from=c).status_code == 303
    assert post(client, f"{c}/reopen", {"ro-text": "new facts"}, token_from=c).status_code == 303
    page = client.get(c).get_data(as_text=True)
    assert "new facts" in page
    with app.app_context():
        from caseapp.cases.models import ReopenRequest

        rid = db.session.scalar(select(ReopenRequest.id))
    assert post(client, f"{c}/reopen/{rid}/approve", token_from=c).status_code == 303
    with app.app_context():
        assert _case(busy_case["case"]).status == "reopened"
    assert client.get("/staff/cases?status=reopened").status_code == 200
    assert client.get("/staff/cases/tasks").status_code == 200
    assert client.get(f"{c}/timeline").status_code == 200


def test_proposer_cannot_approve_through_the_view(app: Flask, client: FlaskClient,
                                                  world: World) -> None:
    with app.app_context():
        case_id, tip_id = new_case(world)
    c = f"/staff/cases/{case_id}"
    login(client, "lead_h")
    resp = post(client, f"{c}/disposition", {
        "p-outcome": "substantiated", "p-legal_basis": "art. 39", "p-tips": [str(tip_id)],
        "measure-0-kind": "fine", "measure-0-amount": "20000"}, token_from=c)
    assert resp.status_code == 303
    with app.app_context():
        from caseapp.cases.models import Disposition

        did = db.session.scalar(select(Disposition.id))
        assert did is not None
    assert post(client, f"{c}/disposition/{did}/approve", token_from=c).status_code == 403
    with app.app_context():
        assert _case(case_id).status == "disposition_proposed"


def test_refused_form_says_what_to_fix_in_words(app: Flask, client: FlaskClient, world: World,
                                                busy_case: dict[str, int]) -> None:
    """A joint action with no department ticked: a plain sentence, not an internal code."""
    from caseapp.cases.models import JointAction

    login(client, "inv_h")
    c = f"/staff/cases/{busy_case['case']}"
    resp = post(client, f"{c}/actions", {"a-planned_on": date.today().isoformat(),
                                         "a-premises": "the clinic"}, token_from=c)
    assert resp.status_code == 303
    page = client.get(c).get_data(as_text=True)
    assert "Tick at least one department, and only departments on the case." in page
    assert "departments must be on the case" not in page
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(JointAction)) == 1  # no new one


def test_direction_overrides_in_free_text_cannot_reorder_a_page(
        app: Flask, client: FlaskClient, world: World, busy_case: dict[str, int]) -> None:
    """A note written with a right-to-left override shows in its typed order."""
    login(client, "inv_h")
    c = f"/staff/cases/{busy_case['case']}"
    text = "payee account 6222\u202e0981 confirmed"
    assert post(client, f"{c}/notes", {"n-text": text}, token_from=c).status_code == 303
    page = client.get(c).get_data(as_text=True)
    assert "payee account 62220981 confirmed" in page
    assert "\u202e" not in page and "\u2066" not in page
