"""No cookie before it is needed, headers everywhere, no client address kept anywhere."""

from __future__ import annotations

import logging
import re

import pytest

from .portal import all_stored_bytes, contains, fields, post_report, receipt_of

MARK_IP = "203.0.113.77"
MARK_XFF = "198.51.100.23"
MARK_UA = "MarkerAgent/9.9"
MARK_REF = "https://referer.example/marker"
ENV = {"REMOTE_ADDR": MARK_IP}
HDRS = {"X-Forwarded-For": MARK_XFF, "User-Agent": MARK_UA, "Referer": MARK_REF}
PORTAL_HEADERS = {
    "Content-Security-Policy": "default-src 'self'",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}


@pytest.mark.parametrize("path", ["/", "/report", "/follow-up", "/?lang=en", "/report?lang=en"])
def test_no_cookie_before_submission(client, path):
    resp = client.get(path)
    assert resp.status_code == 200
    assert "Set-Cookie" not in resp.headers


def _check_headers(resp):
    for name, value in PORTAL_HEADERS.items():
        assert value in resp.headers.get(name, ""), (resp.status_code, name)


def test_headers_on_every_portal_response(app, client, intake, config):
    responses = [client.get(p) for p in ("/", "/report", "/follow-up", "/follow-up/tip",
                                         "/follow-up/proof", "/nope")]
    responses.append(client.post("/follow-up", data={"receipt": "1234"}))
    responses.append(client.post("/report", environ_overrides={
        "CONTENT_LENGTH": str(10**10), "CONTENT_TYPE": "multipart/form-data; boundary=x"}))
    responses.append(post_report(client))
    codes = {r.status_code for r in responses}
    assert {200, 400, 401, 404, 413} <= codes
    for resp in responses:
        _check_headers(resp)


def test_headers_on_429(app, config):
    app.config["CASEAPP"] = config.with_(portal_followup_limit="2 per minute")
    client = app.test_client()
    codes = [client.post("/follow-up", data={"receipt": "1" * 28}).status_code
             for _ in range(4)]
    assert codes[-1] == 429
    resp = client.post("/follow-up", data={"receipt": "1" * 28})
    assert resp.status_code == 429
    _check_headers(resp)


def test_no_client_address_stored_or_logged(app, client, intake, caplog, config):
    app.config["CASEAPP"] = config.with_(portal_client_hops=1)
    caplog.set_level(logging.DEBUG)
    resp = post_report(client, fields(), files=[(b"ID3\x04" + b"x" * 100, "a.mp3")],
                       environ_base=ENV, headers=HDRS)
    assert resp.status_code == 200
    receipt = receipt_of(resp)
    client.post("/follow-up", data={"receipt": "0" * 28}, environ_base=ENV, headers=HDRS)
    client.post("/follow-up", data={"receipt": receipt}, environ_base=ENV, headers=HDRS)
    client.get("/follow-up/tip", environ_base=ENV, headers=HDRS)
    blob = all_stored_bytes(app)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for marker in (MARK_IP, MARK_XFF, MARK_UA, MARK_REF):
        assert not contains(blob, marker), f"{marker} stored"
        assert marker not in logged, f"{marker} logged"


def test_pages_need_no_script_and_load_nothing_from_elsewhere(app, client, intake):
    pages = [client.get(p).get_data(as_text=True) for p in ("/", "/report", "/follow-up")]
    pages.append(post_report(client).get_data(as_text=True))
    for html in pages:
        assert not re.search(r"""(src|href|action)=["']?(https?:)?//""", html)
        assert "<script>" not in html and " on" + "click=" not in html  # no inline script
        for tag in re.findall(r"<script[^>]*>", html):
            assert "defer" in tag and 'src="/static/' in tag
    form = pages[1]
    assert re.search(r'<form method="post" action="/report" enctype="multipart/form-data"', form)
    assert '<button type="submit">' in form
