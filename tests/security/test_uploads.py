"""Hostile uploads: oversize, too many parts, zip bombs, polyglots, disguised HTML/SVG,
path-traversal and right-to-left names, pixel floods and EXIF GPS — on the portal report,
the portal follow-up and staff case evidence. What the user sees and what is on disk."""

from __future__ import annotations

import hashlib
import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from caseapp import clock
from caseapp.cases.errors import EvidenceRefused
from caseapp.cases.evidence import add_evidence, describe, store
from caseapp.cases.models import Case, Evidence
from caseapp.config import Config
from caseapp.extensions import db
from caseapp.tips import access
from caseapp.tips.models import Tip, TipFile
from tests import factories
from tests.cases import conftest as cases_conftest
from tests.cases.conftest import World, login, new_case, ring, user
from tests.tips.portal import csrf_of, fields, form_token, post_report, receipt_of
from tests.tips.streams import ExplodingStream

from . import payloads as p

MB = 1024 * 1024
# The case tests' departments and users (requested as "case_world",
# in place of the attack suite's heavier case_world).
case_world = cases_conftest.world


@pytest.fixture
def config(config: Config, tmp_path: Path) -> Config:
    """Generous rate limits; small file limits so "just above the limit" stays cheap."""
    return config.with_(portal_submit_limit="500 per minute",
                        portal_followup_limit="500 per minute",
                        portal_global_limit="5000 per minute",
                        portal_max_file_bytes=2 * MB, case_max_evidence_bytes=2 * MB,
                        portal_spool_dir=tmp_path / "spool")


@pytest.fixture(autouse=True)
def _spool_dir(config: Config) -> None:
    assert config.portal_spool_dir is not None
    config.portal_spool_dir.mkdir(exist_ok=True)


# -- helpers ---------------------------------------------------------------------------
def _tip_store(app: Flask) -> Path:
    cfg: Config = app.config["CASEAPP"]
    return cfg.upload_dir or cfg.instance_path / "uploads" / "tips"


def _case_store(app: Flask) -> Path:
    with app.app_context():
        return store().root


def _files_in(root: Path) -> list[Path]:
    return sorted(q for q in root.rglob("*") if q.is_file()) if root.exists() else []


def _all_files(app: Flask) -> set[Path]:
    """Every file under the instance folder and the spool directory."""
    cfg: Config = app.config["CASEAPP"]
    roots = [cfg.instance_path, cfg.portal_spool_dir]
    return {q for r in roots if r and r.exists() for q in r.rglob("*") if q.is_file()}


def _bookkeeping(app: Flask, path: Path) -> bool:
    """The SQLite database and the key store's own files (not uploads)."""
    cfg: Config = app.config["CASEAPP"]
    return "sqlite" in path.name or path.is_relative_to(cfg.keys_dir)


def _count(app: Flask, model: Any) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count()).select_from(model)) or 0)


def _stored_tip_files(app: Flask, intake_id: int) -> list[tuple[Any, bytes]]:
    with app.app_context():
        out = []
        for row in db.session.scalars(select(TipFile).order_by(TipFile.id)):
            key = access.open_tip_key(row.tip, factories.keyring_for(intake_id))
            out.append((access.file_info(row, key), b"".join(access.file_chunks(row, key))))
        return out


def _report(client: FlaskClient, files: list[tuple[str, bytes, str]],
            narrative: str = "Typed-text-survives") -> Any:
    """Send the report form with raw file parts (name, data, declared type)."""
    token = form_token(client)
    clock.move(timedelta(seconds=30))
    data = dict(fields(narrative=narrative), form_token=token)
    body, ctype = p.multipart(list(data.items()),
                              [("files", name, blob, t) for name, blob, t in files])
    return p.post_raw(client, "/report", body, ctype)


def _refused_nothing_stored(app: Flask, resp: Any, message: str) -> None:
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400, resp.status_code
    assert message in html, html[:3000]
    assert "Typed-text-survives" in html  # the typed report is kept on the page
    assert _count(app, Tip) == 0 and _count(app, TipFile) == 0
    assert _files_in(_tip_store(app)) == []


# -- portal report ----------------------------------------------------------------------
def test_file_just_above_the_limit_is_refused_exactly_at_it_accepted(app, client, case_world):
    mp4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"
    over = mp4 + b"\0" * (2 * MB + 1 - len(mp4))
    resp = _report(client, [("big.mp4", over, "video/mp4")])
    _refused_nothing_stored(app, resp, "big.mp4 is larger than 2 MB")
    exact = mp4 + b"\0" * (2 * MB - len(mp4))
    resp = _report(client, [("ok.mp4", exact, "video/mp4")])
    assert resp.status_code == 200, resp.get_data(as_text=True)[:2000]
    [(info, data)] = _stored_tip_files(app, case_world.intake)
    assert info.size == 2 * MB and data == exact


def test_too_many_parts_is_a_clear_413(app, client, case_world):
    token = form_token(client)
    data = [*dict(fields(), form_token=token).items()] + [(f"x{i}", "1") for i in range(600)]
    body, ctype = p.multipart(data)
    resp = p.post_raw(client, "/report", body, ctype)
    assert resp.status_code == 413
    assert "Up to 5 files, each at most 2 MB" in resp.get_data(as_text=True)
    assert _count(app, Tip) == 0


def test_too_many_files_refused_without_storing_any(app, client, case_world):
    files = [(f"f{i}.jpg", p.jpeg(), "image/jpeg") for i in range(7)]
    resp = _report(client, files)
    _refused_nothing_stored(app, resp, "at most 5 files")


@pytest.mark.parametrize("name, blob, ctype, message", [
    ("holiday.zip", "bomb", "application/zip", "is not a photo"),
    ("holiday.jpg", "bomb", "image/jpeg", "is not a photo"),
    ("holiday.jpg", "jpeg-bomb", "image/jpeg", "cannot be opened"),
    ("page.jpg", "html", "image/jpeg", "is not a photo"),
    ("logo.png", "svg", "image/png", "is not a photo"),
    ("logo.svg", "svg", "image/svg+xml", "is not a photo"),
    ("flood.png", "png-flood", "image/png", "flood.png"),
    ("bomb.png", "png-bomb", "image/png", "is a very large picture"),
    ("flood.jpg", "jpeg-flood", "image/jpeg", "flood.jpg"),
])
def test_hostile_files_are_refused_and_nothing_is_stored(app, client, case_world, name, blob, ctype,
                                                         message):
    data = {"bomb": p.zip_bomb, "jpeg-bomb": lambda: p.jpeg()[:4] + p.zip_bomb(),
            "html": lambda: p.HTML_AS_IMAGE, "svg": lambda: p.SVG_AS_IMAGE,
            "png-flood": lambda: p.png_declaring(100_000, 100_000),
            "png-bomb": p.png_bomb,
            "jpeg-flood": lambda: p.jpeg_declaring(60_000, 60_000)}[blob]()
    resp = _report(client, [(name, data, ctype)])
    _refused_nothing_stored(app, resp, message)
    html = resp.get_data(as_text=True)
    assert ("very large picture" in html or "cannot be opened" in html
            or "is not a photo" in html)
    assert "<script>alert" not in html and "<svg" not in html


def test_polyglots_are_rewritten_without_their_payload(app, client, case_world):
    resp = _report(client, [("photo.jpg", p.jpeg_html_polyglot(), "image/jpeg"),
                            ("scan.pdf", p.pdf_zip_polyglot(), "application/pdf")])
    assert resp.status_code == 200, resp.get_data(as_text=True)[:2000]
    stored = _stored_tip_files(app, case_world.intake)
    assert [i.mime for i, _ in stored] == ["image/jpeg", "application/pdf"]
    for info, data in stored:
        assert info.scrubbed
        assert b"<script" not in data and b"polyglot-tail" not in data
        assert b"PK\x03\x04" not in data and b"index.html" not in data


def test_gps_is_gone_from_a_follow_up_attachment(app, client, case_world):
    receipt_of(post_report(client))
    page = client.get("/follow-up/tip").get_data(as_text=True)
    original = p.gps_jpeg()
    assert p.has_gps(original)
    resp = client.post("/follow-up/tip", data={
        "body": "another photo", "csrf_token": csrf_of(page),
        "files": [(io.BytesIO(original), "IMG_2041.jpg", "image/jpeg")]},
        content_type="multipart/form-data")
    assert resp.status_code == 303, resp.get_data(as_text=True)[:2000]
    [(info, data)] = _stored_tip_files(app, case_world.intake)
    assert info.name == "IMG_2041.jpg" and info.scrubbed
    assert not p.has_gps(data)


def test_follow_up_oversize_and_bomb_are_refused_and_the_reply_kept(app, client, case_world):
    receipt_of(post_report(client))
    for name, data in (("clip.mp4", b"\x00\x00\x00\x18ftypmp42" + b"\0" * (2 * MB)),
                       ("pic.png", p.png_bomb()), ("pic.jpg", p.zip_bomb())):
        page = client.get("/follow-up/tip").get_data(as_text=True)
        resp = client.post("/follow-up/tip", data={
            "body": "Reply-text-survives", "csrf_token": csrf_of(page),
            "files": [(io.BytesIO(data), name)]}, content_type="multipart/form-data")
        html = resp.get_data(as_text=True)
        assert resp.status_code == 400 and name in html and "Reply-text-survives" in html
    assert _count(app, TipFile) == 0 and _files_in(_tip_store(app)) == []


def test_traversal_and_rtl_names_are_neutralised_on_the_portal(app, client, case_world):
    before = _all_files(app)
    names = [*p.TRAVERSAL_NAMES, p.RTL_NAME]
    resp = _report(client, [(n, p.jpeg(), "image/jpeg") for n in names[:5]])
    assert resp.status_code == 200, resp.get_data(as_text=True)[:2000]
    receipt = receipt_of(resp)
    assert receipt
    page = client.get("/follow-up/tip").get_data(as_text=True)
    client.post("/follow-up/leave", data={"csrf_token": csrf_of(page)})
    resp = _report(client, [(n, p.jpeg(), "image/jpeg") for n in names[5:]])
    assert resp.status_code == 200, resp.get_data(as_text=True)[:2000]
    shown = [i.name for i, _ in _stored_tip_files(app, case_world.intake)]
    assert shown == [*p.TRAVERSAL_NAMES.values(), p.RTL_SHOWN]
    new = _all_files(app) - before
    store_root = _tip_store(app).resolve()
    for path in new:  # stored files: random hex names inside the store, nothing elsewhere
        if _bookkeeping(app, path):
            continue
        assert path.resolve().parent == store_root, path
        assert all(c in "0123456789abcdef" for c in path.name)
    # the intake officer sees the neutralised names (no direction override reaches the page)
    staff = app.test_client()
    login(staff, "intake")
    with app.app_context():
        tip_ids = list(db.session.scalars(select(Tip.id).order_by(Tip.id)))
    html = "".join(staff.get(f"/staff/intake/tips/{t}").get_data(as_text=True) for t in tip_ids)
    assert p.RTL_SHOWN in html and "\u202e" not in html and "\x00" not in html


# -- staff evidence ----------------------------------------------------------------------
@pytest.fixture
def case_page(app: Flask, case_world: World) -> str:
    """A case led by health; its page URL."""
    with app.app_context():
        case_id, _tip = new_case(case_world)
        db.session.remove()
    return f"/staff/cases/{case_id}"


def _evidence_post(client: FlaskClient, page: str,
                   files: list[tuple[str, bytes, str]], *, chunked: bool = False) -> Any:
    body, ctype = p.multipart([("csrf_token", factories.csrf_token(client, page))],
                              [("e-file", n, d, t) for n, d, t in files])
    return p.post_raw(client, f"{page}/evidence", body, ctype, chunked=chunked)


def _flash_after(client: FlaskClient, resp: Any) -> str:
    assert resp.status_code == 303, resp.status_code
    return client.get(resp.location).get_data(as_text=True)


@pytest.mark.parametrize("chunked", [False, True])
def test_evidence_over_the_limit_is_refused_while_streaming(app, client, case_world, case_page,
                                                            chunked):
    login(client, "inv_h")
    before = _all_files(app)
    over = b"A" * (2 * MB + 1)
    resp = _evidence_post(client, case_page, [("log.txt", over, "text/plain")],
                          chunked=chunked)
    html = _flash_after(client, resp)
    assert "The file is larger than 2 MB. Nothing was stored." in html
    assert _count(app, Evidence) == 0 and _files_in(_case_store(app)) == []
    assert {q for q in _all_files(app) - before if not _bookkeeping(app, q)} == set()
    exact = b"B" * (2 * MB)
    resp = _evidence_post(client, case_page, [("log.txt", exact, "text/plain")],
                          chunked=chunked)
    assert "Evidence stored." in _flash_after(client, resp)
    with app.app_context():
        [eid] = db.session.scalars(select(Evidence.id)).all()
    assert client.get(f"{case_page}/evidence/{eid}").data == exact


def test_evidence_request_over_the_size_limit_is_413_before_reading(app, client, case_world,
                                                                    case_page):
    login(client, "inv_h")
    factories.csrf_token(client, case_page)
    resp = client.post(f"{case_page}/evidence", environ_overrides={
        "wsgi.input": ExplodingStream(),
        "CONTENT_TYPE": f"multipart/form-data; boundary={p.BOUNDARY}",
        "CONTENT_LENGTH": str(500 * MB)})
    assert resp.status_code == 413
    html = resp.get_data(as_text=True)
    assert "Evidence files may be at most 2 MB each, 1 per upload. Nothing was stored." in html
    assert f'href="{case_page}#evidence"' in html
    assert "Content-Security-Policy" in resp.headers
    assert _count(app, Evidence) == 0


def test_default_limit_allows_a_100_mb_evidence_file():
    cfg = Config(instance_path=Path("/nonexistent"), database_url="sqlite://", secret_key="x")
    assert cfg.case_max_evidence_bytes >= 100 * MB
    from caseapp.tips.uploads import max_staff_request_bytes

    assert max_staff_request_bytes(cfg) > 100 * MB + 64 * 1024


def test_two_evidence_files_in_one_request_store_nothing(app, client, case_world, case_page):
    login(client, "inv_h")
    resp = _evidence_post(client, case_page, [("a.txt", b"first", "text/plain"),
                                              ("b.txt", b"second", "text/plain")])
    assert "Upload at most 1 file at a time. Nothing was stored." in _flash_after(client, resp)
    assert _count(app, Evidence) == 0 and _files_in(_case_store(app)) == []


def test_too_many_parts_on_a_staff_form_is_413(app, client, case_world, case_page):
    login(client, "inv_h")
    token = factories.csrf_token(client, case_page)
    body, ctype = p.multipart([("csrf_token", token)] + [(f"n-x{i}", "1") for i in range(600)])
    resp = p.post_raw(client, f"{case_page}/notes", body, ctype)
    assert resp.status_code == 413 and "too large" in resp.get_data(as_text=True)


def test_service_limit_applies_to_any_stream_and_leaves_nothing(app, case_world, case_page):
    case_id = int(case_page.rsplit("/", 1)[1])
    with app.app_context():
        case = db.session.get(Case, case_id)
        with pytest.raises(EvidenceRefused):
            add_evidence(case, ring(case_world.inv_h), user(case_world.inv_h), "big.bin",
                         "application/octet-stream", io.BytesIO(b"x" * (2 * MB + 1)))
        assert db.session.scalar(select(func.count()).select_from(Evidence)) == 0
        assert _files_in(store().root) == []


def test_evidence_names_are_neutralised_in_page_and_download(app, client, case_world, case_page):
    login(client, "inv_h")
    names = {**p.TRAVERSAL_NAMES, p.RTL_NAME: p.RTL_SHOWN}
    before = _all_files(app)
    for name in names:
        resp = _evidence_post(client, case_page, [(name, b"evidence " + name.encode(),
                                                   "text/plain")])
        assert "Evidence stored." in _flash_after(client, resp), name
    case_id = int(case_page.rsplit("/", 1)[1])
    with app.app_context():
        case = db.session.get(Case, case_id)
        rows = db.session.scalars(select(Evidence).order_by(Evidence.id)).all()
        shown = [describe(case, r, ring(case_world.inv_h)).name for r in rows]
        ids = [r.id for r in rows]
    assert shown == list(names.values())
    page = client.get(case_page).get_data(as_text=True)
    assert p.RTL_SHOWN in page and "\u202e" not in page
    for eid in ids:
        header = client.get(f"{case_page}/evidence/{eid}").headers["Content-Disposition"]
        assert header.startswith("attachment;")
        assert "%E2%80%AE" not in header and "/" not in header and "%2F" not in header
        assert "\r" not in header and "\n" not in header and '"' not in header
    root = _case_store(app).resolve()
    for path in _all_files(app) - before:
        if _bookkeeping(app, path):
            continue
        assert path.resolve().parent == root, path
    assert not any(q.name in ("passwd", "win.ini", "evil") for q in _all_files(app))


def test_control_characters_in_a_name_cannot_split_the_download_header(app, client, case_world,
                                                                       case_page):
    case_id = int(case_page.rsplit("/", 1)[1])
    with app.app_context():
        row = add_evidence(db.session.get(Case, case_id), ring(case_world.inv_h),
                           user(case_world.inv_h), "a\r\nSet-Cookie: x=1\r\n.txt",
                           "text/plain", io.BytesIO(b"data"))
        eid = row.id
    login(client, "inv_h")
    resp = client.get(f"{case_page}/evidence/{eid}")
    assert "Set-Cookie" not in resp.headers or "x=1" not in resp.headers.get("Set-Cookie", "")
    assert "%0D" not in resp.headers["Content-Disposition"]
    assert "a__Set-Cookie%3A%20x%3D1__.txt" in resp.headers["Content-Disposition"]


@pytest.mark.parametrize("name, data, ctype", [
    ("photo.jpg", p.HTML_AS_IMAGE, "image/jpeg"),
    ("logo.png", p.SVG_AS_IMAGE, "image/png"),
    ("page.html", p.HTML_AS_IMAGE, "text/html"),
    ("photo.jpg", p.jpeg_html_polyglot(), "image/jpeg"),
])
def test_evidence_is_never_served_as_something_a_browser_runs(app, client, case_world, case_page,
                                                              name, data, ctype):
    login(client, "inv_h")
    resp = _evidence_post(client, case_page, [(name, data, ctype)])
    assert "Evidence stored." in _flash_after(client, resp)
    with app.app_context():
        eid = db.session.scalar(select(Evidence.id))
    resp = client.get(f"{case_page}/evidence/{eid}")
    assert resp.data == data  # evidence is kept byte for byte (integrity)
    assert resp.mimetype == "application/octet-stream"
    assert resp.headers["Content-Disposition"].startswith("attachment;")
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'self'" in resp.headers["Content-Security-Policy"]
    stored = b"".join(q.read_bytes() for q in _files_in(_case_store(app)))
    assert data not in stored and b"<script" not in stored and b"<svg" not in stored


def test_evidence_photo_keeps_its_exif_byte_for_byte(app, client, case_world, case_page):
    """Staff evidence is not re-encoded: GPS where a photo was taken is evidence, and the
    SHA-256 taken at upload must match the file produced in court."""
    login(client, "inv_h")
    original = p.gps_jpeg()
    resp = _evidence_post(client, case_page, [("seized-device.jpg", original, "image/jpeg")])
    assert "Evidence stored." in _flash_after(client, resp)
    with app.app_context():
        eid = db.session.scalar(select(Evidence.id))
    data = client.get(f"{case_page}/evidence/{eid}").data
    assert data == original
    csv_text = client.get(f"{case_page}/evidence/integrity.csv").get_data(as_text=True)
    assert hashlib.sha256(original).hexdigest() in csv_text
