"""Fixtures of the attack suite: a populated world of two departments, A and B.

`world` (per test, on the function-scoped `app`) and `module_world` (one app and world per
module and backend, for suites that only read or make changes they tolerate) hold the same
`SecWorld`: the role users of `factories.make_role_users()` (health = department A, finance),
department B (public security) with its own investigator and lead, and on each side an open
case full of content (note, task, joint action, seized item, subject, evidence file, a
message to the tipster) from a tip with a receipt, plus a closed, substantiated case whose
tip's reward is eligible (side B) or claimed and paid (side A). Every secret text is a
unique marker (`Side.markers`), so a test can assert that none of it appears in a response.

On PostgreSQL `module_app` uses a database of its own (`<test db>_shared`, schema
recreated per module), so a module may use both it and the function-scoped `app`.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from werkzeug.test import TestResponse

from caseapp import create_app
from caseapp.accounts.models import User
from caseapp.accounts.permissions import Role
from caseapp.config import Config
from caseapp.extensions import db
from tests import factories
from tests.conftest import BACKENDS, FAST_KDF, PG_URL, _check_pg

GENEROUS_LIMITS = {"portal_submit_limit": "1000 per minute",
                   "portal_followup_limit": "1000 per minute",
                   "portal_global_limit": "10000 per minute"}
DEPT_B = "public_security"


def _jpeg() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (9, 9, 9)).save(buf, "JPEG")
    return buf.getvalue()


@dataclass(frozen=True)
class Side:
    """One department and what it owns (ids), with the secret text of each object."""

    name: str
    dept: int
    investigator: int
    lead: int
    case: int  # investigating, with content
    tip: int  # the tip the open case was promoted from
    receipt: str
    note: int
    task: int
    action: int
    seized: int
    subject: int
    evidence: int
    staff_message: int
    closed_case: int  # closed, substantiated
    disposition: int  # the approved disposition of closed_case
    reward_tip: int
    reward_receipt: str
    reward: int
    tip_file: int = 0  # the photo sent with the open case's tip
    markers: dict[str, str] = field(default_factory=dict)

    @property
    def evidence_bytes(self) -> bytes:
        """The plaintext of the evidence file."""
        return self.markers["evidence_bytes"].encode()


@dataclass(frozen=True)
class SecWorld:
    """Ids of everything the attack suite needs."""

    users: dict[str, int]  # Role value → user id (a=health, finance, no department)
    usernames: dict[str, str]  # principal → username (role values, "inv_b", "lead_b", …)
    a: Side
    b: Side
    finance: int
    spare_department: int  # on no case; for admin edits
    spare_user: int  # in department A without its key; for admin edits and key grants


def marker(side: str, kind: str) -> str:
    """A unique secret text of one object (never a substring of another marker)."""
    return f"SECMARK-{side}-{kind}-Q7"


def security_config(base: Config) -> Config:
    """The test config with limits loose enough for hundreds of portal requests."""
    return base.with_(**GENEROUS_LIMITS)


@pytest.fixture
def config(config: Config) -> Config:
    """The test config with generous portal limits."""
    return security_config(config)


# -- building the world (inside an app context) ------------------------------------
def _user(uid: int) -> User:
    row = db.session.get(User, uid)
    assert row is not None
    return row


def _case(case_id: int) -> Any:
    from caseapp.cases.models import Case

    row = db.session.get(Case, case_id)
    assert row is not None
    return row


def _tip(side: str, kind: str) -> tuple[int, str]:
    from caseapp.tips.service import TipInput, submit_tip
    from caseapp.tips.uploads import UploadedFile

    data = TipInput(category="sex_identification", district="411702",
                    narrative=marker(side, f"{kind}-narrative"),
                    place_name=marker(side, f"{kind}-place"),
                    subject_phone="13800138000" if side == "A" else "13900139000")
    files = [UploadedFile(f"{marker(side, f'{kind}-file')}.jpg", io.BytesIO(_jpeg()))]
    done = submit_tip(data, files)
    return done.tip_id, done.receipt


def _promote(tip_id: int, intake: int, dept: int, title: str, summary: str) -> Any:
    from caseapp.cases.decisions import promote
    from caseapp.tips.models import Tip

    tip = db.session.get(Tip, tip_id)
    assert tip is not None
    return promote(tip, factories.keyring_for(intake), _user(intake), lead_department_id=dept,
                   title=title, summary=summary, reason="lead worth a case")


def build_side(name: str, dept: int, investigator: int, lead: int, intake: int) -> Side:
    """A department's open case with content and a closed case with an eligible reward."""
    from sqlalchemy import select

    from caseapp.cases import content, disposition, evidence, subjects, workflow
    from caseapp.rewards.models import Reward
    from caseapp.tips.access import add_tipster_message, check_receipt, tipster_tip
    from caseapp.tips.models import TipFile

    m = {k: marker(name, k) for k in (
        "title", "summary", "note", "task", "action", "seized", "subject", "subject-phone",
        "evidence-name", "evidence_bytes", "staff-message", "tipster-message",
        "closed-title", "closed-summary", "legal-basis", "payment-ref")}
    m["payee"] = "王秘" + ("甲" if name == "A" else "乙")  # a payee name looks like a name
    m.update({k: marker(name, k) for k in (
        "open-narrative", "open-place", "open-file", "reward-narrative", "reward-place",
        "reward-file")})
    tip_id, receipt = _tip(name, "open")
    case = _promote(tip_id, intake, dept, m["title"], m["summary"])
    ring, inv = factories.keyring_for(investigator), _user(investigator)
    workflow.start_investigation(_case(case.id), inv)
    db.session.commit()

    def fresh() -> Any:
        return _case(case.id)

    note = content.add_note(fresh(), ring, inv, m["note"])
    task = content.add_task(fresh(), ring, inv, title=m["task"], department_id=dept)
    action = content.add_action(fresh(), ring, inv, planned_on=date(2026, 3, 1),
                                premises=m["action"], departments=[dept])
    seized = content.add_seized(fresh(), ring, inv, kind="ultrasound_machine", quantity=1,
                                description=m["seized"], custody=m["seized"] + " custody")
    subject = subjects.add_subject(fresh(), ring, inv, "clinic", {
        "name": m["subject"], "address": "", "phone": m["subject-phone"], "licence": "",
        "note": ""})
    db.session.commit()
    ev = evidence.add_evidence(fresh(), ring, inv, m["evidence-name"] + ".txt", "text/plain",
                               io.BytesIO(m["evidence_bytes"].encode()))
    msg = content.message_tipster(fresh(), ring, inv, tip_id, m["staff-message"])
    login = check_receipt(receipt)
    tip_row, tip_key = tipster_tip(login.lookup, login.private_key)
    add_tipster_message(tip_row, tip_key, m["tipster-message"])

    reward_tip, reward_receipt = _tip(name, "reward")
    closed = _promote(reward_tip, intake, dept, m["closed-title"], m["closed-summary"])
    workflow.start_investigation(_case(closed.id), inv)
    db.session.commit()
    row = disposition.propose(_case(closed.id), ring, inv,
                              outcome="substantiated", legal_basis=m["legal-basis"],
                              measures=[disposition.MeasureInput("warning")],
                              tip_ids=[reward_tip])
    disposition.approve(_case(closed.id), factories.keyring_for(lead),
                        _user(lead), row.id)
    reward = db.session.scalar(select(Reward).where(Reward.tip_id == reward_tip))
    assert reward is not None, "an approved substantiated disposition makes a reward"
    tip_file = db.session.scalar(select(TipFile.id).where(TipFile.tip_id == tip_id))
    assert tip_file is not None
    side = Side(name=name, dept=dept, investigator=investigator, lead=lead, case=case.id,
                tip=tip_id, receipt=receipt, note=note.id, task=task.id, action=action.id,
                seized=seized.id, subject=subject.id, evidence=ev.id, staff_message=msg.id,
                closed_case=closed.id, disposition=row.id, reward_tip=reward_tip,
                reward_receipt=reward_receipt, reward=reward.id, tip_file=tip_file, markers=m)
    return side


def pay_reward(side: Side, officer: int, approver: int) -> None:
    """Claim (by bank transfer), verify, approve and pay the side's reward."""
    from tests.rewards.helpers import bank_claim, claim, pay_bank, to_approved

    claim(side.reward, side.reward_tip, bank_claim(payee_name=side.markers["payee"]))
    to_approved(side.reward, officer, approver)
    pay_bank(side.reward, officer, reference=side.markers["payment-ref"])


def build_world() -> SecWorld:
    """Departments, users and both sides (needs an app context; commits)."""
    users = factories.make_role_users()
    ids = {role.value: u.id for role, u in users.items()}
    health = factories.make_department("health")
    police = factories.make_department(DEPT_B)
    finance = factories.make_department("finance")
    spare_dept = factories.make_department("market_regulation")
    inv_b = factories.make_user("inv_b", police, [Role.INVESTIGATOR]).id
    lead_b = factories.make_user("lead_b", police, [Role.DEPT_LEAD]).id
    spare = factories.make_user("spare", health, [Role.INVESTIGATOR], grant=False).id
    intake = ids[Role.INTAKE.value]
    a = build_side("A", health.id, ids[Role.INVESTIGATOR.value], ids[Role.DEPT_LEAD.value],
                   intake)
    b = build_side("B", police.id, inv_b, lead_b, intake)
    pay_reward(a, ids[Role.FINANCE_OFFICER.value], ids[Role.FINANCE_APPROVER.value])
    names = {r.value: r.value for r in Role}
    names.update({"inv_b": "inv_b", "lead_b": "lead_b", "inv_a": Role.INVESTIGATOR.value,
                  "lead_a": Role.DEPT_LEAD.value, "spare": "spare"})
    world = SecWorld(users=ids, usernames=names, a=a, b=b, finance=finance.id,
                     spare_department=spare_dept.id, spare_user=spare)
    db.session.remove()
    return world


@pytest.fixture
def world(app: Flask) -> SecWorld:
    """The populated world on this test's app."""
    with app.app_context():
        return build_world()


# -- one app per module and backend ----------------------------------------------------
def shared_pg_url() -> str:
    """A PostgreSQL database of its own (`<test db>_shared`), out of reach of the per-test
    truncation, so module-scoped and function-scoped apps can share a module."""
    base = make_url(PG_URL or "")
    name = f"{base.database}_shared"
    admin = create_engine(PG_URL or "", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.execute(text("select 1 from pg_database where datname = :n"),
                            {"n": name}).first():
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="module", params=BACKENDS)
def module_app(request: pytest.FixtureRequest,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """An app (with fresh keys and an empty schema) shared by the tests of one module."""
    from caseapp.keys import ensure_keystore

    backend = str(request.param)
    if backend == "postgresql":
        _check_pg()
    inst: Path = tmp_path_factory.mktemp("instance")
    url = shared_pg_url() if backend == "postgresql" else f"sqlite:///{inst / 'test.sqlite3'}"
    cfg = security_config(Config(instance_path=inst, database_url=str(url),
                                 secret_key="test-secret", testing=True,
                                 password_kdf=FAST_KDF, receipt_kdf=FAST_KDF,
                                 default_locale="en"))
    application = create_app(cfg)
    with application.app_context():
        if backend == "postgresql":
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        db.create_all()
        ensure_keystore()
    try:
        yield application
    finally:
        with application.app_context():
            db.session.remove()
            db.engine.dispose()
        shutil.rmtree(inst, ignore_errors=True)


@pytest.fixture(scope="module")
def module_world(module_app: Flask) -> SecWorld:
    """The populated world on the module's app."""
    with module_app.app_context():
        return build_world()


# -- clients --------------------------------------------------------------------------
def staff_client(app: Flask, username: str) -> FlaskClient:
    """A client logged in as `username` (real form, real CSRF token)."""
    client = app.test_client()
    resp = factories.login(client, username)
    assert resp.status_code in (302, 303), (username, resp.status_code)
    assert not factories.is_login_redirect(resp), username
    return client


def grouped(receipt: str) -> str:
    """A receipt typed in groups of four, as people do."""
    return " ".join(receipt[i:i + 4] for i in range(0, len(receipt), 4))


def tipster_client(app: Flask, receipt: str) -> FlaskClient:
    """A browser signed in on the portal with `receipt`."""
    client = app.test_client()
    resp = client.post("/follow-up", data={"receipt": grouped(receipt)})
    assert resp.status_code == 303, resp.status_code
    return client


def body(resp: TestResponse) -> bytes:
    """The whole response body (streamed responses included)."""
    return resp.get_data()


def leaked(resp: TestResponse, side: Side) -> list[str]:
    """The markers of `side` that appear in the response (body or headers)."""
    data = body(resp) + str(resp.headers).encode()
    return [name for name, text in side.markers.items()
            if text.encode() in data or text.encode("utf-16-le") in data]


# -- proving that nothing changed --------------------------------------------------------
CONTENT_TABLES = ("cases", "case_departments", "case_key_wraps", "case_tips", "case_tip_seals",
                  "case_tasks", "case_notes", "case_actions", "case_seized_items",
                  "case_evidence", "case_subjects", "case_dispositions",
                  "case_disposition_measures", "case_disposition_tips",
                  "case_reopen_requests", "case_public_outcomes", "tips", "tip_decisions",
                  "tip_messages", "tip_files", "tip_key_wraps", "rewards", "payout_ledger",
                  "department_key_grants", "users", "departments")


def snapshot(app: Flask, tables: tuple[str, ...] = CONTENT_TABLES) -> dict[str, list[str]]:
    """Every row of the content tables, as sorted text: equal snapshots, nothing changed."""
    out: dict[str, list[str]] = {}
    with app.app_context():
        known = db.metadata.tables
        for name in tables:
            assert name in known, f"no table {name}"
            out[name] = sorted(repr(tuple(row)) for row in db.session.execute(
                known[name].select()))
        db.session.remove()
    return out


def changed(before: dict[str, list[str]], after: dict[str, list[str]]) -> list[str]:
    """The tables whose rows differ."""
    return [name for name in before if before[name] != after.get(name)]
