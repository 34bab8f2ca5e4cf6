"""Migrations: upgrade from empty equals the models; downgrade to base and up again works."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from caseapp import create_app
from caseapp.config import Config
from caseapp.extensions import db
from tests.conftest import IN_CI, PG_URL, WORKER

BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])
MIGRATION_DB = f"caseapp_migrations_test{WORKER}"


@pytest.fixture(params=BACKENDS)
def migration_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each backend, used only by this module."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrations.sqlite3'}"
        return
    admin = create_engine(str(PG_URL), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {MIGRATION_DB} WITH (FORCE)"))
            conn.execute(text(f"CREATE DATABASE {MIGRATION_DB}"))
    except Exception as exc:  # pragma: no cover
        if IN_CI:
            raise
        pytest.skip(f"cannot create a PostgreSQL database: {exc}")
    yield make_url(str(PG_URL)).set(database=MIGRATION_DB).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {MIGRATION_DB} WITH (FORCE)"))
    admin.dispose()


def _app(url: str, tmp_path: Path):
    inst = tmp_path / "inst"
    inst.mkdir(exist_ok=True)
    return create_app(Config(instance_path=inst, database_url=url, secret_key="x", testing=True))


def _diff(app) -> list:
    with app.app_context(), db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(ctx, db.metadata)


def test_upgrade_matches_models_and_round_trips(migration_url: str, tmp_path: Path) -> None:
    app = _app(migration_url, tmp_path)
    with app.app_context():
        upgrade()
        tables = set(inspect(db.engine).get_table_names())
    assert {t.name for t in db.metadata.sorted_tables} <= tables
    assert _diff(app) == []
    with app.app_context():
        downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade()
    assert _diff(app) == []
    with app.app_context():
        db.engine.dispose()


def test_audit_trigger_created_by_migration(tmp_path: Path) -> None:
    if not PG_URL:
        if IN_CI:
            raise RuntimeError("TEST_DATABASE_URL missing in CI")
        pytest.skip("PostgreSQL not configured")
    url = make_url(str(PG_URL)).set(database=MIGRATION_DB).render_as_string(hide_password=False)
    admin = create_engine(str(PG_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {MIGRATION_DB} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {MIGRATION_DB}"))
    try:
        app = _app(url, tmp_path)
        with app.app_context():
            upgrade()
            with db.engine.connect() as conn:
                names = {r[0] for r in conn.execute(text(
                    "select tgname from pg_trigger where tgrelid = 'audit_entries'::regclass "
                    "and not tgisinternal"))}
            db.engine.dispose()
        assert names, "the migration must install the append-only trigger"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {MIGRATION_DB} WITH (FORCE)"))
        admin.dispose()
