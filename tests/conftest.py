"""Fixtures every suite shares: a fresh database per test on SQLite or the real PostgreSQL,
and the real Redis."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import psycopg
import pytest
import redis

from relint.db import Database, migrate

POSTGRES_ADMIN = os.environ.get(
    "RELINT_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("RELINT_TEST_REDIS", "redis://127.0.0.1:6379/15")

# Where a service under test would look for its peers by default is where `make run` serves
# them: with a platform running beside the suite, a test meant to find scoring absent found
# the demo's and got its answers (and an ingest relay could deliver test data to it). Every
# peer a test does not name is at a closed port; the stacks the e2e tests start set their
# own (`Stack.env` drops these and names its ports).
CLOSED = "127.0.0.1:9"
for _name, _value in {
    "GATEWAY_INGEST_TARGET": CLOSED,
    "GATEWAY_SCORING_TARGET": CLOSED,
    "GATEWAY_PLAYBOOK_TARGET": CLOSED,
    "INGEST_SUBSCRIBERS": f"scoring={CLOSED},playbook={CLOSED}",
    "SCORING_INGEST_TARGET": CLOSED,
    "PLAYBOOK_INGEST_TARGET": CLOSED,
    "PLAYBOOK_SCORING_TARGET": CLOSED,
}.items():
    os.environ.setdefault(_name, _value)


class PostgresDatabases:
    """Creates uniquely named databases on the real server and drops them afterwards."""

    def __init__(self) -> None:
        self.created: list[str] = []

    def create(self, label: str) -> str:
        name = f"relint_test_{label}_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        base = POSTGRES_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
        return f"{base}/{name}"

    def drop_all(self) -> None:
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as connection:
            for name in self.created:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.created.clear()


@pytest.fixture
def postgres_databases() -> Iterator[PostgresDatabases]:
    databases = PostgresDatabases()
    try:
        yield databases
    finally:
        databases.drop_all()


@pytest.fixture
def redis_url(worker_id: str) -> Iterator[str]:
    """An emptied Redis database of this pytest-xdist worker's own (gw0 the configured one,
    gw1 the one below it, ...): workers flush and hold leases without meeting each other."""
    base, database = REDIS_URL.rsplit("/", 1)
    index = int(worker_id.removeprefix("gw")) if worker_id.startswith("gw") else 0
    url = f"{base}/{(int(database) - index) % 16}"
    client = redis.Redis.from_url(url)
    client.ping()
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url_factory(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_databases: PostgresDatabases
) -> Callable[[str], str]:
    """Makes empty database URLs on the backend of this parametrization."""
    if request.param == "sqlite":
        return lambda label: f"sqlite+aiosqlite:///{tmp_path / (label + '.db')}"
    return postgres_databases.create


async def migrated(migrations_dir: Path, url: str) -> Database:
    # Alembic's env runs its own event loop, so it runs in a thread here.
    await asyncio.to_thread(migrate, migrations_dir, url)
    return Database(url)


@pytest.fixture
async def database_factory(
    database_url_factory: Callable[[str], str],
) -> AsyncIterator[Callable[[Path, str], Awaitable[Database]]]:
    opened: list[Database] = []

    async def make(migrations_dir: Path, label: str) -> Database:
        db = await migrated(migrations_dir, database_url_factory(label))
        opened.append(db)
        return db

    yield make
    for db in opened:
        await db.dispose()
