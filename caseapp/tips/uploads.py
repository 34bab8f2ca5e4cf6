"""Incoming files: an encrypting spool for every form upload, limits, and the upload store.

`PortalRequest` is the app's request class. Its stream factory hands Werkzeug an
`EncryptedSpool` for each file part, so what Werkzeug would spool to a temporary file is
ciphertext under a throw-away key. On portal endpoints it also enforces the limits while
the body streams in: the whole request may not exceed `portal_max_request_bytes` (checked
against Content-Length before anything is read, and counted when there is none), each file
may not exceed `portal_max_file_bytes` (the rest of an oversized file is dropped and the
form re-rendered with a message), and only `portal_max_files` files are kept. Staff
endpoints get the same with `case_max_evidence_bytes` and `case_max_evidence_files`, and any
request at most `max_form_parts` multipart parts. A view marked with `streams_to` gets its
files written by its own sink instead (case evidence: straight into the evidence store).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import secrets
import time
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO, TypeVar

from flask import Request, current_app, has_app_context
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge
from werkzeug.utils import cached_property
from werkzeug.wsgi import get_input_stream

from ..config import Config
from ..crypto import EncryptedSpool, decrypt_chunks, encrypt_stream

PORTAL_BLUEPRINTS = ("tips", "tips_staff")
F = TypeVar("F", bound=Callable[..., Any])
FIELDS_ALLOWANCE = 1024 * 1024  # room for the text fields and multipart framing
MAX_FILENAME = 200
READ_BUFFER = 1024 * 1024  # what gunicorn receives per recv at most
ORPHAN_AGE = 3600  # an upload still being written is younger than this
# direction marks and overrides: "invoice\u202egpj.exe" would show as "invoiceexe.jpg"
BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def max_request_bytes(cfg: Config) -> int:
    """Largest acceptable portal request: all files at their limit plus the text fields."""
    return cfg.portal_max_files * cfg.portal_max_file_bytes + FIELDS_ALLOWANCE


def max_staff_request_bytes(cfg: Config) -> int:
    """Largest acceptable staff request: the evidence files at their limit plus the fields."""
    return cfg.case_max_evidence_files * cfg.case_max_evidence_bytes + FIELDS_ALLOWANCE


def safe_filename(name: str) -> str:
    """A sent file name fit to show and to offer for download.

    Only the last path component (a full path can name the user); control characters and
    Unicode direction marks/overrides become "_"; a name of dots only becomes "file".
    """
    base = re.split(r"[\\/]", name or "")[-1]
    base = "".join("_" if c in BIDI_CONTROLS or unicodedata.category(c) == "Cc" else c
                   for c in base)
    base = base.strip()[:MAX_FILENAME]
    return "file" if not base.strip(".") else base


class PortalRequest(Request):
    """Request whose uploaded files are spooled encrypted, with the portal's limits."""

    _caseapp_file_parts = 0

    @cached_property
    def stream(self) -> IO[bytes]:
        """The body; a large one with a Content-Length is read in 1 MiB pieces (`BodyPieces`)."""
        length = self.content_length
        if self.shallow or length is None or length <= READ_BUFFER:
            return get_input_stream(self.environ, max_content_length=self.max_content_length)
        if self.max_content_length is not None and length > self.max_content_length:
            raise RequestEntityTooLarge()
        return BodyPieces(self.environ["wsgi.input"], length)  # type: ignore[return-value]

    def _cfg(self) -> Config | None:
        return current_app.config.get("CASEAPP") if has_app_context() else None

    def _is_portal(self) -> bool:
        return self.blueprint in PORTAL_BLUEPRINTS

    @property
    def max_content_length(self) -> int | None:
        """The portal's total limit on portal endpoints; the staff limit elsewhere."""
        cfg = self._cfg()
        if cfg is None:
            return super().max_content_length
        return max_request_bytes(cfg) if self._is_portal() else max_staff_request_bytes(cfg)

    @max_content_length.setter
    def max_content_length(self, value: int | None) -> None:
        self._max_content_length = value

    @property  # type: ignore[override]
    def max_form_parts(self) -> int | None:
        """Most multipart parts (fields and files) one request may have (413 beyond)."""
        cfg = self._cfg()
        return cfg.max_form_parts if cfg is not None else super().max_form_parts

    @max_form_parts.setter
    def max_form_parts(self, value: int | None) -> None:
        self._max_form_parts = value

    def _get_file_stream(self, total_content_length: int | None, content_type: str | None,
                         filename: str | None = None,
                         content_length: int | None = None) -> IO[bytes]:
        """An encrypting spool for each file part (limits apply on portal endpoints)."""
        cfg = self._cfg()
        memory = cfg.portal_spool_memory_bytes if cfg else 256 * 1024
        tmp_dir = cfg.portal_spool_dir if cfg else None
        if not filename:  # an empty file input
            return EncryptedSpool(max_memory=memory, max_size=0, tmp_dir=tmp_dir)  # type: ignore[return-value]
        if cfg is None:
            return EncryptedSpool(max_memory=memory, tmp_dir=tmp_dir)  # type: ignore[return-value]
        self._caseapp_file_parts += 1
        if self._is_portal():
            most, largest = cfg.portal_max_files, cfg.portal_max_file_bytes
        else:  # staff uploads: case evidence
            most, largest = cfg.case_max_evidence_files, cfg.case_max_evidence_bytes
        refused = "count" if self._caseapp_file_parts > most else None
        sink = getattr(current_app.view_functions.get(self.endpoint or ""), "_caseapp_sink", None)
        if sink is not None and refused is None:
            direct = sink(self.view_args or {})
            if direct is not None:
                return direct
            refused = "forbidden"  # not this user's to upload: dropped unread
        return EncryptedSpool(max_memory=memory, max_size=largest,  # type: ignore[return-value]
                              tmp_dir=tmp_dir, refused=refused)


class BodyPieces(io.RawIOBase):
    """A request body of known length, read from the server 1 MiB at a time.

    gunicorn receives up to 1 MiB per recv and copies what it keeps back on every smaller
    read, so reading a 100 MiB upload in the form parser's 64 KiB steps copied it many
    times over. This reads whole pieces and hands out slices of them as memoryviews, which
    the parser copies into its own buffer anyway. A body that ends early is a
    ClientDisconnected (400), as with Werkzeug's LimitedStream.
    """

    def __init__(self, source: IO[bytes], length: int) -> None:
        super().__init__()
        self._source = source
        self._left = length
        self._view = memoryview(b"")

    def readable(self) -> bool:
        """Always readable."""
        return True

    def _fill(self) -> bool:
        if self._view or self._left <= 0:
            return bool(self._view)
        piece = self._source.read(min(READ_BUFFER, self._left))
        if not piece:
            raise ClientDisconnected()
        self._left -= len(piece)
        self._view = memoryview(piece)
        return True

    def read(self, size: int | None = -1) -> bytes:
        """Up to `size` bytes (a memoryview slice); everything left as bytes when negative."""
        if size is None or size < 0:
            parts = []
            while self._fill():
                parts.append(bytes(self._view))
                self._view = memoryview(b"")
            return b"".join(parts)
        if not size or not self._fill():
            return b""
        out, self._view = self._view[:size], self._view[size:]
        return out  # type: ignore[return-value]

    def readinto(self, buffer: Any) -> int:
        """Read into a buffer (for io wrappers)."""
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def streams_to(sink: Callable[[dict[str, Any]], Any]) -> Callable[[F], F]:
    """Mark a view whose uploaded files go to `sink(view_args)` while the form is parsed.

    The sink writes the file to its final place in one pass (and must itself check that
    the user may upload there, since the form can be parsed before the view's guard runs);
    when it answers None the file is dropped unread.
    """

    def mark(view: F) -> F:
        view._caseapp_sink = sink  # type: ignore[attr-defined]
        return view

    return mark


@dataclass
class UploadedFile:
    """A file handed to the service: its name as sent and a readable stream."""

    filename: str
    stream: Any  # EncryptedSpool or any binary file object
    oversize: bool = False
    refused_count: bool = False

    @classmethod
    def from_storage(cls, storage: Any) -> UploadedFile:
        """Wrap a Werkzeug FileStorage whose stream may be an EncryptedSpool."""
        stream = storage.stream
        return cls(filename=storage.filename or "", stream=stream,
                   oversize=bool(getattr(stream, "oversize", False)),
                   refused_count=getattr(stream, "refused", None) == "count")


def files_from_request(storages: Iterable[Any]) -> list[UploadedFile]:
    """The non-empty files of a request, in the order they were sent."""
    return [UploadedFile.from_storage(s) for s in storages if s and s.filename]


class UploadStore:
    """A directory of ciphertext files named by random ids (no names, no types, no dates)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def for_app(cls) -> UploadStore:
        """The store configured for the current app."""
        cfg: Config = current_app.config["CASEAPP"]
        return cls(cfg.upload_dir or cfg.instance_path / "uploads" / "tips")

    @staticmethod
    def new_name() -> str:
        """A fresh random stored name."""
        return secrets.token_hex(16)

    def path(self, name: str) -> Path:
        """Where a stored file lives (names are hex; anything else is refused)."""
        if not name or any(c not in "0123456789abcdef" for c in name):
            raise ValueError("bad stored name")
        return self.root / name

    def write(self, name: str, key: bytes, aad: str, source: BinaryIO) -> int:
        """Encrypt `source` chunk by chunk into the store; returns plaintext bytes."""
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.path(name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as sink:
            total = encrypt_stream(key, source, sink, aad)
            sink.flush()
            os.fsync(sink.fileno())
        return total

    def read_chunks(self, name: str, key: bytes, aad: str) -> Iterable[bytes]:
        """Yield the plaintext of a stored file (DecryptionError on tampering)."""
        with self.path(name).open("rb") as source:
            yield from decrypt_chunks(key, source, aad)

    def delete(self, name: str) -> None:
        """Remove a stored file if it exists."""
        with contextlib.suppress(FileNotFoundError):
            self.path(name).unlink()

    def names(self) -> list[str]:
        """Every stored name (for the orphan purge)."""
        if not self.root.exists():
            return []
        return [p.name for p in self.root.iterdir() if p.is_file()]

    def purge_orphans(self, known: set[str], min_age_seconds: int = ORPHAN_AGE) -> int:
        """Delete stored files no row names, once older than `min_age_seconds`; how many."""
        removed = 0
        for name in self.names():
            with contextlib.suppress(FileNotFoundError, ValueError):
                if name not in known and \
                        time.time() - self.path(name).stat().st_mtime > min_age_seconds:
                    self.delete(name)
                    removed += 1
        return removed
