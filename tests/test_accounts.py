"""Login, throttling and lock-out, TOTP, CSRF, password rules and the `next` redirect."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from caseapp import clock
from caseapp.accounts import service
from caseapp.accounts.errors import (
    AccountLocked,
    InvalidInput,
    LoginFailed,
    NotAllowed,
    PasswordPolicyError,
)
from caseapp.accounts.models import User
from caseapp.accounts.permissions import Role
from caseapp.audit.models import AuditEntry
from caseapp.extensions import db
from tests.factories import (
    DEFAULT_PASSWORD,
    csrf_token,
    is_login_redirect,
    login,
    login_totp,
    make_department,
    make_user,
    post_form,
    totp_code,
)

WRONG = "not-the-password-123"


@pytest.fixture
def bob(app: Flask) -> int:
    with app.app_context():
        make_department("health")
        return make_user("bob", "health", [Role.INVESTIGATOR]).id


def _user(app: Flask, user_id: int) -> User:
    with app.app_context():
        user = db.session.get(User, user_id)
        db.session.refresh(user)
        return user


def _audit(app: Flask, action: str) -> list[AuditEntry]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def test_login_success_lands_on_home(app, client, bob):
    resp = login(client, "bob")
    assert resp.status_code == 302 and resp.location.endswith("/staff/")
    page = client.get("/staff/").get_data(as_text=True)
    assert "Bob" in page
    assert _audit(app, "login.success")


def test_login_follows_only_local_next(app, bob):
    for target, expected in [("/staff/account", "/staff/account"),
                             ("https://evil.example/x", "/staff/"),
                             ("//evil.example/x", "/staff/"), ("/\\evil.example", "/staff/")]:
        client = app.test_client()
        resp = login(client, "bob", next=target)
        assert resp.status_code == 302
        assert resp.location.endswith(expected) and "evil" not in resp.location, target


def test_anonymous_staff_page_redirects_with_next(client):
    resp = client.get("/staff/account")
    assert is_login_redirect(resp) and "next=/staff/account" in resp.location


def test_wrong_password_is_audited_and_counted(app, client, bob):
    resp = login(client, "bob", WRONG)
    assert resp.status_code == 200 and is_login_redirect(client.get("/staff/"))
    assert _user(app, bob).failed_logins == 1
    failures = _audit(app, "login.failure")
    assert len(failures) == 1 and failures[0].actor_id == bob
    assert WRONG not in failures[0].detail


def test_unknown_user_is_audited_without_password(app, client):
    login(client, "nobody", WRONG)
    (entry,) = _audit(app, "login.failure")
    assert "unknown" in entry.detail and WRONG not in entry.detail


def test_growing_delay_then_lock_out_then_release(app, bob, config):
    with app.app_context():
        for attempt in range(1, config.login_max_failures):
            with pytest.raises(LoginFailed):
                service.authenticate("bob", WRONG)
            with pytest.raises(AccountLocked):  # an immediate retry waits, even if right
                service.authenticate("bob", DEFAULT_PASSWORD)
            clock.move(timedelta(seconds=2 ** attempt))
        with pytest.raises(LoginFailed):
            service.authenticate("bob", WRONG)
    client = app.test_client()
    clock.move(timedelta(minutes=1))
    resp = login(client, "bob")  # right password, still locked
    assert resp.status_code == 429 and is_login_redirect(client.get("/staff/"))
    assert _audit(app, "login.locked")
    clock.move(timedelta(minutes=config.login_lockout_minutes))
    resp = login(client, "bob")
    assert resp.status_code == 302 and client.get("/staff/").status_code == 200
    assert _user(app, bob).failed_logins == 0


def test_disabled_user_cannot_log_in(app, client, bob):
    with app.app_context():
        service.set_active(None, db.session.get(User, bob), False)
    assert login(client, "bob").status_code == 200
    assert is_login_redirect(client.get("/staff/"))


def test_csrf_is_required_for_login_and_logout(app, client, bob):
    assert client.post("/staff/login", data={"username": "bob",
                                             "password": DEFAULT_PASSWORD}).status_code == 400
    assert login(client, "bob").status_code == 302
    assert client.post("/staff/logout").status_code == 400
    assert client.get("/staff/").status_code == 200  # still logged in
    assert client.get("/staff/logout").status_code == 405


def test_password_policy(app, bob):
    with app.app_context():
        user = db.session.get(User, bob)
        with pytest.raises(PasswordPolicyError):
            service.change_password(user, DEFAULT_PASSWORD, "short")
        with pytest.raises(PasswordPolicyError):
            service.check_password_policy("bobbobbobbob", "bobbobbobbob")
        with pytest.raises(LoginFailed):
            service.change_password(user, WRONG, "long enough password")
        with pytest.raises(PasswordPolicyError):
            service.create_user("carol", "Carol", None, [Role.SUPERVISOR], "123456789")


def test_user_validation(app, bob):
    with app.app_context():
        with pytest.raises(InvalidInput):
            service.create_user("bob", "Again", None, [Role.SUPERVISOR], DEFAULT_PASSWORD)
        with pytest.raises(InvalidInput):
            service.create_user("dora", "Dora", None, [Role.INVESTIGATOR], DEFAULT_PASSWORD)
        with pytest.raises(InvalidInput):
            service.create_user("eve", "Eve", None, ["root"], DEFAULT_PASSWORD)
        admin = make_user("boss", None, [Role.ADMIN])
        with pytest.raises(NotAllowed):
            service.set_active(admin, admin, False)
        with pytest.raises(NotAllowed):
            service.set_roles(admin, admin, [Role.SUPERVISOR])
        with pytest.raises(NotAllowed):
            service.set_active(db.session.get(User, bob), admin, False)


# -- TOTP -----------------------------------------------------------------------------------
def _enrol(client) -> str:
    page = client.get("/staff/account/totp").get_data(as_text=True)
    secret = re.search(r'data-secret="([A-Z2-7]+)"', page).group(1)
    assert "otpauth://totp/" in page
    token = csrf_token(client, "/staff/account/totp")
    bad = client.post("/staff/account/totp", data={"code": "000000", "csrf_token": token})
    assert bad.status_code == 200 and 'aria-invalid="true"' in bad.get_data(as_text=True)
    ok = client.post("/staff/account/totp",
                     data={"code": totp_code(secret), "csrf_token": token})
    assert ok.status_code == 302
    return secret


def test_totp_enrolment_and_login(app, client, bob):
    login(client, "bob")
    secret = _enrol(client)
    with app.app_context():
        user = db.session.get(User, bob)
        assert user.totp_enabled and secret.encode() not in user.totp_secret_sealed
    post_form(client, "/staff/logout")

    resp = login(client, "bob")
    assert resp.status_code == 302 and resp.location.endswith("/staff/login/totp")
    assert is_login_redirect(client.get("/staff/"))  # not logged in between the steps
    assert login_totp(client, "123456").status_code == 200
    assert _user(app, bob).failed_logins == 1
    clock.move(timedelta(seconds=31))  # the enrolment code may not be reused
    code = totp_code(secret)
    resp = login_totp(client, code)
    assert resp.status_code == 302 and resp.location.endswith("/staff/")
    assert client.get("/staff/").status_code == 200
    post_form(client, "/staff/logout")
    login(client, "bob")
    assert login_totp(client, code).status_code == 200  # replayed code refused


def test_totp_pending_login_expires(app, client, bob):
    login(client, "bob")
    _enrol(client)
    post_form(client, "/staff/logout")
    login(client, "bob")
    clock.move(timedelta(minutes=6))
    assert is_login_redirect(client.get("/staff/login/totp"))


def test_totp_disable_needs_password(app, client, bob):
    login(client, "bob")
    _enrol(client)
    post_form(client, "/staff/account/totp/disable", {"password": WRONG},
              token_from="/staff/account")
    assert _user(app, bob).totp_enabled
    post_form(client, "/staff/account/totp/disable", {"password": DEFAULT_PASSWORD},
              token_from="/staff/account")
    assert not _user(app, bob).totp_enabled


def test_required_roles_must_enrol_first(app, client, bob):
    app.config["CASEAPP"] = app.config["CASEAPP"].with_(totp_required_roles=("investigator",))
    login(client, "bob")
    for path in ("/staff/", "/staff/account"):
        resp = client.get(path)
        assert resp.status_code == 302 and resp.location.endswith("/staff/account/totp")
    secret = _enrol(client)
    assert client.get("/staff/").status_code == 200
    with app.app_context(), pytest.raises(NotAllowed):
        from caseapp.accounts import totp

        totp.disable(db.session.get(User, bob), DEFAULT_PASSWORD)
    assert secret


def test_temporary_password_must_be_changed_first(app, client, bob):
    with app.app_context():
        service.admin_reset_password(None, db.session.get(User, bob), "temporary-pass-1")
    assert login(client, "bob", "temporary-pass-1").status_code == 302
    resp = client.get("/staff/")
    assert resp.status_code == 302 and resp.location.endswith("/staff/account")
    resp = post_form(client, "/staff/account", {
        "old_password": "temporary-pass-1", "new_password": "my own long password",
        "confirm": "my own long password"}, token_from="/staff/account")
    assert resp.status_code == 302
    assert client.get("/staff/").status_code == 200


def _answers(app: Flask, username: str, config) -> list[tuple[int, str]]:
    """What an attacker sees for a run of wrong passwords, immediate retries and waits."""
    client = app.test_client()
    seen: list[tuple[int, str]] = []

    def attempt() -> None:
        resp = login(client, username, WRONG)
        text = resp.get_data(as_text=True)
        flash = re.search(r'class="flash[^"]*"[^>]*>(.*?)<', text, re.S)
        seen.append((resp.status_code, re.sub(r"\d+", "N", flash.group(1).strip())
                     if flash else ""))

    for n in range(1, config.login_max_failures + 2):
        attempt()
        attempt()  # at once: a real account is in its delay here
        clock.move(timedelta(seconds=2 ** n))
    clock.move(timedelta(minutes=config.login_lockout_minutes))
    attempt()  # after the lock-out
    return seen


def test_unknown_user_name_is_throttled_exactly_like_a_real_one(app, bob, config):
    """No answer tells an existing user name from a made-up one (no enumeration)."""
    real = _answers(app, "bob", config)
    clock.reset()
    made_up = _answers(app, "no-such-officer", config)
    assert real == made_up
    assert any(status == 429 for status, _ in real)  # the run did reach delays and lock-out
    assert sum("locked" in text for _, text in real) >= 1


def test_unknown_user_names_are_throttled_alike_through_redis(app, bob, config, redis_url):
    """With Redis (several web processes), the phantom's state is shared and hashed."""
    import redis as redis_lib

    from caseapp import create_app

    conn = redis_lib.Redis.from_url(redis_url)
    conn.flushdb()
    shared = create_app(config.with_(redis_url=redis_url))
    real = _answers(shared, "bob", config)
    clock.reset()
    made_up = _answers(shared, "no-such-officer", config)
    assert real == made_up
    keys = [k.decode() for k in conn.keys("*")]
    assert any(k.startswith("caseapp:login:phantom:") for k in keys)
    assert not any("no-such-officer" in k for k in keys)  # only an HMAC of the name
    conn.flushdb()
