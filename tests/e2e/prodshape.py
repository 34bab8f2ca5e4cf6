"""The production shape on this machine: migrations, keys, demo users, gunicorn and one rq worker.

Free of pytest so `tests.e2e.prod_check` and the benchmarks can import it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60.0  # seconds until the site must answer
STOP_TIMEOUT = 20.0  # seconds a process group gets after SIGTERM before SIGKILL


class ProductionShapeError(RuntimeError):
    """A setup command failed or a process died or did not answer in time."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def shape_env(database_url: str, redis_url: str, instance: Path) -> dict[str, str]:
    """The environment every process of the shape runs with (see Config.from_env)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CASEAPP_", "FLASK_")) and k not in ("SECRET_KEY",)}
    env.update(DATABASE_URL=database_url, REDIS_URL=redis_url,
               CASEAPP_INSTANCE=str(instance), FLASK_APP="caseapp", PYTHONUNBUFFERED="1")
    return env


def _tail(path: Path, lines: int = 40) -> str:
    """The last lines of a log file, for error messages."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _setup(env: dict[str, str], logs: Path) -> None:
    """`flask db upgrade`, `flask init`, `flask demo`; raises with the output on failure."""
    for args in (["db", "upgrade"], ["init"], ["demo"]):
        log = logs / f"flask-{args[0]}.log"
        with log.open("ab") as out:
            rc = subprocess.call([sys.executable, "-m", "flask", "--app", "caseapp", *args],
                                 env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
        if rc != 0:
            raise ProductionShapeError(f"flask {' '.join(args)} exited {rc}:\n{_tail(log)}")


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start a process in its own process group, output to `log`."""
    with log.open("ab") as out:
        return subprocess.Popen(args, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group, SIGKILL it when it lingers; reap the leader."""
    for sig, wait in ((signal.SIGTERM, STOP_TIMEOUT), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        # The leader is gone; make sure no child (rq work horse, gunicorn worker) stays.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        return


def _wait_ready(url: str, procs: dict[str, tuple[subprocess.Popen[bytes], Path]]) -> None:
    """Poll `url` until it answers; raise if a process dies or time runs out."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        for name, (proc, log) in procs.items():
            if proc.poll() is not None:
                raise ProductionShapeError(f"{name} exited {proc.returncode}:\n{_tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - local URL
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    raise ProductionShapeError(f"{url} did not answer within {START_TIMEOUT:.0f}s")


@contextlib.contextmanager
def production_shape(*, database_url: str, redis_url: str, instance: Path, port: int,
                     web_workers: int = 2,
                     extra_env: dict[str, str] | None = None) -> Iterator[str]:
    """Set up and run gunicorn (`web_workers`) + one rq worker; yield the base URL; stop both.

    `extra_env` adds settings (e.g. CASEAPP_* limits). Logs go to `instance/logs/`. The
    database and Redis db must exist (and be empty for a fresh run); migrations, keys and
    demo users are created here.
    """
    instance.mkdir(parents=True, exist_ok=True)
    logs = instance / "logs"
    logs.mkdir(exist_ok=True)
    env = {**shape_env(database_url, redis_url, instance), **(extra_env or {})}
    _setup(env, logs)
    base_url = f"http://127.0.0.1:{port}"
    procs: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}
    try:
        for name, args in (
            ("gunicorn", [sys.executable, "-m", "gunicorn", "-w", str(web_workers),
                          "-b", f"127.0.0.1:{port}", "--graceful-timeout", "10",
                          "caseapp:create_app()"]),
            ("worker", [sys.executable, "-m", "flask", "--app", "caseapp", "worker"]),
        ):
            log = logs / f"{name}.log"
            procs[name] = (_start(args, env, log), log)
        _wait_ready(f"{base_url}/staff/login", procs)
        yield base_url
    finally:
        for proc, _log in procs.values():
            _stop(proc)
