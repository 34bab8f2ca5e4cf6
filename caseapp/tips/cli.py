"""Tip commands (`flask --app caseapp tips …`): verify a proof, purge leftovers."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import delete, select

from .. import clock
from ..extensions import db

tips_group = AppGroup("tips", help="Tip portal commands.")


@tips_group.command("verify-proof")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def verify_proof_command(path: Path) -> None:
    """Check a proof of submission: prints "valid" (exit 0) or "INVALID" (exit 1)."""
    from ..keys import keystore
    from .proof import verify_proof

    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        text = ""
    fields = verify_proof(keystore(), text)
    if fields is None:
        click.echo("INVALID")
        sys.exit(1)
    click.echo("valid")
    click.echo(f"submitted-at: {fields['submitted-at']}")
    click.echo(f"category: {fields['category']}")
    from .models import Tip

    ref = db.session.scalar(select(Tip.ref).where(Tip.receipt_lookup == fields["receipt-lookup"]))
    click.echo(f"tip: {ref}" if ref else "tip: not in this database")


@tips_group.command("purge")
@click.option("--older-than-hours", default=24, show_default=True)
def purge_command(older_than_hours: int) -> None:
    """Delete used form tokens and orphaned upload files (tips, case evidence) by age."""
    from ..cases.evidence import store as evidence_store
    from ..cases.models import Evidence
    from .models import TipFile, TipFormToken
    from .uploads import UploadStore

    cfg = current_app.config["CASEAPP"]
    age = max(older_than_hours, cfg.portal_form_max_age_hours)
    cutoff = clock.now() - timedelta(hours=age)
    result = db.session.execute(delete(TipFormToken).where(TipFormToken.used_at < cutoff))
    db.session.commit()
    removed = UploadStore.for_app().purge_orphans(
        set(db.session.scalars(select(TipFile.stored_name))))
    # evidence files are written while the request is parsed; a killed worker leaves one
    removed += evidence_store().purge_orphans(
        set(db.session.scalars(select(Evidence.stored_name))))
    click.echo(f"form tokens removed: {getattr(result, 'rowcount', 0)}; "
               f"orphaned files removed: {removed}")


@tips_group.command("escrow-grant")
@click.option("--escrow-file", required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--department", "code", required=True, help="department code, e.g. health")
@click.option("--all", "all_tips", is_flag=True, help="every tip, not only those without "
              "an intake department")
def escrow_grant_command(escrow_file: Path, code: str, all_tips: bool) -> None:
    """Offline recovery: seal tip keys to a department using the escrow private key."""
    from ..accounts.models import Department
    from ..audit.service import record
    from ..crypto import read_escrow_file
    from .escrow import escrow_grant_department

    kid, private = read_escrow_file(escrow_file)
    dept = db.session.scalar(select(Department).where(Department.code == code))
    if dept is None:
        raise click.ClickException(f"no department {code!r}")
    done = escrow_grant_department(private, kid, dept.id, dept.public_key, not all_tips)
    record("tip.escrow_granted", object_type="department", object_id=dept.id,
           detail={"tips": done, "escrow_kid": kid}, commit=True)
    click.echo(f"tips granted to {code}: {done}")


def register(app: Flask) -> None:
    """Add the `tips` command group."""
    app.cli.add_command(tips_group)
