"""`make run` from a clean instance: migrates, creates keys and demo users, serves both sites."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> tuple[int, str, dict[str, str]]:
    with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - loopback only
        return resp.status, resp.read().decode(), dict(resp.headers)


def test_make_run_serves_portal_and_login(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL", "FLASK_APP", "SECRET_KEY")}
    env["CASEAPP_INSTANCE"] = str(tmp_path / "instance")
    log = (tmp_path / "run.log").open("w+")
    proc = subprocess.Popen(["make", "run", f"PORT={port}"], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while True:
            try:
                status, body, headers = _get(f"http://127.0.0.1:{port}/")
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    pytest.fail(f"make run did not serve:\n{log.read()[-4000:]}")
                time.sleep(0.5)
        assert status == 200 and "Set-Cookie" not in headers
        assert "举报" in body  # zh_CN is the default language
        status, body, _ = _get(f"http://127.0.0.1:{port}/staff/login")
        assert status == 200 and "csrf_token" in body
        log.seek(0)
        output = log.read()
        assert "escrow" in output.lower()  # where the escrow key went, said once
        assert (tmp_path / "instance" / "caseapp.sqlite3").exists()
        assert (tmp_path / "instance" / "escrow-private-key.txt").exists()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    # a second run reuses what exists: keys untouched, demo users not duplicated
    keys = (tmp_path / "instance" / "keys" / "installation.json").read_bytes()
    second = subprocess.run(["make", "init"], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=240)
    assert second.returncode == 0, second.stdout + second.stderr
    assert (tmp_path / "instance" / "keys" / "installation.json").read_bytes() == keys
    assert "already present" in (second.stdout + second.stderr).lower()
