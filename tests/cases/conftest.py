"""Fixtures of the case workflow tests: departments, users per role, tips and cases."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask

from caseapp.accounts.models import User
from caseapp.accounts.permissions import Role
from caseapp.extensions import db
from caseapp.tips.service import TipInput, submit_tip
from tests import factories

DISTRICT = "411702"
OTHER_DISTRICT = "411721"


@dataclass
class World:
    """Ids of the departments and users every case test uses."""

    health: int
    police: int
    drugs: int
    market: int
    intake: int
    inv_h: int
    lead_h: int
    lead_h2: int
    inv_p: int
    lead_p: int
    inv_d: int
    inv_m: int
    supervisor: int


USERNAMES = {"intake": "intake1", "inv_h": "inv_h", "lead_h": "lead_h", "lead_h2": "lead_h2",
             "inv_p": "inv_p", "lead_p": "lead_p", "inv_d": "inv_d", "inv_m": "inv_m",
             "supervisor": "super1"}


@pytest.fixture
def ctx(app: Flask) -> Iterator[None]:
    """The test body runs inside an app context."""
    with app.app_context():
        yield
        db.session.remove()


@pytest.fixture
def world(app: Flask) -> World:
    """health (intake), public security, drug administration, market regulation and users."""
    with app.app_context():
        health = factories.make_department("health")
        police = factories.make_department("public_security")
        drugs = factories.make_department("drug_admin")
        market = factories.make_department("market_regulation")
        mk = factories.make_user
        w = World(
            health=health.id, police=police.id, drugs=drugs.id, market=market.id,
            intake=mk("intake1", health, [Role.INTAKE]).id,
            inv_h=mk("inv_h", health, [Role.INVESTIGATOR]).id,
            lead_h=mk("lead_h", health, [Role.DEPT_LEAD]).id,
            lead_h2=mk("lead_h2", health, [Role.DEPT_LEAD]).id,
            inv_p=mk("inv_p", police, [Role.INVESTIGATOR]).id,
            lead_p=mk("lead_p", police, [Role.DEPT_LEAD]).id,
            inv_d=mk("inv_d", drugs, [Role.INVESTIGATOR]).id,
            inv_m=mk("inv_m", market, [Role.INVESTIGATOR]).id,
            supervisor=mk("super1", None, [Role.SUPERVISOR]).id,
        )
        db.session.remove()
    return w


def user(uid: int) -> User:
    """A user row in the current session."""
    row = db.session.get(User, uid)
    assert row is not None
    return row


def ring(uid: int) -> Any:
    """The keyring a user has after logging in."""
    return factories.keyring_for(uid)


def tip(narrative: str = "B超 tells the sex for 500 yuan", *, place: str = "",
        address: str = "", phone: str = "", district: str = DISTRICT,
        category: str = "sex_identification") -> tuple[int, str]:
    """Submit a tip through the portal service; (tip id, receipt)."""
    done = submit_tip(TipInput(category=category, district=district, narrative=narrative,
                               place_name=place, address=address, subject_phone=phone), [])
    return done.tip_id, done.receipt


def new_case(w: World, *, place: str = "仁爱诊所", joint: tuple[int, ...] = (),
             lead: int | None = None, title: str = "Clinic B-ultrasound") -> tuple[int, int]:
    """A tip promoted to a case led by health (and `joint`); (case id, tip id)."""
    from caseapp.cases.decisions import promote
    from caseapp.tips.models import Tip

    tip_id, _receipt = tip(place=place, address="驿城区 解放路 12号", phone="13800138000")
    case = promote(db.session.get(Tip, tip_id), ring(w.intake), user(w.intake),
                   lead_department_id=lead or w.health, joint_department_ids=joint,
                   title=title, summary="Summary of the case", reason="strong lead")
    return case.id, tip_id


def login(client: Any, key: str) -> None:
    """Log a world user in through the real form."""
    resp = factories.login(client, USERNAMES.get(key, key))
    assert resp.status_code in (302, 303), resp.status_code


def post(client: Any, path: str, data: dict[str, Any] | None = None, **kw: Any) -> Any:
    """POST with a real CSRF token."""
    return factories.post_form(client, path, data, **kw)
