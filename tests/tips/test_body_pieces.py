"""Large request bodies are read in 1 MiB pieces, and a body that ends early is a 400."""

from __future__ import annotations

import io
import os

import pytest
from werkzeug.exceptions import ClientDisconnected

from caseapp.tips.uploads import READ_BUFFER, BodyPieces

DATA = os.urandom(3 * READ_BUFFER + 123)


class CountingSource(io.BytesIO):
    """A server's input stream that records the size of every read."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.sizes: list[int] = []

    def read(self, size: int | None = -1) -> bytes:
        """Record, then read."""
        self.sizes.append(-1 if size is None else size)
        return super().read(size)


def test_small_reads_come_from_whole_pieces() -> None:
    """64 KiB reads by the parser reach the server as 1 MiB reads, and add up to the body."""
    source = CountingSource(DATA)
    body = BodyPieces(source, len(DATA))
    got = bytearray()
    while piece := body.read(64 * 1024):
        got += piece
    assert bytes(got) == DATA
    assert source.sizes == [READ_BUFFER] * 3 + [123]


def test_read_all_returns_the_rest_as_bytes() -> None:
    """`read()` after some reads gives exactly the remainder, as bytes (get_data, urlencoded)."""
    body = BodyPieces(io.BytesIO(DATA), len(DATA))
    head = bytes(body.read(1000))
    rest = body.read()
    assert isinstance(rest, bytes) and head + rest == DATA and body.read(10) == b""


def test_never_reads_past_the_announced_length() -> None:
    """Bytes after Content-Length (the next pipelined request) are left alone."""
    source = io.BytesIO(DATA + b"NEXT REQUEST")
    body = BodyPieces(source, len(DATA))
    assert body.read() == DATA and source.read() == b"NEXT REQUEST"


def test_a_body_that_ends_early_is_a_disconnect() -> None:
    """Fewer bytes than announced: ClientDisconnected, not a silently short upload."""
    body = BodyPieces(io.BytesIO(DATA[:READ_BUFFER + 5]), len(DATA))
    with pytest.raises(ClientDisconnected):
        while body.read(64 * 1024):
            pass
