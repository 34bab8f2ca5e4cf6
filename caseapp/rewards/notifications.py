"""Adapter to the staff notifications of `caseapp.notify`: content-free notices to finance."""

from __future__ import annotations

import importlib
import logging
from typing import Any

from flask import current_app

from ..extensions import db
from .claims import finance_department
from .models import Reward

log = logging.getLogger(__name__)
CLAIM_ARRIVED = "rewards.claim_arrived"


def _notify_fn() -> Any | None:
    try:
        module = importlib.import_module("caseapp.notify")
    except ImportError:
        return None
    return getattr(module, "notify", None)


def tell_finance_claim_arrived(reward_id: int) -> bool:
    """Notify the finance department's members that reward `reward_id` was claimed.

    The notice names only the kind of event and the reward id (which leads to the finance
    screen behind a login); it carries no claim content. False when nothing was sent.
    """
    reward = db.session.get(Reward, reward_id)
    dept = finance_department(db.session, current_app.config["CASEAPP"])
    if reward is None or dept is None:
        return False
    notify = _notify_fn()
    if notify is None:
        log.info("caseapp.notify missing: claim on reward %s not announced", reward_id)
        return False
    notify(CLAIM_ARRIVED, department_id=dept.id, object_type="reward", object_id=reward.id)
    return True


def register_kind_label() -> None:
    """Give the notification list a label for the rewards notice (if `caseapp.notify` has one)."""
    from flask_babel import lazy_gettext as _l

    try:
        views = importlib.import_module("caseapp.notify.views")
    except ImportError:
        return
    labels = getattr(views, "KIND_LABELS", None)
    if isinstance(labels, dict):
        labels.setdefault(CLAIM_ARRIVED, _l("A reward claim arrived"))
