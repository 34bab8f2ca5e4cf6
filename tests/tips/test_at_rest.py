"""Nothing the tipster typed or sent is readable in the database, its file, or the upload store."""

from __future__ import annotations

from caseapp.tips.uploads import UploadStore

from .portal import all_stored_bytes, contains, fields, post_report, receipt_of, store_bytes

NARRATIVE = "NARRATIVE-MARKER-5c1e 后门B超两千元"
PLACE = "PLACE-MARKER-康乐诊所"
ADDRESS = "ADDRESS-MARKER-解放路88号"
PHONE = "13912345678"
MY_PHONE = "13687654321"
FILENAME = "FILENAME-MARKER-录音.mp3"
CONTENT = b"FILE-CONTENT-MARKER-" * 200


def test_nothing_typed_or_sent_is_stored_in_clear(app, client, intake):
    data = fields(narrative=NARRATIVE, place_name=PLACE, address=ADDRESS, subject_phone=PHONE,
                  contact="phone", contact_phone=MY_PHONE, when="WHEN-MARKER-三月")
    resp = post_report(client, data, files=[(b"ID3\x04\x00" + CONTENT, FILENAME)])
    assert resp.status_code == 200
    receipt = receipt_of(resp)
    # a reply with a file, too
    from .test_followup import reply

    reply(client, "REPLY-MARKER-补充", files=[(b"%PDF-1.4\n" + CONTENT, "REPLYFILE-MARKER.pdf")])
    blob = all_stored_bytes(app)
    assert len(blob) > 1000
    for needle in (NARRATIVE, PLACE, ADDRESS, PHONE, MY_PHONE, FILENAME, "WHEN-MARKER",
                   "FILE-CONTENT-MARKER", "REPLY-MARKER", "REPLYFILE-MARKER", receipt,
                   "后门B超", "康乐诊所", "解放路"):
        assert not contains(blob, needle), f"{needle!r} found in the database"
    with app.app_context():
        store = store_bytes(UploadStore.for_app().root)
    assert len(store) > len(CONTENT)
    for needle in ("FILE-CONTENT-MARKER", FILENAME, "REPLYFILE-MARKER"):
        assert not contains(store, needle), f"{needle!r} found in the upload store"
    # only category, district, channel and the date stay in clear
    assert contains(blob, "sex_identification") and contains(blob, "411702")
