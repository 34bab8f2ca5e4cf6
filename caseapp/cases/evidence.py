"""Evidence files: streamed into the store encrypted, SHA-256 taken on the way in.

Each file has its own key, wrapped under the case key; the plaintext digest is kept inside
the encrypted metadata (a clear digest would confirm a guessed file) and shown, with a
fresh re-computation, in the integrity export.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from sqlalchemy import select

from .. import clock
from ..crypto import random_key, unwrap_key, wrap_key
from ..extensions import db
from ..hashing import HashingReader
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
from .errors import EvidenceRefused, InvalidInput
from .keys import open_case_key
from .models import Case, Evidence


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


def safe_name(name: str) -> str:
    """The file name to show and offer for download (no path, controls or direction marks)."""
    return safe_filename(name)


class _CappedReader(HashingReader):
    """A HashingReader that refuses (EvidenceRefused) to pass more than `limit` bytes."""

    def __init__(self, source: IO[bytes], limit: int) -> None:
        super().__init__(source)
        self.limit = limit

    def read(self, size: int | None = -1) -> bytes:
        """Read, hash, count; stop the upload once it is over the limit."""
        data = super().read(size)
        if self.size > self.limit:
            raise EvidenceRefused("too_large", self.limit)
        return data


def refuse_spooled(storages: Iterable[Any]) -> None:
    """Refuse (EvidenceRefused) an upload the request spool cut off or counted out."""
    config = cfg()
    for storage in storages:
        stream = getattr(storage, "stream", None)
        if getattr(stream, "refused", None) == "count":
            raise EvidenceRefused("too_many", config.case_max_evidence_files)
        if getattr(stream, "oversize", False):
            raise EvidenceRefused("too_large", config.case_max_evidence_bytes)


def add_evidence(case: Case, keyring: Any, actor: Any, filename: str, mime: str,
                 source: IO[bytes], max_bytes: int | None = None) -> Evidence:
    """Encrypt an uploaded file into the store while hashing it; commits (or keeps nothing).

    `max_bytes` defaults to `case_max_evidence_bytes`; a larger file raises EvidenceRefused
    while it streams and leaves no row and no stored file behind.
    """
    require_member(case, actor)
    ensure_writable(case)
    limit = cfg().case_max_evidence_bytes if max_bytes is None else max_bytes
    version, case_key = current_key(case, keyring)
    files = store()
    name = files.new_name()
    file_key = random_key()
    row = Evidence(case_id=case.id, key_version=version, stored_name=name, meta=b"",
                   wrapped_key=b"", uploaded_by_id=actor.id, created_at=clock.now())
    try:
        db.session.add(row)
        db.session.flush()
        hashing = _CappedReader(source, limit)
        files.write(name, file_key, _aad(case.id, row.id, "data"), hashing)  # type: ignore[arg-type]
        if hashing.size == 0:
            raise InvalidInput("empty file")
        row.wrapped_key = wrap_key(case_key, file_key, _aad(case.id, row.id, "key"))
        row.meta = seal_json(case_key, {
            "name": safe_name(filename), "mime": (mime or "application/octet-stream")[:100],
            "size": hashing.size, "sha256": hashing.digest.hexdigest(),
            "added_at": row.created_at.isoformat(timespec="seconds")},
            _aad(case.id, row.id, "meta"))
        touch(case)
        audit("case.evidence_added", case, actor, evidence=row.id)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        files.delete(name)
        raise
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
    return iter(store().read_chunks(row.stored_name, file_key, _aad(case.id, row.id, "data")))


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
