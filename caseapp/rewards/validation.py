"""Checks of the claim fields: GB 11643 ID-card numbers, bank accounts, payee names."""

from __future__ import annotations

import re
import unicodedata
from datetime import date

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK_CHARS = "10X98765432"  # index = weighted sum mod 11
# First two digits of the administrative division code (GB/T 2260): provinces, 71 Taiwan,
# 81/82 Hong Kong and Macao (residence permits), 83 for residence permits of Taiwan residents.
PROVINCE_CODES = frozenset({
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
    "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64",
    "65", "71", "81", "82", "83",
})
_SEPARATORS = re.compile(r"[\s\-]+")
_NAME = re.compile(r"^[\w·•.' ]+$")


class FieldProblem(ValueError):
    """A claim field is not acceptable; `code` names the problem for the message."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def id_check_char(first17: str) -> str:
    """The GB 11643-1999 check character (0-9 or X) of the first 17 digits."""
    if len(first17) != 17 or not first17.isdigit():
        raise FieldProblem("id_format")
    total = sum(int(d) * w for d, w in zip(first17, ID_WEIGHTS, strict=True))
    return ID_CHECK_CHARS[total % 11]


def normalise_id_number(text: str) -> str:
    """Full-width to half-width, spaces removed, a lower-case x made upper-case."""
    return _SEPARATORS.sub("", unicodedata.normalize("NFKC", text or "")).upper()


def check_id_number(text: str, today: date | None = None) -> str:
    """The normalised 18-character citizen ID number; FieldProblem when it cannot be one."""
    value = normalise_id_number(text)
    if not value:
        raise FieldProblem("required")
    if len(value) == 15 and value.isdigit():
        raise FieldProblem("id_old")
    if len(value) != 18 or not value[:17].isdigit() or value[17] not in "0123456789X":
        raise FieldProblem("id_format")
    if value[:2] not in PROVINCE_CODES:
        raise FieldProblem("id_region")
    try:
        born = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        raise FieldProblem("id_birth") from None
    if born.year < 1900 or born > (today or date.today()):
        raise FieldProblem("id_birth")
    if id_check_char(value[:17]) != value[17]:
        raise FieldProblem("id_checksum")
    return value


def mask_id_number(value: str) -> str:
    """`110105********123X`: enough to compare with a presented card, not to copy it."""
    if len(value) < 10:
        return "*" * len(value)
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


def luhn_ok(digits: str) -> bool:
    """True when `digits` pass the Luhn (mod 10) check of ISO/IEC 7812 card numbers."""
    total = 0
    for pos, ch in enumerate(reversed(digits)):
        n = int(ch)
        if pos % 2 == 1:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def check_bank_account(text: str) -> str:
    """Digits of a bank card or account number (12-30); UnionPay cards must pass Luhn."""
    value = _SEPARATORS.sub("", unicodedata.normalize("NFKC", text or ""))
    if not value:
        raise FieldProblem("required")
    if not value.isdigit():
        raise FieldProblem("account_digits")
    if not 12 <= len(value) <= 30:
        raise FieldProblem("account_length")
    if value.startswith("62") and 16 <= len(value) <= 19 and not luhn_ok(value):
        raise FieldProblem("account_checksum")
    return value


def mask_account(value: str) -> str:
    """`6222 **** **** 1234` style: the last four digits only."""
    return "*" * max(len(value) - 4, 0) + value[-4:]


def check_payee_name(text: str) -> str:
    """A payee name as written on the ID card (2-50 characters, letters, '·' and spaces)."""
    value = " ".join(unicodedata.normalize("NFKC", text or "").split())
    if not value:
        raise FieldProblem("required")
    if not 2 <= len(value) <= 50 or not _NAME.match(value) or any(c.isdigit() for c in value):
        raise FieldProblem("name_format")
    return value


def check_bank_name(text: str) -> str:
    """The bank (and branch) name, 2-100 characters."""
    value = " ".join((text or "").split())
    if not value:
        raise FieldProblem("required")
    if not 2 <= len(value) <= 100:
        raise FieldProblem("bank_name_length")
    return value
