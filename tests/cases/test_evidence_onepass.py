"""Evidence uploads are written once, straight into the store, and only for those who may.

The file part of an evidence form is encrypted into the evidence store while the request is
parsed (`caseapp.cases.evidence.incoming`), before the view runs; these tests check what
that must never allow: a file from someone not on the case, a file left behind by a refused
or failed request, a second (spooled) copy, and content that no longer matches its row.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from caseapp.cases import evidence
from caseapp.cases.models import LAYOUT_ROW_ID, LAYOUT_STORED_NAME, Case, Evidence
from caseapp.crypto import SealingFile, spool
from caseapp.extensions import db
from tests import factories

from .conftest import World, login, new_case, post, ring, user

PAYLOAD = os.urandom(3 * 1024 * 1024 + 11)  # several sealed chunks and spool spills


def _store_names(app: Flask) -> list[str]:
    with app.app_context():
        return evidence.store().names()


def _nothing_kept(app: Flask) -> None:
    """No file in the evidence store and no evidence row."""
    assert _store_names(app) == []
    with app.app_context():
        assert db.session.scalar(select(Evidence)) is None


def _opened_then_deleted(app: Flask, sinks: list[Path]) -> None:
    """The upload path opened exactly one file, and nothing of it is left in the store."""
    assert len(sinks) == 1 and not sinks[0].exists() and _store_names(app) == []


def _upload(client: FlaskClient, case_id: int, data: bytes = PAYLOAD, **extra: Any) -> Any:
    c = f"/staff/cases/{case_id}"
    return post(client, f"{c}/evidence", {"e-file": (io.BytesIO(data), "scan.bin"), **extra},
                token_from=c, content_type="multipart/form-data")


@pytest.fixture
def sinks(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Paths of every SealingFile created (i.e. every file the upload path opened)."""
    made: list[Path] = []
    original = SealingFile.__init__

    def record(self: SealingFile, path: Path, *args: Any, **kwargs: Any) -> None:
        made.append(path)
        original(self, path, *args, **kwargs)

    monkeypatch.setattr(SealingFile, "__init__", record)
    return made


def test_upload_is_written_once_into_the_store(app: Flask, client: FlaskClient, world: World,
                                               sinks: list[Path],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """No spooled copy; one ciphertext file; the row binds it by name; content and hash kept."""
    spills: list[int] = []
    original = spool.EncryptedSpool._spill

    def spill(self: spool.EncryptedSpool) -> None:
        spills.append(1)
        original(self)

    monkeypatch.setattr(spool.EncryptedSpool, "_spill", spill)
    with app.app_context():
        case_id, _ = new_case(world)
    login(client, "inv_h")
    assert _upload(client, case_id).status_code == 303
    assert spills == [] and len(sinks) == 1
    with app.app_context():
        row = db.session.scalar(select(Evidence))
        assert row is not None and row.layout == LAYOUT_STORED_NAME
        assert evidence.store().names() == [row.stored_name] == [sinks[0].name]
        raw = evidence.store().path(row.stored_name).read_bytes()
        assert PAYLOAD[:4096] not in raw and len(raw) > len(PAYLOAD)
        eid = row.id
    c = f"/staff/cases/{case_id}"
    assert client.get(f"{c}/evidence/{eid}").data == PAYLOAD
    report = client.get(f"{c}/evidence/integrity.csv").get_data(as_text=True)
    assert hashlib.sha256(PAYLOAD).hexdigest() in report and ",yes," in report
    assert not [t for t in threading.enumerate() if t.name.startswith("sealing-")]


@pytest.mark.parametrize("who", ["inv_d", "supervisor", None])
def test_no_file_is_opened_for_someone_not_on_the_case(app: Flask, client: FlaskClient,
                                                      world: World, sinks: list[Path],
                                                      who: str | None) -> None:
    """Another department, a role without case writing, or no login: nothing reaches the disk."""
    with app.app_context():
        case_id, _ = new_case(world)
    if who:
        login(client, who)
        resp = _upload(client, case_id)
        assert resp.status_code in (403, 404)
    else:
        resp = client.post(f"/staff/cases/{case_id}/evidence",
                           data={"e-file": (io.BytesIO(PAYLOAD), "scan.bin")},
                           content_type="multipart/form-data")
        assert resp.status_code in (302, 303, 400)
    assert sinks == [] and _store_names(app) == []


def test_closed_case_opens_no_file(app: Flask, client: FlaskClient, world: World,
                                   sinks: list[Path]) -> None:
    """A closed case is read-only: the upload is dropped unread."""
    from caseapp.cases.models import CaseStatus

    with app.app_context():
        case_id, _ = new_case(world)
        db.session.get(Case, case_id).status = CaseStatus.CLOSED  # type: ignore[union-attr]
        db.session.commit()
    login(client, "inv_h")
    assert _upload(client, case_id).status_code in (303, 400, 409)
    assert sinks == []
    _nothing_kept(app)


def test_bad_csrf_token_leaves_no_file(app: Flask, client: FlaskClient, world: World,
                                       sinks: list[Path]) -> None:
    """The file is written while parsing, before CSRF is checked: the refusal deletes it."""
    with app.app_context():
        case_id, _ = new_case(world)
    login(client, "inv_h")
    resp = client.post(f"/staff/cases/{case_id}/evidence",
                       data={"csrf_token": "forged", "e-file": (io.BytesIO(PAYLOAD), "x.bin")},
                       content_type="multipart/form-data")
    assert resp.status_code == 400
    _opened_then_deleted(app, sinks)


def test_upload_cut_off_mid_body_leaves_nothing(app: Flask, client: FlaskClient, world: World,
                                                sinks: list[Path]) -> None:
    """The connection drops half-way through the file: 400, the partial file is deleted."""
    from caseapp.tips.uploads import READ_BUFFER

    with app.app_context():
        case_id, _ = new_case(world)
    login(client, "inv_h")
    c = f"/staff/cases/{case_id}"
    token = factories.csrf_token(client, c)
    boundary = "cutOffBoundary"
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n'
            f'{token}\r\n--{boundary}\r\nContent-Disposition: form-data; name="e-file"; '
            f'filename="scan.bin"\r\n\r\n').encode() + PAYLOAD
    resp = client.post(f"{c}/evidence", input_stream=io.BytesIO(body[: 2 * READ_BUFFER]),
                       content_length=len(body) + 40,
                       content_type=f"multipart/form-data; boundary={boundary}")
    assert resp.status_code == 400
    _opened_then_deleted(app, sinks)


def test_failure_after_the_file_is_written_leaves_nothing(app: Flask, client: FlaskClient,
                                                          world: World, sinks: list[Path],
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    """An error while recording the row (here: the audit entry) rolls back and deletes."""
    def broken(*_a: Any, **_k: Any) -> None:
        raise RuntimeError("audit log unavailable")

    with app.app_context():
        case_id, _ = new_case(world)
    login(client, "inv_h")
    monkeypatch.setattr(evidence, "audit", broken)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    assert _upload(client, case_id).status_code == 500
    _opened_then_deleted(app, sinks)
    _nothing_kept(app)


def test_empty_file_is_refused_and_removed(app: Flask, client: FlaskClient, world: World,
                                           sinks: list[Path]) -> None:
    """A zero-byte file is no evidence: no row, no file."""
    with app.app_context():
        case_id, _ = new_case(world)
    login(client, "inv_h")
    _upload(client, case_id, b"")
    assert all(not p.exists() for p in sinks)
    _nothing_kept(app)


def test_swapped_stored_names_are_detected(app: Flask, world: World) -> None:
    """Someone with database access swaps two files between rows: both fail the check."""
    with app.app_context():
        case_id, _ = new_case(world)
        r, u = ring(world.inv_h), user(world.inv_h)
        case = db.session.get(Case, case_id)
        assert case is not None
        a = evidence.add_evidence(case, r, u, "a.txt", "text/plain", io.BytesIO(b"first"))
        b = evidence.add_evidence(case, r, u, "b.txt", "text/plain", io.BytesIO(b"second"))
        assert evidence.verify(case, a, r)[1] and evidence.verify(case, b, r)[1]
        first, second = a.stored_name, b.stored_name
        a.stored_name = "f" * 32  # through a spare name: stored names are unique
        db.session.flush()
        b.stored_name = first
        db.session.flush()
        a.stored_name = second
        db.session.commit()
        rows = [a, b]
        assert [evidence.verify(case, row, r)[1] for row in rows] == [False, False]


def test_files_stored_before_one_pass_uploads_still_open(app: Flask, world: World) -> None:
    """Layout 1 (content bound to the row id) is read as before."""
    from caseapp.cases.keys import open_case_key
    from caseapp.crypto import unwrap_key

    with app.app_context():
        case_id, _ = new_case(world)
        r, u = ring(world.inv_h), user(world.inv_h)
        case = db.session.get(Case, case_id)
        assert case is not None
        row = evidence.add_evidence(case, r, u, "old.txt", "text/plain", io.BytesIO(b"x"))
        key = unwrap_key(open_case_key(case, r, row.key_version), row.wrapped_key,
                         evidence._aad(case.id, row.id, "key"))
        path = evidence.store().path(row.stored_name)
        path.unlink()
        evidence.store().write(row.stored_name, key, evidence._aad(case.id, row.id, "data"),
                               io.BytesIO(b"an old file"))
        row.layout = LAYOUT_ROW_ID
        db.session.commit()
        assert b"".join(evidence.chunks(case, row, r)) == b"an old file"
        row.layout = LAYOUT_STORED_NAME  # the other binding does not open it
        assert evidence.verify(case, row, r)[1] is False


def test_purge_removes_orphaned_evidence_files_only(app: Flask, world: World) -> None:
    """A worker killed mid-upload leaves a file no row names; the purge removes it when old."""
    with app.app_context():
        case_id, _ = new_case(world)
        case = db.session.get(Case, case_id)
        assert case is not None
        row = evidence.add_evidence(case, ring(world.inv_h), user(world.inv_h), "k.txt",
                                    "text/plain", io.BytesIO(b"kept"))
        files = evidence.store()
        old, young = files.path(files.new_name()), files.path(files.new_name())
        old.write_bytes(b"partial ciphertext")
        young.write_bytes(b"upload still arriving")
        hour_ago = time.time() - 7200
        os.utime(old, (hour_ago, hour_ago))
        os.utime(files.path(row.stored_name), (hour_ago, hour_ago))
        kept = row.stored_name
    out = app.test_cli_runner().invoke(args=["tips", "purge"])
    assert out.exit_code == 0, out.output
    assert "orphaned files removed: 1" in out.output
    assert sorted(_store_names(app)) == sorted([kept, young.name])


def test_downgrade_is_refused_while_name_bound_evidence_exists(app: Flask, world: World,
                                                               backend: str) -> None:
    """Going below the layout migration would strand new evidence: refused, nothing dropped."""
    from flask_migrate import downgrade, stamp
    from sqlalchemy import inspect

    if backend != "sqlite":
        pytest.skip("stamps the test schema with Alembic; one backend shows the guard")
    with app.app_context():
        case_id, _ = new_case(world)
        case = db.session.get(Case, case_id)
        assert case is not None
        evidence.add_evidence(case, ring(world.inv_h), user(world.inv_h), "n.txt", "text/plain",
                              io.BytesIO(b"new layout"))
        db.session.remove()
        stamp()
        with pytest.raises(SystemExit):
            downgrade(revision="7b1c2d3e4f50")
        db.session.remove()
        columns = {c["name"] for c in inspect(db.engine).get_columns("case_evidence")}
        assert "layout" in columns
        assert db.session.scalar(select(Evidence.layout)) == LAYOUT_STORED_NAME
