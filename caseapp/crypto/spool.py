"""A spool for incoming uploads: plaintext in memory, ciphertext under a throw-away key on disk.

Werkzeug spools large form files to temporary files. `EncryptedSpool` replaces that: the
first `max_memory` bytes stay in memory; past that everything goes to an anonymous
temporary file encrypted chunk by chunk (``StreamEncryptor``) under a random key that only
this object holds, so no plaintext of an upload ever reaches the disk. It is written once,
rewound with ``seek(0)`` and read sequentially; a size limit turns further writes into
no-ops and sets ``oversize`` so the caller can refuse the file after the form is parsed.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, BinaryIO, cast

from .primitives import random_key
from .stream import CHUNK, StreamEncryptor, decrypt_chunks

_AAD = "upload-spool"


class EncryptedSpool(io.RawIOBase):
    """Write-once, read-sequentially buffer whose disk part is encrypted with a throw-away key."""

    def __init__(self, max_memory: int = 256 * 1024, max_size: int | None = None,
                 tmp_dir: Path | str | None = None, refused: str | None = None) -> None:
        super().__init__()
        self.max_memory = max_memory
        self.max_size = max_size
        self.tmp_dir = str(tmp_dir) if tmp_dir is not None else None
        self.size = 0
        self.oversize = False
        self.refused = refused  # e.g. "count": the caller decided to refuse this file
        self._memory = bytearray()
        self._file: IO[bytes] | None = None
        self._key = b""
        self._enc: StreamEncryptor | None = None
        self._writing = True
        self._reader: Iterator[bytes] | None = None
        self._pending = b""
        self._pos = 0

    # -- writing -----------------------------------------------------------------
    def writable(self) -> bool:
        """Writable until the first rewind."""
        return self._writing

    def readable(self) -> bool:
        """Readable after the first rewind."""
        return True

    def seekable(self) -> bool:
        """Only ``seek(0)`` is supported; report seekable so parsers may rewind."""
        return True

    @property
    def spilled(self) -> bool:
        """True once data went to the encrypted temporary file."""
        return self._file is not None

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        """Append data; silently drop it once the size limit or a refusal applies."""
        if not self._writing:
            raise io.UnsupportedOperation("spool already rewound")
        n = len(data)
        self.size += n
        if self.refused or self.oversize:
            return n
        if self.max_size is not None and self.size > self.max_size:
            self.oversize = True
            self._discard()
            return n
        if self._enc is None:
            self._memory += data
            if len(self._memory) > self.max_memory:
                self._spill()
        else:
            assert self._file is not None
            self._file.write(self._enc.update(data))
        return n

    def _spill(self) -> None:
        self._key = random_key()
        self._file = tempfile.TemporaryFile(dir=self.tmp_dir)  # noqa: SIM115 - closed in close()
        self._enc = StreamEncryptor(self._key, _AAD, CHUNK)
        self._file.write(self._enc.header)
        self._file.write(self._enc.update(bytes(self._memory)))
        self._memory = bytearray()

    def _discard(self) -> None:
        self._memory = bytearray()
        if self._file is not None:
            self._file.close()
        self._file, self._enc, self._key = None, None, b""

    # -- reading -----------------------------------------------------------------
    def seek(self, offset: int, whence: int = 0) -> int:
        """Rewind to the start (the only supported seek)."""
        if offset != 0 or whence != 0:
            if whence == io.SEEK_END and offset == 0 and self._writing:
                return self.size  # size probes by parsers
            raise io.UnsupportedOperation("EncryptedSpool only rewinds to 0")
        if self._writing:
            self._writing = False
            if self._enc is not None and self._file is not None:
                self._file.write(self._enc.finalize())
                self._file.flush()
                self._enc = None
        self._reader = None
        self._pending = b""
        self._pos = 0
        return 0

    def tell(self) -> int:
        """Current read position (or the size while writing)."""
        return self.size if self._writing else self._pos

    def _chunks(self) -> Iterator[bytes]:
        if self._file is None:
            yield bytes(self._memory)
            return
        self._file.seek(0)
        yield from decrypt_chunks(self._key, cast(BinaryIO, self._file), _AAD)

    def read(self, size: int | None = -1) -> bytes:
        """Read up to `size` bytes (all remaining when negative)."""
        if self._writing:
            self.seek(0)
        if self.oversize or self.refused:
            return b""
        if self._reader is None:
            self._reader = self._chunks()
        want = None if size is None or size < 0 else size
        if want and not self._pending:  # the usual chunk-sized read: no copying
            first = next(self._reader, b"")
            if len(first) == want:
                self._pos += want
                return first
            self._pending = first
        out = bytearray(self._pending)
        self._pending = b""
        while want is None or len(out) < want:
            block = next(self._reader, None)
            if block is None:
                break
            out += block
        if want is not None and len(out) > want:
            self._pending = bytes(out[want:])
            del out[want:]
        self._pos += len(out)
        return bytes(out)

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        """Read into a buffer (for io wrappers)."""
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def iter_chunks(self) -> Iterator[bytes]:
        """Plaintext blocks from the start, with bounded memory."""
        self.seek(0)
        while block := self.read(CHUNK):
            yield block

    def close(self) -> None:
        """Forget the key and remove the temporary file."""
        self._discard()
        super().close()
