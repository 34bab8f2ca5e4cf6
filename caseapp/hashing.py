"""A stream wrapper that hashes (SHA-256) and counts bytes as they are read."""

from __future__ import annotations

import hashlib
import io
from typing import IO


class HashingReader(io.RawIOBase):
    """Wrap a readable stream, hashing and counting what passes through."""

    def __init__(self, source: IO[bytes]) -> None:
        super().__init__()
        self.source = source
        self.digest = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        """Always readable."""
        return True

    def read(self, size: int | None = -1) -> bytes:
        """Read, hash and count."""
        data = self.source.read(-1 if size is None else size)
        self.digest.update(data)
        self.size += len(data)
        return data
