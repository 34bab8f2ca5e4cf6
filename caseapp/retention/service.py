"""Warning before expiry, and the purge: rows and files first, then the epoch keys.

`purge(today)` handles each expired lock in its own transaction: delete the subject's rows
(database cascades take wraps, messages, files' rows, notes, tasks …), its stored files,
and the lock, and write one metadata-only audit entry. Only then are epoch keys destroyed:
an epoch whose month is over and which no lock uses any more. A crash anywhere leaves a
state the next run finishes (expired locks are still there, or an unused epoch key is).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import delete, func, select, update

from .. import clock
from ..audit.service import record
from ..crypto import ACTIVE_EPOCH
from ..extensions import db
from ..notify import notify
from ..notify.models import Notification
from .locks import retention_keys
from .models import LEGACY_EPOCH, RetentionKind, RetentionLock

log = logging.getLogger(__name__)
WARNING_KIND = "case.retention_expiring"


@dataclass
class PurgeReport:
    """What a purge run did (or, with dry_run, would do)."""

    subjects: list[tuple[str, int, date]] = field(default_factory=list)
    epochs: list[str] = field(default_factory=list)


# -- reading ---------------------------------------------------------------------------
def expiry_of_case(case_id: int) -> date | None:
    """The date a case will be purged (None while it is open); for the case page."""
    return db.session.scalar(select(RetentionLock.expires_on).where(
        RetentionLock.subject_kind == RetentionKind.CASE.value,
        RetentionLock.subject_id == int(case_id)))


def expired_locks(today: date) -> list[RetentionLock]:
    """Locks whose expiry date has come, oldest first."""
    return list(db.session.scalars(select(RetentionLock).where(
        RetentionLock.expires_on.is_not(None), RetentionLock.expires_on <= today)
        .order_by(RetentionLock.expires_on, RetentionLock.id)))


def unused_epochs(today: date) -> list[str]:
    """Epoch keys whose month is over and which no lock uses any more."""
    month = today.strftime("%Y-%m")
    used = set(db.session.scalars(select(RetentionLock.epoch).distinct()))
    return [e for e in retention_keys().epochs()
            if e not in (ACTIVE_EPOCH, LEGACY_EPOCH) and e < month and e not in used]


# -- warning ---------------------------------------------------------------------------
def warn_expiring(today: date | None = None) -> list[int]:
    """Notify each case's lead department once when the case is within the warning window."""
    from ..cases.models import Case

    day = today or clock.now().date()
    horizon = day + timedelta(days=int(current_app.config["CASEAPP"].retention_warning_days))
    rows = db.session.execute(
        select(RetentionLock, Case.lead_department_id)
        .join(Case, Case.id == RetentionLock.subject_id)
        .where(RetentionLock.subject_kind == RetentionKind.CASE.value,
               RetentionLock.expires_on.is_not(None), RetentionLock.expires_on <= horizon,
               RetentionLock.warned_on.is_(None))
        .order_by(RetentionLock.expires_on, RetentionLock.id)).all()
    warned: list[int] = []
    for lock, lead_id in rows:
        notify(WARNING_KIND, object_type="case", object_id=lock.subject_id,
               department_id=lead_id, role="dept_lead")
        lock.warned_on = day
        record("retention.warned", object_type="case", object_id=lock.subject_id,
               detail={"expires_on": lock.expires_on.isoformat()})
        warned.append(lock.subject_id)
    db.session.commit()
    return warned


# -- purge -----------------------------------------------------------------------------
def _purge_tip(tip_id: int) -> str | None:
    from ..tips.models import Tip, TipFile
    from ..tips.uploads import UploadStore

    ref = db.session.scalar(select(Tip.ref).where(Tip.id == tip_id))
    names = list(db.session.scalars(select(TipFile.stored_name).where(TipFile.tip_id == tip_id)))
    db.session.execute(delete(Tip).where(Tip.id == tip_id))
    store = UploadStore.for_app()
    for name in names:
        store.delete(name)
    return ref


def _purge_case(case_id: int) -> str | None:
    from ..cases.evidence import store as evidence_store
    from ..cases.models import Case, Evidence

    ref = db.session.scalar(select(Case.ref).where(Case.id == case_id))
    names = list(db.session.scalars(select(Evidence.stored_name)
                                    .where(Evidence.case_id == case_id)))
    db.session.execute(delete(Case).where(Case.id == case_id))
    store = evidence_store()
    for name in names:
        store.delete(name)
    return ref


def _purge_reward(reward_id: int) -> str | None:
    """Clear a reward's claim; the row itself (and the payout ledger) stays for accounting."""
    from ..rewards.models import Reward

    ref = db.session.scalar(select(Reward.case_ref).where(Reward.id == reward_id))
    db.session.execute(update(Reward).where(Reward.id == reward_id).values(
        claim_sealed=None, claim_escrow=None, claim_escrow_kid=None,
        collection_code_hash=None, collection_code_kid=None))
    return ref


_PURGERS = {RetentionKind.TIP.value: _purge_tip, RetentionKind.CASE.value: _purge_case,
            RetentionKind.REWARD.value: _purge_reward}


def purge_subject(kind: str, subject_id: int, today: date) -> bool:
    """Delete one expired subject, its files and its lock; audit metadata only; commits.

    Re-reads the lock under a row lock: a subject reopened meanwhile is left alone (False).
    """
    try:
        lock = db.session.scalar(select(RetentionLock).where(
            RetentionLock.subject_kind == kind, RetentionLock.subject_id == subject_id)
            .with_for_update())
        if lock is None or lock.expires_on is None or lock.expires_on > today:
            db.session.rollback()
            return False
        detail: dict[str, Any] = {"outcome": lock.outcome, "epoch": lock.epoch,
                                  "expires_on": lock.expires_on.isoformat()}
        ref = _PURGERS[kind](subject_id)
        if kind != RetentionKind.REWARD.value:
            db.session.execute(delete(Notification).where(
                Notification.object_type == kind, Notification.object_id == str(subject_id)))
        db.session.execute(delete(RetentionLock).where(
            RetentionLock.subject_kind == kind, RetentionLock.subject_id == subject_id))
        record("retention.purged", object_type=kind, object_id=subject_id,
               detail=dict(detail, ref=ref))
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return True


def destroy_epochs(today: date) -> list[str]:
    """Destroy every unused epoch key whose month is over; audit each; commits."""
    done: list[str] = []
    keys = retention_keys()
    for epoch in unused_epochs(today):
        record("retention.epoch_destroyed", object_type="retention_epoch", object_id=epoch)
        db.session.flush()
        if keys.destroy(epoch):
            db.session.commit()
            done.append(epoch)
        else:
            db.session.rollback()
    return done


def purge(today: date | None = None, dry_run: bool = False) -> PurgeReport:
    """Purge every expired subject, then the epoch keys nothing uses any more."""
    day = today or clock.now().date()
    report = PurgeReport()
    due = [(lk.subject_kind, lk.subject_id, lk.expires_on) for lk in expired_locks(day)]
    db.session.rollback()  # end the read; each subject gets its own transaction
    for kind, subject_id, expires_on in due:
        assert expires_on is not None
        if dry_run or purge_subject(kind, subject_id, day):
            report.subjects.append((kind, subject_id, expires_on))
    if dry_run:
        remaining = {lk.epoch for lk in db.session.scalars(select(RetentionLock).where(
            RetentionLock.expires_on.is_(None) | (RetentionLock.expires_on > day)))}
        report.epochs = [e for e in retention_keys().epochs()
                         if e not in (ACTIVE_EPOCH, LEGACY_EPOCH)
                         and e < day.strftime("%Y-%m") and e not in remaining]
        db.session.rollback()
        return report
    report.epochs = destroy_epochs(day)
    if report.subjects or report.epochs:
        log.info("retention purge: %d subject(s), epochs destroyed: %s",
                 len(report.subjects), ", ".join(report.epochs) or "none")
    return report


def lock_counts() -> dict[str, int]:
    """Locks per epoch (for `flask retention status`)."""
    rows = db.session.execute(select(RetentionLock.epoch, func.count())
                              .group_by(RetentionLock.epoch))
    return {str(e): int(n) for e, n in rows}
