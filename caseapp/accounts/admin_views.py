"""Administration: users (create, edit, reset password) and departments."""

from __future__ import annotations

from flask import Blueprint, Flask, abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.wrappers import Response

from ..extensions import db
from . import service
from .current import current_staff as _me
from .errors import AccountError, InvalidInput, NotAllowed, PasswordPolicyError
from .forms import (
    ROLE_LABELS,
    ActionForm,
    DepartmentForm,
    DepartmentRenameForm,
    UserCreateForm,
    UserEditForm,
)
from .models import Department, DepartmentKeyGrant, User
from .permissions import Permission, require

bp = Blueprint("admin", __name__, url_prefix="/staff/admin")




def _lang() -> str:
    locale = get_locale()
    return "en" if locale is not None and locale.language == "en" else "zh"


def _department_choices(active_only: bool) -> list[tuple[int, str]]:
    query = select(Department).order_by(Department.code)
    if active_only:
        query = query.where(Department.active.is_(True))
    return [(d.id, d.name(_lang())) for d in db.session.scalars(query)]


def _department(dept_id: int | None) -> Department | None:
    return db.session.get(Department, dept_id) if dept_id else None


def _user_or_404(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    return user


def _dept_or_404(dept_id: int) -> Department:
    dept = db.session.get(Department, dept_id)
    if dept is None:
        abort(404)
    return dept


# -- users ---------------------------------------------------------------------------
@bp.get("/users")
@require(Permission.USERS_MANAGE)
def users() -> str:
    """Every account with its department, roles and whether it holds its department key."""
    rows = list(db.session.scalars(select(User).order_by(User.username)))
    granted = set(db.session.execute(
        select(DepartmentKeyGrant.user_id, DepartmentKeyGrant.department_id)).tuples())
    return render_template("admin/users.html", users=rows, granted=granted,
                           role_labels=ROLE_LABELS, lang=_lang())


@bp.route("/users/new", methods=["GET", "POST"])
@require(Permission.USERS_MANAGE)
def user_new() -> Response | str:
    """Create an account with an initial password the person must change."""
    form = UserCreateForm()
    form.set_choices(_department_choices(active_only=True))
    if form.validate_on_submit():
        try:
            user = service.create_user(
                form.username.data or "", form.display_name.data or "",
                _department(form.department.data), form.roles.data or [],
                form.password.data or "", actor=_me(), must_change_password=True)
        except PasswordPolicyError as exc:
            form.password.errors = [str(exc)]
        except AccountError as exc:
            flash(str(exc), "error")
        else:
            flash(_("Account %(name)s created. A department lead must grant it the department "
                    "key before it can open cases.", name=user.username), "success")
            return redirect(url_for("admin.user_edit", user_id=user.id))
    return render_template("admin/user_new.html", form=form)


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@require(Permission.USERS_MANAGE)
def user_edit(user_id: int) -> Response | str:
    """Change an account's name, department, roles and status."""
    user = _user_or_404(user_id)
    form = UserEditForm(obj=None if request.method == "POST" else user)
    form.set_choices(_department_choices(active_only=False))
    if request.method == "GET":
        form.department.data = user.department_id or 0
        form.roles.data = sorted(user.roles)
    if form.validate_on_submit():
        try:
            service.update_user(_me(), user, display_name=form.display_name.data or "",
                                department=_department(form.department.data),
                                roles=form.roles.data or [], active=bool(form.active.data))
        except (InvalidInput, NotAllowed) as exc:
            flash(str(exc), "error")
        else:
            flash(_("Saved."), "success")
            return redirect(url_for("admin.user_edit", user_id=user.id))
    grant_count = db.session.scalar(
        select(db.func.count()).select_from(DepartmentKeyGrant)
        .where(DepartmentKeyGrant.user_id == user.id)) or 0
    return render_template("admin/user_edit.html", form=form, user=user,
                           holds_key=grant_count > 0, action_form=ActionForm())


@bp.post("/users/<int:user_id>/reset")
@require(Permission.USERS_MANAGE)
def user_reset(user_id: int) -> Response | str:
    """Give the user a fresh key pair and a temporary password, shown once."""
    user = _user_or_404(user_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    temp = service.generate_temp_password()
    try:
        service.admin_reset_password(_me(), user, temp)
    except NotAllowed as exc:
        flash(str(exc), "error")
        return redirect(url_for("admin.user_edit", user_id=user.id))
    return render_template("admin/user_reset_done.html", user=user, temp_password=temp)


# -- departments ---------------------------------------------------------------------
@bp.get("/departments")
@require(Permission.DEPARTMENTS_MANAGE)
def departments() -> str:
    """Every department with its member and key-holder counts."""
    rows = list(db.session.scalars(select(Department).order_by(Department.code)))
    members = {dept_id: n for dept_id, n in db.session.execute(
        select(User.department_id, db.func.count()).group_by(User.department_id))}
    holders = {dept_id: n for dept_id, n in db.session.execute(
        select(DepartmentKeyGrant.department_id, db.func.count())
        .group_by(DepartmentKeyGrant.department_id))}
    return render_template("admin/departments.html", departments=rows, members=members,
                           holders=holders, lang=_lang(), action_form=ActionForm())


@bp.route("/departments/new", methods=["GET", "POST"])
@require(Permission.DEPARTMENTS_MANAGE)
def department_new() -> Response | str:
    """Create a department and its key pair (sealed to the escrow key only)."""
    form = DepartmentForm()
    if form.validate_on_submit():
        try:
            service.add_department(_me(), form.code.data or "", form.name_zh.data or "",
                                   form.name_en.data or "")
        except AccountError as exc:
            flash(str(exc), "error")
        else:
            flash(_("Department created. Its first key holder is granted the key with the "
                    "offline escrow key (flask keys grant)."), "success")
            return redirect(url_for("admin.departments"))
    return render_template("admin/department_form.html", form=form, department=None)


@bp.route("/departments/<int:dept_id>", methods=["GET", "POST"])
@require(Permission.DEPARTMENTS_MANAGE)
def department_edit(dept_id: int) -> Response | str:
    """Rename a department."""
    dept = _dept_or_404(dept_id)
    form = DepartmentRenameForm(obj=dept)
    if form.validate_on_submit():
        try:
            service.rename_department(_me(), dept, form.name_zh.data or "",
                                      form.name_en.data or "")
        except AccountError as exc:
            flash(str(exc), "error")
        else:
            flash(_("Saved."), "success")
            return redirect(url_for("admin.departments"))
    return render_template("admin/department_form.html", form=form, department=dept)


@bp.post("/departments/<int:dept_id>/active")
@require(Permission.DEPARTMENTS_MANAGE)
def department_active(dept_id: int) -> Response:
    """Deactivate an active department or reactivate an inactive one."""
    dept = _dept_or_404(dept_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    service.set_department_active(_me(), dept, not dept.active)
    flash(_("Department activated.") if dept.active else _("Department deactivated."),
          "success")
    return redirect(url_for("admin.departments"))


def init_app(app: Flask) -> None:
    """Register the admin blueprint."""
    app.register_blueprint(bp)
