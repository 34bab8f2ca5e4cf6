"""Submitting a report: stored encrypted, receipt after commit, one tip per form, clean errors."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from caseapp.crypto import normalise_receipt
from caseapp.extensions import db
from caseapp.tips import access
from caseapp.tips.models import Tip, TipBlindIndex, TipFile, TipKeyWrap
from caseapp.tips.uploads import UploadStore

from .conftest import keyring
from .portal import fields, form_token, post_report, receipt_of

CATEGORIES = ["sex_identification", "sex_selective_abortion", "abortion_drug_sale",
              "infant_abandonment", "other"]


def _tip_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Tip)) or 0


@pytest.mark.parametrize("category", CATEGORIES)
def test_happy_path_per_category(app, client, intake, category):
    narrative = f"Narrative for {category}: 他们在后门做B超。"
    resp = post_report(client, fields(category, narrative=narrative))
    assert resp.status_code == 200, resp.get_data(as_text=True)[:2000]
    receipt = receipt_of(resp)
    assert len(receipt) == 28 and normalise_receipt(receipt) == receipt
    with app.app_context():
        tip = db.session.scalar(select(Tip))
        assert tip.category == category and tip.district == "411702"
        assert tip.channel == "web" and tip.status == "received"
        assert tip.ref.startswith("T-") and tip.intake_department_id == intake["department_id"]
        kinds = {w.holder_kind for w in db.session.scalars(select(TipKeyWrap))}
        assert kinds == {"department", "tipster", "escrow"}
        assert {b.kind for b in db.session.scalars(select(TipBlindIndex))} == {
            "clinic", "phone", "address"}
        # the tipster opens it with the receipt alone
        mine = access.open_with_receipt(receipt)
        assert mine.fields["narrative"] == narrative
        assert mine.fields["township"] == "411702007"
        # the intake department opens it with its key; the opening is audited
        ring = keyring(intake["user_id"])
        staff = access.staff_open_tip(tip, ring, ring.user)
        assert staff.fields["place_name"] == "康乐诊所 Kangle Clinic"
        db.session.commit()
        # a second opening uses the symmetric wrap added by the first
        kinds = {w.holder_kind for w in db.session.scalars(select(TipKeyWrap))}
        assert "department_sym" in kinds
        assert access.open_tip_key(tip, keyring(intake["user_id"])) is not None


def test_department_without_key_cannot_open(app, client, intake):
    from caseapp.accounts.permissions import Role
    from caseapp.tips.errors import TipNotReadable
    from tests import factories

    post_report(client)
    with app.app_context():
        police = factories.make_user("police1", "public_security", [Role.INVESTIGATOR])
        tip = db.session.scalar(select(Tip))
        with pytest.raises(TipNotReadable):
            access.open_tip_key(tip, keyring(police.id))


def test_case_key_wrap_and_related_tips(app, client, intake):
    post_report(client, fields(place_name="康乐 诊所"))
    post_report(client, fields(place_name="康乐诊所", subject_phone="+86 138-0000-1111"))
    post_report(client, fields(place_name="Other place", address="x", subject_phone=""))
    with app.app_context():
        first, second, third = db.session.scalars(select(Tip).order_by(Tip.id)).all()
        assert access.related_tips(first.id) == {second.id: ["address", "clinic", "phone"]}
        assert access.related_tip_ids("clinic", "康乐诊所") == [first.id, second.id]
        assert access.related_tip_ids("phone", "13800001111", exclude=first.id) == [second.id]
        ring = keyring(intake["user_id"])
        key = access.open_tip_key(first, ring)
        assert key
        assert third.id not in access.related_tips(first.id)


def test_double_submit_makes_one_tip_and_shows_same_receipt(app, client, intake):
    token = form_token(client)
    first = post_report(client, token=token)
    second = post_report(client, token=token)
    assert first.status_code == second.status_code == 200
    assert receipt_of(first) == receipt_of(second)
    assert "sent twice" in second.get_data(as_text=True)
    assert _tip_count(app) == 1


def test_resubmit_much_later_does_not_show_receipt(app, client, intake):
    from datetime import timedelta

    from caseapp import clock

    token = form_token(client)
    post_report(client, token=token)
    clock.move(timedelta(hours=2))
    again = post_report(client, token=token)
    html = again.get_data(as_text=True)
    assert again.status_code == 200 and "already received" in html
    assert 'class="receipt"' not in html
    assert _tip_count(app) == 1


def test_validation_errors_keep_what_was_typed(app, client, intake):
    data = fields(narrative="", place_name="Keep-this-clinic-name", contact="phone")
    resp = post_report(client, data, files=[(b"%PDF-1.4 tiny", "a.pdf")])
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    assert "Keep-this-clinic-name" in html
    assert "Please describe what happened" in html
    assert "Please give the number we may call" in html
    assert "choose them again" in html and "a.pdf" in html
    assert _tip_count(app) == 0


def test_wrong_township_for_district_is_refused(app, client, intake):
    resp = post_report(client, fields(district="411721"))
    assert resp.status_code == 400
    assert "not in the district you chose" in resp.get_data(as_text=True)


def test_honeypot_and_too_fast_and_forged_token(app, client, intake):
    trap = post_report(client, fields(hp_note="http://spam.example"))
    assert trap.status_code == 400 and "Leave this field empty" in trap.get_data(as_text=True)
    fast = post_report(client, wait=False)
    assert fast.status_code == 400 and "very quick" in fast.get_data(as_text=True)
    forged = post_report(client, token="forged.token")
    assert forged.status_code == 400 and "damaged" in forged.get_data(as_text=True)
    assert "The doctor offered" in forged.get_data(as_text=True)  # text kept
    assert _tip_count(app) == 0


def test_foreign_origin_is_refused_but_null_origin_works(app, client, intake):
    bad = post_report(client, headers={"Origin": "https://evil.example"})
    assert bad.status_code == 400
    good = post_report(client, headers={"Origin": "null"})
    assert good.status_code == 200


def test_database_failure_shows_error_no_receipt_no_orphan_file(app, client, intake,
                                                                monkeypatch):
    def broken_commit(self):
        raise OperationalError("COMMIT", {}, Exception("disk I/O error"))

    monkeypatch.setattr(Session, "commit", broken_commit)
    jpeg = _tiny_jpeg()
    resp = post_report(client, files=[(jpeg, "photo.jpg"), (b"ID3\x03" + b"\0" * 500, "a.mp3")])
    monkeypatch.undo()
    html = resp.get_data(as_text=True)
    assert resp.status_code == 503
    assert "could not be stored" in html and 'class="receipt"' not in html
    assert "Set-Cookie" not in resp.headers
    assert _tip_count(app) == 0
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(TipFile)) == 0
        store = UploadStore.for_app()
        assert store.names() == []


def test_content_envelope_is_bound_to_its_row(app, client, intake):
    from caseapp.crypto import DecryptionError

    post_report(client)
    post_report(client)
    with app.app_context():
        a, b = db.session.scalars(select(Tip).order_by(Tip.id)).all()
        ring = keyring(intake["user_id"])
        key_a = access.open_tip_key(a, ring)
        a.content, b.content = b.content, a.content  # swap ciphertexts between rows
        with pytest.raises(DecryptionError):
            access.open_content(a, key_a)
        db.session.rollback()
        envelope = json.loads(json.dumps(access.open_content(a, key_a).fields))
        assert envelope["category"] == "sex_identification"


def _tiny_jpeg() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(buf, "JPEG")
    return buf.getvalue()


def test_district_must_be_chosen(app, client, intake):
    resp = post_report(client, fields(district="", township=""))
    assert resp.status_code == 400
    assert "Please choose the district." in resp.get_data(as_text=True)
    assert _tip_count(app) == 0
