"""Account domain functions: users, passwords, login throttling, roles and departments."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import lru_cache
from typing import NoReturn

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select

from .. import clock
from ..audit.service import record
from ..config import Config
from ..crypto import (
    DecryptionError,
    KdfParams,
    PrivateKey,
    generate_keypair,
    unlock_user_key,
    wrap_user_key,
)
from ..extensions import db
from . import phantom
from .errors import (
    AccountLocked,
    InvalidInput,
    LoginFailed,
    NotAllowed,
    PasswordChangeRequired,
    PasswordPolicyError,
    TotpRequired,
)
from .keys import create_department
from .models import Department, DepartmentKeyGrant, User, UserRole
from .permissions import Permission, Role
from .sessions import revoke_user_sessions

MIN_PASSWORD_LENGTH = 10
MAX_DELAY_SECONDS = 30
DEPARTMENT_ROLES = frozenset({Role.INTAKE, Role.INVESTIGATOR, Role.DEPT_LEAD,
                              Role.FINANCE_OFFICER, Role.FINANCE_APPROVER})
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9_.\-]{1,63}$")
_CODE = re.compile(r"^[a-z][a-z0-9_]{1,63}$")


def _cfg() -> Config:
    cfg: Config = current_app.config["CASEAPP"]
    return cfg


@lru_cache(maxsize=8)
def _hasher_for(params: KdfParams) -> PasswordHasher:
    return PasswordHasher(time_cost=params.time_cost, memory_cost=params.memory_kib,
                          parallelism=params.parallelism)


def hasher() -> PasswordHasher:
    """The Argon2id password hasher with the configured parameters."""
    return _hasher_for(_cfg().password_kdf)


@lru_cache(maxsize=8)
def _dummy_hash(params: KdfParams) -> str:
    return _hasher_for(params).hash(secrets.token_hex(16))


def verify_password(stored: str, password: str) -> bool:
    """Check a password against its Argon2id hash."""
    try:
        return hasher().verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def check_password_policy(password: str, username: str | None = None) -> None:
    """Raise PasswordPolicyError unless the password is acceptable."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordPolicyError(_l("A password needs at least %(n)d characters.",
                                     n=MIN_PASSWORD_LENGTH))
    if username and password.strip().lower() == username.lower():
        raise PasswordPolicyError(_l("The password may not be the user name."))


def generate_temp_password() -> str:
    """A random temporary password, easy to read out (e.g. `k7dq-m2xa-9fhe-tw4r`)."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    return "-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(4))


def _set_password(user: User, private: PrivateKey, password: str) -> None:
    """Hash the password and wrap the (given) private key under it; user.id must exist."""
    params = _cfg().password_kdf
    user.password_hash = hasher().hash(password)
    user.key_salt, user.private_key_wrapped = wrap_user_key(private, password, user.id, params)
    user.key_kdf = json.dumps(params.as_dict())
    user.public_key = private.public_key().raw


def _require(actor: User | None, permission: Permission) -> None:
    """`actor` None means the command line (a system administrator); otherwise check."""
    if actor is not None and not actor.can(permission):
        raise NotAllowed(_l("You may not do this."))


def _end_sessions(user: User, except_sid: str | None = None) -> None:
    """Invalidate every session of `user` (but `except_sid`) at once."""
    user.session_version = (user.session_version or 0) + 1
    revoke_user_sessions(user.id, except_sid)


def _validate_roles(roles: Iterable[str], department_id: int | None) -> set[str]:
    chosen = {str(r) for r in roles}
    unknown = chosen - set(Role._value2member_map_)
    if unknown:
        raise InvalidInput(_l("Unknown roles: %(roles)s", roles=", ".join(sorted(unknown))))
    if department_id is None and chosen & DEPARTMENT_ROLES:
        raise InvalidInput(_l("These roles need a department."))
    return chosen


# -- users -------------------------------------------------------------------------
def get_user(username: str) -> User | None:
    """The user with this user name."""
    return db.session.scalar(select(User).where(User.username == username.strip().lower()))


def create_user(username: str, display_name: str, department: Department | None,
                roles: Iterable[str], password: str, *, actor: User | None = None,
                must_change_password: bool = False) -> User:
    """A new user with a fresh key pair wrapped under the password; commits."""
    _require(actor, Permission.USERS_MANAGE)
    name = username.strip().lower()
    if not _USERNAME.match(name):
        raise InvalidInput(_l("User names use a-z, 0-9, '.', '_' and '-' (2 to 64 characters)."))
    if get_user(name) is not None:
        raise InvalidInput(_l("The user name %(name)s is taken.", name=name))
    if department is not None and not department.active:
        raise InvalidInput(_l("The department is inactive."))
    check_password_policy(password, name)
    chosen = _validate_roles(roles, department.id if department else None)
    private = generate_keypair()
    user = User(username=name, display_name=display_name.strip() or name,
                department_id=department.id if department else None, active=True,
                password_hash="", failed_logins=0, session_version=1, totp_enabled=False,
                must_change_password=must_change_password, public_key=b"",
                private_key_wrapped=b"", key_salt=b"", key_kdf="{}")
    user.role_rows = [UserRole(role=r) for r in sorted(chosen)]
    db.session.add(user)
    db.session.flush()
    _set_password(user, private, password)
    record("user.created", actor=actor, object_type="user", object_id=user.id,
           detail={"username": name, "roles": sorted(chosen),
                   "department": department.code if department else None})
    db.session.commit()
    return user


# -- login ---------------------------------------------------------------------------
def check_lock(user: User | phantom.Phantom, now: datetime) -> None:
    """Raise AccountLocked while a delay or lock-out runs; reset the count after a lock-out."""
    if user.locked_until is not None and now < user.locked_until:
        raise AccountLocked(user.locked_until)
    if user.locked_until is not None and user.failed_logins >= _cfg().login_max_failures:
        user.failed_logins = 0  # the lock-out was served; start counting again


def register_failure(user: User | phantom.Phantom, now: datetime) -> None:
    """Count a failed attempt: a growing delay, then a lock-out after the configured count."""
    cfg = _cfg()
    user.failed_logins = (user.failed_logins or 0) + 1
    if user.failed_logins >= cfg.login_max_failures:
        user.locked_until = now + timedelta(minutes=cfg.login_lockout_minutes)
    else:
        delay = min(2 ** (user.failed_logins - 1), MAX_DELAY_SECONDS)
        user.locked_until = now + timedelta(seconds=delay)


def _fail(user: User | None, username: str, reason: str) -> LoginFailed:
    record("login.failure", actor=user, object_type="user",
           object_id=user.id if user else None,
           detail={"username": username[:64], "reason": reason})
    db.session.commit()
    return LoginFailed(reason)


def authenticate(username: str, password: str) -> tuple[User, PrivateKey]:
    """Check the password and unlock the user's private key; throttled and audited."""
    now = clock.now()
    user = get_user(username)
    if user is None:
        _unknown_user(username, password, now)
    try:
        check_lock(user, now)
    except AccountLocked:
        record("login.locked", actor=user, object_type="user", object_id=user.id)
        db.session.commit()
        raise
    if not verify_password(user.password_hash, password):
        register_failure(user, now)
        raise _fail(user, username, "password")
    if not user.active:
        raise _fail(user, username, "inactive")
    try:
        private = unlock_user_key(user.private_key_wrapped, user.key_salt, password, user.id,
                                  user.kdf_params)
    except DecryptionError:
        raise _fail(user, username, "key") from None
    user.failed_logins = 0
    user.locked_until = None
    if user.kdf_params != _cfg().password_kdf or hasher().check_needs_rehash(user.password_hash):
        _set_password(user, private, password)
    record("login.password_ok" if user.totp_enabled else "login.success", actor=user,
           object_type="user", object_id=user.id)
    db.session.commit()
    return user, private


def _unknown_user(username: str, password: str, now: datetime) -> NoReturn:
    """Fail exactly as a real account would: same work, same delays, same lock-out."""
    ghost = phantom.load(username)
    try:
        check_lock(ghost, now)
    except AccountLocked:
        record("login.locked", object_type="user", object_id=None)
        db.session.commit()
        raise
    verify_password(_dummy_hash(_cfg().password_kdf), password)  # same work as a real check
    register_failure(ghost, now)
    phantom.save(username, ghost, ttl_seconds=2 * 60 * _cfg().login_lockout_minutes
                 + MAX_DELAY_SECONDS)
    raise _fail(None, username, "unknown")


def totp_required(user: User) -> bool:
    """True when one of the user's roles must use a second factor."""
    return bool(user.roles & set(_cfg().totp_required_roles))


def require_ready(user: User) -> None:
    """Raise when the user must change the password or enrol TOTP before anything else."""
    if user.must_change_password:
        raise PasswordChangeRequired()
    if not user.totp_enabled and totp_required(user):
        raise TotpRequired()


# -- passwords -----------------------------------------------------------------------
def change_password(user: User, old: str, new: str, *, except_sid: str | None = None) -> None:
    """Re-wrap the same key pair under a new password; other sessions end; commits."""
    if not verify_password(user.password_hash, old):
        register_failure(user, clock.now())
        record("password.change_failed", actor=user, object_type="user", object_id=user.id)
        db.session.commit()
        raise LoginFailed("password")
    check_password_policy(new, user.username)
    if new == old:
        raise PasswordPolicyError(_l("The new password must differ from the old one."))
    private = unlock_user_key(user.private_key_wrapped, user.key_salt, old, user.id,
                              user.kdf_params)
    _set_password(user, private, new)
    user.must_change_password = False
    _end_sessions(user, except_sid)
    record("password.changed", actor=user, object_type="user", object_id=user.id)
    db.session.commit()


def admin_reset_password(admin: User | None, user: User, temp_password: str) -> None:
    """Fresh key pair under a temporary password; grants, TOTP and sessions end; commits."""
    _require(admin, Permission.USERS_MANAGE)
    if admin is not None and admin.id == user.id:
        raise NotAllowed(_l("Change your own password on the account page."))
    check_password_policy(temp_password, user.username)
    _set_password(user, generate_keypair(), temp_password)
    db.session.execute(delete(DepartmentKeyGrant).where(DepartmentKeyGrant.user_id == user.id))
    user.totp_enabled = False
    user.totp_secret_sealed = None
    user.totp_last_step = None
    user.must_change_password = True
    user.failed_logins = 0
    user.locked_until = None
    _end_sessions(user)
    record("password.reset", actor=admin, object_type="user", object_id=user.id)
    db.session.commit()


# -- roles, activity, department -----------------------------------------------------
def _apply_department(user: User, department: Department | None) -> bool:
    new_id = department.id if department else None
    if new_id == user.department_id:
        return False
    if department is not None and not department.active:
        raise InvalidInput(_l("The department is inactive."))
    db.session.execute(delete(DepartmentKeyGrant).where(DepartmentKeyGrant.user_id == user.id))
    user.department_id = new_id
    user.department = department
    return True


def _apply_roles(admin: User | None, user: User, roles: Iterable[str]) -> tuple[set[str], set[str]]:
    chosen = _validate_roles(roles, user.department_id)
    if admin is not None and admin.id == user.id and Role.ADMIN in user.roles \
            and Role.ADMIN not in chosen:
        raise NotAllowed(_l("You cannot remove your own administrator role."))
    current = set(user.roles)
    removed, added = current - chosen, chosen - current
    user.role_rows = [r for r in user.role_rows if r.role in chosen]
    user.role_rows.extend(UserRole(role=r) for r in sorted(added))
    return added, removed


def _apply_active(admin: User | None, user: User, active: bool) -> bool:
    if active == user.active:
        return False
    if admin is not None and admin.id == user.id and not active:
        raise NotAllowed(_l("You cannot disable your own account."))
    user.active = active
    return True


def set_roles(admin: User | None, user: User, roles: Iterable[str]) -> None:
    """Replace the user's roles; removing one ends the user's sessions; commits."""
    _require(admin, Permission.USERS_MANAGE)
    added, removed = _apply_roles(admin, user, roles)
    if removed:
        _end_sessions(user)
    record("user.roles_changed", actor=admin, object_type="user", object_id=user.id,
           detail={"added": sorted(added), "removed": sorted(removed)})
    db.session.commit()


def set_active(admin: User | None, user: User, active: bool) -> None:
    """Enable or disable an account; disabling ends its sessions; commits."""
    _require(admin, Permission.USERS_MANAGE)
    if _apply_active(admin, user, active) and not active:
        _end_sessions(user)
    record("user.enabled" if active else "user.disabled", actor=admin, object_type="user",
           object_id=user.id)
    db.session.commit()


def update_user(admin: User | None, user: User, *, display_name: str,
                department: Department | None, roles: Iterable[str], active: bool) -> None:
    """The admin edit form: name, department (grants dropped), roles, active; commits."""
    _require(admin, Permission.USERS_MANAGE)
    user.display_name = display_name.strip() or user.username
    moved = _apply_department(user, department)
    added, removed = _apply_roles(admin, user, roles)
    toggled = _apply_active(admin, user, active)
    if moved or removed or (toggled and not active):
        _end_sessions(user)
    record("user.updated", actor=admin, object_type="user", object_id=user.id,
           detail={"department": department.code if department else None, "moved": moved,
                   "added": sorted(added), "removed": sorted(removed), "active": active})
    db.session.commit()


# -- departments ---------------------------------------------------------------------
def add_department(admin: User | None, code: str, name_zh: str, name_en: str) -> Department:
    """Create a department (key pair sealed to escrow only); commits."""
    _require(admin, Permission.DEPARTMENTS_MANAGE)
    code = code.strip().lower()
    if not _CODE.match(code):
        raise InvalidInput(_l("Codes use a-z, 0-9 and '_' and start with a letter."))
    if not name_zh.strip() or not name_en.strip():
        raise InvalidInput(_l("Both names are required."))
    dept = create_department(code, name_zh, name_en)
    record("department.created", actor=admin, object_type="department", object_id=dept.id,
           detail={"code": code})
    db.session.commit()
    return dept


def rename_department(admin: User | None, dept: Department, name_zh: str, name_en: str) -> None:
    """Change a department's names; commits."""
    _require(admin, Permission.DEPARTMENTS_MANAGE)
    if not name_zh.strip() or not name_en.strip():
        raise InvalidInput(_l("Both names are required."))
    dept.name_zh, dept.name_en = name_zh.strip(), name_en.strip()
    record("department.renamed", actor=admin, object_type="department", object_id=dept.id)
    db.session.commit()


def set_department_active(admin: User | None, dept: Department, active: bool) -> None:
    """Deactivate (or reactivate) a department; its keys and members stay; commits."""
    _require(admin, Permission.DEPARTMENTS_MANAGE)
    dept.active = active
    record("department.activated" if active else "department.deactivated", actor=admin,
           object_type="department", object_id=dept.id)
    db.session.commit()
