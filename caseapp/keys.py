"""Access to the installation key store from inside the app."""

from __future__ import annotations

from flask import current_app

from .crypto import KeyStore, write_escrow_file
from .crypto.keystore import ESCROW_FILE


def keystore() -> KeyStore:
    """The installation key store, reloaded when its file changed (e.g. a rotation by CLI)."""
    keys_dir = current_app.config["CASEAPP"].keys_dir
    try:
        stamp = (keys_dir / "installation.json").stat().st_mtime_ns
    except FileNotFoundError:
        stamp = None
    store = current_app.extensions.get("caseapp_keystore")
    if store is None or current_app.extensions.get("caseapp_keystore_stamp") != stamp:
        store = KeyStore.load(keys_dir)
        current_app.extensions["caseapp_keystore"] = store
        current_app.extensions["caseapp_keystore_stamp"] = stamp
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
    current_app.extensions["caseapp_keystore_stamp"] = path.stat().st_mtime_ns
    return store, True

