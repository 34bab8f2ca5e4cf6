"""Rebuilding the statistics roll-up: INSERT … SELECT … GROUP BY over clear metadata only.

One transaction deletes `stats_cells` and fills it again, per month and district (and then
per district over all months "*", per month over all districts "*", and overall):
tips and cases by category; histograms of days to first decision and to closure (for
medians); outcomes and measures of approved dispositions; open, overdue and task counts
per department; overdue tips per intake department (n = first decision overdue,
amount = acknowledgement overdue). No content column is ever read.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from sqlalchemy import (
    Integer,
    String,
    case,
    cast,
    delete,
    func,
    insert,
    literal,
    literal_column,
    null,
    select,
)
from sqlalchemy.sql.elements import ColumnElement

from ... import clock
from ...extensions import db
from ...tips.models import Status, Tip
from ..common import cfg
from ..models import (
    Case,
    CaseDepartment,
    CaseStatus,
    Disposition,
    DispositionMeasure,
    DispositionStatus,
    StatsCell,
    StatsState,
    Task,
    TaskStatus,
    TipIntake,
)

COLUMNS = ("metric", "month", "district", "category", "dim", "days", "n", "amount")
QUEUE = (Status.RECEIVED.value, Status.UNDER_REVIEW.value, Status.NEEDS_INFO.value)


def month_of(column: Any) -> ColumnElement[str]:
    """'YYYY-MM' of a date column, in the current dialect."""
    if db.session.get_bind().dialect.name == "postgresql":
        return func.to_char(column, literal_column("'YYYY-MM'"))
    return func.substr(column, literal_column("1"), literal_column("7"))


def _no_days() -> Any:
    return cast(null(), Integer)


def _as_text(column: Any) -> Any:
    return cast(column, String)


def _selects(today: Any) -> list[Any]:
    """Every roll-up as a SELECT yielding the `COLUMNS`."""
    decide_cutoff = today - timedelta(days=cfg().decision_days)
    ack_cutoff = today - timedelta(days=cfg().ack_days)
    t_month, c_month = month_of(Tip.submitted_on), month_of(Case.created_on)
    d_month = month_of(Disposition.decided_on)
    approved = Disposition.status == DispositionStatus.APPROVED.value
    n = func.count()
    out: list[Any] = [
        select(literal("tips"), t_month, Tip.district, Tip.category, literal(""), _no_days(),
               n, literal(0)).group_by(t_month, Tip.district, Tip.category),
        select(literal("cases"), c_month, Case.district, Case.category, literal(""),
               _no_days(), n, literal(0)).group_by(c_month, Case.district, Case.category),
        select(literal("decision_days"), t_month, Tip.district, literal(""), literal(""),
               TipIntake.first_decision_days, n, literal(0))
        .join(TipIntake, TipIntake.tip_id == Tip.id)
        .where(TipIntake.first_decision_days.is_not(None))
        .group_by(t_month, Tip.district, TipIntake.first_decision_days),
        select(literal("close_days"), month_of(Case.closed_on), Case.district, literal(""),
               literal(""), Case.days_to_close, n, literal(0))
        .where(Case.status == CaseStatus.CLOSED.value, Case.days_to_close.is_not(None))
        .group_by(month_of(Case.closed_on), Case.district, Case.days_to_close),
        select(literal("outcomes"), d_month, Case.district, Case.category, Disposition.outcome,
               _no_days(), n, literal(0)).join(Case, Case.id == Disposition.case_id)
        .where(approved).group_by(d_month, Case.district, Case.category, Disposition.outcome),
        select(literal("measures"), d_month, Case.district, Case.category,
               DispositionMeasure.kind, _no_days(), n,
               func.coalesce(func.sum(DispositionMeasure.amount), 0))
        .join(Disposition, Disposition.id == DispositionMeasure.disposition_id)
        .join(Case, Case.id == Disposition.case_id).where(approved)
        .group_by(d_month, Case.district, Case.category, DispositionMeasure.kind),
    ]
    open_case = Case.status != CaseStatus.CLOSED.value
    dept = _as_text(CaseDepartment.department_id)
    for metric, cond in (("dept_open", open_case),
                         ("dept_overdue", open_case & (Case.due_on < today))):
        out.append(select(literal(metric), c_month, Case.district, CaseDepartment.role, dept,
                          _no_days(), n, literal(0))
                   .join(Case, Case.id == CaseDepartment.case_id).where(cond)
                   .group_by(c_month, Case.district, CaseDepartment.role, dept))
    tdept = _as_text(Task.assignee_department_id)
    out.append(select(literal("tasks_overdue"), c_month, Case.district, literal(""), tdept,
                      _no_days(), n, literal(0)).join(Case, Case.id == Task.case_id)
               .where(Task.status.in_([TaskStatus.TODO.value, TaskStatus.DOING.value]),
                      Task.due_on < today, Task.assignee_department_id.is_not(None))
               .group_by(c_month, Case.district, tdept))
    idept = func.coalesce(_as_text(Tip.intake_department_id), literal(""))
    late_decision = case((TipIntake.first_decision_at.is_(None)
                          & (Tip.submitted_on < decide_cutoff), 1), else_=0)
    late_ack = case((TipIntake.acknowledged_at.is_(None) & (Tip.submitted_on < ack_cutoff), 1),
                    else_=0)
    out.append(select(literal("tips_overdue"), t_month, Tip.district, literal(""), idept,
                      _no_days(), func.sum(late_decision), func.sum(late_ack))
               .outerjoin(TipIntake, TipIntake.tip_id == Tip.id)
               .where(Tip.status.in_(QUEUE), Tip.submitted_on < max(ack_cutoff, decide_cutoff))
               .group_by(t_month, Tip.district, idept))
    return out


ALL = "*"


def _levels() -> list[Any]:
    """Coarser levels derived from the base cells: all months, all districts, both.

    A dashboard without a district filter reads the district = "*" cells, without a period
    the month = "*" cells, so it aggregates a few hundred rows instead of every month and
    district of every metric (histograms of days above all).
    """
    c = StatsCell.__table__.c
    base = (c.month != ALL) & (c.district != ALL)
    out = []
    for month, district in ((literal(ALL), c.district), (c.month, literal(ALL)),
                            (literal(ALL), literal(ALL))):
        keys = [c.metric, c.category, c.dim, c.days]
        keys += [col for col in (month, district) if col is c.month or col is c.district]
        out.append(select(c.metric, month, district, c.category, c.dim, c.days,
                          func.sum(c.n), func.sum(c.amount)).where(base).group_by(*keys))
    return out


def refresh() -> StatsState:
    """Rebuild the whole roll-up in one transaction; commits."""
    started = time.perf_counter()
    now = clock.now()
    db.session.execute(delete(StatsCell))
    table = StatsCell.__table__
    for stmt in _selects(now.date()):
        db.session.execute(insert(table).from_select(list(COLUMNS), stmt))
    for stmt in _levels():
        db.session.execute(insert(table).from_select(list(COLUMNS), stmt))
    row = db.session.get(StatsState, 1)
    if row is None:
        row = StatsState(id=1, refreshed_at=now, as_of="", duration_ms=0)
        db.session.add(row)
    row.refreshed_at = now
    row.as_of = now.date().isoformat()
    row.duration_ms = int((time.perf_counter() - started) * 1000)
    db.session.commit()
    return row


def state() -> StatsState | None:
    """When the roll-up was last rebuilt (None: never)."""
    return db.session.get(StatsState, 1)
