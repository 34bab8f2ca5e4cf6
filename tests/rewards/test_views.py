"""Finance screens: who may see them, the actions over HTTP, no tip content, ledger exports."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from caseapp import clock
from caseapp.extensions import db
from caseapp.rewards.models import PayoutLedger, Reward
from tests import factories

from .helpers import (
    CARD,
    ID_X,
    NARRATIVE_MARKER,
    PAYEE,
    PLACE_MARKER,
    claim,
    make_reward,
    make_tip,
    pay_bank,
    to_approved,
)

CONTENT_MARKERS = ("NARRATIVE-MARKER", "PLACE-MARKER", "康乐诊所", NARRATIVE_MARKER[:30],
                   PLACE_MARKER)


@pytest.fixture
def rewards(app, world, config):
    """Three rewards: claimed (bank), approved (bank), paid (bank)."""
    ids = {}
    with app.app_context():
        for case_id, name in enumerate(("claimed", "approved", "paid"), start=1):
            tip, _ = make_tip()
            rid = make_reward(config, [tip], case_id=case_id)
            claim(rid, tip)
            if name != "claimed":
                to_approved(rid, world.officer, world.approver)
            if name == "paid":
                pay_bank(rid, world.cashier, reference="PZ-PAID")
            ids[name] = rid
        db.session.remove()
    return ids


def _pages(rid):
    return [("get", "/staff/rewards/"), ("get", f"/staff/rewards/{rid}"),
            ("get", f"/staff/rewards/{rid}/record"), ("get", "/staff/rewards/ledger"),
            ("get", "/staff/rewards/ledger.csv"), ("get", "/staff/rewards/ledger/print"),
            ("post", f"/staff/rewards/{rid}/verify"), ("post", f"/staff/rewards/{rid}/approve"),
            ("post", f"/staff/rewards/{rid}/pay"), ("post", f"/staff/rewards/{rid}/reject")]


@pytest.mark.parametrize("username", ["intake1", "invest1", "admin1", "super1"])
def test_non_finance_staff_are_refused_everywhere(app, client, world, rewards, username):
    assert factories.login(client, username).status_code == 302
    for method, path in _pages(rewards["paid"]):
        if method == "get":
            resp = client.get(path)
        else:
            resp = factories.post_form(client, path, {"version": "1", "reason": "x"})
        assert resp.status_code == 403, (path, resp.status_code)
    home = client.get("/staff/").get_data(as_text=True)
    assert "/staff/rewards" not in home


def test_anonymous_users_go_to_login(client, world, rewards):
    for method, path in _pages(rewards["paid"]):
        if method == "get":
            assert factories.is_login_redirect(client.get(path)), path


def test_approver_may_not_verify(app, client, world, rewards):
    factories.login(client, "approver1")
    resp = factories.post_form(client, f"/staff/rewards/{rewards['claimed']}/verify",
                               {"version": "2"})
    assert resp.status_code == 403


def _html(resp):
    return resp.get_data(as_text=True)


def test_finance_pages_show_facts_and_claim_but_no_tip_content(app, client, world, rewards):
    factories.login(client, "officer1")
    queue = client.get("/staff/rewards/?state=all")
    assert queue.status_code == 200
    for ref in ("C-2026-00001", "C-2026-00002", "C-2026-00003"):
        assert ref in _html(queue)
    detail = _html(client.get(f"/staff/rewards/{rewards['claimed']}"))
    assert PAYEE in detail and ID_X in detail and CARD in detail
    assert "10,000 CNY" in detail and "fine" in detail
    assert "驿城区" in detail or "Yicheng District" in detail
    pages = [queue, client.get(f"/staff/rewards/{rewards['claimed']}"),
             client.get(f"/staff/rewards/{rewards['paid']}/record"),
             client.get("/staff/rewards/ledger"), client.get("/staff/rewards/ledger/print"),
             client.get("/staff/rewards/ledger.csv"), client.get("/staff/rewards/?state=paid")]
    for page in pages:
        assert page.status_code == 200
        for marker in CONTENT_MARKERS:
            assert marker not in _html(page), (page.request.path, marker)


def test_nav_links_for_finance(client, world, rewards):
    factories.login(client, "officer1")
    home = _html(client.get("/staff/"))
    assert 'href="/staff/rewards/"' in home and 'href="/staff/rewards/ledger"' in home


def _version(app, rid):
    with app.app_context():
        return str(db.session.get(Reward, rid).version)


def _state(app, rid):
    with app.app_context():
        return db.session.get(Reward, rid).state


def test_verify_approve_pay_over_http(app, client, world, rewards, config):
    rid = rewards["claimed"]
    factories.login(client, "fboth")
    page = f"/staff/rewards/{rid}"
    resp = factories.post_form(client, f"{page}/verify", {"version": _version(app, rid)},
                               token_from=page)
    assert resp.status_code == 303 and _state(app, rid) == "verified"
    resp = factories.post_form(client, f"{page}/approve", {"version": _version(app, rid)},
                               token_from=page, follow_redirects=True)
    assert "another person must approve it" in _html(resp)
    assert _state(app, rid) == "verified"
    factories.logout(client)
    factories.login(client, "approver1")
    stale = str(int(_version(app, rid)) - 1)
    resp = factories.post_form(client, f"{page}/approve", {"version": stale}, token_from=page,
                               follow_redirects=True)
    assert "changed this reward while you were looking" in _html(resp)
    resp = factories.post_form(client, f"{page}/approve", {"version": _version(app, rid)},
                               token_from=page)
    assert resp.status_code == 303 and _state(app, rid) == "approved"
    today = clock.now().date()
    bad = factories.post_form(client, f"{page}/pay", {
        "version": _version(app, rid), "method": "bank", "reference": "PZ-9",
        "paid_on": (today + timedelta(days=2)).isoformat(), "handover_by": "0",
        "handover_witness": "0"}, token_from=page)
    assert bad.status_code == 400 and "cannot be in the future" in _html(bad)
    ok = factories.post_form(client, f"{page}/pay", {
        "version": _version(app, rid), "method": "bank", "reference": "PZ-9",
        "paid_on": today.isoformat(), "handover_by": "0", "handover_witness": "0"},
        token_from=page, follow_redirects=True)
    assert "Payout recorded" in _html(ok)
    assert _state(app, rid) == "paid"
    again = factories.post_form(client, f"{page}/pay", {
        "version": _version(app, rid), "method": "bank", "reference": "PZ-10",
        "paid_on": today.isoformat(), "handover_by": "0", "handover_witness": "0"},
        token_from=page, follow_redirects=True)
    assert "already been paid" in _html(again) or "not possible" in _html(again)
    with app.app_context():
        assert len(db.session.scalars(select(PayoutLedger).where(
            PayoutLedger.reward_id == rid)).all()) == 1


def test_in_person_pay_form_over_http(app, client, world, config):
    with app.app_context():
        from .helpers import person_claim

        tip, _ = make_tip()
        rid = make_reward(config, [tip], case_id=11)
        code = claim(rid, tip, person_claim(config)).collection_code
        to_approved(rid, world.officer, world.approver)
    factories.login(client, "cashier1")
    page = f"/staff/rewards/{rid}"
    assert "Cashier One" in _html(client.get(page))
    data = {"version": _version(app, rid), "method": "in_person", "reference": "RC-1",
            "paid_on": clock.now().date().isoformat(), "collection_code": "WRONG-CODE-0000",
            "handover_by": str(world.cashier), "handover_witness": str(world.officer)}
    bad = factories.post_form(client, f"{page}/pay", data, token_from=page)
    assert bad.status_code == 400 and "collection code does not match" in _html(bad)
    data["collection_code"] = code
    data["handover_witness"] = str(world.cashier)
    bad = factories.post_form(client, f"{page}/pay", data, token_from=page)
    assert bad.status_code == 400 and "two different staff members" in _html(bad)
    data["handover_witness"] = str(world.officer)
    assert factories.post_form(client, f"{page}/pay", data, token_from=page).status_code == 303
    record = _html(client.get(f"{page}/record"))
    assert "Cashier One" in record and "Officer One" in record and "no-print" in record
    assert "440524********0013" in record


def test_reject_over_http(app, client, world, rewards):
    rid = rewards["claimed"]
    factories.login(client, "officer1")
    page = f"/staff/rewards/{rid}"
    resp = factories.post_form(client, f"{page}/reject", {"version": _version(app, rid),
                                                          "reason": ""}, token_from=page)
    assert resp.status_code == 400
    resp = factories.post_form(client, f"{page}/reject", {"version": _version(app, rid),
                                                          "reason": "forged ID card"},
                               token_from=page)
    assert resp.status_code == 303 and _state(app, rid) == "rejected"


def test_actions_need_csrf(client, world, rewards):
    factories.login(client, "officer1")
    resp = client.post(f"/staff/rewards/{rewards['claimed']}/verify", data={"version": "2"})
    assert resp.status_code == 400


def test_ledger_report_csv_and_print_totals_match(app, client, world, config):
    with app.app_context():
        amounts = []
        for case_id in range(1, 5):
            tip, _ = make_tip()
            cfg = config.with_(bounty_amount_cny=10000 + case_id * 1000)
            rid = make_reward(cfg, [tip], case_id=case_id)
            claim(rid, tip)
            to_approved(rid, world.officer, world.approver)
            pay_bank(rid, world.officer, reference=f"=HYPERLINK(\"x\") {case_id}")
            amounts.append(10000 + case_id * 1000)
    factories.login(client, "approver1")
    today = clock.now().date().isoformat()
    query = f"?date_from={today}&date_to={today}"
    report = _html(client.get("/staff/rewards/ledger" + query))
    assert f"{sum(amounts):,} CNY" in report
    resp = client.get("/staff/rewards/ledger.csv" + query)
    assert resp.mimetype == "text/csv"
    assert "attachment" in resp.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(resp.get_data(as_text=True).lstrip("\ufeff"))))
    header, body = rows[0], rows[1:]
    lines = [r for r in body if r[0] != "TOTAL"]
    totals = [r for r in body if r[0] == "TOTAL"]
    amount = header.index("amount")
    assert len(lines) == 4 and len(totals) == 1
    assert sum(int(r[amount]) for r in lines) == int(totals[0][amount]) == sum(amounts)
    assert int(totals[0][1]) == len(lines)
    assert all(r[header.index("reference")].startswith("'=") for r in lines)  # no formulas
    printed = _html(client.get("/staff/rewards/ledger/print" + query))
    assert f"{sum(amounts):,} CNY" in printed and "Signature" in printed
    assert re.search(r'class="topbar"', printed)  # hidden by the print CSS
    # another period shows nothing
    empty = client.get("/staff/rewards/ledger?date_from=2000-01-01&date_to=2000-01-31")
    assert "No payments in this period." in _html(empty)
    # a district code that fails the form's own check is not used as a filter
    wrong = _html(client.get("/staff/rewards/ledger" + query + "&district=" + "9" * 40))
    assert f"{sum(amounts):,} CNY" in wrong and "No payments in this period." not in wrong


def test_escrow_rewrapper_is_registered(app):
    from caseapp.accounts.keys import ESCROW_REWRAPPERS
    from caseapp.rewards.claims import rewrap_claims_for_escrow

    assert rewrap_claims_for_escrow in ESCROW_REWRAPPERS
