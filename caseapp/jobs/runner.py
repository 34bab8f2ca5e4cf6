"""Running one outbox job: the rq entry point, the inline runner and the failure alert."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, current_app, has_app_context

from .. import clock
from ..extensions import db
from ..logs import describe_error
from . import registry
from .models import OutboxJob

log = logging.getLogger(__name__)
_app: Flask | None = None


def set_app(app: Flask | None) -> None:
    """Use `app` for jobs run outside an app context (tests; None forgets it)."""
    global _app
    _app = app


def get_app() -> Flask:
    """The app jobs run in: the current one, the one set, or one built from the environment."""
    global _app
    if has_app_context():
        return current_app._get_current_object()  # type: ignore[attr-defined]
    if _app is None:
        from .. import create_app

        _app = create_app()
    return _app


class JobFailed(Exception):  # noqa: N818 - what rq shows as the failure
    """A job raised; carries only `describe_error` of it (rq stores and logs this, no cause)."""


def run_outbox_job(outbox_id: int) -> None:
    """Run outbox row `outbox_id` once, in a fresh app context; a finished job is skipped.

    Whatever the job raises is replaced by a content-free `JobFailed`, raised outside the
    handler (no chained cause), so rq's stored exc_info, its logs and webhooks never see an
    exception message that might quote tip content.
    """
    error: str | None = None
    with get_app().app_context():
        try:
            _run(int(outbox_id))
        except Exception as exc:
            error = describe_error(exc)
    if error is not None:
        raise JobFailed(error)


def _run(outbox_id: int) -> None:
    row = db.session.get(OutboxJob, outbox_id, with_for_update=True)
    if row is None or row.done_at is not None:
        db.session.rollback()
        if row is None:
            log.warning("outbox job %s does not exist (rolled back?)", outbox_id)
        return
    name, attempts = row.name, row.attempts + 1
    now = clock.now()
    row.attempts = attempts
    row.started_at = now
    row.dispatched_at = row.dispatched_at or now
    try:
        fn = registry.get(name)
        fn(**row.kwargs)
        row.done_at = clock.now()
        row.last_error = None
        db.session.commit()
    except Exception as exc:
        db.session.rollback()
        error = describe_error(exc)
        log.warning("job %s (outbox %d) attempt %d failed: %s", name, outbox_id, attempts, error)
        _note_attempt(outbox_id, attempts, error)
        raise


def _note_attempt(outbox_id: int, attempts: int, error: str) -> None:
    """Record a failed attempt in its own transaction (the job's work was rolled back)."""
    try:
        row = db.session.get(OutboxJob, outbox_id, with_for_update=True)
        if row is not None:
            row.attempts = max(row.attempts, attempts)
            row.last_error = error
            row.dispatched_at = row.dispatched_at or clock.now()
        db.session.commit()
    except Exception:
        db.session.rollback()
        log.exception("could not record the failed attempt of outbox job %d", outbox_id)


def mark_failed(outbox_id: int) -> bool:
    """Retries are exhausted: set failed_at and write the `job.failed` audit alert."""
    from ..audit.service import record

    with get_app().app_context():
        row = db.session.get(OutboxJob, outbox_id, with_for_update=True)
        if row is None or row.done_at is not None or row.failed_at is not None:
            db.session.rollback()
            return False
        row.failed_at = clock.now()
        record("job.failed", object_type="job", object_id=outbox_id,
               detail={"name": row.name, "attempts": row.attempts, "error": row.last_error})
        db.session.commit()
        log.error("job %s (outbox %d) failed after %d attempts: %s",
                  row.name, outbox_id, row.attempts, row.last_error)
        return True


def run_inline(outbox_id: int) -> bool:
    """Run a job now, retrying at once up to `job_max_retries`; True when it succeeded."""
    app = get_app()
    tries = app.config["CASEAPP"].job_max_retries + 1
    for _ in range(tries):
        try:
            run_outbox_job(outbox_id)
            return True
        except Exception:  # noqa: S112 - recorded by the runner; retried, then marked failed
            continue
    mark_failed(outbox_id)
    return False


def on_job_failure(job: Any, connection: Any, exc_type: Any, value: Any, tb: Any) -> None:
    """rq failure callback: once rq has no retry left, mark the outbox row failed and alert."""
    if job.should_retry:
        return
    try:
        mark_failed(int(job.args[0]))
    except Exception:
        log.exception("could not mark rq job %s failed", job.id)
