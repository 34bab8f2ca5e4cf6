"""Warning before expiry, the purge (rows, files, claim, lock, audit) and its epoch keys."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from caseapp import clock
from caseapp.audit.models import AuditEntry
from caseapp.cases import decisions
from caseapp.cases.models import Case, CaseKeyWrap, Evidence, Note
from caseapp.extensions import db
from caseapp.notify.models import Notification
from caseapp.retention import service
from caseapp.retention.locks import lock_of, retention_keys
from caseapp.retention.models import RetentionLock
from caseapp.rewards.models import PayoutLedger, Reward
from caseapp.tips.models import Tip, TipBlindIndex, TipFile, TipKeyWrap, TipMessage
from caseapp.tips.service import TipInput, submit_tip
from caseapp.tips.uploads import UploadedFile

from .conftest import (
    DISTRICT_TIP,
    Finance,
    World,
    claimed_case,
    close_case,
    new_case,
    ring,
    user,
)

FILE_MARKER = b"TIPFILE-MARKER-51c0"


def _tip_with_file() -> int:
    done = submit_tip(TipInput(category="sex_identification", district=DISTRICT_TIP,
                               narrative="clinic on the corner"),
                      [UploadedFile("scan.pdf", io.BytesIO(b"%PDF-1.4\n" + FILE_MARKER))])
    return done.tip_id


def _count(model: object, *where: object) -> int:
    return int(db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _stored_files(app) -> set[str]:
    root = Path(app.config["CASEAPP"].instance_path) / "uploads"
    return {p.name for p in root.rglob("*") if p.is_file()}


def test_lead_department_is_warned_once_before_expiry(app, world: World, ctx: None) -> None:
    case_id, tip_id = new_case(world)
    close_case(world, case_id, tip_id, "unsubstantiated")
    cfg = app.config["CASEAPP"]
    expires = lock_of("case", case_id).expires_on
    clock.move(timedelta(days=cfg.case_unsubstantiated_days - cfg.retention_warning_days - 1))
    assert service.warn_expiring() == []  # not yet inside the window
    clock.move(timedelta(days=2))
    assert service.warn_expiring() == [case_id]
    assert service.warn_expiring() == []  # once only
    notes = db.session.scalars(select(Notification).where(
        Notification.kind == service.WARNING_KIND)).all()
    assert [(n.department_id, n.role, n.object_id) for n in notes] == [
        (world.health, "dept_lead", str(case_id))]
    assert lock_of("case", case_id).warned_on == clock.now().date()
    assert lock_of("case", case_id).expires_on == expires


def test_case_page_shows_the_expiry_date_to_the_lead(app, world: World) -> None:
    from tests.cases.conftest import login

    with app.app_context():
        case_id, tip_id = new_case(world)
        close_case(world, case_id, tip_id, "unsubstantiated")
        expires = lock_of("case", case_id).expires_on
        db.session.remove()
    client = app.test_client()
    login(client, "lead_h")
    page = client.get(f"/staff/cases/{case_id}").get_data(as_text=True)
    assert expires.isoformat() in page and 'id="retention"' in page


def test_purge_deletes_rows_files_and_claim_but_keeps_the_ledger(app, world: World,
                                                                 fin: Finance,
                                                                 ctx: None) -> None:
    case_id, tip_id, reward_id = claimed_case(world, paid=fin)
    rejected = _tip_with_file()
    decisions.reject(db.session.get(Tip, rejected), ring(world.intake), user(world.intake),
                     "spam")
    keep_case, keep_tip = new_case(world)  # open: never purged
    files_before = _stored_files(app)
    evidence_name = db.session.scalar(select(Evidence.stored_name))
    tip_file = db.session.scalar(select(TipFile.stored_name).where(TipFile.tip_id == rejected))
    assert {evidence_name, tip_file} <= files_before

    clock.move(timedelta(days=app.config["CASEAPP"].tip_rejected_days))
    report = service.purge()
    assert [s[:2] for s in report.subjects] == [("tip", rejected)]
    assert db.session.get(Tip, rejected) is None
    assert _count(TipFile, TipFile.tip_id == rejected) == 0
    assert tip_file not in _stored_files(app) and evidence_name in _stored_files(app)

    clock.move(timedelta(days=app.config["CASEAPP"].archive_days + 1))
    report = service.purge()
    assert {(k, i) for k, i, _ in report.subjects} == {("case", case_id), ("tip", tip_id),
                                                       ("reward", reward_id)}
    assert db.session.get(Case, case_id) is None and db.session.get(Tip, tip_id) is None
    for model, column, subject in ((CaseKeyWrap, CaseKeyWrap.case_id, case_id),
                                   (Note, Note.case_id, case_id),
                                   (Evidence, Evidence.case_id, case_id),
                                   (TipKeyWrap, TipKeyWrap.tip_id, tip_id),
                                   (TipMessage, TipMessage.tip_id, tip_id),
                                   (TipBlindIndex, TipBlindIndex.tip_id, tip_id)):
        assert _count(model, column == subject) == 0, model
    assert evidence_name not in _stored_files(app)
    reward = db.session.get(Reward, reward_id)
    assert reward is not None and reward.state == "paid" and reward.amount == 10000
    assert reward.claim_sealed is None and reward.claim_escrow is None
    assert _count(PayoutLedger, PayoutLedger.reward_id == reward_id) == 1
    assert all(lock_of(k, i) is None for k, i in (("case", case_id), ("tip", tip_id),
                                                  ("reward", reward_id), ("tip", rejected)))
    assert db.session.get(Case, keep_case) is not None  # open case untouched
    assert lock_of("case", keep_case).epoch == lock_of("tip", keep_tip).epoch == "active"
    assert _count(RetentionLock) == 2

    entries = db.session.scalars(select(AuditEntry).where(
        AuditEntry.action == "retention.purged")).all()
    assert {(e.object_type, e.object_id) for e in entries} == {
        ("tip", str(rejected)), ("tip", str(tip_id)), ("case", str(case_id)),
        ("reward", str(reward_id))}
    for e in entries:
        detail = json.loads(e.detail)
        assert set(detail) == {"outcome", "epoch", "expires_on", "ref"}
    # the epoch keys of both expiry months are destroyed once their months are over
    destroyed = {json.loads(e.detail).get("epoch") or e.object_id for e in db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "retention.epoch_destroyed"))}
    purged_epochs = {json.loads(e.detail)["epoch"] for e in entries}
    assert purged_epochs <= destroyed | {clock.now().strftime("%Y-%m")}
    assert all(retention_keys().get(e) is None for e in destroyed)
    assert retention_keys().get("active") is not None


def test_purge_of_the_current_month_waits_for_the_month_to_end(app, world: World,
                                                              ctx: None) -> None:
    tip_id = _tip_with_file()
    decisions.reject(db.session.get(Tip, tip_id), ring(world.intake), user(world.intake),
                     "spam")
    epoch = lock_of("tip", tip_id).epoch
    clock.move(timedelta(days=app.config["CASEAPP"].tip_rejected_days))
    first = service.purge()
    assert [s[1] for s in first.subjects] == [tip_id]
    if clock.now().strftime("%Y-%m") == epoch:  # purged inside its month: key kept for now
        assert first.epochs == [] and retention_keys().get(epoch) is not None
    clock.move(timedelta(days=32))
    assert epoch in service.purge().epochs + first.epochs
    assert retention_keys().get(epoch) is None


def test_crash_between_rows_and_key_destruction_recovers(app, world: World, ctx: None,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    tip_id = _tip_with_file()
    decisions.reject(db.session.get(Tip, tip_id), ring(world.intake), user(world.intake),
                     "spam")
    epoch = lock_of("tip", tip_id).epoch
    clock.move(timedelta(days=app.config["CASEAPP"].tip_rejected_days + 40))

    def crash(_today: object) -> list[str]:
        raise RuntimeError("power cut")

    monkeypatch.setattr(service, "destroy_epochs", crash)
    with pytest.raises(RuntimeError):
        service.purge()
    db.session.remove()
    assert db.session.get(Tip, tip_id) is None  # rows went in their own transaction
    assert retention_keys().get(epoch) is not None  # the key survived the crash
    monkeypatch.undo()
    report = service.purge()
    assert report.subjects == [] and report.epochs == [epoch]
    assert retention_keys().get(epoch) is None
    assert service.purge().epochs == []  # idempotent


def test_dry_run_and_cli(app, world: World) -> None:
    with app.app_context():
        tip_id = _tip_with_file()
        decisions.reject(db.session.get(Tip, tip_id), ring(world.intake),
                         user(world.intake), "spam")
        epoch = lock_of("tip", tip_id).epoch
        db.session.remove()
    clock.move(timedelta(days=app.config["CASEAPP"].tip_rejected_days + 40))
    runner = app.test_cli_runner()
    out = runner.invoke(args=["retention", "purge", "--dry-run"])
    assert out.exit_code == 0, out.output
    assert f"would purge tip {tip_id}" in out.output and f"would destroy retention key {epoch}" \
        in out.output
    with app.app_context():
        assert db.session.get(Tip, tip_id) is not None
        assert retention_keys().get(epoch) is not None
    out = runner.invoke(args=["retention", "purge"])
    assert out.exit_code == 0 and f"purged tip {tip_id}" in out.output
    assert f"destroyed retention key {epoch}" in out.output
    with app.app_context():
        assert db.session.get(Tip, tip_id) is None
    out = runner.invoke(args=["retention", "status"])
    assert out.exit_code == 0 and epoch not in out.output


def test_periodic_sweep_is_registered_and_runs(app, world: World, ctx: None) -> None:
    from caseapp.jobs.registry import get, periodic_jobs

    assert "retention.sweep" in {p.name for p in periodic_jobs()}
    tip_id = _tip_with_file()
    decisions.reject(db.session.get(Tip, tip_id), ring(world.intake), user(world.intake),
                     "spam")
    clock.move(timedelta(days=app.config["CASEAPP"].tip_rejected_days))
    get("retention.sweep")()
    assert db.session.get(Tip, tip_id) is None
