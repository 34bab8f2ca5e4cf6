"""The public portal blueprint: anonymous; its own base template; no cookie until needed.

Landing page and report form set no cookie. The report is posted without a CSRF token
(there is no session yet): a signed one-time form token, an Origin check, SameSite cookies
and the fact that an anonymous form carries no ambient authority protect it. Pages after a
receipt login use Flask-WTF CSRF. See docs/portal.md.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response as BaseResponse

from .. import clock
from ..accounts.permissions import public
from ..config import Config
from ..crypto import tipster_credentials
from ..extensions import csrf
from ..keys import keystore
from . import (
    models,  # noqa: F401 - registers the tables
    portal_session,
    texts,
)
from .access import TipsterLogin, add_tipster_message, open_content, tipster_tip
from .errors import (
    DuplicateSubmission,
    FilesRefused,
    InvalidTip,
    StorageFailed,
    Throttled,
    TipNotReadable,
    WrongReceipt,
)
from .forms import LeaveForm, ReceiptForm, ReplyForm, ReportForm, new_form_token, read_form_token
from .proof import make_proof
from .service import SubmittedTip, receipt_for_token, submit_tip
from .throttle import (
    attempt_receipt,
    current_client_tag,
    followup_limit,
    global_limit,
    limiter,
    submit_limit,
)
from .uploads import PortalRequest, files_from_request

bp = Blueprint("tips", __name__)


def _cfg() -> Config:
    return current_app.config["CASEAPP"]


def _locale() -> str:
    return str(g.get("locale") or _cfg().default_locale)


def same_origin() -> bool:
    """False only when the browser names another site as the origin of this POST.

    Our own `Referrer-Policy: no-referrer` makes browsers send `Origin: null` on form posts,
    so an absent or null Origin is accepted; the one-time token does the rest.
    """
    origin = request.headers.get("Origin")
    if not origin or origin == "null":
        return True
    return urlsplit(origin).netloc == request.host


# -- landing and report --------------------------------------------------------------
@bp.get("/")
@public
def index() -> str:
    """Landing page of the tip portal."""
    return render_template("tips/index.html", cfg=_cfg())


def _render_form(form: ReportForm, status: int = 200, **extra: Any) -> tuple[str, int]:
    return render_template("tips/report.html", form=form, cfg=_cfg(),
                           texts=texts, **extra), status


@bp.get("/report")
@public
def report() -> tuple[str, int]:
    """The guided report form (sets no cookie)."""
    form = ReportForm(formdata=None, locale=_locale())
    form.form_token.data = new_form_token()
    return _render_form(form)


@bp.post("/report")
@public
@limiter.limit(submit_limit, methods=["POST"])
@limiter.shared_limit(global_limit, scope="portal-submit-all", key_func=lambda: "all")
def submit() -> BaseResponse | tuple[str, int]:
    """Receive a report: store it, then (and only then) show the receipt."""
    if not same_origin():
        abort(400)
    form = ReportForm(locale=_locale())
    token = read_form_token(form.form_token.data or "")
    if token is None or token[1] > _cfg().portal_form_max_age_hours * 3600:
        form.form_token.data = new_form_token()
        return _render_form(form, 400, notice=_("This form was open for too long or was "
                                                "damaged. Please check your report and send "
                                                "it again."), files_lost=_sent_files())
    nonce, age = token
    if form.hp_note.data:
        return _render_form(form, 400, notice=_("Please leave the field \"Leave this field "
                                                "empty\" empty, then send again."),
                            files_lost=_sent_files())
    if age < _cfg().portal_min_fill_seconds:
        return _render_form(form, 400, notice=_("That was very quick. Please check your "
                                                "report once more, then send it again."),
                            files_lost=_sent_files())
    if not form.validate():
        return _render_form(form, 400, files_lost=_sent_files())
    try:
        done = submit_tip(form.to_input(), files_from_request(request.files.getlist("files")),
                          channel="web", form_token=nonce)
    except FilesRefused as exc:
        return _render_form(form, 400, file_problems=exc.problems, files_lost=_sent_files())
    except InvalidTip:
        return _render_form(form, 400, notice=_("Please check the district and township."),
                            files_lost=_sent_files())
    except DuplicateSubmission as exc:
        return _duplicate(nonce, exc)
    except StorageFailed:
        return _render_form(form, 503, notice=texts.storage_failed(),
                            files_lost=_sent_files())
    return _received(done)


def _sent_files() -> list[str]:
    return [f.filename for f in request.files.getlist("files") if f and f.filename]


def _duplicate(nonce: str, exc: DuplicateSubmission) -> tuple[str, int]:
    """The same form again: within a few minutes show the same receipt, else say it was sent."""
    window = timedelta(minutes=_cfg().portal_resubmit_window_minutes)
    if clock.now() - exc.used_at <= window:
        receipt = receipt_for_token(nonce)
        creds = tipster_credentials(receipt, keystore().receipt_salt, _cfg().receipt_kdf)
        login = TipsterLogin(0, creds.lookup, creds.private_key.to_bytes())
        try:
            tip, key = tipster_tip(login.lookup, login.private_key)
        except (WrongReceipt, TipNotReadable):
            return render_template("tips/already.html"), 200
        content = open_content(tip, key)
        done = SubmittedTip(receipt, tip.id, tip.ref or "", content.submitted_at, [])
        return _received(done, again=True)
    return render_template("tips/already.html"), 200


def _received(done: SubmittedTip, again: bool = False) -> tuple[str, int]:
    creds = done.credentials or tipster_credentials(done.receipt, keystore().receipt_salt,
                                                    _cfg().receipt_kdf)
    portal_session.sign_in(TipsterLogin(done.tip_id, creds.lookup,
                                        creds.private_key.to_bytes()))
    return render_template("tips/received.html", done=done, again=again,
                           receipt=texts.grouped(done.receipt), leave=LeaveForm()), 200


# -- follow-up -----------------------------------------------------------------------
@bp.get("/follow-up")
@public
def followup() -> BaseResponse | tuple[str, int]:
    """Type the receipt (sets no cookie)."""
    if portal_session.current():
        return redirect(url_for("tips.status"), 303)
    return render_template("tips/followup.html", form=ReceiptForm(formdata=None)), 200


@bp.post("/follow-up")
@public
@limiter.limit(followup_limit, methods=["POST"])
@limiter.shared_limit(global_limit, scope="portal-followup-all", key_func=lambda: "all")
def followup_post() -> BaseResponse | tuple[str, int]:
    """Check a receipt; slow and throttled by design."""
    if not same_origin():
        abort(400)
    form = ReceiptForm()
    if not form.validate():
        return render_template("tips/followup.html", form=form), 400
    try:
        login = attempt_receipt(form.receipt.data or "", current_client_tag())
    except Throttled as exc:
        return render_template("tips/followup.html", form=ReceiptForm(formdata=None),
                               wait=exc.wait_seconds), 429
    except WrongReceipt:
        return render_template("tips/followup.html", form=ReceiptForm(formdata=None),
                               wrong=True), 400
    portal_session.sign_in(login)
    return redirect(url_for("tips.status"), 303)


def _signed_in() -> tuple[Any, bytes] | None:
    found = portal_session.current()
    if found is None:
        return None
    try:
        return tipster_tip(*found)
    except (WrongReceipt, TipNotReadable):
        portal_session.sign_out()
        return None


def _session_ended() -> tuple[str, int]:
    return render_template("tips/followup.html", form=ReceiptForm(formdata=None),
                           ended=True), 401


@bp.get("/follow-up/tip")
@public
def status() -> tuple[str, int]:
    """Status in plain words, the tip as submitted and the conversation."""
    found = _signed_in()
    if found is None:
        return _session_ended()
    tip, key = found
    return _render_status(tip, key, ReplyForm(formdata=None))


def _render_status(tip: Any, key: bytes, reply: ReplyForm, status_code: int = 200,
                   **extra: Any) -> tuple[str, int]:
    content = open_content(tip, key)
    return render_template("tips/status.html", content=content, reply=reply, leave=LeaveForm(),
                           texts=texts, cfg=_cfg(), **extra), status_code


@bp.post("/follow-up/tip")
@public
def reply() -> BaseResponse | tuple[str, int]:
    """The tipster answers, optionally with files."""
    found = _signed_in()
    if found is None:
        return _session_ended()
    tip, key = found
    form = ReplyForm()
    if not form.validate():
        return _render_status(tip, key, form, 400, files_lost=_sent_files())
    try:
        add_tipster_message(tip, key, form.body.data or "",
                            files_from_request(request.files.getlist("files")))
    except FilesRefused as exc:
        return _render_status(tip, key, form, 400, file_problems=exc.problems,
                              files_lost=_sent_files())
    except StorageFailed:
        return _render_status(tip, key, form, 503, notice=texts.storage_failed())
    return redirect(url_for("tips.status", _anchor="messages"), 303)


@bp.get("/follow-up/proof")
@public
def proof() -> BaseResponse | tuple[str, int]:
    """Download the signed proof of submission."""
    found = _signed_in()
    if found is None:
        return _session_ended()
    tip, key = found
    content = open_content(tip, key)
    text = make_proof(keystore(), tip.receipt_lookup, content.submitted_at, tip.category)
    return Response(text, mimetype="text/plain", headers={
        "Content-Disposition": "attachment; filename=proof-of-submission.txt"})


@bp.post("/follow-up/leave")
@public
def leave() -> BaseResponse:
    """End the tipster's session."""
    portal_session.sign_out()
    return redirect(url_for("tips.index"), 303)


# -- errors --------------------------------------------------------------------------
@bp.errorhandler(RequestEntityTooLarge)
def too_large(_exc: RequestEntityTooLarge) -> tuple[str, int]:
    """The whole request was over the limit: say what the limits are."""
    return render_template("tips/too_large.html", cfg=_cfg(), texts=texts), 413


@bp.errorhandler(CSRFError)
def csrf_failed(_exc: CSRFError) -> tuple[str, int]:
    """After the session ended, a reply form cannot be sent: ask for the receipt again."""
    return _session_ended()


def init_app(app: Flask) -> None:
    """Register the portal (and staff registration) blueprints, request class and limiter."""
    from ..accounts.keys import add_escrow_rewrapper
    from . import staff_views, throttle
    from .escrow import rewrap_tips_for_escrow

    add_escrow_rewrapper(rewrap_tips_for_escrow)
    app.request_class = PortalRequest
    app.register_blueprint(bp)
    staff_views.init_app(app)
    throttle.init_app(app)
    csrf.exempt(submit)
    csrf.exempt(followup_post)
