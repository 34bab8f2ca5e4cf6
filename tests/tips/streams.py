"""A multipart body generated on the fly, so a 100 MB upload never exists in test memory."""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from pathlib import Path

BOUNDARY = "caseappTestBoundary7MA4YWxkTrZu0gW"
MARKER = b"PLAINTEXT-MARKER-0123456789abcdef"  # 33 bytes, never valid ciphertext by chance


def _parts(fields: dict[str, str], filename: str, head: bytes, size: int,
           block: int) -> tuple[list[bytes], Iterator[bytes], bytes]:
    pre = []
    for name, value in fields.items():
        pre.append(f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                   .encode() + value.encode() + b"\r\n")
    pre.append(f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files"; '
               f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
               .encode())
    pattern = (MARKER * (block // len(MARKER) + 1))[:block]

    def body() -> Iterator[bytes]:
        yield head
        left = size - len(head)
        while left > 0:
            n = min(block, left)
            yield pattern[:n]
            left -= n

    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    return pre, body(), tail


class MultipartStream(io.RawIOBase):
    """A readable multipart body of one big file, produced lazily."""

    def __init__(self, fields: dict[str, str], filename: str, head: bytes, size: int,
                 block: int = 64 * 1024, on_read: Callable[[], None] | None = None) -> None:
        super().__init__()
        pre, body, tail = _parts(fields, filename, head, size, block)
        self.length = sum(map(len, pre)) + size + len(tail)
        self._chunks = iter([*pre, *body, tail])
        self._buf = b""
        self._on_read = on_read
        self.reads = 0
        self.sent = 0  # bytes handed out

    @staticmethod
    def content_type() -> str:
        """The Content-Type header for this body."""
        return f"multipart/form-data; boundary={BOUNDARY}"

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        self.reads += 1
        if self._on_read and self.reads % 16 == 0:
            self._on_read()
        while size < 0 or len(self._buf) < size:
            nxt = next(self._chunks, None)
            if nxt is None:
                break
            self._buf += nxt
        if size < 0:
            out, self._buf = self._buf, b""
        else:
            out, self._buf = self._buf[:size], self._buf[size:]
        self.sent += len(out)
        return out

    def readinto(self, b) -> int:  # type: ignore[override]
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)


class ExplodingStream(io.RawIOBase):
    """A body that must never be read."""

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        raise AssertionError("the body was read although Content-Length was too large")

    readinto = read  # type: ignore[assignment]


def open_files_under(directory: Path, needle: bytes = MARKER) -> list[tuple[int, bool]]:
    """(size, contains needle) of every file this process has open below `directory`."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(directory)):
            size, hit, tail = 0, False, b""
            with open(f"/proc/self/fd/{fd}", "rb") as fh:
                while block := fh.read(1024 * 1024):
                    hit = hit or needle in tail + block
                    tail = block[-len(needle):]
                    size += len(block)
            found.append((size, hit))
    return found
