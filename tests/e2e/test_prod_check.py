"""CI proves the production shape: `python -m tests.e2e.prod_check` as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import IN_CI

from .browser import CHROMIUM, REPO

pytestmark = pytest.mark.browser


def test_prod_check_runs_the_scenario_on_gunicorn_and_rq(tmp_path: Path) -> None:
    """gunicorn (2 workers) + rq worker + PostgreSQL + Redis pass the whole scenario."""
    pg, redis_url = os.environ.get("TEST_DATABASE_URL"), os.environ.get("TEST_REDIS_URL")
    if not (pg and redis_url):
        pytest.skip("TEST_DATABASE_URL and TEST_REDIS_URL are needed")
    if not CHROMIUM.exists():
        if IN_CI:
            raise RuntimeError(f"CI=true but {CHROMIUM} is missing")
        pytest.skip(f"{CHROMIUM} not installed")
    env = dict(os.environ)
    env.setdefault("PRODCHECK_REDIS_URL", "redis://127.0.0.1:6379/12")
    print(f"prod-check output: {tmp_path}")
    done = subprocess.run([sys.executable, "-m", "tests.e2e.prod_check", "--out", str(tmp_path)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-8000:]
    assert "prod-check OK" in done.stdout
    assert len(list((tmp_path / "screenshots").glob("*.png"))) >= 20
    assert not _processes_of(tmp_path / "instance"), "processes left behind"


def _processes_of(instance: Path) -> list[int]:
    """Pids whose environment names this instance folder (gunicorn, its workers, rq)."""
    marker = f"CASEAPP_INSTANCE={instance}".encode()
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if marker in (proc / "environ").read_bytes().split(b"\0"):
                found.append(int(proc.name))
        except OSError:
            continue
    return found
