"""Fixtures: a fresh app and database per test, on SQLite and (when configured) PostgreSQL."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text

from caseapp import create_app
from caseapp.config import Config
from caseapp.crypto import KdfParams

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")  # "gw0", "gw1" … under pytest -n


def _per_worker_pg(url: str | None) -> str | None:
    """Each xdist worker gets its own PostgreSQL database (created on demand)."""
    if not url or not WORKER:
        return url
    from sqlalchemy.engine import make_url

    base = make_url(url)
    name = f"{base.database}_{WORKER}"
    try:
        admin = create_engine(url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            if not conn.execute(text("select 1 from pg_database where datname = :n"),
                                {"n": name}).first():
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
    except Exception:  # noqa: S110 - reported by _check_pg on first use
        pass
    return base.set(database=name).render_as_string(hide_password=False)


def _per_worker_redis(url: str | None) -> str | None:
    """Each xdist worker gets its own Redis database number."""
    if not url or not WORKER:
        return url
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{1 + int(WORKER.removeprefix('gw') or 0)}"))


PG_URL = _per_worker_pg(os.environ.get("TEST_DATABASE_URL"))
REDIS_URL = _per_worker_redis(os.environ.get("TEST_REDIS_URL"))
FAST_KDF = KdfParams(1, 1024, 1)

if IN_CI and not PG_URL:
    raise RuntimeError("CI=true but TEST_DATABASE_URL is not set: PostgreSQL tests must run")
if IN_CI and not REDIS_URL:
    raise RuntimeError("CI=true but TEST_REDIS_URL is not set: Redis tests must run")

BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])
_pg_ready = False


def _check_pg() -> None:
    """Fail (in CI) or skip (locally) when the configured PostgreSQL does not answer."""
    try:
        eng = create_engine(PG_URL or "")
        with eng.connect() as conn:
            conn.execute(text("select 1"))
        eng.dispose()
    except Exception as exc:  # pragma: no cover - depends on the machine
        if IN_CI:
            raise RuntimeError(f"PostgreSQL at {PG_URL} is not reachable: {exc}") from exc
        pytest.skip(f"PostgreSQL not reachable: {exc}")


def _reset_pg_schema(app: Flask) -> None:
    """Once per run: recreate the schema from the models."""
    from caseapp.extensions import db

    global _pg_ready
    if _pg_ready:
        return
    with app.app_context():
        with db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        db.create_all()
    _pg_ready = True


def _truncate_pg(app: Flask) -> None:
    """After each test: empty every table (triggers bypassed, as only a superuser can)."""
    from caseapp.extensions import db

    with app.app_context():
        db.session.remove()
        names = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
        if not names:
            return
        with db.engine.begin() as conn:
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        db.engine.dispose()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Database backend of this test run: "sqlite" or "postgresql"."""
    marker = request.node.get_closest_marker("postgres_only")
    if marker and request.param != "postgresql":
        if IN_CI and not PG_URL:
            raise RuntimeError("postgres_only test without TEST_DATABASE_URL in CI")
        pytest.skip("PostgreSQL-only test")
    if request.param == "postgresql":
        _check_pg()
    return str(request.param)


@pytest.fixture
def config(tmp_path: Path, backend: str) -> Config:
    """A test config with a private instance folder and fast KDFs."""
    inst = tmp_path / "instance"
    inst.mkdir()
    url = PG_URL if backend == "postgresql" else f"sqlite:///{inst / 'test.sqlite3'}"
    return Config(
        instance_path=inst,
        database_url=str(url),
        secret_key="test-secret",
        testing=True,
        password_kdf=FAST_KDF,
        receipt_kdf=FAST_KDF,
        # Tests read the English source strings; tests/test_i18n.py checks the zh_CN default.
        default_locale="en",
    )


@pytest.fixture
def app(config: Config, backend: str) -> Iterator[Flask]:
    """A fresh app with an empty schema and fresh installation keys."""
    from caseapp.extensions import db
    from caseapp.keys import ensure_keystore

    application = create_app(config)
    if backend == "postgresql":
        _reset_pg_schema(application)
    else:
        with application.app_context():
            db.create_all()
    with application.app_context():
        ensure_keystore()
    try:
        yield application
    finally:
        if backend == "postgresql":
            _truncate_pg(application)
        else:
            with application.app_context():
                db.session.remove()
                db.engine.dispose()
        shutil.rmtree(config.instance_path, ignore_errors=True)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client for `app`."""
    return app.test_client()


@pytest.fixture
def redis_url() -> str:
    """The Redis used by job tests; fails in CI, skips locally when absent."""
    if not REDIS_URL:
        pytest.skip("TEST_REDIS_URL not set")
    import redis

    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except Exception as exc:  # pragma: no cover
        if IN_CI:
            raise RuntimeError(f"Redis at {REDIS_URL} is not reachable: {exc}") from exc
        pytest.skip(f"Redis not reachable: {exc}")
    return REDIS_URL


@pytest.fixture(autouse=True)
def _reset_clock() -> Iterator[None]:
    """Every test starts with the real clock."""
    from caseapp import clock

    clock.reset()
    yield
    clock.reset()
