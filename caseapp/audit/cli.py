"""`flask --app caseapp audit verify`: check the hash chain end to end."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from .service import verify_chain

audit_group = AppGroup("audit", help="Audit log commands.")


@audit_group.command("verify")
@click.pass_context
def verify_command(ctx: click.Context) -> None:
    """Verify the audit chain; exit 1 and name the first bad entry when it is broken."""
    result = verify_chain()
    if result.ok:
        click.echo(f"audit log OK: {result.checked} entries")
        click.echo(f"head hash: {result.head_hash}")
        return
    where = f"id {result.bad_id}" if result.bad_id is not None else "row missing"
    click.echo(f"audit log BROKEN at entry #{result.first_bad_seq} ({where}): {result.reason}")
    click.echo(f"{result.checked} entries verified before it")
    ctx.exit(1)


def register(app: Flask) -> None:
    """Add the `audit` command group."""
    app.cli.add_command(audit_group)
