"""Background jobs: the one `enqueue()`; rq with REDIS_URL, inline without.

Jobs take ids, open their own app context and session, and are idempotent. `enqueue`
writes an outbox row in the caller's transaction; after commit the row is sent to rq
(or run inline), so a Redis outage delays a job but never loses it or the change.
Features register jobs in `caseapp/<feature>/jobs.py` (imported automatically):

    @job("tips.scrub_attachment")
    def scrub_attachment(attachment_id: int) -> None: ...

    enqueue("tips.scrub_attachment", attachment_id=a.id)   # then db.session.commit()
"""

from __future__ import annotations

from flask import Flask

from .models import OutboxJob, PeriodicRun
from .outbox import dispatch_pending, enqueue
from .registry import JobError, job, periodic
from .runner import run_outbox_job
from .service import retry, status, tick

__all__ = [
    "JobError", "OutboxJob", "PeriodicRun", "dispatch_pending", "enqueue", "init_app", "job",
    "periodic", "retry", "run_outbox_job", "status", "tick",
]


def init_app(app: Flask) -> None:
    """Register the administrator's jobs page."""
    from . import views

    views.init_app(app)
