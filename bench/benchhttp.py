"""Shared pieces of the HTTP benchmarks: service URLs, a fresh database, gunicorn, a client.

Only the standard library on the client side (`http.client`), so the benchmarks need nothing
beyond what `make install` puts into .venv. PostgreSQL and Redis are expected at their
default local addresses unless BENCH_PG (server URL without a database name) and
BENCH_REDIS_URL say otherwise.
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # for tests.e2e.prodshape
    sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent
PG_SERVER = os.environ.get("BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")


def sqlalchemy_url(database: str) -> str:
    """The psycopg SQLAlchemy URL of `database` on the benchmark server."""
    return f"{PG_SERVER.rstrip('/')}/{database}"


def redis_url(db: int) -> str:
    """The Redis URL of database number `db` (BENCH_REDIS_URL's host when set)."""
    base = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0").rsplit("/", 1)[0]
    return f"{base}/{db}"


def fresh_database(name: str) -> str:
    """Drop and create a PostgreSQL database; returns its SQLAlchemy URL."""
    import psycopg

    admin = sqlalchemy_url("postgres").replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return sqlalchemy_url(name)


def flush_redis(url: str) -> None:
    """Empty one Redis database (rate-limit counters and queues of an earlier run)."""
    import redis

    redis.Redis.from_url(url).flushdb()


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(base_url: str, path: str = "/", timeout: float = 60.0) -> None:
    """Wait until GET `path` answers at all."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            Client(base_url).get(path)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def children(pid: int) -> list[int]:
    """Process ids of the direct children of `pid`."""
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        out += [int(p) for p in (task / "children").read_text().split()]
    return out


def status_kib(pid: int, field_name: str) -> int:
    """A memory figure (VmHWM, VmRSS, …) of a process from /proc/<pid>/status, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    raise KeyError(field_name)


@dataclass
class Server:
    """A running gunicorn: its master process and where it listens."""

    proc: subprocess.Popen[bytes]
    base_url: str


@contextmanager
def gunicorn(app: str, env: dict[str, str], *, workers: int,
             ready_path: str = "/", timeout: int = 300) -> Iterator[Server]:
    """Serve `app` (a gunicorn app spec) with sync workers on a free local port."""
    port = free_port()
    cmd = [str(BIN / "gunicorn"), "-w", str(workers), "-k", "sync", "-b", f"127.0.0.1:{port}",
           "--timeout", str(timeout), "--log-level", "warning", app]
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT)
    server = Server(proc, f"http://127.0.0.1:{port}")
    try:
        wait_http(server.base_url, ready_path)
        yield server
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- client ------------------------------------------------------------------------------
@dataclass
class Reply:
    """Status, headers and body of one answer."""

    status: int
    headers: dict[str, str]
    body: str


_INPUT = re.compile(r"<input\b[^>]*>", re.I)
_ATTR = re.compile(r'([a-zA-Z_:-]+)="([^"]*)"')


def hidden_value(html: str, name: str) -> str:
    """The value of the first <input> named `name` (raises KeyError when there is none)."""
    for tag in _INPUT.findall(html):
        attrs = dict(_ATTR.findall(tag))
        if attrs.get("name") == name:
            return unescape(attrs.get("value", ""))
    raise KeyError(name)


@dataclass
class Client:
    """A tiny cookie-keeping HTTP/1.1 client on `http.client` (one connection per request)."""

    base_url: str
    cookies: dict[str, str] = field(default_factory=dict)
    timeout: float = 300.0

    def _conn(self) -> http.client.HTTPConnection:
        parts = urlsplit(self.base_url)
        return http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80,
                                          timeout=self.timeout)

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"Accept-Language": "en"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        headers.update(extra or {})
        return headers

    def _finish(self, conn: http.client.HTTPConnection) -> Reply:
        resp = conn.getresponse()
        body = resp.read().decode("utf-8", "replace")
        for header, value in resp.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name.strip()] = rest.split(";", 1)[0]
        conn.close()
        return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, body)

    def get(self, path: str) -> Reply:
        """GET `path`."""
        conn = self._conn()
        conn.request("GET", path, headers=self._headers())
        return self._finish(conn)

    def post(self, path: str, fields: dict[str, str]) -> Reply:
        """POST an urlencoded form."""
        conn = self._conn()
        conn.request("POST", path, body=urlencode(fields), headers=self._headers(
            {"Content-Type": "application/x-www-form-urlencoded"}))
        return self._finish(conn)

    def post_file(self, path: str, fields: dict[str, str], file_field: str, filename: str,
                  size: int, chunks: Iterable[bytes]) -> Reply:
        """POST multipart/form-data with one file of `size` bytes, streamed from `chunks`."""
        boundary = uuid.uuid4().hex
        head = b"".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
            .encode() for k, v in fields.items())
        head += (f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; '
                 f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
                 ).encode()
        tail = f"\r\n--{boundary}--\r\n".encode()
        conn = self._conn()
        conn.putrequest("POST", path)
        for k, v in self._headers({
                "Content-Type": f"multipart/form-data; boundary={boundary}",
                "Content-Length": str(len(head) + size + len(tail))}).items():
            conn.putheader(k, v)
        conn.endheaders()
        conn.send(head)
        sent = 0
        for block in chunks:
            conn.send(block)
            sent += len(block)
        if sent != size:
            raise ValueError(f"sent {sent} bytes, announced {size}")
        conn.send(tail)
        return self._finish(conn)


@contextmanager
def app_context(env: dict[str, str]) -> Iterator[None]:
    """An app context of caseapp built from `env` exactly as the served app builds it."""
    from caseapp import create_app
    from caseapp.config import Config

    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        app = create_app(Config.from_env())
    finally:
        os.environ.clear()
        os.environ.update(saved)
    with app.app_context():
        yield


if __name__ == "__main__":  # `python bench/benchhttp.py createdb NAME` (used by `make bench`)
    if sys.argv[1:2] != ["createdb"] or len(sys.argv) != 3:
        sys.exit("usage: benchhttp.py createdb NAME")
    fresh_database(sys.argv[2])
