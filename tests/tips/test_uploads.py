"""Uploads: type from content, metadata scrubbed, limits enforced while streaming."""

from __future__ import annotations

import hashlib
import io
import tracemalloc
from datetime import timedelta

import pytest
from PIL import Image
from sqlalchemy import func, select

from caseapp import clock
from caseapp.extensions import db
from caseapp.tips import access
from caseapp.tips.models import Tip, TipFile
from tests.security.payloads import gps_jpeg

from .conftest import keyring
from .portal import fields, form_token, post_report, receipt_of
from .streams import ExplodingStream, MultipartStream, open_files_under

MP4_HEAD = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"


def _files(app, intake):
    with app.app_context():
        tip = db.session.scalar(select(Tip))
        key = access.open_tip_key(tip, keyring(intake["user_id"]))
        out = []
        for row in db.session.scalars(select(TipFile).order_by(TipFile.id)):
            out.append((access.file_info(row, key), b"".join(access.file_chunks(row, key))))
        return out


def test_gps_exif_is_removed(app, client, intake):
    original = gps_jpeg()
    with Image.open(io.BytesIO(original)) as im:
        assert im.getexif().get_ifd(0x8825)  # the test image really has GPS
    resp = post_report(client, files=[(original, "IMG_0001.jpg")])
    assert resp.status_code == 200
    assert "hidden information removed" in resp.get_data(as_text=True)
    [(info, data)] = _files(app, intake)
    assert info.name == "IMG_0001.jpg" and info.mime == "image/jpeg" and info.scrubbed
    assert info.sha256 == hashlib.sha256(data).hexdigest() and info.size == len(data)
    assert b"SecretCamMaker" not in data and b"SecretPhoneModel" not in data
    with Image.open(io.BytesIO(data)) as im:
        assert im.size == (120, 80)
        exif = im.getexif()
        assert not exif.get_ifd(0x8825) and 0x8825 not in exif and 0x010F not in exif
        assert "exif" not in im.info and "icc_profile" not in im.info


def test_png_webp_heic_and_pdf_metadata_removed(app, client, intake):
    img = Image.new("RGB", (30, 20), (200, 1, 1))
    exif = Image.Exif()
    exif[0x010F] = "SecretCamMaker"
    files = []
    for fmt, name in (("PNG", "a.png"), ("WEBP", "b.webp"), ("HEIF", "c.heic")):
        buf = io.BytesIO()
        img.save(buf, fmt, exif=exif.tobytes())
        assert b"SecretCamMaker" in buf.getvalue()
        files.append((buf.getvalue(), name))
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(100, 100)
    writer.add_metadata({"/Author": "SecretAuthorName", "/Creator": "SecretCreatorApp"})
    buf = io.BytesIO()
    writer.write(buf)
    files.append((buf.getvalue(), "d.pdf"))
    resp = post_report(client, files=files)
    assert resp.status_code == 200, resp.get_data(as_text=True)[:3000]
    stored = _files(app, intake)
    assert [i.mime for i, _ in stored] == ["image/png", "image/webp", "image/jpeg",
                                           "application/pdf"]
    for info, data in stored:
        assert info.scrubbed
        assert b"SecretCamMaker" not in data and b"SecretAuthorName" not in data
        assert b"SecretCreatorApp" not in data


def test_audio_is_kept_with_a_plain_warning(app, client, intake):
    audio = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"recording" * 100
    resp = post_report(client, files=[(audio, "voice.mp3")])
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "could not be removed" in html
    [(info, data)] = _files(app, intake)
    assert data == audio and not info.scrubbed and info.mime == "audio/mpeg"


def test_exe_renamed_jpg_is_refused_and_text_kept(app, client, intake):
    exe = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 500
    data = fields(narrative="Keep-this-narrative-please")
    resp = post_report(client, data, files=[(exe, "holiday.jpg")])
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    assert "holiday.jpg is not a photo, recording, video or PDF" in html
    assert "Keep-this-narrative-please" in html and "choose them again" in html
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Tip)) == 0


def test_damaged_image_and_too_many_files(app, client, intake):
    broken = b"\xff\xd8\xff\xe0" + b"garbage" * 50
    resp = post_report(client, files=[(broken, "x.jpg")])
    assert resp.status_code == 400 and "cannot be opened" in resp.get_data(as_text=True)
    many = [(b"%PDF-1.4\n%%EOF", f"f{i}.pdf") for i in range(6)]
    resp = post_report(client, files=many)
    assert resp.status_code == 400 and "at most 5 files" in resp.get_data(as_text=True)


@pytest.fixture
def small_limits(config):
    return config.with_(portal_max_file_bytes=1024 * 1024)


def test_oversize_file_refused_with_message(app, client, intake, config):
    big = MP4_HEAD + b"\0" * (config.portal_max_file_bytes + 10)
    resp = post_report(client, fields(narrative="Typed text survives"), files=[(big, "v.mp4")])
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    assert "v.mp4 is larger than 20 MB" in html and "Typed text survives" in html


def test_content_length_over_limit_is_413_before_reading(app, client):
    resp = client.post("/report", environ_overrides={
        "wsgi.input": ExplodingStream(), "CONTENT_TYPE": MultipartStream.content_type(),
        "CONTENT_LENGTH": str(500 * 1024 * 1024)})
    assert resp.status_code == 413
    html = resp.get_data(as_text=True)
    assert "Up to 5 files, each at most 20 MB" in html
    assert resp.headers["Cache-Control"] == "no-store"
    assert "Content-Security-Policy" in resp.headers


def _stream_post(client, stream, length=True):
    environ = {"wsgi.input": stream, "CONTENT_TYPE": stream.content_type()}
    if length:
        environ["CONTENT_LENGTH"] = str(stream.length)
    else:  # chunked: no length known in advance
        environ.update({"HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input_terminated": True})
    return client.post("/report", environ_overrides=environ)


def _measured(client, stream, length=True):
    client.get("/report")  # warm up templates and imports
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        resp = _stream_post(client, stream, length)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    return resp, peak


@pytest.mark.parametrize("with_length", [True, False])
def test_100_mb_upload_over_limit_is_refused_within_a_few_mb(app, client, intake, with_length):
    token = form_token(client)
    clock.move(timedelta(seconds=30))
    stream = MultipartStream(dict(fields(), form_token=token), "film.mp4", MP4_HEAD,
                             100 * 1024 * 1024)
    resp, peak = _measured(client, stream, with_length)
    assert resp.status_code == 400, resp.status_code
    assert "film.mp4 is larger than 20 MB" in resp.get_data(as_text=True)
    assert stream.sent == stream.length  # streamed through to the end, not refused up front
    assert peak < 8 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"


@pytest.fixture
def big_limit_config(config):
    return config.with_(portal_max_file_bytes=128 * 1024 * 1024)


def test_100_mb_upload_is_stored_encrypted_within_a_few_mb(tmp_path, config, backend, intake,
                                                            app, client):
    app.config["CASEAPP"] = config.with_(portal_max_file_bytes=128 * 1024 * 1024,
                                         portal_spool_dir=tmp_path)
    seen: list[int] = []
    leaked: list[bool] = []

    def look() -> None:  # called while the body streams in
        for size, hit in open_files_under(tmp_path):
            seen.append(size)
            leaked.append(hit)

    token = form_token(client)
    clock.move(timedelta(seconds=30))
    size = 100 * 1024 * 1024
    stream = MultipartStream(dict(fields(), form_token=token), "film.mp4", MP4_HEAD, size,
                             on_read=look)
    resp, peak = _measured(client, stream)
    assert resp.status_code == 200, resp.get_data(as_text=True)[:2000]
    assert peak < 8 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"
    assert seen and max(seen) > 1024 * 1024, "the spool never reached the disk"
    assert not any(leaked)
    with app.app_context():
        row = db.session.scalar(select(TipFile))
        key = access.open_tip_key(row.tip, keyring(intake["user_id"]))
        info = access.file_info(row, key)
        digest = hashlib.sha256()
        total = 0
        for chunk in access.file_chunks(row, key):
            digest.update(chunk)
            total += len(chunk)
        assert info.size == total == size and info.sha256 == digest.hexdigest()
        assert info.mime == "video/mp4"
    receipt_of(resp)
