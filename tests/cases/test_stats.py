"""Statistics: correct counts for a seeded data set, filters, medians, CSV, no decryption."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from typing import Any
from unittest import mock

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import insert

from caseapp import clock
from caseapp.cases.models import (
    Case,
    CaseDepartment,
    Disposition,
    DispositionMeasure,
    Task,
    TipIntake,
)
from caseapp.cases.stats import RewardsPaid, StatsFilter, dashboard, refresh
from caseapp.cases.stats.hooks import register_rewards_paid, unregister_rewards_paid
from caseapp.cases.stats.live import median_days_to_closure, median_days_to_first_decision
from caseapp.extensions import db
from caseapp.tips.models import Tip

from .conftest import DISTRICT, OTHER_DISTRICT, World, login, post

BLOB = b"\x01" + b"\x00" * 40  # fake ciphertext: statistics never read it
TODAY = date(2025, 6, 20)


def seed(w: World) -> None:
    """12 tips, 4 cases, 2 approved dispositions, on two districts and two months."""
    tips = []
    specs = [  # (district, month, category, decision days or None)
        (DISTRICT, 4, "sex_identification", 2), (DISTRICT, 4, "sex_identification", 4),
        (DISTRICT, 4, "abortion_drug_sale", 6), (DISTRICT, 5, "sex_identification", 1),
        (DISTRICT, 5, "other", None), (DISTRICT, 5, "other", None),
        (OTHER_DISTRICT, 4, "sex_identification", 10), (OTHER_DISTRICT, 5, "sex_identification", 3),
        (OTHER_DISTRICT, 5, "abortion_drug_sale", 5), (OTHER_DISTRICT, 5, "other", None),
        (OTHER_DISTRICT, 5, "other", None), (OTHER_DISTRICT, 6, "other", None),
    ]
    for i, (district, month, category, _days) in enumerate(specs):
        tips.append(dict(id=i + 1, category=category, district=district, channel="web",
                         status="received", submitted_on=date(2025, month, 1 + i),
                         receipt_lookup=f"{i:064d}", tipster_public_key=b"k", content=BLOB,
                         intake_department_id=w.health))
    db.session.execute(insert(Tip), tips)
    db.session.execute(insert(TipIntake), [
        dict(tip_id=i + 1, first_decision_days=d, first_decision_at=datetime(2025, 6, 1),
             acknowledged_at=datetime(2025, 6, 1))
        for i, (_a, _b, _c, d) in enumerate(specs) if d is not None])
    cases = [  # (id, district, created, category, status, days to close, due)
        (1, DISTRICT, date(2025, 4, 2), "sex_identification", "closed", 20, None),
        (2, DISTRICT, date(2025, 5, 3), "abortion_drug_sale", "closed", 40, None),
        (3, DISTRICT, date(2025, 5, 4), "sex_identification", "investigating", None,
         date(2025, 6, 1)),
        (4, OTHER_DISTRICT, date(2025, 5, 5), "sex_identification", "open", None,
         date(2025, 9, 1)),
    ]
    db.session.execute(insert(Case), [
        dict(id=c, ref=f"C-{c}", category=cat, district=d, status=st, lead_department_id=w.health,
             key_version=1, header_version=1, header=BLOB, created_at=datetime.combine(
                 on, datetime.min.time()), created_on=on, updated_at=datetime(2025, 6, 1),
             due_on=due, days_to_close=days,
             closed_on=on + timedelta(days=days) if days else None, reopen_count=0)
        for c, d, on, cat, st, days, due in cases])
    db.session.execute(insert(CaseDepartment), [
        dict(case_id=1, department_id=w.health, role="lead"),
        dict(case_id=2, department_id=w.health, role="lead"),
        dict(case_id=3, department_id=w.health, role="lead"),
        dict(case_id=3, department_id=w.police, role="joint"),
        dict(case_id=4, department_id=w.health, role="lead")])
    db.session.execute(insert(Disposition), [
        dict(id=1, case_id=1, key_version=1, status="approved", outcome="substantiated",
             body=BLOB, proposed_at=datetime(2025, 4, 20), decided_on=date(2025, 4, 22)),
        dict(id=2, case_id=2, key_version=1, status="approved", outcome="unsubstantiated",
             body=BLOB, proposed_at=datetime(2025, 6, 10), decided_on=date(2025, 6, 12))])
    db.session.execute(insert(DispositionMeasure), [
        dict(disposition_id=1, kind="fine", amount=30000),
        dict(disposition_id=1, kind="confiscation", amount=5000),
        dict(disposition_id=1, kind="licence_revocation")])
    db.session.execute(insert(Task), [
        dict(case_id=3, key_version=1, body=BLOB, assignee_department_id=w.police,
             status="todo", due_on=date(2025, 6, 10), created_at=datetime(2025, 6, 1),
             updated_at=datetime(2025, 6, 1))])
    db.session.commit()


@pytest.fixture
def seeded(world: World, ctx: None) -> World:
    """The data set, with the clock on TODAY."""
    seed(world)
    clock.move(datetime.combine(TODAY, datetime.min.time()) - clock.now())
    refresh()
    return world


def rows(d: Any, name: str) -> dict[Any, Any]:
    return {r[0]: r[1:] if len(r) > 2 else r[1] for r in d.tables[name].rows}


def test_counts_of_seeded_data(seeded: World) -> None:
    d = dashboard(StatsFilter())
    assert d.totals["tips"] == 12 and d.totals["cases"] == 4
    assert rows(d, "tips_by_category") == {"sex_identification": 5, "abortion_drug_sale": 2,
                                           "other": 5}
    assert rows(d, "tips_by_district") == {DISTRICT: 6, OTHER_DISTRICT: 6}
    assert rows(d, "tips_by_month") == {"2025-04": 4, "2025-05": 7, "2025-06": 1}
    assert rows(d, "cases_by_month") == {"2025-04": 1, "2025-05": 3}
    assert rows(d, "outcomes") == {"substantiated": 1, "unsubstantiated": 1}
    assert rows(d, "measures") == {"confiscation": (1, 5000), "fine": (1, 30000),
                                   "licence_revocation": (1, 0)}
    # decision days 1,2,3,4,5,6,10 → 4; closure 20, 40 → 30
    assert d.totals["median_decision"] == 4.0 and d.totals["median_closure"] == 30.0
    assert median_days_to_first_decision() == 4.0 and median_days_to_closure() == 30.0
    dept = {r[0]: r[1:] for r in d.tables["departments"].rows}
    health = next(v for k, v in dept.items() if "Health" in k)
    police = next(v for k, v in dept.items() if "Public" in k)
    # open lead, open joint, overdue lead, overdue joint, overdue tasks, tips late, tips unacked
    assert health == (2, 0, 1, 0, 0, 4, 5)  # the June 12 tip is late only for acknowledgement
    assert police == (0, 1, 0, 1, 1, 0, 0)
    assert d.totals["rewards_amount"] == 0


def test_filters_by_district_and_period(seeded: World) -> None:
    d = dashboard(StatsFilter(district=OTHER_DISTRICT))
    assert d.totals["tips"] == 6 and d.totals["cases"] == 1
    assert d.totals["median_decision"] == 5.0  # 3, 5, 10
    d = dashboard(StatsFilter(month_from="2025-05", month_to="2025-05"))
    assert d.totals["tips"] == 7
    assert rows(d, "tips_by_category") == {"sex_identification": 2, "abortion_drug_sale": 1,
                                           "other": 4}
    assert d.totals["median_decision"] == 3.0  # 1, 3, 5
    assert rows(d, "outcomes") == {}  # decided in April and June
    d = dashboard(StatsFilter(month_from="2025-06", district=DISTRICT))
    assert rows(d, "outcomes") == {"unsubstantiated": 1}
    assert StatsFilter.parse({"from": "2025-13", "to": "x", "district": "41;drop"}) == \
        StatsFilter()


def test_rewards_paid_hook(seeded: World) -> None:
    def provider(filters: StatsFilter) -> RewardsPaid:
        return RewardsPaid(2, 20000)

    register_rewards_paid(provider)
    try:
        assert dashboard(StatsFilter()).totals["rewards_amount"] == 20000
    finally:
        unregister_rewards_paid(provider)


@contextmanager
def trap_decryption() -> Iterator[list[str]]:
    """Every decryption entry point fails when called, patched wherever it was imported."""
    import caseapp.crypto.hybrid as hybrid
    import caseapp.crypto.primitives as primitives
    from caseapp.accounts.keys import Keyring

    calls: list[str] = []
    originals = {"decrypt_field": primitives.decrypt_field,
                 "decrypt_text": primitives.decrypt_text,
                 "unwrap_key": primitives.unwrap_key, "unseal": hybrid.unseal}

    def trap(name: str) -> Any:
        def fail(*_a: Any, **_k: Any) -> None:
            calls.append(name)
            raise AssertionError(f"statistics called {name}")
        return fail

    patches = []
    for module in list(sys.modules.values()):
        if module is None or not getattr(module, "__name__", "").startswith("caseapp"):
            continue
        for name, fn in originals.items():
            if getattr(module, name, None) is fn:
                patches.append(mock.patch.object(module, name, trap(name)))
    patches.append(mock.patch.object(Keyring, "department_key", trap("department_key")))
    patches.append(mock.patch.object(Keyring, "department_symmetric",
                                     trap("department_symmetric")))
    for p in patches:
        p.start()
    try:
        yield calls
    finally:
        for p in patches:
            p.stop()


def test_trap_catches_decryption_anywhere(world: World, ctx: None) -> None:
    from caseapp.cases import common
    from caseapp.crypto import decrypt_field

    with trap_decryption() as calls:
        with pytest.raises(AssertionError):
            common.open_json(b"k" * 32, BLOB, "x")
        with pytest.raises(AssertionError):
            __import__("caseapp.crypto", fromlist=["unseal"]).unseal(b"", None, "x")
    assert calls == ["decrypt_text", "unseal"]
    assert decrypt_field is __import__("caseapp.crypto", fromlist=["x"]).decrypt_field


def test_page_and_csv_never_decrypt(app: Flask, client: FlaskClient, world: World) -> None:
    with app.app_context():
        seed(world)
    login(client, "supervisor")
    with trap_decryption() as calls:
        page = client.get("/staff/stats?lang=en")
        assert page.status_code == 200
        body = page.get_data(as_text=True)
        assert "<svg" in body and "Tips by category" in body and "<script" not in body
        csv_text = client.get("/staff/stats/tips_by_district.csv?district=411702")
        assert csv_text.status_code == 200
        assert csv_text.get_data(as_text=True).splitlines()[1:] == ["411702,6"]
        for name in ("departments", "measures", "timeliness", "rewards", "cases_by_month"):
            assert client.get(f"/staff/stats/{name}.csv").status_code == 200
        assert client.get("/staff/stats/nope.csv").status_code == 404
        assert post(client, "/staff/stats/refresh", token_from="/staff/stats").status_code == 303
        assert client.get("/staff/stats?from=2025-05&to=2025-05&district=411702").status_code \
            == 200
    assert calls == []


def test_other_roles_cannot_see_statistics(app: Flask, client: FlaskClient,
                                           world: World) -> None:
    login(client, "inv_h")
    assert client.get("/staff/stats").status_code == 403
