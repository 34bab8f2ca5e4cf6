"""Key operations: grants, the per-request keyring, resets, escrow recovery and rotation."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select

from caseapp.accounts import keys, service
from caseapp.accounts.errors import NotAllowed
from caseapp.accounts.keys import Keyring, grant_department_key, rotate_escrow
from caseapp.accounts.models import Department, DepartmentKeyGrant, User
from caseapp.accounts.permissions import Role
from caseapp.crypto import (
    DecryptionError,
    KeyUnavailable,
    department_symmetric_key,
    escrow_aad,
    unseal,
)
from caseapp.extensions import db
from caseapp.keys import keystore
from tests.factories import (
    DEFAULT_PASSWORD,
    escrow_key,
    keyring_for,
    make_department,
    make_user,
    user_private_key,
)


@pytest.fixture
def ctx(app: Flask):
    with app.app_context():
        yield app


@pytest.fixture
def staff(ctx):
    """health: lead (holds key), lead2 (no key), ann (no key), ivan (holds, investigator)."""
    health = make_department("health")
    police = make_department("public_security")
    return {
        "health": health.id,
        "police": police.id,
        "lead": make_user("lead", health, [Role.DEPT_LEAD]).id,
        "lead2": make_user("lead2", health, [Role.DEPT_LEAD], grant=False).id,
        "ann": make_user("ann", health, [Role.INVESTIGATOR], grant=False).id,
        "ivan": make_user("ivan", health, [Role.INVESTIGATOR]).id,
        "cop_lead": make_user("cop_lead", police, [Role.DEPT_LEAD]).id,
        "admin": make_user("admin", None, [Role.ADMIN]).id,
    }


def _u(user_id: int) -> User:
    user = db.session.get(User, user_id)
    assert user is not None
    return user


def test_department_key_is_sealed_to_escrow_only(ctx):
    dept = make_department("drug_admin")
    assert db.session.scalar(select(DepartmentKeyGrant).where(
        DepartmentKeyGrant.department_id == dept.id)) is None
    kid, private = escrow_key()
    assert dept.escrow_kid == kid
    raw = unseal(dept.escrow_wrap, private, escrow_aad("dept", dept.id, kid))
    assert len(raw) == 96 and raw not in dept.escrow_wrap


def test_holder_grants_and_member_opens(staff):
    lead_ring = keyring_for(staff["lead"])
    member = _u(staff["ann"])
    assert not keyring_for(member).holds(staff["health"])
    grant = grant_department_key(lead_ring, staff["health"], member)
    assert grant.granted_by_id == staff["lead"]
    ring = keyring_for(staff["ann"])
    key = ring.department_key(staff["health"])
    assert key.public_key().raw == db.session.get(Department, staff["health"]).public_key
    assert ring.department_symmetric(staff["health"]) == department_symmetric_key(key)
    assert ring.department_symmetric(staff["health"]) == \
        lead_ring.department_symmetric(staff["health"])


def test_non_holders_cannot_grant(staff):
    with pytest.raises(KeyUnavailable):  # lead without the key
        grant_department_key(keyring_for(staff["lead2"]), staff["health"], _u(staff["ann"]))
    with pytest.raises(NotAllowed):  # holder without the lead role
        grant_department_key(keyring_for(staff["ivan"]), staff["health"], _u(staff["ann"]))
    with pytest.raises(KeyUnavailable):  # lead of another department
        grant_department_key(keyring_for(staff["cop_lead"]), staff["health"], _u(staff["ann"]))
    with pytest.raises(NotAllowed):  # member of another department
        grant_department_key(keyring_for(staff["lead"]), staff["health"],
                             _u(staff["cop_lead"]))
    assert not keyring_for(staff["ann"]).holds(staff["health"])


def test_admin_and_other_departments_get_key_unavailable(staff):
    admin = keyring_for(staff["admin"])
    with pytest.raises(KeyUnavailable):
        admin.department_key(staff["health"])
    with pytest.raises(KeyUnavailable):
        keyring_for(staff["cop_lead"]).department_key(staff["health"])
    with pytest.raises(KeyUnavailable):
        Keyring(_u(staff["lead"]), None).department_key(staff["health"])
    with pytest.raises(KeyUnavailable):
        Keyring(None, None).user_key()


def test_department_key_is_opened_once_per_keyring(staff, monkeypatch):
    calls = []
    real = keys.open_department_key

    def counting(*args):
        calls.append(args)
        return real(*args)

    monkeypatch.setattr(keys, "open_department_key", counting)
    ring = keyring_for(staff["lead"])
    for _ in range(5):
        ring.department_key(staff["health"])
        ring.department_symmetric(staff["health"])
    assert len(calls) == 1


def test_admin_reset_gives_fresh_keys_and_no_access_until_escrow_regrant(staff):
    user = _u(staff["ivan"])
    old_public = user.public_key
    service.admin_reset_password(_u(staff["admin"]), user, "temporary-pass-1")
    user = _u(staff["ivan"])
    assert user.public_key != old_public and user.must_change_password
    with pytest.raises(DecryptionError):
        user_private_key(user, DEFAULT_PASSWORD)
    ring = keyring_for(user, "temporary-pass-1")
    assert not ring.holds(staff["health"])
    kid, escrow = escrow_key()
    keys.escrow_grant(escrow, kid, staff["health"], user)
    assert keyring_for(user, "temporary-pass-1").holds(staff["health"])


def test_colleague_can_regrant_after_reset(staff):
    service.admin_reset_password(None, _u(staff["ivan"]), "temporary-pass-1")
    grant_department_key(keyring_for(staff["lead"]), staff["health"], _u(staff["ivan"]))
    assert keyring_for(staff["ivan"], "temporary-pass-1").holds(staff["health"])


def test_password_change_keeps_the_key_pair_and_access(staff):
    before = _u(staff["ivan"]).public_key
    service.change_password(_u(staff["ivan"]), DEFAULT_PASSWORD, "another long password")
    assert _u(staff["ivan"]).public_key == before
    assert keyring_for(staff["ivan"], "another long password").holds(staff["health"])
    with pytest.raises(DecryptionError):
        user_private_key(staff["ivan"], DEFAULT_PASSWORD)


def test_moving_department_drops_the_grant(staff):
    user = _u(staff["ivan"])
    service.update_user(None, user, display_name="Ivan", roles=[Role.INVESTIGATOR],
                        department=db.session.get(Department, staff["police"]), active=True)
    ring = keyring_for(staff["ivan"])
    assert not ring.holds(staff["health"]) and not ring.holds(staff["police"])


def test_escrow_grant_refuses_a_wrong_escrow_key(staff):
    from caseapp.crypto import generate_keypair

    kid, _escrow = escrow_key()
    with pytest.raises(KeyUnavailable):
        keys.escrow_grant(generate_keypair(), kid, staff["health"], _u(staff["ann"]))
    with pytest.raises(KeyUnavailable):
        keys.escrow_grant(_escrow, "e9-other", staff["health"], _u(staff["ann"]))


def _new_escrow():
    store = keystore()
    old_kid, old = escrow_key()
    new = store.rotate_escrow_key()
    store.save()
    return store, old_kid, old, new


def test_escrow_rotation_rewraps_every_department(staff):
    make_department("finance")
    store, old_kid, old, new = _new_escrow()
    result = rotate_escrow(old, store)
    assert result.rotated == 3 and result.remaining == 0
    for dept in db.session.scalars(select(Department)):
        assert dept.escrow_kid == store.escrow_current != old_kid
        unseal(dept.escrow_wrap, new, escrow_aad("dept", dept.id, store.escrow_current))
    keys.escrow_grant(new, store.escrow_current, staff["health"], _u(staff["ann"]))
    with pytest.raises(KeyUnavailable):
        keys.escrow_grant(old, old_kid, staff["health"], _u(staff["lead2"]))


def test_interrupted_escrow_rotation_resumes(staff, monkeypatch):
    make_department("finance")
    store, _old_kid, old, _new = _new_escrow()
    real = keys._rewrap_department
    calls = []

    def crash_after_first(*args):
        calls.append(args[0].id)
        if len(calls) == 2:
            raise RuntimeError("power cut")
        return real(*args)

    monkeypatch.setattr(keys, "_rewrap_department", crash_after_first)
    with pytest.raises(RuntimeError):
        rotate_escrow(old, store)
    db.session.rollback()
    kids = [d.escrow_kid for d in db.session.scalars(select(Department).order_by(Department.id))]
    assert kids.count(store.escrow_current) == 1
    monkeypatch.setattr(keys, "_rewrap_department", real)
    result = rotate_escrow(old, store)
    assert result.rotated == 2 and result.remaining == 0
    assert rotate_escrow(old, store).rotated == 0  # running again is harmless


def test_running_app_sees_an_escrow_rotation_made_by_another_process(ctx):
    """A web process must seal new items to the new escrow key once the CLI rotated it."""
    from caseapp.crypto import KeyStore

    before = keystore().escrow_current
    other = KeyStore.load(ctx.config["CASEAPP"].keys_dir)  # the `flask keys` process
    other.rotate_escrow_key()
    other.save()
    assert keystore().escrow_current == other.escrow_current != before
    dept = make_department("labour")  # sealed to escrow by the running app
    assert dept.escrow_kid == other.escrow_current
