"""Periodic ticks, the administrator's view of failed jobs, and a manual retry."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from .. import clock
from ..extensions import db
from . import registry
from .models import OutboxJob, PeriodicRun
from .outbox import dispatch, enqueue, rq_job_id, rq_queue

log = logging.getLogger(__name__)


def _ensure_periodic_row(name: str) -> None:
    """Create the bookkeeping row of a periodic job if missing (race-free)."""
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        ins: Any = pg_insert(PeriodicRun)
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        ins = sqlite_insert(PeriodicRun)
    db.session.execute(ins.values(name=name, last_enqueued_at=None).on_conflict_do_nothing())


def tick() -> list[str]:
    """Enqueue every periodic job that is due; returns their names (commits per job)."""
    enqueued: list[str] = []
    config = current_app.config["CASEAPP"]
    for item in registry.periodic_jobs():
        every = timedelta(seconds=item.seconds(config))
        _ensure_periodic_row(item.name)
        run = db.session.execute(
            select(PeriodicRun).where(PeriodicRun.name == item.name).with_for_update()
            .execution_options(populate_existing=True)
        ).scalar_one()
        now = clock.now()
        last = run.last_enqueued_at
        if last is None or now - last >= every:
            run.last_enqueued_at = now
            enqueue(item.name)
            enqueued.append(item.name)
        db.session.commit()
    return enqueued


@dataclass
class JobsStatus:
    """Counts of open jobs, the failed outbox rows, and rq's failed job ids."""

    pending: int
    in_flight: int
    failed: int
    failed_rows: list[OutboxJob]
    rq_failed_ids: list[str] = field(default_factory=list)
    rq_error: str | None = None
    rq_configured: bool = False


def status(limit: int = 100) -> JobsStatus:
    """What the administrator sees: pending / in flight / failed counts and failed jobs."""
    open_ = (OutboxJob.done_at.is_(None), OutboxJob.failed_at.is_(None))
    count = func.count(OutboxJob.id)
    pending = db.session.scalar(
        select(count).where(*open_, OutboxJob.dispatched_at.is_(None))) or 0
    in_flight = db.session.scalar(
        select(count).where(*open_, OutboxJob.dispatched_at.is_not(None))) or 0
    failed_where = (OutboxJob.failed_at.is_not(None), OutboxJob.done_at.is_(None))
    failed = db.session.scalar(select(count).where(*failed_where)) or 0
    rows = list(db.session.execute(
        select(OutboxJob).where(*failed_where).order_by(OutboxJob.failed_at.desc()).limit(limit)
    ).scalars())
    result = JobsStatus(pending, in_flight, failed, rows)
    if current_app.config["CASEAPP"].redis_url:
        result.rq_configured = True
        try:
            registry_ = rq_queue(current_app).failed_job_registry
            result.rq_failed_ids = list(registry_.get_job_ids(0, limit - 1, desc=True))
        except Exception as exc:
            result.rq_error = type(exc).__name__
    return result


def retry(outbox_id: int) -> bool:
    """Reset a failed (or stuck) job and dispatch it again; False when unknown or done."""
    row = db.session.get(OutboxJob, outbox_id, with_for_update=True)
    if row is None or row.done_at is not None:
        db.session.rollback()
        return False
    if current_app.config["CASEAPP"].redis_url:
        from rq.job import Job

        try:
            Job.fetch(rq_job_id(outbox_id), connection=rq_queue(current_app).connection).delete()
        except Exception as exc:  # no such job in Redis, or Redis down: dispatch decides
            log.info("rq job of outbox %d not deleted: %s", outbox_id, type(exc).__name__)
    row.failed_at = None
    row.dispatched_at = None
    row.attempts = 0
    row.run_after = None
    db.session.commit()
    dispatch(current_app._get_current_object(), [outbox_id])  # type: ignore[attr-defined]
    return True
