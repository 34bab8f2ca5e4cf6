"""Tip submissions per second under 16 concurrent connections vs. a bare Argon2id + insert route.

The real app in its production shape (tests/e2e/prodshape.py: gunicorn with 2 sync workers,
one rq worker, PostgreSQL, Redis) takes anonymous reports at POST /report; the baseline
(bench/baseline_app.py) is a tiny Flask app under gunicorn with the same 2 workers and the
same database whose one POST route parses the same form, runs the same Argon2id as the
receipt derivation (Config.receipt_kdf) and inserts one row of about a tip's size.

Both are loaded by 16 client threads (`http.client`, one connection per request, as
gunicorn's sync workers close after each answer). A real submission needs a signed one-time
form token at least `portal_min_fill_seconds` old, so after the warm-up the client fetches
enough report forms for all windows (GET /report, not measured, twice the warm-up rate) and
waits for them to come of age; the windows measure POSTs only. The per-client and global
submission limits are raised through CASEAPP_PORTAL_SUBMIT_LIMIT / CASEAPP_PORTAL_GLOBAL_LIMIT
(all requests come from one address); the limiter still runs, in Redis. Windows alternate
back to back (real, baseline, real, baseline, …) so that a noisy machine hits both alike;
the rate of each is completed submissions / time until the last answer, over its windows.

Prints both rates and `RATIO submit_throughput …` (target ≥ 0.8); exit 1 on a miss only
with --strict.
"""

from __future__ import annotations

import argparse
import os
import queue
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from baseline_app import SCHEMA, receipt_kdf
from benchhttp import Client, flush_redis, fresh_database, gunicorn, hidden_value, redis_url

THREADS = 16
TARGET = 0.8
DATABASE = "bench_submit"
REDIS_DB = int(os.environ.get("BENCH_SUBMIT_REDIS_DB", "10"))
UNLIMITED = {"CASEAPP_PORTAL_SUBMIT_LIMIT": "1000000 per minute",
             "CASEAPP_PORTAL_GLOBAL_LIMIT": "1000000 per minute"}
FORM = {
    "category": "sex_identification", "district": "411702", "township": "",
    "place_name": "仁爱诊所", "address": "驿城区 解放路 12号", "subject_phone": "13800138000",
    "when": "上个月", "how_known": "saw", "contact": "portal", "contact_phone": "",
    "narrative": "某诊所用B超鉴定胎儿性别，收费600元，医生说是男孩。" * 6, "hp_note": "",
}
RECEIPT_MARK = 'class="receipt"'


@dataclass
class Tally:
    """Completed submissions and the time they took, over one or more windows."""

    done: int = 0
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """Submissions per second."""
        return self.done / self.seconds if self.seconds else 0.0

    def add(self, other: Tally) -> None:
        """Fold another window into this one."""
        self.done += other.done
        self.seconds += other.seconds
        self.failures += other.failures


def load(post: Callable[[], str | None], seconds: float, threads: int = THREADS) -> Tally:
    """Keep `threads` requests in flight for `seconds`; count answers until the last one."""
    lock = threading.Lock()
    tally = Tally()
    start = time.perf_counter()
    deadline = start + seconds
    last = [start]

    def run() -> None:
        while time.perf_counter() < deadline:
            error = post()
            now = time.perf_counter()
            with lock:
                if error:
                    tally.failures.append(error)
                    return
                tally.done += 1
                last[0] = max(last[0], now)

    pool = [threading.Thread(target=run) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    tally.seconds = last[0] - start
    return tally


def answered(status: int, body: str) -> str | None:
    """None when the answer is a receipt page, else what went wrong."""
    return None if status == 200 and RECEIPT_MARK in body else f"HTTP {status}"


class Portal:
    """Posts real reports, each with its own form token fetched ahead of time."""

    def __init__(self, base_url: str, min_fill_seconds: int) -> None:
        self.base_url = base_url
        self.min_fill = min_fill_seconds
        self.tokens: queue.SimpleQueue[str] = queue.SimpleQueue()

    def _token(self, _i: int) -> str:
        return hidden_value(Client(self.base_url).get("/report").body, "form_token")

    def prepare(self, count: int) -> None:
        """Fetch `count` report forms, then wait until every token is old enough to send."""
        with ThreadPoolExecutor(8) as pool:
            for token in pool.map(self._token, range(count)):
                self.tokens.put(token)
        time.sleep(self.min_fill + 1.5)

    def post(self) -> str | None:
        """Send one report (a new anonymous client each time)."""
        try:
            token = self.tokens.get_nowait()
        except queue.Empty:
            return "ran out of form tokens"
        reply = Client(self.base_url).post("/report", {**FORM, "form_token": token})
        return answered(reply.status, reply.body)


def baseline_post(base_url: str) -> Callable[[], str | None]:
    """Send the same form to the baseline route."""
    def post() -> str | None:
        reply = Client(base_url).post("/submit", FORM)
        return answered(reply.status, reply.body)
    return post


def checked(name: str, tally: Tally) -> Tally:
    """Refuse a window with failed requests (a rate limit, an error page)."""
    if tally.failures:
        raise RuntimeError(f"{name}: {len(tally.failures)} failed requests, first: "
                           f"{tally.failures[0]}")
    return tally


def measure(real_url: str, baseline_url: str, min_fill: int, window: float,
            rounds: int) -> tuple[Tally, Tally]:
    """Warm both up, then alternate `rounds` windows of each: (caseapp, baseline)."""
    portal = Portal(real_url, min_fill)
    baseline = baseline_post(baseline_url)
    portal.prepare(3 * THREADS)
    warm_real = checked("caseapp warm-up", load(portal.post, 4))
    checked("baseline warm-up", load(baseline, 4))
    portal.prepare(int(warm_real.rate * window * rounds * 2) + THREADS * rounds)
    real, plain = Tally(), Tally()
    for _ in range(rounds):  # back to back: no idle gap that only one side would enjoy
        real.add(checked("caseapp", load(portal.post, window)))
        plain.add(checked("baseline", load(baseline, window)))
    return real, plain


def main(argv: list[str] | None = None) -> int:
    """Set up both servers, measure, print; --strict exits 1 on a miss."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=float, default=8.0, help="seconds per window")
    parser.add_argument("--rounds", type=int, default=4, help="windows per server")
    parser.add_argument("--strict", action="store_true", help="exit 1 when the target is missed")
    args = parser.parse_args(argv)
    from sqlalchemy import create_engine, text

    from caseapp.config import Config
    from tests.e2e import prodshape

    min_fill = Config(instance_path=Path("."), database_url="", secret_key=""
                      ).portal_min_fill_seconds
    database_url, redis = fresh_database(DATABASE), redis_url(REDIS_DB)
    flush_redis(redis)
    instance = Path(tempfile.mkdtemp(prefix="caseapp-bench-submit-"))
    plain_env = prodshape.shape_env
    try:
        with prodshape.production_shape(database_url=database_url, redis_url=redis,
                                        instance=instance, port=prodshape.free_port(),
                                        web_workers=2, extra_env=UNLIMITED) as real_url:
            engine = create_engine(database_url)
            with engine.begin() as conn:
                conn.execute(text(SCHEMA))
            engine.dispose()
            with gunicorn("bench.baseline_app:create_app()",
                          plain_env(database_url, redis, instance), workers=2) as base:
                real, plain = measure(real_url, base.base_url, min_fill, args.window,
                                      args.rounds)
    finally:
        shutil.rmtree(instance, ignore_errors=True)

    cost, memory, lanes = receipt_kdf()
    ratio = real.rate / plain.rate
    print(f"[submit] {THREADS} connections, gunicorn 2 sync workers, PostgreSQL; Argon2id "
          f"t={cost} m={memory // 1024} MiB p={lanes}")
    print(f"[submit] caseapp POST /report: {real.done} in {real.seconds:.1f} s = "
          f"{real.rate:.2f}/s; baseline (Argon2id + insert): {plain.done} in "
          f"{plain.seconds:.1f} s = {plain.rate:.2f}/s")
    ok = ratio >= TARGET
    print(f"RATIO submit_throughput {ratio:.2f} (target ≥ {TARGET}) {'PASS' if ok else 'MISS'}")
    return 0 if ok or not args.strict else 1


if __name__ == "__main__":
    sys.exit(main())
