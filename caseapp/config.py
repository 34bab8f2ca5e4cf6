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
    # -- tip portal (caseapp/tips, docs/portal.md) --------------------------------------
    intake_department: str = "health"
    upload_dir: Path | None = None  # encrypted upload store; default instance/uploads
    regions_file: Path | None = None  # JSON region tree; default caseapp/tips/regions.json
    portal_max_file_bytes: int = 20 * 1024 * 1024
    portal_max_files: int = 5
    portal_max_image_pixels: int = 25_000_000
    portal_spool_memory_bytes: int = 256 * 1024
    portal_spool_dir: Path | None = None  # where spilled (encrypted) uploads go; default TMPDIR
    portal_session_idle_minutes: int = 15
    portal_min_fill_seconds: int = 4
    portal_form_max_age_hours: int = 24
    portal_resubmit_window_minutes: int = 10
    portal_submit_limit: str = "10 per minute;40 per hour"
    portal_followup_limit: str = "20 per minute;120 per hour"
    portal_global_limit: str = "600 per minute"
    portal_receipt_free_failures: int = 3
    portal_receipt_max_delay_seconds: int = 300
    portal_receipt_failure_window_minutes: int = 60
    portal_client_hops: int = 0  # trusted proxies in X-Forwarded-For, for rate limiting only
    # -- rewards (caseapp/rewards) -------------------------------------------------------
    bounty_amount_cny: int = 10000  # the fixed bounty, copied onto a reward when it is eligible
    reward_currency: str = "CNY"
    reward_claim_days: int = 90  # claim window after eligibility; then the reward expires
    reward_reminder_days: int = 14  # the portal warns when fewer days than this are left
    reward_excluded_roles: tuple[str, ...] = (  # tips from staff holding these roles earn none
        "admin", "investigator", "dept_lead", "finance_officer", "finance_approver",
        "supervisor", "auditor")
    finance_department: str = "finance"  # code of the department whose key opens claims
    reward_offices: tuple[str, ...] = ("财政局举报奖励兑付窗口",)  # in-person collection offices
    reward_expiry_every_seconds: int = 3600  # how often the expiry sweep runs

    # -- case workflow (caseapp/cases) -------------------------------------------------
    ack_days: int = 3  # a new tip should be acknowledged (opened by intake) within this
    decision_days: int = 10  # and have a first intake decision within this
    case_days: int = 90  # target from opening a case to closing it (sets Case.due_on)
    case_upload_dir: Path | None = None  # encrypted evidence store; default instance/uploads/cases
    case_max_evidence_bytes: int = 200 * 1024 * 1024  # one evidence file, enforced while streaming
    case_max_evidence_files: int = 1  # file parts in one staff request (the request size follows)
    max_form_parts: int = 500  # multipart parts (fields and files) of any request; 413 beyond
    escalation_every_seconds: int = 3600  # how often overdue tips are escalated
    stats_refresh_seconds: int = 600  # how often the statistics roll-up is rebuilt
    # -- retention (caseapp/retention, docs/retention.md) ---------------------------------
    tip_rejected_days: int = 90  # a tip rejected or referred by intake
    case_unsubstantiated_days: int = 730  # a case closed unsubstantiated / without evidence
    archive_days: int = 10950  # 30 years (定期30年): substantiated cases, paid rewards
    retention_warning_days: int = 30  # the lead department is told this long before expiry
    retention_every_seconds: int = 3600  # how often warnings and the purge run

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
            portal_submit_limit=env.get("CASEAPP_PORTAL_SUBMIT_LIMIT") or cls.portal_submit_limit,
            portal_global_limit=env.get("CASEAPP_PORTAL_GLOBAL_LIMIT") or cls.portal_global_limit,
        )


def _instance_secret(inst: Path) -> str:
    """Read or create the instance's Flask secret (used for CSRF token signing)."""
    path = inst / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()
