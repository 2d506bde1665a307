"""Database access every service shares: the async engine, sessions and Alembic migrations.

SQLite (the embedded default) and PostgreSQL (production) behave the same to callers. On
SQLite, write transactions take the write lock up front (BEGIN IMMEDIATE) so that two
writers queue on the busy timeout instead of failing on a lock upgrade.
"""

from __future__ import annotations

import ctypes
import json
import os
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from operator import itemgetter
from pathlib import Path
from typing import Any

import psycopg
from alembic import command
from alembic.config import Config
from sqlalchemy import JSON, DateTime, MetaData, Table, event, insert, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import registry
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

_BEGIN_OPTION = "relint_sqlite_begin"


def new_registry() -> registry:
    """A registry of one service's tables, so services never share SQLModel's global metadata."""
    return registry(metadata=MetaData(naming_convention=NAMING_CONVENTION))


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _prepare_sqlite_file(url: str) -> None:
    database = make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)


class Database:
    """One service's database: an engine and the sessions that read and write through it."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.sqlite = is_sqlite(url)
        # No ping before each check-out: it cost more CPU than a short read itself (5.8 ms
        # -> 2.9 ms for scoring's one-customer read). A connection the server dropped (a
        # restart) fails its next statement instead; SQLAlchemy then discards every pooled
        # connection made before the failure, and the caller's retry gets a fresh one.
        options: dict[str, Any] = {"pool_pre_ping": False}
        if self.sqlite:
            _prepare_sqlite_file(url)
            options["connect_args"] = {"timeout": 30}
        else:
            options.update(pool_size=pool_size, max_overflow=pool_size)
            # psycopg prepares statements it sees often; PostgreSQL then may settle on a
            # generic plan, which for "IN (<1,000 parameters>)" is a sequential scan that
            # grows with the table. Custom plans keep using the indexes.
            # Sessions in UTC, whatever the server's default: moments come back in the zone
            # the services keep them in (psycopg then gives `datetime.UTC` itself, and
            # converting is free; from a zone such as "Etc/UTC" it cost 0.7 us a moment), and
            # date arithmetic in SQL does not depend on how the server was installed.
            options["connect_args"] = {
                "options": "-c plan_cache_mode=force_custom_plan -c TimeZone=UTC"
            }
        self.engine: AsyncEngine = create_async_engine(url, **options)
        if self.sqlite:
            _configure_sqlite(self.engine)
        writer_engine = self.engine.execution_options(**{_BEGIN_OPTION: "BEGIN IMMEDIATE"})
        # Plain reads run without a transaction on PostgreSQL: under READ COMMITTED each
        # statement sees the latest commits either way, and BEGIN and ROLLBACK were two of a
        # short read's four round trips (scoring's one-customer read: 2.9 -> 2.2 ms of CPU).
        reader_engine = (
            self.engine
            if self.sqlite
            else self.engine.execution_options(isolation_level="AUTOCOMMIT")
        )
        self._reader = async_sessionmaker(
            reader_engine, class_=AsyncSession, expire_on_commit=False
        )
        self._transaction_reader = async_sessionmaker(
            self.engine, class_=AsyncSession, expire_on_commit=False
        )
        self._writer = async_sessionmaker(
            writer_engine, class_=AsyncSession, expire_on_commit=False
        )

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for queries, each of which sees what was committed before it ran;
        nothing it does is committed."""
        async with self._reader() as session:
            yield session

    @asynccontextmanager
    async def read_transaction(self) -> AsyncIterator[AsyncSession]:
        """A session for queries in one transaction that is rolled back at the end, for
        reads that set transaction-local settings (SET LOCAL) first."""
        async with self._transaction_reader() as session:
            yield session

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session whose work commits as one transaction, or rolls back on any error."""
        async with self._writer() as session, session.begin():
            yield session

    async def ping(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


# SQLite's page cache a connection, in KiB: for writes (see `_configure_sqlite`), and for
# work that passes over many rows once (`sqlite_small_cache`).
SQLITE_CACHE_KIB = 131072
SQLITE_SMALL_CACHE_KIB = 8192


@asynccontextmanager
async def sqlite_small_cache(driver: Any) -> AsyncIterator[None]:
    """Work that reads or writes many rows once on an SQLite (aiosqlite) connection keeps a
    small page cache while it runs: the pages it fills are not needed again, and a full
    cache of them stayed in the process beside what the work built (scoring's placement of
    100,000 customers: 614 MB at its peak, 470 MB with the small cache, as fast). The
    usual cache comes back after it, empty.

    Shrinking the cache frees the pages the connection held (up to SQLITE_CACHE_KIB of
    them), but only to the C allocator, which kept them from the system: the work's own
    large buffers are mapped apart and never reuse them. They are handed back to the system
    first (`give_back_free_memory`)."""
    await driver.execute(f"PRAGMA cache_size=-{SQLITE_SMALL_CACHE_KIB}")
    give_back_free_memory()
    try:
        yield
    finally:
        await driver.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")


def give_back_free_memory() -> None:
    """Returns the C allocator's free memory to the system where it is glibc's
    (`malloc_trim`, a few milliseconds); elsewhere nothing."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _glibc() -> Any:
    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None
    except OSError:  # not glibc (macOS, musl): nothing to call
        return None


_LIBC = _glibc()


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event emit BEGIN itself (the driver's implicit BEGIN would
        # be deferred and could not be made IMMEDIATE).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (
            "PRAGMA journal_mode=WAL",
            "PRAGMA synchronous=NORMAL",
            "PRAGMA foreign_keys=ON",
            "PRAGMA busy_timeout=30000",
            # 128 MiB of page cache instead of 2 MiB: a service's indexes are written at
            # random places, and past the cache every row dirties a page read from disk.
            f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}",
            # Checkpoint the write-ahead log every 20,000 pages instead of 1,000: fewer
            # fsyncs under a load; readers still see every commit.
            "PRAGMA wal_autocheckpoint=20000",
        ):
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql(connection.get_execution_options().get(_BEGIN_OPTION, "BEGIN"))


def alembic_config(migrations_dir: Path, url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def migrate(migrations_dir: Path, url: str, revision: str = "head") -> None:
    """Brings the database at `url` to `revision`; safe to run again and from several places."""
    if is_sqlite(url):
        _prepare_sqlite_file(url)
    command.upgrade(alembic_config(migrations_dir, url), revision)


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back zone-aware, on SQLite as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime; pass a zone-aware one")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    """A random (version 4) UUID as text, the services' row ids."""
    return str(uuid.uuid4())


def new_ids(count: int) -> list[str]:
    """`count` random (version 4) UUIDs as text, as `new_id` gives, from one read of the
    system's random source and without a `uuid.UUID` each: ingest's batch of 1,000 spent 5%
    of its time in uuid4's read per id, and playbook's judgements 10% of storing them in
    `UUID.__init__`."""
    random = bytearray(os.urandom(16 * count))
    ids = []
    for n in range(0, 16 * count, 16):
        random[n + 6] = random[n + 6] & 0x0F | 0x40  # version 4
        random[n + 8] = random[n + 8] & 0x3F | 0x80  # RFC 4122 variant
        h = random[n : n + 16].hex()
        ids.append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
    return ids


def _default(default: Any) -> Any:
    """A column default's value for one row (a callable one is called, as the ORM would)."""
    if getattr(default, "is_callable", False):
        return default.arg(None)
    return default.arg


def table_of(model: type[Any]) -> Table:
    """The SQLAlchemy table of a SQLModel table class."""
    table: Table = model.__table__  # type: ignore[attr-defined]
    return table


# Below this many rows COPY's extra round trips cost more than one INSERT.
COPY_FROM_ROWS = 50


async def bulk_insert(session: AsyncSession, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Inserts many rows in the session's transaction. On PostgreSQL through the driver: with
    `COPY` for many rows (an order of magnitude faster than INSERT), with one INSERT of
    arrays for a few (COPY's extra round trips cost more there); with SQLAlchemy's
    executemany elsewhere. Every row must have the same keys, each a column of
    the table."""
    if not rows:
        return
    async with driver_of(session) as (postgres, driver):
        if postgres:
            await _pg_bulk_insert(driver, table, rows)
            return
    await session.execute(insert(table), list(rows))


async def _pg_bulk_insert(driver: Any, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    given = list(rows[0])
    # Neither COPY nor a driver INSERT applies the column defaults the ORM would: add them.
    defaulted = [c for c in table.columns if c.name not in given and c.default is not None]
    defaults = [column.default for column in defaulted]
    names = given + [column.name for column in defaulted]
    as_json = [i for i, name in enumerate(names) if isinstance(table.c[name].type, JSON)]
    # A row's values by one C call (a comprehension over the names was ~6% of a batch's time).
    pick = itemgetter(*given) if len(given) > 1 else (lambda row: (row[given[0]],))
    values = []
    for given_row in rows:
        row = [*pick(given_row), *(_default(d) for d in defaults)]
        for at in as_json:
            if row[at] is not None:
                row[at] = json.dumps(row[at])
        values.append(row)
    # The driver's errors come out of `driver_of` as SQLAlchemy's (IntegrityError, ...), so
    # callers handle COPY and INSERT failures alike.
    if len(rows) < COPY_FROM_ROWS:
        arrays = [pg_array(column) for column in zip(*values, strict=True)]
        async with driver.cursor() as cursor:
            await cursor.execute(_unnest_insert(table, names), arrays)
        return
    statement = f"COPY {table.name} ({', '.join(names)}) FROM STDIN"
    async with driver.cursor() as cursor, cursor.copy(statement) as copy:
        for row_values in values:
            await copy.write_row(row_values)


# By table (the object: two services may name tables alike) and columns.
_UNNEST_INSERTS: dict[tuple[Table, tuple[str, ...]], str] = {}


def _unnest_insert(table: Table, names: Sequence[str]) -> str:
    """`INSERT ... SELECT FROM unnest(<one array a column>)`: one statement whatever the
    number of rows, each column's values one array literal (`pg_array`). psycopg's
    executemany sends and dumps a statement a row: a group commit of 32 interactions took
    3.8 ms of CPU in all with it, 2.6 ms with this."""
    key = (table, tuple(names))
    statement = _UNNEST_INSERTS.get(key)
    if statement is None:
        dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
        arrays = ", ".join(f"%s::{table.c[name].type.compile(dialect=dialect)}[]" for name in names)
        columns = ", ".join(names)
        statement = f"INSERT INTO {table.name} ({columns}) SELECT * FROM unnest({arrays})"  # noqa: S608
        _UNNEST_INSERTS[key] = statement
    return statement


_DRIVER_KEY = "relint.driver"


@asynccontextmanager
async def driver_of(session: AsyncSession) -> AsyncIterator[tuple[bool, Any]]:
    """(whether it is PostgreSQL, the driver's own connection: psycopg's or aiosqlite's) of
    the session's transaction, for hot paths where SQLAlchemy's per-row parameter and result
    processing cost more than the database work; the driver's errors come out as
    SQLAlchemy's, as from any other query."""
    # A session's transaction keeps one connection to its end: asked for once a transaction
    # (each ask crosses into SQLAlchemy's greenlet, ~25 us; a group commit asked six times).
    transaction = session.sync_session.get_transaction()
    kept = session.info.get(_DRIVER_KEY)
    if transaction is not None and kept is not None and kept[0] is transaction:
        _, postgres, driver = kept
    else:
        connection = await session.connection()
        raw = await connection.get_raw_connection()
        postgres, driver = connection.dialect.name == "postgresql", raw.driver_connection
        session.info[_DRIVER_KEY] = (session.sync_session.get_transaction(), postgres, driver)
    try:
        yield postgres, driver
    except (psycopg.Error, sqlite3.Error) as error:
        raise DBAPIError.instance("driver statement", None, error, type(error)) from error


def sqlite_moment(moment: datetime) -> str:
    """A moment as SQLite keeps it, the way SQLAlchemy's DateTime writes it (UTC, no zone,
    microseconds): rows written through the driver and through SQLAlchemy must compare."""
    return moment.astimezone(UTC).isoformat(" ", "microseconds")[:26]


def sqlite_maybe(moment: datetime | None) -> str | None:
    return None if moment is None else sqlite_moment(moment)


def pg_array(values: Iterable[str | datetime | bool | int | float | None]) -> str:
    """A PostgreSQL array literal of strings, moments, booleans or numbers (NULL for None),
    for a `%s::type[]` parameter. psycopg dumps a list element by element, ~1.6 us a string
    and ~4 us a moment (5.7 ms for a batch's 1,000 customers and moments); one string of
    them costs half."""
    return (
        "{"
        + ",".join(
            "NULL"
            if value is None
            else '"' + _array_text(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
            for value in values
        )
        + "}"
    )


def _array_text(value: str | datetime | bool | int | float) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)  # an int, or a float that reads back exactly


async def pg_fetch(
    driver: Any, sql: str, params: Sequence[Any] | Mapping[str, Any], binary: bool = False
) -> list[tuple[Any, ...]]:
    """The rows of one statement on psycopg's connection (from `driver_of`)."""
    async with driver.cursor(binary=binary) as cursor:
        await cursor.execute(sql, params)
        rows: list[tuple[Any, ...]] = await cursor.fetchall()
        return rows


async def pg_execute(driver: Any, sql: str, params: Sequence[Any]) -> None:
    async with driver.cursor() as cursor:
        await cursor.execute(sql, params)


# Rows named by a list of keys, found one by one through an index on the key (`unnest` of
# the keys, `CROSS JOIN LATERAL` a probe each), whatever the server's statistics: without
# them (a table loaded since its last ANALYZE, or a server without autovacuum) PostgreSQL
# guesses ~180 rows a tenant, and `key = ANY(keys)` read and filtered the whole tenant, or
# the whole table. Each row is then written by its `ctid`.
Scope = tuple[str, Any] | None


def _each_row(table: str, key: str, key_type: str, scope: Scope, tail: str) -> str:
    """The rows' ctids as `found.at` (table and column names come from code, not input)."""
    within = f"{scope[0]} = %s AND " if scope else ""
    return (
        f"unnest(%s::{key_type}[]) WITH ORDINALITY AS w(k, n) CROSS JOIN LATERAL ("  # noqa: S608
        f"SELECT ctid AS at FROM {table} WHERE {within}{key} = w.k{tail}) AS found"
    )


def _each_row_params(keys: Iterable[Any], scope: Scope) -> tuple[Any, ...]:
    return (pg_array(keys), scope[1]) if scope else (pg_array(keys),)


async def pg_lock_each(
    driver: Any, table: str, key: str, keys: Iterable[str], scope: Scope = None
) -> dict[str, str]:
    """Locks the rows of `table` whose `key` (within the `scope` column's value, if any) is
    each of `keys`, one by one in the keys' order, with the lock an UPDATE of no key takes;
    returns each found key's row `ctid`. Writers that lock in one order (the caller sorts)
    cannot deadlock, and an UPDATE by those ctids goes straight to the rows: nobody else
    can move a row this transaction holds (an UPDATE joined on the key let the planner hash
    the whole tenant again)."""
    statement = "SELECT w.k, found.at FROM "
    statement += _each_row(table, key, "varchar", scope, " FOR NO KEY UPDATE")
    rows = await pg_fetch(driver, statement + " ORDER BY w.n", _each_row_params(keys, scope))
    return {str(k): str(at) for k, at in rows}


async def pg_delete_each(
    driver: Any,
    table: str,
    key: str,
    keys: Iterable[str | int],
    scope: Scope = None,
    key_type: str = "varchar",
) -> None:
    """Deletes the rows of `table` whose `key` (within the `scope` column's value, if any)
    is one of `keys`, found one by one and deleted by their ctid."""
    found = _each_row(table, key, key_type, scope, " OFFSET 0")
    statement = f"DELETE FROM {table} USING (SELECT found.at FROM {found}) AS each_row "  # noqa: S608
    statement += f"WHERE {table}.ctid = each_row.at"
    await pg_execute(driver, statement, _each_row_params(keys, scope))


async def pg_executemany(driver: Any, sql: str, rows: Sequence[Any]) -> None:
    async with driver.cursor() as cursor:
        await cursor.executemany(sql, rows)
