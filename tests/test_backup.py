"""Restore drill: an encrypted backup opens only with the escrow key and brings data back."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from caseapp.accounts.models import Department
from caseapp.backup import BackupError, create_backup, restore_backup
from caseapp.crypto import generate_keypair, read_escrow_file
from caseapp.crypto.keystore import ESCROW_FILE
from caseapp.extensions import db
from caseapp.keys import keystore
from tests.factories import make_department


def test_backup_and_restore_drill(app, tmp_path: Path) -> None:
    cfg = app.config["CASEAPP"]
    uploads = cfg.instance_path / "uploads"
    uploads.mkdir(exist_ok=True)
    (uploads / "blob.bin").write_bytes(b"ciphertext-already")
    out = tmp_path / "drill.cab"
    with app.app_context():
        make_department("drill_dept")
        db.session.commit()
        store = keystore()
        create_backup(app.config["SQLALCHEMY_DATABASE_URI"], uploads, store.escrow_key,
                      store.escrow_current, out)
        raw = out.read_bytes()
        assert b"drill_dept" not in raw and b"ciphertext-already" not in raw
        db.session.execute(db.delete(Department).where(Department.code == "drill_dept"))
        db.session.commit()
        (uploads / "blob.bin").unlink()
        db.session.remove()
        db.engine.dispose()
        with pytest.raises(BackupError):
            restore_backup(out, generate_keypair(), app.config["SQLALCHEMY_DATABASE_URI"],
                           uploads)
        _kid, escrow = read_escrow_file(cfg.instance_path / ESCROW_FILE)
        restore_backup(out, escrow, app.config["SQLALCHEMY_DATABASE_URI"], uploads)
        db.engine.dispose()
        count = db.session.scalar(select(func.count()).select_from(Department)
                                  .where(Department.code == "drill_dept"))
        assert count == 1
    assert (uploads / "blob.bin").read_bytes() == b"ciphertext-already"
