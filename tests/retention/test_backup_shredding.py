"""The promise: a database backup taken before a purge cannot open the purged content after it.

A backup holds every wrap of K (department seals, escrow seals, the tipster's seal) and the
wrapped pads; what it does not hold is the retention key file. Restored with the current
key file (the purged epoch destroyed) and the escrow private key, nothing purged opens —
neither through escrow nor through a department member. Restored with the key file as it
was before the purge (the control), everything does; content that had not expired opens
either way.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask, current_app
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from caseapp import clock, create_app
from caseapp.backup import restore_backup
from caseapp.cases import evidence
from caseapp.cases.keys import open_case_key
from caseapp.cases.models import LAYOUT_ROW_ID, Case, CaseKeyWrap, Evidence
from caseapp.cases.tipkeys import case_tip_keys
from caseapp.config import Config
from caseapp.crypto import (
    DecryptionError,
    KeyUnavailable,
    PrivateKey,
    decrypt_text,
    escrow_aad,
    read_escrow_file,
    unseal,
    unwrap_key,
)
from caseapp.crypto.keystore import ESCROW_FILE
from caseapp.crypto.retention import RETENTION_FILE
from caseapp.extensions import db
from caseapp.retention import service
from caseapp.retention.locks import retention_keys, subject_key
from caseapp.rewards.claims import open_claim, open_claim_escrow
from caseapp.rewards.models import Reward
from caseapp.tips import access
from caseapp.tips.errors import TipNotReadable
from caseapp.tips.models import Tip, TipKeyWrap
from caseapp.tips.service import content_aad
from tests.conftest import PG_URL

from .conftest import EVIDENCE, Finance, World, add_evidence, claimed_case, new_case, ring

PERIOD = 100  # days: every outcome of this test expires after 100 days


@pytest.fixture
def config(config: Config) -> Config:
    """Short periods, so one clock move passes every expiry and its month."""
    return config.with_(tip_rejected_days=PERIOD, case_unsubstantiated_days=PERIOD,
                        archive_days=PERIOD)


@dataclass(frozen=True)
class Made:
    """Ids of what the test stores before the backup."""

    case: int
    tip: int
    reward: int
    open_case: int
    open_tip: int


@pytest.fixture
def restored_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database of the same backend to restore the backup into."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'restored.sqlite3'}"
        return
    base = make_url(str(PG_URL))
    name = f"{base.database}_restored"
    admin = create_engine(str(PG_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield base.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _make(world: World, fin: Finance) -> Made:
    case_id, tip_id, reward_id = claimed_case(world, paid=fin)
    open_case, open_tip = new_case(world, place="另一诊所")
    add_evidence(world, open_case)
    return Made(case_id, tip_id, reward_id, open_case, open_tip)


def _restore(app: Flask, url: str, tmp_path: Path, backup: Path, key_file: Path) -> Flask:
    """A new app on `url` and a new instance folder: the backup, this key file, escrow."""
    cfg: Config = app.config["CASEAPP"]
    inst = tmp_path / f"restored-{key_file.stem}"
    (inst / "keys").mkdir(parents=True)
    shutil.copy(cfg.keys_dir / "installation.json", inst / "keys" / "installation.json")
    shutil.copy(key_file, inst / "keys" / RETENTION_FILE)
    shutil.copy(cfg.instance_path / ESCROW_FILE, inst / ESCROW_FILE)
    restored = create_app(cfg.with_(instance_path=inst, database_url=url))
    with restored.app_context():
        _kid, escrow = read_escrow_file(inst / ESCROW_FILE)
        db.session.remove()
        db.engine.dispose()
        restore_backup(backup, escrow, url, inst / "uploads")
        db.engine.dispose()
    return restored


def _escrow_opens_tip(tip_id: int) -> str:
    """What escrow recovery reads of a tip: K from the escrow seal, then the content."""
    _kid, escrow = _escrow()
    wrap = db.session.scalar(select(TipKeyWrap).where(
        TipKeyWrap.tip_id == tip_id, TipKeyWrap.holder_kind == "escrow"))
    raw = unseal(wrap.wrapped, escrow, escrow_aad("tip", tip_id, wrap.holder_id))
    tip = db.session.get(Tip, tip_id)
    with pytest.raises(DecryptionError):  # K alone never opens content
        decrypt_text(raw, tip.content, content_aad(tip_id))
    return access.open_content(tip, subject_key("tip", tip_id, raw)).fields["narrative"]


def _escrow_opens_case(case_id: int) -> bytes:
    """Escrow recovery of a case: K from the escrow seal, then an evidence file."""
    _kid, escrow = _escrow()
    wrap = db.session.scalar(select(CaseKeyWrap).where(
        CaseKeyWrap.case_id == case_id, CaseKeyWrap.holder_kind == "escrow"))
    raw = unseal(wrap.wrapped, escrow, escrow_aad("case", f"{case_id}:v1", wrap.holder_id))
    key = subject_key("case", case_id, raw, 1)
    row = db.session.scalar(select(Evidence).where(Evidence.case_id == case_id))
    file_key = unwrap_key(key, row.wrapped_key, f"case:{case_id}:evidence:{row.id}:key")
    binding = (f"case:{case_id}:evidence:{row.id}:data" if row.layout == LAYOUT_ROW_ID
               else f"case:{case_id}:evidence-file:{row.stored_name}")
    return b"".join(evidence.store().read_chunks(row.stored_name, file_key, binding))


def _escrow() -> tuple[str, PrivateKey]:
    """The offline escrow key (copied into the restored instance for the test)."""
    return read_escrow_file(current_app.config["CASEAPP"].instance_path / ESCROW_FILE)


def _member_opens(world: World, made: Made, fin: Finance, subject: str) -> bool:
    """True when a department member (or finance) opens the subject; False when refused."""
    try:
        if subject == "tip":
            tip = db.session.get(Tip, made.tip)
            return bool(access.open_content(tip, access.open_tip_key(tip, ring(world.intake))))
        if subject == "case":
            case = db.session.get(Case, made.case)
            row = db.session.scalar(select(Evidence).where(Evidence.case_id == made.case))
            data = b"".join(evidence.chunks(case, row, ring(world.inv_h)))
            return data == EVIDENCE and made.tip in case_tip_keys(case, ring(world.inv_p))
        reward = db.session.get(Reward, made.reward)
        return bool(open_claim(reward, ring(fin.officer)).payee_name)
    except (KeyUnavailable, TipNotReadable):
        return False


def test_backup_before_purge_cannot_open_purged_content(app: Flask, world: World,
                                                        fin: Finance, tmp_path: Path,
                                                        restored_url: str) -> None:
    cfg: Config = app.config["CASEAPP"]
    with app.app_context():
        made = _make(world, fin)
        db.session.remove()
    before_keys = tmp_path / "retention-before.json"
    shutil.copy(cfg.keys_dir / RETENTION_FILE, before_keys)  # the key file's own backup
    backup = tmp_path / "before-purge.cab"
    out = app.test_cli_runner().invoke(args=["backup", "create", str(backup)])
    assert out.exit_code == 0, out.output

    clock.move(timedelta(days=PERIOD + 35))  # past expiry and past its month
    with app.app_context():
        report = service.purge()
        assert {(k, i) for k, i, _ in report.subjects} == {
            ("case", made.case), ("tip", made.tip), ("reward", made.reward)}
        assert report.epochs  # the epoch key of the expiry month is gone
        assert retention_keys().get("active") is not None
        db.session.remove()
    after_keys = tmp_path / "retention-after.json"
    shutil.copy(cfg.keys_dir / RETENTION_FILE, after_keys)

    # 1. the old backup, restored with today's key file: purged content is gone for good
    restored = _restore(app, restored_url, tmp_path, backup, after_keys)
    with restored.app_context():
        assert db.session.get(Tip, made.tip) is not None  # the rows are back …
        reward = db.session.get(Reward, made.reward)
        assert reward.claim_sealed is not None and reward.claim_escrow is not None
        for subject in ("tip", "case", "reward"):  # … but no member opens them
            assert not _member_opens(world, made, fin, subject), subject
        with pytest.raises(KeyUnavailable):
            _escrow_opens_tip(made.tip)
        with pytest.raises(KeyUnavailable):
            _escrow_opens_case(made.case)
        with pytest.raises(KeyUnavailable):
            open_claim_escrow(reward, _escrow()[1])
        # content that had not expired still opens from the same backup
        open_case = db.session.get(Case, made.open_case)
        assert open_case_key(open_case, ring(world.inv_h))
        assert _escrow_opens_tip(made.open_tip)
        assert _escrow_opens_case(made.open_case) == EVIDENCE
        db.session.remove()
        db.engine.dispose()

    # 2. control: the same backup with the key file as it was before the purge opens all
    if restored_url.startswith("sqlite"):
        Path(make_url(restored_url).database or "").unlink()
    restored = _restore(app, restored_url, tmp_path, backup, before_keys)
    with restored.app_context():
        for subject in ("tip", "case", "reward"):
            assert _member_opens(world, made, fin, subject), subject
        assert _escrow_opens_tip(made.tip)
        assert _escrow_opens_case(made.case) == EVIDENCE
        reward = db.session.get(Reward, made.reward)
        assert open_claim_escrow(reward, _escrow()[1]).payee_name
        db.session.remove()
        db.engine.dispose()
