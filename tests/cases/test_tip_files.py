"""Staff download a tip's files and message attachments; pages show labelled tip fields."""

from __future__ import annotations

import io
import re
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from sqlalchemy import select

from caseapp.audit.models import AuditEntry
from caseapp.audit.service import detail_of
from caseapp.extensions import db
from caseapp.tips import access
from caseapp.tips.models import Tip, TipFile
from caseapp.tips.service import TipInput, submit_tip
from caseapp.tips.uploads import UploadedFile
from tests.security.payloads import gps_jpeg

from .conftest import DISTRICT, World, login, ring, user

TOWNSHIP = "411702007"
AUDIO = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"recording" * 100


def _pdf() -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(100, 100)
    writer.add_metadata({"/Author": "SecretAuthorName"})
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def _stored(tip_id: int, file_id: int, intake: int) -> bytes:
    """The plaintext the portal stored for a file (opened with the intake key)."""
    tip = db.session.get(Tip, tip_id)
    row = db.session.get(TipFile, file_id)
    assert tip is not None and row is not None
    return b"".join(access.file_chunks(row, access.open_tip_key(tip, ring(intake))))


@pytest.fixture
def files_case(app: Flask, world: World) -> dict[str, Any]:
    """A tip with a GPS photo and a recording, promoted to a health case; the tipster later
    replies with a PDF; another tip (not on the case) has a photo of its own."""
    from caseapp.cases.decisions import promote

    with app.app_context():
        data = TipInput(category="sex_identification", district=DISTRICT, township=TOWNSHIP,
                        narrative="B超 tells the sex for 500 yuan", place_name="仁爱诊所",
                        how_known="offered")
        done = submit_tip(data, [
            UploadedFile("C:\\Users\\王\\诊所 照片.jpg", io.BytesIO(gps_jpeg())),
            UploadedFile("voice.mp3", io.BytesIO(AUDIO))])
        tip = db.session.get(Tip, done.tip_id)
        case = promote(tip, ring(world.intake), user(world.intake),
                       lead_department_id=world.health, joint_department_ids=[],
                       title="Clinic", summary="s", reason="strong lead")
        login_ = access.check_receipt(done.receipt)
        tip_row, key = access.tipster_tip(login_.lookup, login_.private_key)
        msg = access.add_tipster_message(tip_row, key, "the bill",
                                         [UploadedFile("bill.pdf", io.BytesIO(_pdf()))])
        other = submit_tip(TipInput(category="other", district=DISTRICT, narrative="other"),
                           [UploadedFile("other.jpg", io.BytesIO(gps_jpeg()))])
        rows = db.session.scalars(select(TipFile).order_by(TipFile.id)).all()
        photo, audio, pdf, other_photo = (r.id for r in rows)
        assert [r.message_id for r in rows] == [None, None, msg.id, None]
        ids = {"tip": done.tip_id, "case": case.id, "photo": photo, "audio": audio,
               "pdf": pdf, "other_tip": other.tip_id, "other_photo": other_photo}
        ids["bytes"] = {name: _stored(tip_id, ids[name], world.intake) for name, tip_id in (
            ("photo", done.tip_id), ("pdf", done.tip_id), ("other_photo", other.tip_id))}
        db.session.remove()
    return ids


def _download(client: FlaskClient, url: str) -> Any:
    resp = client.get(url)
    resp.get_data()
    resp.close()  # a streamed download keeps its request context until closed
    return resp


def _opened(app: Flask, view: str) -> list[dict[str, Any]]:
    with app.app_context():
        rows = db.session.scalars(select(AuditEntry).where(
            AuditEntry.action == "content.opened").order_by(AuditEntry.seq)).all()
        return [{"object": (r.object_type, r.object_id), **detail_of(r)} for r in rows
                if detail_of(r).get("view") == view]


def _case_url(ids: dict[str, Any], tip: str = "tip", file: str = "photo") -> str:
    return f"/staff/cases/{ids['case']}/tips/{ids[tip]}/files/{ids[file]}"


def _intake_url(ids: dict[str, Any], tip: str = "tip", file: str = "photo") -> str:
    return f"/staff/intake/tips/{ids[tip]}/files/{ids[file]}"


def test_intake_downloads_the_scrubbed_photo_as_an_attachment(
        app: Flask, client: FlaskClient, world: World, files_case: dict[str, Any]) -> None:
    login(client, "intake")
    resp = _download(client, _intake_url(files_case))
    assert resp.status_code == 200
    body = resp.get_data()
    assert body == files_case["bytes"]["photo"]
    assert body != gps_jpeg() and b"SecretCamMaker" not in body
    with Image.open(io.BytesIO(body)) as im:
        assert not im.getexif().get_ifd(0x8825) and 0x010F not in im.getexif()
    assert resp.mimetype == "application/octet-stream"
    assert resp.headers["Content-Length"] == str(len(body))
    disposition = resp.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert f"filename*=UTF-8''{quote('诊所 照片.jpg', safe='')}" in disposition
    assert "Users" not in disposition  # no path of the tipster's computer
    [entry] = _opened(app, "intake_tip_file")
    assert entry["object"] == ("tip", str(files_case["tip"]))
    assert entry["file"] == files_case["photo"]


def test_case_member_downloads_the_tip_photo_and_the_message_pdf(
        app: Flask, client: FlaskClient, world: World, files_case: dict[str, Any]) -> None:
    login(client, "inv_h")
    resp = _download(client, _case_url(files_case))
    assert resp.status_code == 200 and resp.get_data() == files_case["bytes"]["photo"]
    resp = _download(client, _case_url(files_case, file="pdf"))
    assert resp.status_code == 200
    body = resp.get_data()
    assert body == files_case["bytes"]["pdf"]
    assert body.startswith(b"%PDF") and b"SecretAuthorName" not in body
    assert "filename*=UTF-8''bill.pdf" in resp.headers["Content-Disposition"]
    entries = _opened(app, "case_tip_file")
    assert [(e["object"], e["case"], e["file"]) for e in entries] == [
        (("tip", str(files_case["tip"])), files_case["case"], files_case["photo"]),
        (("tip", str(files_case["tip"])), files_case["case"], files_case["pdf"])]


def test_department_not_on_the_case_gets_404_and_no_bytes(
        app: Flask, client: FlaskClient, world: World, files_case: dict[str, Any]) -> None:
    login(client, "inv_p")
    for file in ("photo", "pdf"):
        resp = _download(client, _case_url(files_case, file=file))
        assert resp.status_code == 404, file
        assert files_case["bytes"][file] not in resp.get_data()
        assert "Content-Disposition" not in resp.headers
    assert _opened(app, "case_tip_file") == []


def test_a_file_of_another_tip_never_opens_through_this_tips_url(
        app: Flask, client: FlaskClient, world: World, files_case: dict[str, Any]) -> None:
    other = files_case["bytes"]["other_photo"]
    login(client, "intake")
    resp = _download(client, _intake_url(files_case, file="other_photo"))
    assert resp.status_code == 404 and other not in resp.get_data()
    assert _download(client, "/staff/intake/tips/999999/files/1").status_code == 404
    assert _download(client, _intake_url(files_case, tip="other_tip",
                                         file="other_photo")).status_code == 200
    client = app.test_client()
    login(client, "inv_h")
    for url in (_case_url(files_case, file="other_photo"),
                _case_url(files_case, tip="other_tip", file="other_photo"),
                f"/staff/cases/{files_case['case']}/tips/{files_case['tip']}/files/999999"):
        resp = _download(client, url)
        assert resp.status_code == 404, url
        assert other not in resp.get_data()
    assert _opened(app, "case_tip_file") == []


def test_the_service_refuses_a_file_row_of_another_tip_before_any_key_is_tried(
        app: Flask, world: World, files_case: dict[str, Any]) -> None:
    """Defence in depth: the per-tip encryption would refuse too, but the row never leaves."""
    from caseapp.cases.errors import NoSuchObject
    from caseapp.cases.models import Case
    from caseapp.cases.tipfiles import case_download, file_of_tip

    with app.app_context():
        assert file_of_tip(files_case["tip"], files_case["pdf"]).id == files_case["pdf"]
        with pytest.raises(NoSuchObject):
            file_of_tip(files_case["tip"], files_case["other_photo"])
        with pytest.raises(NoSuchObject):
            file_of_tip(files_case["other_tip"], files_case["photo"])
        case = db.session.get(Case, files_case["case"])
        with pytest.raises(NoSuchObject):  # a tip not linked to the case
            case_download(case, files_case["other_tip"], files_case["other_photo"],
                          ring(world.inv_h), user(world.inv_h))


def _fields_block(html: str) -> str:
    match = re.search(r'<dl class="tip-fields">(.*?)</dl>', html, re.S)
    assert match, "no labelled tip fields"
    return match.group(1)


def test_intake_page_labels_the_fields_and_links_every_file(
        client: FlaskClient, world: World, files_case: dict[str, Any]) -> None:
    login(client, "intake")
    html = client.get(f"/staff/intake/tips/{files_case['tip']}").get_data(as_text=True)
    fields = _fields_block(html)
    for text in ("Category", "Fetal sex identification", "District or county",
                 "Township or street", "Name of the clinic, pharmacy or person", "仁爱诊所",
                 "How the tipster knows", "Someone offered it to me", "What happened"):
        assert text in fields, text
    for raw in ("sex_identification", "<dt>category</dt>", "<dt>narrative</dt>", DISTRICT,
                TOWNSHIP, "offered</dd>"):
        assert raw not in fields, raw
    for file in ("photo", "audio", "pdf"):
        assert f'href="{_intake_url(files_case, file=file)}"' in html, file
    assert "hidden information removed" in html and "hidden information not removed" in html
    assert "诊所 照片.jpg" in html and "bill.pdf" in html


def test_case_page_labels_the_fields_and_links_files_and_attachments(
        client: FlaskClient, world: World, files_case: dict[str, Any]) -> None:
    login(client, "inv_h")
    html = client.get(f"/staff/cases/{files_case['case']}").get_data(as_text=True)
    fields = _fields_block(html)
    assert "Fetal sex identification" in fields and "Name of the clinic" in fields
    assert "sex_identification" not in fields and "<dt>place_name</dt>" not in fields
    tips = html.split('id="tips"', 1)[1].split("</section>", 1)[0]
    messages = html.split('id="messages"', 1)[1].split("</section>", 1)[0]
    assert f'href="{_case_url(files_case)}"' in tips
    assert f'href="{_case_url(files_case, file="audio")}"' in tips
    assert f'href="{_case_url(files_case, file="pdf")}"' in messages
    assert "the bill" in messages and "bill.pdf" in messages
    assert f'/files/{files_case["other_photo"]}"' not in html


def test_case_page_in_chinese_shows_chinese_labels(
        client: FlaskClient, world: World, files_case: dict[str, Any]) -> None:
    login(client, "inv_h")
    html = client.get(f"/staff/cases/{files_case['case']}?lang=zh_CN").get_data(as_text=True)
    fields = _fields_block(html)
    assert "诊所、药店或人员的名称" in fields and "乡镇或街道" in fields
    assert "sex_identification" not in fields and "Category" not in fields
