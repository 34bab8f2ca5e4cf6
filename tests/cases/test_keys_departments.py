"""Case keys: outsiders cannot decrypt; adding then removing a department rotates the key."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from caseapp.cases import content, workflow
from caseapp.cases.common import header_aad, row_aad
from caseapp.cases.errors import InvalidInput, NotAllowed, NotOnCase
from caseapp.cases.keys import open_case_key, wrap_aad
from caseapp.cases.models import Case, CaseKeyWrap, Note
from caseapp.cases.tipkeys import case_tip_keys
from caseapp.crypto import DecryptionError, KeyUnavailable, decrypt_text, unseal, unwrap_key
from caseapp.extensions import db
from caseapp.retention.locks import subject_key

from .conftest import World, new_case, ring, user


def _case(case_id: int) -> Case:
    row = db.session.get(Case, case_id)
    assert row is not None
    return row


def test_outsider_cannot_decrypt_cryptographically(world: World, ctx: None) -> None:
    case_id, tip_id = new_case(world, joint=(world.police,))
    case = _case(case_id)
    outsider = ring(world.inv_d)
    with pytest.raises(KeyUnavailable):
        open_case_key(case, outsider)
    assert case_tip_keys(case, outsider) == {}
    # even skipping every check: no wrap exists for the drug administration, and its key
    # opens none of the wraps that do exist
    wraps = db.session.scalars(select(CaseKeyWrap).where(CaseKeyWrap.case_id == case_id)).all()
    assert str(world.drugs) not in {w.holder_id for w in wraps}
    dept_key = outsider.department_key(world.drugs)
    sym = outsider.department_symmetric(world.drugs)
    for w in wraps:
        with pytest.raises(DecryptionError):
            if w.holder_kind == "department_sym":
                unwrap_key(sym, w.wrapped, wrap_aad(case_id, w.key_version, int(w.holder_id)))
            else:
                aad = (wrap_aad(case_id, w.key_version, int(w.holder_id))
                       if w.holder_kind == "department" else "x")
                unseal(w.wrapped, dept_key, aad)
    # and the case header does not open under a random key either
    with pytest.raises(DecryptionError):
        decrypt_text(sym, case.header, header_aad(case_id))
    assert tip_id


def test_symmetric_wrap_added_on_first_open(world: World, ctx: None) -> None:
    case_id, _ = new_case(world, joint=(world.police,))
    sym_rows = select(CaseKeyWrap).where(CaseKeyWrap.case_id == case_id,
                                         CaseKeyWrap.holder_kind == "department_sym",
                                         CaseKeyWrap.holder_id == str(world.police))
    assert db.session.scalars(sym_rows).first() is None
    key = open_case_key(_case(case_id), ring(world.inv_p))
    db.session.commit()
    assert db.session.scalars(sym_rows).first() is not None
    assert open_case_key(_case(case_id), ring(world.lead_p)) == key


def test_add_then_remove_department_rotates_key(world: World, ctx: None) -> None:
    case_id, tip_id = new_case(world)
    case = _case(case_id)
    old_note = content.add_note(case, ring(world.inv_h), user(world.inv_h), "before police")
    with pytest.raises(NotAllowed):  # investigators cannot manage departments
        workflow.add_department(case, world.police, ring(world.inv_h), user(world.inv_h))
    workflow.add_department(case, world.police, ring(world.lead_h), user(world.lead_h))
    with pytest.raises(InvalidInput):
        workflow.add_department(case, world.police, ring(world.lead_h), user(world.lead_h))
    police = ring(world.inv_p)
    assert open_case_key(case, police) == open_case_key(case, ring(world.inv_h))
    assert tip_id in case_tip_keys(case, police)
    v1 = open_case_key(case, police)

    with pytest.raises(NotAllowed):
        workflow.remove_department(case, world.health, ring(world.lead_h), user(world.lead_h))
    version = workflow.remove_department(case, world.police, ring(world.lead_h),
                                         user(world.lead_h))
    assert version == 2 and _case(case_id).key_version == 2
    left = db.session.scalars(select(CaseKeyWrap).where(
        CaseKeyWrap.case_id == case_id, CaseKeyWrap.holder_id == str(world.police))).all()
    assert left == []
    with pytest.raises(NotOnCase):
        workflow.load_case(case_id, user(world.inv_p))
    with pytest.raises(KeyUnavailable):
        open_case_key(_case(case_id), ring(world.inv_p), 1)
    new_note = content.add_note(_case(case_id), ring(world.inv_h), user(world.inv_h),
                                "after police left")
    assert new_note.key_version == 2
    # the v1 key the police held cannot open content written after the rotation
    with pytest.raises(DecryptionError):
        decrypt_text(v1, new_note.body, row_aad(case_id, "note", new_note.id))
    # the remaining department reads old and new content
    health = ring(world.inv_h)
    old_row = db.session.get(Note, old_note.id)
    assert old_row is not None and old_row.key_version == 1
    assert decrypt_text(open_case_key(_case(case_id), health, 1), old_row.body,
                        row_aad(case_id, "note", old_row.id)) == "before police"
    assert decrypt_text(open_case_key(_case(case_id), health, 2), new_note.body,
                        row_aad(case_id, "note", new_note.id)) == "after police left"
    # re-adding seals every version again
    workflow.add_department(_case(case_id), world.police, ring(world.lead_h), user(world.lead_h))
    assert open_case_key(_case(case_id), ring(world.inv_p), 2)
    assert open_case_key(_case(case_id), ring(world.inv_p), 1) == v1


def test_removal_drops_pending_link_seals(world: World, ctx: None) -> None:
    from caseapp.cases import decisions
    from caseapp.cases.models import CaseTipSeal
    from caseapp.tips.models import Tip

    from .conftest import tip

    case_id, _ = new_case(world, lead=world.police, joint=(world.drugs,))
    later, _ = tip("again")
    decisions.link(db.session.get(Tip, later), _case(case_id), ring(world.intake),
                   user(world.intake), "same")
    assert db.session.scalars(select(CaseTipSeal)).all()
    workflow.remove_department(_case(case_id), world.drugs, ring(world.lead_p),
                               user(world.lead_p))
    assert db.session.scalars(select(CaseTipSeal)).all() == []  # settled by the remover
    assert later in case_tip_keys(_case(case_id), ring(world.inv_p))


def test_escrow_opens_case_keys_and_rotation_reseals_them(world: World, ctx: None) -> None:
    from caseapp.accounts.keys import ESCROW_REWRAPPERS
    from caseapp.cases.keys import rewrap_cases_for_escrow
    from caseapp.crypto import escrow_aad
    from caseapp.keys import keystore
    from tests.factories import escrow_key

    case_id, _ = new_case(world)
    key = open_case_key(_case(case_id), ring(world.inv_h))
    kid, private = escrow_key()
    wrap = db.session.scalar(select(CaseKeyWrap).where(CaseKeyWrap.holder_kind == "escrow"))
    assert wrap is not None and wrap.holder_id == kid
    raw = unseal(wrap.wrapped, private, escrow_aad("case", f"{case_id}:v1", kid))
    assert subject_key("case", case_id, raw, 1) == key  # escrow holds K; content needs the pad
    assert rewrap_cases_for_escrow in ESCROW_REWRAPPERS
    store = keystore()
    new_private = store.rotate_escrow_key()
    assert rewrap_cases_for_escrow(kid, private, store) == 1
    wrap = db.session.scalar(select(CaseKeyWrap).where(CaseKeyWrap.holder_kind == "escrow"))
    assert wrap is not None and wrap.holder_id == store.escrow_current
    raw = unseal(wrap.wrapped, new_private,
                 escrow_aad("case", f"{case_id}:v1", store.escrow_current))
    assert subject_key("case", case_id, raw, 1) == key
