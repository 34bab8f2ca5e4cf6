"""IDOR: a department reaching another department's objects by id, a receipt reaching another tip.

Department B's investigator and lead (and, the other way round, A's) request every object of
the other side's case by id — read, edit, download — both through the victim's case URL and
through their own case's URL with the victim's object ids. They get 404 (the design hides
that the case exists) or a refusal of the form, the victim's rows stay exactly as they were,
and none of the victim's secret text appears in any response. Likewise a tipster signed in
with receipt A reaches only tip A: its messages, files, proof and reward.
"""

from __future__ import annotations

import io
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from caseapp.accounts.permissions import Role
from tests import factories

from . import access_table as table
from .conftest import (
    SecWorld,
    Side,
    changed,
    leaked,
    snapshot,
    staff_client,
    tipster_client,
)

# (attacker username key in SecWorld.usernames, victim side, attacker side)
ATTACKERS = [("inv_b", "a", "b"), ("lead_b", "a", "b"), ("inv_a", "b", "a"),
             ("lead_a", "b", "a")]
ROLE_OF = {"inv_b": Role.INVESTIGATOR, "inv_a": Role.INVESTIGATOR, "lead_b": Role.DEPT_LEAD,
           "lead_a": Role.DEPT_LEAD}


def refusal(app: Flask, attacker: str, url: str, method: str = "POST") -> int:
    """404 (existence hidden) when the role may use the route; the guard's 403 otherwise."""
    endpoint, _args = app.url_map.bind("localhost").match(url, method=method)
    return 404 if ROLE_OF[attacker].value in table.allowed(endpoint, method) else 403


def sides(world: SecWorld, victim: str, own: str) -> tuple[Side, Side]:
    """(victim side, attacker's side)."""
    return getattr(world, victim), getattr(world, own)


def send(client: FlaskClient, method: str, url: str, data: dict[str, Any] | None = None,
         token_from: str = "/staff/") -> TestResponse:
    """GET, or POST with the attacker's own valid CSRF token; the body is read."""
    if method == "GET":
        resp = client.get(url)
    else:
        payload = dict(data or {})
        payload["csrf_token"] = factories.csrf_token(client, token_from)
        resp = client.post(url, data=payload, content_type="multipart/form-data")
    resp.get_data()
    resp.close()
    return resp


def followed(client: FlaskClient, resp: TestResponse) -> list[TestResponse]:
    """The response and, for a redirect, the page it leads to (where a flash would show)."""
    if resp.status_code in (302, 303) and resp.location:
        nxt = client.get(resp.location)
        nxt.get_data()
        nxt.close()
        return [resp, nxt]
    return [resp]


def victim_forms(v: Side, own: Side) -> dict[str, dict[str, Any]]:
    """For each case form, data that would succeed on the victim's case."""
    return {
        "notes": {"n-text": "intruder note"},
        "tasks": {"t-title": "intruder task", "t-assignee": f"d{v.dept}"},
        f"tasks/{v.task}": {"ts-status": "cancelled"},
        "messages": {"m-text": "intruder message", "m-tip": str(v.tip)},
        "actions": {"a-planned_on": "2026-04-01", "a-premises": "intruder premises",
                    "a-departments": str(v.dept)},
        f"actions/{v.action}": {"r-status": "done", "r-result": "intruder result"},
        "seized": {"s-kind": "drugs", "s-quantity": "2", "s-custody": "intruder",
                   "s-action": str(v.action)},
        "subjects": {"sj-kind": "clinic", "sj-name": "intruder clinic"},
        "evidence": {"e-file": (io.BytesIO(b"intruder evidence"), "x.txt")},
        "investigate": {},
        "departments": {"d-department": str(own.dept)},
        f"departments/{v.dept}/remove": {},
        "reopen": {"ro-text": "intruder reopen"},
        "reopen/1/approve": {},
        "disposition": {"p-outcome": "unsubstantiated", "p-legal_basis": "intruder",
                        "p-tips": str(v.tip), "measure-0-kind": "warning",
                        "measure-0-subject": str(v.subject)},
        f"disposition/{v.disposition}/approve": {},
        f"disposition/{v.disposition}/refuse": {},
        "publish": {},
    }


def reads(v: Side) -> list[str]:
    """Every GET of the victim's case."""
    c = f"/staff/cases/{v.case}"
    return [c, f"{c}/timeline", f"{c}/evidence/{v.evidence}", f"{c}/evidence/integrity.csv",
            f"{c}/tips/{v.tip}/files/{v.tip_file}",
            f"/staff/cases/{v.closed_case}", f"/staff/cases/{v.closed_case}/timeline"]


@pytest.mark.parametrize(("attacker", "victim", "own"), ATTACKERS)
def test_other_department_reading_the_case_by_id_gets_404_and_nothing(
        module_app: Flask, module_world: SecWorld, attacker: str, victim: str,
        own: str) -> None:
    v, _mine = sides(module_world, victim, own)
    client = staff_client(module_app, module_world.usernames[attacker])
    for url in reads(v):
        resp = send(client, "GET", url)
        assert resp.status_code == 404, (url, resp.status_code)
        assert leaked(resp, v) == [], url
        assert v.evidence_bytes not in resp.get_data()


@pytest.mark.parametrize(("attacker", "victim", "own"), ATTACKERS)
def test_other_department_editing_the_case_by_id_gets_404_and_changes_nothing(
        module_app: Flask, module_world: SecWorld, attacker: str, victim: str,
        own: str) -> None:
    v, mine = sides(module_world, victim, own)
    client = staff_client(module_app, module_world.usernames[attacker])
    before = snapshot(module_app)
    for case in (v.case, v.closed_case):
        for path, data in victim_forms(v, mine).items():
            url = f"/staff/cases/{case}/{path}"
            resp = send(client, "POST", url, data)
            assert resp.status_code == refusal(module_app, attacker, url), (url, resp.status_code)
            assert leaked(resp, v) == [], url
    assert changed(before, snapshot(module_app)) == []


@pytest.mark.parametrize(("attacker", "victim", "own"), ATTACKERS)
def test_own_case_url_with_the_other_sides_object_ids_is_refused(
        module_app: Flask, module_world: SecWorld, attacker: str, victim: str,
        own: str) -> None:
    """The classic IDOR: a case I may open, an object id that belongs to another case."""
    v, mine = sides(module_world, victim, own)
    client = staff_client(module_app, module_world.usernames[attacker])
    mine_url = f"/staff/cases/{mine.case}"
    resp = send(client, "GET", f"{mine_url}/evidence/{v.evidence}")
    assert resp.status_code != 200 and v.evidence_bytes not in resp.get_data()
    for r in followed(client, resp):
        assert leaked(r, v) == []
    for path in (f"tips/{mine.tip}/files/{v.tip_file}", f"tips/{v.tip}/files/{v.tip_file}"):
        resp = send(client, "GET", f"{mine_url}/{path}")
        assert resp.status_code == 404, (path, resp.status_code)
        assert leaked(resp, v) == [], path
    before = snapshot(module_app)
    forms = victim_forms(v, mine)
    attempts = {
        f"tasks/{v.task}": forms[f"tasks/{v.task}"],
        f"actions/{v.action}": forms[f"actions/{v.action}"],
        "seized": forms["seized"],  # a joint action of the other case
        "messages": forms["messages"],  # a tip of the other case
        "tasks": {"t-title": "intruder task", "t-assignee": f"u{v.investigator}"},
        "actions": forms["actions"],  # departments not on my case
        "disposition": forms["disposition"],  # tips and subjects of the other case
        f"disposition/{v.disposition}/approve": {},
        f"disposition/{v.disposition}/refuse": {},
        f"departments/{v.dept}/remove": {},
    }
    for path, data in attempts.items():
        resp = send(client, "POST", f"{mine_url}/{path}", data)
        assert resp.status_code in (303, 403, 404), (path, resp.status_code)
        for r in followed(client, resp):
            assert leaked(r, v) == [], path
    assert changed(before, snapshot(module_app)) == []


@pytest.mark.parametrize(("attacker", "victim", "own"), ATTACKERS)
def test_lists_and_search_show_nothing_of_the_other_department(
        module_app: Flask, module_world: SecWorld, attacker: str, victim: str,
        own: str) -> None:
    v, mine = sides(module_world, victim, own)
    client = staff_client(module_app, module_world.usernames[attacker])
    for url in ("/staff/cases?status=active", "/staff/cases?status=closed",
                "/staff/cases?status=investigating", "/staff/cases/tasks",
                "/staff/notifications/", "/staff/", f"/staff/cases/{mine.case}",
                f"/staff/cases/{mine.case}/timeline"):
        resp = send(client, "GET", url)
        assert resp.status_code == 200, url
        assert leaked(resp, v) == [], url
        html = resp.get_data(as_text=True)
        assert f"/staff/cases/{v.case}\"" not in html, url
        assert f"/staff/cases/{v.closed_case}\"" not in html, url
    own_page = send(client, "GET", f"/staff/cases/{mine.case}")
    assert leaked(own_page, mine), "the test sees content where there is some"


def test_notifications_of_another_department_cannot_be_marked_read(
        module_app: Flask, module_world: SecWorld) -> None:
    from caseapp.extensions import db
    from caseapp.notify.models import Notification

    w = module_world
    with module_app.app_context():
        theirs = [n.id for n in db.session.scalars(select(Notification).where(
            (Notification.department_id == w.a.dept)
            | (Notification.user_id.in_([w.a.investigator, w.a.lead]))))]
        db.session.remove()
    assert theirs, "the world has notices for department A"
    client = staff_client(module_app, "lead_b")
    before = snapshot(module_app, ("notifications",))
    for nid in theirs:
        assert send(client, "POST", f"/staff/notifications/{nid}/read").status_code == 404
    assert changed(before, snapshot(module_app, ("notifications",))) == []


def test_lead_cannot_grant_the_key_to_another_departments_member(
        module_app: Flask, module_world: SecWorld) -> None:
    w = module_world
    client = staff_client(module_app, "lead_b")
    before = snapshot(module_app, ("department_key_grants",))
    for uid in (w.spare_user, w.a.investigator, w.users[Role.INTAKE.value]):
        resp = send(client, "POST", f"/staff/department/keys/{uid}",
                    token_from="/staff/department/keys")
        assert resp.status_code == 404, uid
    assert changed(before, snapshot(module_app, ("department_key_grants",))) == []
    assert "Spare" not in send(client, "GET", "/staff/department/keys").get_data(as_text=True)


def test_intake_officer_of_another_department_cannot_open_tips(
        module_app: Flask, module_world: SecWorld) -> None:
    """Tips are sealed to the intake department: the role alone opens nothing."""
    from caseapp.extensions import db

    w = module_world
    with module_app.app_context():
        factories.make_user("intake_b", "public_security", [Role.INTAKE])
        db.session.remove()
    client = staff_client(module_app, "intake_b")
    for side in (w.a, w.b):
        for tip in (side.tip, side.reward_tip):
            resp = send(client, "GET", f"/staff/intake/tips/{tip}")
            assert resp.status_code == 404, tip
            assert leaked(resp, side) == []
    for url in ("/staff/intake", "/staff/intake?status=all",
                "/staff/intake/search?kind=phone&value=13800138000"):
        resp = send(client, "GET", url)
        assert leaked(resp, w.a) == [] and leaked(resp, w.b) == [], url


def test_finance_reads_rewards_but_never_the_tip_or_case(module_app: Flask,
                                                         module_world: SecWorld) -> None:
    """Finance learns who is paid (the claim), not what the tip or the case says."""
    w = module_world
    client = staff_client(module_app, Role.FINANCE_APPROVER.value)
    content = {k: t for k, t in w.a.markers.items() if k not in ("payee", "payment-ref")}
    pages = [f"/staff/rewards/{w.a.reward}", f"/staff/rewards/{w.a.reward}/record",
             f"/staff/rewards/{w.b.reward}", "/staff/rewards/?state=all",
             "/staff/rewards/ledger", "/staff/rewards/ledger.csv", "/staff/rewards/ledger/print"]
    for url in pages:
        resp = send(client, "GET", url)
        assert resp.status_code == 200, url
        data = resp.get_data()
        assert [k for k, t in content.items() if t.encode() in data] == [], url
    for url in reads(w.a):
        assert send(client, "GET", url).status_code == 403, url


# -- the tipster: receipt A against tip B ------------------------------------------------
def _portal_pages(client: FlaskClient) -> list[TestResponse]:
    return [send(client, "GET", url) for url in
            ("/follow-up/tip", "/follow-up/reward", "/follow-up/proof", "/follow-up")]


@pytest.mark.parametrize("receipt", ["receipt", "reward_receipt"])
def test_receipt_a_sees_only_tip_a(module_app: Flask, module_world: SecWorld,
                                   receipt: str) -> None:
    w = module_world
    client = tipster_client(module_app, getattr(w.a, receipt))
    pages = _portal_pages(client)
    assert [p.status_code for p in pages[:3]] == [200, 200, 200]
    for page in pages:
        assert leaked(page, w.b) == []
    status = pages[0].get_data(as_text=True)
    if receipt == "receipt":  # the test sees tip A's own messages and file
        assert w.a.markers["staff-message"] in status
        assert w.a.markers["open-file"] in status
    # ids in the query string or the form are not how a tip is chosen
    for url in (f"/follow-up/tip?tip_id={w.b.tip}", f"/follow-up/tip?tip={w.b.reward_tip}",
                f"/follow-up/reward?reward_id={w.b.reward}&tip_id={w.b.reward_tip}"):
        resp = send(client, "GET", url)
        assert resp.status_code == 200 and leaked(resp, w.b) == [], url


def test_receipt_a_cannot_claim_or_reply_on_tip_b(module_app: Flask,
                                                  module_world: SecWorld) -> None:
    from tests.rewards.helpers import CARD, ID_X, PAYEE

    w = module_world
    claim = {"payee_name": PAYEE, "id_number": ID_X, "method": "bank",
             "bank_name": "中国工商银行 驻马店分行", "account_number": CARD, "office": "",
             "reward_id": str(w.b.reward), "tip_id": str(w.b.reward_tip),
             "receipt": w.b.reward_receipt}
    before = snapshot(module_app, ("rewards", "payout_ledger"))
    for receipt in (w.a.receipt, w.a.reward_receipt):
        client = tipster_client(module_app, receipt)
        resp = send(client, "POST", "/follow-up/reward", claim, token_from="/follow-up/tip")
        assert resp.status_code in (404, 409), resp.status_code
        assert leaked(resp, w.b) == []
    assert changed(before, snapshot(module_app, ("rewards", "payout_ledger"))) == []
    client = tipster_client(module_app, w.a.receipt)
    messages_b = _messages(module_app, w.b.tip)
    resp = send(client, "POST", f"/follow-up/tip?tip_id={w.b.tip}",
                {"body": "written by tipster A", "tip_id": str(w.b.tip)},
                token_from="/follow-up/tip")
    assert resp.status_code == 303
    assert _messages(module_app, w.b.tip) == messages_b
    assert "written by tipster A" in send(client, "GET", "/follow-up/tip").get_data(as_text=True)


def _messages(app: Flask, tip_id: int) -> int:
    from sqlalchemy import func

    from caseapp.extensions import db
    from caseapp.tips.models import TipMessage

    with app.app_context():
        n = db.session.scalar(select(func.count()).select_from(TipMessage)
                              .where(TipMessage.tip_id == tip_id))
        db.session.remove()
    return int(n or 0)


def test_sessions_do_not_cross_between_portal_and_staff(module_app: Flask,
                                                        module_world: SecWorld) -> None:
    """A staff cookie opens no tip; a receipt cookie opens no staff page; forged ones nothing."""
    w = module_world
    staff = staff_client(module_app, "inv_b")
    for page in _portal_pages(staff)[:3]:
        assert page.status_code == 401 and leaked(page, w.b) == [] and leaked(page, w.a) == []
    tipster = tipster_client(module_app, w.b.receipt)
    for url in (f"/staff/cases/{w.b.case}", "/staff/", f"/staff/rewards/{w.b.reward}"):
        resp = send(tipster, "GET", url)
        assert factories.is_login_redirect(resp) and leaked(resp, w.b) == [], url
    forged = factories.client_with_cookie(module_app, "0" * 43)
    assert send(forged, "GET", "/follow-up/tip").status_code == 401
    assert factories.is_login_redirect(send(forged, "GET", "/staff/"))
