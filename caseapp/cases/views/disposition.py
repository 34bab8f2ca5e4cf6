"""Disposition views: propose (with measures), approve, refuse, publish the outcome."""

from __future__ import annotations

from flask import flash, request
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from ...accounts.permissions import Permission, require
from .. import disposition
from ..errors import InvalidInput
from ..forms import ButtonForm, ProposeForm
from ..models import MeasureKind
from . import bp
from .helpers import back_to_case, case_or_404, me, ring

MAX_MEASURES = 10


def measures_from_form() -> list[disposition.MeasureInput]:
    """Measures posted as measure-<i>-kind / -subject / -amount (empty rows skipped)."""
    out = []
    for i in range(MAX_MEASURES):
        kind = (request.form.get(f"measure-{i}-kind") or "").strip()
        if not kind:
            continue
        if kind not in MeasureKind._value2member_map_:
            raise InvalidInput("measure")
        subject = request.form.get(f"measure-{i}-subject") or ""
        amount = (request.form.get(f"measure-{i}-amount") or "").strip()
        out.append(disposition.MeasureInput(
            kind, int(subject) if subject.isdigit() else None,
            int(amount) if amount.isdigit() else None))
    return out


@bp.post("/cases/<int:case_id>/disposition")
@require(Permission.DISPOSITION_PROPOSE)
def case_propose(case_id: int) -> Response:
    """Propose the disposition."""
    case, _role = case_or_404(case_id)
    form = ProposeForm(prefix="p")
    if not form.validate_on_submit():
        flash(_("The outcome and the legal basis are required."), "error")
        return back_to_case(case_id, "disposition")
    disposition.propose(case, ring(), me(), outcome=form.outcome.data or "",
                        legal_basis=form.legal_basis.data or "", summary=form.summary.data or "",
                        measures=measures_from_form(), tip_ids=form.tips.data or [])
    flash(_("Disposition proposed; a department lead must approve it."), "success")
    return back_to_case(case_id, "disposition")


@bp.post("/cases/<int:case_id>/disposition/<int:disposition_id>/<string:decision>")
@require(Permission.DISPOSITION_APPROVE)
def case_decide(case_id: int, disposition_id: int, decision: str) -> Response:
    """Approve (closing the case) or refuse a proposed disposition."""
    case, _role = case_or_404(case_id)
    if ButtonForm().validate_on_submit():
        if decision == "approve":
            disposition.approve(case, ring(), me(), disposition_id)
            flash(_("Disposition approved; the case is closed."), "success")
        elif decision == "refuse":
            disposition.refuse(case, me(), disposition_id)
            flash(_("Disposition sent back."), "success")
    return back_to_case(case_id, "disposition")


@bp.post("/cases/<int:case_id>/publish")
@require(Permission.DISPOSITION_APPROVE)
def case_publish(case_id: int) -> Response:
    """Publish the anonymised outcome on the portal."""
    case, _role = case_or_404(case_id)
    if ButtonForm().validate_on_submit():
        disposition.publish(case, me())
        flash(_("The anonymised outcome is published."), "success")
    return back_to_case(case_id, "disposition")
