"""Intake: queue, related items, promote, link, ask (portal round trip), reject, refer."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import current_app
from sqlalchemy import func, select

from caseapp import clock
from caseapp.audit.models import AuditEntry
from caseapp.cases import decisions
from caseapp.cases.errors import IllegalTransition, InvalidInput
from caseapp.cases.intake import queue
from caseapp.cases.keys import open_case_key, wrap_aad
from caseapp.cases.models import Case, CaseKeyWrap, CaseTip, CaseTipSeal, TipDecision, TipIntake
from caseapp.cases.subjects import related_to_tip, search
from caseapp.cases.tipkeys import case_tip_keys, settle_links
from caseapp.crypto import unseal
from caseapp.extensions import db
from caseapp.notify import unread_for
from caseapp.retention.locks import subject_key
from caseapp.tips.access import add_tipster_message, check_receipt, open_with_receipt, tipster_tip
from caseapp.tips.models import HolderKind, Status, Tip, TipKeyWrap
from caseapp.tips.texts import outcome_text, status_text

from .conftest import World, new_case, ring, tip, user


def _tip(tip_id: int) -> Tip:
    row = db.session.get(Tip, tip_id)
    assert row is not None
    return row


def test_queue_oldest_first_with_summaries_and_flags(world: World, ctx: None) -> None:
    old, _ = tip("first report", place="A clinic")
    clock.move(timedelta(days=4))
    new, _ = tip("second report")
    page = queue(ring(world.intake), user(world.intake))
    assert [r.tip.id for r in page.rows] == [old, new]
    first = page.rows[0]
    assert first.summary == "first report" and first.place == "A clinic"
    assert first.overdue_ack and not first.overdue_decision and first.age_days == 4
    assert not page.rows[1].overdue_ack
    plain = queue(ring(world.intake), user(world.intake), decrypt=False)
    assert plain.rows[0].summary is None
    assert db.session.scalar(select(func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "content.opened", AuditEntry.object_type == "tip")) == 1


def test_promote_seals_case_key_and_wraps_tip(world: World, ctx: None) -> None:
    case_id, tip_id = new_case(world, joint=(world.police,))
    case = db.session.get(Case, case_id)
    assert case is not None and case.status == "open" and case.first_tip_id == tip_id
    assert case.ref and case.ref.startswith("C-")
    kinds = {(w.holder_kind, w.holder_id) for w in db.session.scalars(
        select(CaseKeyWrap).where(CaseKeyWrap.case_id == case_id))}
    assert ("department", str(world.health)) in kinds
    assert ("department", str(world.police)) in kinds
    assert any(k == "escrow" for k, _ in kinds)
    # the intake officer is in health, which is on the case: a cheap wrap was added too
    assert ("department_sym", str(world.health)) in kinds
    assert _tip(tip_id).status == Status.CASE_OPENED
    wrap = db.session.scalar(select(TipKeyWrap).where(
        TipKeyWrap.tip_id == tip_id, TipKeyWrap.holder_kind == HolderKind.CASE.value))
    assert wrap is not None and wrap.holder_id == f"{case_id}:1"
    # a police investigator opens the case key with the department seal, then the tip
    ring_p = ring(world.inv_p)
    key = open_case_key(case, ring_p)
    sealed = db.session.scalar(select(CaseKeyWrap.wrapped).where(
        CaseKeyWrap.case_id == case_id, CaseKeyWrap.holder_kind == "department",
        CaseKeyWrap.holder_id == str(world.police)))
    raw = unseal(sealed, ring_p.department_key(world.police), wrap_aad(case_id, 1, world.police))
    assert subject_key("case", case_id, raw, 1) == key  # the seal holds K; content needs the pad
    assert tip_id in case_tip_keys(case, ring_p)
    decision = db.session.scalar(select(TipDecision).where(TipDecision.tip_id == tip_id))
    assert decision is not None and decision.kind == "promote" and decision.reason
    intake = db.session.get(TipIntake, tip_id)
    assert intake is not None and intake.first_decision_days == 0
    assert {n.kind for n in unread_for(user(world.inv_p))} == {"case.assigned"}


def test_promote_refuses_decided_tip_and_missing_title(world: World, ctx: None) -> None:
    case_id, tip_id = new_case(world)
    with pytest.raises(IllegalTransition):
        decisions.reject(_tip(tip_id), ring(world.intake), user(world.intake), "spam")
    other, _ = tip()
    with pytest.raises(InvalidInput):
        decisions.promote(_tip(other), ring(world.intake), user(world.intake),
                          lead_department_id=world.health, title="  ")


def test_link_pending_until_a_member_opens_then_first_reporter(world: World, ctx: None) -> None:
    clock.move(timedelta(days=-30))
    early, _ = tip("I told you a month ago", place="仁爱诊所")
    clock.reset()
    case_id, first_tip = new_case(world, lead=world.police)
    case = db.session.get(Case, case_id)
    assert case is not None
    decisions.link(_tip(early), case, ring(world.intake), user(world.intake), "same clinic")
    link = db.session.get(CaseTip, early)
    assert link is not None and link.pending
    assert db.session.scalar(select(func.count()).select_from(CaseTipSeal)) == 1
    assert case.first_tip_id == early  # submitted earlier: it keeps its place
    ring_p = ring(world.inv_p)
    assert early not in case_tip_keys(case, ring_p)
    assert settle_links(case, ring_p) == [early]
    db.session.commit()
    assert not db.session.get(CaseTip, early).pending  # type: ignore[union-attr]
    assert db.session.scalar(select(func.count()).select_from(CaseTipSeal)) == 0
    assert {early, first_tip} <= set(case_tip_keys(case, ring_p))


def test_link_later_tip_keeps_first_reporter_and_wraps_directly(world: World,
                                                               ctx: None) -> None:
    case_id, first_tip = new_case(world)  # health leads: intake can open the case key
    later, _ = tip("again")
    case = db.session.get(Case, case_id)
    assert case is not None
    decisions.link(_tip(later), case, ring(world.intake), user(world.intake), "dup")
    assert case.first_tip_id == first_tip
    assert not db.session.get(CaseTip, later).pending  # type: ignore[union-attr]
    assert later in case_tip_keys(case, ring(world.inv_h))


def test_reject_tipster_sees_plain_words(world: World, ctx: None) -> None:
    tip_id, receipt = tip()
    decisions.reject(_tip(tip_id), ring(world.intake), user(world.intake), "out_of_scope",
                     "not about sex determination")
    content = open_with_receipt(receipt)
    assert content.tip.status == Status.REJECTED
    with current_app.test_request_context():
        assert status_text(content.tip.status) and outcome_text(content.tip.outcome)
    with pytest.raises(InvalidInput):
        decisions.reject(_tip(tip(" x")[0]), ring(world.intake), user(world.intake), "bored")


def test_refer_needs_reason(world: World, ctx: None) -> None:
    tip_id, _ = tip()
    with pytest.raises(InvalidInput):
        decisions.refer(_tip(tip_id), ring(world.intake), user(world.intake), "other_region", "")
    decisions.refer(_tip(tip_id), ring(world.intake), user(world.intake), "other_region",
                    "Clinic is in Hubei: passed to Wuhan health commission")
    assert _tip(tip_id).status == Status.REFERRED
    rows = decisions.decisions_of(_tip(tip_id), decisions.intake_tip_key(
        _tip(tip_id), ring(world.intake)))
    assert rows[0][1].startswith("Clinic is in Hubei")


def test_needs_info_round_trip_with_portal(world: World, ctx: None) -> None:
    tip_id, receipt = tip()
    decisions.ask_tipster(_tip(tip_id), ring(world.intake), user(world.intake),
                          "Which street is the clinic on?")
    assert _tip(tip_id).status == Status.NEEDS_INFO
    content = open_with_receipt(receipt)
    assert [m.body for m in content.messages] == ["Which street is the clinic on?"]
    login = check_receipt(receipt)
    t, key = tipster_tip(login.lookup, login.private_key)
    page = queue(ring(world.intake), user(world.intake), status="needs_info")
    assert page.rows[0].tip.id == tip_id and not page.rows[0].replied
    clock.move(timedelta(minutes=5))
    add_tipster_message(t, key, "Jiefang road, number 12")
    page = queue(ring(world.intake), user(world.intake), status="needs_info")
    assert page.rows[0].replied
    case = decisions.promote(_tip(tip_id), ring(world.intake), user(world.intake),
                             lead_department_id=world.health, title="After answer")
    assert case.id and _tip(tip_id).status == Status.CASE_OPENED


@pytest.mark.parametrize("spelling", ["仁爱诊所", " 仁爱 诊所 ", "仁爱诊所　", "RENAI Clinic",
                                      "renai  clinic", "ＲＥＮＡＩ　ＣＬＩＮＩＣ"])
def test_related_items_find_same_clinic_written_differently(world: World, ctx: None,
                                                            spelling: str) -> None:
    base = "RenAi Clinic" if spelling.isascii() or "Ｒ" in spelling else "仁爱诊所"
    first, _ = tip(place=base)
    case_id, _ = new_case(world, place=base)
    other, _ = tip(place=spelling)
    unrelated, _ = tip(place="Some other clinic")
    found = related_to_tip(other)
    assert first in found.tips and "clinic" in found.tips[first]
    assert case_id in found.cases
    assert unrelated not in found.tips
    typed = search("clinic", spelling)
    assert first in typed.tips and case_id in typed.cases
    page = queue(ring(world.intake), user(world.intake), decrypt=False)
    counts = {r.tip.id: r.related for r in page.rows}
    assert counts[other] >= 2 and counts[unrelated] == 0


def test_related_by_phone_and_address(world: World, ctx: None) -> None:
    a, _ = tip(phone="138-0013-8000", address="解放路12号")
    b, _ = tip(phone="+86 138 0013 8000")
    c, _ = tip(address="解放路 12 号")
    found = related_to_tip(a)
    assert found.tips[b] == ["phone"] and found.tips[c] == ["address"]
