"""SQL injection: hostile values in every query-string parameter, filter and sort the staff
lists accept, on SQLite and PostgreSQL.

Each request must answer without a server error, show no more rows than the honest,
unfiltered list, and leave every table as it was.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from caseapp.extensions import db

from . import payloads as p
from .conftest import SecWorld, staff_client

# (who, path, parameters the view reads); the lang parameter is read on every page
TARGETS: list[tuple[str, str, tuple[str, ...]]] = [
    ("intake", "/staff/intake", ("status", "page", "sort", "order")),
    ("intake", "/staff/intake/search", ("kind", "value")),
    ("investigator", "/staff/cases", ("status", "page", "sort", "order")),
    ("investigator", "/staff/cases/tasks", ("status", "sort")),
    ("supervisor", "/staff/stats", ("from", "to", "district")),
    ("supervisor", "/staff/stats/outcomes.csv", ("from", "to", "district")),
    ("auditor", "/staff/audit/", ("user", "object_type", "object_id", "action", "date_from",
                                  "date_to", "page")),
    ("finance_officer", "/staff/rewards/", ("state",)),
    ("finance_officer", "/staff/rewards/ledger", ("date_from", "date_to", "district")),
    ("finance_officer", "/staff/rewards/ledger.csv", ("date_from", "date_to", "district")),
    ("admin", "/staff/admin/users", ("page", "q", "sort")),
    ("admin", "/staff/admin/departments", ("page", "q", "sort")),
    ("admin", "/staff/admin/jobs", ("status", "page")),
    ("dept_lead", "/staff/department/keys", ("user",)),
    ("auditor", "/staff/notifications/", ("page",)),
    ("", "/cases-handled", ("page",)),
]


# the honest query that shows the most rows, when it is not the bare path
BROADEST = {"/staff/cases": {"status": "all"}, "/staff/rewards/": {"state": "all"}}
# tables that reading pages may write to (audit trail, sessions, jobs, counters)
BOOKKEEPING = {"audit_entries", "audit_head", "server_sessions", "outbox_jobs", "notifications",
               "periodic_runs", "stats_cells", "stats_state", "tip_portal_counters",
               "retention_locks", "tip_key_wraps", "case_key_wraps"}


def _rows(resp: Any) -> int:
    """Table rows of an HTML page, or lines of a CSV."""
    text = resp.get_data(as_text=True)
    if resp.mimetype == "text/csv":
        return len(text.strip().splitlines())
    return text.count("<tr")


def _table_counts(app: Flask) -> dict[str, int]:
    with app.app_context():
        counts = {t.name: int(db.session.scalar(select(func.count()).select_from(t)) or 0)
                  for t in db.metadata.sorted_tables if t.name not in BOOKKEEPING}
        db.session.remove()
    return counts


def _client(app: Flask, who: str) -> Any:
    return staff_client(app, who) if who else app.test_client()


@pytest.mark.parametrize("who, path, params", TARGETS, ids=[t[1] for t in TARGETS])
def test_hostile_parameters(module_app: Flask, module_world: SecWorld, who: str, path: str,
                            params: tuple[str, ...]) -> None:
    client = _client(module_app, who)
    honest = client.get(path)
    assert honest.status_code == 200, (path, honest.status_code)
    most = _rows(honest)
    if path in BROADEST:
        most = max(most, _rows(client.get(path, query_string=BROADEST[path])))
    before = _table_counts(module_app)
    for name in (*params, "lang"):
        for value in p.SQLI:
            resp = client.get(path, query_string={name: value})
            assert resp.status_code in (200, 400, 404), (path, name, value[:40],
                                                          resp.status_code)
            if resp.status_code == 200:
                assert _rows(resp) <= most, (path, name, value[:40])
                assert "Traceback" not in resp.get_data(as_text=True)
    resp = client.get(path, query_string={n: p.SQLI[0] for n in params})
    assert resp.status_code in (200, 400, 404), (path, resp.status_code)
    assert _table_counts(module_app) == before


@pytest.mark.parametrize("path", [
    "/staff/cases/1%20OR%201=1", "/staff/cases/-1", "/staff/cases/99999999999999999999",
    "/staff/intake/tips/1'--", "/staff/intake/tips/0x1", "/staff/rewards/1;DROP%20TABLE%20tips",
    "/staff/stats/outcomes'%20OR%20'1'='1.csv", "/staff/admin/users/1%00",
    "/staff/cases/1/evidence/1%20UNION%20SELECT%201",
])
def test_hostile_ids_in_paths_are_404(module_app: Flask, module_world: SecWorld,
                                      path: str) -> None:
    who = "admin" if "/admin/" in path else ("supervisor" if "/stats/" in path else
                                             "finance_officer" if "/rewards/" in path
                                             else "intake" if "/intake/" in path
                                             else "investigator")
    client = staff_client(module_app, who)
    before = _table_counts(module_app)
    resp = client.get(path)
    assert resp.status_code == 404, (path, resp.status_code)
    assert _table_counts(module_app) == before


def test_search_by_hostile_value_finds_nothing(module_app: Flask,
                                               module_world: SecWorld) -> None:
    """A blind-index search with an injection string matches no tip or case."""
    client = staff_client(module_app, "intake")
    honest = client.get("/staff/intake/search", query_string={"kind": "phone",
                                                               "value": "13800138000"})
    assert honest.status_code == 200
    for value in p.SQLI:
        for kind in ("clinic", "phone", "address"):
            resp = client.get("/staff/intake/search", query_string={"kind": kind,
                                                                     "value": value})
            assert resp.status_code in (200, 400), (kind, value[:40], resp.status_code)
            html = resp.get_data(as_text=True)
            assert "/staff/intake/tips/" not in html and "/staff/cases/" not in html.replace(
                "/staff/cases/tasks", ""), (kind, value[:40])


def test_hostile_form_values_on_posts_do_not_break_or_widen(module_app: Flask,
                                                           module_world: SecWorld) -> None:
    """Ids typed into forms (link to case, assignee, department) go through the ORM only."""
    from tests import factories

    client = staff_client(module_app, "dept_lead")
    case = f"/staff/cases/{module_world.a.case}"
    before = _table_counts(module_app)
    for value in p.SQLI[:8]:
        for path, data in ((f"{case}/tasks", {"t-title": "t", "t-assignee": value}),
                           (f"{case}/departments", {"d-department": value}),
                           (f"{case}/actions", {"a-planned_on": "2026-03-01",
                                                "a-premises": "x", "a-departments": value})):
            data["csrf_token"] = factories.csrf_token(client, case)
            resp = client.post(path, data=data)
            assert resp.status_code in (303, 400, 404), (path, value[:40], resp.status_code)
    after = _table_counts(module_app)
    changed = {k for k in after if after[k] != before[k]}
    assert changed <= {"tasks", "case_actions", "case_action_departments"}, changed
