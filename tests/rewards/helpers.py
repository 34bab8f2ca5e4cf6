"""Helpers of the rewards tests: tips, rewards and claims made through the real services."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from flask.testing import FlaskClient

from caseapp.accounts.models import User
from caseapp.config import Config
from caseapp.extensions import db
from caseapp.rewards import service
from caseapp.rewards.claims import ClaimInput, ClaimReceipt, submit_claim
from caseapp.rewards.eligibility import CaseFacts, create_reward
from caseapp.rewards.models import Reward
from caseapp.tips.service import TipInput, submit_tip

DISTRICT = "411702"
# Text that exists only inside encrypted tip content: must never appear on finance pages.
NARRATIVE_MARKER = "NARRATIVE-MARKER-7F3A The doctor at the clinic told the sex for 3000 yuan"
PLACE_MARKER = "PLACE-MARKER-康乐诊所"
# A valid ID-card number (GB 11643 check character X) and a valid UnionPay card number.
ID_X = "11010519491231002X"
ID_DIGIT = "440524198001010013"
CARD = "6222020200112233446"
PAYEE = "张三丰"
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def make_tip(staff_user_id: int | None = None, channel: str = "web",
             district: str = DISTRICT) -> tuple[int, str]:
    """A real tip through the tips service; returns (tip id, receipt). App context needed."""
    data = TipInput(category="sex_identification", district=district,
                    narrative=NARRATIVE_MARKER, place_name=PLACE_MARKER)
    done = submit_tip(data, [], channel=channel, staff_user_id=staff_user_id)
    return done.tip_id, done.receipt


def facts(case_id: int = 1, ref: str | None = None, district: str = DISTRICT) -> CaseFacts:
    """Clear facts of a test case."""
    return CaseFacts(case_id=case_id, case_ref=ref or f"C-2026-{case_id:05d}",
                     category="sex_identification", district=district, outcome="fine")


def make_reward(cfg: Config, tip_ids: list[int], case_id: int = 1) -> int:
    """An eligible reward for a case with these contributing tips (committed)."""
    reward = create_reward(db.session, facts(case_id), tip_ids, cfg)
    assert reward is not None
    db.session.commit()
    return reward.id


def bank_claim(**over: str) -> ClaimInput:
    """A valid bank-transfer claim."""
    data: dict[str, Any] = {"payee_name": PAYEE, "id_number": ID_X, "method": "bank",
                            "bank_name": "中国工商银行 驻马店分行", "account_number": CARD}
    data.update(over)
    return ClaimInput(**data)


def person_claim(cfg: Config) -> ClaimInput:
    """A valid in-person claim at the first configured office."""
    return ClaimInput(payee_name=PAYEE, id_number=ID_DIGIT, method="in_person",
                      office=cfg.reward_offices[0])


def claim(reward_id: int, tip_id: int, data: ClaimInput | None = None) -> ClaimReceipt:
    """Submit a claim as the tipster would."""
    return submit_claim(db.session, reward_id, tip_id, data or bank_claim())


def user(uid: int) -> User:
    """A user row in the current session."""
    found = db.session.get(User, uid)
    assert found is not None
    return found


def to_approved(reward_id: int, officer: int, approver: int) -> Reward:
    """Verify and approve a claimed reward."""
    service.verify(db.session, reward_id, user(officer))
    return service.approve(db.session, reward_id, user(approver))


def pay_bank(reward_id: int, payer: int, reference: str = "PZ-2026-001",
             paid_on: date | None = None) -> Any:
    """Record a bank payout."""
    from caseapp import clock

    return service.pay(db.session, reward_id, user(payer), method="bank", reference=reference,
                       paid_on=paid_on or clock.now().date())


def csrf_of(html: str) -> str:
    """The CSRF token in a page."""
    match = CSRF.search(html)
    assert match, "no csrf token"
    return match.group(1)


def receipt_login(client: FlaskClient, receipt: str) -> Any:
    """Type the receipt on the follow-up page."""
    return client.post("/follow-up", data={"receipt": " ".join(
        receipt[i:i + 4] for i in range(0, len(receipt), 4))})
