"""`make prod-check`: the end-to-end scenario on gunicorn (2 workers), rq, PostgreSQL and Redis.

Run as `python -m tests.e2e.prod_check [--out DIR]`. Uses a fresh database `caseapp_prodcheck`
on TEST_DATABASE_URL's server, a flushed Redis db (PRODCHECK_REDIS_URL, default db 12), a temp
instance folder with real KDF settings and a free port; stops everything it started.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import traceback
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from .prodshape import free_port, production_shape

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS = "redis://127.0.0.1:6379/12"
DATABASE = "caseapp_prodcheck"


def fresh_database(server_url: str, name: str = DATABASE) -> str:
    """Drop and recreate database `name` on the server of `server_url`; return its URL."""
    base = make_url(server_url)
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def fresh_redis(url: str) -> str:
    """Flush the Redis db of `url` (it must be reserved for this check); return the URL."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()
    return url


def main(argv: list[str] | None = None) -> int:
    """Set up, run the scenario, print the result; 0 on success."""
    from .scenario import run_scenario

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=None,
                        help="where screenshots and logs go (default: a temp folder)")
    args = parser.parse_args(argv)
    work = args.out or Path(tempfile.mkdtemp(prefix="caseapp-prodcheck-"))
    work.mkdir(parents=True, exist_ok=True)
    pg = os.environ.get("TEST_DATABASE_URL") or DEFAULT_PG
    redis_url = os.environ.get("PRODCHECK_REDIS_URL") or DEFAULT_REDIS
    try:
        database_url = fresh_database(pg)
        fresh_redis(redis_url)
        with production_shape(database_url=database_url, redis_url=redis_url,
                              instance=work / "instance", port=free_port()) as base_url:
            print(f"production shape up at {base_url} (gunicorn -w 2, rq worker)", flush=True)
            result = run_scenario(base_url, work / "screenshots")
    except Exception:
        traceback.print_exc()
        print(f"prod-check FAILED; screenshots and logs in {work}", file=sys.stderr)
        return 1
    print(f"case {result.case_ref}, payout {result.payout_reference}")
    print(f"statistics before {result.before} after {result.after}")
    print(f"audit log: {len(result.audit_actions)} step actions found")
    print(f"citizen requests: {len(result.citizen_requests)}, all to {base_url}")
    print(f"{len(result.screenshots)} screenshots in {work / 'screenshots'}; "
          f"logs in {work / 'instance' / 'logs'}")
    print(f"prod-check OK in {result.seconds:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
