"""A file encrypted as it is written: uploads go to their final place in one pass.

`SealingFile` is a write-once stream: what is written is hashed (SHA-256 of the plaintext),
encrypted with the chunked STREAM layout of `stream.py` (2 MiB chunks) and appended to a new
file, so an upload parsed from a request is written to disk once, already encrypted under its
own key. The writer only copies into a chunk-sized buffer; hashing, encryption and the file
write of each full buffer run on a helper thread (all three release the GIL), overlapping
with the caller reading and parsing the request; whole-chunk buffers mean the helper takes
the GIL back a few times per chunk rather than per 64 KiB. Buffers are recycled and at most
`BUFFERS` exist, so memory stays flat (about 12 MiB) whatever the file size. Every
`WRITEBACK` bytes a second helper makes the disk catch up (`fdatasync`), so the disk writes
while the request is still arriving and the closing fsync has little left to wait for.
Past `max_size` the file is deleted, the rest dropped and `oversize` set; `discard()` deletes
the file at any point.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import queue
import threading
from pathlib import Path

from .stream import StreamEncryptor

FILE_CHUNK = 2 * 1024 * 1024  # plaintext per sealed chunk = per buffer handed to the helper
BUFFERS = 5  # the one being filled, the rest queued or being sealed
WRITEBACK = 8 * 1024 * 1024
_TAG = 16
_STOP = None


class SealingFile(io.RawIOBase):
    """Encrypt-and-hash on write into a new file; finished by `seek(0)` or `finish()`."""

    def __init__(self, path: Path, key: bytes, aad: str, max_size: int | None = None) -> None:
        super().__init__()
        self.path = path
        self.key = key
        self.aad = aad
        self.max_size = max_size
        self.size = 0
        self.digest = hashlib.sha256()
        self.oversize = False
        self.refused: str | None = None
        self.finished = False
        self._enc = StreamEncryptor(key, aad, FILE_CHUNK)
        self._free: queue.Queue[bytearray] = queue.Queue()
        self._made = 0
        self._piece = self._buffer()
        self._filled = 0
        self._todo: queue.Queue[tuple[bytearray, int, bool] | None] = queue.Queue()
        self._error: BaseException | None = None
        self._helper: threading.Thread | None = None
        self._flusher: _Flusher | None = None
        self._synced = 0  # bytes written when the disk was last asked to catch up
        self._written = 0
        self._fd: int | None = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            self._write_all(memoryview(self._enc.header))
        except BaseException:
            self.discard()
            raise

    def writable(self) -> bool:
        """Writable until finished."""
        return not self.finished

    def seekable(self) -> bool:
        """`seek(0)` finishes the file (what a form parser calls at the end of a part)."""
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        """Gather into the current buffer; hand full ones over; beyond `max_size` delete."""
        n = len(data)
        self.size += n
        if self.finished or not n:
            return n
        if self.max_size is not None and self.size > self.max_size:
            self.oversize = True
            self.discard()
            return n
        view = memoryview(data).cast("B")
        while view:
            take = view[:FILE_CHUNK - self._filled]
            self._piece[self._filled:self._filled + len(take)] = take
            self._filled += len(take)
            view = view[len(take):]
            if self._filled == FILE_CHUNK:
                self._hand_over(last=False)
                self._piece, self._filled = self._buffer(), 0
        return n

    def _buffer(self) -> bytearray:
        """A recycled chunk buffer, a new one while fewer than BUFFERS exist, else wait."""
        with contextlib.suppress(queue.Empty):
            return self._free.get_nowait()
        if self._made < BUFFERS:
            self._made += 1
            return bytearray(FILE_CHUNK)
        return self._free.get()

    def _hand_over(self, last: bool) -> None:
        """Queue the current buffer for the helper (started on first use)."""
        if self._error is not None:
            self._fail()
        if self._helper is None:
            self._helper = threading.Thread(target=self._work, name="sealing-file", daemon=True)
            self._helper.start()
        self._todo.put((self._piece, self._filled, last))

    def _work(self) -> None:
        """Helper thread: hash, seal and write each queued buffer, then recycle it."""
        out = bytearray(FILE_CHUNK + _TAG)
        while (item := self._todo.get()) is not _STOP:
            piece, filled, last = item
            if self._error is None:
                try:
                    data = memoryview(piece)[:filled]
                    self.digest.update(data)
                    self._write_all(self._enc.seal_into(data, out, last=last))
                except BaseException as exc:  # raised to the writer by write()/finish()
                    self._error = exc
            self._free.put(piece)

    def _write_all(self, data: memoryview) -> None:
        """Append to the file; every WRITEBACK bytes nudge the disk to catch up."""
        assert self._fd is not None
        self._written += len(data)
        while data:
            data = data[os.write(self._fd, data):]
        if self._written - self._synced >= WRITEBACK:
            if self._flusher is None:
                self._flusher = _Flusher(self._fd)
            self._flusher.nudge()
            self._synced = self._written

    def _join(self) -> None:
        """Stop the helpers once everything queued is written."""
        if self._helper is not None:
            self._todo.put(_STOP)
            self._helper.join()
            self._helper = None
        if self._flusher is not None:
            self._flusher.stop()
            self._flusher = None

    def _fail(self) -> None:
        error = self._error
        self.discard()
        assert error is not None
        raise error

    def seek(self, offset: int, whence: int = 0) -> int:
        """`seek(0)` finishes the file; `seek(0, SEEK_END)` tells the size."""
        if whence == io.SEEK_END and offset == 0:
            return self.size
        if offset != 0 or whence != io.SEEK_SET:
            raise io.UnsupportedOperation("SealingFile only finishes with seek(0)")
        self.finish()
        return 0

    def tell(self) -> int:
        """Plaintext bytes written."""
        return self.size

    def finish(self) -> None:
        """Seal the final chunk, fsync and close (once; nothing to do after a discard)."""
        if self.finished:
            return
        self._hand_over(last=True)
        self._join()
        if self._error is not None:
            self._fail()
        assert self._fd is not None
        try:
            os.fsync(self._fd)
        except BaseException:
            self.discard()
            raise
        os.close(self._fd)
        self._fd, self.finished = None, True
        self._release()

    def discard(self) -> None:
        """Close and delete the file (whatever state it is in)."""
        self._error = self._error or _Discarded()
        self._join()
        if self._fd is not None:
            os.close(self._fd)
        self._fd, self.finished = None, True
        self._release()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def _release(self) -> None:
        """Drop the buffers (a finished file may be kept around until the request ends)."""
        self._piece, self._filled = bytearray(), 0
        self._free = queue.Queue()

    @property
    def kept(self) -> bool:
        """True when the file is finished and still on disk."""
        return self.finished and self.path.exists()

    def close(self) -> None:
        """Close the descriptor; an unfinished file is deleted."""
        if not self.finished:
            self.discard()
        super().close()


class _Flusher:
    """A thread that runs `fdatasync(fd)` whenever nudged, until stopped (then joined)."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._wake = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="sealing-sync", daemon=True)
        self._thread.start()

    def nudge(self) -> None:
        """Ask for one more sync (several nudges during a sync make one)."""
        self._wake.set()

    def stop(self) -> None:
        """Finish the sync under way, then end; the descriptor is left open."""
        self._stopping = True
        self._wake.set()
        self._thread.join()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._stopping:
                return
            with contextlib.suppress(OSError):  # the closing fsync reports real errors
                os.fdatasync(self._fd)


class _Discarded(Exception):
    """Marks a discarded file so the helper stops working on it."""
