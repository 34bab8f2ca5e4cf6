"""`flask --app caseapp retention purge [--dry-run]` and `retention status`."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from .. import clock
from . import service

retention_group = AppGroup("retention", help="Retention periods and crypto-shredding.")


@retention_group.command("purge")
@click.option("--dry-run", is_flag=True, help="Only list what would be purged.")
def purge_command(dry_run: bool) -> None:
    """Purge expired tips, cases and claims, then destroy unused retention-epoch keys."""
    report = service.purge(clock.now().date(), dry_run=dry_run)
    verb = "would purge" if dry_run else "purged"
    for kind, subject_id, expires_on in report.subjects:
        click.echo(f"{verb} {kind} {subject_id} (expired {expires_on.isoformat()})")
    verb = "would destroy" if dry_run else "destroyed"
    for epoch in report.epochs:
        click.echo(f"{verb} retention key {epoch}")
    click.echo(f"{len(report.subjects)} subject(s), {len(report.epochs)} epoch key(s)")


@retention_group.command("warn")
def warn_command() -> None:
    """Notify lead departments of cases that expire within the warning window."""
    click.echo(f"warned {len(service.warn_expiring())} case(s)")


@retention_group.command("status")
def status_command() -> None:
    """Locks per epoch, and the epoch keys in the retention key file."""
    from .locks import retention_keys

    for epoch, count in sorted(service.lock_counts().items()):
        click.echo(f"{epoch}: {count} lock(s)")
    click.echo("epoch keys: " + (", ".join(retention_keys().epochs()) or "none"))


def register(app: Flask) -> None:
    """Add the `retention` command group."""
    app.cli.add_command(retention_group)
