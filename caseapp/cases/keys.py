"""Case keys: create, wrap for departments and escrow, open (cached per request), rotate.

Wrap bindings: a department seal and a department symmetric wrap use
`case:<id>:v<ver>:dept:<dept id>`; the escrow seal uses `escrow_aad("case", "<id>:v<ver>", kid)`.
Opening prefers the symmetric wrap (AES only); the first opening through the HPKE seal adds
the symmetric wrap so that list pages open at most one department private key per request.

Wraps hold the raw key K; what `issue_key`/`open_case_key(s)`/`all_versions` return (and
what content is encrypted under) is the content key K XOR pad mask of the case's retention
lock (`caseapp.retention.locks`), so K from an old backup opens nothing once purged.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from flask import g, has_request_context
from sqlalchemy import delete, select

from ..accounts.models import Department
from ..crypto import (
    DecryptionError,
    KeyUnavailable,
    PublicKey,
    escrow_aad,
    random_key,
    seal,
    unseal,
    unwrap_key,
    wrap_key,
)
from ..extensions import db
from ..keys import keystore
from ..retention.locks import ensure_lock, padded, pads_of, subject_key
from ..retention.models import RetentionKind
from .models import Case, CaseDepartment, CaseKeyWrap, WrapKind

_CACHE = "_caseapp_case_keys"


def wrap_aad(case_id: int, version: int, dept_id: int) -> str:
    """Binding of a case key version wrapped for a department."""
    return f"case:{case_id}:v{version}:dept:{dept_id}"


def _cache() -> dict[tuple[int, int], bytes]:
    """Opened case keys of this request (a throw-away dict outside requests)."""
    if not has_request_context():
        return {}
    cache: dict[tuple[int, int], bytes] | None = g.get(_CACHE)
    if cache is None:
        cache = {}
        setattr(g, _CACHE, cache)
    return cache


def forget_cached(case_id: int) -> None:
    """Drop the cached keys of a case (after a rotation or a department change)."""
    cache = _cache()
    for k in [k for k in cache if k[0] == case_id]:
        del cache[k]


def department_ids(case_id: int) -> list[int]:
    """Departments on a case."""
    return list(db.session.scalars(select(CaseDepartment.department_id).where(
        CaseDepartment.case_id == case_id)))


def _user_department(keyring: Any) -> int:
    user = keyring.user
    dept_id = getattr(user, "department_id", None) if user is not None else None
    if dept_id is None:
        raise KeyUnavailable("the user belongs to no department")
    return int(dept_id)


# -- wrapping ------------------------------------------------------------------------
def seal_for_department(case_id: int, version: int, key: bytes, dept: Department) -> CaseKeyWrap:
    """HPKE-seal a case key version to a department public key (not yet added)."""
    return CaseKeyWrap(case_id=case_id, key_version=version,
                       holder_kind=WrapKind.DEPARTMENT.value, holder_id=str(dept.id),
                       wrapped=seal(key, PublicKey(dept.public_key),
                                    wrap_aad(case_id, version, dept.id)))


def _symmetric_wrap(case_id: int, version: int, key: bytes, dept_id: int,
                    sym: bytes) -> CaseKeyWrap:
    return CaseKeyWrap(case_id=case_id, key_version=version,
                       holder_kind=WrapKind.DEPARTMENT_SYM.value, holder_id=str(dept_id),
                       wrapped=wrap_key(sym, key, wrap_aad(case_id, version, dept_id)))


def _escrow_wrap(case_id: int, version: int, key: bytes) -> CaseKeyWrap:
    store = keystore()
    kid = store.escrow_current
    return CaseKeyWrap(case_id=case_id, key_version=version, holder_kind=WrapKind.ESCROW.value,
                       holder_id=kid,
                       wrapped=seal(key, store.escrow_key,
                                    escrow_aad("case", f"{case_id}:v{version}", kid)))


def issue_key(case: Case, version: int, departments: Iterable[Department],
              keyring: Any | None = None) -> bytes:
    """A fresh key `version` for `case`, sealed to each department and escrow; flushes.

    When the acting user holds one of those departments' keys, a symmetric wrap is added
    for it too (their next list page needs no HPKE).
    """
    key = random_key()
    pad = ensure_lock(RetentionKind.CASE, case.id)
    own = getattr(getattr(keyring, "user", None), "department_id", None)
    rows = [_escrow_wrap(case.id, version, key)]
    for dept in departments:
        rows.append(seal_for_department(case.id, version, key, dept))
        if keyring is not None and dept.id == own and keyring.holds(dept.id):
            rows.append(_symmetric_wrap(case.id, version, key, dept.id,
                                        keyring.department_symmetric(dept.id)))
    db.session.add_all(rows)
    db.session.flush()
    content = padded(pad, RetentionKind.CASE, case.id, key, version)
    _cache()[(case.id, version)] = content
    return content


# -- opening -------------------------------------------------------------------------
WrapRow = tuple[int, str, bytes]  # (wrap row id, holder kind, wrapped bytes)


def _open_from_wraps(case_id: int, version: int, dept_id: int, wraps: Sequence[WrapRow],
                     keyring: Any) -> bytes:
    sym_row = next((w for w in wraps if w[1] == WrapKind.DEPARTMENT_SYM), None)
    if sym_row is not None:
        try:
            return unwrap_key(keyring.department_symmetric(dept_id), sym_row[2],
                              wrap_aad(case_id, version, dept_id))
        except DecryptionError:
            pass  # a damaged cache entry: fall back to the seal and rewrite it
    seal_row = next((w for w in wraps if w[1] == WrapKind.DEPARTMENT), None)
    if seal_row is None:
        raise KeyUnavailable(f"case {case_id} v{version} is not wrapped for department {dept_id}")
    try:
        key = unseal(seal_row[2], keyring.department_key(dept_id),
                     wrap_aad(case_id, version, dept_id))
    except DecryptionError as exc:
        raise KeyUnavailable(f"case {case_id} v{version} does not open") from exc
    if sym_row is not None:
        db.session.execute(delete(CaseKeyWrap).where(CaseKeyWrap.id == sym_row[0]))
    db.session.add(_symmetric_wrap(case_id, version, key, dept_id,
                                   keyring.department_symmetric(dept_id)))
    db.session.flush()
    return key


def _member_wraps(case_ids: Sequence[int], dept_id: int,
                  version: int | None = None) -> dict[tuple[int, int], list[WrapRow]]:
    """The department's wraps of the given cases, only where it is on the case (one query)."""
    stmt = (select(CaseKeyWrap.id, CaseKeyWrap.case_id, CaseKeyWrap.key_version,
                   CaseKeyWrap.holder_kind, CaseKeyWrap.wrapped)
            .join(CaseDepartment, (CaseDepartment.case_id == CaseKeyWrap.case_id)
                  & (CaseDepartment.department_id == dept_id))
            .where(CaseKeyWrap.case_id.in_(list(case_ids)),
                   CaseKeyWrap.holder_id == str(dept_id),
                   CaseKeyWrap.holder_kind.in_([WrapKind.DEPARTMENT_SYM.value,
                                                WrapKind.DEPARTMENT.value])))
    if version is not None:
        stmt = stmt.where(CaseKeyWrap.key_version == version)
    out: dict[tuple[int, int], list[WrapRow]] = {}
    for row_id, case_id, ver, kind, wrapped in db.session.execute(stmt):
        out.setdefault((case_id, ver), []).append((row_id, kind, wrapped))
    return out


def open_case_key(case: Case, keyring: Any, version: int | None = None) -> bytes:
    """The case key `version` (default: newest) for the keyring's user; KeyUnavailable else."""
    ver = case.key_version if version is None else int(version)
    cache = _cache()
    if (case.id, ver) in cache:
        return cache[(case.id, ver)]
    dept_id = _user_department(keyring)
    wraps = _member_wraps([case.id], dept_id, ver).get((case.id, ver))
    if not wraps:
        raise KeyUnavailable(f"department {dept_id} holds no key {ver} of case {case.id}")
    key = subject_key(RetentionKind.CASE, case.id,
                      _open_from_wraps(case.id, ver, dept_id, wraps, keyring), ver)
    cache[(case.id, ver)] = key
    return key


def open_case_keys(pairs: Iterable[tuple[int, int]], keyring: Any) -> dict[tuple[int, int], bytes]:
    """Open many (case id, version) keys with one query; unopenable ones are left out."""
    cache = _cache()
    wanted = {(int(c), int(v)) for c, v in pairs}
    missing = sorted(p for p in wanted if p not in cache)
    if missing:
        try:
            dept_id = _user_department(keyring)
        except KeyUnavailable:
            return {p: cache[p] for p in wanted if p in cache}
        found = _member_wraps(sorted({c for c, _ in missing}), dept_id)
        pads = pads_of(RetentionKind.CASE, {c for c, _ in found})
        for pair in missing:
            if pair not in found or pair[0] not in pads:
                continue
            try:
                raw = _open_from_wraps(pair[0], pair[1], dept_id, found[pair], keyring)
            except KeyUnavailable:
                continue
            cache[pair] = padded(pads[pair[0]], RetentionKind.CASE, pair[0], raw, pair[1])
    return {p: cache[p] for p in wanted if p in cache}


def all_versions(case: Case, keyring: Any) -> dict[int, bytes]:
    """Every version's content key the user can open (KeyUnavailable if any is missing)."""
    return {v: open_case_key(case, keyring, v) for v in range(1, case.key_version + 1)}


# -- departments joining and leaving ---------------------------------------------------
def grant_department(case: Case, dept: Department, keyring: Any) -> int:
    """Seal every version of the case key to a joining department; returns versions sealed."""
    keys = {v: subject_key(RetentionKind.CASE, case.id, k, v)  # content key → raw K
            for v, k in all_versions(case, keyring).items()}
    db.session.execute(delete(CaseKeyWrap).where(
        CaseKeyWrap.case_id == case.id, CaseKeyWrap.holder_id == str(dept.id),
        CaseKeyWrap.holder_kind.in_([WrapKind.DEPARTMENT.value,
                                     WrapKind.DEPARTMENT_SYM.value])))
    db.session.add_all(seal_for_department(case.id, v, k, dept) for v, k in keys.items())
    db.session.flush()
    return len(keys)


def revoke_department(case: Case, dept_id: int, remaining: Iterable[Department],
                      keyring: Any) -> int:
    """Delete every wrap a leaving department had and rotate; returns the new version."""
    db.session.execute(delete(CaseKeyWrap).where(
        CaseKeyWrap.case_id == case.id, CaseKeyWrap.holder_id == str(dept_id),
        CaseKeyWrap.holder_kind.in_([WrapKind.DEPARTMENT.value,
                                     WrapKind.DEPARTMENT_SYM.value])))
    new_version = case.key_version + 1
    forget_cached(case.id)
    issue_key(case, new_version, remaining, keyring)
    case.key_version = new_version
    db.session.flush()
    return new_version


# -- escrow rotation -----------------------------------------------------------------
def rewrap_cases_for_escrow(old_kid: str, old_private: Any, store: Any) -> int:
    """Move every case key version sealed to escrow key `old_kid` to the current one; commits.

    Registered with `accounts.keys.add_escrow_rewrapper`, so `flask keys rotate-escrow`
    re-seals case keys with department keys, tips and claims.
    """
    done = 0
    rows = db.session.scalars(select(CaseKeyWrap).where(
        CaseKeyWrap.holder_kind == WrapKind.ESCROW.value, CaseKeyWrap.holder_id == old_kid))
    for wrap in rows.all():
        obj = f"{wrap.case_id}:v{wrap.key_version}"
        key = unseal(wrap.wrapped, old_private, escrow_aad("case", obj, old_kid))
        wrap.wrapped = seal(key, store.escrow_key, escrow_aad("case", obj, store.escrow_current))
        wrap.holder_id = store.escrow_current
        done += 1
        if done % 200 == 0:
            db.session.commit()
    db.session.commit()
    return done
