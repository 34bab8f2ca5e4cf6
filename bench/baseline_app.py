"""Baseline of the submission benchmark: one POST route doing a submission's Argon2id and insert.

Served by gunicorn exactly like caseapp (`gunicorn 'bench.baseline_app:create_app()'`), on the
same PostgreSQL (DATABASE_URL). Per request it parses the same form, runs the receipt
derivation's Argon2id with the production parameters (Config.receipt_kdf) and inserts one
row about the size of a stored tip, in its own transaction. Everything else a real
submission does (form token, validation, sealing the tip key three times, blind indexes,
rate limits, the outbox job, the receipt page, the portal session) is left out.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from flask import Flask, request
from sqlalchemy import create_engine, text

from caseapp.config import Config
from caseapp.crypto import new_receipt
from caseapp.crypto.primitives import argon2id

TABLE = "bench_baseline_tips"
ROW_BYTES = 2048  # about a tip row: sealed tipster public key + content envelope
SCHEMA = (f"CREATE TABLE IF NOT EXISTS {TABLE} (id BIGSERIAL PRIMARY KEY, "
          "lookup VARCHAR(128) NOT NULL, category VARCHAR(40), district VARCHAR(12), "
          "content BYTEA NOT NULL, created_at TIMESTAMP NOT NULL DEFAULT now())")


def receipt_kdf() -> tuple[int, int, int]:
    """(time cost, memory KiB, parallelism) of the production receipt derivation."""
    params = Config(instance_path=Path("."), database_url="", secret_key="").receipt_kdf
    return params.time_cost, params.memory_kib, params.parallelism


def create_app() -> Flask:
    """The baseline app (DATABASE_URL must name the benchmark's PostgreSQL database)."""
    app = Flask(__name__)
    engine = create_engine(os.environ["DATABASE_URL"], pool_pre_ping=True)
    salt = secrets.token_bytes(16)
    cost, memory, lanes = receipt_kdf()

    @app.post("/submit")
    def submit() -> tuple[str, int]:
        form = request.form
        master = argon2id(new_receipt().encode(), salt, cost, memory, lanes, length=64)
        with engine.begin() as conn:
            row_id = conn.execute(
                text(f"INSERT INTO {TABLE} (lookup, category, district, content) "  # noqa: S608
                     "VALUES (:lookup, :category, :district, :content) RETURNING id"),
                {"lookup": master.hex(), "category": form.get("category", ""),
                 "district": form.get("district", ""),
                 "content": os.urandom(ROW_BYTES)}).scalar_one()
        return f'<p class="receipt">{row_id}</p>', 200

    return app
