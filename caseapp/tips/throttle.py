"""Anti-brute-force for the portal, keyed without storing any client address.

A client is named by `client_tag()`: an HMAC of its address under a key that lives only in
process memory (embedded) or in Redis with a two-hour lifetime (production), rotated every
hour. Three layers use that tag: Flask-Limiter's per-client and global request rates, a
growing delay after wrong receipts (`Throttle`, on the caseapp clock so tests move time),
and an aggregate daily counter of failures that names no client at all.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import date, datetime
from typing import Any

from flask import Flask, current_app, request
from flask_limiter import Limiter
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from .. import clock
from ..config import Config
from ..crypto import client_tag
from ..extensions import db
from .access import TipsterLogin, check_receipt
from .errors import Throttled, WrongReceipt
from .models import PortalCounter

_EPOCH = datetime(1970, 1, 1)
_KEY_TTL = 7200
_lock = threading.Lock()


def _cfg() -> Config:
    return current_app.config["CASEAPP"]


def _seconds(moment: datetime) -> float:
    return (moment - _EPOCH).total_seconds()


def _redis(app: Flask) -> Any | None:
    """The app's Redis client when one is configured."""
    cfg: Config = app.config["CASEAPP"]
    if not cfg.redis_url:
        return None
    conn = app.extensions.get("tips_redis")
    if conn is None:
        import redis

        conn = redis.Redis.from_url(cfg.redis_url, socket_connect_timeout=1, socket_timeout=2)
        app.extensions["tips_redis"] = conn
    return conn


def _redis_errors() -> tuple[type[Exception], ...]:
    """What a Redis outage raises (the portal then falls back to this process's memory)."""
    from redis.exceptions import RedisError

    return (RedisError,)


def _hour_key(app: Flask) -> bytes:
    """This hour's tag key: random, in memory or in Redis (shared by workers), never on disk."""
    hour = int(_seconds(clock.now()) // 3600)
    cache: dict[int, bytes] = app.extensions.setdefault("tips_tag_keys", {})
    key = cache.get(hour)
    if key is not None:
        return key
    conn = _redis(app)
    key = os.urandom(32)  # embedded, or Redis down: this process's own key for the hour
    if conn is not None:
        name = f"caseapp:tips:tagkey:{hour}"
        try:
            conn.set(name, key, nx=True, ex=_KEY_TTL)
            key = bytes(conn.get(name) or key)
        except _redis_errors():
            pass
    cache.clear()
    cache[hour] = key
    return key


def client_address() -> str:
    """The client's address as seen through `portal_client_hops` trusted proxies (not kept)."""
    hops = _cfg().portal_client_hops
    if hops > 0:
        chain = [p.strip() for p in request.headers.get("X-Forwarded-For", "").split(",")]
        chain = [p for p in chain if p]
        if len(chain) >= hops:
            return chain[-hops]
    return request.remote_addr or "-"


def current_client_tag() -> str:
    """The rate-limit key of this request: a keyed hash, never the address."""
    return client_tag(_hour_key(current_app._get_current_object()), client_address())  # type: ignore[attr-defined]


def _global_key() -> str:
    return "all"


limiter = Limiter(key_func=current_client_tag, key_prefix="caseapp-tips",
                  headers_enabled=False, strategy="fixed-window")


def submit_limit() -> str:
    """Per-client limit on submissions."""
    return _cfg().portal_submit_limit


def followup_limit() -> str:
    """Per-client limit on receipt attempts."""
    return _cfg().portal_followup_limit


def global_limit() -> str:
    """Limit shared by all clients on each portal POST endpoint."""
    return _cfg().portal_global_limit


class Throttle:
    """Growing delay after wrong receipts, per client tag; failures fade after a window."""

    def __init__(self, cfg: Config, redis_conn: Any | None = None) -> None:
        self.free = cfg.portal_receipt_free_failures
        self.max_delay = cfg.portal_receipt_max_delay_seconds
        self.window = cfg.portal_receipt_failure_window_minutes * 60
        self.redis = redis_conn
        self._memory: dict[str, tuple[int, float]] = {}

    def delay(self, failures: int) -> int:
        """Seconds to wait after `failures` recent wrong receipts."""
        if failures <= self.free:
            return 0
        return int(min(2 ** min(failures - self.free - 1, 30), self.max_delay))

    def _get(self, tag: str) -> tuple[int, float]:
        if self.redis is not None:
            try:
                raw = self.redis.hmget(f"caseapp:tips:fail:{tag}", "n", "t")
            except _redis_errors():  # Redis down: this process's memory meanwhile
                return self._memory.get(tag, (0, 0.0))
            if raw[0] is None:
                return 0, 0.0
            return int(raw[0]), float(raw[1])
        return self._memory.get(tag, (0, 0.0))

    def _put(self, tag: str, count: int, last: float) -> None:
        if self.redis is not None:
            name = f"caseapp:tips:fail:{tag}"
            try:
                self.redis.hset(name, mapping={"n": count, "t": last})
                self.redis.expire(name, self.window + self.max_delay)
                return
            except _redis_errors():
                pass
        with _lock:
            now = _seconds(clock.now())
            if len(self._memory) > 100_000:  # forget faded entries
                self._memory = {k: v for k, v in self._memory.items()
                                if now - v[1] < self.window}
            self._memory[tag] = (count, last)

    def wait_seconds(self, tag: str) -> int:
        """Seconds this client must still wait before its next receipt attempt."""
        count, last = self._get(tag)
        now = _seconds(clock.now())
        if not count or now - last >= self.window:
            return 0
        return max(0, int(last + self.delay(count) - now + 0.999))

    def failed(self, tag: str) -> int:
        """Record a wrong receipt; returns the wait before the next attempt."""
        count, last = self._get(tag)
        now = _seconds(clock.now())
        count = 1 if now - last >= self.window else count + 1
        self._put(tag, count, now)
        return self.delay(count)


def throttle() -> Throttle:
    """The app's throttle (one per app; Redis-backed when Redis is configured)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    found = app.extensions.get("tips_throttle")
    if found is None:
        found = Throttle(app.config["CASEAPP"], _redis(app))
        app.extensions["tips_throttle"] = found
    return found


FLUSH_EVERY = 50


class _Pending:
    """Counts not yet written (per app), flushed in batches to spare the database."""

    def __init__(self) -> None:
        self.counts: dict[tuple[date, str], int] = {}
        self.flushed_at = 0.0


def _pending() -> _Pending:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    found = app.extensions.get("tips_counters")
    if found is None:
        found = app.extensions["tips_counters"] = _Pending()
    return found


def count_event(name: str, day: date | None = None) -> None:
    """Add one to the aggregate daily counter `name`; written in batches, no client kept."""
    key = (day or clock.now().date(), name)
    pending = _pending()
    with _lock:
        pending.counts[key] = pending.counts.get(key, 0) + 1
        due = (sum(pending.counts.values()) >= FLUSH_EVERY
               or time.monotonic() - pending.flushed_at >= 60)
    if due:
        flush_counters()


def flush_counters() -> None:
    """Write the pending counts to `tip_portal_counters` (commits)."""
    pending = _pending()
    with _lock:
        batch = dict(pending.counts)
        pending.counts.clear()
        pending.flushed_at = time.monotonic()
    for (day, name), n in batch.items():
        _add(day, name, n)


def _add(day: date, name: str, n: int) -> None:
    for _attempt in range(3):
        done = db.session.execute(
            update(PortalCounter).where(PortalCounter.day == day, PortalCounter.name == name)
            .values(count=PortalCounter.count + n))
        if getattr(done, "rowcount", 0):
            db.session.commit()
            return
        try:
            db.session.add(PortalCounter(day=day, name=name, count=n))
            db.session.commit()
            return
        except IntegrityError:
            db.session.rollback()


def counter(name: str, day: date | None = None) -> int:
    """An aggregate counter for one day, or summed over all days when `day` is None."""
    flush_counters()
    query = select(func.coalesce(func.sum(PortalCounter.count), 0)).where(
        PortalCounter.name == name)
    if day is not None:
        query = query.where(PortalCounter.day == day)
    return int(db.session.scalar(query) or 0)


def attempt_receipt(receipt: str, tag: str, gate: Throttle | None = None) -> TipsterLogin:
    """Check a typed receipt for a client: Throttled while it must wait, WrongReceipt when wrong."""
    gate = gate or throttle()
    wait = gate.wait_seconds(tag)
    if wait > 0:
        count_event("receipt_throttled")
        raise Throttled(wait)
    try:
        return check_receipt(receipt)
    except WrongReceipt:
        gate.failed(tag)
        count_event("receipt_failed")
        raise


def init_app(app: Flask) -> None:
    """Bind the limiter to the app (Redis storage when configured, memory otherwise)."""
    cfg: Config = app.config["CASEAPP"]
    app.config.setdefault("RATELIMIT_STORAGE_URI", cfg.redis_url or "memory://")
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", False)
    # Redis down: count in this process's memory rather than refuse every tip (500).
    app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    app.config.setdefault("RATELIMIT_STORAGE_OPTIONS",
                          {"socket_connect_timeout": 1, "socket_timeout": 2})
    limiter.init_app(app)
