"""Shared set-up of the case benchmarks: an app on a fresh database, 100,000 tips, 20,000 cases.

Rows are bulk-inserted (`db.session.execute(insert(...), rows)`). What a page decrypts is real
ciphertext (tip contents and their symmetric department wraps, case headers and theirs);
what nothing reads in the benchmark (tipster and escrow wraps, department seals) is a fake
blob of the right size.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Flask, g
from sqlalchemy import func, insert, select, text

from caseapp import create_app
from caseapp.accounts.keys import Keyring, create_department, current_keyring
from caseapp.accounts.models import User
from caseapp.accounts.service import authenticate, create_user
from caseapp.cases.common import header_aad
from caseapp.cases.keys import wrap_aad
from caseapp.cases.models import (
    Case,
    CaseDepartment,
    CaseKeyWrap,
    Disposition,
    DispositionMeasure,
    Task,
    TipIntake,
)
from caseapp.config import Config
from caseapp.crypto import (
    ACTIVE_EPOCH,
    KdfParams,
    PrivateKey,
    blind_index,
    encrypt_field,
    new_pad,
    random_key,
    wrap_key,
    wrap_pad,
)
from caseapp.extensions import db
from caseapp.keys import ensure_keystore, keystore
from caseapp.retention.locks import padded, retention_keys
from caseapp.retention.models import RetentionLock
from caseapp.tips.models import Tip, TipBlindIndex, TipKeyWrap
from caseapp.tips.service import content_aad, key_aad

N_TIPS = int(os.environ.get("BENCH_TIPS", "100000"))
N_CASES = int(os.environ.get("BENCH_CASES", "20000"))
DISTRICTS = ["411702", "411721", "411722", "411723", "411724", "411725", "411726", "411727",
             "411728", "411729"]
CATEGORIES = ["sex_identification", "sex_selective_abortion", "abortion_drug_sale",
              "infant_abandonment", "other"]
TIP_STATUSES = ["received"] * 2 + ["under_review", "needs_info", "case_opened",
                                   "case_opened", "closed", "rejected", "referred"]
FAKE_SEAL = os.urandom(1168)
PASSWORD = "bench-password-1234"
FAST = KdfParams(1, 1024, 1)
BATCH = 5000


@dataclass
class Bench:
    """A seeded app and the ids the measurements need."""

    app: Flask
    backend: str
    health: int
    police: int
    intake: int
    investigator: int
    intake_key: PrivateKey
    investigator_key: PrivateKey


def backends() -> list[tuple[str, str]]:
    """(name, URL) of each database to run on: SQLite always, PostgreSQL when configured."""
    out = [("sqlite", "")]
    url = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
    if url:
        out.append(("postgresql", url))
    return out


def _app(url: str) -> Flask:
    inst = Path(tempfile.mkdtemp(prefix="caseapp-bench-"))
    cfg = Config(instance_path=inst, database_url=url or f"sqlite:///{inst / 'bench.sqlite3'}",
                 secret_key="bench", testing=True, password_kdf=FAST, receipt_kdf=FAST)
    app = create_app(cfg)
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        db.create_all()
        ensure_keystore()
    return app


def _bulk(model: Any, rows: list[dict[str, Any]]) -> None:
    for i in range(0, len(rows), BATCH):
        db.session.execute(insert(model), rows[i:i + BATCH])


def _lock(kind: str, subject_id: int, raw_key: bytes, locks: list[dict[str, Any]]) -> bytes:
    """A retention lock row (pad under R["active"]); returns the content key of `raw_key`."""
    pad = new_pad()
    epoch_key = retention_keys().get(ACTIVE_EPOCH, create=True)
    assert epoch_key is not None
    locks.append(dict(subject_kind=kind, subject_id=subject_id, epoch=ACTIVE_EPOCH,
                      wrapped_pad=wrap_pad(epoch_key, pad, kind, subject_id, ACTIVE_EPOCH),
                      created_at=datetime(2024, 1, 1)))
    return padded(pad, kind, subject_id, raw_key)


def _tips(rng: random.Random, health: int, sym: bytes, index_key: bytes, kid: str) -> None:
    start = date.today() - timedelta(days=730)
    clinics = [f"诊所 {i}" for i in range(N_TIPS // 5)]
    tips, wraps, indexes, intake, locks = [], [], [], [], []
    for tid in range(1, N_TIPS + 1):
        raw = random_key()
        key = _lock("tip", tid, raw, locks)
        submitted = start + timedelta(days=rng.randrange(730))
        clinic = rng.choice(clinics)
        body = {"v": 1, "submitted_at": f"{submitted.isoformat()}T10:00:00",
                "fields": {"narrative": f"某诊所用B超鉴定胎儿性别，收费{rng.randrange(200, 900)}"
                                        "元。" * 3, "place_name": clinic, "address": "",
                           "subject_phone": ""}}
        status = rng.choice(TIP_STATUSES)
        tips.append(dict(id=tid, ref=f"T-{tid:07d}", category=rng.choice(CATEGORIES),
                         district=rng.choice(DISTRICTS), channel="web", status=status,
                         submitted_on=submitted, receipt_lookup=f"{tid:064x}",
                         tipster_public_key=FAKE_SEAL[:1216 - 48], intake_department_id=health,
                         content=encrypt_field(key, json.dumps(body, ensure_ascii=False),
                                               content_aad(tid))))
        wraps.append(dict(tip_id=tid, holder_kind="department_sym", holder_id=str(health),
                          wrapped=wrap_key(sym, raw, key_aad(tid, "department", health))))
        wraps.append(dict(tip_id=tid, holder_kind="department", holder_id=str(health),
                          wrapped=FAKE_SEAL))
        digest = blind_index(index_key, "clinic", clinic)
        indexes.append(dict(tip_id=tid, kind="clinic", value=digest, key_id=kid))
        if status not in ("received",):
            days = min(int(rng.expovariate(1 / 6)), 60)
            intake.append(dict(tip_id=tid, acknowledged_at=datetime.combine(
                submitted, datetime.min.time()), first_decision_days=days,
                first_decision_at=datetime.combine(submitted + timedelta(days=days),
                                                   datetime.min.time())))
    _bulk(Tip, tips)
    _bulk(TipKeyWrap, wraps)
    _bulk(TipBlindIndex, indexes)
    _bulk(TipIntake, intake)
    _bulk(RetentionLock, locks)


def _cases(rng: random.Random, health: int, police: int, sym: bytes) -> None:
    start = date.today() - timedelta(days=700)
    cases, members, wraps, dispositions, measures, tasks = [], [], [], [], [], []
    locks: list[dict[str, Any]] = []
    for cid in range(1, N_CASES + 1):
        raw = random_key()
        key = _lock("case", cid, raw, locks)
        created = start + timedelta(days=rng.randrange(700))
        closed = rng.random() < 0.6
        days = rng.randrange(5, 200) if closed else None
        lead, joint = (health, police) if cid % 2 else (police, health)
        cases.append(dict(
            id=cid, ref=f"C-{cid:07d}", category=rng.choice(CATEGORIES),
            district=rng.choice(DISTRICTS), status="closed" if closed else rng.choice(
                ["open", "investigating", "disposition_proposed", "reopened"]),
            lead_department_id=lead, key_version=1, header_version=1,
            header=encrypt_field(key, json.dumps({"title": f"诊所 {cid} 非法鉴定胎儿性别",
                                                  "summary": "群众举报，多次使用B超。" * 4},
                                                 ensure_ascii=False), header_aad(cid)),
            created_at=datetime.combine(created, datetime.min.time()), created_on=created,
            updated_at=datetime.combine(created, datetime.min.time()) + timedelta(
                seconds=rng.randrange(86400 * 30)),
            due_on=created + timedelta(days=90), days_to_close=days,
            closed_on=created + timedelta(days=days) if days else None, reopen_count=0))
        members += [dict(case_id=cid, department_id=lead, role="lead"),
                    dict(case_id=cid, department_id=joint, role="joint")]
        for dept in (health, police):
            wraps.append(dict(case_id=cid, key_version=1, holder_kind="department",
                              holder_id=str(dept), wrapped=FAKE_SEAL))
        wraps.append(dict(case_id=cid, key_version=1, holder_kind="department_sym",
                          holder_id=str(health), wrapped=wrap_key(sym, raw,
                                                                  wrap_aad(cid, 1, health))))
        if closed:
            dispositions.append(dict(id=cid, case_id=cid, key_version=1, status="approved",
                                     outcome=rng.choice(["substantiated", "unsubstantiated",
                                                         "insufficient_evidence"]),
                                     body=FAKE_SEAL[:200], proposed_at=datetime(2024, 1, 1),
                                     decided_on=created + timedelta(days=days or 0)))
            measures.append(dict(disposition_id=cid, kind=rng.choice(["fine", "warning"]),
                                 amount=rng.randrange(1000, 50000)))
        tasks.append(dict(case_id=cid, key_version=1, body=FAKE_SEAL[:120], status="todo",
                          assignee_department_id=joint, due_on=created + timedelta(days=30),
                          created_at=datetime(2024, 1, 1), updated_at=datetime(2024, 1, 1)))
    for model, rows in ((Case, cases), (CaseDepartment, members), (CaseKeyWrap, wraps),
                        (Disposition, dispositions), (DispositionMeasure, measures),
                        (Task, tasks), (RetentionLock, locks)):
        _bulk(model, rows)


def seed(backend: str, url: str) -> Bench:
    """A fresh database with departments, two users holding keys, tips and cases."""
    started = time.perf_counter()
    app = _app(url)
    rng = random.Random(20250601)
    with app.app_context():
        health = create_department("health", "卫生健康委", "Health")
        police = create_department("public_security", "公安局", "Police")
        intake = create_user("intake1", "Intake", health, ["intake"], PASSWORD)
        inv = create_user("inv1", "Investigator", health, ["investigator"], PASSWORD)
        from caseapp.accounts.keys import escrow_grant
        from caseapp.crypto import read_escrow_file
        from caseapp.crypto.keystore import ESCROW_FILE

        kid, escrow = read_escrow_file(app.config["CASEAPP"].instance_path / ESCROW_FILE)
        for user in (intake, inv):
            escrow_grant(escrow, kid, health.id, user)
        _u, intake_key = authenticate("intake1", PASSWORD)
        _u, inv_key = authenticate("inv1", PASSWORD)
        sym = Keyring(inv, inv_key).department_symmetric(health.id)
        store = keystore()
        _tips(rng, health.id, sym, store.index_key, store.index_current)
        _cases(rng, health.id, police.id, sym)
        db.session.commit()
        if backend == "postgresql":
            with db.engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").execute(
                    text("VACUUM ANALYZE"))
        bench = Bench(app, backend, health.id, police.id, intake.id, inv.id, intake_key, inv_key)
        db.session.expunge_all()
        db.session.remove()
    print(f"[{backend}] seeded {N_TIPS} tips and {N_CASES} cases in "
          f"{time.perf_counter() - started:.1f} s")
    return bench


@contextmanager
def request_as(bench: Bench, user_id: int, key: PrivateKey) -> Iterator[Keyring]:
    """A fresh request (so nothing is cached on `g`) with the user's keyring."""
    with bench.app.test_request_context("/"):
        row = db.session.get(User, user_id)
        g._caseapp_keyring = Keyring(row, key)
        from flask_login import login_user

        login_user(row)
        yield current_keyring()
        db.session.rollback()


def timed(fn: Callable[[], Any], repeat: int = 15, warmup: int = 2) -> float:
    """Median wall time of `fn` in milliseconds."""
    for _ in range(warmup):
        fn()
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - t0) * 1000)
    return statistics.median(runs)


def count_tips(bench: Bench) -> Callable[[], Any]:
    """One `count(*)` over the tips table in its own transaction (the stats baseline)."""
    def run() -> Any:
        with bench.app.app_context():
            n = db.session.scalar(select(func.count()).select_from(Tip))
            db.session.rollback()
            return n
    return run


def report(backend: str, what: str, base_label: str, base_ms: float, ms: float,
           target: float) -> bool:
    """Print absolute figures and the ratio; True when within the target."""
    ratio = ms / base_ms if base_ms else float("inf")
    ok = ratio <= target
    print(f"[{backend}] {what}: {ms:.2f} ms vs {base_label} {base_ms:.2f} ms → ratio "
          f"{ratio:.2f} (target ≤ {target:g}) {'OK' if ok else 'OVER'}")
    return ok
