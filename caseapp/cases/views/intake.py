"""Intake views: the queue, one tip with its related items, and the five decisions."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.wrappers import Response

from ... import clock
from ...accounts.models import Department
from ...accounts.permissions import Permission, require
from ...extensions import db
from ...paging import page_arg
from ...tips.models import Tip
from .. import decisions
from ..forms import AskForm, LinkForm, PromoteForm, ReferForm, RejectForm, SearchForm
from ..intake import open_for_intake, overdue_flags, queue
from ..models import Case, CaseStatus, CaseTip, TipIntake
from ..subjects import cases_by_id, related_to_tip, search, tips_by_id
from ..tipkeys import intake_tip_key
from . import bp
from .helpers import me, ring
from .labels import department_name


def _tip_or_404(tip_id: int) -> Tip:
    tip = db.session.get(Tip, tip_id)
    if tip is None:
        abort(404)
    return tip


def _department_choices() -> list[tuple[int, str]]:
    return [(d.id, department_name(d)) for d in db.session.scalars(
        select(Department).where(Department.active.is_(True)).order_by(Department.id))]


@bp.get("/intake")
@require(Permission.TIPS_DECIDE)
def intake_queue() -> str:
    """New tips, oldest first, with deadlines and related counts."""
    page = queue(ring(), me(), page=page_arg(request.args),
                 status=request.args.get("status") or None)
    return render_template("cases/intake_queue.html", page=page, search_form=SearchForm(),
                           status=request.args.get("status", ""))


@bp.get("/intake/search")
@require(Permission.TIPS_DECIDE)
def intake_search() -> str:
    """Tips and cases naming a clinic, phone or address (blind index, nothing decrypted)."""
    form = SearchForm(request.args)
    found = None
    if form.validate():
        found = search(form.kind.data or "clinic", form.value.data or "")
    return render_template("cases/intake_search.html", form=form, found=found,
                           tips=tips_by_id(list(found.tips)) if found else {},
                           cases=cases_by_id(list(found.cases)) if found else {})


def _forms() -> dict[str, object]:
    promote = PromoteForm(prefix="p")
    promote.lead.choices = _department_choices()
    promote.joint.choices = _department_choices()
    return {"promote": promote, "link": LinkForm(prefix="l"), "ask": AskForm(prefix="a"),
            "reject": RejectForm(prefix="r"), "refer": ReferForm(prefix="f")}


@bp.get("/intake/tips/<int:tip_id>")
@require(Permission.TIPS_DECIDE)
def intake_tip(tip_id: int) -> str:
    """One tip, decrypted for intake (acknowledges it; audited), with related items."""
    tip = _tip_or_404(tip_id)
    content = open_for_intake(tip, ring(), me())
    history = decisions.decisions_of(tip, intake_tip_key(tip, ring()))
    related = related_to_tip(tip.id)
    intake = db.session.get(TipIntake, tip.id)
    link = db.session.get(CaseTip, tip.id)
    return render_template(
        "cases/intake_tip.html", tip=tip, content=content, history=history, related=related,
        related_tips=tips_by_id(list(related.tips)),
        related_cases=cases_by_id(list(related.cases)),
        flags=overdue_flags(tip, intake, clock.now().date()),
        case_link=link, case=db.session.get(Case, link.case_id) if link else None,
        **_forms())


def _invalid(tip_id: int) -> Response:
    flash(_("Please fill in the form completely."), "error")
    return redirect(url_for("cases.intake_tip", tip_id=tip_id), 303)


@bp.post("/intake/tips/<int:tip_id>/promote")
@require(Permission.TIPS_DECIDE)
def intake_promote(tip_id: int) -> Response:
    """Open a case from the tip."""
    tip = _tip_or_404(tip_id)
    form = _forms()["promote"]
    assert isinstance(form, PromoteForm)
    if not form.validate_on_submit():
        return _invalid(tip_id)
    joint = [j for j in (form.joint.data or []) if j != form.lead.data]
    case = decisions.promote(tip, ring(), me(), lead_department_id=int(form.lead.data),
                             joint_department_ids=joint, title=form.title.data or "",
                             summary=form.summary.data or "", reason=form.reason.data or "")
    flash(_("Case %(ref)s opened.", ref=case.ref), "success")
    return redirect(url_for("cases.intake_queue"), 303)


@bp.post("/intake/tips/<int:tip_id>/link")
@require(Permission.TIPS_DECIDE)
def intake_link(tip_id: int) -> Response:
    """Link the tip to an existing case."""
    tip = _tip_or_404(tip_id)
    form = LinkForm(prefix="l")
    if not form.validate_on_submit():
        return _invalid(tip_id)
    case = db.session.scalar(select(Case).where(Case.ref == (form.case_ref.data or "").strip(),
                                                Case.status != CaseStatus.CLOSED.value))
    if case is None:
        flash(_("No open case has this reference."), "error")
        return redirect(url_for("cases.intake_tip", tip_id=tip_id), 303)
    decisions.link(tip, case, ring(), me(), form.reason.data or "")
    flash(_("Tip linked to case %(ref)s.", ref=case.ref), "success")
    return redirect(url_for("cases.intake_queue"), 303)


@bp.post("/intake/tips/<int:tip_id>/ask")
@require(Permission.TIPS_DECIDE)
def intake_ask(tip_id: int) -> Response:
    """Ask the tipster a question through the portal."""
    tip = _tip_or_404(tip_id)
    form = AskForm(prefix="a")
    if not form.validate_on_submit():
        return _invalid(tip_id)
    decisions.ask_tipster(tip, ring(), me(), form.question.data or "")
    flash(_("The question was sent; the tip waits for the tipster."), "success")
    return redirect(url_for("cases.intake_tip", tip_id=tip_id), 303)


@bp.post("/intake/tips/<int:tip_id>/reject")
@require(Permission.TIPS_DECIDE)
def intake_reject(tip_id: int) -> Response:
    """Reject the tip."""
    tip = _tip_or_404(tip_id)
    form = RejectForm(prefix="r")
    if not form.validate_on_submit():
        return _invalid(tip_id)
    decisions.reject(tip, ring(), me(), form.reason_code.data or "", form.reason.data or "")
    flash(_("Tip rejected."), "success")
    return redirect(url_for("cases.intake_queue"), 303)


@bp.post("/intake/tips/<int:tip_id>/refer")
@require(Permission.TIPS_DECIDE)
def intake_refer(tip_id: int) -> Response:
    """Refer the tip to another jurisdiction or authority."""
    tip = _tip_or_404(tip_id)
    form = ReferForm(prefix="f")
    if not form.validate_on_submit():
        return _invalid(tip_id)
    decisions.refer(tip, ring(), me(), form.reason_code.data or "", form.reason.data or "")
    flash(_("Tip referred."), "success")
    return redirect(url_for("cases.intake_queue"), 303)
