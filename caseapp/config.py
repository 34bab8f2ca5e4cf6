"""One typed, frozen configuration object, read from the environment or built by tests."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .crypto.keyring import KdfParams


@dataclass(frozen=True)
class Config:
    """Everything the app reads at start-up; nothing else reads the environment."""

    instance_path: Path
    database_url: str
    secret_key: str
    redis_url: str | None = None
    testing: bool = False
    default_locale: str = "zh_CN"
    locales: tuple[str, ...] = ("zh_CN", "en")
    session_idle_minutes: int = 30
    session_absolute_hours: int = 10
    session_cookie_secure: bool = False
    login_max_failures: int = 5
    login_lockout_minutes: int = 15
    totp_required_roles: tuple[str, ...] = ()
    password_kdf: KdfParams = field(default_factory=lambda: KdfParams(3, 65536, 2))
    receipt_kdf: KdfParams = field(default_factory=lambda: KdfParams(2, 65536, 1))
    job_max_retries: int = 3
    job_retry_intervals: tuple[int, ...] = (10, 60, 300)
    rq_queue: str = "caseapp"
    proxy_fix: bool = False

    @property
    def keys_dir(self) -> Path:
        """Directory of the installation key store (kept out of database backups)."""
        return self.instance_path / "keys"

    def with_(self, **changes: Any) -> Config:
        """A copy with some fields changed (tests use this)."""
        return replace(self, **changes)

    @classmethod
    def from_env(cls, instance_path: Path | None = None) -> Config:
        """Build the config from environment variables with embedded defaults."""
        env = os.environ
        inst = Path(env.get("CASEAPP_INSTANCE", instance_path or Path.cwd() / "instance")).resolve()
        inst.mkdir(parents=True, exist_ok=True)
        db = env.get("DATABASE_URL") or f"sqlite:///{inst / 'caseapp.sqlite3'}"
        return cls(
            instance_path=inst,
            database_url=db,
            secret_key=env.get("SECRET_KEY") or _instance_secret(inst),
            redis_url=env.get("REDIS_URL") or None,
            session_cookie_secure=env.get("CASEAPP_SECURE_COOKIES", "0") == "1",
            totp_required_roles=tuple(
                r for r in env.get("CASEAPP_TOTP_ROLES", "").split(",") if r
            ),
            proxy_fix=env.get("CASEAPP_PROXY_FIX", "0") == "1",
        )


def _instance_secret(inst: Path) -> str:
    """Read or create the instance's Flask secret (used for CSRF token signing)."""
    path = inst / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()
