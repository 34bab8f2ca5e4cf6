"""The statistics dashboard vs. one count(*) over the tips table, in the same run.

The dashboard reads the roll-up that the `cases.stats_refresh` job rebuilds (INSERT … SELECT
… GROUP BY over clear metadata); its cost is measured as the data plus the rendered page
with SVG charts. The rebuild itself and a direct median over the source rows are printed
for reference. Target: dashboard ≤ 10 × count(*), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import sys

from casebench import Bench, backends, count_tips, report, seed, timed

from caseapp.cases.models import StatsState
from caseapp.cases.stats import StatsFilter, dashboard, refresh
from caseapp.cases.stats.live import median_days_to_first_decision
from caseapp.cases.views.stats import render_dashboard
from caseapp.extensions import db

TARGET = 10.0


def _page(bench: Bench, filters: StatsFilter, render: bool) -> None:
    """What the /staff/stats view does (without HTTP and the session)."""
    with bench.app.test_request_context("/staff/stats"):
        if render:
            assert "<svg" in render_dashboard(filters)
        else:
            assert dashboard(filters).totals["tips"] > 0
        db.session.rollback()


def _live_median(bench: Bench) -> None:
    with bench.app.app_context():
        median_days_to_first_decision()
        db.session.rollback()


def main() -> int:
    """Run on every configured backend; exit 1 when the target is missed."""
    ok = True
    for backend, url in backends():
        bench = seed(backend, url)
        with bench.app.app_context():
            refresh()
            state = db.session.get(StatsState, 1)
            print(f"[{backend}] roll-up rebuilt in {state.duration_ms} ms (background job)")
            db.session.remove()
        base = timed(count_tips(bench), repeat=30)
        filtered = StatsFilter(month_from="2024-01", month_to="2024-12", district="411702")
        for label, filters, render in (("dashboard data", StatsFilter(), False),
                                       ("dashboard page with charts", StatsFilter(), True),
                                       ("filtered dashboard page", filtered, True)):
            ms = timed(lambda b=bench, f=filters, r=render: _page(b, f, r))
            ok &= report(backend, label, "count(*) over tips", base, ms, TARGET)

        print(f"[{backend}] for reference: a direct median over the source rows takes "
              f"{timed(lambda b=bench: _live_median(b), repeat=5):.2f} ms")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
