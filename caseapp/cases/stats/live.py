"""Medians computed directly over the source rows (no roll-up), for checks and comparisons.

PostgreSQL uses `percentile_cont(0.5)`; SQLite, which lacks it, takes the one or two middle
values with an ordered LIMIT/OFFSET query. Both read clear metadata only.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from ...extensions import db
from ...tips.models import Tip
from ..models import Case, CaseStatus, TipIntake


def _median(column: Any, base: Any) -> float | None:
    """Median of `column` over the rows selected by `base` (a select of that column)."""
    if db.session.get_bind().dialect.name == "postgresql":
        sub = base.subquery()
        value = db.session.scalar(select(func.percentile_cont(0.5).within_group(
            sub.c[0].asc())))
        return None if value is None else float(value)
    n = int(db.session.scalar(select(func.count()).select_from(base.subquery())) or 0)
    if n == 0:
        return None
    picked = list(db.session.scalars(base.order_by(column).limit(2 - n % 2)
                                     .offset((n - 1) // 2)))
    return sum(float(v) for v in picked) / len(picked)


def median_days_to_first_decision(district: str = "") -> float | None:
    """Median days from submission to the first intake decision."""
    base = select(TipIntake.first_decision_days).join(Tip, Tip.id == TipIntake.tip_id).where(
        TipIntake.first_decision_days.is_not(None))
    if district:
        base = base.where(Tip.district == district)
    return _median(TipIntake.first_decision_days, base)


def median_days_to_closure(district: str = "") -> float | None:
    """Median days from opening a case to closing it."""
    base = select(Case.days_to_close).where(Case.status == CaseStatus.CLOSED.value,
                                           Case.days_to_close.is_not(None))
    if district:
        base = base.where(Case.district == district)
    return _median(Case.days_to_close, base)
