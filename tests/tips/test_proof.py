"""Signed proof of submission: verifiable with the CLI, invalid when any byte changes."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from caseapp.extensions import db
from caseapp.tips.models import Tip

from .portal import post_report, receipt_of


@pytest.fixture
def proof_file(app, client, intake, tmp_path):
    receipt_of(post_report(client))
    resp = client.get("/follow-up/proof")
    assert resp.status_code == 200
    assert resp.headers["Content-Disposition"].startswith("attachment")
    assert resp.mimetype == "text/plain"
    path = tmp_path / "proof.txt"
    path.write_bytes(resp.data)
    return path


def _verify(app, path):
    return app.test_cli_runner().invoke(args=["tips", "verify-proof", str(path)])


def test_proof_verifies(app, proof_file):
    text = proof_file.read_text()
    with app.app_context():
        tip = db.session.scalar(select(Tip))
        assert f"receipt-lookup: {tip.receipt_lookup}" in text
        assert "category: sex_identification" in text and "submitted-at: " in text
    result = _verify(app, proof_file)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("valid") and "T-" in result.output


@pytest.mark.parametrize("where", ["receipt-lookup: ", "submitted-at: ", "category: ",
                                   "key-id: ", "signature: ", "caseapp proof"])
def test_proof_fails_when_one_byte_changes(app, proof_file, where):
    data = bytearray(proof_file.read_bytes())
    pos = data.index(where.encode()) + len(where) + 2
    data[pos] = data[pos] ^ 0x01
    proof_file.write_bytes(bytes(data))
    result = _verify(app, proof_file)
    assert result.exit_code != 0
    assert "INVALID" in result.output


def test_proof_needs_a_session(app, client):
    assert client.get("/follow-up/proof").status_code == 401
