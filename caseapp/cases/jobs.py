"""Background work of the case workflow: overdue-tip escalation and the statistics roll-up."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import or_, select

from .. import clock
from ..audit.service import record
from ..config import Config
from ..extensions import db
from ..jobs import job, periodic
from ..notify import notify
from ..tips.models import Tip
from .intake import QUEUE_STATUSES, intake_row
from .models import TipIntake

_defaults = Config.__dataclass_fields__
ESCALATE_EVERY = int(_defaults["escalation_every_seconds"].default)  # type: ignore[arg-type]
STATS_EVERY = int(_defaults["stats_refresh_seconds"].default)  # type: ignore[arg-type]


def escalate_overdue_tips() -> int:
    """Notify the intake department's lead once per overdue deadline; returns escalations."""
    from .common import cfg

    config = cfg()
    today = clock.now().date()
    ack_cutoff = today - timedelta(days=config.ack_days)
    decide_cutoff = today - timedelta(days=config.decision_days)
    rows = db.session.execute(
        select(Tip, TipIntake).outerjoin(TipIntake, TipIntake.tip_id == Tip.id)
        .where(Tip.status.in_(QUEUE_STATUSES), Tip.submitted_on < max(ack_cutoff, decide_cutoff))
        .where(or_(TipIntake.tip_id.is_(None), TipIntake.first_decision_at.is_(None)))
        .order_by(Tip.id)).all()
    done = 0
    now = clock.now()
    for tip, intake in rows:
        for kind, cutoff, done_attr, flag in (
                ("tip.overdue_ack", ack_cutoff, "acknowledged_at", "ack_escalated_at"),
                ("tip.overdue_decision", decide_cutoff, "first_decision_at",
                 "decision_escalated_at")):
            if tip.submitted_on >= cutoff:
                continue
            if intake is not None and (getattr(intake, done_attr) or getattr(intake, flag)):
                continue
            intake = intake or intake_row(tip.id)
            setattr(intake, flag, now)
            if tip.intake_department_id is not None:
                notify(kind, object_type="tip", object_id=tip.id,
                       department_id=tip.intake_department_id, role="dept_lead")
            record("tip.escalated", object_type="tip", object_id=tip.id,
                   detail={"deadline": kind.rsplit("_", 1)[-1]})
            done += 1
    db.session.commit()
    return done


@periodic("cases.escalate_overdue", ESCALATE_EVERY)
def escalate_overdue() -> None:
    """Periodic: escalate overdue tips to the department lead."""
    escalate_overdue_tips()


@periodic("cases.stats_refresh", STATS_EVERY)
def stats_refresh() -> None:
    """Periodic: rebuild the statistics roll-up."""
    from .stats import refresh

    refresh()


@job("cases.stats_refresh_now")
def stats_refresh_now() -> None:
    """On demand (a supervisor's button): rebuild the statistics roll-up."""
    from .stats import refresh

    refresh()
