"""The tipster's reward page on the portal: status, deadline, and the anonymous claim.

It needs the receipt session of the tips feature (`caseapp.tips.portal_session`): the
tipster types the receipt on the follow-up page, and the tip key opened with the key in
that session proves it. A wrong receipt never gets this far.
"""

from __future__ import annotations

import math
from typing import Any

from flask import Blueprint, Flask, current_app, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from sqlalchemy import select
from werkzeug.wrappers import Response as BaseResponse

from .. import clock
from ..accounts.permissions import public
from ..config import Config
from ..extensions import db
from ..tips import portal_session
from ..tips.access import tipster_tip
from ..tips.errors import TipNotReadable, WrongReceipt
from . import texts
from .claims import ClaimInput, ClaimReceipt, submit_claim
from .errors import (
    ClaimWindowClosed,
    FinanceUnavailable,
    IllegalTransition,
    InvalidClaim,
    NoSuchReward,
)
from .forms import ClaimForm, choices, problem_text
from .models import PayoutMethod, Reward, RewardState

bp = Blueprint("rewards_portal", __name__, url_prefix="/follow-up/reward")


def _cfg() -> Config:
    cfg: Config = current_app.config["CASEAPP"]
    return cfg


def signed_in_tip_id() -> int | None:
    """The tip of the tipster signed in with a receipt (its key must open), or None."""
    found = portal_session.current()
    if found is None:
        return None
    try:
        tip, _key = tipster_tip(*found)
    except (WrongReceipt, TipNotReadable):
        portal_session.sign_out()
        return None
    return int(tip.id)


def reward_for_tip(tip_id: int) -> Reward | None:
    """The reward owed to this tip, if any."""
    return db.session.scalar(select(Reward).where(Reward.tip_id == tip_id))


def _signed_out() -> tuple[str, int]:
    return render_template("rewards/portal_signed_out.html"), 401


def _claim_form(formdata: Any = None) -> ClaimForm:
    form = ClaimForm(formdata=formdata) if formdata is not None else ClaimForm(formdata=None)
    form.office.choices = choices([("", _("Choose an office"))]
                                  + [(o, o) for o in _cfg().reward_offices])
    return form


def _render(reward: Reward | None, form: ClaimForm | None = None, status: int = 200,
            **extra: Any) -> tuple[str, int]:
    now = clock.now()
    days_left = None
    if reward is not None and reward.state == RewardState.ELIGIBLE:
        days_left = max(math.ceil((reward.claim_deadline - now).total_seconds() / 86400), 0)
    return render_template(
        "rewards/portal.html", reward=reward, form=form or _claim_form(), texts=texts,
        days_left=days_left, reminder=days_left is not None
        and days_left < _cfg().reward_reminder_days, offices=_cfg().reward_offices,
        **extra), status


@bp.get("")
@public
def reward() -> tuple[str, int]:
    """Whether a reward is available, until when, and what happens next."""
    tip_id = signed_in_tip_id()
    if tip_id is None:
        return _signed_out()
    return _render(reward_for_tip(tip_id))


@bp.post("")
@public
def claim() -> BaseResponse | tuple[str, int]:
    """Submit the claim; on any wrong field the form comes back with everything typed."""
    tip_id = signed_in_tip_id()
    if tip_id is None:
        return _signed_out()
    found = reward_for_tip(tip_id)
    form = _claim_form(request.form)
    if found is None:
        return _render(None, status=404)
    if not form.validate():
        return _render(found, form, 400)
    data = ClaimInput(payee_name=form.payee_name.data or "", id_number=form.id_number.data or "",
                      method=form.method.data or "", bank_name=form.bank_name.data or "",
                      account_number=form.account_number.data or "",
                      office=form.office.data or "")
    try:
        done = submit_claim(db.session, found.id, tip_id, data, _cfg())
    except InvalidClaim as exc:
        for name, code in exc.problems.items():
            field = getattr(form, name, None)
            if field is not None:
                field.errors = [problem_text(code)]
        return _render(found, form, 400, invalid=True)
    except FinanceUnavailable:
        return _render(found, form, 503, unavailable=True)
    except ClaimWindowClosed:
        return _render(db.session.get(Reward, found.id), status=409, closed=True)
    except (IllegalTransition, NoSuchReward):
        db.session.rollback()
        return _render(db.session.get(Reward, found.id), status=409)
    return _claimed(done)


def _claimed(done: ClaimReceipt) -> tuple[str, int]:
    """The confirmation, with the collection code shown this once."""
    return render_template("rewards/portal_claimed.html", done=done, texts=texts,
                           in_person=done.method == PayoutMethod.IN_PERSON), 200


@bp.errorhandler(CSRFError)
def csrf_failed(_exc: CSRFError) -> tuple[str, int]:
    """The portal session ended before the claim was sent."""
    return _signed_out()


def init_app(app: Flask) -> None:
    """Register the portal reward blueprint."""
    app.register_blueprint(bp)

