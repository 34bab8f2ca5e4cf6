"""Attack suite: faults. A failing commit, Redis down, a worker killed mid-job, and an
interrupted escrow-key rotation each leave a consistent state that a re-run completes.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from flask import Flask
from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError

from caseapp import create_app
from caseapp.accounts.permissions import Role
from caseapp.audit.service import record
from caseapp.config import Config
from caseapp.extensions import db
from caseapp.jobs import OutboxJob, dispatch_pending, job, status
from caseapp.jobs.runner import set_app
from caseapp.notify.models import Notification
from caseapp.tips.models import Tip, TipFile, TipFormToken
from tests import factories
from tests.rewards.helpers import CARD, ID_X, PAYEE, make_reward, make_tip
from tests.tips.portal import csrf_of, fields, form_token, post_report, receipt_of

DOWN_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1
QUEUE = "caseapp-sec-d-faults"
ROOT = Path(__file__).resolve().parents[2]
M = TypeVar("M")


@pytest.fixture
def config(config: Config, tmp_path: Path) -> Config:
    """Generous portal limits; uploads spill to an (encrypted) spool folder we can inspect."""
    spool = tmp_path / "spool"
    spool.mkdir()
    return config.with_(portal_submit_limit="500 per minute",
                        portal_followup_limit="500 per minute",
                        portal_global_limit="5000 per minute",
                        portal_spool_memory_bytes=1024, portal_spool_dir=spool)


@pytest.fixture
def staff(app: Flask) -> dict[str, int]:
    """Intake (health) and finance departments, each with a key holder."""
    with app.app_context():
        health = factories.make_department("health")
        finance = factories.make_department("finance")
        ids = {"health": health.id, "finance": finance.id,
               "intake": factories.make_user("intake1", health, [Role.INTAKE]).id,
               "officer": factories.make_user("officer1", finance, [Role.FINANCE_OFFICER]).id}
        db.session.remove()
    return ids


def _app_with(app: Flask, **changes: Any) -> Flask:
    return create_app(app.config["CASEAPP"].with_(**changes))


@pytest.fixture
def down_app(app: Flask) -> Iterator[Flask]:
    """The test app's database and keys with a REDIS_URL where nothing listens."""
    application = _app_with(app, redis_url=DOWN_REDIS, rq_queue=QUEUE)
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def rq_app(app: Flask, redis_url: str) -> Iterator[Flask]:
    """The same database with a real Redis (flushed), rq retries without delay."""
    from caseapp.jobs.outbox import redis_connection

    redis_connection(redis_url).flushdb()
    application = _app_with(app, redis_url=redis_url, rq_queue=QUEUE, job_retry_intervals=(0,))
    yield application
    set_app(None)
    with application.app_context():
        db.session.remove()
        db.engine.dispose()
    redis_connection(redis_url).flushdb()


def count(model: Any, *where: Any) -> int:
    """Rows of a model (inside an app context)."""
    return int(db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def get(model: type[M], ident: Any) -> M:
    """A row that must exist (inside an app context)."""
    row = db.session.get(model, ident)
    assert row is not None, (model, ident)
    return row


def files_in(*roots: Path) -> list[Path]:
    """Every file below the roots."""
    return [p for root in roots if root.exists() for p in root.rglob("*") if p.is_file()]


# -- a database error at commit during a submission ----------------------------------------
class CommitFails:
    """Makes the next COMMIT on an engine fail, as a lost connection or full disk would."""

    def __init__(self, engine: Any, error: BaseException) -> None:
        self.engine, self.error, self.fired = engine, error, 0

    def __enter__(self) -> CommitFails:
        event.listen(self.engine, "commit", self._fail)
        return self

    def _fail(self, _conn: Any) -> None:
        if not self.fired:
            self.fired += 1
            raise self.error

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "commit", self._fail)


def _jpeg() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (400, 300), (20, 160, 40)).save(buf, "JPEG")
    return buf.getvalue()


@pytest.mark.parametrize("error, code", [
    (OperationalError("COMMIT", None, Exception("server closed the connection")), 503),
    (RuntimeError("the process is being torn down"), 500),
])
def test_commit_failure_gives_no_receipt_and_leaves_nothing(
        app: Flask, staff: dict[str, int], config: Config, error: BaseException,
        code: int) -> None:
    app.config["PROPAGATE_EXCEPTIONS"] = False  # answer like production
    client = app.test_client()
    token = form_token(client)
    files = [(_jpeg(), "IMG_2001.jpg"), (b"%PDF-1.4\n" + b"0" * 5000 + b"\n%%EOF", "a.pdf")]
    with app.app_context():
        engine = db.engine
    with CommitFails(engine, error) as failing:
        resp = post_report(client, fields(narrative="FAULT-NARRATIVE-q2"), files, token=token)
    assert failing.fired == 1
    assert resp.status_code == code
    page = resp.get_data(as_text=True)
    assert 'class="receipt"' not in page  # no receipt for a tip that was not stored
    if code == 503:  # the form comes back with what was typed, and says to send again
        assert "FAULT-NARRATIVE-q2" in page and 'name="form_token"' in page
    assert "Set-Cookie" not in resp.headers  # no portal session was started
    with app.app_context():
        assert count(Tip) == 0 and count(TipFile) == 0 and count(TipFormToken) == 0
    uploads = config.instance_path / "uploads"
    assert files_in(uploads, config.portal_spool_dir or uploads) == []  # no orphan file
    # the citizen sends the same form again and now gets a receipt
    again = post_report(client, fields(narrative="FAULT-NARRATIVE-q2"), files, token=token)
    assert again.status_code == 200 and len(receipt_of(again)) == 28
    with app.app_context():
        assert count(Tip) == 1 and count(TipFile) == 2
    assert len(files_in(uploads)) == 2 and files_in(config.portal_spool_dir or uploads) == []


# -- Redis down ------------------------------------------------------------------------------
def test_portal_works_while_redis_is_down(down_app: Flask, staff: dict[str, int]) -> None:
    """Rate limits and the receipt throttle fall back to memory: tips are still accepted."""
    client = down_app.test_client()
    sent = post_report(client, fields(), [(b"ID3\x04" + b"x" * 3000, "call.mp3")])
    assert sent.status_code == 200, sent.status_code
    receipt = receipt_of(sent)
    other = down_app.test_client()
    wrong = receipt[:-1] + ("0" if receipt[-1] != "0" else "1")
    assert other.post("/follow-up", data={"receipt": wrong}).status_code == 400
    assert other.post("/follow-up", data={"receipt": receipt}).status_code == 303
    assert other.get("/follow-up/tip").status_code == 200
    with down_app.app_context():
        assert count(Tip) == 1


def _claim_through_portal(application: Flask, receipt: str) -> Any:
    client = application.test_client()
    assert client.post("/follow-up", data={"receipt": receipt}).status_code == 303
    page = client.get("/follow-up/reward")
    assert page.status_code == 200
    return client.post("/follow-up/reward", data={
        "payee_name": PAYEE, "id_number": ID_X, "method": "bank",
        "bank_name": "中国工商银行 驻马店分行", "account_number": CARD, "office": "",
        "csrf_token": csrf_of(page.get_data(as_text=True))})


def test_redis_down_change_committed_job_delivered_later(
        app: Flask, staff: dict[str, int], down_app: Flask, rq_app: Flask) -> None:
    from caseapp.rewards.models import Reward

    with app.app_context():
        tip_id, receipt = make_tip()
        reward_id = make_reward(app.config["CASEAPP"], [tip_id])
        db.session.remove()
    claimed = _claim_through_portal(down_app, receipt)
    assert claimed.status_code == 200  # the citizen is told the claim arrived
    with down_app.app_context():
        assert get(Reward, reward_id).state == "claimed"  # committed
        row = db.session.scalars(select(OutboxJob)).one()
        assert row.name == "rewards.notify_claim" and row.dispatched_at is None
        assert dispatch_pending() == 0  # Redis still down: the row stays
        info = status()
        assert info.pending == 1 and info.rq_error is not None
        assert count(Notification) == 0
        row_id = row.id
    with rq_app.app_context():  # Redis is back
        assert dispatch_pending() == 1
        assert dispatch_pending() == 0
    factories.burst(rq_app)
    with rq_app.app_context():
        db.session.expire_all()
        done = db.session.get(OutboxJob, row_id)
        assert done is not None and done.done_at is not None and done.attempts == 1
        assert count(Notification, Notification.object_id == str(reward_id)) == 1
    factories.burst(rq_app)  # nothing left to run
    from caseapp.jobs import run_outbox_job

    run_outbox_job(row_id)  # a duplicate delivery changes nothing
    with rq_app.app_context():
        assert count(Notification) == 1


# -- a worker killed mid-job -------------------------------------------------------------
@job("test.faults.block")
def blocking(marker: str, gate: str) -> None:
    """Writes its effect, then waits inside its transaction until the file `gate` exists."""
    record("test.effect", object_type="test", object_id=marker)
    db.session.flush()
    Path(gate + ".started").write_text(str(os.getpid()))
    while not Path(gate).exists():
        time.sleep(0.05)


WORKER_SCRIPT = """
import json, sys
sys.path.insert(0, sys.argv[1])
import tests.security.test_faults  # registers test.faults.block
from pathlib import Path
from caseapp import create_app
from caseapp.config import Config
from caseapp.jobs.worker import run_worker
opts = json.loads(sys.argv[2])
cfg = Config(instance_path=Path(opts["instance"]), database_url=opts["db"],
             secret_key="test-secret", redis_url=opts["redis"], rq_queue=opts["queue"],
             job_retry_intervals=(0,), testing=True)
run_worker(create_app(cfg), burst=True, simple=opts["simple"])
"""


def _wait_for(path: Path, proc: subprocess.Popen[bytes], limit: float = 120.0) -> None:
    """Wait until `path` exists (a guard against hanging, not a timing assertion)."""
    deadline = time.monotonic() + limit
    while not path.exists():
        if proc.poll() is not None:
            out = proc.stdout.read().decode() if proc.stdout else ""
            raise AssertionError(f"worker exited with {proc.returncode}: {out[-3000:]}")
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.05)


def _effects(marker: str) -> int:
    from caseapp.audit.models import AuditEntry

    db.session.expire_all()
    return count(AuditEntry, AuditEntry.action == "test.effect", AuditEntry.object_id == marker)


@pytest.mark.parametrize("simple", [True, False], ids=["simple-worker", "forking-worker"])
def test_worker_killed_mid_job_reruns_it_once(rq_app: Flask, tmp_path: Path, simple: bool,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from rq.job import Job, JobStatus

    from caseapp.jobs import enqueue
    from caseapp.jobs.outbox import rq_job_id, rq_queue
    from caseapp.jobs.worker import run_worker

    cfg = rq_app.config["CASEAPP"]
    gate = tmp_path / "gate"
    with rq_app.app_context():
        row_id = enqueue("test.faults.block", marker="k1", gate=str(gate)).id
        db.session.commit()
        db.session.remove()
    opts = {"instance": str(cfg.instance_path), "db": cfg.database_url, "redis": cfg.redis_url,
            "queue": cfg.rq_queue, "simple": simple}
    import json

    proc = subprocess.Popen([sys.executable, "-c", WORKER_SCRIPT, str(ROOT), json.dumps(opts)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        _wait_for(Path(f"{gate}.started"), proc)
        runner_pid = int(Path(f"{gate}.started").read_text())
        proc.send_signal(signal.SIGKILL)  # the worker dies without any clean-up
        if runner_pid != proc.pid:  # the forked work horse dies with it (host lost)
            os.kill(runner_pid, signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert (runner_pid == proc.pid) is simple

    queue = rq_queue(rq_app)
    rq_job = Job.fetch(rq_job_id(row_id), connection=queue.connection)
    assert rq_job.get_status() == JobStatus.STARTED  # rq still believes it runs
    with rq_app.app_context():
        assert _effects("k1") == 0  # the killed transaction left nothing
        row = db.session.get(OutboxJob, row_id)
        assert row is not None and row.done_at is None and row.failed_at is None
        db.session.remove()

    gate.write_text("go")
    # A new worker at once: the old one might still be alive, so nothing runs twice.
    run_worker(rq_app, burst=True, simple=True)
    with rq_app.app_context():
        assert _effects("k1") == 0
        db.session.remove()
    # Once the dead worker's heartbeat has expired, a new worker's maintenance pass finds
    # the abandoned job and rq runs it again (caseapp's clock is not rq's: move rq's).
    import rq.registry

    later = time.time() + 24 * 3600
    monkeypatch.setattr(rq.registry, "current_timestamp", lambda: later)
    run_worker(rq_app, burst=True, simple=True)
    monkeypatch.undo()
    with rq_app.app_context():
        assert _effects("k1") == 1
        row = db.session.get(OutboxJob, row_id)
        assert row is not None and row.done_at is not None and row.failed_at is None
        db.session.remove()
    assert rq_job.get_status(refresh=True) == JobStatus.FINISHED
    run_worker(rq_app, burst=True, simple=True)  # nothing is left to run
    with rq_app.app_context():
        assert _effects("k1") == 1


# -- an interrupted escrow-key rotation resumes ----------------------------------------------
@pytest.fixture
def holdings(app: Flask, staff: dict[str, int]) -> dict[str, Any]:
    """Departments, tips (one promoted to a joint case), and a claimed reward."""
    from caseapp.cases.decisions import promote
    from caseapp.rewards.claims import submit_claim
    from tests.rewards.helpers import bank_claim

    with app.app_context():
        police = factories.make_department("public_security")
        lead = factories.make_user("lead_h", "health", [Role.DEPT_LEAD])
        inv_p = factories.make_user("inv_p", police, [Role.INVESTIGATOR])
        tips = [make_tip()[0] for _ in range(4)]
        case = promote(get(Tip, tips[0]), factories.keyring_for(staff["intake"]),
                       factories.keyring_for(staff["intake"]).user, lead_department_id=
                       staff["health"], joint_department_ids=[police.id], title="Clinic",
                       summary="Summary", reason="strong lead")
        reward_id = make_reward(app.config["CASEAPP"], [tips[3]])
        submit_claim(db.session, reward_id, tips[3], bank_claim())
        ids = {"tips": tips, "case": case.id, "reward": reward_id, "police": police.id,
               "lead": lead.id, "inv_p": inv_p.id, **staff}
        db.session.remove()
    return ids


def escrow_secrets(kid: str, private: Any) -> dict[tuple[str, str], bytes]:
    """Everything sealed to escrow key `kid`, opened with its private key (app context)."""
    from caseapp.accounts.models import Department
    from caseapp.cases.models import CaseKeyWrap
    from caseapp.crypto import escrow_aad, unseal
    from caseapp.rewards.claims import claim_escrow_aad
    from caseapp.rewards.models import Reward
    from caseapp.tips.models import TipKeyWrap

    db.session.expire_all()
    out: dict[tuple[str, str], bytes] = {}
    for dept in db.session.scalars(select(Department).where(Department.escrow_kid == kid)):
        out[("dept", str(dept.id))] = unseal(dept.escrow_wrap, private,
                                             escrow_aad("dept", dept.id, kid))
    for wrap in db.session.scalars(select(TipKeyWrap).where(
            TipKeyWrap.holder_kind == "escrow", TipKeyWrap.holder_id == kid)):
        assert ("tip", str(wrap.tip_id)) not in out, "a tip key sealed twice to escrow"
        out[("tip", str(wrap.tip_id))] = unseal(wrap.wrapped, private,
                                                escrow_aad("tip", wrap.tip_id, kid))
    for cwrap in db.session.scalars(select(CaseKeyWrap).where(
            CaseKeyWrap.holder_kind == "escrow", CaseKeyWrap.holder_id == kid)):
        name = f"{cwrap.case_id}:v{cwrap.key_version}"
        assert ("case", name) not in out, "a case key sealed twice to escrow"
        out[("case", name)] = unseal(cwrap.wrapped, private, escrow_aad("case", name, kid))
    for reward in db.session.scalars(select(Reward).where(Reward.claim_escrow_kid == kid)):
        assert reward.claim_escrow is not None
        out[("claim", str(reward.id))] = unseal(reward.claim_escrow, private,
                                                claim_escrow_aad(reward.id, kid))
    return out


def department_view(holdings: dict[str, Any]) -> dict[str, Any]:
    """What the departments open with their own keys: tip keys, case keys, the claim."""
    from caseapp.cases.keys import open_case_key
    from caseapp.cases.models import Case
    from caseapp.cases.tipkeys import intake_tip_key
    from caseapp.rewards.claims import open_claim
    from caseapp.rewards.models import Reward

    intake = factories.keyring_for(holdings["intake"])
    out: dict[str, Any] = {f"tip {t}": intake_tip_key(get(Tip, t), intake)
                           for t in holdings["tips"]}
    case = get(Case, holdings["case"])
    for who in ("lead", "inv_p"):
        out[f"case {who}"] = open_case_key(case, factories.keyring_for(holdings[who]))
    claim = open_claim(get(Reward, holdings["reward"]),
                       factories.keyring_for(holdings["officer"]))
    out["claim"] = (claim.payee_name, claim.account_number)
    assert out["claim"] == (PAYEE, CARD) and out["case lead"] == out["case inv_p"]
    db.session.commit()
    return out


def escrow_rows() -> int:
    """How many escrow seals exist in all (any key)."""
    from caseapp.accounts.models import Department
    from caseapp.cases.models import CaseKeyWrap
    from caseapp.rewards.models import Reward
    from caseapp.tips.models import TipKeyWrap

    return (count(Department) + count(TipKeyWrap, TipKeyWrap.holder_kind == "escrow")
            + count(CaseKeyWrap, CaseKeyWrap.holder_kind == "escrow")
            + count(Reward, Reward.claim_escrow.is_not(None)))


class Interrupt(Exception):
    """The rotation is cut off here (power loss, Ctrl-C, a crash)."""


def _interrupt_after(monkeypatch: pytest.MonkeyPatch, module: str, n: int) -> None:
    """`seal` in `module` works `n` times, then raises Interrupt."""
    import importlib

    target = importlib.import_module(module)
    real = target.seal
    calls = {"n": 0}

    def seal(*args: Any, **kw: Any) -> bytes:
        calls["n"] += 1
        if calls["n"] > n:
            raise Interrupt(f"interrupted in {module}")
        return real(*args, **kw)

    monkeypatch.setattr(target, "seal", seal)


@pytest.mark.parametrize("module, n", [
    ("caseapp.accounts.keys", 2),  # during the department keys
    ("caseapp.tips.escrow", 2),  # during the tip keys
    ("caseapp.cases.keys", 0),  # during the case keys
    ("caseapp.rewards.claims", 0),  # during the claims
])
def test_interrupted_escrow_rotation_resumes(app: Flask, holdings: dict[str, Any],
                                             config: Config, module: str, n: int,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import re

    from caseapp.accounts.models import Department
    from caseapp.crypto import escrow_aad, read_escrow_file, unseal
    from caseapp.crypto.errors import DecryptionError
    from caseapp.crypto.keystore import ESCROW_FILE

    old_path = config.instance_path / ESCROW_FILE
    old_kid, old_private = read_escrow_file(old_path)
    with app.app_context():
        before = escrow_secrets(old_kid, old_private)
        total = escrow_rows()
        opened = department_view(holdings)
        db.session.remove()
    kinds = {k for k, _ in before}
    assert kinds == {"dept", "tip", "case", "claim"} and len(before) == total
    runner = app.test_cli_runner()
    _interrupt_after(monkeypatch, module, n)
    first = runner.invoke(args=["keys", "rotate-escrow", "--old-escrow-key", str(old_path)])
    monkeypatch.undo()
    assert isinstance(first.exception, Interrupt), first.output
    written = re.search(r"written to (\S+);", first.output)
    assert written, first.output
    new_path = Path(written.group(1))
    new_kid, new_private = read_escrow_file(new_path)
    with app.app_context():  # part done, part not; nothing lost
        part_old, part_new = (escrow_secrets(old_kid, old_private),
                              escrow_secrets(new_kid, new_private))
        assert part_old and not set(part_old) & set(part_new)
        assert len(part_old) + len(part_new) == total == escrow_rows()
        db.session.remove()

    again = runner.invoke(args=["keys", "rotate-escrow", "--old-escrow-key", str(old_path)])
    assert again.exit_code == 0, again.output
    assert "Resuming" in again.output and "0 still on an older escrow key" in again.output
    assert list(config.instance_path.glob("escrow-private-key-*.txt")) == [new_path]
    with app.app_context():
        after = escrow_secrets(new_kid, new_private)
        assert after == before  # every secret, once, under the new key only
        assert escrow_secrets(old_kid, old_private) == {} and escrow_rows() == total
        assert department_view(holdings) == opened  # department keys still open everything
        dept = get(Department, holdings["health"])
        with pytest.raises(DecryptionError):  # the old escrow key opens nothing new
            unseal(dept.escrow_wrap, old_private, escrow_aad("dept", dept.id, new_kid))
    third = runner.invoke(args=["keys", "rotate-escrow", "--old-escrow-key", str(old_path)])
    assert third.exit_code == 0 and "Re-wrapped 0 department keys (0 other keys)" in third.output


def test_interrupted_department_removal_changes_nothing_and_can_be_redone(
        app: Flask, holdings: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from caseapp.cases import workflow
    from caseapp.cases.keys import department_ids, open_case_key
    from caseapp.cases.models import Case, CaseKeyWrap
    from caseapp.crypto import KeyUnavailable

    def wraps() -> list[tuple[int, str, str]]:
        db.session.expire_all()
        return sorted(db.session.execute(select(
            CaseKeyWrap.key_version, CaseKeyWrap.holder_kind, CaseKeyWrap.holder_id).where(
            CaseKeyWrap.case_id == holdings["case"])).tuples().all())

    with app.app_context():
        case = get(Case, holdings["case"])
        v1 = open_case_key(case, factories.keyring_for(holdings["lead"]))
        open_case_key(case, factories.keyring_for(holdings["inv_p"]))
        db.session.commit()  # keep the symmetric wraps the first openings added
        before = wraps()
        lead = factories.keyring_for(holdings["lead"])
        _interrupt_after(monkeypatch, "caseapp.cases.keys", 1)  # the new key is half sealed
        with pytest.raises(Interrupt):
            workflow.remove_department(case, holdings["police"], lead, lead.user)
        monkeypatch.undo()
        db.session.rollback()  # what the request's teardown does
        case = get(Case, holdings["case"])
        assert case.key_version == 1 and wraps() == before
        assert holdings["police"] in department_ids(case.id)
        assert open_case_key(case, factories.keyring_for(holdings["inv_p"])) == v1
        lead = factories.keyring_for(holdings["lead"])
        assert workflow.remove_department(case, holdings["police"], lead, lead.user) == 2
        db.session.expire_all()
        case = get(Case, holdings["case"])
        assert case.key_version == 2
        assert not [w for w in wraps() if w[2] == str(holdings["police"])]
        with pytest.raises(KeyUnavailable):
            open_case_key(case, factories.keyring_for(holdings["inv_p"]))
        lead = factories.keyring_for(holdings["lead"])
        assert open_case_key(case, lead, 1) == v1 and open_case_key(case, lead, 2) != v1
        kinds = [(v, k) for v, k, _ in wraps() if k == "escrow"]
        assert kinds == [(1, "escrow"), (2, "escrow")]
