"""Finance staff screens: queue by state, reward detail, actions, ledger report, CSV, print."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from werkzeug.wrappers import Response as BaseResponse

from .. import clock
from ..accounts.current import current_staff as _me
from ..accounts.keys import current_keyring
from ..accounts.models import User
from ..accounts.nav import add_nav
from ..accounts.permissions import Permission, require
from ..audit.service import record
from ..crypto import KeyUnavailable
from ..extensions import db
from . import forms, ledger, service, texts
from .claims import ClaimDetails, finance_department, open_claim
from .errors import (
    AlreadyPaid,
    IllegalTransition,
    InvalidPayout,
    NoSuchReward,
    NotPermitted,
    RewardError,
    SeparationOfDuties,
    StaleReward,
)
from .forms import LedgerFilterForm, PayForm, RejectForm, VersionedForm, problem_text
from .models import PayoutLedger, Reward, RewardState
from .validation import mask_account, mask_id_number

bp = Blueprint("rewards", __name__, url_prefix="/staff/rewards")




def _reward(reward_id: int) -> Reward:
    reward = db.session.get(Reward, reward_id)
    if reward is None:
        abort(404)
    return reward


def _users(ids: list[int | None]) -> dict[int, User]:
    wanted = {i for i in ids if i}
    if not wanted:
        return {}
    return {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(wanted)))}


def _finance_staff() -> list[User]:
    dept = finance_department()
    if dept is None:
        return []
    return list(db.session.scalars(select(User).where(
        User.department_id == dept.id, User.active.is_(True)).order_by(User.display_name)))


@bp.get("/")
@require(Permission.REWARDS_READ)
def queue() -> str:
    """Rewards by state, with the count in each state."""
    state = request.args.get("state") or RewardState.CLAIMED.value
    if state != "all" and state not in RewardState._value2member_map_:
        state = RewardState.CLAIMED.value
    rows = service.queue(db.session, None if state == "all" else state)
    return render_template("rewards/queue.html", rows=rows, state=state,
                           counts=service.queue_counts(db.session), texts=texts,
                           states=list(RewardState), now=clock.now())


def _open(reward: Reward) -> tuple[ClaimDetails | None, str | None]:
    """The claim opened with the viewer's finance key (audited), or why it cannot be."""
    if reward.claim_sealed is None:
        return None, None
    try:
        details = open_claim(reward, current_keyring())
    except KeyUnavailable:
        return None, _("You do not hold the finance department key, so the claim cannot be "
                       "opened. Ask a colleague who holds it to grant it to you.")
    record("reward.claim_opened", actor=_me(), object_type="reward", object_id=reward.id,
           commit=True)
    return details, None


def _render_detail(reward: Reward, pay_form: PayForm | None = None,
                   reject_form: RejectForm | None = None, status: int = 200) -> tuple[str, int]:
    claim, claim_problem = _open(reward)
    staff = _finance_staff()
    pay_form = pay_form or PayForm(formdata=None, paid_on=clock.now().date(),
                                   method=claim.method if claim else None)
    choices = forms.choices([(0, "—")] + [(u.id, f"{u.display_name} ({u.username})")
                                           for u in staff])
    pay_form.handover_by.choices = choices
    pay_form.handover_witness.choices = choices
    pay_form.version.data = str(reward.version)
    reject_form = reject_form or RejectForm(formdata=None)
    reject_form.version.data = str(reward.version)
    action = VersionedForm(formdata=None, version=str(reward.version))
    entry = db.session.scalar(select(PayoutLedger).where(PayoutLedger.reward_id == reward.id))
    people = _users([reward.verified_by_id, reward.approved_by_id])
    me = _me()
    return render_template(
        "rewards/detail.html", reward=reward, claim=claim, claim_problem=claim_problem,
        texts=texts, mask_id=mask_id_number, mask_account=mask_account, entry=entry,
        people=people, action=action, pay_form=pay_form, reject_form=reject_form,
        can_verify=me.can(Permission.REWARDS_VERIFY),
        can_approve=me.can(Permission.REWARDS_APPROVE) and reward.verified_by_id != me.id,
        can_pay=me.can(Permission.REWARDS_PAY),
        can_reject=me.can(Permission.REWARDS_VERIFY) or me.can(Permission.REWARDS_APPROVE),
    ), status


@bp.get("/<int:reward_id>")
@require(Permission.REWARDS_READ)
def detail(reward_id: int) -> tuple[str, int]:
    """One reward: clear facts, the claim (finance key), history and the next action."""
    return _render_detail(_reward(reward_id))


def _flash_error(exc: RewardError) -> None:
    if isinstance(exc, AlreadyPaid):
        flash(_("This reward has already been paid. Nothing was recorded."), "error")
    elif isinstance(exc, SeparationOfDuties):
        flash(_("You verified this claim, so another person must approve it."), "error")
    elif isinstance(exc, NotPermitted):
        flash(_("Your role does not allow this action."), "error")
    elif isinstance(exc, StaleReward):
        flash(_("Someone changed this reward while you were looking at it. Please check it "
                "again."), "error")
    elif isinstance(exc, IllegalTransition):
        flash(_("This action is not possible while the reward is: %(state)s.",
                state=texts.state_label(exc.state)), "error")
    elif isinstance(exc, InvalidPayout):
        flash(problem_text(exc.code), "error")
    else:
        flash(_("The action could not be completed."), "error")


def _simple_action(reward_id: int, fn: Any, done: str) -> BaseResponse:
    _reward(reward_id)
    form = VersionedForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        fn(db.session, reward_id, _me(), expected_version=form.expected_version())
    except NoSuchReward:
        abort(404)
    except RewardError as exc:
        db.session.rollback()
        _flash_error(exc)
    else:
        flash(done, "success")
    return redirect(url_for("rewards.detail", reward_id=reward_id), 303)


@bp.post("/<int:reward_id>/verify")
@require(Permission.REWARDS_VERIFY)
def verify(reward_id: int) -> BaseResponse:
    """A finance officer confirms the claim was checked."""
    return _simple_action(reward_id, service.verify, _("Claim verified. An approver other "
                                                       "than you must now approve it."))


@bp.post("/<int:reward_id>/approve")
@require(Permission.REWARDS_APPROVE)
def approve(reward_id: int) -> BaseResponse:
    """A finance approver (not the verifier) approves the payout."""
    return _simple_action(reward_id, service.approve, _("Payout approved."))


@bp.post("/<int:reward_id>/reject")
@require(Permission.REWARDS_READ)
def reject(reward_id: int) -> BaseResponse | tuple[str, int]:
    """Refuse the claim with a reason (a final decision)."""
    reward = _reward(reward_id)
    form = RejectForm()
    if not form.validate_on_submit():
        return _render_detail(reward, reject_form=form, status=400)
    try:
        service.reject(db.session, reward_id, _me(), form.reason.data or "",
                       expected_version=form.expected_version())
    except RewardError as exc:
        db.session.rollback()
        _flash_error(exc)
    else:
        flash(_("The claim was rejected."), "success")
    return redirect(url_for("rewards.detail", reward_id=reward_id), 303)


@bp.post("/<int:reward_id>/pay")
@require(Permission.REWARDS_PAY)
def pay(reward_id: int) -> BaseResponse | tuple[str, int]:
    """Record the payout (reference, date, method; code and hand-over for in person)."""
    reward = _reward(reward_id)
    form = PayForm()
    choices = forms.choices([(0, "—")] + [(u.id, u.username) for u in _finance_staff()])
    form.handover_by.choices = choices
    form.handover_witness.choices = choices
    if not form.validate_on_submit():
        return _render_detail(reward, pay_form=form, status=400)
    try:
        service.pay(db.session, reward_id, _me(), method=form.method.data or "",
                    reference=form.reference.data or "", paid_on=form.paid_on.data or date.min,
                    collection_code=form.collection_code.data,
                    handover_ids=[form.handover_by.data or 0, form.handover_witness.data or 0],
                    expected_version=form.expected_version())
    except InvalidPayout as exc:
        db.session.rollback()
        field = getattr(form, exc.field if exc.field != "handover" else "handover_by", None)
        if field is not None:
            field.errors = [problem_text(exc.code)]
        else:
            flash(problem_text(exc.code), "error")
        return _render_detail(db.session.get(Reward, reward_id) or reward, pay_form=form,
                              status=400)
    except RewardError as exc:
        _flash_error(exc)
    else:
        flash(_("Payout recorded in the ledger."), "success")
    return redirect(url_for("rewards.detail", reward_id=reward_id), 303)


@bp.get("/<int:reward_id>/record")
@require(Permission.REWARDS_READ)
def disbursement_record(reward_id: int) -> tuple[str, int]:
    """The printable disbursement record of one payment (filed on paper)."""
    reward = _reward(reward_id)
    entry = db.session.scalar(select(PayoutLedger).where(PayoutLedger.reward_id == reward.id))
    if entry is None:
        abort(404)
    claim, claim_problem = _open(reward)
    people = _users([entry.recorded_by_id, entry.verified_by_id, entry.approved_by_id,
                     entry.handover_by_id, entry.handover_witness_id])
    return render_template("rewards/record.html", reward=reward, entry=entry, claim=claim,
                           claim_problem=claim_problem, people=people, texts=texts,
                           mask_id=mask_id_number, mask_account=mask_account,
                           printed_at=clock.now()), 200


def _period() -> tuple[LedgerFilterForm, ledger.LedgerReport]:
    form = LedgerFilterForm(request.args)
    first, last = ledger.month_bounds(clock.now().date())
    form.validate()
    start = form.date_from.data or first
    end = form.date_to.data or last
    if end < start:
        start, end = end, start
    form.date_from.data, form.date_to.data = start, end
    district = "" if form.district.errors else (form.district.data or "").strip()
    return form, ledger.report(db.session, start, end, district)


@bp.get("/ledger")
@require(Permission.LEDGER_READ)
def ledger_report() -> str:
    """Payments of a period with totals."""
    form, rep = _period()
    return render_template("rewards/ledger.html", form=form, rep=rep, texts=texts,
                           args=request.args.to_dict())


@bp.get("/ledger/print")
@require(Permission.LEDGER_READ)
def ledger_print() -> str:
    """The ledger report as a page to print and sign."""
    form, rep = _period()
    return render_template("rewards/ledger_print.html", rep=rep, texts=texts,
                           printed_at=clock.now(), printed_by=_me())


@bp.get("/ledger.csv")
@require(Permission.LEDGER_READ)
def ledger_csv() -> Response:
    """The ledger report as CSV (UTF-8 with BOM), with TOTAL lines."""
    _form, rep = _period()
    record("ledger.exported", actor=_me(), object_type="ledger",
           detail={"from": rep.date_from.isoformat(), "to": rep.date_to.isoformat(),
                   "rows": rep.count}, commit=True)
    name = f"payout-ledger-{rep.date_from.isoformat()}-{rep.date_to.isoformat()}.csv"
    return Response(ledger.to_csv(rep), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename={name}"})


def init_app(app: Flask) -> None:
    """Register the finance screens, the portal claim page, jobs, nav and case wiring."""
    from . import hooks, jobs, notifications, portal_views  # noqa: F401 - jobs registers jobs

    app.register_blueprint(bp)
    portal_views.init_app(app)
    add_nav(_l("Rewards"), "rewards.queue", Permission.REWARDS_READ)
    add_nav(_l("Payout ledger"), "rewards.ledger_report", Permission.LEDGER_READ)
    hooks.connect()
    hooks.register_statistics()
    notifications.register_kind_label()
    from ..accounts.keys import add_escrow_rewrapper
    from .claims import rewrap_claims_for_escrow

    add_escrow_rewrapper(rewrap_claims_for_escrow)
