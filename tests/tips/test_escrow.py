"""Escrow: a tip stored before the intake department existed is recoverable; rotation re-wraps."""

from __future__ import annotations

from sqlalchemy import select

from caseapp.accounts.permissions import Role
from caseapp.crypto.keystore import ESCROW_FILE
from caseapp.extensions import db
from caseapp.keys import keystore
from caseapp.tips import access
from caseapp.tips.escrow import rewrap_tips_for_escrow
from caseapp.tips.models import Tip, TipKeyWrap
from tests import factories

from .conftest import keyring
from .portal import post_report, receipt_of


def test_tip_without_intake_department_is_granted_from_escrow(app, client, config):
    receipt = receipt_of(post_report(client))  # no department exists yet
    with app.app_context():
        tip = db.session.scalar(select(Tip))
        assert tip.intake_department_id is None
        assert {w.holder_kind for w in db.session.scalars(select(TipKeyWrap))} == {
            "tipster", "escrow"}
        user = factories.make_user("intake9", "health", [Role.INTAKE])
        uid = user.id
    result = app.test_cli_runner().invoke(args=[
        "tips", "escrow-grant", "--escrow-file", str(config.instance_path / ESCROW_FILE),
        "--department", "health"])
    assert result.exit_code == 0 and "granted to health: 1" in result.output
    with app.app_context():
        tip = db.session.scalar(select(Tip))
        assert access.open_content(tip, access.open_tip_key(tip, keyring(uid))).fields
        assert access.open_with_receipt(receipt).tip.id == tip.id


def test_escrow_rotation_rewraps_tip_keys(app, client, intake):
    post_report(client)
    with app.app_context():
        store = keystore()
        old_kid, old_private = factories.escrow_key()
        new_private = store.rotate_escrow_key()
        assert rewrap_tips_for_escrow(old_kid, old_private, store) == 1
        wrap = db.session.scalar(select(TipKeyWrap).where(TipKeyWrap.holder_kind == "escrow"))
        assert wrap.holder_id == store.escrow_current
        from caseapp.crypto import escrow_aad, unseal

        key = unseal(wrap.wrapped, new_private, escrow_aad("tip", wrap.tip_id, wrap.holder_id))
        tip = db.session.get(Tip, wrap.tip_id)
        from caseapp.retention.locks import subject_key  # escrow holds K; content needs the pad

        content_key = subject_key("tip", tip.id, key)
        assert access.open_content(tip, content_key).fields["category"] == "sex_identification"
