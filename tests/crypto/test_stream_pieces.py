"""Streams fed and read in arbitrary pieces (uploads arrive in whatever sizes the socket gives)."""

from __future__ import annotations

import io
import os
import random

import pytest

from caseapp import crypto
from caseapp.crypto.stream import CHUNK


def _pieces(data: bytes, rng: random.Random, chunk: int) -> list[bytes | memoryview]:
    out: list[bytes | memoryview] = []
    i = 0
    while i < len(data):
        n = rng.choice([0, 1, chunk - 1, chunk, chunk + 1, 3 * chunk, rng.randrange(2 * chunk)])
        piece = data[i:i + n]
        out.append(memoryview(piece) if rng.random() < 0.5 else piece)
        i += n
    return out


@pytest.mark.parametrize("seed", range(20))
def test_encryptor_any_split_round_trips_with_whole_chunks(seed):
    rng = random.Random(seed)
    chunk = rng.choice([1, 7, 64, 1024])
    data = os.urandom(rng.randrange(0, 6 * chunk))
    key = crypto.random_key()
    enc = crypto.StreamEncryptor(key, "file:3", chunk)
    blob = enc.header + b"".join(enc.update(p) for p in _pieces(data, rng, chunk))
    blob += enc.finalize()
    chunks = len(data) // chunk + 1  # whole chunks, then the final one (empty on a boundary)
    assert len(blob) == len(enc.header) + len(data) + 16 * chunks
    assert b"".join(crypto.decrypt_chunks(key, io.BytesIO(blob), "file:3")) == data
    with pytest.raises(crypto.DecryptionError):
        list(crypto.decrypt_chunks(key, io.BytesIO(blob), "file:4"))


@pytest.mark.parametrize("seed", range(6))
def test_spilled_spool_reads_back_in_any_sizes(seed, tmp_path):
    rng = random.Random(seed)
    data = os.urandom(3 * CHUNK + rng.randrange(CHUNK))
    spool = crypto.EncryptedSpool(max_memory=1000, tmp_dir=tmp_path)
    for piece in _pieces(data, rng, CHUNK):
        spool.write(piece)
    assert spool.spilled
    spool.seek(0)
    got = bytearray()
    while True:
        block = spool.read(rng.choice([CHUNK, CHUNK, 1, 100, 2 * CHUNK, -1]))
        if not block:
            break
        got += block
    assert bytes(got) == data
    spool.close()
