"""Tables of the accounts feature: departments, users, roles, key grants, server sessions."""

from __future__ import annotations

import json
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .. import clock
from ..crypto import KdfParams, PublicKey
from ..extensions import db
from .permissions import Permission, permissions_for


class Department(db.Model):  # type: ignore[name-defined]
    """A department (卫健委, 公安局 …) with its hybrid key pair; the private half is never clear."""

    __tablename__ = "departments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=clock.now)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    escrow_wrap: Mapped[bytes] = mapped_column(LargeBinary)
    escrow_kid: Mapped[str] = mapped_column(String(64))

    def name(self, locale: str | None = None) -> str:
        """The name in the given locale (Chinese unless English is asked for)."""
        return self.name_en if locale == "en" else self.name_zh

    @property
    def public(self) -> PublicKey:
        """The department public key."""
        return PublicKey(self.public_key)

    def __repr__(self) -> str:
        return f"<Department {self.code}>"


class UserRole(db.Model):  # type: ignore[name-defined]
    """One role held by one user."""

    __tablename__ = "user_roles"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(32), primary_key=True)


class User(UserMixin, db.Model):  # type: ignore[name-defined]
    """A staff member: one department (or none), several roles, a password-wrapped key pair."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime)
    totp_secret_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    totp_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=clock.now)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    private_key_wrapped: Mapped[bytes] = mapped_column(LargeBinary)
    key_salt: Mapped[bytes] = mapped_column(LargeBinary)
    key_kdf: Mapped[str] = mapped_column(String(200))

    department: Mapped[Department | None] = relationship(lazy="joined")
    role_rows: Mapped[list[UserRole]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by=UserRole.role
    )

    @property
    def roles(self) -> frozenset[str]:
        """Names of the roles the user holds."""
        return frozenset(r.role for r in self.role_rows)

    @property
    def permissions(self) -> frozenset[Permission]:
        """Every permission the user's roles grant."""
        return permissions_for(self.roles)

    def can(self, permission: Permission) -> bool:
        """True when one of the user's roles grants `permission` (and the account is active)."""
        return self.active and permission in self.permissions

    @property
    def is_active(self) -> bool:
        """Flask-Login: disabled accounts cannot log in."""
        return bool(self.active)

    @property
    def kdf_params(self) -> KdfParams:
        """The Argon2id parameters the private key is wrapped under."""
        return KdfParams(**json.loads(self.key_kdf))

    @property
    def public(self) -> PublicKey:
        """The user's public key."""
        return PublicKey(self.public_key)

    def __repr__(self) -> str:
        return f"<User {self.username}>"


class DepartmentKeyGrant(db.Model):  # type: ignore[name-defined]
    """A department private key sealed to one member's public key."""

    __tablename__ = "department_key_grants"
    __table_args__ = (UniqueConstraint("department_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    department_id: Mapped[int] = mapped_column(
        ForeignKey("departments.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    wrapped: Mapped[bytes] = mapped_column(LargeBinary)
    granted_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(DateTime, default=clock.now)


class ServerSession(db.Model):  # type: ignore[name-defined]
    """A server-side session; the id is a hash of the cookie token, never the token."""

    __tablename__ = "server_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    data: Mapped[str] = mapped_column(Text, default="{}")
    secret: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=clock.now)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime, default=clock.now)
    expires_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    kind: Mapped[str] = mapped_column(String(16), default="staff")
