"""Who can read what: claims only with the finance key (or escrow); tips never with it."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from caseapp.crypto import KeyUnavailable, decrypt_field, unseal
from caseapp.extensions import db
from caseapp.keys import keystore
from caseapp.retention.locks import claim_key
from caseapp.rewards.claims import (
    claim_aad,
    claim_inner_aad,
    open_claim,
    open_claim_escrow,
    open_claim_with,
    rewrap_claims_for_escrow,
)
from caseapp.rewards.models import Reward
from caseapp.tips.access import open_tip_key
from caseapp.tips.errors import TipNotReadable
from caseapp.tips.models import Tip
from tests import factories

from .helpers import CARD, ID_X, PAYEE, bank_claim, claim, make_reward, make_tip


@pytest.fixture
def claimed(app, world, config):
    with app.app_context():
        tip, _ = make_tip()
        reward_id = make_reward(config, [tip])
        claim(reward_id, tip, bank_claim())
        db.session.remove()
    return reward_id, tip


def test_finance_members_open_the_claim(app, world, claimed):
    with app.app_context():
        reward = db.session.get(Reward, claimed[0])
        for uid in (world.officer, world.approver):
            details = open_claim(reward, factories.keyring_for(uid))
            assert (details.payee_name, details.id_number, details.account_number) == (
                PAYEE, ID_X, CARD)
            assert details.method == "bank" and details.bank_name.startswith("中国工商银行")


@pytest.mark.parametrize("who", ["investigator", "intake", "admin", "supervisor"])
def test_others_hold_no_key_that_opens_the_claim(app, world, claimed, who):
    with app.app_context():
        reward = db.session.get(Reward, claimed[0])
        ring = factories.keyring_for(getattr(world, who))
        with pytest.raises(KeyUnavailable):
            ring.department_key(world.finance)
        with pytest.raises(KeyUnavailable):
            open_claim(reward, ring)
        # not even their own department keys open it
        for dept_id in (world.health, world.police):
            if ring.holds(dept_id):
                with pytest.raises(KeyUnavailable):
                    open_claim_with(reward, ring.department_key(dept_id))


def test_claim_is_bound_to_its_reward_and_escrow_opens_it(app, world, config, claimed):
    with app.app_context():
        reward = db.session.get(Reward, claimed[0])
        kid, escrow = factories.escrow_key()
        assert open_claim_escrow(reward, escrow).payee_name == PAYEE
        finance_key = factories.keyring_for(world.officer).department_key(world.finance)
        other_tip, _ = make_tip()
        other = db.session.get(Reward, make_reward(config, [other_tip], case_id=2))
        other.claim_sealed, other.claim_department_id = reward.claim_sealed, world.finance
        with pytest.raises(KeyUnavailable):
            open_claim_with(other, finance_key)  # a copied claim does not open elsewhere
        raw = unseal(reward.claim_sealed, finance_key, claim_aad(reward.id, world.finance))
        assert PAYEE.encode() not in raw  # inside the seal: the layer under the retention pad
        assert PAYEE.encode() in decrypt_field(claim_key(reward.id), raw,
                                               claim_inner_aad(reward.id))


def test_nothing_of_the_claim_is_stored_in_clear(app, world, claimed):
    with app.app_context():
        blobs = []
        for table in ("rewards", "audit_entries", "outbox_jobs"):
            for row in db.session.execute(text(f"SELECT * FROM {table}")):
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        blobs.append(bytes(value))
                    elif value is not None:
                        blobs.append(str(value).encode())
        blob = b"\n".join(blobs)
        for secret in (PAYEE, ID_X, CARD, "工商银行"):
            assert secret.encode() not in blob, secret


def test_finance_cannot_open_the_tip(app, world, claimed):
    with app.app_context():
        tip = db.session.get(Tip, claimed[1])
        for uid in (world.officer, world.approver):
            ring = factories.keyring_for(uid)
            with pytest.raises(TipNotReadable):
                open_tip_key(tip, ring)
            with pytest.raises(KeyUnavailable):
                ring.department_key(world.health)
        # the intake department can (the control that the test can succeed at all)
        assert len(open_tip_key(tip, factories.keyring_for(world.intake))) == 32


def test_escrow_rotation_rewraps_claims(app, world, claimed):
    with app.app_context():
        store = keystore()
        old_kid, old_private = factories.escrow_key()
        new_private = store.rotate_escrow_key()
        assert rewrap_claims_for_escrow(old_kid, old_private, store) == 1
        reward = db.session.scalar(select(Reward))
        assert reward.claim_escrow_kid == store.escrow_current != old_kid
        assert open_claim_escrow(reward, new_private).id_number == ID_X
        with pytest.raises(KeyUnavailable):
            open_claim_escrow(reward, old_private)
