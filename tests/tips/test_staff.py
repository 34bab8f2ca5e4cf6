"""Staff register a tip received by phone, letter or in person and read out the receipt."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from caseapp import clock
from caseapp.accounts.permissions import Role
from caseapp.extensions import db
from caseapp.tips import access
from caseapp.tips.models import Tip
from tests import factories

from .portal import TOKEN, csrf_of, fields, receipt_of


def _register(client, **extra):
    page = client.get("/staff/tips/register")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    data = dict(fields(narrative="Caller says the pharmacy sells mifepristone."),
                channel="phone", csrf_token=csrf_of(html), form_token=TOKEN.search(html).group(1))
    data.update(extra)
    clock.move(timedelta(seconds=5))
    return client.post("/staff/tips/register", data=data)


def test_staff_registered_phone_tip(app, client, intake):
    assert factories.login(client, "intake1").status_code in (302, 303)
    resp = _register(client)
    assert resp.status_code == 200, resp.get_data(as_text=True)[:2000]
    receipt = receipt_of(resp)
    with app.app_context():
        tip = db.session.scalar(select(Tip))
        assert tip.channel == "phone" and tip.submitted_by_staff_id == intake["user_id"]
        assert "Caller says" in access.open_with_receipt(receipt).fields["narrative"]
    # the caller can follow the tip with the receipt that was read out
    caller = app.test_client()
    assert caller.post("/follow-up", data={"receipt": receipt}).status_code == 303
    assert "Caller says" in caller.get("/follow-up/tip").get_data(as_text=True)


def test_staff_register_twice_is_one_tip(app, client, intake):
    factories.login(client, "intake1")
    page = client.get("/staff/tips/register").get_data(as_text=True)
    token = TOKEN.search(page).group(1)
    first = _register(client, form_token=token)
    second = _register(client, form_token=token)
    assert receipt_of(first) == receipt_of(second)
    with app.app_context():
        assert len(db.session.scalars(select(Tip)).all()) == 1


def test_registration_needs_the_permission_and_csrf(app, client, intake):
    assert client.get("/staff/tips/register").status_code == 302  # not logged in
    with app.app_context():
        factories.make_user("invest1", "health", [Role.INVESTIGATOR])
    factories.login(client, "invest1")
    assert client.get("/staff/tips/register").status_code == 403
    other = app.test_client()
    factories.login(other, "intake1")
    resp = other.post("/staff/tips/register", data=fields(channel="phone"))
    assert resp.status_code == 400
    with app.app_context():
        assert db.session.scalars(select(Tip)).all() == []
