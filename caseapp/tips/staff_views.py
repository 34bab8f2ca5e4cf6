"""Staff registration of tips received by phone, letter or in person (`intake` role)."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, Flask, current_app, g, render_template, request
from flask_babel import gettext as _
from flask_login import current_user

from .. import clock
from ..accounts.permissions import Permission, require
from . import texts
from .errors import DuplicateSubmission, FilesRefused, InvalidTip, StorageFailed
from .forms import StaffReportForm, new_form_token, read_form_token
from .service import receipt_for_token, submit_tip
from .uploads import files_from_request

bp = Blueprint("tips_staff", __name__, url_prefix="/staff/tips")


def _locale() -> str:
    return str(g.get("locale") or current_app.config["CASEAPP"].default_locale)


def _render(form: StaffReportForm, status: int = 200, **extra: object) -> tuple[str, int]:
    return render_template("tips/staff_register.html", form=form, texts=texts,
                           cfg=current_app.config["CASEAPP"], **extra), status


@bp.get("/register")
@require(Permission.TIPS_REGISTER)
def register() -> tuple[str, int]:
    """The registration form (same fields as the portal, plus the channel)."""
    form = StaffReportForm(formdata=None, locale=_locale())
    form.form_token.data = new_form_token()
    return _render(form)


@bp.post("/register")
@require(Permission.TIPS_REGISTER)
def register_post() -> tuple[str, int]:
    """Store the tip for the caller and show the receipt to read out."""
    form = StaffReportForm(locale=_locale())
    token = read_form_token(form.form_token.data or "")
    if token is None:
        form.form_token.data = new_form_token()
        return _render(form, 400, notice=_("The form was damaged. Please send it again."))
    if not form.validate():
        return _render(form, 400)
    try:
        done = submit_tip(form.to_input(), files_from_request(request.files.getlist("files")),
                          channel=form.channel.data or "phone",
                          staff_user_id=int(current_user.id), form_token=token[0])
    except FilesRefused as exc:
        return _render(form, 400, file_problems=exc.problems)
    except InvalidTip:
        return _render(form, 400, notice=_("Please check the district and township."))
    except DuplicateSubmission as exc:
        window = timedelta(minutes=current_app.config["CASEAPP"].portal_resubmit_window_minutes)
        if clock.now() - exc.used_at > window:
            return render_template("tips/staff_already.html"), 200
        return render_template("tips/staff_received.html", done=None,
                               receipt=texts.grouped(receipt_for_token(token[0]))), 200
    except StorageFailed:
        return _render(form, 503, notice=texts.storage_failed())
    return render_template("tips/staff_received.html", done=done,
                           receipt=texts.grouped(done.receipt)), 200


def init_app(app: Flask) -> None:
    """Register the staff blueprint."""
    app.register_blueprint(bp)
