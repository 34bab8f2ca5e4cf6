"""Test helpers: departments and users with real keys, and logging a test client in.

Row factories need an active app context (`with app.app_context(): ...`) and commit;
the objects they return are refreshed, so their columns, department and roles stay
readable after the context ends (use ids to reload them in a later context).

Client helpers fetch the real CSRF token from a page: CSRF protection stays on.
Do not call client helpers inside an app context you keep open: the request would
share that context's database session.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from flask import Flask, current_app
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from caseapp.accounts import keys as account_keys
from caseapp.accounts import service
from caseapp.accounts.keys import Keyring
from caseapp.accounts.models import Department, User
from caseapp.accounts.permissions import Role
from caseapp.accounts.totp import current_code
from caseapp.crypto import PrivateKey, read_escrow_file, unlock_user_key
from caseapp.crypto.keystore import ESCROW_FILE
from caseapp.extensions import db

DEFAULT_PASSWORD = "pw-correct-horse-battery"
COOKIE = "caseapp_session"
_TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')

DEPARTMENT_NAMES = {
    "health": ("卫生健康委", "Health Commission"),
    "family_planning": ("人口计生", "Population and Family Planning"),
    "public_security": ("公安局", "Public Security Bureau"),
    "drug_admin": ("药品监督管理局", "Drug Administration"),
    "market_regulation": ("市场监督管理局", "Market Regulation Administration"),
    "finance": ("财政局", "Finance Bureau"),
    "discipline": ("纪检监察", "Discipline Inspection and Supervision"),
}
# the department a role's user is put in by `make_role_users` (None: no department)
ROLE_DEPARTMENT: dict[Role, str | None] = {
    Role.ADMIN: None,
    Role.INTAKE: "health",
    Role.INVESTIGATOR: "health",
    Role.DEPT_LEAD: "health",
    Role.FINANCE_OFFICER: "finance",
    Role.FINANCE_APPROVER: "finance",
    Role.SUPERVISOR: None,
    Role.AUDITOR: None,
}


# -- rows (inside an app context) -----------------------------------------------------
def _refresh(obj: Any) -> Any:
    db.session.refresh(obj)
    return obj


def escrow_key() -> tuple[str, PrivateKey]:
    """(key id, private key) of the escrow file `ensure_keystore()` wrote for this test."""
    return read_escrow_file(current_app.config["CASEAPP"].instance_path / ESCROW_FILE)


def make_department(code: str = "health", name_zh: str | None = None,
                    name_en: str | None = None) -> Department:
    """The department `code`, created (with its key pair) when missing."""
    dept = db.session.scalar(select(Department).where(Department.code == code))
    if dept is None:
        zh, en = DEPARTMENT_NAMES.get(code, (code, code))
        dept = account_keys.create_department(code, name_zh or zh, name_en or en)
    return _refresh(dept)


def _as_department(department: Department | str | None) -> Department | None:
    if department is None or isinstance(department, Department):
        return department
    return make_department(department)


def grant_key(department: Department | str, user: User) -> None:
    """Give `user` the department key through the escrow key (bootstrap path)."""
    dept = _as_department(department)
    assert dept is not None
    kid, private = escrow_key()
    account_keys.escrow_grant(private, kid, dept.id, db.session.merge(user))


def make_user(username: str, department: Department | str | None = "health",
              roles: Iterable[str] = (Role.INVESTIGATOR,), password: str = DEFAULT_PASSWORD,
              *, grant: bool = True, display_name: str | None = None,
              must_change_password: bool = False) -> User:
    """A user with a real key pair; with `grant`, also the department key (via escrow)."""
    dept = _as_department(department)
    user = service.create_user(username, display_name or username.title(), dept,
                               [str(r) for r in roles], password,
                               must_change_password=must_change_password)
    if grant and dept is not None:
        grant_key(dept, user)
    return _refresh(user)


def make_role_users(prefix: str = "", password: str = DEFAULT_PASSWORD) -> dict[Role, User]:
    """One user per role (named after the role), each in `ROLE_DEPARTMENT[role]`, keys granted."""
    return {role: make_user(f"{prefix}{role.value}", ROLE_DEPARTMENT[role], [role], password)
            for role in Role}


def user_private_key(user: User | int, password: str = DEFAULT_PASSWORD) -> PrivateKey:
    """Unlock a user's private key with the password (as login does)."""
    row = db.session.get(User, user if isinstance(user, int) else user.id)
    assert row is not None
    return unlock_user_key(row.private_key_wrapped, row.key_salt, password, row.id,
                           row.kdf_params)


def keyring_for(user: User | int, password: str = DEFAULT_PASSWORD) -> Keyring:
    """The keyring the user would have after logging in."""
    row = db.session.get(User, user if isinstance(user, int) else user.id)
    return Keyring(row, user_private_key(user, password))


# -- clients (outside an app context) ---------------------------------------------------
def csrf_token(client: FlaskClient, path: str = "/staff/login") -> str:
    """The CSRF token of the client's session, read from a page's form."""
    resp = client.get(path)
    match = _TOKEN.search(resp.get_data(as_text=True))
    assert match, f"no CSRF token on {path} (status {resp.status_code})"
    return match.group(1)


def login(client: FlaskClient, username: str, password: str = DEFAULT_PASSWORD, *,
          next: str | None = None) -> TestResponse:
    """Submit the login form (real CSRF token); returns the POST response (not followed)."""
    token = csrf_token(client, "/staff/login")
    data = {"username": username, "password": password, "csrf_token": token}
    if next is not None:
        data["next"] = next
    return client.post("/staff/login", data=data)


def login_totp(client: FlaskClient, code: str) -> TestResponse:
    """Submit the second login step."""
    token = csrf_token(client, "/staff/login/totp")
    return client.post("/staff/login/totp", data={"code": code, "csrf_token": token})


def totp_code(secret: str) -> str:
    """The code an authenticator shows at `caseapp.clock.now()`."""
    return current_code(secret)


def post_form(client: FlaskClient, path: str, data: Mapping[str, Any] | None = None, *,
              token_from: str = "/staff/", **kwargs: Any) -> TestResponse:
    """POST with the session's CSRF token (read from `token_from`, a page with a form)."""
    payload = dict(data or {})
    payload["csrf_token"] = csrf_token(client, token_from)
    return client.post(path, data=payload, **kwargs)


def logout(client: FlaskClient) -> TestResponse:
    """Log out through the real form."""
    return post_form(client, "/staff/logout")


def session_cookie(client: FlaskClient) -> str | None:
    """The value of the client's session cookie."""
    cookie = client.get_cookie(COOKIE)
    return cookie.value if cookie else None


def client_with_cookie(app: Any, value: str) -> FlaskClient:
    """A fresh client that replays a copied session cookie."""
    other = app.test_client()
    other.set_cookie(COOKIE, value)
    return other


def is_login_redirect(resp: TestResponse) -> bool:
    """True when the response sends the browser to the staff login page."""
    return resp.status_code == 302 and "/staff/login" in (resp.location or "")


def burst(application: Flask) -> None:
    """Run an rq worker in this process until the queue is empty."""
    from rq import SimpleWorker

    from caseapp.jobs.outbox import rq_queue
    from caseapp.jobs.runner import set_app

    set_app(application)  # jobs run in this app, outside any app context
    queue = rq_queue(application)
    SimpleWorker([queue], connection=queue.connection).work(burst=True)
