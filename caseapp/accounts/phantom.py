"""Lock-out state for user names that do not exist, so throttling never tells which do.

A real account answers repeated failures with a growing delay and then a lock-out; an
unknown name must answer the same way, or "please wait" would confirm the name. Its state
lives in Redis (shared by every web process) or in process memory, under an HMAC of the
name with the installation's index key — never the name itself — and expires on its own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app

from ..crypto import blind_index
from ..keys import keystore

MEMORY_LIMIT = 10_000  # names kept per process without Redis (then the oldest half goes)


@dataclass
class Phantom:
    """The lock-out fields of a user that does not exist."""

    failed_logins: int = 0
    locked_until: datetime | None = None


def _name(username: str) -> str:
    return blind_index(keystore().index_key, "login", username.strip().lower()) or "-"


def _redis() -> Any | None:
    url = current_app.config["CASEAPP"].redis_url
    if not url:
        return None
    from ..jobs.outbox import redis_connection

    return redis_connection(url)


def _memory() -> dict[str, Phantom]:
    store: dict[str, Phantom] = current_app.extensions.setdefault("caseapp_phantoms", {})
    return store


def load(username: str) -> Phantom:
    """The phantom's state (fresh when none is kept)."""
    conn, key = _redis(), _name(username)
    if conn is None:
        return _memory().get(key) or Phantom()
    raw = conn.get(f"caseapp:login:phantom:{key}")
    if not raw:
        return Phantom()
    data = json.loads(raw)
    until = data.get("until")
    return Phantom(int(data["failed"]), datetime.fromisoformat(until) if until else None)


def save(username: str, phantom: Phantom, ttl_seconds: int) -> None:
    """Keep the phantom's state for `ttl_seconds`."""
    conn, key = _redis(), _name(username)
    if conn is None:
        memory = _memory()
        if len(memory) >= MEMORY_LIMIT:
            for old in list(memory)[: MEMORY_LIMIT // 2]:
                del memory[old]
        memory[key] = phantom
        return
    until = phantom.locked_until.isoformat() if phantom.locked_until else None
    conn.set(f"caseapp:login:phantom:{key}",
             json.dumps({"failed": phantom.failed_logins, "until": until}), ex=ttl_seconds)
