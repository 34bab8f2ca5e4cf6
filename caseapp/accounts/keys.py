"""Key operations: the per-request keyring, department keys, grants and escrow recovery."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import g
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from ..audit.service import record
from ..crypto import (
    KeyStore,
    KeyUnavailable,
    PrivateKey,
    department_symmetric_key,
    escrow_aad,
    generate_keypair,
    open_department_key,
    seal,
    seal_department_key,
    unseal,
)
from ..crypto.errors import DecryptionError
from ..extensions import db
from .errors import InvalidInput, NotAllowed
from .models import Department, DepartmentKeyGrant, User
from .permissions import Permission


class Keyring:
    """The keys one user holds during one request; department keys are opened once."""

    def __init__(self, user: User | None, private_key: PrivateKey | None) -> None:
        self.user = user
        self._private = private_key
        self._departments: dict[int, PrivateKey] = {}
        self._symmetric: dict[int, bytes] = {}

    def user_key(self) -> PrivateKey:
        """The user's unlocked private key."""
        if self.user is None or self._private is None:
            raise KeyUnavailable("no unlocked user key in this session")
        return self._private

    def department_key(self, department_id: int) -> PrivateKey:
        """The department private key, via the user's grant (KeyUnavailable without one)."""
        key = self._departments.get(department_id)
        if key is not None:
            return key
        private = self.user_key()
        assert self.user is not None
        wrapped = db.session.scalar(
            select(DepartmentKeyGrant.wrapped).where(
                DepartmentKeyGrant.department_id == department_id,
                DepartmentKeyGrant.user_id == self.user.id,
            )
        )
        if wrapped is None:
            raise KeyUnavailable(f"no key for department {department_id}")
        try:
            key = open_department_key(wrapped, private, department_id, self.user.id)
        except DecryptionError as exc:
            raise KeyUnavailable(f"grant for department {department_id} does not open") from exc
        self._departments[department_id] = key
        return key

    def department_symmetric(self, department_id: int) -> bytes:
        """Symmetric key derived from the department key (per-row unwrapping)."""
        sym = self._symmetric.get(department_id)
        if sym is None:
            sym = department_symmetric_key(self.department_key(department_id))
            self._symmetric[department_id] = sym
        return sym

    def holds(self, department_id: int) -> bool:
        """True when the user can open the department key."""
        try:
            self.department_key(department_id)
        except KeyUnavailable:
            return False
        return True


def current_keyring() -> Keyring:
    """The keyring of the logged-in user for this request (cached on `flask.g`)."""
    ring = g.get("_caseapp_keyring")
    if ring is None:
        from flask import session
        from flask_login import current_user

        user = current_user._get_current_object() if current_user.is_authenticated else None
        getter = getattr(session, "get_secret", None)
        secret = getter() if user is not None and getter is not None else None
        ring = Keyring(user, PrivateKey(secret) if secret else None)
        g._caseapp_keyring = ring
    return ring


# -- departments -------------------------------------------------------------------
def create_department(code: str, name_zh: str, name_en: str, *,
                      store: KeyStore | None = None) -> Department:
    """A department with a fresh key pair, sealed to the escrow key only; commits."""
    code = code.strip().lower()
    if not code or db.session.scalar(select(Department.id).where(Department.code == code)):
        raise InvalidInput(_l("The department code %(code)s is empty or taken.", code=code))
    store = store or _keystore()
    private = generate_keypair()
    dept = Department(code=code, name_zh=name_zh.strip(), name_en=name_en.strip(), active=True,
                      public_key=private.public_key().raw, escrow_wrap=b"",
                      escrow_kid=store.escrow_current)
    db.session.add(dept)
    db.session.flush()
    dept.escrow_wrap = seal(private.to_bytes(), store.escrow_key,
                            escrow_aad("dept", dept.id, store.escrow_current))
    db.session.commit()
    return dept


def _keystore() -> KeyStore:
    from ..keys import keystore

    return keystore()


def _put_grant(dept: Department, dept_key: PrivateKey, member: User,
               granted_by: User | None) -> DepartmentKeyGrant:
    if member.department_id != dept.id:
        raise NotAllowed(_l("The member does not belong to this department."))
    if dept_key.public_key().raw != dept.public_key:
        raise KeyUnavailable("department key does not match its public key")
    wrapped = seal_department_key(dept_key, member.public, dept.id, member.id)
    grant = db.session.scalar(select(DepartmentKeyGrant).where(
        DepartmentKeyGrant.department_id == dept.id, DepartmentKeyGrant.user_id == member.id))
    if grant is None:
        grant = DepartmentKeyGrant(department_id=dept.id, user_id=member.id, wrapped=wrapped)
        db.session.add(grant)
    grant.wrapped = wrapped
    grant.granted_by_id = granted_by.id if granted_by else None
    return grant


def grant_department_key(granter_keyring: Keyring, department_id: int,
                         member: User) -> DepartmentKeyGrant:
    """A key holder with KEYS_GRANT wraps the department key for a member; commits."""
    granter = granter_keyring.user
    if granter is None or not granter.can(Permission.KEYS_GRANT):
        raise NotAllowed(_l("Granting department keys needs the department lead role."))
    dept = db.session.get(Department, department_id)
    if dept is None:
        raise InvalidInput(_l("No such department."))
    dept_key = granter_keyring.department_key(department_id)  # KeyUnavailable if not held
    grant = _put_grant(dept, dept_key, member, granter)
    record("key.granted", actor=granter, object_type="user", object_id=member.id,
           detail={"department": dept.code})
    db.session.commit()
    return grant


def escrow_grant(escrow_private: PrivateKey, escrow_kid: str, department_id: int,
                 member: User) -> DepartmentKeyGrant:
    """Offline recovery/bootstrapping: open the department key with escrow, grant it; commits."""
    dept = db.session.get(Department, department_id)
    if dept is None:
        raise InvalidInput(_l("No such department."))
    if dept.escrow_kid != escrow_kid:
        raise KeyUnavailable(f"department is wrapped for escrow key {dept.escrow_kid}, "
                             f"not {escrow_kid}")
    try:
        raw = unseal(dept.escrow_wrap, escrow_private, escrow_aad("dept", dept.id, escrow_kid))
    except DecryptionError as exc:
        raise KeyUnavailable("the escrow key does not open this department key") from exc
    grant = _put_grant(dept, PrivateKey(raw), member, None)
    record("key.granted", actor=None, object_type="user", object_id=member.id,
           detail={"department": dept.code, "via": "escrow", "escrow_kid": escrow_kid})
    db.session.commit()
    return grant


def members_without_key(department_id: int) -> list[User]:
    """Active members of a department who hold no grant for its key."""
    granted = select(DepartmentKeyGrant.user_id).where(
        DepartmentKeyGrant.department_id == department_id)
    return list(db.session.scalars(
        select(User).where(User.department_id == department_id, User.active.is_(True),
                           User.id.not_in(granted)).order_by(User.username)))


# -- escrow rotation -----------------------------------------------------------------
EscrowRewrapper = Callable[[str, PrivateKey, KeyStore], int]
ESCROW_REWRAPPERS: list[EscrowRewrapper] = []


def add_escrow_rewrapper(func: EscrowRewrapper) -> None:
    """Let another feature re-wrap its escrow-sealed keys during `flask keys rotate-escrow`."""
    if func not in ESCROW_REWRAPPERS:
        ESCROW_REWRAPPERS.append(func)


@dataclass(frozen=True)
class RotationResult:
    """Outcome of one escrow rotation run."""

    rotated: int
    remaining: int


def _rewrap_department(dept: Department, old_private: PrivateKey, old_kid: str,
                       store: KeyStore) -> None:
    raw = unseal(dept.escrow_wrap, old_private, escrow_aad("dept", dept.id, old_kid))
    dept.escrow_wrap = seal(raw, store.escrow_key,
                            escrow_aad("dept", dept.id, store.escrow_current))
    dept.escrow_kid = store.escrow_current


def escrow_kid_of(private: PrivateKey, store: KeyStore) -> str:
    """The key id under which the store knows this escrow private key."""
    raw = private.public_key().raw
    for kid, public in store.escrow_public.items():
        if public == raw:
            return kid
    raise KeyUnavailable("this escrow key is not known to the key store")


def rotate_escrow(old_escrow_private: PrivateKey, store: KeyStore) -> RotationResult:
    """Re-wrap department keys from the old escrow key to the current one; resumable."""
    old_kid = escrow_kid_of(old_escrow_private, store)
    if old_kid == store.escrow_current:
        raise InvalidInput("rotate the key store's escrow key before re-wrapping")
    ids = list(db.session.scalars(select(Department.id).where(
        Department.escrow_kid == old_kid).order_by(Department.id)))
    done = 0
    for dept_id in ids:
        dept = db.session.get(Department, dept_id)
        if dept is None or dept.escrow_kid != old_kid:
            continue
        _rewrap_department(dept, old_escrow_private, old_kid, store)
        record("key.escrow_rewrapped", object_type="department", object_id=dept.id,
               detail={"from": old_kid, "to": store.escrow_current})
        db.session.commit()
        done += 1
    remaining = db.session.scalar(
        select(db.func.count()).select_from(Department)
        .where(Department.escrow_kid != store.escrow_current)) or 0
    return RotationResult(done, int(remaining))
