"""Every endpoint × every method × every principal against the expected table.

The table (tests/security/access_table.py) is the product's intent. A route in `app.url_map`
without an entry, an entry without a route, or a method mismatch fails; so does any answer
that differs from the table: a refusal where the table allows, or anything but the refusal
(`access_table.denial`) where it does not. One app and one world per backend; each
principal logs in once (sessions that a request would end — logout, leave — are fresh).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import Rule
from werkzeug.test import TestResponse

from tests import factories

from . import access_table as table
from .conftest import SecWorld, staff_client, tipster_client

IGNORED_METHODS = {"HEAD", "OPTIONS"}
# requests that end the session they are sent with: each one gets a fresh session
ENDS_SESSION = {"accounts.logout", "tips.leave"}
# allowed GETs whose normal answer is an error status, with the reason
GET_ERROR_OK: dict[str, str] = {}


@dataclass
class Principal:
    """A browser: its client and the CSRF token of its session."""

    name: str
    client: FlaskClient
    token: str


def rule_methods(rule: Rule) -> set[str]:
    """The methods a rule answers (HEAD and OPTIONS aside)."""
    return set(rule.methods or ()) - IGNORED_METHODS


def routed(app: Flask) -> dict[str, set[str]]:
    """endpoint → methods of every rule in the URL map (static aside)."""
    found: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint not in table.SKIPPED:
            found.setdefault(rule.endpoint, set()).update(rule_methods(rule))
    return found


def sign_in(app: Flask, world: SecWorld, name: str) -> Principal:
    """A fresh session of the principal, with its CSRF token."""
    if name == table.ANONYMOUS:
        client = app.test_client()
        return Principal(name, client, factories.csrf_token(client, "/staff/login"))
    if name == table.TIPSTER:
        client = tipster_client(app, world.a.reward_receipt)
        return Principal(name, client, factories.csrf_token(client, "/follow-up/tip"))
    client = staff_client(app, world.usernames[name])
    return Principal(name, client, factories.csrf_token(client, "/staff/"))


@pytest.fixture(scope="module")
def principals(module_app: Flask, module_world: SecWorld) -> dict[str, Principal]:
    """Every principal, signed in once for the module."""
    return {name: sign_in(module_app, module_world, name) for name in table.PRINCIPALS}


def placeholders(endpoint: str, w: SecWorld) -> dict[str, Any]:
    """Existing objects for the URL's variables (the role users are members of case A)."""
    values: dict[str, Any] = {
        "case_id": w.a.case, "evidence_id": w.a.evidence, "task_id": w.a.task,
        "action_id": w.a.action, "disposition_id": w.a.disposition, "decision": "refuse",
        "request_id": 1, "dept_id": w.b.dept, "tip_id": w.a.tip, "reward_id": w.a.reward,
        "notification_id": 1, "user_id": w.spare_user, "name": "tips_by_category",
        "file_id": w.a.tip_file,
    }
    if endpoint.startswith("admin."):
        values["dept_id"] = w.spare_department
    return values


def url_of(app: Flask, endpoint: str, w: SecWorld) -> str:
    """The endpoint's URL with placeholder values for its variables."""
    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint)
    args = {k: v for k, v in placeholders(endpoint, w).items() if k in rule.arguments}
    missing = set(rule.arguments) - set(args)
    assert not missing, f"no placeholder for {missing} of {endpoint}"
    with app.test_request_context():
        from flask import url_for

        return url_for(endpoint, **args)


def send(who: Principal, method: str, url: str) -> TestResponse:
    """The request with the principal's session and, for non-GET, its CSRF token."""
    if method == "GET":
        resp = who.client.get(url)
    else:
        resp = who.client.open(url, method=method, data={"csrf_token": who.token})
    resp.get_data()
    resp.close()  # a streamed download keeps its request context until closed
    return resp


def guard_redirect(resp: TestResponse) -> bool:
    """The guard's answer to a browser without a staff login: to the login form, with next."""
    return (resp.status_code == 302 and "/staff/login" in (resp.location or "")
            and "next=" in (resp.location or ""))


def verdict(endpoint: str, method: str, principal: str, resp: TestResponse) -> str | None:
    """None when the answer matches the table; otherwise what is wrong."""
    code = resp.status_code
    if principal in table.allowed(endpoint, method):
        if code in (401, 403) or guard_redirect(resp):
            return f"allowed but refused ({code} {resp.location or ''})"
        if code >= 500:
            return f"allowed but failed ({code})"
        if method == "GET" and code >= 400 and endpoint not in GET_ERROR_OK:
            return f"allowed GET answered {code}"
        return None
    expected = table.denial(endpoint, principal)
    if expected == "login" and guard_redirect(resp):
        return None
    if expected == str(code):
        return None
    return f"should be refused ({expected}) but answered {code} {resp.location or ''}"


def test_table_names_every_route_and_method(module_app: Flask) -> None:
    """A new route, a removed route or a changed method must be reflected in the table."""
    routes = routed(module_app)
    assert sorted(set(routes) - set(table.TABLE)) == [], "routes missing from access_table"
    assert sorted(set(table.TABLE) - set(routes)) == [], "table entries without a route"
    wrong = {e: (sorted(m), sorted(table.TABLE[e])) for e, m in routes.items()
             if m != set(table.TABLE[e])}
    assert wrong == {}, "methods differ between url_map and access_table"


def test_the_guard_declares_every_staff_endpoint(module_app: Flask) -> None:
    """Deny by default: every endpoint is public or names a permission (none is None)."""
    from caseapp.security import required_permission

    undeclared = [e for e in routed(module_app) if required_permission(module_app, e) is None]
    assert undeclared == []
    public = {e for e in routed(module_app) if required_permission(module_app, e) is True}
    assert public == set(table.PUBLIC_ENDPOINTS) | table.RECEIPT_PAGES


@pytest.mark.parametrize("endpoint", sorted(table.TABLE))
def test_endpoint_answers_every_principal_as_the_table_says(
        module_app: Flask, module_world: SecWorld, principals: dict[str, Principal],
        endpoint: str) -> None:
    """Each method of the endpoint, requested by each principal, is allowed or refused."""
    url = url_of(module_app, endpoint, module_world)
    problems = []
    for method in sorted(routed(module_app)[endpoint]):
        for name in table.PRINCIPALS:
            who = (sign_in(module_app, module_world, name) if endpoint in ENDS_SESSION
                   else principals[name])
            resp = send(who, method, url)
            problem = verdict(endpoint, method, name, resp)
            if problem:
                problems.append(f"{method} {url} as {name}: {problem}")
    assert problems == []


def test_principals_are_who_they_claim(module_app: Flask, principals: dict[str, Principal]
                                       ) -> None:
    """Sanity of the matrix: the shared sessions are still signed in as themselves."""
    for name, who in principals.items():
        resp = who.client.get("/staff/")
        if name in table.STAFF:
            assert resp.status_code == 200, name
        else:
            assert guard_redirect(resp), name
    assert principals[table.TIPSTER].client.get("/follow-up/tip").status_code == 200
