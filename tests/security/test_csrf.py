"""CSRF: every state-changing route refuses a request without a valid token and changes nothing.

Routes are enumerated from `app.url_map`, so a new POST route is covered automatically. Each
is sent by a principal the access table allows (so the guard lets it through and the token
is what is tested). Staff routes answer 400. The portal's receipt pages answer 401 with the
page asking for the receipt: a tipster whose session (and so whose token) expired is by far
the most common sender of a token-less form there, and nothing is done either way.

Two portal routes are exempt by design (tips/views.py, docs/portal.md): the report form has
no session yet — a signed one-time form token, an Origin check and SameSite cookies protect
it — and the receipt form is a login. Their substitutes are tested here too.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from caseapp import clock
from caseapp.accounts.permissions import Role
from tests import factories
from tests.tips.portal import fields, form_token, post_report

from . import access_table as table
from .conftest import SecWorld, staff_client, tipster_client
from .test_access_matrix import (
    IGNORED_METHODS,
    Principal,
    principals,  # noqa: F401 - module-scoped fixture used below
    sign_in,
    url_of,
)

CSRF_EXEMPT = {
    "tips.submit": "no session before the report: one-time signed form token + Origin check",
    "tips.followup_post": "the receipt login: no ambient authority to abuse; Origin check",
}
# blueprints whose CSRF failure is answered with the "type your receipt" page
PORTAL_BLUEPRINTS = {"tips", "rewards_portal"}
PREFERENCE = (Role.DEPT_LEAD.value, Role.INVESTIGATOR.value, Role.INTAKE.value,
              Role.FINANCE_OFFICER.value, Role.FINANCE_APPROVER.value, Role.ADMIN.value,
              Role.SUPERVISOR.value, Role.AUDITOR.value, table.TIPSTER, table.ANONYMOUS)
FOREIGN_ORIGIN = "https://evil.example"


def state_changing(app: Flask) -> list[tuple[str, str]]:
    """(endpoint, method) of every route answering a method other than GET."""
    found = set()
    for rule in app.url_map.iter_rules():
        for method in set(rule.methods or ()) - IGNORED_METHODS - {"GET"}:
            found.add((rule.endpoint, method))
    return sorted(found)


def post_only(app: Flask) -> list[str]:
    """Endpoints that only change state (no GET page at the same URL)."""
    rules = list(app.url_map.iter_rules())
    pages = {r.rule for r in rules if "GET" in (r.methods or ())}
    return sorted(r.endpoint for r in rules if r.rule not in pages)


def sender(endpoint: str, method: str) -> str:
    """A principal the access table allows to send this request."""
    allowed = table.allowed(endpoint, method)
    return next(p for p in PREFERENCE if p in allowed)


def refused_status(endpoint: str) -> int:
    """What a request without a valid token gets."""
    return 401 if endpoint.split(".")[0] in PORTAL_BLUEPRINTS else 400


def _send(client: FlaskClient, method: str, url: str, data: dict[str, Any]) -> TestResponse:
    resp = client.open(url, method=method, data=data)
    resp.close()
    return resp


def test_every_state_changing_route_is_known(module_app: Flask) -> None:
    """The enumeration is not empty and sees the routes it must (logout, pay, claim, …)."""
    found = {e for e, _m in state_changing(module_app)}
    assert {"accounts.logout", "rewards.pay", "rewards_portal.claim", "tips.submit",
            "cases.case_add_note", "tips.leave"} <= found
    assert set(CSRF_EXEMPT) <= found


@pytest.mark.parametrize("token", ["missing", "foreign"])
def test_every_state_changing_route_refuses_a_missing_or_foreign_token(
        module_app: Flask, module_world: SecWorld, principals: dict[str, Principal],  # noqa: F811
        token: str) -> None:
    """No token, or the token of another session: refused, whoever sends it."""
    other = sign_in(module_app, module_world, Role.AUDITOR.value).token
    wrong = []
    for endpoint, method in state_changing(module_app):
        if endpoint in CSRF_EXEMPT:
            continue
        who = principals[sender(endpoint, method)]
        data = {} if token == "missing" else {"csrf_token": other}
        resp = _send(who.client, method, url_of(module_app, endpoint, module_world), data)
        if resp.status_code != refused_status(endpoint):
            wrong.append(f"{method} {endpoint} as {who.name}: {resp.status_code}")
    assert wrong == []
    for name, who in principals.items():  # nothing was logged out or signed out
        if name in table.STAFF:
            assert who.client.get("/staff/").status_code == 200, name
    assert principals[table.TIPSTER].client.get("/follow-up/tip").status_code == 200


def test_get_on_a_state_changing_route_is_405(module_app: Flask, module_world: SecWorld,
                                              principals: dict[str, Principal]  # noqa: F811
                                              ) -> None:
    """A link or an image cannot trigger a change: GET is not even routed."""
    wrong = []
    for endpoint in post_only(module_app):
        method = sorted(table.TABLE[endpoint])[0]
        who = principals[sender(endpoint, method)]
        resp = who.client.get(url_of(module_app, endpoint, module_world))
        resp.close()
        if resp.status_code != 405:
            wrong.append(f"GET {endpoint} as {who.name}: {resp.status_code}")
    assert wrong == []
    assert {"accounts.logout", "rewards.pay", "tips.leave"} <= set(post_only(module_app))


def test_visiting_the_login_pages_keeps_a_signed_in_session(
        module_app: Flask, module_world: SecWorld) -> None:
    """GETs change nothing: a link to the login pages does not drop a user's key or session."""
    lead = staff_client(module_app, Role.DEPT_LEAD.value)
    tipster = tipster_client(module_app, module_world.b.receipt)
    case = f"/staff/cases/{module_world.a.case}"
    for client in (lead, tipster):
        for path in ("/staff/login", "/staff/login/totp", "/follow-up", "/report"):
            client.get(path).close()
    assert lead.get(case).status_code == 200
    assert tipster.get("/follow-up/tip").status_code == 200


# -- the refused request changed nothing (fresh world per test) -------------------------
def _count(app: Flask, model: Any, **where: Any) -> int:
    from caseapp.extensions import db

    with app.app_context():
        query = select(func.count()).select_from(model)
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return int(db.session.scalar(query) or 0)


def test_logout_without_token_keeps_the_session(app: Flask, world: SecWorld) -> None:
    from caseapp.audit.models import AuditEntry

    client = staff_client(app, "inv_b")
    before = _count(app, AuditEntry, action="logout")
    for data in ({}, {"csrf_token": "forged"},
                 {"csrf_token": factories.csrf_token(app.test_client())}):
        assert client.post("/staff/logout", data=data).status_code == 400
    assert client.get(f"/staff/cases/{world.b.case}").status_code == 200
    assert _count(app, AuditEntry, action="logout") == before
    assert factories.logout(client).status_code == 302  # the real form does log out
    assert factories.is_login_redirect(client.get("/staff/"))


def test_case_change_without_token_changes_nothing(app: Flask, world: SecWorld) -> None:
    from caseapp.cases.models import Note, Task

    client = staff_client(app, "inv_b")
    case = f"/staff/cases/{world.b.case}"
    note = {"n-text": "forged note"}
    task = {"t-title": "forged task", "t-assignee": f"d{world.b.dept}"}
    notes, tasks = _count(app, Note, case_id=world.b.case), _count(app, Task, case_id=world.b.case)
    assert client.post(f"{case}/notes", data=note).status_code == 400
    assert client.post(f"{case}/tasks", data=task,
                       headers={"Origin": FOREIGN_ORIGIN}).status_code == 400
    assert (_count(app, Note, case_id=world.b.case), _count(app, Task, case_id=world.b.case)
            ) == (notes, tasks)
    assert "forged note" not in client.get(case).get_data(as_text=True)
    # the same forms with the session's token do work: only the token was missing
    assert factories.post_form(client, f"{case}/notes", note, token_from=case).status_code == 303
    assert factories.post_form(client, f"{case}/tasks", task, token_from=case).status_code == 303
    assert (_count(app, Note, case_id=world.b.case), _count(app, Task, case_id=world.b.case)
            ) == (notes + 1, tasks + 1)


def _reward_state(app: Flask, reward_id: int) -> tuple[str, int]:
    from caseapp.extensions import db
    from caseapp.rewards.models import Reward

    with app.app_context():
        row = db.session.get(Reward, reward_id)
        assert row is not None
        return row.state, row.version


def test_payment_without_token_records_nothing(app: Flask, world: SecWorld) -> None:
    from caseapp.extensions import db
    from caseapp.rewards.models import PayoutLedger
    from tests.rewards.helpers import bank_claim, claim, to_approved

    with app.app_context():
        claim(world.b.reward, world.b.reward_tip, bank_claim())
        to_approved(world.b.reward, world.users["finance_officer"],
                    world.users["finance_approver"])
        db.session.remove()
    state, version = _reward_state(app, world.b.reward)
    assert state == "approved"
    client = staff_client(app, Role.FINANCE_OFFICER.value)
    page = f"/staff/rewards/{world.b.reward}"
    data = {"version": str(version), "method": "bank", "reference": "PZ-FORGED-1",
            "paid_on": clock.now().date().isoformat(), "handover_by": "0",
            "handover_witness": "0"}
    assert client.post(f"{page}/pay", data=data).status_code == 400
    assert client.post(f"{page}/pay", data={**data, "csrf_token": "x"}).status_code == 400
    assert _reward_state(app, world.b.reward) == ("approved", version)
    assert _count(app, PayoutLedger, reward_id=world.b.reward) == 0
    assert factories.post_form(client, f"{page}/pay", data, token_from=page).status_code == 303
    assert _reward_state(app, world.b.reward)[0] == "paid"
    assert _count(app, PayoutLedger, reward_id=world.b.reward) == 1


def test_claim_without_token_claims_nothing(app: Flask, world: SecWorld) -> None:
    from tests.rewards.helpers import CARD, ID_X, PAYEE

    client = tipster_client(app, world.b.reward_receipt)
    data = {"payee_name": PAYEE, "id_number": ID_X, "method": "bank",
            "bank_name": "中国工商银行 驻马店分行", "account_number": CARD, "office": ""}
    assert client.post("/follow-up/reward", data=data).status_code == 401
    assert _reward_state(app, world.b.reward)[0] == "eligible"
    token = factories.csrf_token(client, "/follow-up/reward")
    assert client.post("/follow-up/reward", data={**data, "csrf_token": token}
                       ).status_code == 200
    assert _reward_state(app, world.b.reward)[0] == "claimed"


def test_tipster_reply_without_token_stores_nothing(app: Flask, world: SecWorld) -> None:
    from caseapp.tips.models import TipMessage

    client = tipster_client(app, world.a.receipt)
    before = _count(app, TipMessage, tip_id=world.a.tip)
    assert client.post("/follow-up/tip", data={"body": "forged reply"}).status_code == 401
    assert _count(app, TipMessage, tip_id=world.a.tip) == before
    assert client.get("/follow-up/tip").status_code == 200  # still signed in
    token = factories.csrf_token(client, "/follow-up/tip")
    assert client.post("/follow-up/tip", data={"body": "real reply", "csrf_token": token}
                       ).status_code == 303
    assert _count(app, TipMessage, tip_id=world.a.tip) == before + 1


# -- the exempt portal forms: their own defences ---------------------------------------
def test_report_needs_its_one_time_form_token_and_our_origin(app: Flask,
                                                             world: SecWorld) -> None:
    from caseapp.tips.models import Tip

    client = app.test_client()
    before = _count(app, Tip)
    clock.move(timedelta(seconds=30))
    assert client.post("/report", data=fields()).status_code == 400  # no form token
    assert client.post("/report", data={**fields(), "form_token": "forged.token"}
                       ).status_code == 400
    cross = post_report(client, headers={"Origin": FOREIGN_ORIGIN})
    assert cross.status_code == 400
    assert _count(app, Tip) == before
    assert post_report(client, token=form_token(client)).status_code == 200  # the real form
    assert _count(app, Tip) == before + 1


def test_receipt_login_refuses_another_origin(app: Flask, world: SecWorld) -> None:
    client = app.test_client()
    resp = client.post("/follow-up", data={"receipt": world.a.receipt},
                       headers={"Origin": FOREIGN_ORIGIN})
    assert resp.status_code == 400
    assert client.get("/follow-up/tip").status_code == 401  # not signed in
    resp = client.post("/follow-up", data={"receipt": world.a.receipt},
                       headers={"Origin": "http://localhost"})
    assert resp.status_code == 303
    assert client.get("/follow-up/tip").status_code == 200
