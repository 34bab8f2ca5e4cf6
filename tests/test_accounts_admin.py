"""Admin pages, the department-lead key page, the staff navigation and the CLI commands."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from sqlalchemy import func, select

from caseapp.accounts import nav
from caseapp.accounts.demo import DEMO_USERS, demo_password
from caseapp.accounts.models import Department, DepartmentKeyGrant, User
from caseapp.accounts.permissions import Permission, Role
from caseapp.crypto.keystore import ESCROW_FILE
from caseapp.extensions import db
from tests.factories import (
    is_login_redirect,
    keyring_for,
    login,
    make_department,
    make_user,
    post_form,
)


@pytest.fixture
def people(app: Flask) -> dict[str, int]:
    with app.app_context():
        make_department("health")
        make_department("public_security")
        return {
            "admin": make_user("admin", None, [Role.ADMIN]).id,
            "lead": make_user("lead", "health", [Role.DEPT_LEAD]).id,
            "ann": make_user("ann", "health", [Role.INVESTIGATOR], grant=False).id,
            "cop": make_user("cop", "public_security", [Role.DEPT_LEAD]).id,
        }


def _client(app: Flask, username: str):
    client = app.test_client()
    assert login(client, username).status_code == 302
    return client


def test_admin_creates_and_edits_a_user(app, people):
    admin = _client(app, "admin")
    assert "ann" in admin.get("/staff/admin/users").get_data(as_text=True)
    resp = post_form(admin, "/staff/admin/users/new", {
        "username": "Zoe", "display_name": "Zoe Zhang", "department": "1",
        "roles": ["investigator", "intake"], "password": "initial-password-1"},
        token_from="/staff/admin/users/new")
    assert resp.status_code == 302
    with app.app_context():
        zoe = db.session.scalar(select(User).where(User.username == "zoe"))
        assert zoe.roles == {"investigator", "intake"} and zoe.must_change_password
        zoe_id = zoe.id
    page = f"/staff/admin/users/{zoe_id}"
    resp = post_form(admin, page, {"display_name": "Zoe Z.", "department": "1",
                                   "roles": ["investigator"], "active": "y"}, token_from=page)
    assert resp.status_code == 302
    with app.app_context():
        zoe = db.session.get(User, zoe_id)
        assert zoe.roles == {"investigator"} and zoe.display_name == "Zoe Z." and zoe.active


def test_admin_form_errors_are_shown(app, people):
    admin = _client(app, "admin")
    resp = post_form(admin, "/staff/admin/users/new", {
        "username": "x1", "display_name": "X", "department": "0",
        "roles": ["investigator"], "password": "initial-password-1"},
        token_from="/staff/admin/users/new")
    assert resp.status_code == 200 and 'class="flash error"' in resp.get_data(as_text=True)


def test_admin_reset_shows_temporary_password_once(app, people):
    admin = _client(app, "admin")
    page = f"/staff/admin/users/{people['lead']}"
    resp = post_form(admin, f"{page}/reset", token_from=page)
    assert resp.status_code == 200
    temp = re.search(r'id="temp-password">([^<]+)<', resp.get_data(as_text=True)).group(1)
    with app.app_context():
        assert not keyring_for(people["lead"], temp).holds(1)
        assert db.session.scalar(select(func.count()).select_from(DepartmentKeyGrant)
                                 .where(DepartmentKeyGrant.user_id == people["lead"])) == 0
    assert login(app.test_client(), "lead", temp).status_code == 302


def test_admin_manages_departments(app, people):
    admin = _client(app, "admin")
    resp = post_form(admin, "/staff/admin/departments/new",
                     {"code": "womens_federation", "name_zh": "妇联",
                      "name_en": "Women's Federation"}, token_from="/staff/admin/departments/new")
    assert resp.status_code == 302
    with app.app_context():
        dept = db.session.scalar(select(Department).where(Department.code == "womens_federation"))
        dept_id = dept.id
        assert len(dept.public_key) > 1000 and dept.escrow_wrap
    page = f"/staff/admin/departments/{dept_id}"
    post_form(admin, page, {"name_zh": "妇女联合会", "name_en": "Women's Federation"},
              token_from=page)
    post_form(admin, f"{page}/active", token_from="/staff/admin/departments")
    with app.app_context():
        dept = db.session.get(Department, dept_id)
        assert dept.name_zh == "妇女联合会" and not dept.active
    assert "妇女联合会" in admin.get("/staff/admin/departments").get_data(as_text=True)


def test_lead_grants_the_key_to_a_member_of_their_own_department(app, people):
    lead = _client(app, "lead")
    page = lead.get("/staff/department/keys").get_data(as_text=True)
    assert f'action="/staff/department/keys/{people["ann"]}"' in page
    resp = post_form(lead, f"/staff/department/keys/{people['ann']}",
                     token_from="/staff/department/keys")
    assert resp.status_code == 302
    with app.app_context():
        assert keyring_for(people["ann"]).holds(1)
    assert "<td>ann</td>" not in lead.get("/staff/department/keys").get_data(as_text=True)


def test_lead_cannot_grant_outside_their_department(app, people):
    cop = _client(app, "cop")
    resp = post_form(cop, f"/staff/department/keys/{people['ann']}",
                     token_from="/staff/department/keys")
    assert resp.status_code == 404
    with app.app_context():
        assert not keyring_for(people["ann"]).holds(1)


def test_staff_nav_follows_permissions(app, people):
    admin = _client(app, "admin").get("/staff/").get_data(as_text=True)
    assert "/staff/admin/users" in admin and "/staff/department/keys" not in admin
    lead = _client(app, "lead").get("/staff/").get_data(as_text=True)
    assert "/staff/admin/users" not in lead and "/staff/department/keys" in lead


def test_add_nav_skips_unknown_endpoints(app, people):
    before = list(nav.NAV)
    try:
        nav.add_nav("Nowhere", "nowhere.index", Permission.SELF_MANAGE)
        nav.add_nav("Nowhere", "nowhere.index", Permission.SELF_MANAGE)
        assert sum(e.endpoint == "nowhere.index" for e in nav.NAV) == 1
        with app.test_request_context("/staff/"):
            from flask_login import login_user

            with app.app_context():
                login_user(db.session.get(User, people["admin"]))
                items = nav.staff_nav()
        assert items and all("nowhere" not in item.url for item in items)
        assert any(item.active for item in items)
    finally:
        nav.NAV[:] = before


# -- CLI ----------------------------------------------------------------------------------
def test_init_is_idempotent_and_reports_the_escrow_file(app, config):
    runner = app.test_cli_runner()
    out = runner.invoke(args=["init"]).output
    assert "already present" in out
    import shutil

    shutil.rmtree(config.keys_dir)
    (config.instance_path / ESCROW_FILE).unlink()
    app.extensions.pop("caseapp_keystore", None)
    out = runner.invoke(args=["init"]).output
    assert str(config.instance_path / ESCROW_FILE) in out and "OFFLINE" in out


def test_demo_is_idempotent_and_grants_keys(app):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["demo"])
    assert first.exit_code == 0, first.output
    assert "Created" in first.output and demo_password("lead") in first.output
    second = runner.invoke(args=["demo"]).output
    assert "Already present" in second and "department health" not in second
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == len(DEMO_USERS)
        for username, _name, dept_code, _roles in DEMO_USERS:
            user = db.session.scalar(select(User).where(User.username == username))
            ring = keyring_for(user, demo_password(username))
            assert ring.holds(user.department_id) if dept_code else user.department_id is None
    client = app.test_client()
    assert login(client, "admin", demo_password("admin")).status_code == 302


def test_user_commands(app, people):
    runner = app.test_cli_runner()
    res = runner.invoke(args=["user", "create", "yan", "--name", "Yan", "--department",
                              "health", "--role", "investigator",
                              "--password", "first-password-1"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(args=["user", "reset", "yan"])
    temp = re.search(r"Temporary password for yan: (\S+)", res.output).group(1)
    assert login(app.test_client(), "yan", temp).status_code == 302
    assert runner.invoke(args=["user", "disable", "yan"]).exit_code == 0
    client = app.test_client()
    login(client, "yan", temp)
    assert is_login_redirect(client.get("/staff/"))
    assert runner.invoke(args=["user", "reset", "ghost"]).exit_code != 0


def test_keys_commands(app, people, config):
    runner = app.test_cli_runner()
    escrow = str(config.instance_path / ESCROW_FILE)
    res = runner.invoke(args=["keys", "grant", "--escrow-key", escrow, "--department",
                              "health", "--user", "ann"])
    assert res.exit_code == 0, res.output
    with app.app_context():
        assert keyring_for(people["ann"]).holds(1)
    assert "New blind-index key" in runner.invoke(args=["keys", "rotate-index"]).output
    assert "New signing key" in runner.invoke(args=["keys", "rotate-signing"]).output
    res = runner.invoke(args=["keys", "rotate-escrow", "--old-escrow-key", escrow])
    assert res.exit_code == 0, res.output
    new_file = re.search(r"written to (\S+);", res.output).group(1)
    assert new_file != escrow and "Re-wrapped 2 department keys" in res.output
    res = runner.invoke(args=["keys", "rotate-escrow", "--old-escrow-key", escrow])
    assert "Resuming" in res.output and "Re-wrapped 0" in res.output
    res = runner.invoke(args=["keys", "grant", "--escrow-key", new_file, "--department",
                              "public_security", "--user", "cop"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(args=["keys", "grant", "--escrow-key", escrow, "--department",
                              "health", "--user", "lead"])
    assert res.exit_code != 0
