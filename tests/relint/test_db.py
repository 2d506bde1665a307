"""`relint.db`: `bulk_insert` uses COPY on PostgreSQL for large batches, one INSERT of arrays
for a few, and SQLAlchemy's executemany on SQLite — the same rows read back either way, and
nothing of a failed batch is kept; and the pool recovers from connections the server
dropped."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    MetaData,
    String,
    Table,
    select,
    text,
)
from sqlalchemy.exc import DBAPIError, IntegrityError

import relint.db as relint_db
from relint.db import (
    COPY_FROM_ROWS,
    SQLITE_CACHE_KIB,
    SQLITE_SMALL_CACHE_KIB,
    Database,
    bulk_insert,
    driver_of,
    give_back_free_memory,
    new_id,
    new_ids,
    pg_array,
    sqlite_small_cache,
)
from tests.conftest import POSTGRES_ADMIN, PostgresDatabases

metadata = MetaData()
things = Table(
    "thing",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("amount", BigInteger),
    Column("score", Float),
    Column("flag", Boolean),
    Column("note", String),
    Column("attributes", JSON),
    Column("label", String, nullable=False, default="none"),
    Column("token", String, nullable=False, default=lambda: "made"),
)
# Rows of it that give one column: the rest are defaults or empty.
labels = Table(
    "label",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("note", String),
    Column("label", String, nullable=False, default="none"),
    Column("token", String, nullable=False, default=lambda: "made"),
)


def rows(count: int) -> list[dict[str, Any]]:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    return [
        {
            "id": f"t{n:04d}",
            "at": start + timedelta(minutes=n),
            "amount": n * 1_000_000 if n % 3 else None,
            "score": n / 7 if n % 2 else None,
            "flag": None if n % 3 == 2 else n % 2 == 0,
            "note": "tab\there, newline\nthere, back\\slash, 'quote' ünïcode" if n % 5 else None,
            "attributes": {"n": n, "nested": {"list": [1, "two", None]}} if n % 4 else None,
        }
        for n in range(count)
    ]


@pytest.fixture
async def tables_db(database_url_factory: Callable[[str], str]) -> AsyncIterator[Database]:
    """A database of this parametrization with this module's tables."""
    db = Database(database_url_factory("bulk"))
    try:
        async with db.engine.begin() as connection:
            await connection.run_sync(metadata.create_all)
        yield db
    finally:
        await db.dispose()


@pytest.mark.parametrize("count", [3, COPY_FROM_ROWS, 1_500])
async def test_bulk_insert_reads_back_the_same_rows(tables_db: Database, count: int) -> None:
    db = tables_db
    wanted = rows(count)
    async with db.transaction() as session:
        await bulk_insert(session, things, wanted)
    async with db.read() as session:
        stored = [
            dict(r._mapping) for r in await session.execute(select(things).order_by(things.c.id))
        ]
    # Defaults of columns the rows leave out apply, as with INSERT.
    assert [{**r, "at": r["at"].astimezone(UTC)} for r in stored] == [
        {**w, "label": "none", "token": "made"} for w in wanted
    ]
    # A batch that breaks a constraint leaves nothing of itself behind.
    with pytest.raises(IntegrityError):
        async with db.transaction() as session:
            await bulk_insert(
                session, things, [{**r, "id": f"x{r['id']}"} for r in wanted] + wanted[:1]
            )
    async with db.read() as session:
        assert len((await session.execute(select(things.c.id))).all()) == count


@pytest.mark.parametrize("count", [3, COPY_FROM_ROWS])
async def test_bulk_insert_of_rows_that_give_one_column_fills_the_rest_with_defaults(
    tables_db: Database, count: int
) -> None:
    async with tables_db.transaction() as session:
        await bulk_insert(session, labels, [{"id": f"o{n:03d}"} for n in range(count)])
    async with tables_db.read() as session:
        columns = (labels.c.id, labels.c.note, labels.c.label, labels.c.token)
        stored = (await session.execute(select(*columns).order_by(labels.c.id))).all()
    assert [tuple(r) for r in stored] == [(f"o{n:03d}", None, "none", "made") for n in range(count)]


async def test_connections_the_server_dropped_fail_once_then_the_pool_is_fresh(
    postgres_databases: PostgresDatabases,
) -> None:
    """No ping before each check-out: after the server drops the pool's connections (a
    restart), the next statement fails as a lost connection, SQLAlchemy discards every
    pooled connection, and the one after succeeds on a new one."""
    url = postgres_databases.create("dropped")
    db = Database(url)
    try:
        # Three connections in the pool, all made before the drop.
        async with db.read() as a, db.read() as b, db.read() as c:
            for session in (a, b, c):
                assert await session.scalar(text("SELECT 1")) == 1
        name = url.rsplit("/", 1)[1]
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
            dropped = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                [name],
            ).fetchone()
        assert dropped == (3,)
        with pytest.raises(DBAPIError) as lost:
            async with db.read() as session:
                await session.scalar(text("SELECT 1"))
        assert lost.value.connection_invalidated
        # Every later read works, none of them on a connection made before the drop.
        for _ in range(3):
            async with db.read() as session:
                assert await session.scalar(text("SELECT 1")) == 1
    finally:
        await db.dispose()


def test_an_array_literal_reads_back_as_the_list_it_was_made_of() -> None:
    """`pg_array` for a `%s::type[]` parameter: every string (quotes, backslashes, commas,
    braces, spaces, the word NULL, the empty one), every moment (any zone), and numbers and
    booleans (floats to the last bit) come back."""
    strings = ["plain", 'a"b', "back\\slash", "e,f", "{x}", " spaced ", "", "NULL", "ünï", None]
    moments = [
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2026, 3, 1, 12, 30, 5, 123456, tzinfo=timezone(timedelta(hours=-5))),
        None,
    ]
    numbers = [0, -7, 2**62, None]
    floats = [0.1, -2.5e-300, 1 / 3, 1e300, None]
    flags = [True, False, None]
    with psycopg.connect(POSTGRES_ADMIN) as connection:
        row = connection.execute(
            "SELECT %s::varchar[], %s::timestamptz[], %s::text[], %s::bigint[], "
            "%s::float8[], %s::boolean[]",
            (
                pg_array(strings),
                pg_array(moments),
                pg_array([]),
                pg_array(numbers),
                pg_array(floats),
                pg_array(flags),
            ),
        ).fetchone()
    assert row == (strings, moments, [], numbers, floats, flags)


async def test_sessions_read_moments_in_utc_whatever_the_servers_zone(
    postgres_databases: PostgresDatabases,
) -> None:
    """A database whose default zone is not UTC: the services' sessions are in UTC anyway, so
    moments come back in UTC (`datetime.UTC` itself, which converting to UTC returns as it
    is) and SQL's date arithmetic does not depend on how the server was set up."""
    url = postgres_databases.create("zone")
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        admin.execute(f"ALTER DATABASE \"{name}\" SET timezone = 'Pacific/Auckland'")
    db = Database(url)
    try:
        async with db.read() as session:
            zone = await session.scalar(text("SHOW TimeZone"))
            moment = await session.scalar(text("SELECT TIMESTAMPTZ '2026-06-30 23:30:00+00'"))
            day = await session.scalar(text("SELECT TIMESTAMPTZ '2026-06-30 23:30:00+00'::date"))
        assert zone == "UTC"
        assert moment == datetime(2026, 6, 30, 23, 30, tzinfo=UTC)
        assert moment.tzinfo is UTC
        assert str(day) == "2026-06-30"  # Auckland's date would be 2026-07-01
    finally:
        await db.dispose()


def test_new_ids_are_random_version_4_uuids_as_new_id_makes_them() -> None:
    ids = new_ids(2_000)
    assert len(set(ids)) == 2_000
    for made in [*ids, new_id()]:
        parsed = uuid.UUID(made)
        assert str(parsed) == made
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
    assert new_ids(0) == []


async def test_a_transactions_driver_connection_is_its_own_to_the_end_and_not_the_next_ones(
    database_url_factory: Callable[[str], str],
) -> None:
    """`driver_of` asks SQLAlchemy for the connection once a transaction; a session's next
    transaction gets the connection that transaction holds, not a kept one."""
    db = Database(database_url_factory("driver"))
    try:
        async with db.transaction() as session:
            async with driver_of(session) as (_, first):
                pass
            async with driver_of(session) as (_, again):
                pass
            held = (await (await session.connection()).get_raw_connection()).driver_connection
            assert first is again is held
        async with db.read() as session, db.read() as other:
            async with driver_of(session) as (_, mine):
                pass
            await session.commit()  # its connection goes back to the pool ...
            await other.execute(text("SELECT 1"))  # ... and another session takes it
            async with driver_of(session) as (_, after):
                held = (await (await session.connection()).get_raw_connection()).driver_connection
                assert after is held
                assert after is not mine
    finally:
        await db.dispose()


async def test_work_over_many_rows_keeps_a_small_sqlite_page_cache_and_gives_the_usual_back(
    tmp_path: Path,
) -> None:
    """`sqlite_small_cache`: the connection's page cache is small inside the block, the usual
    one after it, and after a block that failed too."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'cache.db'}")

    async def cache_size(driver: Any) -> int:
        async with driver.execute("PRAGMA cache_size") as cursor:
            return int((await cursor.fetchone())[0])

    try:
        async with db.read() as session, driver_of(session) as (_, driver):
            assert await cache_size(driver) == -SQLITE_CACHE_KIB
            async with sqlite_small_cache(driver):
                assert await cache_size(driver) == -SQLITE_SMALL_CACHE_KIB
            assert await cache_size(driver) == -SQLITE_CACHE_KIB
            with pytest.raises(RuntimeError, match="failed"):
                async with sqlite_small_cache(driver):
                    raise RuntimeError("the work failed")
            assert await cache_size(driver) == -SQLITE_CACHE_KIB
    finally:
        await db.dispose()


def _resident_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


linux_only = pytest.mark.skipif(
    not Path("/proc/self/status").exists(), reason="reads resident memory from /proc"
)


@linux_only
async def test_entering_a_small_cache_lets_the_pages_of_the_usual_one_go(tmp_path: Path) -> None:
    """A connection that read 96 MB holds them in its page cache (128 MB at most); inside
    `sqlite_small_cache` the process no longer does. The margins leave room for free memory
    a long-lived test worker holds that the read reuses (about 10 MB seen in CI, where a
    48 MB read grew the worker by only 38 MB)."""
    path = tmp_path / "pages.db"
    with sqlite3.connect(path, isolation_level=None) as writer:
        writer.execute("CREATE TABLE page (b BLOB)")
        writer.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 24000) "
            "INSERT INTO page SELECT randomblob(4000) FROM n"
        )
    db = Database(f"sqlite+aiosqlite:///{path}")
    try:
        async with db.read() as session, driver_of(session) as (_, driver):
            # Free memory the process held before (a long-lived test worker's) would be
            # refilled by the read instead of growing it.
            give_back_free_memory()
            before = _resident_mb()
            async with driver.execute("SELECT count(*) FROM page WHERE b LIKE 'x%'") as cursor:
                await cursor.fetchone()
            cached = _resident_mb()
            assert cached > before + 60
            async with sqlite_small_cache(driver):
                assert _resident_mb() < cached - 50
    finally:
        await db.dispose()


@linux_only
@pytest.mark.skipif(relint_db._LIBC is None, reason="malloc_trim is glibc's")
def test_free_memory_held_between_live_blocks_goes_back_to_the_system() -> None:
    """Freed blocks between blocks still in use stay with the C allocator (it gives back
    only the free end of its heaps); `give_back_free_memory` returns them."""
    blocks = [bytearray(4000) for _ in range(20_000)]  # 80 MB, each its own malloc
    for block in blocks:
        block[::512] = b"x" * len(block[::512])  # touched: resident
    kept = blocks[::25]
    del blocks
    held = _resident_mb()
    give_back_free_memory()
    assert _resident_mb() < held - 50
    assert len(kept) == 800
