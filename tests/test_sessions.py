"""Server-side sessions: revocation, timeouts, token rotation, and no key in clear anywhere."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from flask import Flask, session
from sqlalchemy import func, select, text

from caseapp import clock
from caseapp.accounts import service
from caseapp.accounts.models import ServerSession, User
from caseapp.accounts.permissions import Role, public
from caseapp.accounts.sessions import purge_expired_sessions, revoke_user_sessions
from caseapp.crypto import DecryptionError, open_from_session, session_id
from caseapp.extensions import db
from tests.factories import (
    COOKIE,
    client_with_cookie,
    is_login_redirect,
    login,
    logout,
    make_department,
    make_user,
    post_form,
    session_cookie,
    user_private_key,
)


@pytest.fixture
def alice(app: Flask) -> int:
    with app.app_context():
        make_department("health")
        return make_user("alice", "health", [Role.INVESTIGATOR, Role.DEPT_LEAD]).id


@pytest.fixture
def admin(app: Flask) -> int:
    with app.app_context():
        return make_user("root", None, [Role.ADMIN]).id


def _rows(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(ServerSession)) or 0


def _logged_in(app: Flask, username: str = "alice"):
    client = app.test_client()
    resp = login(client, username)
    assert resp.status_code == 302 and resp.location.endswith("/staff/")
    assert client.get("/staff/").status_code == 200
    return client


def test_no_cookie_and_no_row_for_anonymous_portal_visit(app, client):
    resp = client.get("/")
    assert resp.status_code == 200
    assert "Set-Cookie" not in resp.headers
    assert _rows(app) == 0


def test_cookie_carries_only_a_token_and_is_httponly_lax(app, alice):
    client = app.test_client()
    resp = client.get("/staff/login")
    header = resp.headers["Set-Cookie"]
    assert header.startswith(f"{COOKIE}=")
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Path=/" in header
    token = session_cookie(client)
    assert token and len(token) >= 40 and "." not in token  # no signed payload, just a token
    with app.app_context():
        assert db.session.get(ServerSession, token) is None  # the token is never the id
        assert db.session.get(ServerSession, session_id(token)) is not None


def test_secure_cookie_when_configured(app, alice):
    app.config["SESSION_COOKIE_SECURE"] = True
    resp = app.test_client().get("/staff/login", base_url="https://localhost")
    assert "Secure" in resp.headers["Set-Cookie"]


def test_session_token_changes_at_login_and_old_one_dies(app, alice):
    client = app.test_client()
    client.get("/staff/login")
    before = session_cookie(client)
    assert login(client, "alice").status_code == 302
    after = session_cookie(client)
    assert before and after and before != after
    assert is_login_redirect(client_with_cookie(app, before).get("/staff/"))
    assert client.get("/staff/").status_code == 200
    with app.app_context():
        assert db.session.get(ServerSession, session_id(before)) is None
        row = db.session.get(ServerSession, session_id(after))
        assert row is not None and row.user_id == alice and row.kind == "staff"


def test_cookie_replayed_after_logout_is_refused(app, alice):
    client = _logged_in(app)
    copied = session_cookie(client)
    resp = logout(client)
    assert is_login_redirect(resp)
    assert is_login_redirect(client.get("/staff/"))
    assert is_login_redirect(client_with_cookie(app, copied).get("/staff/"))
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ServerSession)
                                 .where(ServerSession.user_id == alice)) == 0


def test_cookie_replayed_after_password_change_is_refused(app, alice):
    other = _logged_in(app)
    copied = session_cookie(other)
    client = _logged_in(app)
    resp = post_form(client, "/staff/account", {
        "old_password": "pw-correct-horse-battery", "new_password": "a brand new passphrase",
        "confirm": "a brand new passphrase"}, token_from="/staff/account")
    assert resp.status_code == 302
    assert client.get("/staff/").status_code == 200  # the session that changed it lives on
    assert is_login_redirect(other.get("/staff/"))
    assert is_login_redirect(client_with_cookie(app, copied).get("/staff/"))


@pytest.mark.parametrize("change", ["disable", "role_removed", "reset"])
def test_cookie_replayed_after_admin_action_is_refused(app, alice, change):
    client = _logged_in(app)
    copied = session_cookie(client)
    with app.app_context():
        user = db.session.get(User, alice)
        if change == "disable":
            service.set_active(None, user, False)
        elif change == "role_removed":
            service.set_roles(None, user, [Role.INVESTIGATOR])
        else:
            service.admin_reset_password(None, user, "temporary-pass-1")
    assert is_login_redirect(client.get("/staff/"))
    assert is_login_redirect(client_with_cookie(app, copied).get("/staff/"))


def test_admin_disabling_through_the_ui_ends_sessions(app, alice, admin):
    victim = _logged_in(app)
    boss = _logged_in(app, "root")
    page = f"/staff/admin/users/{alice}"
    resp = post_form(boss, page, {"display_name": "Alice", "department": "1",
                                  "roles": ["investigator", "dept_lead"]}, token_from=page)
    assert resp.status_code == 302  # "active" unchecked: disabled
    assert is_login_redirect(victim.get("/staff/"))


def test_adding_a_role_keeps_the_session(app, alice):
    client = _logged_in(app)
    with app.app_context():
        user = db.session.get(User, alice)
        service.set_roles(None, user, [Role.INVESTIGATOR, Role.DEPT_LEAD, Role.SUPERVISOR])
    assert client.get("/staff/").status_code == 200


def test_idle_timeout(app, alice, config):
    client = _logged_in(app)
    for _ in range(3):  # activity keeps the session alive
        clock.move(timedelta(minutes=config.session_idle_minutes - 2))
        assert client.get("/staff/").status_code == 200
    clock.move(timedelta(minutes=config.session_idle_minutes + 1))
    assert is_login_redirect(client.get("/staff/"))


def test_absolute_timeout(app, alice, config):
    client = _logged_in(app)
    step = timedelta(minutes=config.session_idle_minutes - 5)
    elapsed = timedelta(0)
    while elapsed + step < timedelta(hours=config.session_absolute_hours):
        clock.move(step)
        elapsed += step
        assert client.get("/staff/").status_code == 200
    clock.move(step)
    assert is_login_redirect(client.get("/staff/"))


def test_portal_sessions_have_a_shorter_idle_limit(app, config):
    @public
    def portal_touch() -> str:
        session.kind = "portal"
        session["n"] = session.get("n", 0) + 1
        return str(session["n"])

    app.add_url_rule("/_test/portal", "portal_touch", portal_touch)
    client = app.test_client()
    assert client.get("/_test/portal").get_data(as_text=True) == "1"
    assert client.get("/_test/portal").get_data(as_text=True) == "2"
    clock.move(timedelta(minutes=config.portal_session_idle_minutes + 1))
    assert client.get("/_test/portal").get_data(as_text=True) == "1"
    with app.app_context():
        rows = list(db.session.scalars(select(ServerSession)))
        assert len(rows) == 1 and rows[0].kind == "portal" and rows[0].user_id is None


def _forms(raw: bytes) -> list[bytes]:
    return [raw, raw.hex().encode(), base64.b64encode(raw), base64.urlsafe_b64encode(raw),
            base64.urlsafe_b64encode(raw).rstrip(b"=")]


def test_private_key_is_never_in_clear_in_database_or_cookie(app, alice):
    client = _logged_in(app)
    with app.app_context():
        raw = user_private_key(alice).to_bytes()
    needles = _forms(raw)
    with app.app_context():
        scanned = 0
        for table in ("server_sessions", "users", "department_key_grants", "departments"):
            for row in db.session.execute(text(f"SELECT * FROM {table}")):  # noqa: S608
                for value in row:
                    if value is None:
                        continue
                    blob = bytes(value) if isinstance(value, bytes | memoryview) \
                        else str(value).encode()
                    scanned += 1
                    assert not any(n in blob for n in needles), table
        assert scanned > 20
        secret = db.session.scalar(select(ServerSession.secret)
                                   .where(ServerSession.user_id == alice))
        assert secret  # the key is there, but only encrypted
    cookie = session_cookie(client).encode()
    assert not any(n in cookie for n in needles)


def test_database_row_alone_does_not_open_the_secret(app, alice):
    client = _logged_in(app)
    token = session_cookie(client)
    with app.app_context():
        row = db.session.scalar(select(ServerSession).where(ServerSession.user_id == alice))
        raw = user_private_key(alice).to_bytes()
        with pytest.raises(DecryptionError):
            open_from_session(row.id, row.secret, "user-key")  # the stored id is not the token
        with pytest.raises(DecryptionError):
            open_from_session("guessed-token", row.secret, "user-key")
        assert open_from_session(token, row.secret, "user-key") == raw


def test_tampered_or_unknown_cookie_starts_an_empty_session(app, alice):
    client = client_with_cookie(app, "not-a-real-token")
    resp = client.get("/staff/")
    assert is_login_redirect(resp)
    assert f"{COOKIE}=;" in resp.headers.get("Set-Cookie", "")  # the stale cookie is cleared


def test_revoke_user_sessions_keeps_the_excepted_one(app, alice):
    keep, drop = _logged_in(app), _logged_in(app)
    with app.app_context():
        sid = session_id(session_cookie(keep))
        assert revoke_user_sessions(alice, except_sid=sid) == 1
        db.session.commit()
    assert keep.get("/staff/").status_code == 200
    assert is_login_redirect(drop.get("/staff/"))


def test_purge_removes_expired_rows(app, alice, config):
    _logged_in(app)
    assert _rows(app) == 1
    clock.move(timedelta(minutes=config.session_idle_minutes + 1))
    with app.app_context():
        assert purge_expired_sessions() == 1
    assert _rows(app) == 0
