"""The transactional outbox: `enqueue` writes a row; after commit it goes to rq or runs inline."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from contextlib import suppress
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from flask import Flask, current_app, has_app_context
from sqlalchemy import event, select, update
from sqlalchemy.orm import Session, SessionTransaction

from .. import clock
from ..config import Config
from ..extensions import db
from . import registry
from .models import OutboxJob

log = logging.getLogger(__name__)
RUNNER = "caseapp.jobs.runner.run_outbox_job"
FAILURE_CALLBACK = "caseapp.jobs.runner.on_job_failure"
_PENDING = "caseapp_outbox_pending"
_COMMITTED = "caseapp_outbox_committed"
DISPATCH_BATCH = 500
LOST_AFTER = timedelta(minutes=15)  # a dispatched, unfinished job Redis no longer knows


def enqueue(name: str, /, *, run_after: datetime | None = None, **kwargs: Any) -> OutboxJob:
    """Add job `name(**kwargs)` to the outbox in the current transaction; dispatched after commit.

    A rolled-back transaction leaves no job. `run_after` delays it (picked up by
    `dispatch_pending`). Arguments are ids only.
    """
    registry.get(name)
    registry.check_kwargs(kwargs)
    row = OutboxJob(
        name=name,
        payload=json.dumps(kwargs, sort_keys=True, separators=(",", ":")),
        created_at=clock.now(),
        run_after=run_after,
        attempts=0,
    )
    db.session.add(row)
    db.session.flush()
    db.session.info.setdefault(_PENDING, []).append(row.id)
    return row


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    """Note that the outer transaction holding outbox rows committed (savepoints don't count)."""
    if session.info.get(_PENDING) and not session.in_nested_transaction():
        session.info[_COMMITTED] = True


@event.listens_for(Session, "after_transaction_end")
def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    """Once the outer transaction is over and its connection released, dispatch its jobs."""
    if transaction.parent is not None or transaction.nested:
        return
    ids = session.info.pop(_PENDING, None)
    committed = session.info.pop(_COMMITTED, False)
    if not ids or not committed:
        return
    if not has_app_context():
        log.warning("%d outbox job(s) committed outside an app context stay pending", len(ids))
        return
    try:
        dispatch(current_app._get_current_object(), ids)  # type: ignore[attr-defined]
    except Exception:  # the change is committed; the rows stay pending for dispatch_pending
        log.exception("dispatching %d committed outbox job(s) failed", len(ids))


def _config(app: Flask) -> Config:
    cfg: Config = app.config["CASEAPP"]
    return cfg


def _due_ids(ids: Iterable[int] | None = None) -> list[int]:
    """Ids (all, or among `ids`) that exist, are undispatched, unfinished and due."""
    stmt = (
        select(OutboxJob.id)
        .where(OutboxJob.dispatched_at.is_(None), OutboxJob.done_at.is_(None),
               OutboxJob.failed_at.is_(None))
        .where((OutboxJob.run_after.is_(None)) | (OutboxJob.run_after <= clock.now()))
        .order_by(OutboxJob.id)
        .limit(DISPATCH_BATCH)
    )
    if ids is not None:
        stmt = stmt.where(OutboxJob.id.in_(list(ids)))
    with db.engine.connect() as conn:
        return [int(i) for i in conn.execute(stmt).scalars()]


def dispatch(app: Flask, ids: Iterable[int]) -> int:
    """Send due jobs among `ids` to rq (with Redis) or run them inline; returns how many."""
    due = _due_ids(ids)
    if not due:
        return 0
    if _config(app).redis_url:
        return send_to_rq(app, due)
    from .runner import run_inline

    for outbox_id in due:
        run_inline(outbox_id)
    return len(due)


def dispatch_pending() -> int:
    """Move every due, undispatched job to rq (or run it inline); for after a Redis outage.

    A top-level operation (worker loop, CLI): it first commits the current session, whose
    open transaction would otherwise block the jobs' own transactions on SQLite.
    """
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    db.session.commit()
    if _config(app).redis_url:
        with suppress(Exception):  # Redis down: the lost-job check waits for the next round
            requeue_lost(app)
    total = 0
    while True:
        due = _due_ids()
        if not due:
            return total
        sent = dispatch(app, due)
        total += sent
        if sent < len(due):  # Redis refused: try again on the next round
            return total


@lru_cache(maxsize=8)
def redis_connection(url: str) -> Any:
    """A Redis client for `url` with short timeouts, so an outage fails fast."""
    from redis import Redis

    return Redis.from_url(url, socket_connect_timeout=2, socket_timeout=10)


def rq_queue(app: Flask) -> Any:
    """The rq queue of this installation (requires `redis_url`)."""
    from rq import Queue

    cfg = _config(app)
    if not cfg.redis_url:
        raise RuntimeError("REDIS_URL is not configured")
    return Queue(cfg.rq_queue, connection=redis_connection(cfg.redis_url))


def rq_job_id(outbox_id: int) -> str:
    """The rq job id of an outbox row."""
    return f"outbox-{outbox_id}"


def send_to_rq(app: Flask, ids: list[int]) -> int:
    """Enqueue outbox rows on rq and mark them dispatched; a Redis error leaves them pending."""
    from rq import Callback, Retry
    from rq.exceptions import DuplicateJobError

    cfg = _config(app)
    with db.engine.connect() as conn:
        names = dict(conn.execute(
            select(OutboxJob.id, OutboxJob.name).where(OutboxJob.id.in_(ids))).tuples().all())
    retry = (Retry(max=cfg.job_max_retries, interval=list(cfg.job_retry_intervals))
             if cfg.job_max_retries > 0 else None)
    sent: list[int] = []
    try:
        queue = rq_queue(app)
        for outbox_id in ids:
            name = names.get(outbox_id)
            if name is None:
                continue
            # DuplicateJobError: already in Redis (an earlier dispatch lost its bookkeeping)
            with suppress(DuplicateJobError):
                queue.enqueue(
                    RUNNER, outbox_id,
                    job_id=rq_job_id(outbox_id), unique=True, retry=retry,
                    on_failure=Callback(FAILURE_CALLBACK), description=f"{name} #{outbox_id}",
                    job_timeout=registry.timeout_of(name),
                )
            sent.append(outbox_id)
    except Exception as exc:
        log.warning("Redis unavailable (%s): %d job(s) stay pending",
                    type(exc).__name__, len(ids) - len(sent))
    if sent:
        with db.engine.begin() as conn:
            conn.execute(update(OutboxJob).where(OutboxJob.id.in_(sent))
                         .values(dispatched_at=clock.now()))
    return len(sent)


def requeue_lost(app: Flask) -> int:
    """Mark for re-dispatch the jobs handed to rq long ago that Redis no longer holds.

    A Redis restart without persistence (or an eviction) loses queued jobs; their rows would
    otherwise stay "dispatched" for ever. Jobs are idempotent, so sending one again is safe.
    """
    from rq.job import Job

    stale = select(OutboxJob.id).where(
        OutboxJob.dispatched_at.is_not(None), OutboxJob.dispatched_at < clock.now() - LOST_AFTER,
        OutboxJob.done_at.is_(None), OutboxJob.failed_at.is_(None)).limit(DISPATCH_BATCH)
    with db.engine.connect() as conn:
        ids = [int(i) for i in conn.execute(stale).scalars()]
    conn_redis = rq_queue(app).connection
    lost = [i for i in ids if not Job.exists(rq_job_id(i), connection=conn_redis)]
    if lost:
        with db.engine.begin() as conn:
            conn.execute(update(OutboxJob).where(OutboxJob.id.in_(lost))
                         .values(dispatched_at=None))
        log.warning("%d job(s) lost inside Redis will be dispatched again", len(lost))
    return len(lost)
