"""Pads: every subject gets one; content needs it; outcomes move it to the expiry epoch."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from caseapp import clock
from caseapp.cases import decisions
from caseapp.cases.keys import open_case_key
from caseapp.crypto import KeyUnavailable, RetentionKeys, apply_pad, random_key
from caseapp.extensions import db
from caseapp.retention.locks import lock_of, retention_keys, subject_key
from caseapp.rewards.claims import open_claim
from caseapp.rewards.models import Reward
from caseapp.tips import access
from caseapp.tips.errors import TipNotReadable
from caseapp.tips.models import Tip

from .conftest import Finance, World, case_row, claimed_case, close_case, new_case, ring, tip, user


def test_pad_is_its_own_inverse_and_either_half_alone_is_not_the_key() -> None:
    key, pad = random_key(), random_key()
    content = apply_pad(key, pad, "tip:1:v1")
    assert content != key and apply_pad(content, pad, "tip:1:v1") == key
    assert apply_pad(key, pad, "tip:2:v1") != content  # bound to the subject


def test_epoch_keys_are_shared_through_the_file(tmp_path: Path) -> None:
    one, two = RetentionKeys(tmp_path), RetentionKeys(tmp_path)
    assert one.get("2030-01") is None
    key = one.get("2030-01", create=True)
    assert key is not None and two.get("2030-01", create=True) == key  # read, not re-made
    assert two.destroy("2030-01") and one.epochs() == []
    assert (tmp_path / "retention.json").stat().st_mode & 0o777 == 0o600


def test_new_tip_and_case_are_locked_in_the_active_epoch(world: World, ctx: None) -> None:
    case_id, tip_id = new_case(world)
    for kind, subject in (("tip", tip_id), ("case", case_id)):
        lock = lock_of(kind, subject)
        assert lock is not None and lock.epoch == "active" and lock.expires_on is None
        assert lock.wrapped_pad and len(lock.wrapped_pad) > 32


def test_without_the_epoch_key_nothing_opens(world: World, ctx: None) -> None:
    tip_id, receipt = tip()
    case_id, _ = new_case(world)
    intake = ring(world.intake)
    assert access.open_content(db.session.get(Tip, tip_id),
                               access.open_tip_key(db.session.get(Tip, tip_id), intake))
    keys = retention_keys()
    saved = dict(keys._keys)
    keys._keys.pop("active")
    keys.path.write_text('{"version": 1, "epochs": {}}')  # as if R["active"] were gone
    db.session.remove()
    try:
        with pytest.raises(TipNotReadable):
            access.open_tip_key(db.session.get(Tip, tip_id), intake)
        with pytest.raises(TipNotReadable):
            access.open_with_receipt(receipt)
        with pytest.raises(KeyUnavailable):
            open_case_key(case_row(case_id), ring(world.inv_h))
    finally:
        keys._write(saved)
        keys.reload()


def _epoch(day: date) -> str:
    return day.strftime("%Y-%m")


def test_rejected_tip_expires_after_the_tip_period(app, world: World, ctx: None) -> None:
    tip_id, receipt = tip()
    decisions.reject(db.session.get(Tip, tip_id), ring(world.intake), user(world.intake), "spam")
    expires = clock.now().date() + timedelta(days=app.config["CASEAPP"].tip_rejected_days)
    lock = lock_of("tip", tip_id)
    assert lock is not None and lock.expires_on == expires and lock.epoch == _epoch(expires)
    assert lock.outcome == "tip_rejected"
    assert retention_keys().get(_epoch(expires)) is not None
    # the pad moved epochs; the tip still opens for the tipster and intake
    assert access.open_with_receipt(receipt).fields["narrative"]
    assert access.open_tip_key(db.session.get(Tip, tip_id), ring(world.intake))


@pytest.mark.parametrize("outcome", ["substantiated", "unsubstantiated"])
def test_closed_case_and_its_tips_expire_by_outcome(app, world: World, ctx: None,
                                                    outcome: str) -> None:
    cfg = app.config["CASEAPP"]
    case_id, tip_id = new_case(world)
    close_case(world, case_id, tip_id, outcome)
    days = cfg.archive_days if outcome == "substantiated" else cfg.case_unsubstantiated_days
    expires = clock.now().date() + timedelta(days=days)
    for kind, subject in (("case", case_id), ("tip", tip_id)):
        lock = lock_of(kind, subject)
        assert lock is not None and (lock.expires_on, lock.epoch) == (expires, _epoch(expires))
        assert lock.outcome == f"case_{outcome}"
    assert open_case_key(case_row(case_id), ring(world.inv_h))  # still opens


def test_reopening_moves_case_tips_and_claim_back_to_active(world: World, fin: Finance,
                                                            ctx: None) -> None:
    from caseapp.cases import workflow

    case_id, tip_id, reward_id = claimed_case(world)
    assert lock_of("reward", reward_id).expires_on == lock_of("case", case_id).expires_on
    req = workflow.request_reopen(case_row(case_id), ring(world.inv_h), user(world.inv_h),
                                  "new evidence")
    workflow.approve_reopen(case_row(case_id), req.id, user(world.lead_h))
    for kind, subject in (("case", case_id), ("tip", tip_id), ("reward", reward_id)):
        lock = lock_of(kind, subject)
        assert lock is not None and (lock.epoch, lock.expires_on) == ("active", None)
    assert open_case_key(case_row(case_id), ring(world.inv_h))
    reward = db.session.get(Reward, reward_id)
    assert open_claim(reward, ring(fin.officer)).payee_name


def test_paid_reward_is_kept_for_the_archive_period_from_payment(app, world: World,
                                                                 fin: Finance,
                                                                 ctx: None) -> None:
    clock.move(timedelta(days=40))
    _case_id, _tip_id, reward_id = claimed_case(world, paid=fin)
    expires = clock.now().date() + timedelta(days=app.config["CASEAPP"].archive_days)
    lock = lock_of("reward", reward_id)
    assert lock is not None and (lock.expires_on, lock.outcome) == (expires, "reward_paid")
    reward = db.session.scalar(select(Reward).where(Reward.id == reward_id))
    assert open_claim(reward, ring(fin.officer)).payee_name


def test_legacy_subject_without_pad_still_opens_and_is_purged(app, world: World,
                                                               ctx: None) -> None:
    from caseapp.crypto import decrypt_text, encrypt_field
    from caseapp.retention import service
    from caseapp.tips.service import content_aad

    tip_id, _receipt = tip("stored before retention existed")
    row = db.session.get(Tip, tip_id)
    content_key = access.open_tip_key(row, ring(world.intake))
    raw = subject_key("tip", tip_id, content_key)
    row.content = encrypt_field(raw, decrypt_text(content_key, row.content, content_aad(tip_id)),
                                content_aad(tip_id))  # what the migration's backfill covers
    lock = lock_of("tip", tip_id)
    lock.wrapped_pad, lock.epoch = None, "legacy"
    db.session.commit()
    db.session.remove()
    row = db.session.get(Tip, tip_id)
    assert access.open_tip_key(row, ring(world.intake)) == raw
    decisions.reject(row, ring(world.intake), user(world.intake), "spam")
    lock = lock_of("tip", tip_id)
    assert lock.epoch == "legacy" and lock.expires_on is not None
    clock.move(timedelta(days=app.config["CASEAPP"].tip_rejected_days + 40))
    report = service.purge()
    assert [s[:2] for s in report.subjects] == [("tip", tip_id)] and "legacy" not in report.epochs
    assert db.session.get(Tip, tip_id) is None
