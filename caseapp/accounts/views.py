"""Staff login, logout, home, own account, TOTP and the department-key page."""

from __future__ import annotations

import math
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user
from werkzeug.wrappers import Response

from .. import clock
from ..audit.service import record
from ..crypto import DecryptionError, KeyUnavailable, PrivateKey
from ..extensions import db, login_manager
from . import keys, service, totp
from .current import current_staff as _me
from .errors import (
    AccountLocked,
    InvalidTotp,
    LoginFailed,
    NotAllowed,
    PasswordChangeRequired,
    PasswordPolicyError,
    TotpRequired,
)
from .forms import ROLE_LABELS, ActionForm, ChangePasswordForm, LoginForm, TotpDisableForm, TotpForm
from .keys import current_keyring
from .models import User
from .nav import staff_nav
from .permissions import Permission, Role, public, require
from .sessions import CaseappSession, current_sid

bp = Blueprint("accounts", __name__, url_prefix="/staff")
PENDING_SECONDS = 300
_PENDING = ("_pending_uid", "_pending_at", "_pending_next")


def _session() -> CaseappSession:
    assert isinstance(session, CaseappSession)  # installed by create_app
    return session




def safe_next(target: str | None) -> str | None:
    """`target` when it is a path on this site, else None (no open redirects)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return None
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else None


def _finish_login(user: User, key: PrivateKey, target: str | None) -> Response:
    """New session id, Flask-Login state, the unlocked key in the session secret."""
    sess = _session()
    sess.regenerate()
    for name in (*_PENDING, "csrf_token", "_totp_pending"):
        sess.pop(name, None)
    login_user(user)
    sess.pop("_id", None)  # Flask-Login's hash of IP and browser: not wanted
    sess["_sv"] = user.session_version
    sess.put_secret(key.to_bytes())
    return redirect(safe_next(target) or url_for("accounts.home"))


def _locked_message(exc: AccountLocked) -> str:
    seconds = max(1, math.ceil((exc.until - clock.now()).total_seconds()))
    if seconds < 60:
        return _("Too many failed attempts. Please wait %(n)d seconds and try again.", n=seconds)
    return _("Too many failed attempts. The account is locked for %(n)d more minutes.",
             n=math.ceil(seconds / 60))


@bp.route("/login", methods=["GET", "POST"])
@public
def login() -> Response | tuple[str, int] | str:
    """Step one: user name and password."""
    if current_user.is_authenticated:
        return redirect(url_for("accounts.home"))
    form = LoginForm()
    if request.method == "GET":
        form.next.data = safe_next(request.args.get("next")) or ""
    if not form.validate_on_submit():
        return render_template("accounts/login.html", form=form)
    try:
        user, key = service.authenticate(form.username.data or "", form.password.data or "")
    except AccountLocked as exc:
        flash(_locked_message(exc), "error")
        return render_template("accounts/login.html", form=form), 429
    except LoginFailed:
        flash(_("Wrong user name or password."), "error")
        return render_template("accounts/login.html", form=form)
    if not user.totp_enabled:
        return _finish_login(user, key, form.next.data)
    sess = _session()
    sess.regenerate()
    sess.update(_pending_uid=user.id, _pending_at=clock.now().timestamp(),
                _pending_next=safe_next(form.next.data) or "")
    sess.put_secret(key.to_bytes())
    return redirect(url_for("accounts.login_totp"))


def _pending_login() -> tuple[User, PrivateKey] | None:
    sess = _session()
    uid, at = sess.get("_pending_uid"), sess.get("_pending_at")
    secret = sess.get_secret()
    if not uid or not at or not secret or clock.now().timestamp() - at > PENDING_SECONDS:
        return None
    user = db.session.get(User, uid)
    return (user, PrivateKey(secret)) if user is not None else None


def _drop_pending() -> None:
    """Forget a half-done login; the session secret goes only if it was that login's key."""
    sess = _session()
    if [sess.pop(name, None) for name in _PENDING] != [None] * len(_PENDING):
        sess.clear_secret()


@bp.route("/login/totp", methods=["GET", "POST"])
@public
def login_totp() -> Response | tuple[str, int] | str:
    """Step two: the one-time code of the authenticator app."""
    if current_user.is_authenticated:
        return redirect(url_for("accounts.home"))
    pending = _pending_login()
    if pending is None:
        _drop_pending()
        flash(_("Please log in again."), "error")
        return redirect(url_for("accounts.login"))
    user, key = pending
    form = TotpForm()
    if not form.validate_on_submit():
        return render_template("accounts/login_totp.html", form=form)
    try:
        totp.verify(user, key, form.code.data or "")
    except AccountLocked as exc:
        _drop_pending()
        flash(_locked_message(exc), "error")
        return redirect(url_for("accounts.login"))
    except InvalidTotp:
        flash(_("This code is wrong or has already been used."), "error")
        return render_template("accounts/login_totp.html", form=form)
    return _finish_login(user, key, _session().get("_pending_next"))


@bp.post("/logout")
@require(Permission.SELF_MANAGE)
def logout() -> Response:
    """End the session everywhere it was copied: the row is deleted."""
    record("logout", actor=_me(), object_type="user", object_id=_me().id)
    db.session.commit()
    logout_user()
    _session().end()
    flash(_("You have been logged out."), "success")
    return redirect(url_for("accounts.login"))


@bp.get("/")
@require(Permission.SELF_MANAGE)
def home() -> str:
    """What the user's roles let them do."""
    user = _me()
    holds = current_keyring().holds(user.department_id) if user.department_id else None
    items = [item for item in staff_nav() if not item.url.endswith(url_for("accounts.home"))]
    roles = [ROLE_LABELS[Role(r)] for r in sorted(user.roles) if r in Role._value2member_map_]
    return render_template("accounts/home.html", items=items, roles=roles, holds=holds)


@bp.route("/account", methods=["GET", "POST"])
@require(Permission.SELF_MANAGE)
def account() -> Response | str:
    """The user's own account: change the password; TOTP status."""
    user = _me()
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            service.change_password(user, form.old_password.data or "",
                                    form.new_password.data or "", except_sid=current_sid())
        except LoginFailed:
            form.old_password.errors = [_("The current password is wrong.")]
        except AccountLocked as exc:
            form.old_password.errors = [_locked_message(exc)]
        except PasswordPolicyError as exc:
            form.new_password.errors = [str(exc)]
        else:
            _session()["_sv"] = user.session_version
            flash(_("Your password has been changed. Other sessions were ended."), "success")
            return redirect(url_for("accounts.account"))
    return render_template("accounts/account.html", form=form, disable_form=TotpDisableForm(),
                           totp_required=service.totp_required(user))


@bp.route("/account/totp", methods=["GET", "POST"])
@require(Permission.SELF_MANAGE)
def account_totp() -> Response | str:
    """Enrol an authenticator app: show the secret, confirm with a first code."""
    user = _me()
    if user.totp_enabled:
        return redirect(url_for("accounts.account"))
    key = current_keyring().user_key()
    sess = _session()
    secret = None
    if sess.get("_totp_pending"):
        try:
            secret = totp.open_pending(user, key, sess["_totp_pending"])
        except DecryptionError:  # a stale secret is simply replaced
            secret = None
    if secret is None:
        secret = totp.new_secret()
        sess["_totp_pending"] = totp.seal_pending(user, secret)
    form = TotpForm()
    if form.validate_on_submit():
        try:
            totp.enable(user, key, secret, form.code.data or "")
        except InvalidTotp:
            form.code.errors = [_("This code is wrong. Check the time on your phone.")]
        else:
            sess.pop("_totp_pending", None)
            flash(_("Two-step login is on."), "success")
            return redirect(url_for("accounts.account"))
    grouped = " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))
    return render_template("accounts/totp_setup.html", form=form, secret=secret,
                           grouped=grouped, uri=totp.provisioning_uri(user, secret),
                           required=service.totp_required(user))


@bp.post("/account/totp/disable")
@require(Permission.SELF_MANAGE)
def totp_disable() -> Response:
    """Turn two-step login off (password confirmation)."""
    form = TotpDisableForm()
    if form.validate_on_submit():
        try:
            totp.disable(_me(), form.password.data or "")
        except (LoginFailed, AccountLocked):
            flash(_("The password is wrong."), "error")
        except NotAllowed as exc:
            flash(str(exc), "error")
        else:
            flash(_("Two-step login is off."), "success")
    return redirect(url_for("accounts.account"))


@bp.get("/department/keys")
@require(Permission.KEYS_GRANT)
def department_keys() -> str:
    """Members of the lead's own department who do not hold its key yet."""
    user = _me()
    dept_id = user.department_id
    holds = current_keyring().holds(dept_id) if dept_id else False
    members = keys.members_without_key(dept_id) if dept_id else []
    return render_template("accounts/department_keys.html", members=members, holds=holds,
                           form=ActionForm())


@bp.post("/department/keys/<int:user_id>")
@require(Permission.KEYS_GRANT)
def grant_key(user_id: int) -> Response:
    """Wrap the department key for one member of the lead's own department."""
    me = _me()
    member = db.session.get(User, user_id)
    if member is None or me.department_id is None or member.department_id != me.department_id:
        abort(404)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        keys.grant_department_key(current_keyring(), me.department_id, member)
    except KeyUnavailable:
        flash(_("You do not hold the department key yourself, so you cannot grant it."), "error")
    except NotAllowed as exc:
        flash(str(exc), "error")
    else:
        flash(_("%(name)s can now open the department's cases.", name=member.display_name),
              "success")
    return redirect(url_for("accounts.department_keys"))


# -- app wiring --------------------------------------------------------------------
_PASSWORD_STEP = {"accounts.account", "accounts.logout"}
_TOTP_STEP = {"accounts.account_totp", "accounts.logout"}


def enforce_pending_steps() -> Response | None:
    """A temporary password must be changed, a required TOTP enrolled, before anything else."""
    from ..security import required_permission

    endpoint = request.endpoint
    if endpoint is None or not current_user.is_authenticated:
        return None
    if required_permission(current_app, endpoint) is True:
        return None
    try:
        service.require_ready(_me())
    except PasswordChangeRequired:
        if endpoint not in _PASSWORD_STEP:
            flash(_("Please choose a new password first."), "error")
            return redirect(url_for("accounts.account"))
    except TotpRequired:
        if endpoint not in _TOTP_STEP:
            flash(_("Your role requires two-step login. Please set it up first."), "error")
            return redirect(url_for("accounts.account_totp"))
    return None


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """The logged-in user, if still active and the session is of the current version."""
    try:
        user = db.session.get(User, int(user_id))
    except (TypeError, ValueError):
        return None
    if user is None or not user.active or session.get("_sv") != user.session_version:
        return None
    return user


def init_app(app: Flask) -> None:
    """Register the blueprints, Flask-Login settings, the step hook and the nav global."""
    from . import admin_views

    login_manager.login_view = "accounts.login"
    login_manager.session_protection = None
    app.register_blueprint(bp)
    admin_views.init_app(app)
    app.before_request(enforce_pending_steps)
    app.jinja_env.globals["staff_nav"] = staff_nav
