"""Fixtures of the portal tests: an intake department with its key, and its keyring."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from caseapp.config import Config
from caseapp.extensions import db
from tests import factories


@pytest.fixture
def config(config: Config) -> Config:
    """The test config with the portal's default limits (generous rate limits for tests)."""
    return config.with_(portal_submit_limit="200 per minute",
                        portal_followup_limit="200 per minute")


@pytest.fixture
def intake(app: Flask) -> Iterator[dict[str, Any]]:
    """The intake department "health" and an intake officer holding its key."""
    from caseapp.accounts.permissions import Role

    with app.app_context():
        dept = factories.make_department("health")
        user = factories.make_user("intake1", dept, [Role.INTAKE])
        ids = {"department_id": dept.id, "user_id": user.id}
        db.session.remove()
    yield ids


def keyring(user_id: int) -> Any:
    """The keyring the intake officer has after logging in."""
    return factories.keyring_for(user_id)
