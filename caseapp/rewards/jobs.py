"""Background work of the rewards feature: the expiry sweep and the claim notification."""

from __future__ import annotations

import logging
from typing import Any

from ..extensions import db
from ..jobs import job, periodic
from . import service
from .notifications import tell_finance_claim_arrived

log = logging.getLogger(__name__)


def _expiry_interval(cfg: Any) -> int:
    """Seconds between expiry sweeps (Config.reward_expiry_every_seconds)."""
    return int(getattr(cfg, "reward_expiry_every_seconds", 3600))


@periodic("rewards.expire_unclaimed", _expiry_interval)
def expire_unclaimed() -> None:
    """Move eligible rewards whose claim window has passed to `expired` (runner commits)."""
    done = service.expire_due(db.session)
    if done:
        log.info("%d unclaimed reward(s) expired", len(done))


@job("rewards.notify_claim")
def notify_claim(reward_id: int) -> None:
    """Tell the finance department that a claim arrived (no content, only that it did)."""
    tell_finance_claim_arrived(int(reward_id))
