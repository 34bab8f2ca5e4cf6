"""The rq worker process: an rq Worker plus a thread that dispatches the outbox and ticks."""

from __future__ import annotations

import logging
import os
import threading

from flask import Flask

from ..extensions import db
from .outbox import dispatch_pending, redis_connection, rq_queue
from .runner import set_app
from .service import tick

log = logging.getLogger(__name__)
DISPATCH_INTERVAL = 5.0


class Dispatcher(threading.Thread):
    """Every few seconds: move pending outbox rows to rq and enqueue due periodic jobs."""

    def __init__(self, app: Flask, interval: float = DISPATCH_INTERVAL) -> None:
        super().__init__(name="caseapp-dispatcher", daemon=True)
        self.app = app
        self.interval = interval
        self._stop_event = threading.Event()

    def once(self) -> None:
        """One round, in its own app context; errors are logged, never raised."""
        with self.app.app_context():
            try:
                sent = dispatch_pending()
                due = tick()
                if sent or due:
                    log.info("dispatched %d job(s); periodic: %s", sent, ", ".join(due) or "-")
            except Exception:
                log.exception("dispatcher round failed")

    def run(self) -> None:
        """Loop until stopped."""
        while not self._stop_event.wait(self.interval):
            self.once()

    def stop(self) -> None:
        """Ask the loop to end."""
        self._stop_event.set()


def run_worker(app: Flask, *, burst: bool = False, simple: bool = False,
               interval: float = DISPATCH_INTERVAL) -> bool:
    """Serve the rq queue until stopped (or until empty with `burst`); True if it ran jobs."""
    from rq import SimpleWorker, Worker

    cfg = app.config["CASEAPP"]
    if not cfg.redis_url:
        raise RuntimeError("REDIS_URL is not set: without Redis, jobs run inline and no worker "
                           "is needed (use `flask jobs dispatch` / `flask jobs tick` from cron)")
    set_app(app)  # jobs run in this app, also in forked work horses without a context
    with app.app_context():
        engine = db.engine
    # A forked work horse must not share the parent's pooled database connections.
    os.register_at_fork(after_in_child=lambda: engine.dispose(close=False))
    dispatcher = Dispatcher(app, interval)
    dispatcher.once()
    if not burst:
        dispatcher.start()
    worker_class = SimpleWorker if simple else Worker
    worker = worker_class([rq_queue(app)], connection=redis_connection(cfg.redis_url))
    try:
        return bool(worker.work(burst=burst, with_scheduler=True))
    finally:
        dispatcher.stop()
