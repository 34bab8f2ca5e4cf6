"""Wrong receipts: rejected, slowed down per client, capped globally, counted without clients."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from caseapp import clock
from caseapp.crypto import new_receipt
from caseapp.tips import access
from caseapp.tips.errors import Throttled, WrongReceipt
from caseapp.tips.throttle import Throttle, attempt_receipt, counter

from .portal import post_report, receipt_of


def test_10000_guesses_find_nothing_and_real_tipster_waits_briefly(app, client, intake, config):
    real = receipt_of(post_report(client))
    client.post("/follow-up/leave")
    gate = Throttle(config)
    attacker = "tag-of-a-shared-tor-exit"
    found = 0
    waited = 0
    started = time.monotonic()
    with app.app_context():
        for _ in range(10_000):
            guess = new_receipt()  # valid check digit: every guess costs the slow hash
            try:
                attempt_receipt(guess, attacker, gate)
                found += 1
            except Throttled as exc:
                waited += exc.wait_seconds
                clock.move(timedelta(seconds=exc.wait_seconds))
                with pytest.raises(WrongReceipt):
                    attempt_receipt(guess, attacker, gate)
            except WrongReceipt:
                pass
        assert found == 0
        assert counter("receipt_failed") == 10_000
        # the attacker needed weeks of (simulated) waiting for 10,000 guesses
        assert waited > 30 * 24 * 3600
        # the real tipster behind the same exit is held back at most the maximum delay
        with pytest.raises(Throttled) as held:
            attempt_receipt(real, attacker, gate)
        assert 0 < held.value.wait_seconds <= config.portal_receipt_max_delay_seconds
        clock.move(timedelta(seconds=held.value.wait_seconds))
        login = attempt_receipt(real, attacker, gate)
        assert access.tipster_tip(login.lookup, login.private_key)[0].id == login.tip_id
        # and after a quiet hour the slate is clean
        clock.move(timedelta(minutes=config.portal_receipt_failure_window_minutes))
        assert gate.wait_seconds(attacker) == 0
    assert time.monotonic() - started < 240


def test_wrong_receipt_rejected_then_throttled_over_http(app, client, intake, config):
    real = receipt_of(post_report(client))
    client.post("/follow-up/leave")
    other = app.test_client()
    for _ in range(config.portal_receipt_free_failures + 1):
        resp = other.post("/follow-up", data={"receipt": new_receipt()})
        assert resp.status_code == 400
        assert "This receipt number is not correct" in resp.get_data(as_text=True)
    held = other.post("/follow-up", data={"receipt": real})
    assert held.status_code == 429
    assert "Please wait" in held.get_data(as_text=True)
    assert "Set-Cookie" not in held.headers
    clock.move(timedelta(seconds=config.portal_receipt_max_delay_seconds))
    ok = other.post("/follow-up", data={"receipt": real})
    assert ok.status_code == 303


def test_mistyped_receipt_costs_no_slow_hash(app, monkeypatch):
    import caseapp.tips.access as module

    calls = []
    monkeypatch.setattr(module, "tipster_credentials",
                        lambda *a, **k: calls.append(1) or (_ for _ in ()).throw(AssertionError))
    real = new_receipt()
    typo = real[:5] + str((int(real[5]) + 1) % 10) + real[6:]
    with app.app_context(), pytest.raises(WrongReceipt):
        access.check_receipt(typo)
    assert calls == []


def test_global_cap_applies_to_all_clients(app, config):
    app.config["CASEAPP"] = config.with_(portal_global_limit="3 per minute")
    codes = []
    for i in range(5):
        c = app.test_client()
        codes.append(c.post("/follow-up", data={"receipt": "1"},
                            environ_base={"REMOTE_ADDR": f"192.0.2.{i}"}).status_code)
    assert codes[:3] == [400, 400, 400] and codes[3:] == [429, 429]


def test_throttle_in_redis_keeps_no_address(app, config, redis_url):
    import redis

    conn = redis.Redis.from_url(redis_url)
    for key in conn.scan_iter("caseapp:tips:*"):
        conn.delete(key)
    app.config["CASEAPP"] = config.with_(redis_url=redis_url)
    app.extensions.pop("tips_tag_keys", None)
    client = app.test_client()
    for _ in range(5):
        client.post("/follow-up", data={"receipt": new_receipt()},
                    environ_base={"REMOTE_ADDR": "203.0.113.99"})
    keys = list(conn.scan_iter("caseapp:tips:*"))
    assert any(k.startswith(b"caseapp:tips:fail:") for k in keys)
    for key in keys:
        assert 0 < conn.ttl(key) <= 7200
        assert b"203.0.113.99" not in key
        if conn.type(key) == b"hash":
            assert all(b"203.0.113.99" not in v for v in conn.hgetall(key).values())
    gate = Throttle(app.config["CASEAPP"], conn)
    tag = [k for k in keys if k.startswith(b"caseapp:tips:fail:")][0].decode().rsplit(":", 1)[1]
    assert gate.wait_seconds(tag) > 0
    for key in conn.scan_iter("caseapp:tips:*"):
        conn.delete(key)
