"""SealingFile: an upload encrypted, hashed and written in one pass, deleted on any failure."""

from __future__ import annotations

import errno
import hashlib
import io
import os
import random
import stat
import threading
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from caseapp import crypto
from caseapp.crypto import sealing
from caseapp.crypto.sealing import BUFFERS, FILE_CHUNK, SealingFile
from caseapp.crypto.stream import CHUNK

AAD = "evidence-file|case:7|0123abcd"
HEADER = 12  # version ‖ nonce prefix ‖ chunk size
TAG = 16
SEALED = FILE_CHUNK + TAG  # one full chunk on disk
PIECE = 65543  # odd piece size, as a socket might hand them over
HELPERS = ("sealing-file", "sealing-sync")
MIB = 1024 * 1024
KINDS: dict[str, Callable[[bytes], bytes | bytearray | memoryview]] = {
    "bytes": bytes, "bytearray": bytearray, "memoryview": memoryview}


def _data(size: int, seed: int = 1) -> bytes:
    """Deterministic incompressible plaintext."""
    return random.Random(seed).randbytes(size)


def _pieces(data: bytes, size: int = PIECE) -> Iterator[memoryview]:
    """`data` cut into pieces of `size` bytes (the last one shorter)."""
    view = memoryview(data)
    for i in range(0, len(data), size):
        yield view[i:i + size]


def _sink(tmp_path: Path, max_size: int | None = None, name: str = "f") -> SealingFile:
    """A fresh SealingFile in `tmp_path`."""
    return SealingFile(tmp_path / name, crypto.random_key(), AAD, max_size)


def _sealed(tmp_path: Path, data: bytes) -> SealingFile:
    """`data` written in odd pieces and finished."""
    sink = _sink(tmp_path)
    for piece in _pieces(data):
        sink.write(piece)
    sink.finish()
    return sink


def _decrypt(sink: SealingFile, blob: bytes | None = None, aad: str | None = None) -> bytes:
    """Plaintext of the sink's file (or of `blob`, a tampered copy of it)."""
    raw = sink.path.read_bytes() if blob is None else blob
    return b"".join(crypto.decrypt_chunks(sink.key, io.BytesIO(raw), aad or sink.aad))


def _helpers_alive() -> list[str]:
    """Names of the SealingFile helper threads still running."""
    return [t.name for t in threading.enumerate() if t.name in HELPERS and t.is_alive()]


@pytest.fixture(autouse=True)
def _no_helper_left() -> Iterator[None]:
    """Every test starts and ends with no helper thread alive."""
    assert _helpers_alive() == []
    yield
    assert _helpers_alive() == []


# -- round trips ---------------------------------------------------------------------------

@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("size", [0, 1, FILE_CHUNK - 1, FILE_CHUNK, FILE_CHUNK + 1,
                                  3 * FILE_CHUNK + 5])
def test_round_trip_in_odd_pieces(tmp_path: Path, size: int, kind: str) -> None:
    """Any size written in odd pieces of any buffer type decrypts to exactly what was sent."""
    data = _data(size)
    sink = _sink(tmp_path)
    for piece in _pieces(data):
        assert sink.write(KINDS[kind](bytes(piece))) == len(piece)
    assert sink.seek(0) == 0  # what Werkzeug and our parser call at the end of a part
    assert sink.finished and sink.kept
    assert _decrypt(sink) == data
    assert sink.digest.hexdigest() == hashlib.sha256(data).hexdigest()
    assert sink.size == size == sink.tell()
    assert stat.S_IMODE(os.stat(sink.path).st_mode) == 0o600
    chunks = size // FILE_CHUNK + 1  # always a final chunk, empty on a chunk boundary
    assert sink.path.stat().st_size == HEADER + size + TAG * chunks


def test_file_holds_no_plaintext(tmp_path: Path) -> None:
    """A recognisable plaintext appears nowhere in the file on disk."""
    marker = b"PLAINTEXT-MARKER-0123456789abcdef"
    data = (marker * (FILE_CHUNK // len(marker) * 2 + 7))
    sink = _sealed(tmp_path, data)
    assert marker not in sink.path.read_bytes()
    assert _decrypt(sink) == data


def test_short_os_writes_are_completed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A disk that accepts only part of each write still ends up with the whole file."""
    real = os.write

    def short(fd: int, data: bytes | memoryview) -> int:
        return real(fd, memoryview(data)[:100_003])

    monkeypatch.setattr(sealing.os, "write", short)
    data = _data(2 * FILE_CHUNK + 11)
    sink = _sealed(tmp_path, data)
    assert _decrypt(sink) == data


def test_two_files_get_independent_keystreams(tmp_path: Path) -> None:
    """The same plaintext under the same key twice does not give the same ciphertext."""
    data = _data(1000)
    key = crypto.random_key()
    one, two = SealingFile(tmp_path / "a", key, AAD), SealingFile(tmp_path / "b", key, AAD)
    for sink in (one, two):
        sink.write(data)
        sink.finish()
    assert one.path.read_bytes()[HEADER:] != two.path.read_bytes()[HEADER:]


def test_existing_file_is_never_overwritten(tmp_path: Path) -> None:
    """A sink refuses to open over an existing file (and leaves that file alone)."""
    (tmp_path / "f").write_bytes(b"earlier evidence")
    with pytest.raises(FileExistsError):
        _sink(tmp_path)
    assert (tmp_path / "f").read_bytes() == b"earlier evidence"


def test_planted_symlink_is_not_followed(tmp_path: Path) -> None:
    """A symlink planted at the new name is refused, its target never created."""
    target = tmp_path / "elsewhere"
    (tmp_path / "f").symlink_to(target)
    with pytest.raises(FileExistsError):
        _sink(tmp_path)
    assert not target.exists()


# -- truncation and tampering on a file whose final chunk is empty ------------------------

@pytest.fixture
def exact(tmp_path: Path) -> tuple[SealingFile, bytes, bytes]:
    """A sealed file of exactly two chunks of plaintext: (sink, plaintext, file bytes)."""
    data = _data(2 * FILE_CHUNK, seed=2)
    sink = _sealed(tmp_path, data)
    raw = sink.path.read_bytes()
    assert len(raw) == HEADER + 2 * SEALED + TAG  # the final chunk is a bare tag
    assert _decrypt(sink) == data
    return sink, data, raw


def _chunks_of(raw: bytes) -> tuple[bytes, list[bytes]]:
    """(header, sealed chunks) of a file."""
    body = raw[HEADER:]
    return raw[:HEADER], [body[i:i + SEALED] for i in range(0, len(body), SEALED)]


def _tampered(raw: bytes, how: str) -> bytes:
    """A modified copy of a two-chunk file."""
    head, chunks = _chunks_of(raw)
    assert [len(c) for c in chunks] == [SEALED, SEALED, TAG]
    if how == "drop last 16 bytes":
        return raw[:-TAG]
    if how == "drop last full chunk":
        return head + chunks[0] + chunks[2]
    if how == "drop the last two chunks":
        return head + chunks[0]
    if how == "drop first chunk":
        return head + chunks[1] + chunks[2]
    if how == "swap chunks":
        return head + chunks[1] + chunks[0] + chunks[2]
    if how == "header only":
        return head
    if how == "cut inside a chunk":
        return raw[:HEADER + SEALED + 1000]
    if how == "extra chunk appended":
        return raw + chunks[0]
    raise AssertionError(how)


@pytest.mark.parametrize("how", ["drop last 16 bytes", "drop last full chunk",
                                 "drop the last two chunks",
                                 "drop first chunk", "swap chunks", "header only",
                                 "cut inside a chunk", "extra chunk appended"])
def test_truncation_and_reordering_are_detected(exact: tuple[SealingFile, bytes, bytes],
                                                how: str) -> None:
    """Cutting, dropping, reordering or adding chunks makes decryption fail."""
    sink, _data_, raw = exact
    with pytest.raises(crypto.DecryptionError):
        _decrypt(sink, _tampered(raw, how))


@pytest.mark.parametrize("where", [0, 1, 7, HEADER - 1, HEADER, HEADER + FILE_CHUNK // 2,
                                   HEADER + SEALED - 1, HEADER + SEALED + 5,
                                   HEADER + 2 * SEALED, HEADER + 2 * SEALED + TAG - 1])
def test_any_flipped_byte_is_detected(exact: tuple[SealingFile, bytes, bytes],
                                      where: int) -> None:
    """One flipped bit in the header, any chunk or the empty final chunk's tag fails."""
    sink, _data_, raw = exact
    blob = bytearray(raw)
    blob[where] ^= 0x01
    with pytest.raises(crypto.DecryptionError):
        _decrypt(sink, bytes(blob))


def test_wrong_binding_or_key_is_refused(exact: tuple[SealingFile, bytes, bytes]) -> None:
    """A file moved to another case/name (other aad) or opened with another key fails."""
    sink, _data_, raw = exact
    with pytest.raises(crypto.DecryptionError):
        _decrypt(sink, raw, aad=AAD + "x")
    with pytest.raises(crypto.DecryptionError):
        b"".join(crypto.decrypt_chunks(crypto.random_key(), io.BytesIO(raw), sink.aad))


# -- max_size ------------------------------------------------------------------------------

def test_exactly_max_size_is_kept(tmp_path: Path) -> None:
    """A file of exactly the limit is stored whole."""
    data = _data(FILE_CHUNK + 3)
    sink = _sink(tmp_path, max_size=len(data))
    for piece in _pieces(data):
        sink.write(piece)
    sink.finish()
    assert not sink.oversize and sink.kept and _decrypt(sink) == data


@pytest.mark.parametrize("limit", [0, 10, FILE_CHUNK, 3 * FILE_CHUNK - 1])
def test_past_max_size_the_file_is_deleted_at_once(tmp_path: Path, limit: int) -> None:
    """One byte past the limit deletes the file before finish; nothing brings it back."""
    sink = _sink(tmp_path, max_size=limit)
    data = _data(limit)
    for piece in _pieces(data):
        sink.write(piece)
    assert sink.path.exists() and not sink.oversize
    assert sink.write(b"x") == 1
    assert sink.oversize and not sink.path.exists()
    assert _helpers_alive() == []
    for piece in _pieces(_data(2 * FILE_CHUNK)):  # the rest of the upload is dropped
        assert sink.write(piece) == len(piece)
        assert not sink.path.exists()
    sink.finish()
    sink.seek(0)
    sink.close()
    assert not sink.path.exists() and not sink.kept
    assert list(tmp_path.iterdir()) == []


# -- discard and close ---------------------------------------------------------------------

def _written(tmp_path: Path, size: int) -> SealingFile:
    """A sink with `size` bytes written and not finished."""
    sink = _sink(tmp_path)
    for piece in _pieces(_data(size)):
        sink.write(piece)
    return sink


@pytest.mark.parametrize("size", [0, 100, FILE_CHUNK, 4 * FILE_CHUNK + 1])
def test_discard_before_finish_deletes(tmp_path: Path, size: int) -> None:
    """discard() before, during (buffers queued) or after writing deletes the file."""
    sink = _written(tmp_path, size)
    assert sink.path.exists()
    sink.discard()
    assert not sink.path.exists() and not sink.kept
    assert sink.write(b"more") == 4  # a late write neither fails nor recreates the file
    sink.finish()
    assert not sink.path.exists()
    assert list(tmp_path.iterdir()) == []


def test_discard_after_finish_deletes(tmp_path: Path) -> None:
    """A finished file that does not become evidence is deleted by discard()."""
    sink = _sealed(tmp_path, _data(FILE_CHUNK + 1))
    assert sink.kept
    sink.discard()
    sink.discard()  # twice is harmless
    assert not sink.path.exists() and not sink.kept


@pytest.mark.parametrize("size", [0, 5, 2 * FILE_CHUNK + 5])
def test_close_before_finish_deletes(tmp_path: Path, size: int) -> None:
    """An unfinished file (request cut off) is deleted when closed."""
    sink = _written(tmp_path, size)
    sink.close()
    assert sink.closed and not sink.path.exists()


def test_close_after_finish_keeps(tmp_path: Path) -> None:
    """Closing a finished file keeps it, readable and intact."""
    data = _data(FILE_CHUNK + 9)
    sink = _sealed(tmp_path, data)
    sink.close()
    assert sink.closed and sink.kept and _decrypt(sink) == data


def test_seek_other_than_rewind_is_refused(tmp_path: Path) -> None:
    """Only seek(0) (finish) and seek(0, SEEK_END) (size probe) are accepted."""
    sink = _written(tmp_path, 10)
    assert sink.seek(0, io.SEEK_END) == 10 and not sink.finished
    with pytest.raises(io.UnsupportedOperation):
        sink.seek(3)
    sink.close()


# -- disk failures -------------------------------------------------------------------------

def _disk_fills_after(monkeypatch: pytest.MonkeyPatch, path: Path, budget: int) -> None:
    """os.write to `path` fails with ENOSPC once `budget` bytes were written to it."""
    real = os.write
    left = [budget]

    def write(fd: int, data: bytes | memoryview) -> int:
        if os.readlink(f"/proc/self/fd/{fd}") != str(path):
            return real(fd, data)
        if left[0] <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        done = real(fd, memoryview(data)[:left[0]])
        left[0] -= done
        return done

    monkeypatch.setattr(sealing.os, "write", write)


def test_full_disk_at_the_header_leaves_nothing(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """ENOSPC while writing the header: OSError from the constructor, no file left."""
    _disk_fills_after(monkeypatch, tmp_path / "f", 5)
    with pytest.raises(OSError) as err:
        _sink(tmp_path)
    assert err.value.errno == errno.ENOSPC
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("budget", "size"), [
    (HEADER + 10, FILE_CHUNK + 1),  # inside the first chunk
    (HEADER + SEALED, 2 * FILE_CHUNK),  # right before the empty final chunk
    (HEADER + 3 * SEALED + 7, 5 * FILE_CHUNK),
    (20 * MIB, 40 * MIB),  # after the writeback helper has started
])
def test_full_disk_fails_the_upload_and_deletes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                budget: int, size: int) -> None:
    """ENOSPC from the helper surfaces as OSError; the partial file and helpers are gone."""
    sink = _sink(tmp_path)
    _disk_fills_after(monkeypatch, sink.path, budget)
    piece = _data(64 * 1024)
    with pytest.raises(OSError) as err:
        for _ in range(size // len(piece)):
            sink.write(piece)
        sink.seek(0)
    assert err.value.errno == errno.ENOSPC
    assert not sink.path.exists() and not sink.kept
    assert _helpers_alive() == []
    sink.close()  # the request's cleanup after the error does not raise
    assert list(tmp_path.iterdir()) == []


def test_failed_fsync_fails_the_upload_and_deletes(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """An fsync error at finish (data not durable) is raised and the file deleted."""
    sink = _written(tmp_path, FILE_CHUNK + 1)

    def fsync(fd: int) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(sealing.os, "fsync", fsync)
    with pytest.raises(OSError) as err:
        sink.finish()
    assert err.value.errno == errno.EIO
    assert not sink.path.exists() and _helpers_alive() == []


# -- bounded memory ------------------------------------------------------------------------

def test_memory_stays_bounded_for_a_large_file(tmp_path: Path) -> None:
    """40 MiB in 64 KiB pieces: at most BUFFERS chunk buffers, peak far below the file size."""
    piece = _data(64 * 1024)
    size = 40 * MIB
    digest = hashlib.sha256()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        sink = _sink(tmp_path)
        for _ in range(size // len(piece)):
            sink.write(piece)
            digest.update(piece)
        sink.finish()
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert sink._made <= BUFFERS
    assert peak < (BUFFERS + 2) * FILE_CHUNK, f"peak {peak / MIB:.1f} MiB"
    assert sink.size == size and sink.digest.hexdigest() == digest.hexdigest()
    plain = hashlib.sha256()
    with sink.path.open("rb") as fh:
        for block in crypto.decrypt_chunks(sink.key, fh, sink.aad):
            plain.update(block)
    assert plain.hexdigest() == digest.hexdigest()


# -- StreamEncryptor.seal_into -------------------------------------------------------------

def test_seal_into_refuses_short_long_and_pending() -> None:
    """A short non-final chunk, an over-long chunk or data pending from update is refused."""
    chunk = 1024
    out = bytearray(chunk + TAG)
    enc = crypto.StreamEncryptor(crypto.random_key(), AAD, chunk)
    with pytest.raises(ValueError):
        enc.seal_into(b"x" * (chunk - 1), out)
    with pytest.raises(ValueError):
        enc.seal_into(b"x" * (chunk + 1), out)
    with pytest.raises(ValueError):
        enc.seal_into(b"x" * (chunk + 1), out, last=True)
    enc.update(b"abc")
    with pytest.raises(ValueError):
        enc.seal_into(b"x" * chunk, out)
    with pytest.raises(ValueError):
        enc.seal_into(b"", out, last=True)


@pytest.mark.parametrize("tail", [0, 1, 1023])
def test_seal_into_output_decrypts(tail: int) -> None:
    """Whole chunks then a final one (maybe empty) sealed into one reused buffer decrypt."""
    chunk = 1024
    key = crypto.random_key()
    data = _data(3 * chunk + tail)
    enc = crypto.StreamEncryptor(key, AAD, chunk)
    out = bytearray(chunk + TAG)
    blob = bytearray(enc.header)
    view = memoryview(data)
    for i in range(0, 3 * chunk, chunk):
        blob += enc.seal_into(view[i:i + chunk], out)
    sealed = enc.seal_into(view[3 * chunk:], out, last=True)
    assert len(sealed) == tail + TAG
    blob += sealed
    assert b"".join(crypto.decrypt_chunks(key, io.BytesIO(bytes(blob)), AAD)) == data
    with pytest.raises(crypto.DecryptionError):  # the final flag is really set
        b"".join(crypto.decrypt_chunks(key, io.BytesIO(bytes(blob[:-len(sealed)])), AAD))


def test_seal_into_then_update_continues_the_stream() -> None:
    """Mixing seal_into with update/finalize afterwards keeps one valid stream."""
    chunk = 64
    key = crypto.random_key()
    data = _data(5 * chunk + 3)
    enc = crypto.StreamEncryptor(key, AAD, chunk)
    blob = enc.header + bytes(enc.seal_into(data[:chunk], bytearray(chunk + TAG)))
    blob += enc.update(data[chunk:]) + enc.finalize()
    assert b"".join(crypto.decrypt_chunks(key, io.BytesIO(blob), AAD)) == data


# -- EncryptedSpool with an empty final chunk ----------------------------------------------

@pytest.mark.parametrize("chunks", [1, 2, 5])
@pytest.mark.parametrize("piece", [CHUNK, 1000, 3 * CHUNK + 1])
def test_spool_exact_multiple_of_its_chunk_reads_back(tmp_path: Path, chunks: int,
                                                      piece: int) -> None:
    """A spilled spool of exactly k×64 KiB reads back whole by read(), read(CHUNK), iter."""
    data = _data(chunks * CHUNK, seed=chunks)
    spool = crypto.EncryptedSpool(max_memory=1000, tmp_dir=tmp_path)
    for part in _pieces(data, piece):
        spool.write(part)
    assert spool.spilled
    spool.seek(0)
    assert spool.read() == data
    spool.seek(0)
    got = bytearray()
    while block := spool.read(CHUNK):
        got += block
    assert bytes(got) == data
    assert b"".join(spool.iter_chunks()) == data
    spool.seek(0)
    assert spool.read(7) == data[:7] and spool.read() == data[7:] and spool.read() == b""
    spool.close()
