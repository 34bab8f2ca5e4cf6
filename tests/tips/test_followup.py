"""Follow-up with the receipt: status in plain words, the conversation, replies, leaving."""

from __future__ import annotations

import io
from datetime import timedelta

from sqlalchemy import select

from caseapp import clock
from caseapp.extensions import db
from caseapp.tips import access
from caseapp.tips.models import Tip, TipMessage

from .conftest import keyring
from .portal import csrf_of, post_report, receipt_of


def reply(client, body, files=()):
    """Send a reply from the status page like a browser (CSRF token from the page)."""
    page = client.get("/follow-up/tip")
    assert page.status_code == 200
    data = {"body": body, "csrf_token": csrf_of(page.get_data(as_text=True)),
            "files": [(io.BytesIO(c), n) for c, n in files]}
    return client.post("/follow-up/tip", data=data, content_type="multipart/form-data")


def _login(client, receipt):
    return client.post("/follow-up", data={"receipt": " ".join(
        receipt[i:i + 4] for i in range(0, 28, 4))})


def test_follow_up_shows_status_and_messages(app, client, intake):
    receipt = receipt_of(post_report(client))
    client.post("/follow-up/leave", data={"csrf_token": csrf_of(client.get(
        "/follow-up/tip").get_data(as_text=True))})
    assert client.get("/follow-up/tip").status_code == 401  # left
    with app.app_context():
        tip = db.session.scalar(select(Tip))
        tip.status = "needs_info"
        ring = keyring(intake["user_id"])
        key = access.open_tip_key(tip, ring)
        access.post_staff_message(tip, key, ring.user, "STAFF-QUESTION: which floor?")
    resp = _login(client, receipt)
    assert resp.status_code == 303 and resp.location.endswith("/follow-up/tip")
    page = client.get("/follow-up/tip").get_data(as_text=True)
    assert "We need more information" in page
    assert "STAFF-QUESTION: which floor?" in page and "From the investigators" in page
    assert "The doctor offered a B-ultrasound" in page  # the tip as submitted
    sent = reply(client, "Second floor, room 3.", files=[(b"%PDF-1.4\n%%EOF", "map.pdf")])
    assert sent.status_code == 303
    page = client.get("/follow-up/tip").get_data(as_text=True)
    assert "Second floor, room 3." in page and "map.pdf" in page
    with app.app_context():
        tip = db.session.scalar(select(Tip))
        content = access.staff_open_tip(tip, keyring(intake["user_id"]), None)
        assert [m.author for m in content.messages] == ["staff", "tipster"]
        assert content.messages[1].files[0].name == "map.pdf"
        assert db.session.scalar(select(TipMessage.staff_user_id).where(
            TipMessage.author == "staff")) == intake["user_id"]


def test_closed_substantiated_tells_about_reward(app, client, intake):
    receipt = receipt_of(post_report(client))
    with app.app_context():
        tip = db.session.scalar(select(Tip))
        tip.status, tip.outcome = "closed", "substantiated"
        db.session.commit()
    content = access_open(app, receipt)
    assert content.tip.status == "closed"
    page = client.get("/follow-up/tip").get_data(as_text=True)
    assert "Closed." in page and "A reward is available" in page
    assert 'href="/follow-up/reward' in page  # the way to the claim


def access_open(app, receipt):
    with app.app_context():
        return access.open_with_receipt(receipt)


def test_reply_needs_csrf_and_a_session(app, client, intake):
    receipt_of(post_report(client))
    resp = client.post("/follow-up/tip", data={"body": "no token"})
    assert resp.status_code == 401 and "Please type your receipt number again" in \
        resp.get_data(as_text=True)
    other = app.test_client()
    assert other.post("/follow-up/tip", data={"body": "x"}).status_code == 401


def test_session_ends_after_idle_time(app, client, intake, config):
    receipt_of(post_report(client))
    assert client.get("/follow-up/tip").status_code == 200
    clock.move(timedelta(minutes=config.portal_session_idle_minutes + 1))
    resp = client.get("/follow-up/tip")
    assert resp.status_code == 401 and "session has ended" in resp.get_data(as_text=True)


def test_session_cookie_is_a_browser_session_cookie(app, client, intake):
    resp = post_report(client)
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Expires" not in cookie and "Max-Age" not in cookie
    assert receipt_of(resp) not in cookie


def test_tipster_reply_with_bad_file_is_refused(app, client, intake):
    receipt_of(post_report(client))
    resp = reply(client, "see attached", files=[(b"MZ\x90\x00" * 10, "x.jpg")])
    assert resp.status_code == 400 and "x.jpg is not a photo" in resp.get_data(as_text=True)
