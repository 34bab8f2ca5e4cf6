"""Commands: `flask init`, `flask demo`, `flask user …`, `flask keys …`."""

from __future__ import annotations

from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from ..crypto import (
    KeyStoreError,
    KeyUnavailable,
    PrivateKey,
    read_escrow_file,
    write_escrow_file,
)
from ..crypto.keystore import ESCROW_FILE
from ..extensions import db
from ..keys import ensure_keystore, keystore
from . import keys, service
from .errors import AccountError
from .models import Department, User

user_group = AppGroup("user", help="Staff accounts.")
keys_group = AppGroup("keys", help="Installation and department keys.")


@click.command("init")
@with_appcontext
def init_command() -> None:
    """Create the installation keys (idempotent); the escrow key must then go offline."""
    _store, created = ensure_keystore()
    if not created:
        click.echo("Key store already present; nothing to do.")
        return
    path = current_app.config["CASEAPP"].instance_path / ESCROW_FILE
    click.echo(f"Installation keys created in {current_app.config['CASEAPP'].keys_dir}")
    click.echo(f"ESCROW PRIVATE KEY written to {path}")
    click.echo("Move it OFFLINE now (e.g. a USB key in a safe) and delete it from this server.")
    click.echo("It is needed to recover department keys and to grant the first key holders.")


def _department(code: str) -> Department:
    dept = db.session.scalar(db.select(Department).where(Department.code == code))
    if dept is None:
        raise click.ClickException(f"no department {code!r}")
    return dept


def _user(username: str) -> User:
    user = service.get_user(username)
    if user is None:
        raise click.ClickException(f"no user {username!r}")
    return user


@user_group.command("create")
@click.argument("username")
@click.option("--name", "display_name", default="", help="Full name.")
@click.option("--department", "department_code", default=None, help="Department code.")
@click.option("--role", "roles", multiple=True, required=True, help="Role (repeatable).")
@click.password_option(help="Initial password (prompted when omitted).")
@click.option("--temporary/--permanent", default=True,
              help="Require a new password at first login (default).")
def user_create(username: str, display_name: str, department_code: str | None,
                roles: tuple[str, ...], password: str, temporary: bool) -> None:
    """Create a staff account."""
    dept = _department(department_code) if department_code else None
    try:
        user = service.create_user(username, display_name or username, dept, roles, password,
                                   must_change_password=temporary)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Created {user.username} (roles: {', '.join(sorted(user.roles))}).")
    if dept is not None:
        click.echo("A key holder of the department must grant the key (or: flask keys grant).")


@user_group.command("reset")
@click.argument("username")
def user_reset(username: str) -> None:
    """Reset a password: fresh key pair, grants dropped; prints a temporary password."""
    user = _user(username)
    temp = service.generate_temp_password()
    try:
        service.admin_reset_password(None, user, temp)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Temporary password for {user.username}: {temp}")
    click.echo("The department key must be granted again (department lead, or flask keys grant).")


@user_group.command("disable")
@click.argument("username")
def user_disable(username: str) -> None:
    """Disable an account and end its sessions."""
    service.set_active(None, _user(username), False)
    click.echo(f"Disabled {username}.")


def _read_escrow(path: Path) -> tuple[str, PrivateKey]:
    try:
        return read_escrow_file(path)
    except KeyStoreError as exc:
        raise click.ClickException(str(exc)) from exc


@keys_group.command("grant")
@click.option("--escrow-key", "escrow_path", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--department", "department_code", required=True)
@click.option("--user", "username", required=True)
def keys_grant(escrow_path: Path, department_code: str, username: str) -> None:
    """Offline recovery: grant a department key to a member with the escrow private key."""
    kid, private = _read_escrow(escrow_path)
    try:
        keys.escrow_grant(private, kid, _department(department_code).id, _user(username))
    except (KeyUnavailable, AccountError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Granted the {department_code} key to {username}.")


@keys_group.command("rotate-index")
def keys_rotate_index() -> None:
    """Add a new blind-index key (old ones stay for look-ups)."""
    store = keystore()
    kid = store.rotate_index_key()
    store.save()
    click.echo(f"New blind-index key {kid}.")


@keys_group.command("rotate-signing")
def keys_rotate_signing() -> None:
    """Add a new signing key (old public keys still verify)."""
    store = keystore()
    kid = store.rotate_signing_key()
    store.save()
    click.echo(f"New signing key {kid}.")


@keys_group.command("rotate-escrow")
@click.option("--old-escrow-key", "old_path", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path))
def keys_rotate_escrow(old_path: Path) -> None:
    """Replace the escrow key and re-wrap every escrow-sealed key; safe to re-run."""
    old_kid, old_private = _read_escrow(old_path)
    store = keystore()
    try:
        known_kid = keys.escrow_kid_of(old_private, store)
    except KeyUnavailable as exc:
        raise click.ClickException(str(exc)) from exc
    if known_kid != old_kid:
        raise click.ClickException("the escrow file's key id does not match its key")
    if store.escrow_current == old_kid:
        new_private = store.rotate_escrow_key()
        new_path = current_app.config["CASEAPP"].instance_path / (
            f"escrow-private-key-{store.escrow_current}.txt")
        write_escrow_file(new_path, store.escrow_current, new_private)  # refuses to overwrite
        store.save()
        click.echo(f"NEW ESCROW PRIVATE KEY written to {new_path}; move it offline.")
    else:
        click.echo(f"Resuming rotation to escrow key {store.escrow_current}.")
    result = keys.rotate_escrow(old_private, store)
    others = sum(rewrap(old_kid, old_private, store) for rewrap in keys.ESCROW_REWRAPPERS)
    click.echo(f"Re-wrapped {result.rotated} department keys ({others} other keys); "
               f"{result.remaining} still on an older escrow key.")


def register(app: Flask) -> None:
    """Add the account and key commands to the app's CLI."""
    from .demo import demo_command

    app.cli.add_command(init_command)
    app.cli.add_command(demo_command)
    app.cli.add_command(user_group)
    app.cli.add_command(keys_group)
