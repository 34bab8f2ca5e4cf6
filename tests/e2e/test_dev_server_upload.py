"""A multi-MiB evidence upload over a real socket to the development server (`make run`).

The production server (gunicorn) is covered by the production check and the benchmark;
this one reads the body through Werkzeug's own server, where `BodyPieces` reads the socket
file directly in 1 MiB pieces.
"""

from __future__ import annotations

import hashlib
import http.cookiejar
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from html import unescape

from flask import Flask
from sqlalchemy import select

from caseapp.accounts.demo import demo_password
from caseapp.cases.evidence import store
from caseapp.cases.models import Evidence
from caseapp.extensions import db

PAYLOAD = os.urandom(5 * 1024 * 1024 + 3)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Keep 303 answers as they are (the test checks where they point)."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        """Do not follow."""
        return None


def _token(html: str, name: str = "csrf_token") -> str:
    match = re.search(rf'name="{re.escape(name)}"[^>]*value="([^"]*)"', html) or re.search(
        rf'value="([^"]*)"[^>]*name="{re.escape(name)}"', html)
    assert match, f"no {name} on the page"
    return unescape(match.group(1))


def _open_case(app: Flask) -> int:
    """A case led by health: a portal tip promoted by the demo intake officer."""
    from caseapp.accounts.keys import Keyring
    from caseapp.accounts.service import authenticate
    from caseapp.cases.decisions import promote
    from caseapp.tips.models import Tip
    from caseapp.tips.service import TipInput, submit_tip

    with app.app_context():
        done = submit_tip(TipInput(category="sex_identification", district="411702",
                                   narrative="B超鉴定胎儿性别"), [])
        user, key = authenticate("intake", demo_password("intake"))
        case = promote(db.session.get(Tip, done.tip_id), Keyring(user, key), user,
                       lead_department_id=user.department_id, title="Upload over a socket")
        case_id = int(case.id)
        db.session.remove()
    return case_id


def test_large_evidence_upload_through_the_development_server(demo_app: Flask,
                                                              live_server: str) -> None:
    """5 MiB through the socket: stored once, encrypted, and downloaded byte for byte."""
    case_id = _open_case(demo_app)
    jar = http.cookiejar.CookieJar()
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), _NoRedirect)

    def fetch(path: str, body: bytes | None = None, ctype: str = "") -> tuple[int, bytes, str]:
        request = urllib.request.Request(live_server + path, data=body,
                                         headers={"Content-Type": ctype} if ctype else {})
        try:
            with browser.open(request) as resp:
                return resp.status, resp.read(), resp.headers.get("Location", "")
        except urllib.error.HTTPError as err:
            return err.code, err.read(), err.headers.get("Location", "")

    _s, page, _l = fetch("/staff/login")
    form = urllib.parse.urlencode({"csrf_token": _token(page.decode()), "username": "lead",
                                   "password": demo_password("lead"), "next": ""}).encode()
    assert fetch("/staff/login", form, "application/x-www-form-urlencoded")[0] in (302, 303)
    case_url = f"/staff/cases/{case_id}"
    _s, page, _l = fetch(case_url)
    boundary = "devServerBoundary42"
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="e-csrf_token"\r\n\r\n'
            f'{_token(page.decode(), "e-csrf_token")}\r\n--{boundary}\r\n'
            'Content-Disposition: form-data; name="e-file"; filename="scan.bin"\r\n'
            'Content-Type: application/octet-stream\r\n\r\n').encode() + PAYLOAD + \
        f"\r\n--{boundary}--\r\n".encode()
    status, _b, location = fetch(f"{case_url}/evidence", body,
                                 f"multipart/form-data; boundary={boundary}")
    assert status == 303 and case_url in location
    with demo_app.app_context():
        row = db.session.scalar(select(Evidence).where(Evidence.case_id == case_id))
        assert row is not None and store().names() == [row.stored_name]
        assert PAYLOAD[:4096] not in store().path(row.stored_name).read_bytes()
        evidence_id = row.id
        db.session.remove()
    status, data, _l = fetch(f"{case_url}/evidence/{evidence_id}")
    assert status == 200 and hashlib.sha256(data).digest() == hashlib.sha256(PAYLOAD).digest()
