"""Evidence files: streamed into the store encrypted, SHA-256 taken on the way in.

An upload is written once: while the request's form is parsed, the file part goes straight
into the store through a `SealingFile` (fresh key, STREAM layout, SHA-256 of the plaintext),
after checking that the user may add evidence to the case; the view then turns it into a
row, or the end of the request deletes it. Each file's key is wrapped under the case key;
the plaintext digest is kept inside the encrypted metadata (a clear digest would confirm a
guessed file) and shown, with a fresh re-computation, in the integrity export. Files stored
before one-pass uploads (layout 1) bind their content to the row id instead of the name.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from flask import g
from sqlalchemy import select

from .. import clock
from ..accounts.permissions import Permission
from ..crypto import CHUNK, SealingFile, random_key, unwrap_key, wrap_key
from ..extensions import db
from ..tips.uploads import UploadStore, safe_filename
from .common import (
    audit,
    cfg,
    current_key,
    ensure_writable,
    open_json,
    require_member,
    row_aad,
    seal_json,
    touch,
)
from .errors import CaseError, EvidenceRefused, InvalidInput
from .keys import open_case_key
from .models import LAYOUT_ROW_ID, LAYOUT_STORED_NAME, Case, Evidence


@dataclass(frozen=True)
class EvidenceInfo:
    """Decrypted description of one evidence file."""

    row: Evidence
    name: str
    mime: str
    size: int
    sha256: str
    added_at: str


def store() -> UploadStore:
    """The evidence store (instance/uploads/cases unless configured)."""
    config = cfg()
    return UploadStore(config.case_upload_dir or config.instance_path / "uploads" / "cases")


def _aad(case_id: int, evidence_id: int, part: str) -> str:
    return row_aad(case_id, "evidence", f"{evidence_id}:{part}")


def _file_aad(case_id: int, stored_name: str) -> str:
    """Binding of a stored file's content: its case and its stored name (known before the row)."""
    return row_aad(case_id, "evidence-file", stored_name)


def _data_aad(case_id: int, row: Evidence) -> str:
    if row.layout == LAYOUT_ROW_ID:
        return _aad(case_id, row.id, "data")
    return _file_aad(case_id, row.stored_name)


def safe_name(name: str) -> str:
    """The file name to show and offer for download (no path, controls or direction marks)."""
    return safe_filename(name)


def _sink(case_id: int, max_size: int) -> SealingFile:
    """A new file in the store, encrypted under a fresh key as it is written."""
    files = store()
    files.root.mkdir(parents=True, exist_ok=True, mode=0o700)
    name = files.new_name()
    return SealingFile(files.path(name), random_key(), _file_aad(case_id, name), max_size)


def incoming(case_id: int, user: Any) -> SealingFile | None:
    """Where the request puts an uploaded evidence file while the form is parsed.

    Only for a user who may add evidence to this case (otherwise None: the upload is
    dropped unread); the file goes straight into the store, encrypted and hashed in one
    pass, and is deleted at the end of the request unless `add_evidence` kept it.
    """
    case = db.session.get(Case, case_id)
    if (case is None or not getattr(user, "is_authenticated", False)
            or not user.can(Permission.CASES_WRITE)):
        return None
    try:
        require_member(case, user)
        ensure_writable(case)
    except CaseError:
        return None
    sink = _sink(case_id, cfg().case_max_evidence_bytes)
    g.setdefault("evidence_incoming", []).append(sink)
    return sink


def discard_unkept(_exc: BaseException | None = None) -> None:
    """End of request: delete the files of uploads that did not become evidence."""
    for sink in g.pop("evidence_incoming", []):
        sink.discard()


def refuse_spooled(storages: Iterable[Any]) -> None:
    """Refuse (EvidenceRefused) an upload the request cut off or counted out."""
    config = cfg()
    for storage in storages:
        stream = getattr(storage, "stream", None)
        if getattr(stream, "refused", None) == "count":
            raise EvidenceRefused("too_many", config.case_max_evidence_files)
        if getattr(stream, "oversize", False):
            raise EvidenceRefused("too_large", config.case_max_evidence_bytes)


def _stored(case: Case, source: IO[bytes] | SealingFile, limit: int) -> SealingFile:
    """The upload as a finished file in the store: the request's own, or `source` copied in."""
    if isinstance(source, SealingFile):
        if source not in g.get("evidence_incoming", []) or \
                source.aad != _file_aad(case.id, source.path.name):
            raise InvalidInput("upload of another request or case")
        sink = source
    else:
        sink = _sink(case.id, limit)
        try:
            while not sink.oversize and (block := source.read(CHUNK)):
                sink.write(block)
        except BaseException:
            sink.discard()
            raise
    sink.finish()
    if sink.oversize or sink.size > limit:
        sink.discard()
        raise EvidenceRefused("too_large", limit)
    if sink.size == 0 or not sink.kept:
        sink.discard()
        raise InvalidInput("empty file")
    return sink


def add_evidence(case: Case, keyring: Any, actor: Any, filename: str, mime: str,
                 source: IO[bytes] | SealingFile, max_bytes: int | None = None) -> Evidence:
    """Keep an uploaded file as evidence of the case; commits (or keeps nothing).

    `source` is the request's `incoming` file (already encrypted into the store) or any
    readable stream, which is encrypted into the store here. `max_bytes` defaults to
    `case_max_evidence_bytes`; a larger file raises EvidenceRefused and leaves no row and no
    stored file behind.
    """
    require_member(case, actor)
    ensure_writable(case)
    limit = cfg().case_max_evidence_bytes if max_bytes is None else max_bytes
    version, case_key = current_key(case, keyring)
    sink = _stored(case, source, limit)
    row = Evidence(case_id=case.id, key_version=version, stored_name=sink.path.name,
                   layout=LAYOUT_STORED_NAME, meta=b"", wrapped_key=b"",
                   uploaded_by_id=actor.id, created_at=clock.now())
    try:
        db.session.add(row)
        db.session.flush()
        row.wrapped_key = wrap_key(case_key, sink.key, _aad(case.id, row.id, "key"))
        row.meta = seal_json(case_key, {
            "name": safe_name(filename), "mime": (mime or "application/octet-stream")[:100],
            "size": sink.size, "sha256": sink.digest.hexdigest(),
            "added_at": row.created_at.isoformat(timespec="seconds")},
            _aad(case.id, row.id, "meta"))
        touch(case)
        audit("case.evidence_added", case, actor, evidence=row.id)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        sink.discard()
        raise
    if sink in g.get("evidence_incoming", []):
        g.evidence_incoming.remove(sink)
    return row


def describe(case: Case, row: Evidence, keyring: Any) -> EvidenceInfo:
    """Decrypt an evidence file's description."""
    meta = open_json(open_case_key(case, keyring, row.key_version), row.meta,
                     _aad(case.id, row.id, "meta"))
    return EvidenceInfo(row, meta["name"], meta["mime"], int(meta["size"]), meta["sha256"],
                        meta.get("added_at", ""))


def evidence_of(case: Case, keyring: Any) -> list[EvidenceInfo]:
    """Every evidence file of a case, described."""
    rows = db.session.scalars(select(Evidence).where(Evidence.case_id == case.id)
                              .order_by(Evidence.id)).all()
    return [describe(case, r, keyring) for r in rows]


def get_evidence(case: Case, evidence_id: int) -> Evidence:
    """An evidence row of this case (InvalidInput otherwise)."""
    row = db.session.get(Evidence, evidence_id)
    if row is None or row.case_id != case.id:
        raise InvalidInput("evidence")
    return row


def chunks(case: Case, row: Evidence, keyring: Any) -> Iterator[bytes]:
    """The plaintext of an evidence file, chunk by chunk (DecryptionError on tampering)."""
    case_key = open_case_key(case, keyring, row.key_version)
    file_key = unwrap_key(case_key, row.wrapped_key, _aad(case.id, row.id, "key"))
    return iter(store().read_chunks(row.stored_name, file_key, _data_aad(case.id, row)))


def verify(case: Case, row: Evidence, keyring: Any) -> tuple[str, bool]:
    """Re-hash the stored file: (digest now, equals the digest taken at upload)."""
    from ..crypto import DecryptionError

    info = describe(case, row, keyring)
    digest = hashlib.sha256()
    try:
        for block in chunks(case, row, keyring):
            digest.update(block)
    except (DecryptionError, OSError):
        return "", False
    now = digest.hexdigest()
    return now, now == info.sha256


def integrity_rows(case: Case, keyring: Any) -> list[dict[str, str]]:
    """One line per file for the integrity export: name, size, digests and the check."""
    out = []
    for info in evidence_of(case, keyring):
        now, ok = verify(case, info.row, keyring)
        out.append({"case": case.ref or str(case.id), "evidence_id": str(info.row.id),
                    "file_name": info.name, "size": str(info.size),
                    "sha256_at_upload": info.sha256, "sha256_now": now,
                    "intact": "yes" if ok else "NO", "added_at": info.added_at,
                    "uploaded_by": str(info.row.uploaded_by_id or ""),
                    "checked_at": clock.now().isoformat(timespec="seconds")})
    return out
