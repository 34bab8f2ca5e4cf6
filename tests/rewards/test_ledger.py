"""Ledger figures: report by period and district, and the "rewards paid" statistics hook."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from caseapp import clock
from caseapp.extensions import db
from caseapp.rewards import ledger

from .helpers import claim, make_reward, make_tip, pay_bank, to_approved


def _pay(config, world, case_id, district, paid_on):
    tip, _ = make_tip(district=district)
    from caseapp.rewards.eligibility import create_reward

    from .helpers import facts

    reward = create_reward(db.session, facts(case_id, district=district), [tip], config)
    db.session.commit()
    claim(reward.id, tip)
    to_approved(reward.id, world.officer, world.approver)
    pay_bank(reward.id, world.officer, paid_on=paid_on)


def test_rewards_paid_by_period_and_district(app, world, config):
    with app.app_context():
        today = clock.now().date()
        week_ago = today - timedelta(days=7)
        _pay(config, world, 1, "411702", today)
        clock.move(timedelta(days=-7))  # a payment approved and made a week ago
        _pay(config, world, 2, "411702", week_ago)
        clock.move(timedelta(days=7))
        _pay(config, world, 3, "411721", today)
        unpaid_tip, _ = make_tip()
        make_reward(config, [unpaid_tip], case_id=4)
        figures = ledger.rewards_paid(db.session, week_ago, today)
        assert [(f.district, f.count, f.amount) for f in figures] == [
            ("411702", 2, 20000), ("411721", 1, 10000)]
        assert [(f.district, f.count) for f in ledger.rewards_paid(
            db.session, today, today, district="411702")] == [("411702", 1)]
        assert ledger.rewards_paid(db.session, date(2000, 1, 1), date(2000, 12, 31)) == []
        rep = ledger.report(db.session, week_ago, today)
        assert rep.count == 3 and rep.total == 30000 and rep.totals == {"CNY": 30000}
        assert rep.by_district == {"411702": 20000, "411721": 10000}
        assert [ln.entry.paid_on for ln in rep.lines] == [week_ago, today, today]
        assert rep.lines[0].verified_by.startswith("Officer One")
        only = ledger.report(db.session, week_ago, today, district="411721")
        assert only.count == 1 and only.total == 10000


def test_month_bounds():
    assert ledger.month_bounds(date(2024, 2, 10)) == (date(2024, 2, 1), date(2024, 2, 29))
    assert ledger.month_bounds(date(2025, 12, 31)) == (date(2025, 12, 1), date(2025, 12, 31))


def test_csv_of_an_empty_period_has_only_the_header():
    rep = ledger.LedgerReport(date(2025, 1, 1), date(2025, 1, 31), None)
    text = ledger.to_csv(rep).lstrip("\ufeff")
    assert text.strip() == ",".join(ledger.CSV_COLUMNS)


def test_rewards_paid_figure_reaches_the_dashboard_hook(app, world, config):
    stats = pytest.importorskip("caseapp.cases.stats")
    with app.app_context():
        today = clock.now().date()
        _pay(config, world, 1, "411702", today)
        _pay(config, world, 2, "411721", today)
        month = today.strftime("%Y-%m")
        assert stats.rewards_paid(stats.StatsFilter()) == stats.RewardsPaid(2, 20000)
        assert stats.rewards_paid(stats.StatsFilter(month, month, "411721")) == \
            stats.RewardsPaid(1, 10000)
        assert stats.rewards_paid(stats.StatsFilter("2000-01", "2000-12")) == \
            stats.RewardsPaid(0, 0)
