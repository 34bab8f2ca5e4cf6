"""Claim field checks: GB 11643 ID-card numbers (with the X check character), bank accounts."""

from __future__ import annotations

from datetime import date

import pytest

from caseapp.rewards.claims import ClaimInput, validate_claim
from caseapp.rewards.errors import InvalidClaim
from caseapp.rewards.validation import (
    FieldProblem,
    check_bank_account,
    check_id_number,
    check_payee_name,
    id_check_char,
    luhn_ok,
    mask_account,
    mask_id_number,
)

from .helpers import CARD, ID_DIGIT, ID_X

TODAY = date(2026, 6, 1)


def test_check_character_examples_from_the_standard():
    # GB 11643-1999 appendix example and a number whose check character is X
    assert id_check_char("11010519491231002") == "X"
    assert id_check_char("44052419800101001") == "3"


@pytest.mark.parametrize("value", [ID_X, ID_X.lower(), ID_DIGIT, " 1101 0519 4912 3100 2x ",
                                   "１１０１０５１９４９１２３１００２Ｘ"])
def test_valid_numbers_are_normalised(value):
    assert check_id_number(value, TODAY) in (ID_X, ID_DIGIT)


@pytest.mark.parametrize(("value", "code"), [
    ("", "required"),
    ("110105491231002", "id_old"),
    ("11010519491231002", "id_format"),
    ("1101051949123100XX", "id_format"),
    ("99010519491231002X", "id_region"),
    ("110105194902300023", "id_birth"),  # 30 February
    ("110105209901010023", "id_birth"),  # born in the future
    ("110105194912310021", "id_checksum"),  # last character should be X
    ("110105194912310029", "id_checksum"),
    ("440524198001010014", "id_checksum"),
])
def test_invalid_numbers_say_why(value, code):
    with pytest.raises(FieldProblem) as exc:
        check_id_number(value, TODAY)
    assert exc.value.code == code


def test_every_single_digit_change_is_caught():
    for pos in range(17):
        for digit in "0123456789":
            if digit == ID_DIGIT[pos]:
                continue
            changed = ID_DIGIT[:pos] + digit + ID_DIGIT[pos + 1:]
            with pytest.raises(FieldProblem):
                check_id_number(changed, TODAY)


def test_bank_accounts():
    assert check_bank_account("6222 0202 0011 2233 446") == CARD
    assert luhn_ok(CARD)
    assert check_bank_account("1234-5678-9012-3") == "1234567890123"  # a passbook account
    for value, code in [("", "required"), ("6222abc", "account_digits"),
                        ("12345", "account_length"), ("1" * 31, "account_length"),
                        ("6222020200112233447", "account_checksum")]:
        with pytest.raises(FieldProblem) as exc:
            check_bank_account(value)
        assert exc.value.code == code


def test_names_and_masks():
    assert check_payee_name("  买买提·艾力  ") == "买买提·艾力"
    for bad in ("", "张", "Zhang3", "x" * 51, "<script>"):
        with pytest.raises(FieldProblem):
            check_payee_name(bad)
    assert mask_id_number(ID_X) == "110105********002X"
    assert mask_account(CARD) == "*" * 15 + "3446"


def test_validate_claim_reports_every_problem_at_once():
    data = ClaimInput(payee_name="", id_number="110105194912310021", method="bank",
                      bank_name="", account_number="6222020200112233447")
    with pytest.raises(InvalidClaim) as exc:
        validate_claim(data, ("Office A",), TODAY)
    assert exc.value.problems == {"payee_name": "required", "id_number": "id_checksum",
                                  "bank_name": "required", "account_number": "account_checksum"}
    with pytest.raises(InvalidClaim) as exc:
        validate_claim(ClaimInput("张三", ID_X, "in_person", office="Elsewhere"),
                       ("Office A",), TODAY)
    assert exc.value.problems == {"office": "unknown"}
    with pytest.raises(InvalidClaim) as exc:
        validate_claim(ClaimInput("张三", ID_X, ""), ("Office A",), TODAY)
    assert exc.value.problems == {"method": "required"}
    ok = validate_claim(ClaimInput("张三", ID_X.lower(), "in_person", bank_name="ignored",
                                   office="Office A"), ("Office A",), TODAY)
    assert ok.id_number == ID_X and ok.bank_name == "" and ok.office == "Office A"
