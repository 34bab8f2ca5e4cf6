"""Forms of the rewards feature: the portal claim and the finance staff actions."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    HiddenField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from .models import PayoutMethod

# What each problem code of the claim validation and the payout guards means, in plain words.
PROBLEMS: dict[str, Any] = {
    "required": _l("Please fill in this field."),
    "name_format": _l("Write the name exactly as on the ID card (2 to 50 letters, no digits)."),
    "id_old": _l("This looks like an old 15-digit ID number. Please give the 18-character "
                 "number of the current ID card."),
    "id_format": _l("An ID card number has 18 characters: 17 digits and a last digit or X."),
    "id_region": _l("The first digits of this ID card number do not name a province."),
    "id_birth": _l("The date of birth inside this ID card number (digits 7 to 14) is not a "
                   "valid date."),
    "id_checksum": _l("This ID card number is not valid: please check each digit (the last "
                      "character is a check digit, sometimes X)."),
    "account_digits": _l("The account number may contain only digits (spaces are fine)."),
    "account_length": _l("An account number has 12 to 30 digits."),
    "account_checksum": _l("This card number is not valid: please check each digit."),
    "bank_name_length": _l("Please give the bank and branch name (2 to 100 characters)."),
    "unknown": _l("Please choose one of the listed offices."),
    "mismatch": _l("The collection code does not match. Ask the person to show it again."),
    "two_distinct": _l("Name two different staff members for the hand-over."),
    "unknown_staff": _l("Both hand-over staff must be active staff members."),
    "future": _l("The payment date cannot be in the future."),
    "before_approval": _l("The payment date cannot be before the approval."),
    "claimed_in_person": _l("The tipster asked to collect in person: use that method."),
    "claimed_bank": _l("The tipster asked for a bank transfer: use that method."),
    "too_long": _l("This is too long."),
}

METHOD_LABELS: dict[str, Any] = {
    PayoutMethod.BANK.value: _l("Bank transfer"),
    PayoutMethod.IN_PERSON.value: _l("Collection in person"),
}


def choices(pairs: list[tuple[Any, Any]]) -> list[SelectChoice]:
    """Select options from (value, label) pairs."""
    return [SelectChoice(value, label) for value, label in pairs]


def method_choices() -> list[SelectChoice]:
    """The payout methods as select options."""
    return choices(list(METHOD_LABELS.items()))


def problem_text(code: str) -> str:
    """The message for a problem code."""
    return str(PROBLEMS.get(code, _l("This value is not accepted.")))


class ClaimForm(FlaskForm):
    """The tipster's claim; validated by the service so that nothing typed is lost."""

    payee_name = StringField(_l("Name of the payee (as on the ID card)"),
                             validators=[Length(max=200)])
    id_number = StringField(_l("ID card number (18 characters)"), validators=[Length(max=40)])
    method = RadioField(_l("How do you want to receive the reward?"),
                        choices=method_choices, validators=[Optional()], validate_choice=False)
    bank_name = StringField(_l("Bank and branch"), validators=[Length(max=200)])
    account_number = StringField(_l("Account or card number"), validators=[Length(max=60)])
    office = SelectField(_l("Office where you will collect it"), choices=[],
                         validate_choice=False)


class VersionedForm(FlaskForm):
    """A staff action on a reward as the page showed it (optimistic lock)."""

    version = HiddenField(validators=[DataRequired()])

    def expected_version(self) -> int | None:
        """The version the page was rendered with (None when unreadable)."""
        try:
            return int(self.version.data or "")
        except ValueError:
            return None


class RejectForm(VersionedForm):
    """Refuse a claim with a reason."""

    reason = TextAreaField(_l("Reason (kept in the file, not shown to the tipster)"),
                           validators=[DataRequired(), Length(max=2000)])


class PayForm(VersionedForm):
    """Record the payout."""

    method = SelectField(_l("Payout method"), choices=method_choices,
                         validators=[InputRequired()])
    reference = StringField(_l("Payout reference (voucher or bank transaction number)"),
                            validators=[DataRequired(), Length(max=100)])
    paid_on = DateField(_l("Payment date"), validators=[DataRequired()])
    collection_code = StringField(_l("Collection code shown by the person collecting"),
                                  validators=[Length(max=40)])
    handover_by = SelectField(_l("Hand-over by"), coerce=int, choices=[],
                              validate_choice=False)
    handover_witness = SelectField(_l("Hand-over witnessed by"), coerce=int, choices=[],
                                   validate_choice=False)


class LedgerFilterForm(FlaskForm):
    """The period (and optionally the district) of the ledger report."""

    class Meta:
        """A GET filter: no CSRF token."""

        csrf = False

    date_from = DateField(_l("From"), validators=[Optional()])
    date_to = DateField(_l("To"), validators=[Optional()])
    district = StringField(_l("District code"), validators=[Optional(), Length(max=16)])
