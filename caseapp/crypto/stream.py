"""Chunked streaming AEAD for files: bounded memory, truncation and reordering detected.

Layout: header = version(1) ‖ nonce prefix(7) ‖ chunk size(4, big-endian); then chunks,
each AES-256-GCM over at most `chunk size` bytes with nonce = prefix ‖ counter(4) ‖ last(1)
and AAD = binding ‖ counter ‖ last flag. Only the final chunk carries last = 1; it may be
empty (when the plaintext ends on a chunk boundary).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .errors import DecryptionError

STREAM_V1 = 0x01
CHUNK = 64 * 1024
_TAG = 16
_HEADER = struct.Struct(">B7sI")


def _nonce(prefix: bytes, counter: int, last: bool) -> bytes:
    return prefix + struct.pack(">IB", counter, 1 if last else 0)


def _aad(binding: str, counter: int, last: bool) -> bytes:
    return b"caseapp:stream:v1|" + binding.encode() + struct.pack(">IB", counter, int(last))


class StreamEncryptor:
    """Incremental encryptor: feed plaintext with `update`, then call `finalize`."""

    def __init__(self, key: bytes, aad: str, chunk_size: int = CHUNK) -> None:
        self._aes = AESGCM(key)
        self._aad = aad
        self._prefix = os.urandom(7)
        self._chunk = chunk_size
        self._buf = bytearray()
        self._counter = 0
        self.chunk_size = chunk_size
        self.header = _HEADER.pack(STREAM_V1, self._prefix, chunk_size)

    def _seal(self, data: bytes | bytearray | memoryview, last: bool) -> bytes:
        out = self._aes.encrypt(
            _nonce(self._prefix, self._counter, last), data, _aad(self._aad, self._counter, last)
        )
        self._counter += 1
        return out

    def update(self, data: bytes | bytearray | memoryview) -> bytes:
        """Encrypt the whole chunks available so far; the rest waits for more or `finalize`.

        Whole chunks are sealed straight from `data` without copying it; only a partial
        chunk is buffered, so the final chunk (sealed by `finalize`) may be empty.
        """
        view = memoryview(data).cast("B")
        parts: list[bytes] = []
        if self._buf:
            need = self._chunk - len(self._buf)
            self._buf += view[:need]
            view = view[need:]
            if len(self._buf) < self._chunk:
                return b""
            parts.append(self._seal(self._buf, last=False))
            self._buf = bytearray()
        while len(view) >= self._chunk:
            parts.append(self._seal(view[: self._chunk], last=False))
            view = view[self._chunk:]
        self._buf += view
        return b"".join(parts)

    def seal_into(self, data: bytes | bytearray | memoryview, out: bytearray | memoryview,
                  last: bool = False) -> memoryview:
        """Seal one whole chunk (or, with `last`, the final one) into `out`; the sealed bytes.

        For callers that gather whole chunks themselves and reuse their buffers; nothing
        may be pending from `update`. `out` must hold a chunk and its tag.
        """
        if self._buf or (len(data) != self._chunk and not last) or len(data) > self._chunk:
            raise ValueError("seal_into takes one whole chunk, or the final one")
        sealed = memoryview(out)[: len(data) + _TAG]
        self._aes.encrypt_into(_nonce(self._prefix, self._counter, last), data,
                               _aad(self._aad, self._counter, last), sealed)
        self._counter += 1
        return sealed

    def finalize(self) -> bytes:
        """Encrypt the remaining bytes (possibly none) as the final chunk."""
        out = self._seal(self._buf, last=True)
        self._buf = bytearray()
        return out


def encrypt_stream(key: bytes, source: BinaryIO, sink: BinaryIO, aad: str,
                   chunk_size: int = CHUNK) -> int:
    """Encrypt `source` into `sink` chunk by chunk; returns plaintext bytes read."""
    enc = StreamEncryptor(key, aad, chunk_size)
    sink.write(enc.header)
    total = 0
    while block := source.read(chunk_size):
        total += len(block)
        sink.write(enc.update(block))
    sink.write(enc.finalize())
    return total


def decrypt_chunks(key: bytes, source: BinaryIO, aad: str) -> Iterator[bytes]:
    """Yield plaintext chunks; raises DecryptionError on any tampering or truncation."""
    header = source.read(_HEADER.size)
    if len(header) != _HEADER.size:
        raise DecryptionError("file header missing")
    version, prefix, chunk_size = _HEADER.unpack(header)
    if version != STREAM_V1 or not 0 < chunk_size <= 16 * 1024 * 1024:
        raise DecryptionError("unknown file envelope")
    aes = AESGCM(key)
    size = chunk_size + _TAG
    counter = 0
    current = source.read(size)
    while True:
        nxt = source.read(size)
        last = not nxt
        if len(current) < _TAG:
            raise DecryptionError("file truncated")
        try:
            yield aes.decrypt(
                _nonce(prefix, counter, last), current, _aad(aad, counter, last)
            )
        except InvalidTag as exc:
            raise DecryptionError(f"file chunk {counter} fails authentication") from exc
        if last:
            return
        counter += 1
        current = nxt


def decrypt_stream(key: bytes, source: BinaryIO, sink: BinaryIO, aad: str) -> int:
    """Decrypt a whole stream into `sink`; returns plaintext bytes written."""
    total = 0
    for chunk in decrypt_chunks(key, source, aad):
        sink.write(chunk)
        total += len(chunk)
    return total


def encrypt_bytes_stream(key: bytes, chunks: Iterable[bytes], aad: str) -> Iterator[bytes]:
    """Encrypt an iterable of byte blocks, yielding ciphertext blocks."""
    enc = StreamEncryptor(key, aad)
    yield enc.header
    for block in chunks:
        out = enc.update(block)
        if out:
            yield out
    yield enc.finalize()
