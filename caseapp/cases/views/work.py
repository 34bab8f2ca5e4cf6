"""Views adding work to a case: tasks, notes, tipster messages, actions, seizures, evidence."""

from __future__ import annotations

import csv
import io
from typing import Any
from urllib.parse import quote

from flask import Response as FlaskResponse
from flask import flash, request, stream_with_context
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response

from ... import csvsafe
from ...accounts.permissions import Permission, require
from ...extensions import db
from ...tips.uploads import streams_to
from .. import content, evidence, subjects
from ..common import opened
from ..forms import (
    ActionForm,
    ActionResultForm,
    EvidenceForm,
    SeizedForm,
    SubjectForm,
    TaskForm,
    TaskStatusForm,
    TextForm,
)
from . import bp
from .helpers import back_to_case, case_or_404, me, ring


def _invalid(case_id: int, anchor: str) -> Response:
    flash(_("Please fill in the form completely."), "error")
    return back_to_case(case_id, anchor)


@bp.post("/cases/<int:case_id>/tasks")
@require(Permission.CASES_WRITE)
def case_add_task(case_id: int) -> Response:
    """Add a task for a department or a person."""
    case, _role = case_or_404(case_id)
    form = TaskForm(prefix="t")
    form.assignee.choices = [(form.assignee.data or "", "")]
    if not form.validate_on_submit():
        return _invalid(case_id, "tasks")
    who = form.assignee.data or ""
    dept_id = int(who[1:]) if who.startswith("d") and who[1:].isdigit() else None
    user_id = int(who[1:]) if who.startswith("u") and who[1:].isdigit() else None
    content.add_task(case, ring(), me(), title=form.title.data or "",
                     detail=form.detail.data or "", department_id=dept_id, user_id=user_id,
                     due_on=form.due_on.data)
    return back_to_case(case_id, "tasks")


@bp.post("/cases/<int:case_id>/tasks/<int:task_id>")
@require(Permission.CASES_WRITE)
def case_task_status(case_id: int, task_id: int) -> Response:
    """Change a task's status."""
    case, _role = case_or_404(case_id)
    form = TaskStatusForm(prefix="ts")
    if not form.validate_on_submit():
        return _invalid(case_id, "tasks")
    content.set_task_status(case, task_id, me(), form.status.data or "")
    return back_to_case(case_id, "tasks")


@bp.post("/cases/<int:case_id>/notes")
@require(Permission.CASES_WRITE)
def case_add_note(case_id: int) -> Response:
    """Add an internal note."""
    case, _role = case_or_404(case_id)
    form = TextForm(prefix="n")
    if not form.validate_on_submit():
        return _invalid(case_id, "notes")
    content.add_note(case, ring(), me(), form.text.data or "")
    return back_to_case(case_id, "notes")


@bp.post("/cases/<int:case_id>/messages")
@require(Permission.CASES_WRITE)
def case_message_tipster(case_id: int) -> Response:
    """Send a message to the tipster of a linked tip (shown on the portal)."""
    case, _role = case_or_404(case_id)
    form = TextForm(prefix="m")
    if not form.validate_on_submit() or not form.tip.data:
        return _invalid(case_id, "messages")
    content.message_tipster(case, ring(), me(), int(form.tip.data), form.text.data or "")
    flash(_("Message sent to the tipster."), "success")
    return back_to_case(case_id, "messages")


@bp.post("/cases/<int:case_id>/actions")
@require(Permission.CASES_WRITE)
def case_add_action(case_id: int) -> Response:
    """Plan a joint action."""
    case, _role = case_or_404(case_id)
    form = ActionForm(prefix="a")
    form.departments.choices = [(int(d), "") for d in request.form.getlist("a-departments")
                                if d.isdigit()]
    if not form.validate_on_submit() or form.planned_on.data is None:
        return _invalid(case_id, "actions")
    content.add_action(case, ring(), me(), planned_on=form.planned_on.data,
                       premises=form.premises.data or "",
                       departments=list(form.departments.data or []),
                       people=form.people.data or "")
    return back_to_case(case_id, "actions")


@bp.post("/cases/<int:case_id>/actions/<int:action_id>")
@require(Permission.CASES_WRITE)
def case_action_result(case_id: int, action_id: int) -> Response:
    """Record a joint action's result."""
    case, _role = case_or_404(case_id)
    form = ActionResultForm(prefix="r")
    if not form.validate_on_submit():
        return _invalid(case_id, "actions")
    content.record_action_result(case, ring(), me(), action_id, status=form.status.data or "",
                                 result=form.result.data or "")
    return back_to_case(case_id, "actions")


@bp.post("/cases/<int:case_id>/seized")
@require(Permission.CASES_WRITE)
def case_add_seized(case_id: int) -> Response:
    """Log a seized or sealed item."""
    case, _role = case_or_404(case_id)
    form = SeizedForm(prefix="s")
    if not form.validate_on_submit():
        return _invalid(case_id, "seized")
    content.add_seized(case, ring(), me(), kind=form.kind.data or "",
                       quantity=int(form.quantity.data or 0),
                       description=form.description.data or "", custody=form.custody.data or "",
                       action_id=form.action.data or None, sealed_only=bool(form.sealed_only.data))
    return back_to_case(case_id, "seized")


@bp.post("/cases/<int:case_id>/subjects")
@require(Permission.CASES_WRITE)
def case_add_subject(case_id: int) -> Response:
    """Record a clinic, person or pharmacy (encrypted, with blind indexes)."""
    case, _role = case_or_404(case_id)
    form = SubjectForm(prefix="sj")
    if not form.validate_on_submit():
        return _invalid(case_id, "subjects")
    subjects.add_subject(case, ring(), me(), form.kind.data or "", {
        "name": form.name.data or "", "address": form.address.data or "",
        "phone": form.phone.data or "", "licence": form.licence.data or "",
        "note": form.note.data or ""})
    db.session.commit()
    return back_to_case(case_id, "subjects")


def _evidence_sink(view_args: dict[str, Any]) -> evidence.SealingFile | None:
    """The file part of an evidence upload goes straight into the store (if allowed)."""
    return evidence.incoming(int(view_args.get("case_id", 0)), current_user)


@bp.post("/cases/<int:case_id>/evidence")
@streams_to(_evidence_sink)
@require(Permission.CASES_WRITE)
def case_add_evidence(case_id: int) -> Response:
    """Upload an evidence file (encrypted, hashed and stored while the form is parsed)."""
    case, _role = case_or_404(case_id)
    form = EvidenceForm(prefix="e")
    if not form.validate_on_submit():
        return _invalid(case_id, "evidence")
    upload = form.file.data
    evidence.refuse_spooled(f for parts in request.files.listvalues() for f in parts)
    evidence.add_evidence(case, ring(), me(), upload.filename or "", upload.mimetype or "",
                          upload.stream)
    flash(_("Evidence stored."), "success")
    return back_to_case(case_id, "evidence")


@bp.get("/cases/<int:case_id>/evidence/<int:evidence_id>")
@require(Permission.CASES_READ)
def case_evidence_file(case_id: int, evidence_id: int) -> FlaskResponse:
    """Download an evidence file, decrypted as it streams (audited)."""
    case, _role = case_or_404(case_id)
    row = evidence.get_evidence(case, evidence_id)
    info = evidence.describe(case, row, ring())
    chunks = evidence.chunks(case, row, ring())
    opened("case", case.id, me(), "evidence_download", evidence=row.id)
    db.session.commit()
    resp = FlaskResponse(stream_with_context(chunks), mimetype="application/octet-stream")
    resp.headers["Content-Disposition"] = (
        f"attachment; filename=evidence-{row.id}; "
        f"filename*=UTF-8''{quote(evidence.safe_name(info.name), safe='')}")
    resp.headers["Content-Length"] = str(info.size)
    return resp


@bp.get("/cases/<int:case_id>/evidence/integrity.csv")
@require(Permission.CASES_READ)
def case_evidence_integrity(case_id: int) -> FlaskResponse:
    """Integrity export: each file's SHA-256 at upload and re-computed now (audited)."""
    case, _role = case_or_404(case_id)
    rows = evidence.integrity_rows(case, ring())
    opened("case", case.id, me(), "evidence_integrity")
    db.session.commit()
    out = io.StringIO()
    fields = ["case", "evidence_id", "file_name", "size", "sha256_at_upload", "sha256_now",
              "intact", "added_at", "uploaded_by", "checked_at"]
    writer = csv.DictWriter(out, fieldnames=fields)
    writer.writeheader()
    writer.writerows({k: csvsafe.cell(v) for k, v in row.items()} for row in rows)
    resp = FlaskResponse(out.getvalue(), mimetype="text/csv; charset=utf-8")
    resp.headers["Content-Disposition"] = (
        f"attachment; filename=integrity-{case.ref or case.id}.csv")
    return resp
