"""Audit log: the hash chain, tamper detection, PostgreSQL refusal, CLI, queries and page."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_login import AnonymousUserMixin, UserMixin
from sqlalchemy import exc as sa_exc
from sqlalchemy import func, select, text

from caseapp import clock
from caseapp.accounts.permissions import Permission, Role
from caseapp.audit.models import GENESIS_HASH, AuditEntry, AuditHead
from caseapp.audit.service import (
    AuditError,
    entries,
    record,
    timeline,
    verify_chain,
)
from caseapp.extensions import db


class FakeUser(UserMixin):
    """A duck-typed actor for `record` (id, username): the log needs no accounts row."""

    def __init__(self, uid: int, username: str, perms: frozenset[Permission] = frozenset()):
        self.id = uid
        self.username = username
        self.perms = perms

    def can(self, permission: Permission) -> bool:
        return permission in self.perms


@pytest.fixture
def ctx(app: Flask) -> Iterator[None]:
    """The test body runs inside an app context."""
    with app.app_context():
        yield


PASSWORD = "correct horse battery staple"


def login(client: FlaskClient, app: Flask, username: str, roles: list[str]) -> None:
    """Create a staff user with `roles` and log in through the real login form."""
    from caseapp.accounts import service

    with app.app_context():
        service.create_user(username, username.title(), None, roles, PASSWORD)
    page = client.get("/staff/login").get_data(as_text=True)
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert match, "login form without a CSRF token"
    resp = client.post("/staff/login", data={"username": username, "password": PASSWORD,
                                              "csrf_token": match.group(1)})
    assert resp.status_code == 302, resp.get_data(as_text=True)


ALICE = FakeUser(7, "alice")


def _fill(n: int = 5) -> None:
    for i in range(n):
        record("case.state_changed", actor=ALICE, object_type="case", object_id=i % 2 + 1,
               detail={"i": i, "to": "open"})
        db.session.commit()


def _raw(sql: str, **params: object) -> None:
    """Run SQL as the table owner would, bypassing the PostgreSQL triggers (an attacker)."""
    db.session.remove()
    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(text(sql), params)


def test_chain_grows_and_verifies(ctx: None) -> None:
    assert verify_chain().ok and verify_chain().checked == 0
    _fill(5)
    rows = db.session.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars().all()
    assert [r.seq for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in zip(rows, rows[1:], strict=False))
    assert rows[0].actor_id == 7 and rows[0].actor_name == "alice"
    head = db.session.get(AuditHead, 1)
    assert head is not None and head.seq == 5 and head.last_hash == rows[-1].hash
    result = verify_chain()
    assert result.ok and result.checked == 5 and result.head_hash == rows[-1].hash


def test_entry_rolls_back_with_the_callers_change(ctx: None) -> None:
    record("key.granted", actor=ALICE, object_type="department", object_id=3)
    db.session.rollback()
    assert db.session.scalar(select(func.count(AuditEntry.id))) == 0
    entry = record("key.granted", actor=ALICE, object_type="department", object_id=3,
                   commit=True)
    assert entry.seq == 1 and verify_chain().ok


def test_actor_kinds_and_detail_guard(ctx: None) -> None:
    system = record("job.failed")
    anon = record("login.failure", actor=AnonymousUserMixin(), detail={"username_hash": "ab"})
    assert (system.actor_id, system.actor_name) == (None, "system")
    assert (anon.actor_id, anon.actor_name) == (None, "anonymous")
    with pytest.raises(AuditError):
        record("content.opened", detail={"blob": b"bytes"})
    with pytest.raises(AuditError):
        record("content.opened", detail={"text": "x" * 5000})
    db.session.commit()
    assert verify_chain().checked == 2


@pytest.mark.parametrize("column, value", [
    ("actor_name", "mallory"),
    ("detail", '{"i":2,"to":"closed"}'),
    ("hash", "f" * 64),
    ("action", "login.success"),
    ("object_id", "99"),
])
def test_editing_a_row_breaks_verify_at_that_seq(ctx: None, column: str, value: str) -> None:
    _fill(5)
    _raw(f"UPDATE audit_entries SET {column} = :v WHERE seq = 3", v=value)
    result = verify_chain()
    assert not result.ok and result.first_bad_seq == 3, result
    assert result.checked == 2


def test_deleting_a_middle_row_breaks_verify(ctx: None) -> None:
    _fill(5)
    _raw("DELETE FROM audit_entries WHERE seq = 3")
    result = verify_chain()
    assert not result.ok and result.first_bad_seq == 3 and "missing" in result.reason


def test_deleting_the_last_row_breaks_verify(ctx: None) -> None:
    _fill(5)
    _raw("DELETE FROM audit_entries WHERE seq = 5")
    result = verify_chain()
    assert not result.ok and result.first_bad_seq == 5 and "tail" in result.reason


def test_rewriting_a_hash_to_match_still_breaks_the_next_link(ctx: None) -> None:
    from caseapp.audit.service import entry_hash

    _fill(4)
    row = db.session.execute(select(AuditEntry).where(AuditEntry.seq == 2)).scalar_one()
    forged = entry_hash(seq=2, created_at=row.created_at, actor_id=row.actor_id,
                        actor_name="mallory", action=row.action, object_type=row.object_type,
                        object_id=row.object_id, detail=row.detail, prev_hash=row.prev_hash)
    _raw("UPDATE audit_entries SET actor_name = 'mallory', hash = :h WHERE seq = 2", h=forged)
    result = verify_chain()
    assert not result.ok and result.first_bad_seq == 3 and "link" in result.reason


@pytest.mark.postgres_only
@pytest.mark.parametrize("sql", [
    "UPDATE audit_entries SET actor_name = 'mallory' WHERE seq = 2",
    "DELETE FROM audit_entries WHERE seq = 2",
    "TRUNCATE audit_entries",
    "UPDATE audit_head SET seq = 1, last_hash = 'x'",
    "DELETE FROM audit_head",
])
def test_postgres_refuses_update_delete_truncate(ctx: None, sql: str) -> None:
    _fill(3)
    db.session.remove()
    with pytest.raises(sa_exc.DBAPIError) as info, db.engine.begin() as conn:
        conn.execute(text(sql))
    assert "refused" in str(info.value.orig)
    assert verify_chain().ok and verify_chain().checked == 3


@pytest.mark.postgres_only
def test_owner_who_disables_the_trigger_is_still_caught(ctx: None) -> None:
    _fill(3)
    db.session.remove()
    with db.engine.begin() as conn:
        conn.execute(text("ALTER TABLE audit_entries DISABLE TRIGGER USER"))
        conn.execute(text("UPDATE audit_entries SET detail = '{}' WHERE seq = 2"))
        conn.execute(text("ALTER TABLE audit_entries ENABLE TRIGGER USER"))
    result = verify_chain()
    assert not result.ok and result.first_bad_seq == 2


def test_concurrent_appends_stay_contiguous(app: Flask) -> None:
    def worker(n: int) -> None:
        with app.app_context():
            for i in range(8):
                record("test.concurrent", object_type="thread", object_id=n, detail={"i": i},
                       commit=True)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with app.app_context():
        result = verify_chain()
        assert result.ok and result.checked == 32


def test_cli_verify(app: Flask) -> None:
    runner = app.test_cli_runner()
    with app.app_context():
        _fill(3)
    ok = runner.invoke(args=["audit", "verify"])
    assert ok.exit_code == 0 and "audit log OK: 3 entries" in ok.output
    with app.app_context():
        _raw("UPDATE audit_entries SET actor_name = 'mallory' WHERE seq = 2")
    broken = runner.invoke(args=["audit", "verify"])
    assert broken.exit_code == 1
    assert "audit log BROKEN at entry #2 (id " in broken.output


def test_entries_filters_and_pages(ctx: None) -> None:
    bob = FakeUser(8, "Bob")
    record("login.success", actor=ALICE)
    clock.move(timedelta(days=2))
    record("content.opened", actor=bob, object_type="case", object_id=5)
    record("case.state_changed", actor=bob, object_type="case", object_id=5)
    record("content.opened", actor=ALICE, object_type="tip", object_id=5)
    db.session.commit()
    today = clock.now().date()
    assert [e.seq for e in entries().items] == [4, 3, 2, 1]
    assert [e.seq for e in entries(actor_id=8).items] == [3, 2]
    assert [e.seq for e in entries(actor_name="bob").items] == [3, 2]
    assert [e.seq for e in entries(object_type="case", object_id="5").items] == [3, 2]
    assert [e.seq for e in entries(action="content.opened").items] == [4, 2]
    assert [e.seq for e in entries(action="content.*").items] == [4, 2]
    assert [e.seq for e in entries(date_from=today).items] == [4, 3, 2]
    assert [e.seq for e in entries(date_to=today - timedelta(days=1)).items] == [1]
    page = entries(page=2, per_page=3)
    assert [e.seq for e in page.items] == [1] and page.total == 4 and page.pages == 2
    assert [e.seq for e in timeline("case", 5)] == [2, 3]


def test_page_redirects_anonymous_to_login(client: FlaskClient) -> None:
    resp = client.get("/staff/audit/")
    assert resp.status_code == 302
    assert "/staff/login" in resp.headers["Location"]


def test_page_lists_and_filters_for_auditor(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        record("login.success", actor=FakeUser(3, "<script>x</script>"))
        record("content.opened", actor=ALICE, object_type="case", object_id=12,
               detail={"field": "<b>narrative</b>"})
        db.session.commit()
    login(client, app, "audrey", [Role.AUDITOR])
    resp = client.get("/staff/audit/?lang=en")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert "<script>x</script>" not in html and "&lt;script&gt;" in html
    assert "<b>narrative</b>" not in html and "content.opened" in html
    assert 'href="/staff/audit/' in html  # the menu entry
    resp = client.get("/staff/audit/?lang=en&object_type=case&object_id=12&user=alice")
    html = resp.get_data(as_text=True)
    assert "content.opened" in html and "login.success" not in html
    resp = client.get("/staff/audit/?lang=en&date_from=not-a-date")
    assert resp.status_code == 200


def test_page_denied_without_permission_is_audited(app: Flask, client: FlaskClient) -> None:
    login(client, app, "ivan", [Role.SUPERVISOR])
    assert client.get("/staff/audit/").status_code == 403
    with app.app_context():
        denied = entries(action="access.denied").items
        assert len(denied) == 1 and denied[0].actor_name == "ivan"
        assert denied[0].object_id == "audit.index"
