"""Case views: the list, my tasks, the case page, its timeline, states and departments."""

from __future__ import annotations

from flask import flash, render_template, request
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.wrappers import Response

from ...accounts.models import Department, User
from ...accounts.permissions import Permission, require
from ...audit.service import detail_of, timeline
from ...extensions import db
from ...paging import page_arg
from .. import workflow
from ..common import opened
from ..detail import case_view
from ..forms import (
    MEASURE_LABELS,
    ActionForm,
    ActionResultForm,
    ButtonForm,
    DepartmentForm,
    EvidenceForm,
    ProposeForm,
    SeizedForm,
    SubjectForm,
    TaskForm,
    TaskStatusForm,
    TextForm,
)
from ..keys import department_ids
from ..listing import case_list as list_cases
from ..listing import my_tasks as task_rows
from ..models import CaseStatus
from . import bp
from .helpers import back_to_case, case_or_404, me, ring
from .labels import department_name


@bp.get("/cases")
@require(Permission.CASES_READ)
def case_list() -> str:
    """Cases of the user's department, 50 per page, titles decrypted."""
    status = request.args.get("status") or "active"
    page = list_cases(ring(), me(), page=page_arg(request.args), status=status)
    return render_template("cases/list.html", page=page, status=status,
                           statuses=["active", *CaseStatus._value2member_map_])


@bp.get("/cases/tasks")
@require(Permission.CASES_READ)
def my_tasks() -> str:
    """Open tasks for me and my department across all cases."""
    return render_template("cases/tasks.html", rows=task_rows(ring(), me()))


def _forms(view: object) -> dict[str, object]:
    """Every form of the case page, with choices filled in."""
    from ..detail import CaseView

    assert isinstance(view, CaseView)
    dept_ids = [d.id for d, _role in view.departments]
    members = list(db.session.scalars(select(User).where(
        User.department_id.in_(dept_ids), User.active.is_(True)).order_by(User.username)))
    task = TaskForm(prefix="t")
    task.assignee.choices = (
        [(f"d{d.id}", department_name(d)) for d, _r in view.departments]
        + [(f"u{u.id}", f"{u.display_name} ({u.username})") for u in members])
    action = ActionForm(prefix="a")
    action.departments.choices = [(d.id, department_name(d)) for d, _r in view.departments]
    seized = SeizedForm(prefix="s")
    seized.action.choices = [(0, "—")] + [(a.id, a.planned_on.isoformat())
                                          for a, _b in view.actions]
    message = TextForm(prefix="m")
    message.tip.choices = [(t.id, t.ref or str(t.id)) for _l, t, c in view.tips if c]
    add_dept = DepartmentForm(prefix="d")
    add_dept.department.choices = [(d.id, department_name(d)) for d in db.session.scalars(
        select(Department).where(Department.active.is_(True),
                                 Department.id.not_in(dept_ids)).order_by(Department.id))]
    propose = ProposeForm(prefix="p")
    propose.tips.choices = [(t.id, t.ref or str(t.id)) for _l, t, _c in view.tips]
    return {"task_form": task, "task_status_form": TaskStatusForm(prefix="ts"),
            "note_form": TextForm(prefix="n"), "message_form": message, "action_form": action,
            "result_form": ActionResultForm(prefix="r"), "seized_form": seized,
            "evidence_form": EvidenceForm(prefix="e"), "subject_form": SubjectForm(prefix="sj"),
            "department_form": add_dept, "propose_form": propose, "button": ButtonForm(),
            "reopen_form": TextForm(prefix="ro")}


@bp.get("/cases/<int:case_id>")
@require(Permission.CASES_READ)
def case_detail(case_id: int) -> str:
    """The whole case, decrypted (audited)."""
    case, role = case_or_404(case_id)
    view = case_view(case, role, ring(), me())
    return render_template("cases/detail.html", v=view, case=case, me=me(),
                           measure_labels=MEASURE_LABELS,
                           is_lead=me().department_id == case.lead_department_id,
                           **_forms(view))


@bp.get("/cases/<int:case_id>/timeline")
@require(Permission.CASES_READ)
def case_timeline(case_id: int) -> str:
    """Every event of the case in order, from the audit log (metadata only)."""
    case, _role = case_or_404(case_id)
    entries = [(e, detail_of(e)) for e in timeline("case", case.id)]
    opened("case", case.id, me(), "timeline")
    db.session.commit()
    return render_template("cases/timeline.html", case=case, entries=entries)


@bp.post("/cases/<int:case_id>/investigate")
@require(Permission.CASES_WRITE)
def case_investigate(case_id: int) -> Response:
    """open/reopened → investigating."""
    case, _role = case_or_404(case_id)
    if ButtonForm().validate_on_submit():
        workflow.start_investigation(case, me())
        flash(_("The investigation has started."), "success")
    return back_to_case(case_id)


@bp.post("/cases/<int:case_id>/departments")
@require(Permission.CASES_MANAGE)
def case_add_department(case_id: int) -> Response:
    """Add a joint department (the case key is sealed to it)."""
    case, _role = case_or_404(case_id)
    form = DepartmentForm(prefix="d")
    form.department.choices = [(d, str(d)) for d in db.session.scalars(select(Department.id))]
    if form.validate_on_submit():
        workflow.add_department(case, int(form.department.data), ring(), me())
        flash(_("Department added."), "success")
    return back_to_case(case_id, "departments")


@bp.post("/cases/<int:case_id>/departments/<int:dept_id>/remove")
@require(Permission.CASES_MANAGE)
def case_remove_department(case_id: int, dept_id: int) -> Response:
    """Remove a joint department (its key copies go; the case key rotates)."""
    case, _role = case_or_404(case_id)
    if ButtonForm().validate_on_submit() and dept_id in department_ids(case.id):
        workflow.remove_department(case, dept_id, ring(), me())
        flash(_("Department removed; new content uses a new case key."), "success")
    return back_to_case(case_id, "departments")


@bp.post("/cases/<int:case_id>/reopen")
@require(Permission.CASES_WRITE)
def case_reopen_request(case_id: int) -> Response:
    """Ask to reopen a closed case, with a reason."""
    case, _role = case_or_404(case_id)
    form = TextForm(prefix="ro")
    if form.validate_on_submit():
        workflow.request_reopen(case, ring(), me(), form.text.data or "")
        flash(_("Reopening requested; the department lead must approve it."), "success")
    return back_to_case(case_id)


@bp.post("/cases/<int:case_id>/reopen/<int:request_id>/<string:decision>")
@require(Permission.CASES_MANAGE)
def case_reopen_decide(case_id: int, request_id: int, decision: str) -> Response:
    """Approve or refuse a reopening request."""
    case, _role = case_or_404(case_id)
    if ButtonForm().validate_on_submit():
        if decision == "approve":
            workflow.approve_reopen(case, request_id, me())
            flash(_("The case is reopened."), "success")
        elif decision == "refuse":
            workflow.refuse_reopen(case, request_id, me())
    return back_to_case(case_id)
