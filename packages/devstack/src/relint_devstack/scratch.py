"""Throw-away PostgreSQL databases for benchmarks: created on the local server, dropped after."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import psycopg

POSTGRES_ADMIN = os.environ.get(
    "RELINT_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@contextmanager
def scratch_databases(prefix: str, labels: tuple[str, ...]) -> Iterator[dict[str, str]]:
    """One new database per label; yields their SQLAlchemy URLs by label."""
    names = {label: f"{prefix}_{label}_{uuid.uuid4().hex[:8]}" for label in labels}
    base = POSTGRES_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        for name in names.values():
            admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield {label: f"{base}/{name}" for label, name in names.items()}
    finally:
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
            for name in names.values():
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# autovacuum's default rule for analyzing a table: 50 rows changed plus a tenth of its size.
_STALE_TABLES = """
SELECT s.relname FROM pg_stat_user_tables AS s JOIN pg_class AS c ON c.oid = s.relid
WHERE s.n_mod_since_analyze > 50 + 0.1 * greatest(c.reltuples, 0)
"""


@contextmanager
def autoanalyze(urls: Iterable[str], every_seconds: float = 5.0) -> Iterator[None]:
    """Keeps the databases' planner statistics fresh the way autovacuum does in production,
    for benchmarks on a server that runs with autovacuum off (as the CI machines do): a
    table is analyzed once a tenth of it changed, checked every few seconds rather than
    every minute, because a run lasts seconds. Without statistics PostgreSQL can pick an
    index that matches only the tenant and scan all its rows."""
    stop = threading.Event()

    def run() -> None:
        connections = [psycopg.connect(_libpq(url), autocommit=True) for url in urls]
        try:
            while not stop.wait(every_seconds):
                for connection in connections:
                    for (table,) in connection.execute(_STALE_TABLES).fetchall():
                        connection.execute(f'ANALYZE "{table}"')
        finally:
            for connection in connections:
                connection.close()

    worker = threading.Thread(target=run, name="autoanalyze", daemon=True)
    worker.start()
    try:
        yield
    finally:
        stop.set()
        worker.join(30)


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")
