"""Access to the installation key store from inside the app."""

from __future__ import annotations

from flask import current_app

from .crypto import KeyStore, write_escrow_file
from .crypto.keystore import ESCROW_FILE


def keystore() -> KeyStore:
    """The installation key store, loaded once per app."""
    store = current_app.extensions.get("caseapp_keystore")
    if store is None:
        store = KeyStore.load(current_app.config["CASEAPP"].keys_dir)
        current_app.extensions["caseapp_keystore"] = store
    return store


def ensure_keystore() -> tuple[KeyStore, bool]:
    """Create the key store and escrow file on first run; returns (store, created)."""
    cfg = current_app.config["CASEAPP"]
    path = cfg.keys_dir / "installation.json"
    if path.exists():
        return keystore(), False
    store, escrow = KeyStore.create(cfg.keys_dir)
    write_escrow_file(cfg.instance_path / ESCROW_FILE, store.escrow_current, escrow)
    current_app.extensions["caseapp_keystore"] = store
    return store, True

