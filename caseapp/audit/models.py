"""Audit tables: the hash-chained entries and the single head row that serialises appends."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DDL, DateTime, Index, Integer, String, Text, event
from sqlalchemy.orm import Mapped, mapped_column

from ..database import pg_append_only
from ..extensions import db

GENESIS_HASH = "0" * 64

# PostgreSQL: the log refuses UPDATE, DELETE and TRUNCATE; the head only moves forward.
# The initial Alembic revision holds a frozen copy of these statements.
_ENTRIES_SQL, _ENTRIES_DROP_SQL = pg_append_only("audit_entries")
PG_TRIGGER_SQL: tuple[str, ...] = (
    *_ENTRIES_SQL,
    """
CREATE OR REPLACE FUNCTION audit_head_forward_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND NEW.id = OLD.id AND NEW.seq = OLD.seq + 1 THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION USING
    MESSAGE = 'audit_head only moves forward: ' || TG_OP || ' refused',
    ERRCODE = 'insufficient_privilege';
END;
$$
""",
    """
CREATE TRIGGER audit_head_forward_only
BEFORE UPDATE OR DELETE ON audit_head
FOR EACH ROW EXECUTE FUNCTION audit_head_forward_only()
""",
    """
CREATE TRIGGER audit_head_no_truncate
BEFORE TRUNCATE ON audit_head
FOR EACH STATEMENT EXECUTE FUNCTION audit_head_forward_only()
""",
)
PG_TRIGGER_DROP_SQL: tuple[str, ...] = (
    "DROP TRIGGER IF EXISTS audit_head_no_truncate ON audit_head",
    "DROP TRIGGER IF EXISTS audit_head_forward_only ON audit_head",
    "DROP FUNCTION IF EXISTS audit_head_forward_only()",
    *_ENTRIES_DROP_SQL,
)


class AuditEntry(db.Model):  # type: ignore[name-defined]
    """One audit event; `hash` chains it to the entry before it (metadata only, no content)."""

    __tablename__ = "audit_entries"
    __table_args__ = (
        Index("ix_audit_entries_actor_id", "actor_id"),
        Index("ix_audit_entries_object", "object_type", "object_id"),
        Index("ix_audit_entries_created_at", "created_at"),
        Index("ix_audit_entries_action", "action"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, unique=True, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    actor_id: Mapped[int | None] = mapped_column(Integer, nullable=True)  # no FK on purpose
    actor_name: Mapped[str] = mapped_column(String(200), nullable=False)
    action: Mapped[str] = mapped_column(String(100), nullable=False)
    object_type: Mapped[str | None] = mapped_column(String(100), nullable=True)
    object_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    detail: Mapped[str] = mapped_column(Text, nullable=False, default="{}")
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    hash: Mapped[str] = mapped_column(String(64), nullable=False)

    def __repr__(self) -> str:
        return f"<AuditEntry #{self.seq} {self.action}>"


class AuditHead(db.Model):  # type: ignore[name-defined]
    """The single row (id=1) holding the last seq and hash; locked by every append."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    last_hash: Mapped[str] = mapped_column(String(64), nullable=False)


def _attach_pg_triggers() -> None:
    """Create the triggers whenever `create_all` creates the tables on PostgreSQL."""
    entries_sql, head_sql = PG_TRIGGER_SQL[:3], PG_TRIGGER_SQL[3:]
    for table, statements in ((AuditEntry.__table__, entries_sql),
                              (AuditHead.__table__, head_sql)):
        for sql in statements:
            event.listen(table, "after_create", DDL(sql).execute_if(dialect="postgresql"))


_attach_pg_triggers()
