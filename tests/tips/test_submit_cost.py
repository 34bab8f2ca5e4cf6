"""A submission pays for the receipt's Argon2id once (bench/bench_submit.py measures the rate)."""

from __future__ import annotations

from typing import Any

from caseapp.crypto import keyring as crypto_keyring

from .portal import post_report, receipt_of


def test_one_receipt_derivation_per_submission(app, client, intake, monkeypatch):
    calls: list[int] = []
    real = crypto_keyring.argon2id

    def counting(*args: Any, **kwargs: Any) -> bytes:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(crypto_keyring, "argon2id", counting)
    resp = post_report(client)
    assert resp.status_code == 200
    assert len(receipt_of(resp)) == 28
    assert len(calls) == 1
    # the receipt page signed the tipster in with those credentials: the tip opens
    status = client.get("/follow-up/tip")
    assert status.status_code == 200
    assert len(calls) == 1
