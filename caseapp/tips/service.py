"""Submitting a tip: encrypt everything on arrival, commit, and only then hand out the receipt.

`submit_tip` is shared by the anonymous portal and by staff registering a phone, letter or
in-person tip. Nothing the tipster typed reaches the database in clear: one envelope under a
fresh tip key holds the typed fields; files are scrubbed in memory, stream-encrypted into
the upload store under per-file keys wrapped by the tip key. The tip key is sealed to the
intake department, the tipster key (derived from the receipt) and the escrow key.
What is sealed is the raw tip key K; content is encrypted under K XOR the mask of the tip's
retention pad (`caseapp.retention.locks`), which a purge destroys.
"""

from __future__ import annotations

import io
import json
import logging
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import IO, Any, BinaryIO, cast

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from .. import clock
from ..config import Config
from ..crypto import (
    KeyStore,
    PublicKey,
    TipsterCredentials,
    blind_index,
    encrypt_field,
    escrow_aad,
    new_receipt,
    random_key,
    receipt_from_token,
    seal,
    tipster_credentials,
    token_digest,
    wrap_key,
)
from ..extensions import db
from ..hashing import HashingReader
from ..keys import keystore
from ..retention.locks import create_lock, padded
from ..retention.models import RetentionKind
from . import filetypes, scrub, uploads
from .errors import DuplicateSubmission, FileProblem, FilesRefused, InvalidTip, StorageFailed
from .models import (
    Category,
    Channel,
    HolderKind,
    Status,
    Tip,
    TipBlindIndex,
    TipFile,
    TipFormToken,
    TipKeyWrap,
)
from .regions import regions
from .uploads import UploadedFile, UploadStore

log = logging.getLogger(__name__)
CONTENT_VERSION = 1
_PHONE_SPLIT = re.compile(r"[,;/|，；、\n]+")


@dataclass
class TipInput:
    """What the tipster tells us (all of it is encrypted; only category/district stay clear)."""

    category: str
    district: str
    narrative: str
    township: str = ""
    place_name: str = ""
    address: str = ""
    subject_phone: str = ""
    when: str = ""
    how_known: str = ""
    contact: str = "portal"
    contact_phone: str = ""

    def as_dict(self) -> dict[str, str]:
        """The fields as a plain dict."""
        return {k: str(v or "").strip() for k, v in asdict(self).items()}


@dataclass(frozen=True)
class StoredFile:
    """What the tipster is told about one stored file."""

    filename: str
    mime: str
    scrubbed: bool


@dataclass(frozen=True)
class SubmittedTip:
    """The outcome of a submission: the receipt (shown once) and what was stored."""

    receipt: str
    tip_id: int
    ref: str
    submitted_at: datetime
    files: list[StoredFile] = field(default_factory=list)
    # the receipt's Argon2id result, so the receipt page need not derive it a second time
    credentials: TipsterCredentials | None = field(default=None, repr=False, compare=False)


# -- keys and bindings ---------------------------------------------------------------
def content_aad(tip_id: int) -> str:
    """Binding of a tip's content envelope."""
    return f"tip:{tip_id}:content"


def key_aad(tip_id: int, holder: str, holder_id: int | str | None = None) -> str:
    """Binding of the tip key wrapped for a holder."""
    return f"tip:{tip_id}:key:{holder}" + (f":{holder_id}" if holder_id is not None else "")


def file_aad(tip_id: int, stored_name: str, part: str = "data") -> str:
    """Binding of a file's content, key or metadata envelope."""
    return f"tip:{tip_id}:file:{stored_name}:{part}"


def intake_department() -> Any | None:
    """The department that screens new tips (Config.intake_department), or None."""
    from ..accounts.models import Department

    code = current_app.config["CASEAPP"].intake_department
    return db.session.scalar(select(Department).where(Department.code == code))


def _wrap_for_holders(tip: Tip, tip_key: bytes, tipster_public: PublicKey,
                      store: KeyStore) -> list[TipKeyWrap]:
    wraps = [
        TipKeyWrap(tip_id=tip.id, holder_kind=HolderKind.TIPSTER.value, holder_id="",
                   wrapped=seal(tip_key, tipster_public, key_aad(tip.id, "tipster"))),
        TipKeyWrap(tip_id=tip.id, holder_kind=HolderKind.ESCROW.value,
                   holder_id=store.escrow_current,
                   wrapped=seal(tip_key, store.escrow_key,
                                escrow_aad("tip", tip.id, store.escrow_current))),
    ]
    dept = intake_department()
    if dept is not None and dept.public_key:
        tip.intake_department_id = dept.id
        wraps.append(TipKeyWrap(
            tip_id=tip.id, holder_kind=HolderKind.DEPARTMENT.value, holder_id=str(dept.id),
            wrapped=seal(tip_key, PublicKey(dept.public_key),
                         key_aad(tip.id, "department", dept.id))))
    else:
        log.warning("intake department missing: tip %s is readable only via escrow", tip.id)
    return wraps


def blind_indexes(tip_id: int, data: TipInput, store: KeyStore) -> list[TipBlindIndex]:
    """Blind indexes of the clinic name, each subject phone number and the address."""
    values = [("clinic", data.place_name), ("address", data.address)]
    values += [("phone", p) for p in _PHONE_SPLIT.split(data.subject_phone or "")]
    rows: list[TipBlindIndex] = []
    seen: set[tuple[str, str]] = set()
    for kind, value in values:
        digest = blind_index(store.index_key, kind, value) if value else None
        if digest and (kind, digest) not in seen:
            seen.add((kind, digest))
            rows.append(TipBlindIndex(tip_id=tip_id, kind=kind, value=digest,
                                      key_id=store.index_current))
    return rows


# -- files ---------------------------------------------------------------------------
def safe_filename(name: str) -> str:
    """The last path component of a sent file name, without controls or direction marks."""
    return uploads.safe_filename(name)


def check_files(files: list[UploadedFile], cfg: Config) -> list[filetypes.FileType]:
    """Refuse (FilesRefused) any file that is too large, one too many, or of a wrong type."""
    problems: list[FileProblem] = []
    types: list[filetypes.FileType] = []
    for upload in files:
        name = safe_filename(upload.filename)
        if upload.refused_count:
            problems.append(FileProblem(name, "count"))
            continue
        if upload.oversize:
            problems.append(FileProblem(name, "oversize"))
            continue
        upload.stream.seek(0)
        head = upload.stream.read(filetypes.HEAD_BYTES)
        upload.stream.seek(0)
        ftype = filetypes.detect(head)
        if ftype is None:
            problems.append(FileProblem(name, "type"))
            continue
        types.append(ftype)
    if len(files) > cfg.portal_max_files and not any(p.reason == "count" for p in problems):
        problems.append(FileProblem("", "count"))
    if problems:
        raise FilesRefused(problems)
    return types


def store_file(tip: Tip, tip_key: bytes, upload: UploadedFile, ftype: filetypes.FileType,
               store: UploadStore, cfg: Config, written: list[str],
               message_id: int | None = None) -> tuple[TipFile, StoredFile]:
    """Scrub (images, PDF), encrypt into the store, and describe the file in an envelope."""
    upload.stream.seek(0)
    if scrub.needs_memory(ftype):
        try:
            cleaned = scrub.scrub(upload.stream.read(), ftype, cfg.portal_max_image_pixels)
        except scrub.RefusedFile as exc:
            raise FilesRefused([FileProblem(safe_filename(upload.filename),
                                            exc.reason)]) from exc
        source: IO[bytes] = io.BytesIO(cleaned.data)
        ftype, scrubbed = cleaned.ftype, cleaned.scrubbed
    else:
        source, scrubbed = upload.stream, False
    hashing = HashingReader(source)
    name = store.new_name()
    file_key = random_key()
    written.append(name)
    store.write(name, file_key, file_aad(tip.id, name), cast(BinaryIO, hashing))
    filename = safe_filename(upload.filename)
    meta = {"name": filename, "mime": ftype.mime, "ext": ftype.ext, "size": hashing.size,
            "sha256": hashing.digest.hexdigest(), "scrubbed": scrubbed,
            "added_at": clock.now().isoformat(timespec="seconds")}
    row = TipFile(tip_id=tip.id, message_id=message_id, stored_name=name,
                  wrapped_key=wrap_key(tip_key, file_key, file_aad(tip.id, name, "key")),
                  meta=encrypt_field(tip_key, json.dumps(meta, ensure_ascii=False),
                                     file_aad(tip.id, name, "meta")),
                  created_on=clock.now().date())
    return row, StoredFile(filename, ftype.mime, scrubbed)


def remove_written(store: UploadStore, written: list[str]) -> None:
    """Delete files written by a transaction that did not commit."""
    for name in written:
        store.delete(name)


# -- submission ----------------------------------------------------------------------
def validate(data: TipInput, channel: str) -> None:
    """Refuse an unknown category, district, township or channel, or an empty narrative."""
    if data.category not in Category._value2member_map_:
        raise InvalidTip("category")
    if channel not in Channel._value2member_map_:
        raise InvalidTip("channel")
    place = regions()
    if place.district(data.district) is None:
        raise InvalidTip("district")
    town = place.township(data.township) if data.township else None
    if data.township and (town is None or town.parent != data.district):
        raise InvalidTip("township")
    if not data.narrative.strip():
        raise InvalidTip("narrative")


def check_token(token: str, session: Session) -> str:
    """The stored digest of a form token; DuplicateSubmission when it was used already."""
    digest = token_digest(current_app.config["CASEAPP"].secret_key.encode(), token)
    used = session.get(TipFormToken, digest)
    if used is not None:
        raise DuplicateSubmission(used.used_at)
    return digest


def receipt_for_token(token: str) -> str:
    """The receipt that a submission with this form token gets (same token, same receipt)."""
    return receipt_from_token(current_app.config["CASEAPP"].secret_key.encode(), token)


def submit_tip(data: TipInput, files: list[UploadedFile], *, channel: str = "web",
               staff_user_id: int | None = None, form_token: str | None = None,
               session: Session | None = None) -> SubmittedTip:
    """Store a new tip and return its receipt; commits before returning, or leaves nothing."""
    sess: Any = session or db.session
    cfg: Config = current_app.config["CASEAPP"]
    validate(data, channel)
    digest = check_token(form_token, sess) if form_token else None
    types = check_files(files, cfg)
    store_keys = keystore()
    receipt = receipt_for_token(form_token) if form_token else new_receipt()
    creds = tipster_credentials(receipt, store_keys.receipt_salt, cfg.receipt_kdf)
    uploads = UploadStore.for_app()
    written: list[str] = []
    now = clock.now()
    try:
        if digest:
            sess.add(TipFormToken(digest=digest, used_at=now))
        tip = Tip(category=data.category, district=data.district, channel=channel,
                  status=Status.RECEIVED.value, submitted_on=now.date(),
                  receipt_lookup=creds.lookup, tipster_public_key=creds.public_key.raw,
                  submitted_by_staff_id=staff_user_id, content=b"")
        sess.add(tip)
        sess.flush()
        tip.ref = f"T-{now.year}-{tip.id:06d}"
        raw_key = random_key()
        tip_key = _content_key(tip.id, raw_key)
        envelope = {"v": CONTENT_VERSION, "submitted_at": now.isoformat(timespec="seconds"),
                    "fields": data.as_dict()}
        tip.content = encrypt_field(tip_key, json.dumps(envelope, ensure_ascii=False),
                                    content_aad(tip.id))
        sess.add_all(_wrap_for_holders(tip, raw_key, creds.public_key, store_keys))
        sess.add_all(blind_indexes(tip.id, data, store_keys))
        stored: list[StoredFile] = []
        for upload, ftype in zip(files, types, strict=True):
            row, info = store_file(tip, tip_key, upload, ftype, uploads, cfg, written)
            sess.add(row)
            stored.append(info)
        if staff_user_id is not None:
            from ..audit.service import record

            record("tip.registered", actor=sess.get(_user_model(), staff_user_id),
                   object_type="tip", object_id=tip.id, detail={"channel": channel})
        sess.commit()
    except IntegrityError as exc:
        sess.rollback()
        remove_written(uploads, written)
        if digest and sess.get(TipFormToken, digest) is not None:
            raise DuplicateSubmission(now) from exc
        log.error("tip could not be stored (integrity)")
        raise StorageFailed("integrity") from exc
    except FilesRefused:
        sess.rollback()
        remove_written(uploads, written)
        raise
    except (SQLAlchemyError, OSError) as exc:
        sess.rollback()
        remove_written(uploads, written)
        log.error("tip could not be stored: %s", type(exc).__name__)
        raise StorageFailed(type(exc).__name__) from exc
    except BaseException:
        sess.rollback()
        remove_written(uploads, written)
        raise
    return SubmittedTip(receipt, tip.id, tip.ref or "", now, stored, creds)


def _content_key(tip_id: int, raw_key: bytes) -> bytes:
    """A new tip's retention lock; returns the key its content is encrypted under."""
    return padded(create_lock(RetentionKind.TIP, tip_id), RetentionKind.TIP, tip_id, raw_key)


def _user_model() -> Any:
    from ..accounts.models import User

    return User
