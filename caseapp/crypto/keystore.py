"""The installation key store: a file in `instance/keys/`, kept out of database backups.

It holds the blind-index keys, the receipt salt, the Ed25519 signing keys and the escrow
*public* keys, each versioned by a key id so rotation adds a key and retires the old one.
The escrow private key is written once, to a separate file the administrator moves offline.
Retention-epoch keys live in a file of their own (`crypto/retention.py`, `retention.json`).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519

from .errors import KeyStoreError
from .hybrid import PrivateKey, PublicKey, generate_keypair

STORE_FILE = "installation.json"
ESCROW_FILE = "escrow-private-key.txt"
_ESCROW_HEADER = "CASEAPP ESCROW PRIVATE KEY"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode())


@dataclass
class KeyStore:
    """Installation keys, loaded from and saved to one JSON file (mode 0600)."""

    path: Path
    index_keys: dict[str, bytes] = field(default_factory=dict)
    index_current: str = ""
    receipt_salt: bytes = b""
    signing_keys: dict[str, bytes] = field(default_factory=dict)
    signing_public: dict[str, bytes] = field(default_factory=dict)
    signing_current: str = ""
    escrow_public: dict[str, bytes] = field(default_factory=dict)
    escrow_current: str = ""

    # -- persistence -------------------------------------------------------------
    @classmethod
    def load(cls, keys_dir: Path) -> KeyStore:
        """Read the store; raises KeyStoreError when it is missing or damaged."""
        path = keys_dir / STORE_FILE
        try:
            raw = json.loads(path.read_text())
            return cls(
                path=path,
                index_keys={k: _unb64(v) for k, v in raw["index"]["keys"].items()},
                index_current=raw["index"]["current"],
                receipt_salt=_unb64(raw["receipt_salt"]),
                signing_keys={k: _unb64(v) for k, v in raw["signing"]["keys"].items()},
                signing_public={k: _unb64(v) for k, v in raw["signing"]["public"].items()},
                signing_current=raw["signing"]["current"],
                escrow_public={k: _unb64(v) for k, v in raw["escrow"]["public"].items()},
                escrow_current=raw["escrow"]["current"],
            )
        except FileNotFoundError as exc:
            raise KeyStoreError(f"no key store at {path}; run `flask --app caseapp init`") from exc
        except (KeyError, ValueError) as exc:
            raise KeyStoreError(f"key store {path} is damaged") from exc

    def save(self) -> None:
        """Write atomically with owner-only permissions."""
        data = {
            "version": 1,
            "index": {"current": self.index_current,
                      "keys": {k: _b64(v) for k, v in self.index_keys.items()}},
            "receipt_salt": _b64(self.receipt_salt),
            "signing": {"current": self.signing_current,
                        "keys": {k: _b64(v) for k, v in self.signing_keys.items()},
                        "public": {k: _b64(v) for k, v in self.signing_public.items()}},
            "escrow": {"current": self.escrow_current,
                       "public": {k: _b64(v) for k, v in self.escrow_public.items()}},
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(self.path.parent, 0o700)
        write_private_json(self.path, data)

    @classmethod
    def create(cls, keys_dir: Path) -> tuple[KeyStore, PrivateKey]:
        """A new store with fresh keys; returns the escrow private key for offline keeping."""
        store = cls(path=keys_dir / STORE_FILE, receipt_salt=os.urandom(16))
        store.rotate_index_key()
        store.rotate_signing_key()
        escrow = store.rotate_escrow_key()
        store.save()
        return store, escrow

    # -- rotation ----------------------------------------------------------------
    @staticmethod
    def _new_id(prefix: str, existing: dict[str, bytes]) -> str:
        return f"{prefix}{len(existing) + 1}-{secrets.token_hex(3)}"

    def rotate_index_key(self) -> str:
        """Add a blind-index key and make it current; old ones stay for look-ups."""
        kid = self._new_id("i", self.index_keys)
        self.index_keys[kid] = os.urandom(32)
        self.index_current = kid
        return kid

    def rotate_signing_key(self) -> str:
        """Add an Ed25519 signing key; old public keys still verify old proofs."""
        kid = self._new_id("s", self.signing_keys)
        key = ed25519.Ed25519PrivateKey.generate()
        self.signing_keys[kid] = key.private_bytes_raw()
        self.signing_public[kid] = key.public_key().public_bytes_raw()
        self.signing_current = kid
        return kid

    def rotate_escrow_key(self) -> PrivateKey:
        """Add an escrow key pair; only its public half is stored. Returns the private half."""
        kid = self._new_id("e", self.escrow_public)
        private = generate_keypair()
        self.escrow_public[kid] = private.public_key().raw
        self.escrow_current = kid
        return private

    def retire_signing_private(self, kid: str) -> None:
        """Forget an old signing private key, keeping its public half for verification."""
        if kid != self.signing_current:
            self.signing_keys.pop(kid, None)

    # -- use ---------------------------------------------------------------------
    @property
    def index_key(self) -> bytes:
        """The current blind-index key."""
        return self.index_keys[self.index_current]

    @property
    def escrow_key(self) -> PublicKey:
        """The current escrow public key."""
        return PublicKey(self.escrow_public[self.escrow_current])

    def sign(self, data: bytes) -> tuple[str, bytes]:
        """Sign with the current Ed25519 key; returns (key id, signature)."""
        key = ed25519.Ed25519PrivateKey.from_private_bytes(self.signing_keys[self.signing_current])
        return self.signing_current, key.sign(data)

    def verify(self, kid: str, data: bytes, signature: bytes) -> bool:
        """True when `signature` is a valid signature of `data` by key `kid`."""
        public = self.signing_public.get(kid)
        if public is None:
            return False
        try:
            ed25519.Ed25519PublicKey.from_public_bytes(public).verify(signature, data)
        except (InvalidSignature, ValueError):
            return False
        return True


def write_private_json(path: Path, data: dict[str, object]) -> None:
    """Replace `path` atomically with `data` as JSON, owner-only, fsync'd (file and folder)."""
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=1)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def write_escrow_file(path: Path, kid: str, private: PrivateKey) -> None:
    """Write the escrow private key once, owner-readable only; refuse to overwrite."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(f"-----BEGIN {_ESCROW_HEADER}-----\n")
        fh.write(f"key-id: {kid}\n")
        fh.write(_b64(private.to_bytes()) + "\n")
        fh.write(f"-----END {_ESCROW_HEADER}-----\n")


def read_escrow_file(path: Path) -> tuple[str, PrivateKey]:
    """Read an escrow private key file made by `write_escrow_file`."""
    try:
        lines = [ln.strip() for ln in path.read_text().splitlines() if ln.strip()]
        kid = lines[1].split(":", 1)[1].strip()
        return kid, PrivateKey(_unb64(lines[2]))
    except (OSError, IndexError, ValueError) as exc:
        raise KeyStoreError(f"{path} is not an escrow private key file") from exc
