"""Forms of the portal: the guided report, the receipt, a reply; and the staff registration.

The anonymous forms carry no CSRF token (that would need a cookie before submission);
they carry a signed one-time form token instead (see docs/portal.md). Forms used after a
receipt login, and the staff form, use Flask-WTF's CSRF protection.
"""

from __future__ import annotations

import secrets
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from itsdangerous import BadSignature, URLSafeSerializer
from wtforms import (
    HiddenField,
    MultipleFileField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from .. import clock
from .models import Category, Channel
from .regions import regions
from .service import TipInput

NARRATIVE_MAX = 20_000

CATEGORY_CHOICES = [
    (Category.SEX_IDENTIFICATION.value,
     _l("Telling the sex of an unborn baby (ultrasound, blood test) without medical need")),
    (Category.SEX_SELECTIVE_ABORTION.value,
     _l("Ending a pregnancy because of the baby's sex")),
    (Category.ABORTION_DRUG_SALE.value,
     _l("Selling abortion drugs illegally (for example in a pharmacy or online)")),
    (Category.INFANT_ABANDONMENT.value,
     _l("Drowning, abandoning or selling baby girls")),
    (Category.OTHER.value, _l("Something else related to the above")),
]
HOW_CHOICES = [
    ("me_or_family", _l("It happened to me or my family")),
    ("saw", _l("I saw it happen")),
    ("offered", _l("Someone offered it to me")),
    ("work", _l("I work there or nearby")),
    ("heard", _l("I heard about it from others")),
    ("other", _l("Other")),
]
CONTACT_CHOICES = [
    ("portal", _l("Only through this website: I will check back with my receipt")),
    ("phone", _l("You may call me at this number")),
]
CHANNEL_CHOICES = [
    (Channel.PHONE.value, _l("Phone call")),
    (Channel.LETTER.value, _l("Letter")),
    (Channel.IN_PERSON.value, _l("In person")),
]


# -- the one-time form token -----------------------------------------------------------
def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="caseapp.tips.form-token")


def _clock_seconds() -> int:
    from datetime import datetime

    return int((clock.now() - datetime(1970, 1, 1)).total_seconds())


def new_form_token() -> str:
    """A signed token with 128 random bits and the time the form was served."""
    return str(_serializer().dumps({"n": secrets.token_hex(16), "t": _clock_seconds()}))


def read_form_token(token: str) -> tuple[str, int] | None:
    """(nonce, age in seconds) of a genuine token; None when forged or damaged."""
    try:
        data = _serializer().loads(token or "")
    except BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("n"), str):
        return None
    return data["n"], _clock_seconds() - int(data.get("t", 0))


# -- forms -----------------------------------------------------------------------------
def _choices(pairs: list[tuple[str, Any]]) -> list[SelectChoice]:
    return [SelectChoice(value, label) for value, label in pairs]


def _district_choices(locale: str) -> list[SelectChoice]:
    out = [SelectChoice("", str(_l("Choose…")))]
    out += [SelectChoice(d.code, d.en if locale == "en" else d.name,
                         optgroup=d.parent_en if locale == "en" else d.parent)
            for d in regions().districts]
    return out


def _township_choices(locale: str) -> list[SelectChoice]:
    place = regions()
    out = [SelectChoice("", str(_l("Not sure / not listed")))]
    out += [SelectChoice(t.code, t.en if locale == "en" else t.name,
                         optgroup=place.label(t.parent, locale)) for t in place.townships]
    return out


class ReportForm(FlaskForm):
    """The guided report; every field explains itself in the template."""

    class Meta:
        csrf = False  # anonymous: protected by the one-time form token and the Origin check

    category = RadioField(_l("What happened?"), choices=_choices(CATEGORY_CHOICES),
                          validators=[DataRequired(_l("Please choose what happened."))])
    place_name = StringField(_l("Name of the clinic, pharmacy or person"),
                             validators=[Optional(), Length(max=200)])
    address = StringField(_l("Address or description of the place"),
                          validators=[Optional(), Length(max=300)])
    district = SelectField(_l("District or county"), choices=[],
                           validators=[DataRequired(_l("Please choose the district."))])
    township = SelectField(_l("Township or street (if you know it)"), choices=[],
                           validators=[Optional()])
    subject_phone = StringField(_l("Their phone number (if you know it)"),
                                validators=[Optional(), Length(max=200)])
    when = StringField(_l("When did it happen?"), validators=[Optional(), Length(max=200)])
    how_known = RadioField(_l("How do you know?"), choices=_choices(HOW_CHOICES),
                           validate_choice=False, validators=[Optional()])
    narrative = TextAreaField(_l("Tell us what happened"), validators=[
        DataRequired(_l("Please describe what happened, in your own words.")),
        Length(max=NARRATIVE_MAX, message=_l("Please shorten the text to at most "
                                             "%(max)d characters."))])
    contact = RadioField(_l("May we contact you?"), choices=_choices(CONTACT_CHOICES),
                         default="portal", validate_choice=False, validators=[Optional()])
    contact_phone = StringField(_l("Your phone number"), validators=[Length(max=40)])
    files = MultipleFileField(_l("Photos, recordings, videos or documents"))
    hp_note = StringField(_l("Leave this field empty"), validators=[Optional()])
    form_token = HiddenField()

    def __init__(self, *args: Any, locale: str = "zh_CN", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.district.choices = _district_choices(locale)
        self.township.choices = _township_choices(locale)

    def validate_township(self, field: Any) -> None:
        """A township must lie in the chosen district."""
        if field.data:
            town = regions().township(field.data)
            if town is None or town.parent != self.district.data:
                raise ValidationError(_l("This township is not in the district you chose."))

    def validate_how_known(self, field: Any) -> None:
        """Only a listed answer (or none)."""
        if field.data and field.data not in dict(HOW_CHOICES):
            raise ValidationError(_l("Please choose one of the answers."))

    def validate_contact_phone(self, field: Any) -> None:
        """A phone number is needed when the tipster asked to be called."""
        if self.contact.data == "phone" and not (field.data or "").strip():
            raise ValidationError(_l("Please give the number we may call, or choose "
                                     "\"only through this website\"."))

    def to_input(self) -> TipInput:
        """The typed data for the service."""
        return TipInput(
            category=self.category.data or "", district=self.district.data or "",
            narrative=self.narrative.data or "", township=self.township.data or "",
            place_name=self.place_name.data or "", address=self.address.data or "",
            subject_phone=self.subject_phone.data or "", when=self.when.data or "",
            how_known=self.how_known.data or "", contact=self.contact.data or "portal",
            contact_phone=(self.contact_phone.data or "") if self.contact.data == "phone"
            else "")


class StaffReportForm(ReportForm):
    """Staff registering a tip received by phone, letter or in person (CSRF protected)."""

    class Meta:
        csrf = True

    channel = SelectField(_l("How the tip was received"), choices=_choices(CHANNEL_CHOICES),
                          validators=[DataRequired()])


class ReceiptForm(FlaskForm):
    """The receipt typed back on the follow-up page (no cookie before it is correct)."""

    class Meta:
        csrf = False

    receipt = StringField(_l("Your receipt number"), validators=[
        DataRequired(_l("Please type the receipt number you were given."))])


class ReplyForm(FlaskForm):
    """A message from the tipster, with optional files (CSRF protected)."""

    body = TextAreaField(_l("Your message"), validators=[
        DataRequired(_l("Please write a message.")), Length(max=10_000)])
    files = MultipleFileField(_l("Add files (optional)"))


class LeaveForm(FlaskForm):
    """The button that ends the tipster's session (CSRF protected)."""
