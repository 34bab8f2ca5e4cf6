"""WTForms of the accounts feature; every form carries a CSRF token (Flask-WTF)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    HiddenField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, Length, Optional, Regexp
from wtforms.widgets import CheckboxInput, ListWidget

from .permissions import Role
from .service import MIN_PASSWORD_LENGTH

ROLE_LABELS = {
    Role.ADMIN: _l("Administrator"),
    Role.INTAKE: _l("Intake office"),
    Role.INVESTIGATOR: _l("Investigator"),
    Role.DEPT_LEAD: _l("Department lead"),
    Role.FINANCE_OFFICER: _l("Finance officer"),
    Role.FINANCE_APPROVER: _l("Finance approver"),
    Role.SUPERVISOR: _l("Supervisor (leading group)"),
    Role.AUDITOR: _l("Auditor"),
}


class MultiCheckboxField(SelectMultipleField):
    """A multiple choice shown as a list of check boxes."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class LoginForm(FlaskForm):
    """User name and password."""

    username = StringField(_l("User name"), validators=[DataRequired(), Length(max=64)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=1024)])
    next = HiddenField()


class TotpForm(FlaskForm):
    """A six-digit one-time code."""

    code = StringField(_l("One-time code"), validators=[DataRequired(), Length(min=6, max=12)])
    next = HiddenField()


class ActionForm(FlaskForm):
    """A button that only needs the CSRF token (grant, deactivate, disable)."""


class ChangePasswordForm(FlaskForm):
    """Old password, new password twice."""

    old_password = PasswordField(_l("Current password"), validators=[DataRequired()])
    new_password = PasswordField(
        _l("New password"),
        validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH, max=1024)],
        description=_l("At least %(n)d characters; a sentence is easy to remember.",
                       n=MIN_PASSWORD_LENGTH))
    confirm = PasswordField(_l("New password again"),
                            validators=[DataRequired(), EqualTo("new_password",
                                                                _l("The passwords differ."))])


class TotpDisableForm(FlaskForm):
    """Password confirmation before turning the second factor off."""

    password = PasswordField(_l("Password"), validators=[DataRequired()])


def _role_choices() -> list[SelectChoice]:
    return [SelectChoice(role.value, str(label)) for role, label in ROLE_LABELS.items()]


def _department_choices(departments: list[tuple[int, str]]) -> list[SelectChoice]:
    none = SelectChoice("0", str(_l("— none —")))
    return [none] + [SelectChoice(str(dept_id), name) for dept_id, name in departments]


class UserCreateForm(FlaskForm):
    """A new staff account."""

    username = StringField(_l("User name"), validators=[
        DataRequired(), Regexp(r"^[a-zA-Z0-9][a-zA-Z0-9_.\-]{1,63}$",
                               message=_l("Use letters, digits, '.', '_' or '-'."))])
    display_name = StringField(_l("Full name"), validators=[DataRequired(), Length(max=200)])
    department = SelectField(_l("Department"), coerce=int, validators=[Optional()])
    roles = MultiCheckboxField(_l("Roles"))
    password = PasswordField(
        _l("Initial password"),
        validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH, max=1024)],
        description=_l("Give it to the person in a safe way; they must change it at first login."))

    def set_choices(self, departments: list[tuple[int, str]]) -> None:
        """Fill the department and role choices."""
        self.department.choices = _department_choices(departments)
        self.roles.choices = _role_choices()


class UserEditForm(FlaskForm):
    """Edit an account's name, department, roles and status."""

    display_name = StringField(_l("Full name"), validators=[DataRequired(), Length(max=200)])
    department = SelectField(_l("Department"), coerce=int, validators=[Optional()])
    roles = MultiCheckboxField(_l("Roles"))
    active = BooleanField(_l("Account active"))

    def set_choices(self, departments: list[tuple[int, str]]) -> None:
        """Fill the department and role choices."""
        self.department.choices = _department_choices(departments)
        self.roles.choices = _role_choices()


class DepartmentForm(FlaskForm):
    """A new department."""

    code = StringField(_l("Code"), validators=[
        DataRequired(), Regexp(r"^[a-z][a-z0-9_]{1,63}$",
                               message=_l("Lower-case letters, digits and '_'."))],
        description=_l("A short English identifier, e.g. public_security."))
    name_zh = StringField(_l("Chinese name"), validators=[DataRequired(), Length(max=200)])
    name_en = StringField(_l("English name"), validators=[DataRequired(), Length(max=200)])


class DepartmentRenameForm(FlaskForm):
    """New names for a department."""

    name_zh = StringField(_l("Chinese name"), validators=[DataRequired(), Length(max=200)])
    name_en = StringField(_l("English name"), validators=[DataRequired(), Length(max=200)])
