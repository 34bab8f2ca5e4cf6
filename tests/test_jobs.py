"""Jobs: outbox written with the change, dispatched after commit, inline or via rq."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from caseapp import clock, create_app
from caseapp.accounts.permissions import Role
from caseapp.audit.models import AuditEntry
from caseapp.audit.service import record, verify_chain
from caseapp.extensions import db
from caseapp.jobs import (
    JobError,
    OutboxJob,
    dispatch_pending,
    enqueue,
    job,
    periodic,
    registry,
    run_outbox_job,
    status,
    tick,
)

DOWN_REDIS = "redis://127.0.0.1:1/0"


@job("test.mark")
def mark(marker: str) -> None:
    """The job's effect: one audit entry per run, counted by the tests."""
    record("test.job", object_type="test", object_id=marker)


@job("test.fails")
def fails(marker: str) -> None:
    """Writes an effect, then fails: the effect must never persist."""
    record("test.half_done", object_type="test", object_id=marker)
    raise RuntimeError("secret narrative must not reach last_error")


@job("test.chain")
def chain(marker: str) -> None:
    """A job that enqueues another job."""
    enqueue("test.mark", marker=marker + "-next")


def effects(marker: str, action: str = "test.job") -> int:
    return int(db.session.scalar(
        select(func.count(AuditEntry.id))
        .where(AuditEntry.action == action, AuditEntry.object_id == marker)) or 0)


def outbox(outbox_id: int) -> OutboxJob:
    db.session.expire_all()
    row = db.session.get(OutboxJob, outbox_id)
    assert row is not None
    return row


@pytest.fixture
def ctx(app: Flask) -> Iterator[None]:
    with app.app_context():
        yield


def _app_with(app: Flask, **changes: object) -> Flask:
    return create_app(app.config["CASEAPP"].with_(**changes))


@pytest.fixture
def rq_app(app: Flask, redis_url: str) -> Iterator[Flask]:
    """The test app's database with Redis configured, retries immediate, db 5 flushed."""
    from caseapp.jobs.outbox import redis_connection

    redis_connection(redis_url).flushdb()
    application = _app_with(app, redis_url=redis_url, job_retry_intervals=(0,),
                            rq_queue="caseapp-test")
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()
    redis_connection(redis_url).flushdb()


@pytest.fixture
def down_app(app: Flask) -> Iterator[Flask]:
    """The test app's database with a Redis URL where nothing listens."""
    application = _app_with(app, redis_url=DOWN_REDIS, rq_queue="caseapp-test")
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


def burst(application: Flask) -> None:
    """Run an in-process rq worker until the queue is empty."""
    from rq import SimpleWorker

    from caseapp.jobs.outbox import rq_queue

    with application.app_context():
        queue = rq_queue(application)
        SimpleWorker([queue], connection=queue.connection).work(burst=True)


# --- inline (no Redis) -------------------------------------------------------------------

def test_inline_job_runs_after_commit(ctx: None) -> None:
    record("case.state_changed", object_type="case", object_id=1)
    row = enqueue("test.mark", marker="a")
    assert effects("a") == 0
    db.session.commit()
    assert effects("a") == 1
    done = outbox(row.id)
    assert done.done_at is not None and done.attempts == 1 and done.failed_at is None
    assert verify_chain().ok


def test_no_job_after_rollback(ctx: None) -> None:
    enqueue("test.mark", marker="b")
    db.session.rollback()
    db.session.commit()
    assert effects("b") == 0
    assert db.session.scalar(select(func.count(OutboxJob.id))) == 0


def test_job_in_rolled_back_savepoint_does_not_run(ctx: None) -> None:
    nested = db.session.begin_nested()
    enqueue("test.mark", marker="inner")
    nested.rollback()
    enqueue("test.mark", marker="outer")
    db.session.commit()
    assert effects("inner") == 0 and effects("outer") == 1


def test_running_a_job_twice_has_one_effect(ctx: None) -> None:
    row_id = enqueue("test.mark", marker="c").id
    db.session.commit()
    run_outbox_job(row_id)
    run_outbox_job(row_id)
    assert effects("c") == 1 and outbox(row_id).attempts == 1


def test_failing_inline_job_is_retried_then_failed_with_alert(ctx: None) -> None:
    record("case.state_changed", object_type="case", object_id=2)
    row_id = enqueue("test.fails", marker="d").id
    db.session.commit()  # the change commits even though its job fails
    row = outbox(row_id)
    assert row.attempts == 3 + 1 and row.failed_at is not None and row.done_at is None
    assert row.last_error is not None and "RuntimeError" in row.last_error
    assert "secret" not in row.last_error
    assert effects("d", "test.half_done") == 0
    assert effects("2", "case.state_changed") == 1
    alerts = db.session.execute(select(AuditEntry).where(AuditEntry.action == "job.failed"))
    alert = alerts.scalar_one()
    assert alert.object_id == str(row_id) and "test.fails" in alert.detail
    assert "secret" not in alert.detail and verify_chain().ok
    info = status()
    assert info.failed == 1 and [r.id for r in info.failed_rows] == [row_id]


def test_job_enqueued_by_a_job_runs(ctx: None) -> None:
    enqueue("test.chain", marker="e")
    db.session.commit()
    assert effects("e-next") == 1


def test_enqueue_refuses_unknown_jobs_and_content(ctx: None) -> None:
    with pytest.raises(JobError):
        enqueue("test.nope", marker="x")
    with pytest.raises(JobError):
        enqueue("test.mark", marker="x" * 500)
    with pytest.raises(JobError):
        enqueue("test.mark", marker={"text": "narrative"})


def test_delayed_job_waits_for_dispatch(ctx: None) -> None:
    row_id = enqueue("test.mark", marker="f", run_after=clock.now() + timedelta(hours=1)).id
    db.session.commit()
    assert effects("f") == 0 and dispatch_pending() == 0
    clock.move(timedelta(hours=2))
    assert dispatch_pending() == 1
    assert effects("f") == 1 and outbox(row_id).done_at is not None


@pytest.fixture
def periodic_job() -> Iterator[str]:
    """A periodic job registered for one test only."""

    def beat() -> None:
        record("test.job", object_type="test", object_id="beat")

    periodic("test.beat", every_seconds=lambda cfg: cfg.job_max_retries * 20)(beat)  # 60 s
    yield "test.beat"
    registry._PERIODIC.pop("test.beat", None)
    registry._JOBS.pop("test.beat", None)


def test_tick_enqueues_due_periodic_jobs(ctx: None, periodic_job: str) -> None:
    assert periodic_job in tick()  # other features' periodic jobs run on their first tick too
    assert effects("beat") == 1
    assert tick() == []
    clock.move(timedelta(seconds=61))
    assert tick() == [periodic_job]
    assert effects("beat") == 2


def test_cli_commands_inline(app: Flask, periodic_job: str) -> None:
    runner = app.test_cli_runner()
    with app.app_context():
        enqueue("test.fails", marker="g")
        db.session.commit()
    out = runner.invoke(args=["jobs", "failed"])
    assert out.exit_code == 0 and "failed 1" in out.output and "test.fails" in out.output
    assert "test.beat" in runner.invoke(args=["jobs", "tick"]).output
    assert "dispatched 0 job(s)" in runner.invoke(args=["jobs", "dispatch"]).output
    worker = runner.invoke(args=["worker", "--burst"])
    assert worker.exit_code != 0 and "REDIS_URL" in worker.output


def test_admin_page(app: Flask, client: FlaskClient) -> None:
    from tests.test_audit import login

    assert client.get("/staff/admin/jobs").status_code == 302
    with app.app_context():
        row_id = enqueue("test.fails", marker="h").id
        db.session.commit()
    login(client, app, "root", [Role.ADMIN])
    resp = client.get("/staff/admin/jobs?lang=en")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert "test.fails" in html and f"<td>{row_id}</td>" in html and "secret" not in html
    assert 'href="/staff/admin/jobs' in html  # the menu entry


# --- with Redis ----------------------------------------------------------------------------

def test_rq_job_runs_once_in_worker(rq_app: Flask) -> None:
    from caseapp.jobs.outbox import rq_queue

    with rq_app.app_context():
        record("case.state_changed", object_type="case", object_id=3)
        row_id = enqueue("test.mark", marker="r1").id
        db.session.commit()
        row = outbox(row_id)
        assert row.dispatched_at is not None and row.done_at is None
        assert effects("r1") == 0
        assert rq_queue(rq_app).job_ids == [f"outbox-{row_id}"]
    burst(rq_app)
    with rq_app.app_context():
        assert effects("r1") == 1 and outbox(row_id).done_at is not None
        db.session.commit()  # end the read transaction (SQLite: one writer)
        run_outbox_job(row_id)  # a duplicate delivery changes nothing
        assert effects("r1") == 1
        db.session.execute(update(OutboxJob).values(dispatched_at=None))
        db.session.commit()
        assert dispatch_pending() == 0  # done jobs are never dispatched again


def test_redis_outage_delays_but_never_loses_a_job(down_app: Flask, rq_app: Flask) -> None:
    with down_app.app_context():
        record("case.state_changed", object_type="case", object_id=4)
        row_id = enqueue("test.mark", marker="r2").id
        db.session.commit()  # no exception: the change is committed
        assert effects("4", "case.state_changed") == 1
        row = outbox(row_id)
        assert row.dispatched_at is None and row.done_at is None
        assert dispatch_pending() == 0 and status().rq_error is not None
    with rq_app.app_context():
        assert dispatch_pending() == 1
        assert dispatch_pending() == 0
    burst(rq_app)
    with rq_app.app_context():
        assert effects("r2") == 1 and outbox(row_id).done_at is not None


def test_duplicate_dispatch_runs_the_job_once(rq_app: Flask) -> None:
    with rq_app.app_context():
        row_id = enqueue("test.mark", marker="r3").id
        db.session.commit()
        db.session.execute(update(OutboxJob).values(dispatched_at=None))
        db.session.commit()
        assert dispatch_pending() == 1  # already in Redis: not enqueued twice
    burst(rq_app)
    with rq_app.app_context():
        assert effects("r3") == 1 and outbox(row_id).attempts == 1


def test_rq_failing_job_retried_then_failed_registry_and_alert(rq_app: Flask) -> None:
    from caseapp.jobs.outbox import rq_queue

    with rq_app.app_context():
        row_id = enqueue("test.fails", marker="r4").id
        db.session.commit()
    burst(rq_app)
    with rq_app.app_context():
        row = outbox(row_id)
        max_retries = rq_app.config["CASEAPP"].job_max_retries
        assert row.attempts == max_retries + 1
        assert row.failed_at is not None and row.done_at is None
        assert f"outbox-{row_id}" in rq_queue(rq_app).failed_job_registry.get_job_ids()
        assert effects(str(row_id), "job.failed") == 1
        assert effects("r4", "test.half_done") == 0
        info = status()
        assert info.failed == 1 and f"outbox-{row_id}" in info.rq_failed_ids


def test_worker_command_dispatches_pending_and_runs(down_app: Flask, rq_app: Flask) -> None:
    with down_app.app_context():
        row_id = enqueue("test.mark", marker="r5").id
        db.session.commit()
    result = rq_app.test_cli_runner().invoke(args=["worker", "--burst", "--simple"])
    assert result.exit_code == 0, result.output
    with rq_app.app_context():
        assert effects("r5") == 1 and outbox(row_id).done_at is not None


def test_retry_command_runs_a_failed_job_again(rq_app: Flask, monkeypatch) -> None:
    with rq_app.app_context():
        row_id = enqueue("test.fails", marker="r6").id
        db.session.commit()
    burst(rq_app)
    monkeypatch.setitem(registry._JOBS, "test.fails", mark)
    out = rq_app.test_cli_runner().invoke(args=["jobs", "retry", str(row_id)])
    assert out.exit_code == 0, out.output
    burst(rq_app)
    with rq_app.app_context():
        row = outbox(row_id)
        assert row.done_at is not None and effects("r6") == 1


def test_job_lost_inside_redis_is_dispatched_again_once(rq_app: Flask) -> None:
    """Redis restarted without persistence: the handed-over job runs after all, once."""
    from caseapp.jobs.outbox import LOST_AFTER, redis_connection

    with rq_app.app_context():
        kept = enqueue("test.mark", marker="kept").id
        lost = enqueue("test.mark", marker="lost").id
        db.session.commit()
        assert outbox(lost).dispatched_at is not None
    conn = redis_connection(rq_app.config["CASEAPP"].redis_url)
    conn.delete(f"rq:job:outbox-{lost}")  # Redis forgot this one
    conn.lrem("rq:queue:caseapp-test", 0, f"outbox-{lost}")
    with rq_app.app_context():
        assert dispatch_pending() == 0  # too recent to be called lost
        clock.move(LOST_AFTER + timedelta(minutes=1))
        assert dispatch_pending() == 1  # only the lost one; the kept one is still in Redis
        assert dispatch_pending() == 0
    burst(rq_app)
    with rq_app.app_context():
        assert effects("lost") == 1 and effects("kept") == 1
        assert outbox(lost).done_at is not None and outbox(kept).done_at is not None
