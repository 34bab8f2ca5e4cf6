"""The exact role × permission table, and every staff route denied by default."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.routing.converters import NumberConverter

from caseapp import create_app
from caseapp.accounts.permissions import (
    ROLE_PERMISSIONS,
    Permission,
    Role,
    permissions_for,
    public,
    require,
)
from caseapp.config import Config
from caseapp.security import required_permission
from tests.conftest import FAST_KDF
from tests.factories import csrf_token, is_login_redirect, login, make_role_users

P = Permission
EXPECTED: dict[Role, set[Permission]] = {
    Role.ADMIN: {P.SELF_MANAGE, P.USERS_MANAGE, P.DEPARTMENTS_MANAGE, P.JOBS_READ},
    Role.INTAKE: {P.SELF_MANAGE, P.TIPS_READ, P.TIPS_REGISTER, P.TIPS_DECIDE},
    Role.INVESTIGATOR: {P.SELF_MANAGE, P.CASES_READ, P.CASES_WRITE, P.DISPOSITION_PROPOSE},
    Role.DEPT_LEAD: {P.SELF_MANAGE, P.CASES_READ, P.CASES_WRITE, P.CASES_MANAGE,
                     P.DISPOSITION_PROPOSE, P.DISPOSITION_APPROVE, P.KEYS_GRANT},
    Role.FINANCE_OFFICER: {P.SELF_MANAGE, P.REWARDS_READ, P.REWARDS_VERIFY, P.REWARDS_PAY,
                           P.LEDGER_READ},
    Role.FINANCE_APPROVER: {P.SELF_MANAGE, P.REWARDS_READ, P.REWARDS_APPROVE, P.REWARDS_PAY,
                            P.LEDGER_READ},
    Role.SUPERVISOR: {P.SELF_MANAGE, P.STATS_READ},
    Role.AUDITOR: {P.SELF_MANAGE, P.AUDIT_READ},
}


def test_role_permission_table_is_exact():
    assert {role: set(perms) for role, perms in ROLE_PERMISSIONS.items()} == EXPECTED


def test_every_permission_is_granted_to_some_role():
    granted = set().union(*EXPECTED.values())
    assert granted == set(Permission)


def test_permissions_for_unions_and_ignores_unknown_roles():
    assert permissions_for(["supervisor", "auditor"]) == frozenset(
        EXPECTED[Role.SUPERVISOR] | EXPECTED[Role.AUDITOR])
    assert permissions_for(["root", ""]) == frozenset()


def test_markers():
    @require(P.AUDIT_READ)
    def a() -> None: ...

    @public
    def b() -> None: ...

    assert a._caseapp_permission == P.AUDIT_READ
    assert b._caseapp_public is True


# -- every route of the app ---------------------------------------------------------------
def _routes() -> list[tuple[str, str, str]]:
    """(endpoint, path with dummy arguments, method) of every non-public route."""
    inst = Path(tempfile.mkdtemp(prefix="caseapp-routes-"))
    app = create_app(Config(instance_path=inst, database_url=f"sqlite:///{inst / 'r.db'}",
                            secret_key="x", testing=True, password_kdf=FAST_KDF,
                            receipt_kdf=FAST_KDF))
    found = []
    for rule in app.url_map.iter_rules():
        if required_permission(app, rule.endpoint) is True:
            continue
        path = rule.rule
        for arg, conv in rule._converters.items():
            value = "1" if isinstance(conv, NumberConverter) else "x"
            path = _fill(path, arg, value)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((rule.endpoint, path, method))
    return found


def _fill(path: str, arg: str, value: str) -> str:
    return re.sub(r"<(?:[^:<>]+:)?" + re.escape(arg) + r">", value, path)


ROUTES = _routes()


def _call(client, path: str, method: str, token: str):
    if method == "GET":
        return client.get(path)
    return client.open(path, method=method, data={"csrf_token": token})


def test_routes_were_found():
    endpoints = {endpoint for endpoint, _p, _m in ROUTES}
    assert {"accounts.home", "accounts.logout", "admin.users", "admin.user_edit"} <= endpoints
    assert "accounts.login" not in endpoints  # public


@pytest.mark.parametrize(("endpoint", "path", "method"), ROUTES,
                         ids=[f"{m} {p}" for _e, p, m in ROUTES])
def test_staff_route_is_denied_by_default(app: Flask, endpoint: str, path: str, method: str):
    need = required_permission(app, endpoint)
    assert isinstance(need, Permission), f"{endpoint} declares no permission"

    anonymous = app.test_client()
    token = csrf_token(anonymous, "/staff/login")
    resp = _call(anonymous, path, method, token)
    assert is_login_redirect(resp), (endpoint, resp.status_code)

    with app.app_context():
        users = {role: user.username for role, user in make_role_users().items()}
    clients = {}
    for role, username in users.items():
        client = app.test_client()
        assert login(client, username).status_code == 302
        clients[role] = (client, csrf_token(client, "/staff/"))

    lacking = [role for role in Role if need not in ROLE_PERMISSIONS[role]]
    for role in lacking:
        client, token = clients[role]
        resp = _call(client, path, method, token)
        assert resp.status_code == 403, (role, endpoint, method, resp.status_code)
    if method == "GET":  # requests that change nothing: roles holding the permission pass
        for role in Role:
            if role in lacking:
                continue
            client, token = clients[role]
            resp = _call(client, path, method, token)
            assert resp.status_code not in (400, 403) and resp.status_code < 500, (role, endpoint)
            assert not is_login_redirect(resp), (role, endpoint)
