"""The supervisor dashboard: aggregate queries over the roll-up, filtered by months and district."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, text

from ...accounts.models import Department
from ...extensions import db
from ..models import StatsState
from .hooks import rewards_paid
from .rollup import refresh, state

_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


@dataclass(frozen=True)
class StatsFilter:
    """Months 'YYYY-MM' (inclusive) and a district code; empty means no limit."""

    month_from: str = ""
    month_to: str = ""
    district: str = ""

    @classmethod
    def parse(cls, args: Any) -> StatsFilter:
        """From query-string arguments, ignoring malformed values."""
        def month(name: str) -> str:
            value = (args.get(name) or "").strip()
            return value if _MONTH.match(value) else ""

        district = (args.get("district") or "").strip()
        return cls(month("from"), month("to"), district if district.isalnum() else "")


@dataclass
class Table:
    """One table of the dashboard (also a CSV export and, with `chart`, a bar chart)."""

    name: str
    title: Any
    columns: list[Any]
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    chart: bool = False


@dataclass
class Dashboard:
    """Everything the statistics page shows."""

    filters: StatsFilter
    state: StatsState | None
    tables: dict[str, Table]
    totals: dict[str, Any]


GROUPED: tuple[tuple[str, str, str, str], ...] = (  # table, metric, key column, level
    ("tips_by_category", "tips", "category", ""),
    ("tips_by_district", "tips", "district", "district"),
    ("tips_by_month", "tips", "month", "month"),
    ("cases_by_category", "cases", "category", ""),
    ("cases_by_district", "cases", "district", "district"),
    ("cases_by_month", "cases", "month", "month"),
    ("outcomes", "outcomes", "dim", ""),
    ("measures", "measures", "dim", ""),
    ("dept_open", "dept_open", "dim", ""),
    ("dept_overdue", "dept_overdue", "dim", ""),
    ("tasks_overdue", "tasks_overdue", "dim", ""),
    ("tips_overdue", "tips_overdue", "dim", ""),
)
_ROLE_SPLIT = frozenset({"dept_open", "dept_overdue"})


def _filter_sql(filters: StatsFilter, level: str) -> tuple[str, dict[str, str]]:
    """The level and filter conditions as SQL text with bound values (no input inlined)."""
    real_month = level == "month" or bool(filters.month_from or filters.month_to)
    real_district = level == "district" or bool(filters.district)
    parts = ["month <> '*'" if real_month else "month = '*'",
             "district <> '*'" if real_district else "district = '*'"]
    params: dict[str, str] = {}
    if filters.month_from:
        parts.append("month >= :mfrom")
        params["mfrom"] = filters.month_from
    if filters.month_to:
        parts.append("month <= :mto")
        params["mto"] = filters.month_to
    if filters.district:
        parts.append("district = :district")
        params["district"] = filters.district
    return " AND ".join(parts), params


def _grouped_all(filters: StatsFilter) -> dict[str, list[tuple[Any, ...]]]:
    """Every grouped table in one round trip: a UNION ALL of small GROUP BY queries.

    Plain SQL text built from the constant `GROUPED` table (values are bound), because
    composing a dozen ORM selects per page view costs more than running them.
    """
    parts: list[str] = []
    params: dict[str, str] = {}
    for name, metric, column, level in GROUPED:
        where, bound = _filter_sql(filters, level)
        params.update(bound)
        second = "category" if name in _ROLE_SPLIT else "''"
        group = f"{column}, category" if name in _ROLE_SPLIT else column
        parts.append(f"SELECT '{name}' AS t, {column} AS k, {second} AS k2, SUM(n) AS n, "  # noqa: S608
                     f"SUM(amount) AS amount FROM stats_cells WHERE metric = '{metric}' "
                     f"AND {where} GROUP BY {group}")
    sql = text(" UNION ALL ".join(parts))  # constants only; every value is bound
    out: dict[str, list[tuple[Any, ...]]] = {name: [] for name, *_rest in GROUPED}
    for table, key, key2, n, amount in db.session.execute(sql, params):
        out[table].append((key, key2, int(n or 0), int(amount or 0)))
    for rows in out.values():
        rows.sort(key=lambda r: (str(r[0]), str(r[1])))
    return out


_MEDIAN_SQL = text("""
WITH h AS (SELECT days, CAST(SUM(n) AS INTEGER) AS n FROM stats_cells WHERE {where}
           GROUP BY days),
c AS (SELECT days, CAST(SUM(n) OVER (ORDER BY days) AS INTEGER) AS cum,
             CAST(SUM(n) OVER () AS INTEGER) AS total FROM h)
SELECT MIN(CASE WHEN cum >= (total + 1) / 2 THEN days END),
       MIN(CASE WHEN cum >= total / 2 + 1 THEN days END), MAX(total) FROM c
""".strip())


def median_days(metric: str, filters: StatsFilter) -> tuple[float | None, int]:
    """(median, count) of a days histogram, computed in SQL with window functions."""
    where, params = _filter_sql(filters, "")
    parts = ["metric = :metric", where]
    params = {**params, "metric": metric}
    sql = text(_MEDIAN_SQL.text.format(where=" AND ".join(parts)))
    lo, hi, total = db.session.execute(sql, params).one()
    if lo is None or hi is None:
        return None, 0
    return (float(lo) + float(hi)) / 2, int(total or 0)


def _departments() -> dict[str, str]:
    return {str(i): f"{zh} / {en}" for i, zh, en in db.session.execute(
        select(Department.id, Department.name_zh, Department.name_en))}


def _department_rows(grouped: dict[str, list[tuple[Any, ...]]]) -> list[tuple[Any, ...]]:
    names = _departments()
    table: dict[str, list[int]] = {}
    for metric, pos in (("dept_open", 0), ("dept_overdue", 2)):
        for dim, role, n, _amount in grouped[metric]:
            table.setdefault(dim, [0] * 7)[pos + (0 if role == "lead" else 1)] += n
    for dim, _k2, n, _amount in grouped["tasks_overdue"]:
        table.setdefault(dim, [0] * 7)[4] += n
    for dim, _k2, n, ack in grouped["tips_overdue"]:
        row = table.setdefault(dim or "", [0] * 7)
        row[5] += n
        row[6] += ack
    return [(names.get(d, d or "—"), *v) for d, v in sorted(table.items())]


def dashboard(filters: StatsFilter) -> Dashboard:
    """Build the dashboard (the roll-up is built first if it never was); no decryption."""
    current = state()
    if current is None:
        current = refresh()
    g = _grouped_all(filters)

    def pairs(name: str) -> list[tuple[Any, ...]]:
        return [(k, n) for k, _k2, n, _a in g[name]]

    t: dict[str, Table] = {}
    titles = {
        "tips_by_category": _l("Tips by category"), "tips_by_district": _l("Tips by district"),
        "tips_by_month": _l("Tips by month"), "cases_by_category": _l("Cases by category"),
        "cases_by_district": _l("Cases by district"), "cases_by_month": _l("Cases by month")}
    heads = {"category": _l("Category"), "district": _l("District"), "month": _l("Month")}
    for name, title in titles.items():
        t[name] = Table(name, title, [heads[name.rsplit("_", 1)[1]], _l("Count")], pairs(name),
                        True)
    t["departments"] = Table("departments", _l("Open and overdue work per department"), [
        _l("Department"), _l("Open cases (lead)"), _l("Open cases (joint)"),
        _l("Overdue cases (lead)"), _l("Overdue cases (joint)"), _l("Overdue tasks"),
        _l("Tips overdue for a decision"), _l("Tips overdue for acknowledgement")],
        _department_rows(g))
    t["outcomes"] = Table("outcomes", _l("Outcomes of approved dispositions"),
                          [_l("Outcome"), _l("Cases")], pairs("outcomes"), True)
    t["measures"] = Table("measures", _l("Measures taken"),
                          [_l("Measure"), _l("Count"), _l("Amount (CNY)")],
                          [(k, n, a) for k, _k2, n, a in g["measures"]])
    decision = median_days("decision_days", filters)
    closure = median_days("close_days", filters)
    paid = rewards_paid(filters)
    t["timeliness"] = Table("timeliness", _l("Median days"),
                            [_l("Measure"), _l("Median days"), _l("Based on")], [
                                (_l("Tip to first intake decision"), decision[0], decision[1]),
                                (_l("Case opened to closed"), closure[0], closure[1])])
    t["rewards"] = Table("rewards", _l("Rewards paid"), [_l("Payouts"), _l("Amount (CNY)")],
                         [(paid.count, paid.amount)])
    totals = {"tips": sum(int(r[1] or 0) for r in t["tips_by_category"].rows),
              "cases": sum(int(r[1] or 0) for r in t["cases_by_category"].rows),
              "median_decision": decision[0], "median_closure": closure[0],
              "rewards_count": paid.count, "rewards_amount": paid.amount}
    return Dashboard(filters, current, t, totals)
