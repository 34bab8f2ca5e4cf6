"""`flask --app caseapp worker` and the `jobs` group: dispatch, tick, failed, retry."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from .outbox import dispatch_pending
from .service import retry, status, tick

jobs_group = AppGroup("jobs", help="Background job commands.")


@click.command("worker")
@click.option("--burst", is_flag=True, help="Quit when the queue is empty.")
@click.option("--simple", is_flag=True, help="Run jobs in this process (no fork per job).")
@with_appcontext
def worker_command(burst: bool, simple: bool) -> None:
    """Serve the rq queue and dispatch the outbox (needs REDIS_URL)."""
    from .worker import run_worker

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if not app.config["CASEAPP"].redis_url:
        raise click.UsageError(
            "REDIS_URL is not set: without Redis jobs run inline after each commit; "
            "run `flask --app caseapp jobs dispatch` and `jobs tick` from cron instead."
        )
    run_worker(app, burst=burst, simple=simple)


@jobs_group.command("dispatch")
def dispatch_command() -> None:
    """Send pending outbox jobs to rq (or run them inline without Redis)."""
    click.echo(f"dispatched {dispatch_pending()} job(s)")


@jobs_group.command("tick")
def tick_command() -> None:
    """Enqueue the periodic jobs that are due."""
    names = tick()
    click.echo(f"enqueued {len(names)} periodic job(s){': ' + ', '.join(names) if names else ''}")


@jobs_group.command("failed")
def failed_command() -> None:
    """List failed outbox jobs and rq's failed job ids."""
    info = status()
    click.echo(f"pending {info.pending}, in flight {info.in_flight}, failed {info.failed}")
    for row in info.failed_rows:
        click.echo(f"outbox {row.id} {row.name} failed {row.failed_at:%Y-%m-%d %H:%M:%S} "
                   f"after {row.attempts} attempt(s): {row.last_error or '-'}")
    if info.rq_configured:
        if info.rq_error:
            click.echo(f"rq failed registry unavailable: {info.rq_error}")
        for job_id in info.rq_failed_ids:
            click.echo(f"rq failed: {job_id}")


@jobs_group.command("retry")
@click.argument("outbox_id", type=int)
@click.pass_context
def retry_command(ctx: click.Context, outbox_id: int) -> None:
    """Reset a failed job and dispatch it again."""
    if not retry(outbox_id):
        click.echo(f"no open outbox job {outbox_id}")
        ctx.exit(1)
    click.echo(f"outbox job {outbox_id} dispatched again")


def register(app: Flask) -> None:
    """Add `worker` and the `jobs` group."""
    app.cli.add_command(worker_command)
    app.cli.add_command(jobs_group)
