"""Encrypted backups: database dump + upload store, sealed to the escrow public key.

A backup opens only with the offline escrow private key. The installation key store
(`instance/keys/`) is deliberately NOT in the backup: it is backed up separately, so that
destroying a retention key (crypto-shredding) also reaches old database backups.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from . import clock
from .crypto import PrivateKey, PublicKey, decrypt_stream, encrypt_stream, random_key, seal, unseal
from .crypto.errors import CryptoError

MAGIC = b"CASEAPP-BACKUP-1\n"


class BackupError(Exception):
    """A backup could not be made or restored."""


@dataclass(frozen=True)
class BackupInfo:
    """What a backup holds, read from its manifest."""

    created_at: str
    dialect: str
    escrow_kid: str


def _libpq_url(database_url: str) -> str:
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def _dump_database(database_url: str, target: Path) -> str:
    """Dump the database into `target`; returns the dialect name."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        src = sqlite3.connect(str(url.database))
        dst = sqlite3.connect(target)
        with dst:
            src.backup(dst)
        src.close()
        dst.close()
        return "sqlite"
    subprocess.run(["pg_dump", "--format=custom", "--no-owner", "--file", str(target),  # noqa: S607
                    _libpq_url(database_url)], check=True, capture_output=True)
    return "postgresql"


def _restore_database(database_url: str, dump: Path, dialect: str) -> None:
    """Replace the database's content with the dump."""
    url = make_url(database_url)
    if dialect != ("sqlite" if url.get_backend_name() == "sqlite" else "postgresql"):
        raise BackupError(f"backup is of a {dialect} database; the target is not")
    if dialect == "sqlite":
        src = sqlite3.connect(dump)
        dst = sqlite3.connect(str(url.database))
        with dst:
            src.backup(dst)
        src.close()
        dst.close()
        return
    result = subprocess.run(["pg_restore", "--clean", "--if-exists", "--no-owner",  # noqa: S607
                             "--single-transaction", "--dbname", _libpq_url(database_url),
                             str(dump)], capture_output=True, text=True)
    if result.returncode != 0:
        raise BackupError(f"pg_restore failed: {result.stderr[-500:]}")


def create_backup(database_url: str, uploads: Path, escrow: PublicKey, escrow_kid: str,
                  out: Path) -> BackupInfo:
    """Write an encrypted backup file to `out`."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        dialect = _dump_database(database_url, work / "database.dump")
        info = BackupInfo(clock.now().isoformat(timespec="seconds"), dialect, escrow_kid)
        (work / "manifest.json").write_text(json.dumps(info.__dict__))
        tar_path = work / "backup.tar"
        with tarfile.open(tar_path, "w") as tar:
            tar.add(work / "manifest.json", "manifest.json")
            tar.add(work / "database.dump", "database.dump")
            if uploads.exists():
                tar.add(uploads, "uploads")
        key = random_key()
        sealed = seal(key, escrow, f"backup:{escrow_kid}")
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as sink, tar_path.open("rb") as source:
            sink.write(MAGIC)
            sink.write(escrow_kid.encode() + b"\n")
            sink.write(len(sealed).to_bytes(4, "big") + sealed)
            encrypt_stream(key, source, sink, f"backup:{escrow_kid}")
    return info


def restore_backup(path: Path, escrow_private: PrivateKey, database_url: str,
                   uploads: Path) -> BackupInfo:
    """Decrypt a backup with the escrow private key and restore database and uploads."""
    with path.open("rb") as source, tempfile.TemporaryDirectory() as tmp:
        if source.read(len(MAGIC)) != MAGIC:
            raise BackupError("not a caseapp backup file")
        kid = source.readline().strip().decode()
        size = int.from_bytes(source.read(4), "big")
        try:
            key = unseal(source.read(size), escrow_private, f"backup:{kid}")
            tar_path = Path(tmp) / "backup.tar"
            with tar_path.open("wb") as sink:
                decrypt_stream(key, source, sink, f"backup:{kid}")
        except CryptoError as exc:
            raise BackupError("the backup does not open with this escrow key") from exc
        with tarfile.open(tar_path) as tar:
            tar.extractall(tmp, filter="data")
        info = BackupInfo(**json.loads((Path(tmp) / "manifest.json").read_text()))
        _restore_database(database_url, Path(tmp) / "database.dump", info.dialect)
        restored = Path(tmp) / "uploads"
        if uploads.exists():
            shutil.rmtree(uploads)
        if restored.exists():
            shutil.copytree(restored, uploads)
    return info


__all__ = ["BackupError", "BackupInfo", "create_backup", "restore_backup"]


def register(app: object) -> None:
    """Add `flask backup create FILE` and `flask backup restore FILE --escrow-key KEYFILE`."""
    import click
    from flask import Flask, current_app
    from flask.cli import AppGroup

    from .crypto import read_escrow_file
    from .keys import keystore

    group = AppGroup("backup", help="Encrypted backups (open only with the escrow key).")

    def _uploads() -> Path:
        return Path(current_app.config["CASEAPP"].instance_path) / "uploads"

    @group.command("create")
    @click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
    def create_cmd(out: Path) -> None:
        """Write an encrypted backup of the database and the upload store."""
        store = keystore()
        info = create_backup(current_app.config["SQLALCHEMY_DATABASE_URI"], _uploads(),
                             store.escrow_key, store.escrow_current, out)
        click.echo(f"backup written to {out} ({info.dialect}, {info.created_at}); "
                   f"it opens only with escrow key {info.escrow_kid}. Back up "
                   f"{current_app.config['CASEAPP'].keys_dir} separately.")

    @group.command("restore")
    @click.argument("src", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.option("--escrow-key", "escrow_file", required=True,
                  type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.confirmation_option(prompt="This replaces the database and uploads. Continue?")
    def restore_cmd(src: Path, escrow_file: Path) -> None:
        """Restore a backup made by `backup create` (needs the offline escrow key)."""
        from .extensions import db

        _kid, private = read_escrow_file(escrow_file)
        db.session.remove()
        db.engine.dispose()
        try:
            info = restore_backup(src, private, current_app.config["SQLALCHEMY_DATABASE_URI"],
                                  _uploads())
        except BackupError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"restored backup of {info.created_at}")

    assert isinstance(app, Flask)
    app.cli.add_command(group)
