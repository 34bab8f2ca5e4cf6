"""Opening a tip: with the receipt (the tipster) or with a department or case key (staff).

The tip key is what both sides can open: the tipster through the key derived from the
receipt, the intake department through its key pair, a case's departments through the
case key once the tip joins a case. Messages and files are encrypted under the tip's
content key: the wrapped key XOR the mask of the tip's retention pad (`retention.locks`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import clock
from ..config import Config
from ..crypto import (
    DecryptionError,
    KeyUnavailable,
    PrivateKey,
    blind_index,
    decrypt_text,
    encrypt_field,
    normalise_receipt,
    tipster_credentials,
    unseal,
    unwrap_key,
    wrap_key,
)
from ..extensions import db
from ..keys import keystore
from ..retention.locks import subject_key
from ..retention.models import RetentionKind
from .errors import TipNotReadable, WrongReceipt
from .models import HolderKind, Tip, TipBlindIndex, TipFile, TipKeyWrap, TipMessage
from .service import content_aad, file_aad, key_aad, remove_written, store_file
from .uploads import UploadedFile, UploadStore

MAX_MESSAGE_CHARS = 10_000


@dataclass(frozen=True)
class TipsterLogin:
    """What the portal session keeps after a correct receipt."""

    tip_id: int
    lookup: str
    private_key: bytes


@dataclass(frozen=True)
class FileInfo:
    """Decrypted description of one file."""

    id: int
    name: str
    mime: str
    size: int
    sha256: str
    scrubbed: bool
    message_id: int | None


@dataclass(frozen=True)
class MessageView:
    """One decrypted message."""

    id: int
    author: str
    created_at: datetime
    body: str
    files: list[FileInfo] = field(default_factory=list)


@dataclass(frozen=True)
class TipContent:
    """A tip opened with its key."""

    tip: Tip
    submitted_at: datetime
    fields: dict[str, str]
    files: list[FileInfo]
    messages: list[MessageView]


# -- the tipster ---------------------------------------------------------------------
def check_receipt(receipt: str, session: Session | None = None) -> TipsterLogin:
    """The tip answering to a typed receipt; WrongReceipt otherwise (mistypes cost no hash)."""
    sess: Any = session or db.session
    digits = normalise_receipt(receipt or "")
    if digits is None:
        raise WrongReceipt("format")
    cfg: Config = current_app.config["CASEAPP"]
    creds = tipster_credentials(digits, keystore().receipt_salt, cfg.receipt_kdf)
    tip_id = sess.scalar(select(Tip.id).where(Tip.receipt_lookup == creds.lookup))
    if tip_id is None:
        raise WrongReceipt("unknown")
    return TipsterLogin(tip_id, creds.lookup, creds.private_key.to_bytes())


def tipster_tip(login_lookup: str, private_key: bytes,
                session: Session | None = None) -> tuple[Tip, bytes]:
    """The tip and its key, opened with the tipster key kept in the portal session."""
    sess: Any = session or db.session
    tip = sess.scalar(select(Tip).where(Tip.receipt_lookup == login_lookup))
    if tip is None:
        raise WrongReceipt("gone")
    wrap = _wrap(tip.id, HolderKind.TIPSTER, "")
    if wrap is None:
        raise TipNotReadable("no tipster wrap")
    try:
        key = unseal(wrap, PrivateKey(private_key), key_aad(tip.id, "tipster"))
    except DecryptionError as exc:
        raise TipNotReadable("tipster key does not open the tip") from exc
    return tip, _content_key(tip.id, key)


def open_with_receipt(receipt: str) -> TipContent:
    """Everything the tipster may see, opened with the receipt alone."""
    login = check_receipt(receipt)
    tip, key = tipster_tip(login.lookup, login.private_key)
    return open_content(tip, key)


def add_tipster_message(tip: Tip, tip_key: bytes, body: str,
                        files: list[UploadedFile] | None = None) -> TipMessage:
    """A reply from the tipster, with optional files; commits (or stores nothing)."""
    return _add_message(tip, tip_key, "tipster", None, body, files or [])


# -- staff -------------------------------------------------------------------------
def open_tip_key(tip: Tip, keyring: Any) -> bytes:
    """The tip's content key via the department symmetric wrap or the department seal.

    Case members open tips through `caseapp.cases.tipkeys.case_tip_keys` instead.

    `keyring` is `caseapp.accounts.keys.current_keyring()`; the first time a department
    opens a tip through its (slow) HPKE seal, a symmetric wrap is added so later list pages
    only do AES. Raises TipNotReadable when nothing the caller holds opens the tip.
    """
    return _content_key(tip.id, _open_raw(tip, keyring))


def _open_raw(tip: Tip, keyring: Any) -> bytes:
    wraps = db.session.scalars(select(TipKeyWrap).where(TipKeyWrap.tip_id == tip.id)).all()
    for wrap in wraps:
        if wrap.holder_kind == HolderKind.DEPARTMENT_SYM:
            try:
                sym = keyring.department_symmetric(int(wrap.holder_id))
                return unwrap_key(sym, wrap.wrapped, key_aad(tip.id, "department",
                                                             wrap.holder_id))
            except (KeyUnavailable, DecryptionError):
                continue
    for wrap in wraps:
        if wrap.holder_kind == HolderKind.DEPARTMENT:
            dept_id = int(wrap.holder_id)
            try:
                key = unseal(wrap.wrapped, keyring.department_key(dept_id),
                             key_aad(tip.id, "department", dept_id))
            except (KeyUnavailable, DecryptionError):
                continue
            _add_symmetric_wrap(tip.id, dept_id, key, keyring.department_symmetric(dept_id))
            return key
    raise TipNotReadable(f"no key held for tip {tip.id}")


def _content_key(tip_id: int, raw_key: bytes) -> bytes:
    """The key a tip's content is encrypted under; TipNotReadable once it is purged."""
    try:
        return subject_key(RetentionKind.TIP, tip_id, raw_key)
    except KeyUnavailable as exc:
        raise TipNotReadable(f"tip {tip_id}: {exc}") from exc


def _add_symmetric_wrap(tip_id: int, dept_id: int, tip_key: bytes, sym: bytes) -> None:
    """Cache a department's access as a symmetric wrap (flushed with the caller's commit)."""
    if _wrap(tip_id, HolderKind.DEPARTMENT_SYM, str(dept_id)) is None:
        db.session.add(TipKeyWrap(tip_id=tip_id, holder_kind=HolderKind.DEPARTMENT_SYM.value,
                                  holder_id=str(dept_id),
                                  wrapped=wrap_key(sym, tip_key,
                                                   key_aad(tip_id, "department", dept_id))))
        db.session.flush()


def staff_open_tip(tip: Tip, keyring: Any, actor: Any) -> TipContent:
    """Open a tip for a staff member and write the opening to the audit log (caller commits)."""
    from ..audit.service import record

    content = open_content(tip, open_tip_key(tip, keyring))
    record("tip.opened", actor=actor, object_type="tip", object_id=tip.id)
    return content


def post_staff_message(tip: Tip, tip_key: bytes, staff_user: Any, body: str,
                       files: list[UploadedFile] | None = None) -> TipMessage:
    """A message from the investigators to the tipster (audited); commits."""
    from ..audit.service import record

    record("tip.message_posted", actor=staff_user, object_type="tip", object_id=tip.id)
    return _add_message(tip, tip_key, "staff", getattr(staff_user, "id", None), body,
                        files or [])


def related_tip_ids(kind: str, value: str, exclude: int | None = None) -> list[int]:
    """Tips whose clinic/phone/address blind index matches `value` (under any index key)."""
    store = keystore()
    digests = [d for d in (blind_index(k, kind, value) for k in store.index_keys.values()) if d]
    if not digests:
        return []
    query = select(TipBlindIndex.tip_id).where(TipBlindIndex.kind == kind,
                                               TipBlindIndex.value.in_(digests))
    if exclude is not None:
        query = query.where(TipBlindIndex.tip_id != exclude)
    return sorted(set(db.session.scalars(query)))


def related_tips(tip_id: int) -> dict[int, list[str]]:
    """Other tips sharing a blind index with this one: {tip id: [kinds that matched]}."""
    mine = select(TipBlindIndex.kind, TipBlindIndex.value).where(TipBlindIndex.tip_id == tip_id)
    pairs = {(k, v) for k, v in db.session.execute(mine)}
    found: dict[int, list[str]] = {}
    for kind, value in pairs:
        rows = db.session.scalars(select(TipBlindIndex.tip_id).where(
            TipBlindIndex.kind == kind, TipBlindIndex.value == value,
            TipBlindIndex.tip_id != tip_id))
        for other in rows:
            found.setdefault(other, []).append(kind)
    return {k: sorted(v) for k, v in sorted(found.items())}


# -- shared --------------------------------------------------------------------------
def _wrap(tip_id: int, kind: HolderKind, holder_id: str) -> bytes | None:
    return db.session.scalar(select(TipKeyWrap.wrapped).where(
        TipKeyWrap.tip_id == tip_id, TipKeyWrap.holder_kind == kind.value,
        TipKeyWrap.holder_id == holder_id))


def message_aad(tip_id: int, message_id: int) -> str:
    """Binding of a message body."""
    return f"tip:{tip_id}:message:{message_id}"


def file_info(row: TipFile, tip_key: bytes) -> FileInfo:
    """Decrypt a file's description."""
    meta = json.loads(decrypt_text(tip_key, row.meta, file_aad(row.tip_id, row.stored_name,
                                                                "meta")))
    return FileInfo(row.id, meta["name"], meta["mime"], int(meta["size"]), meta["sha256"],
                    bool(meta["scrubbed"]), row.message_id)


def file_chunks(row: TipFile, tip_key: bytes) -> Iterator[bytes]:
    """The plaintext of a file, chunk by chunk (for a staff download)."""
    file_key = unwrap_key(tip_key, row.wrapped_key, file_aad(row.tip_id, row.stored_name, "key"))
    return iter(UploadStore.for_app().read_chunks(row.stored_name, file_key,
                                                  file_aad(row.tip_id, row.stored_name)))


def open_content(tip: Tip, tip_key: bytes) -> TipContent:
    """Decrypt a tip's fields, file descriptions and messages with its key."""
    envelope = json.loads(decrypt_text(tip_key, tip.content, content_aad(tip.id)))
    files = [file_info(f, tip_key) for f in tip.files]
    messages = [
        MessageView(m.id, m.author, m.created_at,
                    decrypt_text(tip_key, m.body, message_aad(tip.id, m.id)),
                    [f for f in files if f.message_id == m.id])
        for m in tip.messages
    ]
    return TipContent(tip, datetime.fromisoformat(envelope["submitted_at"]),
                      envelope["fields"], [f for f in files if f.message_id is None], messages)


def _add_message(tip: Tip, tip_key: bytes, author: str, staff_user_id: int | None, body: str,
                 files: list[UploadedFile]) -> TipMessage:
    from .service import check_files

    cfg: Config = current_app.config["CASEAPP"]
    body = (body or "").strip()[:MAX_MESSAGE_CHARS]
    types = check_files(files, cfg)
    store = UploadStore.for_app()
    written: list[str] = []
    try:
        msg = TipMessage(tip_id=tip.id, author=author, staff_user_id=staff_user_id,
                         created_at=clock.now(), body=b"")
        db.session.add(msg)
        db.session.flush()
        msg.body = encrypt_field(tip_key, body, message_aad(tip.id, msg.id))
        for upload, ftype in zip(files, types, strict=True):
            row, _info = store_file(tip, tip_key, upload, ftype, store, cfg, written, msg.id)
            db.session.add(row)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        remove_written(store, written)
        raise
    return msg
