"""WTForms of the case workflow (choices are filled in by the views)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    DateField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from .models import MeasureKind, OutcomeKind, SeizedKind, SubjectKind, TaskStatus

OUTCOME_LABELS = {
    OutcomeKind.SUBSTANTIATED: _l("Substantiated"),
    OutcomeKind.UNSUBSTANTIATED: _l("Unsubstantiated"),
    OutcomeKind.INSUFFICIENT_EVIDENCE: _l("Insufficient evidence"),
    OutcomeKind.REFERRED_JUDICIAL: _l("Referred to judicial organs"),
    OutcomeKind.REFERRED_OTHER_REGION: _l("Referred to another region"),
}
MEASURE_LABELS = {
    MeasureKind.WARNING: _l("Warning"),
    MeasureKind.CONFISCATION: _l("Confiscation of illegal gains"),
    MeasureKind.FINE: _l("Fine"),
    MeasureKind.LICENCE_REVOCATION: _l("Licence revocation"),
    MeasureKind.DISCIPLINE_REFERRAL: _l("Referral for discipline"),
    MeasureKind.CRIMINAL_REFERRAL: _l("Referral for criminal prosecution"),
}
SEIZED_LABELS = {
    SeizedKind.ULTRASOUND: _l("Ultrasound machine"),
    SeizedKind.SUCTION: _l("Suction device"),
    SeizedKind.FETAL_HEART_MONITOR: _l("Fetal-heart monitor"),
    SeizedKind.DRUGS: _l("Drugs"),
    SeizedKind.OTHER: _l("Other"),
}
SUBJECT_LABELS = {
    SubjectKind.CLINIC: _l("Clinic"),
    SubjectKind.PERSON: _l("Person"),
    SubjectKind.PHARMACY: _l("Pharmacy"),
}
TASK_LABELS = {
    TaskStatus.TODO: _l("To do"),
    TaskStatus.DOING: _l("Doing"),
    TaskStatus.DONE: _l("Done"),
    TaskStatus.CANCELLED: _l("Cancelled"),
}
REJECT_LABELS = {
    "spam": _l("Spam"),
    "out_of_scope": _l("Out of scope"),
    "insufficient": _l("Insufficient information"),
    "duplicate": _l("Duplicate"),
}
REFER_LABELS = {
    "other_region": _l("Another jurisdiction"),
    "other_authority": _l("Another authority"),
    "judicial": _l("Judicial organs"),
}


class MultiCheckboxField(SelectMultipleField):
    """A multiple choice shown as check boxes."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class PromoteForm(FlaskForm):
    """Open a case from a tip."""

    title = StringField(_l("Case title"), validators=[DataRequired(), Length(max=300)])
    summary = TextAreaField(_l("Summary"), validators=[Optional(), Length(max=10000)])
    lead = SelectField(_l("Lead department"), coerce=int, validators=[DataRequired()])
    joint = MultiCheckboxField(_l("Joint departments"), coerce=int, validators=[Optional()])
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(), Length(max=4000)])


class LinkForm(FlaskForm):
    """Link a tip to an open case."""

    case_ref = StringField(_l("Case reference"), validators=[DataRequired(), Length(max=32)])
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(), Length(max=4000)])


class AskForm(FlaskForm):
    """Ask the tipster a question."""

    question = TextAreaField(_l("Question to the tipster"),
                             validators=[DataRequired(), Length(max=10000)])


class RejectForm(FlaskForm):
    """Reject a tip."""

    reason_code = SelectField(_l("Reason"), choices=list(REJECT_LABELS.items()))
    reason = TextAreaField(_l("Explanation"), validators=[Optional(), Length(max=4000)])


class ReferForm(FlaskForm):
    """Refer a tip elsewhere."""

    reason_code = SelectField(_l("Refer to"), choices=list(REFER_LABELS.items()))
    reason = TextAreaField(_l("Which authority, and why"),
                           validators=[DataRequired(), Length(max=4000)])


class SearchForm(FlaskForm):
    """Find tips and cases by clinic name, phone or address (blind index)."""

    class Meta:
        csrf = False

    kind = SelectField(_l("Search by"), choices=[("clinic", _l("Clinic name")),
                                                 ("phone", _l("Phone number")),
                                                 ("address", _l("Address"))])
    value = StringField(_l("Value"), validators=[DataRequired(), Length(max=300)])


class DepartmentForm(FlaskForm):
    """Add a joint department."""

    department = SelectField(_l("Department"), coerce=int)


class TextForm(FlaskForm):
    """A note, a message to the tipster or a reason."""

    text = TextAreaField(_l("Text"), validators=[DataRequired(), Length(max=10000)])
    tip = SelectField(_l("Tip"), coerce=int, validate_choice=False, validators=[Optional()])


class TaskForm(FlaskForm):
    """A new task."""

    title = StringField(_l("Task"), validators=[DataRequired(), Length(max=300)])
    detail = TextAreaField(_l("Details"), validators=[Optional(), Length(max=10000)])
    assignee = SelectField(_l("Assigned to"), validators=[DataRequired()])
    due_on = DateField(_l("Due on"), validators=[Optional()])


class TaskStatusForm(FlaskForm):
    """Change a task's status."""

    status = SelectField(_l("Status"), choices=list(TASK_LABELS.items()))


class ActionForm(FlaskForm):
    """Plan a joint action."""

    planned_on = DateField(_l("Planned date"), validators=[DataRequired()])
    premises = TextAreaField(_l("Target premises"), validators=[DataRequired(), Length(max=2000)])
    departments = MultiCheckboxField(_l("Departments taking part"), coerce=int)
    people = TextAreaField(_l("People taking part"), validators=[Optional(), Length(max=2000)])


class ActionResultForm(FlaskForm):
    """Record a joint action's result."""

    status = SelectField(_l("Status"), choices=[("done", _l("Done")),
                                                ("cancelled", _l("Cancelled"))])
    result = TextAreaField(_l("Result"), validators=[DataRequired(), Length(max=10000)])


class SeizedForm(FlaskForm):
    """Log a seized or sealed item."""

    kind = SelectField(_l("Item"), choices=list(SEIZED_LABELS.items()))
    quantity = IntegerField(_l("Count"), default=1, validators=[NumberRange(min=1, max=100000)])
    sealed_only = BooleanField(_l("Sealed on site (not taken)"))
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=2000)])
    custody = StringField(_l("Custody"), validators=[DataRequired(), Length(max=2000)])
    action = SelectField(_l("Joint action"), coerce=int, validate_choice=False,
                         validators=[Optional()])


class EvidenceForm(FlaskForm):
    """Upload an evidence file."""

    file = FileField(_l("File"), validators=[FileRequired()])


class SubjectForm(FlaskForm):
    """Record a subject."""

    kind = SelectField(_l("Kind"), choices=list(SUBJECT_LABELS.items()))
    name = StringField(_l("Name"), validators=[Optional(), Length(max=2000)])
    address = StringField(_l("Address"), validators=[Optional(), Length(max=2000)])
    phone = StringField(_l("Phone"), validators=[Optional(), Length(max=2000)])
    licence = StringField(_l("Licence number"), validators=[Optional(), Length(max=2000)])
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=2000)])


class ProposeForm(FlaskForm):
    """Propose a disposition; measures come as measure-<i>-kind/subject/amount fields."""

    outcome = SelectField(_l("Outcome"), choices=list(OUTCOME_LABELS.items()))
    legal_basis = TextAreaField(_l("Legal basis"), validators=[DataRequired(), Length(max=10000)])
    summary = TextAreaField(_l("Summary"), validators=[Optional(), Length(max=10000)])
    tips = MultiCheckboxField(_l("Contributing tips"), coerce=int, validate_choice=False)


class ButtonForm(FlaskForm):
    """A button that only carries the CSRF token."""
