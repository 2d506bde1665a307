"""Throw-away PostgreSQL databases for benchmarks: created on the local server, dropped after."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from relint.db import migrate

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


@contextmanager
def scratch_store(
    prefix: str, label: str, migrations: Path, postgres: bool
) -> Iterator[tuple[str, str]]:
    """One service's throw-away store, migrated: a scratch PostgreSQL database or an SQLite
    file in a temporary directory. Yields its URL and the store's name for a bench's output
    ("PostgreSQL" or "SQLite")."""
    if postgres:
        with scratch_databases(prefix, (label,)) as urls:
            migrate(migrations, urls[label])
            yield urls[label], "PostgreSQL"
        return
    with tempfile.TemporaryDirectory(prefix=f"{prefix}-") as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / label}.db"
        migrate(migrations, url)
        yield url, "SQLite"
