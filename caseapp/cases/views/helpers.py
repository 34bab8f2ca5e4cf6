"""What every case view shares: the current user and keyring, loading a case, errors."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.exceptions import Forbidden, NotFound, RequestEntityTooLarge
from werkzeug.wrappers import Response

from ...accounts.current import current_staff as me
from ...accounts.keys import Keyring, current_keyring
from ...crypto import DecryptionError, KeyUnavailable
from ...extensions import db
from ...tips.errors import TipNotReadable
from ..errors import (
    CaseClosed,
    EvidenceRefused,
    IllegalTransition,
    InvalidInput,
    NotAllowed,
    NotOnCase,
)
from ..models import Case
from ..workflow import load_case
from . import bp, labels, refusals


def ring() -> Keyring:
    """The keyring of this request."""
    return current_keyring()


def case_or_404(case_id: int) -> tuple[Case, str]:
    """The case and the user's role on it; 404 when the department is not on it."""
    from ..common import membership

    case = load_case(case_id, me())
    return case, membership(case.id, me()) or ""


def back_to_case(case_id: int, anchor: str | None = None) -> Response:
    """Redirect (303) to a case page section."""
    return redirect(url_for("cases.case_detail", case_id=case_id, _anchor=anchor), 303)


def _not_found(_exc: Exception) -> tuple[str, int]:
    db.session.rollback()
    return render_template("error.html", error=NotFound()), 404


def _forbidden(_exc: Exception) -> tuple[str, int]:
    db.session.rollback()
    return render_template("error.html", error=Forbidden()), 403


def _refused(exc: Exception) -> Response:
    """Domain refusals: roll back, say why, go back to where the form was."""
    db.session.rollback()
    if isinstance(exc, CaseClosed):
        flash(_("The case is closed and read-only. Reopen it first."), "error")
    elif isinstance(exc, IllegalTransition):
        flash(_("This step is not possible in the current state (%(state)s).",
                state=exc.current), "error")
    elif isinstance(exc, EvidenceRefused):
        flash(evidence_refusal(exc), "error")
    else:
        flash(refusals.advice(str(exc)), "error")
    args = request.view_args or {}
    if "case_id" in args:
        return back_to_case(int(args["case_id"]))
    if "tip_id" in args:
        return redirect(url_for("cases.intake_tip", tip_id=int(args["tip_id"])), 303)
    return redirect(url_for("cases.intake_queue"), 303)


def evidence_refusal(exc: EvidenceRefused) -> str:
    """Why an evidence upload was not kept, in plain words."""
    if exc.reason == "too_many":
        return _("Upload at most %(n)d file at a time. Nothing was stored.", n=exc.limit)
    return _("The file is larger than %(mb)d MB. Nothing was stored.",
             mb=exc.limit // (1024 * 1024))


def _too_large(_exc: RequestEntityTooLarge) -> tuple[str, int]:
    """The whole request was over the staff limit: a 413 page naming the limits."""
    from ..common import cfg

    db.session.rollback()
    config = cfg()
    case_id = (request.view_args or {}).get("case_id")
    back = url_for("cases.case_detail", case_id=case_id, _anchor="evidence") if case_id else None
    detail = _("Evidence files may be at most %(mb)d MB each, %(n)d per upload. "
               "Nothing was stored.", mb=config.case_max_evidence_bytes // (1024 * 1024),
               n=config.case_max_evidence_files)
    return render_template("error.html", error=RequestEntityTooLarge(), detail=detail,
                           back=back), 413


def install(bp: Blueprint) -> None:
    """Error handlers of the blueprint and template helpers (once, at import)."""
    missing: tuple[type[Exception], ...] = (NotOnCase, KeyUnavailable, TipNotReadable,
                                             DecryptionError)
    for exc in missing:
        bp.register_error_handler(exc, _not_found)
    bp.register_error_handler(NotAllowed, _forbidden)
    refused: tuple[type[Exception], ...] = (CaseClosed, IllegalTransition, InvalidInput)
    for kind in refused:
        bp.register_error_handler(kind, _refused)
    bp.register_error_handler(RequestEntityTooLarge, _too_large)

    @bp.app_context_processor
    def _helpers() -> dict[str, Any]:
        return {"label": labels.label, "district_name": labels.district,
                "department_name": labels.department_name}


install(bp)
