"""Stored XSS: payloads in every free-text field and file name, fetched on every page that
shows them (staff, finance, auditor, admin, portal follow-up, CSV exports).

One app per backend for the module (`module_app`); the payloads are planted once through the
real services, then each page is read by the role that may see it. A page passes when the
payload appears only escaped, no raw markup of it reaches the HTML, the CSP header is set,
and no CSV cell starts with a formula character.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from werkzeug.test import TestResponse

from caseapp.accounts.permissions import Role
from caseapp.extensions import db
from caseapp.security import CSP
from tests import factories

from . import payloads as p
from .conftest import staff_client, tipster_client

X = p.XSS_TEXT
SHORT = p.XSS[1]  # fits the shorter fields (bank name, references)
NAME = f"{p.XSS[0]} {p.XSS[1]}"  # department and display names (at most 200 characters)
ESCAPED = ("&lt;script&gt;alert(", "&#34;&gt;&lt;img src=x onerror=alert(",
           "&lt;/textarea&gt;&lt;svg onload=alert(")


@dataclass(frozen=True)
class XssWorld:
    """Ids of the objects holding payloads."""

    case: int
    closed_case: int
    tips: list[int]
    tip_receipt: str
    reward_receipt: str
    rewards: list[int]
    xss_user: int
    xss_dept: int
    evidence: int


def _build() -> XssWorld:
    """Plant a payload in every free-text field a citizen or staff member can fill."""
    from caseapp.cases import content, decisions, disposition, evidence, subjects, workflow
    from caseapp.cases.models import Case
    from caseapp.rewards import service
    from caseapp.rewards.models import Reward
    from caseapp.tips.access import add_tipster_message, check_receipt, tipster_tip
    from caseapp.tips.models import Tip
    from caseapp.tips.service import TipInput, submit_tip
    from caseapp.tips.uploads import UploadedFile
    from tests.rewards.helpers import bank_claim, claim, pay_bank

    users = {r.value: u.id for r, u in factories.make_role_users().items()}
    health = factories.make_department("health")
    factories.make_department("finance")
    xdept = factories.make_department("xss_dept", name_zh=NAME, name_en=NAME)
    xuser = factories.make_user("xssuser", xdept, [Role.INVESTIGATOR], display_name=NAME).id
    intake, inv, lead = users["intake"], users["investigator"], users["dept_lead"]

    def u(uid: int) -> Any:
        return db.session.get(factories.User, uid)

    def ring(uid: int) -> Any:
        return factories.keyring_for(uid)

    def tip(name: str) -> tuple[int, str]:
        data = TipInput(category="sex_identification", district="411702", narrative=X,
                        place_name=X, address=X, subject_phone="13800138000", when=X,
                        how_known="offered")
        files = [UploadedFile(name, io.BytesIO(p.jpeg()))]
        done = submit_tip(data, files)
        return done.tip_id, done.receipt

    t_case, receipt = tip(f'"><img src=x onerror=alert(1)>{p.RTL_NAME}.jpg')
    t_reject, _ = tip("<script>alert(1)</script>.jpg")
    t_refer, _ = tip("=cmd|' /C calc'!A0.jpg")
    t_ask, _ = tip("</textarea><svg onload=alert(1)>.jpg")
    t_reward, reward_receipt = tip("{{7*7}}.jpg")
    t_reward2, _ = tip("a.jpg")

    def tip_row(tid: int) -> Any:
        return db.session.get(Tip, tid)

    decisions.reject(tip_row(t_reject), ring(intake), u(intake), "spam", X)
    decisions.refer(tip_row(t_refer), ring(intake), u(intake), "other_authority", X)
    decisions.ask_tipster(tip_row(t_ask), ring(intake), u(intake), X)
    case = decisions.promote(tip_row(t_case), ring(intake), u(intake),
                             lead_department_id=health.id, title=X, summary=X, reason=X)
    case_id = case.id

    def fresh(cid: int = case_id) -> Case:
        row = db.session.get(Case, cid)
        assert row is not None
        return row

    workflow.start_investigation(fresh(), u(inv))
    db.session.commit()
    workflow.add_department(fresh(), xdept.id, ring(lead), u(lead))
    db.session.commit()
    content.add_note(fresh(), ring(inv), u(inv), X)
    content.add_task(fresh(), ring(inv), u(inv), title=X, detail=X, user_id=xuser)
    content.add_task(fresh(), ring(inv), u(inv), title=X, detail=X, department_id=health.id)
    action = content.add_action(fresh(), ring(inv), u(inv), planned_on=date(2026, 3, 1),
                                premises=X, departments=[health.id], people=X)
    content.record_action_result(fresh(), ring(inv), u(inv), action.id, status="done",
                                 result=X)
    content.add_seized(fresh(), ring(inv), u(inv), kind="ultrasound_machine", quantity=1,
                       description=X, custody=X, action_id=action.id)
    subjects.add_subject(fresh(), ring(inv), u(inv), "clinic", {
        "name": X, "address": X, "phone": "13800138000", "licence": X, "note": X})
    db.session.commit()
    ev = evidence.add_evidence(fresh(), ring(inv), u(inv), p.XSS[1] + p.XSS[6] + ".txt",
                               "text/html", io.BytesIO(X.encode()))
    evidence.add_evidence(fresh(), ring(inv), u(inv), "=1+cmd|'calc'!A0.txt", "text/csv",
                          io.BytesIO(b"=1+cmd|'calc'!A0"))
    content.message_tipster(fresh(), ring(inv), u(inv), t_case, X)
    login = check_receipt(receipt)
    row, key = tipster_tip(login.lookup, login.private_key)
    add_tipster_message(row, key, X, [UploadedFile("<b onmouseover=alert(1)>x.jpg",
                                                   io.BytesIO(p.jpeg()))])

    def substantiated(tid: int) -> int:
        closed = decisions.promote(tip_row(tid), ring(intake), u(intake),
                                   lead_department_id=health.id, title=X, summary=X, reason=X)
        cid = closed.id
        workflow.start_investigation(fresh(cid), u(inv))
        db.session.commit()
        prop = disposition.propose(fresh(cid), ring(inv), u(inv), outcome="substantiated",
                                   legal_basis=X, measures=[disposition.MeasureInput("warning")],
                                   tip_ids=[tid])
        disposition.approve(fresh(cid), ring(lead), u(lead), prop.id)
        disposition.publish(fresh(cid), u(lead))
        return cid

    closed_id = substantiated(t_reward)
    substantiated(t_reward2)
    workflow.request_reopen(fresh(closed_id), ring(lead), u(lead), X)
    db.session.commit()
    rewards = list(db.session.scalars(select(Reward.id).order_by(Reward.id)))
    assert len(rewards) == 2, rewards
    claim(rewards[0], t_reward, bank_claim(bank_name=SHORT))
    claim(rewards[1], t_reward2, bank_claim(bank_name=SHORT))
    officer, approver = users["finance_officer"], users["finance_approver"]
    service.verify(db.session, rewards[0], u(officer))
    service.approve(db.session, rewards[0], u(approver))
    pay_bank(rewards[0], officer, reference=p.XSS[6][:40])
    service.reject(db.session, rewards[1], u(officer), X)
    world = XssWorld(case=case_id, closed_case=closed_id,
                     tips=[t_case, t_reject, t_refer, t_ask, t_reward, t_reward2],
                     tip_receipt=receipt, reward_receipt=reward_receipt, rewards=rewards,
                     xss_user=xuser, xss_dept=xdept.id, evidence=ev.id)
    db.session.remove()
    return world


@pytest.fixture(scope="module")
def xss(module_app: Flask) -> XssWorld:
    """The payloads, planted once per module and backend."""
    with module_app.app_context():
        return _build()


# -- checks -----------------------------------------------------------------------------
def assert_safe_html(resp: TestResponse, where: str) -> str:
    """200, CSP set, no raw payload markup; returns the page."""
    assert resp.status_code == 200, (where, resp.status_code)
    assert resp.headers.get("Content-Security-Policy") == CSP, where
    assert resp.headers.get("X-Content-Type-Options") == "nosniff", where
    html = resp.get_data(as_text=True)
    for raw in p.XSS_RAW:
        assert raw not in html, (where, raw)
    return html


def assert_shown_escaped(html: str, where: str) -> None:
    """The payload is on the page, as text."""
    assert any(e in html for e in ESCAPED), (where, "payload not shown (escaped) at all")


def assert_safe_csv(resp: TestResponse, where: str) -> list[list[str]]:
    """No cell starts with a character a spreadsheet would read as a formula."""
    assert resp.status_code == 200, (where, resp.status_code)
    assert resp.mimetype == "text/csv", where
    assert resp.headers["Content-Disposition"].startswith("attachment"), where
    rows = list(csv.reader(io.StringIO(resp.get_data(as_text=True))))
    for row in rows:
        for cell in row:
            assert not cell.startswith(p.CSV_FORMULA_START), (where, cell)
    return rows


# -- staff pages --------------------------------------------------------------------------
def test_intake_pages(module_app, xss):
    c = staff_client(module_app, "intake")
    assert_safe_html(c.get("/staff/intake"), "queue")
    for status in ("", "rejected", "referred", "needs_info", "case_opened"):
        assert_safe_html(c.get(f"/staff/intake?status={status}"), f"queue {status}")
    for tid in xss.tips:
        html = assert_safe_html(c.get(f"/staff/intake/tips/{tid}"), f"tip {tid}")
        assert_shown_escaped(html, f"tip {tid}")
        assert f"{p.RTL_NAME}.jpg" not in html  # file names: direction override neutralised
    assert_safe_html(c.get("/staff/intake/search", query_string={
        "kind": "clinic", "value": X}), "search")


@pytest.mark.parametrize("username", ["investigator", "dept_lead", "xssuser"])
def test_case_pages(module_app, xss, username):
    c = staff_client(module_app, username)
    for path in ("/staff/cases", "/staff/cases?status=all", "/staff/cases?status=closed",
                 "/staff/cases/tasks", "/staff/", "/staff/notifications/"):
        assert_safe_html(c.get(path), f"{username} {path}")
    for case_id in (xss.case,) if username == "xssuser" else (xss.case, xss.closed_case):
        html = assert_safe_html(c.get(f"/staff/cases/{case_id}"), f"case {case_id}")
        assert_shown_escaped(html, f"case {case_id}")
        assert "{{7*7}}" in html  # shown literally, never evaluated
        assert_safe_html(c.get(f"/staff/cases/{case_id}/timeline"), "timeline")


def test_evidence_exports_are_formula_safe(module_app, xss):
    c = staff_client(module_app, "investigator")
    rows = assert_safe_csv(c.get(f"/staff/cases/{xss.case}/evidence/integrity.csv"),
                           "integrity.csv")
    assert any("cmd|" in cell for row in rows for cell in row)  # the name is there, defused
    resp = c.get(f"/staff/cases/{xss.case}/evidence/{xss.evidence}")
    assert resp.mimetype == "application/octet-stream"
    assert resp.headers["Content-Disposition"].startswith("attachment;")


def test_finance_pages_and_exports(module_app, xss):
    c = staff_client(module_app, "finance_officer")
    for path in ("/staff/rewards/", "/staff/rewards/?state=paid",
                 "/staff/rewards/?state=rejected", "/staff/rewards/ledger",
                 "/staff/rewards/ledger/print"):
        assert_safe_html(c.get(path), path)
    for rid in xss.rewards:
        html = assert_safe_html(c.get(f"/staff/rewards/{rid}"), f"reward {rid}")
        assert_shown_escaped(html, f"reward {rid}")
    assert_safe_html(c.get(f"/staff/rewards/{xss.rewards[0]}/record"), "record")
    assert_safe_csv(c.get("/staff/rewards/ledger.csv"), "ledger.csv")


def test_supervisor_auditor_and_admin_pages(module_app, xss):
    sup = staff_client(module_app, "supervisor")
    html = assert_safe_html(sup.get("/staff/stats"), "stats")
    for name in set(_csv_names(html)):
        assert_safe_csv(sup.get(f"/staff/stats/{name}.csv"), f"stats {name}")
    aud = staff_client(module_app, "auditor")
    assert_safe_html(aud.get("/staff/audit/"), "audit")
    query = {"action": X[:100], "user": X[:200], "object_type": X[:100], "object_id": X[:200]}
    assert_safe_html(aud.get("/staff/audit/", query_string=query), "audit filtered")
    adm = staff_client(module_app, "admin")
    for path in ("/staff/admin/users", f"/staff/admin/users/{xss.xss_user}",
                 "/staff/admin/departments", f"/staff/admin/departments/{xss.xss_dept}",
                 "/staff/admin/jobs"):
        html = assert_safe_html(adm.get(path), path)
        if "jobs" not in path:
            assert_shown_escaped(html, path)
    lead = staff_client(module_app, "dept_lead")
    assert_safe_html(lead.get("/staff/department/keys"), "department keys")


def _csv_names(html: str) -> list[str]:
    import re

    return re.findall(r"/staff/stats/([a-z_]+)\.csv", html)


# -- portal --------------------------------------------------------------------------------
def test_portal_follow_up_pages(module_app, xss):
    c = tipster_client(module_app, xss.tip_receipt)
    html = assert_safe_html(c.get("/follow-up/tip"), "status")
    assert_shown_escaped(html, "status")
    r = tipster_client(module_app, xss.reward_receipt)
    assert_safe_html(r.get("/follow-up/tip"), "reward tip status")
    assert_safe_html(r.get("/follow-up/reward"), "reward page")
    assert_safe_html(module_app.test_client().get("/cases-handled"), "public outcomes")


def test_typed_payload_comes_back_escaped_on_a_refused_form(module_app, xss):
    """Reflected on re-render: the report form with a payload and a bad district."""
    from tests.tips.portal import fields, post_report

    c = module_app.test_client()
    resp = post_report(c, fields(narrative=X, place_name=X, district="not-a-district"))
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    for raw in p.XSS_RAW:
        assert raw not in html, raw
    assert "&lt;script&gt;" in html
