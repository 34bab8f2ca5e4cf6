"""Fixtures of the rewards tests: intake, investigators and finance staff with real keys."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from flask import Flask

from caseapp.accounts.permissions import Role
from caseapp.config import Config
from caseapp.extensions import db
from tests import factories


@pytest.fixture
def config(config: Config) -> Config:
    """Generous portal limits: these tests log in with receipts many times."""
    return config.with_(portal_submit_limit="500 per minute",
                        portal_followup_limit="500 per minute",
                        portal_global_limit="5000 per minute")


@dataclass(frozen=True)
class World:
    """Ids of the departments and users every rewards test starts with."""

    health: int
    finance: int
    police: int
    intake: int
    investigator: int
    officer: int
    approver: int
    approver2: int
    finance_both: int
    cashier: int
    admin: int
    supervisor: int


@pytest.fixture
def world(app: Flask) -> Iterator[World]:
    """Departments health (intake), finance, public security and one user per job."""
    with app.app_context():
        health = factories.make_department("health")
        finance = factories.make_department("finance")
        police = factories.make_department("public_security")
        make = factories.make_user
        ids = World(
            health=health.id, finance=finance.id, police=police.id,
            intake=make("intake1", health, [Role.INTAKE]).id,
            investigator=make("invest1", police, [Role.INVESTIGATOR, Role.DEPT_LEAD]).id,
            officer=make("officer1", finance, [Role.FINANCE_OFFICER],
                         display_name="Officer One").id,
            approver=make("approver1", finance, [Role.FINANCE_APPROVER],
                          display_name="Approver One").id,
            approver2=make("approver2", finance, [Role.FINANCE_APPROVER]).id,
            finance_both=make("fboth", finance,
                              [Role.FINANCE_OFFICER, Role.FINANCE_APPROVER]).id,
            cashier=make("cashier1", finance, [Role.FINANCE_OFFICER],
                         display_name="Cashier One").id,
            admin=make("admin1", None, [Role.ADMIN]).id,
            supervisor=make("super1", None, [Role.SUPERVISOR]).id,
        )
        db.session.remove()
    yield ids
