"""Small shared helpers of the case services: config, row envelopes, guards, audit."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from flask import current_app
from sqlalchemy import select

from .. import clock
from ..audit.service import record
from ..config import Config
from ..crypto import decrypt_text, encrypt_field
from ..extensions import db
from .errors import CaseClosed, NotAllowed, NotOnCase
from .keys import open_case_key
from .models import Case, CaseDepartment, CaseStatus


def cfg() -> Config:
    """The app's configuration."""
    config: Config = current_app.config["CASEAPP"]
    return config


def row_aad(case_id: int, kind: str, row_id: int | str) -> str:
    """Binding of an encrypted case row: `case:<id>:<kind>:<row id>`."""
    return f"case:{case_id}:{kind}:{row_id}"


def header_aad(case_id: int) -> str:
    """Binding of a case's title and summary."""
    return f"case:{case_id}:header"


def seal_json(key: bytes, data: dict[str, Any], aad: str) -> bytes:
    """Encrypt a JSON object."""
    return encrypt_field(key, json.dumps(data, ensure_ascii=False), aad)


def open_json(key: bytes, blob: bytes, aad: str) -> dict[str, Any]:
    """Decrypt a JSON object made by `seal_json`."""
    value = json.loads(decrypt_text(key, blob, aad))
    return value if isinstance(value, dict) else {}


def clean(text: str | None, limit: int = 10_000) -> str:
    """Trimmed text of bounded length."""
    return (text or "").strip()[:limit]


def current_key(case: Case, keyring: Any) -> tuple[int, bytes]:
    """(newest version, key): what new content of the case is encrypted under."""
    return case.key_version, open_case_key(case, keyring, case.key_version)


def membership(case_id: int, user: Any) -> str | None:
    """The user's department's role on the case ("lead"/"joint"), or None."""
    dept_id = getattr(user, "department_id", None)
    if dept_id is None:
        return None
    return db.session.scalar(select(CaseDepartment.role).where(
        CaseDepartment.case_id == case_id, CaseDepartment.department_id == dept_id))


def require_member(case: Case, user: Any) -> str:
    """The user's role on the case; NotOnCase when their department is not on it."""
    role = membership(case.id, user)
    if role is None:
        raise NotOnCase(f"case {case.id}")
    return role


def require_lead_member(case: Case, user: Any) -> None:
    """Only members of the lead department may do this."""
    require_member(case, user)
    if getattr(user, "department_id", None) != case.lead_department_id:
        raise NotAllowed("only the lead department may do this")


def ensure_writable(case: Case) -> None:
    """A closed case is read-only."""
    if case.status == CaseStatus.CLOSED:
        raise CaseClosed(f"case {case.id} is closed")


def touch(case: Case) -> None:
    """Mark the case as changed now."""
    case.updated_at = clock.now()


def audit(event: str, case: Case | int, actor: Any, /, **detail: Any) -> None:
    """An audit entry on the case timeline (sub-object ids go in the detail)."""
    case_id = case if isinstance(case, int) else case.id
    record(event, actor=actor, object_type="case", object_id=case_id, detail=detail or None)


def opened(object_type: str, object_id: int | None, actor: Any, view: str,
           **detail: Any) -> None:
    """The audit entry every view that shows decrypted content writes."""
    record("content.opened", actor=actor, object_type=object_type, object_id=object_id,
           detail={"view": view, **detail})


def commit_for_display() -> None:
    """Commit (audit entries, cached wraps) without expiring the rows the page will render."""
    session = db.session()
    keep = session.expire_on_commit
    session.expire_on_commit = False
    try:
        session.commit()
    finally:
        session.expire_on_commit = keep


RowT = TypeVar("RowT")


@dataclass
class Page(Generic[RowT]):
    """One page of a staff list (queue, cases, tasks)."""

    rows: list[RowT]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        """Number of pages."""
        return max(1, -(-self.total // self.per_page))
