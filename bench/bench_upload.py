"""A 100 MiB evidence upload over HTTP to one gunicorn sync worker: memory and throughput.

The real app in its production shape (tests/e2e/prodshape.py: migrations, keys, demo users,
gunicorn with ONE sync worker, an rq worker, PostgreSQL, Redis). A set-up step opens a case
(a tip submitted through the portal service, promoted by the demo intake officer); the demo
lead logs in through the login form and uploads to the case's evidence form. The client
streams the multipart body from one 1 MiB block, so neither side needs to hold the file.

Figures, each measured in the same run:
- peak memory growth of the worker: VmHWM after the 100 MiB uploads minus the RSS after a
  1 MiB warm-up upload (same code paths; the peak is reset there, since the login's
  Argon2id, 64 MiB, would otherwise hide any smaller growth), target ≤ 32 MiB;
- throughput: 100 MiB / (first byte sent → answer received), median of the rounds, against
  writing the same bytes to a file next to the evidence store with fsync (what the store
  itself does), median of the same rounds; target ratio ≥ 0.5.

Exit status 1 on a missed target only with --strict (or on a failure).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from benchhttp import (
    Client,
    app_context,
    children,
    flush_redis,
    fresh_database,
    hidden_value,
    redis_url,
    status_kib,
)

MIB = 1024 * 1024
BLOCK = os.urandom(MIB)
MEMORY_TARGET_MIB = 32.0
THROUGHPUT_TARGET = 0.5
DATABASE = "bench_upload"
REDIS_DB = int(os.environ.get("BENCH_UPLOAD_REDIS_DB", "11"))


def blocks(size: int) -> Iterator[bytes]:
    """`size` bytes (a whole number of MiB) as 1 MiB blocks."""
    for _ in range(size // MIB):
        yield BLOCK


def open_case(env: dict[str, str]) -> int:
    """A case led by health: a tip from the portal service, promoted by the intake officer."""
    from caseapp.accounts.demo import demo_password
    from caseapp.accounts.keys import Keyring
    from caseapp.accounts.service import authenticate
    from caseapp.cases.decisions import promote
    from caseapp.extensions import db
    from caseapp.tips.models import Tip
    from caseapp.tips.service import TipInput, submit_tip

    with app_context(env):
        done = submit_tip(TipInput(category="sex_identification", district="411702",
                                   narrative="B超鉴定胎儿性别（benchmark）"), [])
        user, key = authenticate("intake", demo_password("intake"))
        tip = db.session.get(Tip, done.tip_id)
        case = promote(tip, Keyring(user, key), user, lead_department_id=user.department_id,
                       title="Benchmark: evidence upload")
        return int(case.id)


def login(base_url: str, username: str, password: str) -> Client:
    """A client logged in through the staff login form."""
    client = Client(base_url)
    page = client.get("/staff/login")
    reply = client.post("/staff/login", {"csrf_token": hidden_value(page.body, "csrf_token"),
                                         "username": username, "password": password,
                                         "next": ""})
    if reply.status not in (302, 303):
        raise RuntimeError(f"login as {username} failed: HTTP {reply.status}")
    return client


def upload(client: Client, case_id: int, size: int) -> float:
    """Upload `size` bytes as evidence; seconds from the first byte sent to the answer."""
    page = client.get(f"/staff/cases/{case_id}")
    token = hidden_value(page.body, "e-csrf_token")
    started = time.perf_counter()
    reply = client.post_file(f"/staff/cases/{case_id}/evidence", {"e-csrf_token": token},
                             "e-file", "evidence.bin", size, blocks(size))
    elapsed = time.perf_counter() - started
    if reply.status not in (302, 303) or f"/cases/{case_id}" not in reply.headers.get(
            "location", ""):
        raise RuntimeError(f"upload refused: HTTP {reply.status}")
    return elapsed


def disk_write(directory: Path, size: int) -> float:
    """Seconds to write `size` bytes to a new file in `directory` and fsync it."""
    path = directory / "baseline-write.bin"
    started = time.perf_counter()
    with path.open("wb") as sink:
        for block in blocks(size):
            sink.write(block)
        sink.flush()
        os.fsync(sink.fileno())
    elapsed = time.perf_counter() - started
    path.unlink()
    return elapsed


def reset_peak(pid: int) -> None:
    """Reset the process's peak RSS (VmHWM) to its current RSS (Linux: clear_refs 5)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def web_worker() -> int:
    """The one gunicorn worker started by this process (a child of our gunicorn master)."""
    for pid in children(os.getpid()):
        if b"gunicorn" in Path(f"/proc/{pid}/cmdline").read_bytes():
            workers = children(pid)
            if len(workers) != 1:
                raise RuntimeError(f"expected one gunicorn worker, found {workers}")
            return workers[0]
    raise RuntimeError("gunicorn is not a child of this process")


def stored_sizes(store: Path) -> list[int]:
    """Sizes of the ciphertext files in the evidence store."""
    return sorted(p.stat().st_size for p in store.iterdir()) if store.exists() else []


def verdict(name: str, value: float, target: str, ok: bool) -> bool:
    """Print the RATIO line; return ok."""
    print(f"RATIO {name} {value:.2f} (target {target}) {'PASS' if ok else 'MISS'}")
    return ok


def measure(base_url: str, env: dict[str, str], store: Path, instance: Path, size: int,
            rounds: int) -> tuple[float, float, int, int]:
    """(upload MiB/s, disk MiB/s, worker VmHWM KiB before, after) over `rounds` rounds."""
    case_id = open_case(env)
    worker = web_worker()
    client = login(base_url, "lead", "demo-lead-pass")
    upload(client, case_id, MIB)  # warm-up: every code path once
    reset_peak(worker)  # the login's Argon2id (64 MiB) would otherwise hide any growth
    before = status_kib(worker, "VmHWM")
    uploads, writes = [], []
    for _ in range(rounds):
        writes.append(disk_write(instance, size))
        uploads.append(upload(client, case_id, size))
    after = status_kib(worker, "VmHWM")
    if worker != web_worker():
        raise RuntimeError("the gunicorn worker was replaced during the benchmark")
    big = [s for s in stored_sizes(store) if s >= size]
    if len(big) != rounds:
        raise RuntimeError(f"expected {rounds} stored files of at least {size} bytes: {big}")
    return (size / MIB / statistics.median(uploads), size / MIB / statistics.median(writes),
            before, after)


def main(argv: list[str] | None = None) -> int:
    """Set up, measure, print; exit 1 on a miss only with --strict."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    from tests.e2e.prodshape import free_port, production_shape, shape_env

    size = args.size_mib * MIB
    database_url, redis = fresh_database(DATABASE), redis_url(REDIS_DB)
    flush_redis(redis)
    instance = Path(tempfile.mkdtemp(prefix="caseapp-bench-upload-"))
    try:
        with production_shape(database_url=database_url, redis_url=redis, instance=instance,
                              port=free_port(), web_workers=1) as base_url:
            up_rate, disk_rate, before, after = measure(
                base_url, shape_env(database_url, redis, instance),
                instance / "uploads" / "cases", instance, size, args.rounds)
    finally:
        shutil.rmtree(instance, ignore_errors=True)  # rounds × size of ciphertext

    growth = (after - before) / 1024
    print(f"[upload] {args.size_mib} MiB evidence upload, {args.rounds} rounds: "
          f"{up_rate:.1f} MiB/s (HTTP → parse → hash + cipher → store) vs writing to disk "
          f"{disk_rate:.1f} MiB/s; worker peak RSS {before / 1024:.1f} → {after / 1024:.1f} MiB")
    ok = verdict("upload_throughput", up_rate / disk_rate, f"≥ {THROUGHPUT_TARGET}",
                 up_rate / disk_rate >= THROUGHPUT_TARGET)
    ok &= verdict("upload_peak_memory_growth_mib", growth, f"≤ {MEMORY_TARGET_MIB:g}",
                  growth <= MEMORY_TARGET_MIB)
    return 0 if ok or not args.strict else 1


if __name__ == "__main__":
    sys.exit(main())
