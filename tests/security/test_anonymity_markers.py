"""Attack suite: a citizen's addresses and browser never reach the database, logs or Redis.

A whole citizen journey (form, submission with a file, receipt, follow-up login, message,
proof, reward claim, leave) runs with marker addresses in REMOTE_ADDR, X-Forwarded-For,
X-Real-IP and Forwarded, and a marker User-Agent and Referer, with Redis rate-limit storage
and rq jobs. Then every column of every table, every file of the instance, every log
record and stderr line, every Redis key and value and every rq job are searched for the
markers, as text and in the usual encodings. Also: no cookie before a submission, and the
security headers on every response, errors included; and a failing job's message never
reaches Redis.
"""

from __future__ import annotations

import base64
import contextlib
import io
import ipaddress
import logging
import re
import zlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from caseapp import clock, create_app
from caseapp.accounts.permissions import Role, public
from caseapp.audit.models import AuditEntry
from caseapp.audit.service import record
from caseapp.config import Config
from caseapp.extensions import db
from caseapp.jobs import OutboxJob, enqueue, job
from caseapp.jobs.runner import set_app
from caseapp.security import HEADERS
from tests import factories
from tests.rewards.helpers import CARD, ID_X, PAYEE, make_reward
from tests.tips.portal import TOKEN, all_stored_bytes, csrf_of, fields, receipt_of

IP4 = "203.0.113.77"
IP6 = "2001:db8::dead:beef"
XFF4 = "198.51.100.23"
XFF6 = "2001:db8::cafe:f00d"
REAL_IP = "192.0.2.149"
FWD6 = "2001:db8::bad:c0de"
UA = "MarkerAgent/9.9 (X11; Linux) Mk7Q"
REFERER = "https://referer.example/marker-Rf3Z?q=tip"
ADDRESSES = (IP4, IP6, XFF4, XFF6, REAL_IP, FWD6)
TEXTS = (UA, REFERER, "Mk7Q", "marker-Rf3Z", "referer.example")
SECRET = "SECRET-NARRATIVE-Jb8W 康乐诊所"
QUEUE = "caseapp-sec-d"


def marker_headers(forwarded_for: str) -> dict[str, str]:
    """Every header that can name a client or its browser, each carrying a marker."""
    return {
        "X-Forwarded-For": f"{XFF4}, {forwarded_for}",
        "X-Real-IP": REAL_IP,
        "Forwarded": f'for="[{FWD6}]";proto=https, for={XFF4}',
        "User-Agent": UA,
        "Referer": REFERER,
    }


def encodings(marker: str) -> dict[str, bytes]:
    """The forms in which a marker could be stored: text encodings and, for addresses, bytes."""
    raw = marker.encode()
    out = {
        "utf-8": raw, "utf-16-le": marker.encode("utf-16-le"),
        "utf-16-be": marker.encode("utf-16-be"), "hex": raw.hex().encode(),
        "base64": base64.b64encode(raw).rstrip(b"="),
        "base64url": base64.urlsafe_b64encode(raw).rstrip(b"="),
    }
    try:
        ip = ipaddress.ip_address(marker)
    except ValueError:
        return out
    out["packed"] = ip.packed
    out["packed-hex"] = ip.packed.hex().encode()
    out["exploded"] = ip.exploded.encode()
    if ip.version == 4:
        out["v4-mapped"] = f"::ffff:{marker}".encode()
        out["reversed"] = ".".join(reversed(marker.split("."))).encode()
    return out


def leaks(blob: bytes, *, packed: bool = True) -> list[str]:
    """Which markers (and in which form) occur in `blob`."""
    found = []
    for marker in ADDRESSES + TEXTS:
        for name, needle in encodings(marker).items():
            if not packed and name == "packed":
                continue  # 4 random bytes can occur in a large binary file by chance
            if needle in blob:
                found.append(f"{marker} ({name})")
    return found


# -- captures ------------------------------------------------------------------------
class Records(logging.Handler):
    """Keeps every record of the loggers it is attached to, fully formatted."""

    NAMES = ("", "caseapp", "werkzeug", "flask_limiter", "limits", "rq", "rq.worker",
             "sqlalchemy", "redis")

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        extra = {k: v for k, v in vars(record).items()
                 if k not in logging.LogRecord("", 0, "", 0, "", None, None).__dict__}
        self.lines.append(f"{self.format(record)} {extra!r}")

    def text(self) -> bytes:
        return "\n".join(self.lines).encode()


@pytest.fixture
def records() -> Iterator[Records]:
    """Every log record at DEBUG of the app's, werkzeug's, the limiter's and rq's loggers."""
    handler = Records()
    saved = []
    for name in Records.NAMES:
        logger = logging.getLogger(name)
        saved.append((logger, logger.level))
        logger.setLevel(logging.DEBUG)
        logger.addHandler(handler)
    yield handler
    for logger, level in saved:
        logger.removeHandler(handler)
        logger.setLevel(level)


def redis_dump(conn: Any) -> bytes:
    """Every key name and value of the Redis database, by type, plus DUMP; zlib data opened."""
    chunks: list[bytes] = []
    for key in conn.scan_iter(count=500):
        chunks.append(key)
        kind = conn.type(key).decode()
        values: list[bytes] = []
        if kind == "string":
            values = [conn.get(key) or b""]
        elif kind == "hash":
            for field_, value in conn.hgetall(key).items():
                values += [field_, value]
        elif kind == "list":
            values = conn.lrange(key, 0, -1)
        elif kind == "set":
            values = list(conn.smembers(key))
        elif kind == "zset":
            values = [m for m, _ in conn.zrange(key, 0, -1, withscores=True)]
        elif kind == "stream":
            for _id, entry in conn.xrange(key):
                for field_, value in entry.items():
                    values += [field_, value]
        dumped = conn.dump(key)
        for value in values + ([dumped] if dumped else []):
            chunks.append(value)
            chunks.extend(_opened(value))
    return b"\n".join(chunks)


def _opened(value: bytes) -> list[bytes]:
    """zlib (rq job data and exc_info) and base64+zlib (rq results) contents of a value."""
    out = []
    for candidate in (value, _b64(value)):
        if candidate:
            with contextlib.suppress(zlib.error):
                out.append(zlib.decompress(candidate))
    return out


def _b64(value: bytes) -> bytes | None:
    try:
        return base64.b64decode(value, validate=True)
    except ValueError:
        return None


def files_under(*roots: Path) -> bytes:
    """Every file below the roots (instance folder: SQLite, keys, uploads; spool dir)."""
    return b"\n".join(p.read_bytes() for root in roots if root.exists()
                      for p in sorted(root.rglob("*")) if p.is_file())


# -- apps ------------------------------------------------------------------------------
@pytest.fixture
def config(config: Config, tmp_path: Path) -> Config:
    """Generous portal limits; uploads spooled (encrypted) to a folder the test searches."""
    spool = tmp_path / "spool"
    spool.mkdir()
    return config.with_(portal_submit_limit="500 per minute",
                        portal_followup_limit="500 per minute",
                        portal_global_limit="5000 per minute",
                        portal_spool_memory_bytes=1024, portal_spool_dir=spool,
                        portal_client_hops=1)


@pytest.fixture
def staff(app: Flask) -> dict[str, int]:
    """Intake (health) and finance departments, each with a key holder."""
    with app.app_context():
        health = factories.make_department("health")
        finance = factories.make_department("finance")
        ids = {"intake": factories.make_user("intake1", health, [Role.INTAKE]).id,
               "officer": factories.make_user("officer1", finance, [Role.FINANCE_OFFICER]).id}
        db.session.remove()
    return ids


@pytest.fixture
def redis_app(app: Flask, redis_url: str) -> Iterator[Flask]:
    """The test app's database and keys with Redis for rate limits, throttle and rq."""
    from caseapp.jobs.outbox import redis_connection

    redis_connection(redis_url).flushdb()
    application = create_app(app.config["CASEAPP"].with_(
        redis_url=redis_url, rq_queue=QUEUE, job_retry_intervals=(0,)))
    yield application
    set_app(None)
    with application.app_context():
        db.session.remove()
        db.engine.dispose()
    redis_connection(redis_url).flushdb()


class Browser:
    """A test client that sends the marker headers and address on every request."""

    def __init__(self, client: FlaskClient, remote_addr: str, forwarded_for: str) -> None:
        self.client = client
        self.environ = {"REMOTE_ADDR": remote_addr}
        self.headers = marker_headers(forwarded_for)
        self.responses: list[TestResponse] = []

    def get(self, path: str) -> TestResponse:
        resp = self.client.get(path, environ_base=self.environ, headers=self.headers)
        self.responses.append(resp)
        return resp

    def post(self, path: str, data: dict[str, Any], **kw: Any) -> TestResponse:
        resp = self.client.post(path, data=data, environ_base=self.environ,
                                headers=self.headers, **kw)
        self.responses.append(resp)
        return resp


def _report(browser: Browser, data: dict[str, str], files: list[tuple[bytes, str]],
            wait: bool = True) -> TestResponse:
    match = TOKEN.search(browser.get("/report").get_data(as_text=True))
    assert match, "no form token"
    token = match.group(1)
    if wait:
        clock.move(timedelta(seconds=30))
    payload: dict[str, Any] = dict(data, form_token=token)
    payload["files"] = [(io.BytesIO(content), name) for content, name in files]
    return browser.post("/report", payload, content_type="multipart/form-data")


def _jpeg() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(buf, "JPEG")
    return buf.getvalue()


def citizen_journey(application: Flask, staff: dict[str, int]) -> dict[str, Any]:
    """The whole journey with markers; returns what the assertions need."""
    before = Browser(application.test_client(), IP4, XFF6)
    for path in ("/", "/?lang=en", "/report", "/follow-up", "/follow-up/tip",
                 "/follow-up/reward", "/no-such-page"):
        before.get(path)
    before.post("/follow-up", {"receipt": "1234 5678 9012 3456 7890 1234 5678"})
    before.post("/follow-up/leave", {})
    _report(before, fields(hp_note="bot"), [])  # refused as a bot
    _report(before, fields(), [], wait=False)  # refused: sent too fast
    no_cookie = list(before.responses)

    narrative = fields(narrative="The clinic tells the sex. " + SECRET)
    sent = _report(before, narrative, [(_jpeg(), "IMG_4411.jpg"), (b"ID3\x04" + b"x" * 4000,
                                                                    "call.mp3")])
    assert sent.status_code == 200, sent.status_code
    receipt = receipt_of(sent)
    page = before.get("/follow-up/tip")
    assert page.status_code == 200
    before.post("/follow-up/tip", {
        "body": "More detail from me", "csrf_token": csrf_of(page.get_data(as_text=True)),
        "files": [(io.BytesIO(_jpeg()), "second.jpg")]}, content_type="multipart/form-data")
    assert before.get("/follow-up/proof").status_code == 200
    page = before.get("/follow-up/tip")
    before.post("/follow-up/leave", {"csrf_token": csrf_of(page.get_data(as_text=True))})

    with application.app_context():  # staff side: the case ends substantiated (not marked)
        from caseapp.tips.models import Tip

        tip_id = db.session.scalar(select(func.max(Tip.id)))
        assert tip_id is not None
        reward_id = make_reward(application.config["CASEAPP"], [tip_id])
        db.session.remove()

    later = Browser(application.test_client(), IP6, XFF4)  # another day, over IPv6
    wrong = receipt[:-1] + ("0" if receipt[-1] != "0" else "1")
    assert later.post("/follow-up", {"receipt": wrong}).status_code == 400
    assert later.post("/follow-up", {"receipt": receipt}).status_code == 303
    page = later.get("/follow-up/reward")
    assert page.status_code == 200
    claimed = later.post("/follow-up/reward", {
        "payee_name": PAYEE, "id_number": ID_X, "method": "bank",
        "bank_name": "中国工商银行 驻马店分行", "account_number": CARD, "office": "",
        "csrf_token": csrf_of(page.get_data(as_text=True))})
    assert claimed.status_code == 200, claimed.status_code
    return {"no_cookie": no_cookie, "all": before.responses + later.responses,
            "reward_id": reward_id, "receipt": receipt}


# -- the journey -------------------------------------------------------------------------
def test_markers_appear_nowhere(redis_app: Flask, staff: dict[str, int], records: Records,
                                capfd: pytest.CaptureFixture[str], config: Config) -> None:
    from rq.job import Job

    from caseapp.jobs.outbox import redis_connection, rq_queue

    citizen_journey(redis_app, staff)
    conn = redis_connection(redis_app.config["CASEAPP"].redis_url)
    queue = rq_queue(redis_app)
    job_ids = queue.job_ids
    assert job_ids, "the claim notification went to rq"
    rq_jobs = [Job.fetch(j, connection=conn) for j in job_ids]
    rq_text = "\n".join(f"{j.description} {j.func_name} {j.args!r} {j.kwargs!r} {j.meta!r}"
                        for j in rq_jobs).encode()
    redis_before_worker = redis_dump(conn)
    factories.burst(redis_app)
    with redis_app.app_context():
        outbox = db.session.execute(select(OutboxJob)).scalars().all()
        assert outbox and all(r.done_at is not None for r in outbox)
        payloads = "\n".join(f"{r.name} {r.payload} {r.last_error}" for r in outbox).encode()
    out, err = capfd.readouterr()

    places = {
        "database": all_stored_bytes(redis_app),
        "outbox payloads": payloads,
        "rq jobs": rq_text,
        "redis (before the worker)": redis_before_worker,
        "redis (after the worker)": redis_dump(conn),
        "logs": records.text(),
        "stdout/stderr": (out + err).encode(),
    }
    files = files_under(config.instance_path, config.portal_spool_dir or Path("/nonexistent"))
    assert files, "the instance folder holds the database, keys and uploads"
    found = {where: leaks(blob) for where, blob in places.items()}
    found["instance and spool files"] = leaks(files, packed=False)
    assert not any(found.values()), found
    assert SECRET.encode() not in places["database"] + files  # the tip itself is encrypted
    assert len(records.lines) > 0 and places["redis (before the worker)"]


def test_search_finds_markers_where_they_are(redis_app: Flask) -> None:
    """The searches above are able to fail: markers put in each place are found."""
    from caseapp.jobs.outbox import redis_connection

    conn = redis_connection(redis_app.config["CASEAPP"].redis_url)
    conn.set(f"probe:{IP6}", b"x")
    conn.hset("probe:h", "k", ipaddress.ip_address(IP4).packed)
    conn.rpush("probe:l", zlib.compress(UA.encode()))
    conn.zadd("probe:z", {REFERER: 1})
    blob = redis_dump(conn)
    assert {f"{IP6} (utf-8)", f"{IP4} (packed)", f"{UA} (utf-8)",
            f"{REFERER} (utf-8)"} <= set(leaks(blob))
    with redis_app.app_context():
        record("probe", object_type="probe", object_id=XFF6, detail={"ua": UA})
        db.session.commit()
        db.session.remove()
    stored = leaks(all_stored_bytes(redis_app))
    assert f"{XFF6} (utf-8)" in stored and f"{UA} (utf-8)" in stored


def test_no_cookie_before_a_submission_starts(redis_app: Flask, staff: dict[str, int]) -> None:
    done = citizen_journey(redis_app, staff)
    for resp in done["no_cookie"]:
        assert "Set-Cookie" not in resp.headers, (resp.request.path, resp.status_code)
    statuses = {r.status_code for r in done["no_cookie"]}
    assert {200, 400, 401, 404} <= statuses
    # the first cookie comes with the receipt (the portal session), never earlier
    first = next(r for r in done["all"] if "Set-Cookie" in r.headers)
    assert first.request.path == "/report" and first.status_code == 200
    assert "HttpOnly" in first.headers["Set-Cookie"]
    assert "Expires" not in first.headers["Set-Cookie"]
    assert "Max-Age" not in first.headers["Set-Cookie"]
    for resp in done["all"]:
        assert resp.headers.get("Cache-Control") == "no-store"


# -- security headers on every response ---------------------------------------------------
def _check_headers(resp: TestResponse, what: str) -> None:
    for name, value in HEADERS.items():
        if name == "Cache-Control" and what.startswith("/static/"):
            assert resp.headers.get(name) == "no-cache"  # public assets: revalidated
            continue
        assert resp.headers.get(name) == value, (what, resp.status_code, name)


@pytest.fixture
def boom_app(redis_app: Flask) -> Flask:
    """The Redis app with one public staff route and one portal view that raise."""

    @public
    def boom() -> str:
        raise RuntimeError(f"boom {SECRET}")

    redis_app.add_url_rule("/boom", "boom", boom)
    redis_app.config["PROPAGATE_EXCEPTIONS"] = False  # answer 500 like production does
    return redis_app


def test_headers_on_every_response_including_errors(
        boom_app: Flask, staff: dict[str, int], records: Records, config: Config,
        monkeypatch: pytest.MonkeyPatch) -> None:
    browser = Browser(boom_app.test_client(), IP4, XFF6)
    seen: dict[int, list[str]] = {}

    def hit(what: str, resp: TestResponse) -> None:
        seen.setdefault(resp.status_code, []).append(what)
        _check_headers(resp, what)

    for path in ("/", "/report", "/follow-up", "/staff/login", "/static/portal.css"):
        hit(path, browser.get(path))
    hit("portal 404", browser.get("/no-such-page"))
    hit("staff 404", browser.get("/staff/no-such-page"))
    hit("405", browser.get("/follow-up/leave"))
    hit("405 staff", browser.client.put("/staff/login", environ_base=browser.environ))
    hit("413", browser.client.post("/report", environ_base=browser.environ, environ_overrides={
        "CONTENT_LENGTH": str(10**10), "CONTENT_TYPE": "multipart/form-data; boundary=x"}))
    hit("400 staff CSRF", browser.post("/staff/login", {"username": "a", "password": "b"}))
    hit("401 portal CSRF", browser.post("/follow-up/tip", {"body": "no token"}))
    hit("500 staff", browser.get("/boom"))

    def broken() -> Config:
        raise RuntimeError(f"portal broke {SECRET}")

    monkeypatch.setattr("caseapp.tips.views._cfg", broken)
    hit("500 portal", browser.get("/"))
    monkeypatch.undo()
    boom_app.config["CASEAPP"] = boom_app.config["CASEAPP"].with_(
        portal_followup_limit="2 per minute")
    for _ in range(4):
        last = browser.post("/follow-up", {"receipt": "1" * 28})
    hit("429", last)
    assert {200, 400, 401, 404, 405, 413, 429, 500} <= set(seen), seen
    for resp in browser.responses:
        if resp.request.path != "/staff/login":
            assert "Set-Cookie" not in resp.headers, resp.request.path
    for resp in (r for r in browser.responses if r.status_code == 500):
        assert SECRET not in resp.get_data(as_text=True)
    assert not leaks(records.text()), "an error or a rate-limit log line names the client"
    assert any("boom" in line for line in records.lines)  # the 500 was logged (by Flask)


# -- rq's stored failures ---------------------------------------------------------------------
@job("test.security.leaky")
def leaky(marker: str) -> None:
    """A job that fails with content in its message, its traceback and a chained cause."""
    narrative = f"{SECRET} {marker}"  # a local variable holding content
    try:
        raise KeyError(narrative)
    except KeyError as exc:
        raise ValueError(f"could not handle {narrative}") from exc


def test_failed_job_leaves_no_content_in_redis_logs_or_audit(
        redis_app: Flask, records: Records, capfd: pytest.CaptureFixture[str]) -> None:
    from rq.job import Job

    from caseapp.jobs.outbox import redis_connection, rq_queue

    with redis_app.app_context():
        row_id = enqueue("test.security.leaky", marker="m-Qx41").id
        db.session.commit()
    factories.burst(redis_app)
    conn = redis_connection(redis_app.config["CASEAPP"].redis_url)
    queue = rq_queue(redis_app)
    failed = queue.failed_job_registry.get_job_ids()
    assert failed == [f"outbox-{row_id}"]
    rq_job = Job.fetch(failed[0], connection=conn)
    result = rq_job.latest_result()
    assert result is not None and result.exc_string
    assert "JobFailed" in result.exc_string and "builtins.ValueError" in result.exc_string
    with redis_app.app_context():
        alert = db.session.scalars(select(AuditEntry).where(
            AuditEntry.action == "job.failed")).one()
        detail = str(alert.detail)
        row = db.session.get(OutboxJob, row_id)
        assert row is not None and row.failed_at is not None
        stored = f"{row.last_error} {detail}"
    assert "ValueError" in detail and "test.security.leaky" in detail
    out, err = capfd.readouterr()
    places = {"redis": redis_dump(conn), "exc_string": result.exc_string.encode(),
              "audit and outbox": stored.encode(), "logs": records.text(),
              "stderr": (out + err).encode()}
    for where, blob in places.items():
        for needle in ("SECRET-NARRATIVE-Jb8W", "康乐诊所", "could not handle"):
            assert needle.encode() not in blob, (where, needle)
    assert re.search(rb"attempt \d failed: builtins\.ValueError", places["logs"])
