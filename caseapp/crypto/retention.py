"""Retention-epoch keys and subject pads: the half of every content key a purge destroys.

Each retention subject (tip, case, reward claim) has a random 32-byte *pad*, stored in
the database wrapped under a retention-epoch key R[epoch]. The key that encrypts content
is the wrapped key K (what departments, escrow and the tipster hold) XOR a mask derived
from the pad, so K alone (e.g. from an old backup and the escrow key) opens nothing once
R[epoch] is gone. The epoch keys live in `instance/keys/retention.json`, a file of their
own (never in a database backup, and backed up on a short rotation, see docs/retention.md).
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import KeyStoreError
from .keystore import write_private_json
from .primitives import KEY_BYTES, decrypt_field, encrypt_field, hkdf

RETENTION_FILE = "retention.json"
_LOCK_FILE = "retention.lock"
ACTIVE_EPOCH = "active"  # open items; never destroyed


def new_pad() -> bytes:
    """A fresh 256-bit subject pad."""
    return os.urandom(KEY_BYTES)


def pad_aad(kind: str, subject_id: int, epoch: str) -> str:
    """Binding of a pad wrapped under an epoch key."""
    return f"retention:{kind}:{subject_id}:epoch:{epoch}"


def wrap_pad(epoch_key: bytes, pad: bytes, kind: str, subject_id: int, epoch: str) -> bytes:
    """Encrypt a subject pad under R[epoch], bound to the subject and the epoch."""
    return encrypt_field(epoch_key, pad, pad_aad(kind, subject_id, epoch))


def unwrap_pad(epoch_key: bytes, wrapped: bytes, kind: str, subject_id: int, epoch: str) -> bytes:
    """Open a pad wrapped by `wrap_pad`; DecryptionError when key or binding differ."""
    return decrypt_field(epoch_key, wrapped, pad_aad(kind, subject_id, epoch))


def apply_pad(key: bytes, pad: bytes, binding: str) -> bytes:
    """K XOR HKDF(pad, binding): wrapped key → content key, and (same call) back again."""
    if len(key) != KEY_BYTES:
        raise ValueError("apply_pad needs a 256-bit key")
    mask = hkdf(pad, "caseapp:retention-pad|" + binding)
    return bytes(a ^ b for a, b in zip(key, mask, strict=True))


def pad_subkey(pad: bytes, binding: str) -> bytes:
    """A key derived from the pad alone (the inner layer of a reward claim)."""
    return hkdf(pad, "caseapp:retention-subkey|" + binding)


class RetentionKeys:
    """R[epoch] keys in one JSON file (0600); create and destroy run under a file lock.

    Several processes share the file: a key missing from memory is re-read from disk
    before it is created, so two processes never create different keys for one epoch.
    """

    def __init__(self, keys_dir: Path) -> None:
        self.dir = keys_dir
        self.path = keys_dir / RETENTION_FILE
        self._keys: dict[str, bytes] = {}
        self._loaded = False

    # -- file --------------------------------------------------------------------------
    def _read(self) -> dict[str, bytes]:
        try:
            raw = json.loads(self.path.read_text())
            return {k: base64.b64decode(v) for k, v in raw["epochs"].items()}
        except FileNotFoundError:
            return {}
        except (KeyError, ValueError, TypeError) as exc:
            raise KeyStoreError(f"retention key file {self.path} is damaged") from exc

    def _write(self, keys: dict[str, bytes]) -> None:
        write_private_json(self.path, {"version": 1, "epochs": {
            k: base64.b64encode(v).decode() for k, v in sorted(keys.items())}})

    @contextmanager
    def _locked(self) -> Iterator[dict[str, bytes]]:
        """Hold the file lock; yields the keys on disk (written back by the caller)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.dir / _LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield self._read()
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def reload(self) -> None:
        """Forget what is in memory and read the file again."""
        self._keys = self._read()
        self._loaded = True

    # -- use ---------------------------------------------------------------------------
    def get(self, epoch: str, create: bool = False) -> bytes | None:
        """R[epoch]; re-reads the file on a miss, and creates the key when `create`."""
        if not self._loaded or epoch not in self._keys:
            self.reload()
        if epoch not in self._keys and create:
            with self._locked() as on_disk:
                if epoch not in on_disk:
                    on_disk[epoch] = os.urandom(KEY_BYTES)
                    self._write(on_disk)
                self._keys = on_disk
        return self._keys.get(epoch)

    def epochs(self) -> list[str]:
        """Every epoch whose key exists (as on disk now)."""
        self.reload()
        return sorted(self._keys)

    def destroy(self, epoch: str) -> bool:
        """Crypto-shred R[epoch] (never "active"); True when a key was removed."""
        if epoch == ACTIVE_EPOCH:
            raise KeyStoreError("the active retention key is never destroyed")
        with self._locked() as on_disk:
            found = on_disk.pop(epoch, None) is not None
            if found:
                self._write(on_disk)
            self._keys = on_disk
            self._loaded = True
        return found
