"""Helpers for the portal tests: fill and send the report form like a browser would."""

from __future__ import annotations

import io
import re
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from caseapp import clock
from caseapp.extensions import db

TOKEN = re.compile(r'name="form_token" type="hidden" value="([^"]+)"')
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
RECEIPT = re.compile(r'class="receipt"[^>]*>\s*([\d ]{34})\s*<')
DISTRICT = "411702"
TOWNSHIP = "411702007"


def fields(category: str = "sex_identification", **extra: str) -> dict[str, str]:
    """A complete, valid report."""
    data = {
        "category": category,
        "place_name": "康乐诊所 Kangle Clinic",
        "address": "驿城区 解放路 88 号",
        "district": DISTRICT,
        "township": TOWNSHIP,
        "subject_phone": "138 0000 1111",
        "when": "2026年3月",
        "how_known": "offered",
        "narrative": "The doctor offered a B-ultrasound to tell the sex for 2000 yuan.",
        "contact": "portal",
        "contact_phone": "",
        "hp_note": "",
    }
    data.update(extra)
    return data


def form_token(client: FlaskClient, path: str = "/report") -> str:
    """The one-time token of a freshly served form."""
    resp = client.get(path)
    assert resp.status_code == 200, resp.status_code
    match = TOKEN.search(resp.get_data(as_text=True))
    assert match, "no form token"
    return match.group(1)


def csrf_of(html: str) -> str:
    """The CSRF token in a page."""
    match = CSRF.search(html)
    assert match, "no csrf token"
    return match.group(1)


def post_report(client: FlaskClient, data: dict[str, str] | None = None,
                files: Iterable[tuple[bytes, str]] = (), token: str | None = None,
                wait: bool = True, **kwargs: Any) -> TestResponse:
    """GET the form, let some seconds pass on the caseapp clock, POST it with files."""
    token = token or form_token(client)
    if wait:
        clock.move(timedelta(seconds=30))
    payload: dict[str, Any] = dict(data or fields())
    payload["form_token"] = token
    payload["files"] = [(io.BytesIO(content), name) for content, name in files]
    return client.post("/report", data=payload, content_type="multipart/form-data", **kwargs)


def receipt_of(resp: TestResponse) -> str:
    """The receipt digits shown on a success page."""
    match = RECEIPT.search(resp.get_data(as_text=True))
    assert match, "no receipt on the page"
    return match.group(1).replace(" ", "")


def all_stored_bytes(app: Flask) -> bytes:
    """Every value of every column of every table, plus the SQLite file, as one blob."""
    chunks: list[bytes] = []
    with app.app_context():
        for table in db.metadata.sorted_tables:
            for row in db.session.execute(select(table)):
                for value in row:
                    if isinstance(value, bytes | bytearray | memoryview):
                        chunks.append(bytes(value))
                    elif value is not None:
                        chunks.append(str(value).encode())
        if db.engine.dialect.name == "sqlite":
            path = Path(str(db.engine.url.database))
            for candidate in (path, Path(f"{path}-wal"), Path(f"{path}-journal")):
                if candidate.exists():
                    chunks.append(candidate.read_bytes())
    return b"\n".join(chunks)


def store_bytes(root: Path) -> bytes:
    """Everything in a directory tree (the upload store)."""
    if not root.exists():
        return b""
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


def contains(blob: bytes, needle: str) -> bool:
    """True when `needle` appears in UTF-8 or UTF-16 (SQLite/PG store text in either)."""
    return any(enc in blob for enc in (needle.encode("utf-8"), needle.encode("utf-16-le")))
