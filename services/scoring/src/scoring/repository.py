"""Every SQL query of the scoring service, and nothing else."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import AsyncIterator, Collection, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, TypeVar

import numpy as np
from sqlalchemy import (
    Integer,
    and_,
    bindparam,
    case,
    delete,
    exists,
    func,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from relint.as_of import alerts_listed
from relint.db import (
    UtcDateTime,
    bulk_insert,
    driver_of,
    new_id,
    pg_array,
    pg_execute,
    pg_executemany,
    pg_fetch,
    sqlite_maybe,
    sqlite_moment,
    sqlite_small_cache,
    table_of,
)
from scoring.models import (
    Alert,
    AppliedInteraction,
    HistoryArrival,
    Relationship,
    RetentionModel,
    StateChange,
    TenantSettings,
)

# The columns of an applied interaction, in the order `add_applied` takes them.
APPLIED_COLUMNS = (
    "interaction_id",
    "tenant_id",
    "customer_id",
    "occurred_at",
    "channel",
    "kind",
    "direction",
    "sentiment",
    "revenue",
    "refund",
    "cost",
    "outcome",
    "employee",
    "issue_type",
    "text",
    "contribution",
    "reason",
    "applied_at",
)
# Their PostgreSQL types, for a binary COPY.
_PG_APPLIED_TYPES = [
    "timestamptz"
    if name in ("occurred_at", "applied_at")
    else "float8"
    if name in ("sentiment", "revenue", "refund", "cost", "contribution")
    else "varchar"
    for name in APPLIED_COLUMNS
]
_OCCURRED_AT = APPLIED_COLUMNS.index("occurred_at")
_APPLIED_AT = APPLIED_COLUMNS.index("applied_at")  # the last
# EPOCH (scoring.domain) in microseconds since the Unix epoch.
_EPOCH_MICROSECONDS = 1_577_836_800 * 1_000_000
# An applied interaction's moment in whole microseconds since the Unix epoch, computed by
# PostgreSQL (exact: its EXTRACT gives a numeric).
_PG_MICROSECONDS = "(EXTRACT(EPOCH FROM occurred_at) * 1000000)::bigint"
# Adds a batch's effect to an existing relationship (see `add_to_relationships`).
_ADD_TO_RELATIONSHIP = """
UPDATE relationship SET
    good_mass = good_mass + :b_good,
    bad_mass = bad_mass + :b_bad,
    interaction_count = interaction_count + :b_count,
    revenue = revenue + :b_revenue,
    first_interaction_at = CASE
        WHEN first_interaction_at IS NULL THEN :b_first
        WHEN first_interaction_at > :b_first THEN :b_first
        ELSE first_interaction_at END,
    last_contribution = CASE
        WHEN last_interaction_at IS NULL THEN :b_last_value
        WHEN last_interaction_at <= :b_last THEN :b_last_value
        ELSE last_contribution END,
    last_interaction_at = CASE
        WHEN last_interaction_at IS NULL THEN :b_last
        WHEN last_interaction_at < :b_last THEN :b_last
        ELSE last_interaction_at END,
    dirty_since = CASE
        WHEN dirty_since IS NULL THEN :b_dirty
        WHEN dirty_since > :b_dirty THEN :b_dirty
        ELSE dirty_since END,
    dirty_marks = dirty_marks + 1,
    types_since = CASE
        WHEN relationship_type = '' THEN types_since
        WHEN types_since IS NULL THEN :b_retype
        WHEN types_since > :b_retype THEN :b_retype
        ELSE types_since END,
    value = :b_value,
    updated_at = :b_now
WHERE tenant_id = :b_tenant AND customer_id = :b_id
"""
_PG_ADD_TO_RELATIONSHIP = re.sub(r"(?<![:\w]):(\w+)", r"%(\1)s", _ADD_TO_RELATIONSHIP)
_MOMENTS = ("b_first", "b_last", "b_dirty", "b_retype", "b_now")
# SQLite's default limit on one statement's parameters is 32,766.
_SQLITE_IN_CHUNK = 10_000


@dataclass(frozen=True)
class Weighing:
    """Applied interactions as columns, what weighing them again needs: the
    moments in seconds since EPOCH; sentiments NaN where none was given. A row's key names it
    to `update_contributions` in the same transaction: its interaction id on PostgreSQL,
    its rowid on SQLite (no lookup in the primary key's index)."""

    keys: list[Any]
    customer_ids: list[str]
    seconds: np.ndarray
    channels: list[str]
    kinds: list[str]
    outcomes: list[str | None]
    sentiments: np.ndarray
    revenues: np.ndarray
    refunds: np.ndarray
    contributions: np.ndarray
    reasons: list[str]


_Item = TypeVar("_Item")

# How many rows a read of a tenant's history holds at a time.
CHUNK_ROWS = 50_000
# How many rows one statement of many writes (a tenant's first placement may write hundreds
# of thousands: a statement's parameters are built for these alone).
_STATEMENT_ROWS = 10_000


@dataclass(frozen=True)
class ValueMapRows:
    """Applied interactions as the value map reads them (`ValueMapBuilder.add`'s columns):
    moments in microseconds since EPOCH, sentiments None where none was given."""

    customer_ids: list[str]
    moments: np.ndarray
    channels: list[str]
    kinds: list[str]
    revenues: list[float]
    refunds: list[float]
    costs: list[float]
    sentiments: list[float | None]


class Placing(NamedTuple):
    """What placing a customer on the value map reads of its relationship."""

    customer_id: str
    first_interaction_at: datetime | None
    last_interaction_at: datetime | None
    relationship_type: str
    stage: str


@dataclass(frozen=True)
class RelationshipFilter:
    """Which of a tenant's relationships a list shows, in which order; `after` is the
    (order key, customer id) of the last one already shown."""

    types: tuple[str, ...] = ()
    stages: tuple[str, ...] = ()
    min_risk: float | None = None
    customer_ids: tuple[str, ...] | None = None
    order_by: str = "value"
    ascending: bool = False
    after: tuple[float, str] | None = None


class LockedStanding(NamedTuple):
    """Where a relationship stands in the store, its row locked (`locked_stages`)."""

    stage: tuple[str, datetime | None]  # and since when
    risk: float
    risk_alerted: bool  # its stretch at risk has alerted


class ScoringRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # Applied interactions

    async def applied(self, interaction_ids: Iterable[str]) -> dict[str, tuple[str, float, str]]:
        """The customer, contribution and kind of each interaction already applied."""
        wanted = list(set(interaction_ids))
        if not wanted:
            return {}
        query = "SELECT interaction_id, customer_id, contribution, kind FROM applied_interaction "
        async with driver_of(self.session) as (postgres, driver):
            if postgres:
                rows = await pg_fetch(driver, query + "WHERE interaction_id = ANY(%s)", (wanted,))
            else:
                rows = []
                for chunk in _chunks(wanted, _SQLITE_IN_CHUNK):
                    rows += await driver.execute_fetchall(
                        query + f"WHERE interaction_id IN ({_marks(len(chunk))})", chunk
                    )
        return {i: (c, v, k) for i, c, v, k in rows}

    async def move_applied(self, interaction_id: str, customer_id: str) -> None:
        await self.session.execute(
            update(AppliedInteraction)
            .where(col(AppliedInteraction.interaction_id) == interaction_id)
            .values(customer_id=customer_id)
        )

    async def reweigh_applied(
        self, interaction_id: str, kind: str, contribution: float, reason: str
    ) -> None:
        """An applied signal whose state changed (a violation withdrawn, or found again)."""
        await self.session.execute(
            update(AppliedInteraction)
            .where(col(AppliedInteraction.interaction_id) == interaction_id)
            .values(kind=kind, contribution=contribution, reason=reason)
        )

    async def insert_applied(self, rows: Sequence[dict[str, Any]]) -> None:
        await bulk_insert(self.session, table_of(AppliedInteraction), rows)

    async def add_applied(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Inserts applied interactions, each a tuple in `APPLIED_COLUMNS` order, through the
        driver (COPY on PostgreSQL)."""
        if not rows:
            return
        async with driver_of(self.session) as (postgres, driver):
            if postgres:
                async with (
                    driver.cursor() as cursor,
                    cursor.copy(
                        f"COPY applied_interaction ({', '.join(APPLIED_COLUMNS)}) "
                        "FROM STDIN (FORMAT BINARY)"
                    ) as copy,
                ):
                    copy.set_types(_PG_APPLIED_TYPES)
                    for row in rows:
                        await copy.write_row(row)
                return
            applied_at: dict[datetime, str] = {}  # one moment for a whole batch, usually
            for row in rows:
                if row[_APPLIED_AT] not in applied_at:
                    applied_at[row[_APPLIED_AT]] = sqlite_moment(row[_APPLIED_AT])
            await driver.executemany(
                f"INSERT INTO applied_interaction ({', '.join(APPLIED_COLUMNS)}) "  # noqa: S608
                f"VALUES ({_marks(len(APPLIED_COLUMNS))})",
                [
                    (
                        *row[:_OCCURRED_AT],
                        sqlite_moment(row[_OCCURRED_AT]),
                        *row[_OCCURRED_AT + 1 : _APPLIED_AT],
                        applied_at[row[_APPLIED_AT]],
                    )
                    for row in rows
                ],
            )

    async def history(
        self,
        tenant_id: str,
        customer_ids: Sequence[str],
        until: datetime | None = None,
        *,
        judging: bool = False,
    ) -> list[Any]:
        """The customers' applied interactions in time order (up to `until`), as rows with
        the columns of AppliedInteraction by name (read-only; no ORM object per row). With
        `judging`, only the columns judging a customer reads (`JUDGING_COLUMNS`)."""
        if not customer_ids:
            return []
        applied = table_of(AppliedInteraction).c
        columns = [applied[c] for c in JUDGING_COLUMNS] if judging else list(applied)
        connection = await self.session.connection()
        if connection.dialect.name == "postgresql":
            # Customer by customer down the (tenant, customer, occurred_at) index, whatever
            # the statistics: without them `customer_id IN (...)` read the tenant's whole
            # history for every batch the stage worker evaluates (85-160 ms for 200 of
            # 20,000 customers with 400,000 interactions).
            listed = ", ".join(f"found.{c.name}" for c in columns)
            textual = text(_PG_HISTORY.format(columns=listed)).bindparams(
                ids=list(set(customer_ids)), tenant=tenant_id, until=until
            )
            found = await self.session.execute(textual.columns(*columns))
            return list(found.all())
        conditions = [
            col(AppliedInteraction.tenant_id) == tenant_id,
            col(AppliedInteraction.customer_id).in_(list(set(customer_ids))),
        ]
        if until is not None:
            conditions.append(col(AppliedInteraction.occurred_at) <= until)
        query = (
            select(*columns)
            .where(*conditions)
            .order_by(
                col(AppliedInteraction.customer_id),
                col(AppliedInteraction.occurred_at),
                col(AppliedInteraction.interaction_id),
            )
        )
        return list((await self.session.execute(query)).all())

    async def contributions_since(
        self, tenant_id: str, customer_ids: Sequence[str], since: datetime
    ) -> list[Any]:
        """The customers' contributions after `since` (customer_id, interaction_id,
        occurred_at, contribution), for their trend."""
        if not customer_ids:
            return []
        connection = await self.session.connection()
        if connection.dialect.name == "postgresql":
            # Customer by customer, each a range of the (tenant, customer, occurred_at) index,
            # whatever the statistics: without them PostgreSQL walked the tenant's whole
            # index by `occurred_at` (24.6 ms for a page of 100 of 20,000 customers with
            # 400,000 interactions, against 0.75 ms). Every relationship read pays it.
            applied = table_of(AppliedInteraction).c
            textual = text(_PG_CONTRIBUTIONS_SINCE).bindparams(
                ids=list(set(customer_ids)), tenant=tenant_id, since=since
            )
            columns = (applied.customer_id, applied.interaction_id, applied.occurred_at)
            return list(await self.session.execute(textual.columns(*columns, applied.contribution)))
        query = select(
            col(AppliedInteraction.customer_id),
            col(AppliedInteraction.interaction_id),
            col(AppliedInteraction.occurred_at),
            col(AppliedInteraction.contribution),
        ).where(
            col(AppliedInteraction.tenant_id) == tenant_id,
            col(AppliedInteraction.customer_id).in_(list(set(customer_ids))),
            col(AppliedInteraction.occurred_at) > since,
        )
        return list(await self.session.execute(query))

    async def value_map_rows(
        self, tenant_id: str, start: datetime, end: datetime, size: int = CHUNK_ROWS
    ) -> AsyncIterator[ValueMapRows]:
        """Every applied interaction of the tenant with start < occurred_at <= end, in no
        particular order (a sort of the tenant's years of rows would cost the store, or on
        SQLite this process, more than numpy's of their columns), as columns of what the
        value map reads, `size` rows at a time (see `_read_in_chunks`)."""
        query = (
            "SELECT customer_id, {moment}, channel, kind, revenue, refund, cost, sentiment "
            "FROM applied_interaction WHERE tenant_id = {mark} AND occurred_at > {mark} "
            "AND occurred_at <= {mark}"
        )
        async with self.passing_once():
            chunks = self._read_in_chunks(query, (tenant_id, start, end), size, 1)
            async for rows, micros in chunks:
                customers, _, channels, kinds, revenues, refunds, costs, sentiments = (
                    list(c) for c in zip(*rows, strict=True)
                )
                yield ValueMapRows(
                    customers, micros, channels, kinds, revenues, refunds, costs, sentiments
                )

    async def purchase_rows(
        self, tenant_id: str, kinds: Sequence[str], until: datetime, size: int = CHUNK_ROWS
    ) -> AsyncIterator[tuple[list[str], np.ndarray, list[float]]]:
        """Every interaction of the tenant of one of `kinds` up to `until`, in no particular
        order, as columns (customer, moment in microseconds since EPOCH, revenue), `size`
        rows at a time (see `_read_in_chunks`)."""
        query = (
            "SELECT customer_id, {moment}, revenue FROM applied_interaction "
            "WHERE tenant_id = {mark} AND occurred_at <= {mark} AND kind IN (<kinds>)"
        ).replace("<kinds>", ", ".join(["{mark}"] * len(kinds)))  # the kinds are parameters
        async with self.passing_once():
            chunks = self._read_in_chunks(query, (tenant_id, until, *kinds), size, 1)
            async for rows, micros in chunks:
                yield [r[0] for r in rows], micros, [r[2] for r in rows]

    async def weighing(self, tenant_id: str, size: int = CHUNK_ROWS) -> AsyncIterator[Weighing]:
        """Every applied interaction of the tenant as columns, in no particular order, `size`
        rows at a time (see `_read_in_chunks`); the session may write the rows read between
        chunks."""
        query = (
            "SELECT {key}, customer_id, {moment}, channel, kind, outcome, sentiment, "
            "revenue, refund, contribution, reason FROM applied_interaction "
            "WHERE tenant_id = {mark}"
        )
        async for rows, micros in self._read_in_chunks(query, (tenant_id,), size, 2):
            columns: list[Any] = [list(c) for c in zip(*rows, strict=True)]
            keys, customers, _, channels, kinds, outcomes = columns[:6]
            sentiments, revenues, refunds, contributions, reasons = columns[6:]
            yield Weighing(
                keys=keys,
                customer_ids=customers,
                seconds=micros / 1e6,
                channels=channels,
                kinds=kinds,
                outcomes=outcomes,
                sentiments=np.array(sentiments, dtype=float),
                revenues=np.array(revenues, dtype=float),
                refunds=np.array(refunds, dtype=float),
                contributions=np.array(contributions, dtype=float),
                reasons=reasons,
            )

    @asynccontextmanager
    async def passing_once(self) -> AsyncIterator[None]:
        """Around work that reads or writes many rows once (a tenant's years read for a
        placement or a fit, its changes of type stored): on SQLite a small page cache
        meanwhile (`relint.db.sqlite_small_cache`). Not a recompute's: it rewrites the rows
        it reads, and with the small cache rewrote them 20% slower."""
        async with driver_of(self.session) as (postgres, driver):
            if postgres:
                yield
                return
            async with sqlite_small_cache(driver):
                yield

    async def _read_in_chunks(
        self, query: str, params: Sequence[Any], size: int, moment: int
    ) -> AsyncIterator[tuple[list[tuple[Any, ...]], np.ndarray]]:
        """The rows of `query` straight from the driver, `size` at a time, each chunk with its
        column `moment` in microseconds since EPOCH: a tenant's years of history are never
        held as rows at once. `query` names {key} (the row's key for `update_contributions`),
        {moment} and each parameter ({mark}). On PostgreSQL a server-side cursor, which needs
        the session's transaction (`Database.read_transaction` for a read); it reads the
        rows as they stood when it opened."""
        async with driver_of(self.session) as (postgres, driver):
            if postgres:
                sql = query.format(key="interaction_id", moment=_PG_MICROSECONDS, mark="%s")
                # Planned for reading every row, as a plain query is (a cursor's plan
                # otherwise favours its first tenth: an index walk over the tenant's rows).
                await pg_execute(driver, "SET LOCAL cursor_tuple_fraction = 1", ())
                async with driver.cursor(name="chunks", binary=True) as cursor:
                    await cursor.execute(sql, params)
                    while rows := await cursor.fetchmany(size):
                        micros = np.array([r[moment] for r in rows], np.int64)
                        yield rows, micros - _EPOCH_MICROSECONDS
            else:
                sql = query.format(key="rowid", moment="occurred_at", mark="?")
                values = [sqlite_moment(p) if isinstance(p, datetime) else p for p in params]
                async with driver.execute(sql, values) as cursor:
                    while rows := await cursor.fetchmany(size):
                        # 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC (see relint.db.sqlite_moment)
                        text = np.array([r[moment] for r in rows], dtype="datetime64[us]")
                        yield rows, text.astype(np.int64) - _EPOCH_MICROSECONDS

    async def update_contributions(self, rows: Sequence[tuple[Any, float, str]]) -> None:
        """New contributions and reasons for many applied interactions, each (its key in
        `weighing`, contribution, reason): on PostgreSQL copied into a temporary table and
        joined in one UPDATE, in one executemany on SQLite."""
        if not rows:
            return
        async with driver_of(self.session) as (postgres, driver):
            if not postgres:
                await driver.executemany(
                    "UPDATE applied_interaction SET contribution = ?, reason = ? WHERE rowid = ?",
                    [(value, reason, id_) for id_, value, reason in rows],
                )
                return
            async with driver.cursor() as cursor:
                await cursor.execute(
                    "CREATE TEMP TABLE reweighed (id varchar(36), value float8, "
                    "reason varchar(200)) ON COMMIT DROP"
                )
                copying = "COPY reweighed (id, value, reason) FROM STDIN (FORMAT BINARY)"
                async with cursor.copy(copying) as copy:
                    copy.set_types(["varchar", "float8", "varchar"])
                    for row in rows:
                        await copy.write_row(row)
                await cursor.execute(
                    "UPDATE applied_interaction SET contribution = r.value, reason = r.reason "
                    "FROM reweighed r WHERE applied_interaction.interaction_id = r.id"
                )
                await cursor.execute("DROP TABLE reweighed")

    # Relationships

    async def masses(
        self, keys: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], tuple[float, float]]:
        """The value sums of these relationships, for those that exist (straight from the
        driver: this is on the apply path)."""
        by_tenant: dict[str, list[str]] = {}
        for tenant_id, customer_id in set(keys):
            by_tenant.setdefault(tenant_id, []).append(customer_id)
        found: dict[tuple[str, str], tuple[float, float]] = {}
        query = "SELECT customer_id, good_mass, bad_mass FROM relationship WHERE tenant_id = "
        async with driver_of(self.session) as (postgres, driver):
            for tenant_id, customers in by_tenant.items():
                if postgres:
                    # Customer by customer through the primary key (LATERAL; OFFSET 0 keeps
                    # the planner from flattening it into a join), whatever the statistics:
                    # without them (a load before autovacuum analysed the table, or a server
                    # without it) `customer_id = ANY(...)` read the tenant's every
                    # relationship (10 ms for 500 of 50,000).
                    rows = await pg_fetch(
                        driver,
                        "SELECT found.* FROM unnest(%s::varchar[]) AS w(c) CROSS JOIN LATERAL ("  # noqa: S608
                        + query
                        + "%s AND customer_id = w.c OFFSET 0) AS found",
                        (pg_array(customers), tenant_id),
                    )
                else:
                    rows = []
                    for chunk in _chunks(customers, _SQLITE_IN_CHUNK):
                        rows += await driver.execute_fetchall(
                            query + f"? AND customer_id IN ({_marks(len(chunk))})",
                            (tenant_id, *chunk),
                        )
                for customer_id, good, bad in rows:
                    found[(tenant_id, customer_id)] = (good, bad)
        return found

    async def customer_ids(self, tenant_id: str) -> list[str]:
        """The customers the tenant has a relationship with."""
        t = table_of(Relationship)
        query = select(t.c.customer_id).where(t.c.tenant_id == tenant_id)
        return [str(c) for c in (await self.session.execute(query)).scalars()]

    async def customers_after(
        self, tenant_id: str, after: str, limit: int, first_by: datetime | None = None
    ) -> list[str]:
        """A page of the tenant's customers in id order, those after `after` ("": from the
        first); with `first_by`, only those whose first interaction was at or before it."""
        t = table_of(Relationship)
        conditions = [t.c.tenant_id == tenant_id, t.c.customer_id > after]
        if first_by is not None:
            conditions.append(t.c.first_interaction_at <= first_by)
        query = select(t.c.customer_id).where(*conditions).order_by(t.c.customer_id).limit(limit)
        return [str(c) for c in (await self.session.execute(query)).scalars()]

    async def relationships_of(
        self, tenant_id: str, customer_ids: Sequence[str]
    ) -> list[Relationship]:
        if not customer_ids:
            return []
        wanted = list(set(customer_ids))
        connection = await self.session.connection()
        query: Any
        if connection.dialect.name == "postgresql":
            # Customer by customer through the primary key, whatever the statistics (as
            # `masses`): without them `customer_id IN (...)` read the tenant's every
            # relationship, 9.3 ms for a page of 100 among 50,000.
            query = select(Relationship).from_statement(
                text(_PG_RELATIONSHIPS_OF).bindparams(ids=wanted, tenant=tenant_id)
            )
        else:
            query = select(Relationship).where(
                col(Relationship.tenant_id) == tenant_id,
                col(Relationship.customer_id).in_(wanted),
            )
        return list((await self.session.execute(query)).scalars())

    async def tenant_relationships(self, tenant_id: str) -> list[Relationship]:
        query = select(Relationship).where(col(Relationship.tenant_id) == tenant_id)
        return list((await self.session.execute(query)).scalars())

    async def placings(self, tenant_id: str) -> list[Placing]:
        """The tenant's relationships as a placement reads them (a tuple each, not an
        object: a tenant may have hundreds of thousands)."""
        query = select(
            col(Relationship.customer_id),
            col(Relationship.first_interaction_at),
            col(Relationship.last_interaction_at),
            col(Relationship.relationship_type),
            col(Relationship.stage),
        ).where(col(Relationship.tenant_id) == tenant_id)
        return [Placing(*row) for row in await self.session.execute(query)]

    async def insert_relationships(self, rows: Sequence[dict[str, Any]]) -> None:
        await bulk_insert(self.session, table_of(Relationship), rows)

    async def add_to_relationships(self, rows: Sequence[dict[str, Any]]) -> None:
        """Adds each batch's effect to existing relationships in one executemany through the
        driver (pipelined on PostgreSQL), as increments in SQL so that concurrent applies
        cannot lose one another's; rows are taken in key order so they cannot deadlock
        either."""
        if not rows:
            return
        ordered = sorted(rows, key=lambda r: (r["b_tenant"], r["b_id"]))
        async with driver_of(self.session) as (postgres, driver):
            if postgres:
                await pg_executemany(driver, _PG_ADD_TO_RELATIONSHIP, ordered)
                return
            await driver.executemany(
                _ADD_TO_RELATIONSHIP,
                [
                    {k: sqlite_maybe(v) if k in _MOMENTS else v for k, v in r.items()}
                    for r in ordered
                ],
            )

    async def set_masses(self, rows: Sequence[tuple[str, str, float, float, float, float]]) -> None:
        """Sets the value sums of relationships, each (tenant, customer, good mass, bad mass,
        value, last contribution), in key order."""
        if not rows:
            return
        async with driver_of(self.session) as (postgres, driver):
            mark = "%s" if postgres else "?"
            statement = (
                f"UPDATE relationship SET good_mass = {mark}, bad_mass = {mark}, "  # noqa: S608
                f"value = {mark}, last_contribution = {mark} "
                f"WHERE tenant_id = {mark} AND customer_id = {mark}"
            )
            values = [(g, b, v, last, t, c) for t, c, g, b, v, last in sorted(rows)]
            if postgres:
                await pg_executemany(driver, statement, values)
            else:
                await driver.executemany(statement, values)

    async def mark_dirty(
        self, tenant_id: str | None, since: datetime | None = None, *, unjudged: bool = False
    ) -> None:
        """Marks relationships (of the tenant) for evaluation from `since` (from their start
        without it), keeping an earlier mark; with `unjudged`, only those last judged when
        the tenant's data was not current."""
        t = table_of(Relationship)
        start: Any = t.c.first_interaction_at
        if since is not None:
            moment = bindparam("b_since", since, type_=UtcDateTime())
            start = case(
                (t.c.first_interaction_at > moment, t.c.first_interaction_at), else_=moment
            )
        statement = update(t).values(
            dirty_since=case(
                (t.c.dirty_since.is_(None), start),
                (t.c.dirty_since > start, start),
                else_=t.c.dirty_since,
            ),
            dirty_marks=t.c.dirty_marks + 1,
        )
        if tenant_id is not None:
            statement = statement.where(t.c.tenant_id == tenant_id)
        if unjudged:
            statement = statement.where(t.c.judged_current.is_(False))
        await self.session.execute(statement)

    async def dirty(self, limit: int, arriving_after: datetime | None = None) -> list[Relationship]:
        """Up to `limit` relationships marked for evaluation, the longest marked first; with
        `arriving_after`, none of a tenant whose history last arrived after that moment."""
        query = select(Relationship).where(col(Relationship.dirty_since).is_not(None))
        if arriving_after is not None:
            arrival = table_of(HistoryArrival)
            query = query.where(
                ~exists().where(
                    arrival.c.tenant_id == col(Relationship.tenant_id),
                    arrival.c.arrived_at > arriving_after,
                )
            )
        query = query.order_by(col(Relationship.dirty_since)).limit(limit)
        return list((await self.session.execute(query)).scalars())

    async def locked_stages(
        self, tenant_id: str, customer_ids: Collection[str]
    ) -> dict[str, LockedStanding]:
        """Where the relationships stand, by customer, their rows locked for the transaction
        in customer order (PostgreSQL; SQLite's writer holds the whole database anyway)."""
        t = table_of(Relationship)
        found = {}
        for chunk in _chunks(sorted(customer_ids), _SQLITE_IN_CHUNK):
            query = (
                select(t.c.customer_id, t.c.stage, t.c.stage_since, t.c.risk, t.c.risk_alerted)
                .where(t.c.tenant_id == tenant_id, t.c.customer_id.in_(chunk))
                .order_by(t.c.customer_id)
                .with_for_update()
            )
            for customer_id, stage, since, risk, alerted in await self.session.execute(query):
                found[str(customer_id)] = LockedStanding((stage, since), risk, alerted)
        return found

    async def save_stages(
        self,
        tenant_id: str,
        rows: Sequence[tuple[str, dict[str, Any], int | None]],
    ) -> None:
        """Stores evaluated stages, each (customer id, the relationship's new values, the
        `dirty_marks` it was evaluated for); clears the dirty mark only if no other mark
        came meanwhile (the customer is then evaluated again). One executemany for the
        rows that set the same columns."""
        t = table_of(Relationship)
        alike: dict[tuple[str, ...], list[tuple[Any, ...]]] = defaultdict(list)
        for customer_id, changed, _ in rows:
            alike[tuple(changed)].append((customer_id, *changed.values()))
        for names, same in alike.items():
            statement = (
                update(t)
                .where(t.c.tenant_id == bindparam("b_tenant"), t.c.customer_id == bindparam("b_id"))
                .values({name: bindparam(f"v_{name}") for name in names})
            )
            await self._update_each(
                statement, tenant_id, ("b_id", *(f"v_{n}" for n in names)), same
            )
        statement = (
            update(t)
            .where(
                t.c.tenant_id == bindparam("b_tenant"),
                t.c.customer_id == bindparam("b_id"),
                t.c.dirty_marks == bindparam("b_seen"),
            )
            .values(dirty_since=None)
        )
        seen = [(customer_id, marks) for customer_id, _, marks in rows if marks is not None]
        await self._update_each(statement, tenant_id, ("b_id", "b_seen"), seen)

    async def set_types(
        self,
        tenant_id: str,
        rows: Sequence[tuple[str, str, str, datetime | None]],
        now: datetime,
    ) -> None:
        """Stores new types, each (customer id, type, reason, since); each a change `now`
        for the relationship feeds."""
        t = table_of(Relationship)
        statement = (
            update(t)
            .where(t.c.tenant_id == bindparam("b_tenant"), t.c.customer_id == bindparam("b_id"))
            .values(
                relationship_type=bindparam("b_type"),
                type_reason=bindparam("b_reason"),
                type_since=bindparam("b_since"),
                updated_at=now,
                standing_changed_at=now,
            )
        )
        names = ("b_id", "b_type", "b_reason", "b_since")
        await self._update_each(statement, tenant_id, names, rows)

    async def set_potentials(
        self, tenant_id: str, rows: Sequence[tuple[str, float | None, str]]
    ) -> None:
        """Stores each (customer id, potential or None, its reason)."""
        t = table_of(Relationship)
        statement = (
            update(t)
            .where(t.c.tenant_id == bindparam("b_tenant"), t.c.customer_id == bindparam("b_id"))
            .values(potential=bindparam("b_amount"), potential_reason=bindparam("b_reason"))
        )
        await self._update_each(statement, tenant_id, ("b_id", "b_amount", "b_reason"), rows)

    async def _update_each(
        self,
        statement: Any,
        tenant_id: str,
        names: Sequence[str],
        rows: Sequence[tuple[Any, ...]],
    ) -> None:
        """`statement` once for each of the tenant's rows (their values named `names`), in
        customer order (concurrent writers cannot deadlock), _STATEMENT_ROWS to an
        executemany: the parameters are built for those alone."""
        for chunk in _chunks(sorted(rows, key=lambda r: r[0]), _STATEMENT_ROWS):
            await self.session.execute(
                statement,
                [{"b_tenant": tenant_id, **dict(zip(names, row, strict=True))} for row in chunk],
            )

    async def ranked(self, tenant_id: str, by: str, limit: int) -> list[Relationship]:
        """The tenant's relationships with the highest positive `by` (risk, potential)."""
        column = table_of(Relationship).c[by]
        query = (
            select(Relationship)
            .where(col(Relationship.tenant_id) == tenant_id, column > 0)
            .order_by(column.desc(), col(Relationship.customer_id))
            .limit(limit)
        )
        return list((await self.session.execute(query)).scalars())

    async def buyers(
        self,
        tenant_id: str,
        kinds: Iterable[str],
        by: datetime | None = None,
        at_most: int | None = None,
    ) -> int:
        """How many of the tenant's customers made a purchase-like interaction (by `by`);
        with `at_most`, the scan stops at that many."""
        buyers = select(col(AppliedInteraction.customer_id)).where(
            col(AppliedInteraction.tenant_id) == tenant_id,
            col(AppliedInteraction.kind).in_(list(kinds)),
        )
        if by is not None:
            buyers = buyers.where(col(AppliedInteraction.occurred_at) <= by)
        counted = buyers.distinct().limit(at_most).subquery()
        return int(
            (await self.session.execute(select(func.count()).select_from(counted))).scalar_one()
        )

    async def placed(self, tenant_id: str) -> bool:
        """Whether any of the tenant's customers has a type: a placement pass has run."""
        query = (
            select(col(Relationship.customer_id))
            .where(
                col(Relationship.tenant_id) == tenant_id, col(Relationship.relationship_type) != ""
            )
            .limit(1)
        )
        return (await self.session.execute(query)).first() is not None

    async def retention_model(
        self, tenant_id: str, at: datetime | None = None
    ) -> RetentionModel | None:
        """The tenant's model in use at `at` (default: now), the last fitted on data up to
        then; for a moment before its first fit (a history that arrived at once), the first."""
        query = select(RetentionModel).where(col(RetentionModel.tenant_id) == tenant_id)
        if at is not None:
            then = query.where(col(RetentionModel.fitted_at) <= at)
            found = await self._one(then.order_by(col(RetentionModel.fitted_at).desc()))
            if found is not None:
                return found
            return await self._one(query.order_by(col(RetentionModel.fitted_at)))
        return await self._one(query.order_by(col(RetentionModel.fitted_at).desc()))

    async def retention_models(self, tenant_id: str) -> list[RetentionModel]:
        """Every model of the tenant, in the order they were fitted."""
        query = (
            select(RetentionModel)
            .where(col(RetentionModel.tenant_id) == tenant_id)
            .order_by(col(RetentionModel.fitted_at))
        )
        return list((await self.session.execute(query)).scalars())

    async def _one(self, query: Any) -> RetentionModel | None:
        found: RetentionModel | None = (
            await self.session.execute(query.limit(1))
        ).scalar_one_or_none()
        return found

    async def save_retention_model(self, model: RetentionModel) -> None:
        """Keeps a new fit beside the earlier ones (a fit on the same moment replaces it)."""
        await self.session.merge(model)

    async def heard_since(self, tenant_id: str, since: datetime) -> bool:
        """Whether any customer of the tenant had an interaction at or after `since`: how
        current its data is. It stops at the first such customer (the tenant's latest
        interaction, `max(last_interaction_at)`, read every relationship and its dead
        versions after a load: 180 ms a stage batch at 100,000 customers)."""
        query = (
            select(col(Relationship.customer_id))
            .where(
                col(Relationship.tenant_id) == tenant_id,
                col(Relationship.last_interaction_at) >= since,
            )
            .limit(1)
        )
        return (await self.session.execute(query)).first() is not None

    async def note_history_arrived(self, tenant_ids: Collection[str], at: datetime) -> None:
        """Interactions older than current data arrived for these tenants at `at`."""
        t = table_of(HistoryArrival)
        postgres = self.session.get_bind().dialect.name == "postgresql"
        statement = (postgres_insert if postgres else sqlite_insert)(t).values(
            [{"tenant_id": tenant_id, "arrived_at": at} for tenant_id in sorted(tenant_ids)]
        )
        await self.session.execute(
            statement.on_conflict_do_update(
                index_elements=[t.c.tenant_id], set_={"arrived_at": statement.excluded.arrived_at}
            )
        )

    async def history_arrived_after(self, tenant_id: str, moment: datetime) -> bool:
        """Whether the tenant's history last arrived after `moment` (in any process)."""
        t = table_of(HistoryArrival)
        query = select(t.c.arrived_at).where(t.c.tenant_id == tenant_id)
        arrived = (await self.session.execute(query)).scalar()
        return arrived is not None and arrived > moment

    async def settled_arrivals(self, before: datetime) -> list[tuple[str, datetime]]:
        """The tenants whose history last arrived by `before` and whose customers judged
        while it arrived have not been marked to be judged again since, with that moment."""
        t = table_of(HistoryArrival)
        query = select(t.c.tenant_id, t.c.arrived_at).where(
            t.c.arrived_at <= before,
            or_(t.c.judged_again_for.is_(None), t.c.judged_again_for < t.c.arrived_at),
        )
        return [(tenant_id, at) for tenant_id, at in (await self.session.execute(query)).all()]

    async def note_judged_again(self, tenant_id: str, arrived_at: datetime) -> None:
        """The customers judged while the tenant's history of `arrived_at` arrived were
        marked to be judged again."""
        t = table_of(HistoryArrival)
        await self.session.execute(
            update(t).where(t.c.tenant_id == tenant_id).values(judged_again_for=arrived_at)
        )

    async def tenants(self) -> list[str]:
        query = select(col(Relationship.tenant_id)).distinct()
        return [str(t) for t in (await self.session.execute(query)).scalars()]

    # History of types and stages

    async def replace_stage_histories(
        self,
        tenant_id: str,
        customers: Sequence[tuple[str, datetime | None]],
        rows: Sequence[dict[str, Any]],
    ) -> None:
        """Replaces the customers' stage changes, each (customer id, from when: all without
        it), with `rows`."""
        t = table_of(StateChange)
        stage = (t.c.tenant_id == tenant_id) & (t.c.dimension == "stage")
        whole = sorted(c for c, since in customers if since is None)
        for chunk in _chunks(whole, _SQLITE_IN_CHUNK):
            await self.session.execute(delete(t).where(stage, t.c.customer_id.in_(chunk)))
        partly = sorted((c, since) for c, since in customers if since is not None)
        if partly:
            await self.session.execute(
                delete(t).where(
                    stage, t.c.customer_id == bindparam("b_id"), t.c.at >= bindparam("b_since")
                ),
                [{"b_id": c, "b_since": since} for c, since in partly],
            )
        await bulk_insert(self.session, t, rows)

    async def stages_before(
        self, tenant_id: str, since: dict[str, datetime | None]
    ) -> dict[str, StateChange]:
        """Each customer's last stage change before its own moment (the latest; of two at
        one moment, the greater id): one row a customer, customer by customer down the
        (tenant, customer, dimension, at) index. Reading every change of the customers and
        keeping the last was ~20 rows a customer on a tenant's second stage pass."""
        wanted = {c: at for c, at in since.items() if at is not None}
        if not wanted:
            return {}
        connection = await self.session.connection()
        if connection.dialect.name == "postgresql":
            sql = text(_PG_STAGES_BEFORE).bindparams(
                ids=list(wanted), moments=list(wanted.values()), tenant=tenant_id
            )
        else:
            pairs = ", ".join(f"(:c{i}, :m{i})" for i in range(len(wanted)))
            sql = text(_SQLITE_STAGES_BEFORE.replace("<pairs>", pairs)).bindparams(
                tenant=tenant_id,
                **{f"c{i}": c for i, c in enumerate(wanted)},
                **{f"m{i}": sqlite_moment(m) for i, m in enumerate(wanted.values())},
            )
        query = select(StateChange).from_statement(sql)
        return {c.customer_id: c for c in (await self.session.execute(query)).scalars()}

    async def insert_state_changes(self, rows: Sequence[dict[str, Any]]) -> None:
        await bulk_insert(self.session, table_of(StateChange), rows)

    async def insert_type_changes(
        self, tenant_id: str, changes: Sequence[tuple[str, datetime, str, str, str]]
    ) -> None:
        """Records changes of type, each (customer id, at, previous type or "", current
        type, reason), _STATEMENT_ROWS to a statement (their rows built for those alone)."""
        for chunk in _chunks(changes, _STATEMENT_ROWS):
            await self.insert_state_changes(
                [
                    {
                        "id": new_id(),
                        "tenant_id": tenant_id,
                        "customer_id": customer_id,
                        "dimension": "type",
                        "at": at,
                        "previous": previous or None,
                        "current": current,
                        "reason": reason,
                    }
                    for customer_id, at, previous, current, reason in chunk
                ]
            )

    async def state_changes(
        self,
        tenant_id: str,
        customer_ids: Sequence[str],
        until: datetime | None = None,
    ) -> list[StateChange]:
        if not customer_ids:
            return []
        conditions = [
            col(StateChange.tenant_id) == tenant_id,
            col(StateChange.customer_id).in_(list(set(customer_ids))),
        ]
        if until is not None:
            conditions.append(col(StateChange.at) <= until)
        query = (
            select(StateChange)
            .where(*conditions)
            .order_by(col(StateChange.customer_id), col(StateChange.at), col(StateChange.id))
        )
        return list((await self.session.execute(query)).scalars())

    async def retyping_tenants(self) -> list[str]:
        """The tenants with customers whose past types are to be placed again."""
        query = (
            select(col(Relationship.tenant_id))
            .where(col(Relationship.types_since).is_not(None))
            .distinct()
        )
        return [str(t) for t in (await self.session.execute(query)).scalars()]

    async def retype_marks(self, tenant_id: str) -> dict[str, tuple[datetime, int]]:
        """The tenant's customers marked for their past types to be placed again: each one's
        moment to place from, and its count of interactions (which tells whether another
        arrived by the time the marks are cleared)."""
        t = table_of(Relationship)
        query = select(t.c.customer_id, t.c.types_since, t.c.interaction_count).where(
            t.c.tenant_id == tenant_id, t.c.types_since.is_not(None)
        )
        return {str(c): (at, n) for c, at, n in (await self.session.execute(query)).all()}

    async def clear_retype_marks(
        self, tenant_id: str, marks: dict[str, tuple[datetime, int]]
    ) -> int:
        """Clears the marks `retype_marks` read, locking them in customer order, but for a
        customer whose mark or count moved since: an interaction arrived meanwhile, and the
        customer's past is placed again on a later pass. Returns the marks left."""
        t = table_of(Relationship)
        query = (
            select(t.c.customer_id, t.c.types_since, t.c.interaction_count)
            .where(t.c.tenant_id == tenant_id, t.c.types_since.is_not(None))
            .order_by(t.c.customer_id)
            .with_for_update()
        )
        found = (await self.session.execute(query)).all()
        unchanged = [str(c) for c, at, n in found if marks.get(str(c)) == (at, n)]
        for chunk in _chunks(unchanged, _SQLITE_IN_CHUNK):
            await self.session.execute(
                update(t)
                .where(t.c.tenant_id == tenant_id, t.c.customer_id.in_(chunk))
                .values(types_since=None)
            )
        return len(found) - len(unchanged)

    async def drop_type_changes(
        self, tenant_id: str, customer_ids: Sequence[str], since: datetime
    ) -> None:
        """Deletes the customers' changes of type from `since` on."""
        t = table_of(StateChange)
        for chunk in _chunks(sorted(customer_ids), _SQLITE_IN_CHUNK):
            await self.session.execute(
                delete(t).where(
                    t.c.tenant_id == tenant_id,
                    t.c.customer_id.in_(chunk),
                    t.c.dimension == "type",
                    t.c.at >= since,
                )
            )

    async def standings(
        self, tenant_id: str, customer_ids: Sequence[str], at: datetime
    ) -> list[Any]:
        """Each customer's latest change of type and of stage at or before `at` (the last
        by moment, then id), as rows with StateChange's columns by name: what an as-of read
        needs, not the whole history (a type a month end for years)."""
        found: list[Any] = []
        for chunk in _chunks(sorted(set(customer_ids)), _SQLITE_IN_CHUNK):
            found += await self._standings(tenant_id, chunk, at)
        return found

    async def _standings(self, tenant_id: str, chunk: Sequence[str], at: datetime) -> list[Any]:
        t = table_of(StateChange)
        ranked = (
            select(
                t.c.customer_id,
                t.c.dimension,
                t.c.at,
                t.c.previous,
                t.c.current,
                t.c.reason,
                func.row_number()
                .over(
                    partition_by=(t.c.customer_id, t.c.dimension),
                    order_by=(t.c.at.desc(), t.c.id.desc()),
                )
                .label("latest"),
            )
            .where(
                t.c.tenant_id == tenant_id,
                t.c.customer_id.in_(chunk),
                t.c.at <= at,
            )
            .subquery()
        )
        query = select(*(c for c in ranked.c if c.name != "latest")).where(ranked.c.latest == 1)
        return list((await self.session.execute(query)).all())

    # Alerts

    async def raise_alerts(self, rows: Sequence[dict[str, Any]]) -> int:
        """Inserts the alerts whose dedup key is new, the first of the rows for a key; returns
        how many were new. (A placement of the present and of the last month end in one
        quarter finds the same cohort laggard twice.)"""
        if not rows:
            return 0
        tenant = rows[0]["tenant_id"]
        first: dict[str, dict[str, Any]] = {}
        for row in rows:
            first.setdefault(row["dedup_key"], row)
        query = select(col(Alert.dedup_key)).where(
            col(Alert.tenant_id) == tenant, col(Alert.dedup_key).in_(list(first))
        )
        known = set((await self.session.execute(query)).scalars())
        fresh = [r for key, r in first.items() if key not in known]
        await bulk_insert(self.session, table_of(Alert), fresh)
        return len(fresh)

    async def alert_feed(self, since: datetime, limit: int, after_id: str) -> list[Alert]:
        query = (
            select(Alert)
            .where(
                or_(
                    col(Alert.raised_at) > since,
                    (col(Alert.raised_at) == since) & (col(Alert.id) > after_id),
                )
            )
            .order_by(col(Alert.raised_at), col(Alert.id))
            .limit(limit)
        )
        return list((await self.session.execute(query)).scalars())

    async def list_relationships(
        self, tenant_id: str, wanted: RelationshipFilter, limit: int
    ) -> list[Relationship]:
        t = table_of(Relationship)
        conditions = [t.c.tenant_id == tenant_id]
        if wanted.types:
            conditions.append(t.c.relationship_type.in_(wanted.types))
        if wanted.stages:
            conditions.append(t.c.stage.in_(wanted.stages))
        if wanted.min_risk is not None:
            conditions.append(t.c.risk >= wanted.min_risk)
        if wanted.customer_ids is not None:
            conditions.append(t.c.customer_id.in_(wanted.customer_ids))
        column = t.c[wanted.order_by]
        if wanted.after is not None:
            key, customer = wanted.after
            if wanted.ascending:
                conditions.append(tuple_(column, t.c.customer_id) > tuple_(key, customer))
            else:
                conditions.append((column < key) | ((column == key) & (t.c.customer_id > customer)))
        order = column.asc() if wanted.ascending else column.desc()
        query = (
            select(Relationship)
            .where(*conditions)
            .order_by(order, col(Relationship.customer_id))
            .limit(limit)
        )
        return list((await self.session.execute(query)).scalars())

    async def relationship_feed(
        self, since: datetime, limit: int, after: tuple[str, str], standing_only: bool = False
    ) -> list[Relationship]:
        """Changed since `since`: in any way (`updated_at`), or in type or stage."""
        updated, tenant, customer = (
            col(Relationship.standing_changed_at if standing_only else Relationship.updated_at),
            col(Relationship.tenant_id),
            col(Relationship.customer_id),
        )
        query = (
            select(Relationship)
            .where(
                or_(
                    updated > since,
                    (updated == since) & (tuple_(tenant, customer) > tuple_(*after)),
                )
            )
            .order_by(updated, tenant, customer)
            .limit(limit)
        )
        return list((await self.session.execute(query)).scalars())

    async def alerts(
        self,
        tenant_id: str,
        customer_ids: Sequence[str] | None,
        open_only: bool,
        limit: int,
        as_of: datetime | None = None,
    ) -> list[Alert]:
        """Newest first; with `as_of`, those raised by then, and "open" means not yet
        acknowledged then."""
        conditions = [col(Alert.tenant_id) == tenant_id]
        if customer_ids is not None:
            conditions.append(col(Alert.customer_id).in_(list(set(customer_ids))))
        conditions += alerts_listed(
            col(Alert.raised_at), col(Alert.acknowledged_at), open_only, as_of
        )
        query = (
            select(Alert)
            .where(*conditions)
            .order_by(col(Alert.raised_at).desc(), col(Alert.id))
            .limit(limit)
        )
        return list((await self.session.execute(query)).scalars())

    async def acknowledge(self, tenant_id: str, alert_id: str, who: str, at: datetime) -> bool:
        result = await self.session.execute(
            update(Alert)
            .where(
                col(Alert.tenant_id) == tenant_id,
                col(Alert.id) == alert_id,
                col(Alert.acknowledged_at).is_(None),
            )
            .values(acknowledged_at=at, acknowledged_by=who)
        )
        return bool(getattr(result, "rowcount", 0))

    # Settings

    async def settings(self, tenant_id: str) -> TenantSettings | None:
        return await self.session.get(TenantSettings, tenant_id)

    async def count_relationships(self, tenant_id: str) -> int:
        query = select(func.count()).where(col(Relationship.tenant_id) == tenant_id)
        return int((await self.session.execute(query)).scalar_one())

    # Analysis (scoring.analysis): plain rows in one query each, no ORM objects

    async def _epoch(self, column: Any) -> Any:
        """`column` (a timestamp) as float seconds since the Unix epoch, computed by the
        database so that a million rows need no datetime parsing here (PostgreSQL's
        date_part gives a double; its extract() a numeric, a third slower to compute)."""
        connection = await self.session.connection()
        if connection.dialect.name == "postgresql":
            return func.date_part("epoch", column)
        return (func.julianday(column) - 2440587.5) * 86400.0

    async def _analysis_rows(self, query: Any) -> list[tuple[Any, ...]]:
        """The rows of an analysis query, read through the driver: SQLAlchemy's per-row
        result processing cost more than the database's own work on a million-row read,
        so every column these queries return is a plain number or string. On SQLite the
        interactions are scanned in storage order (NOT INDEXED): the planner would walk the
        customer_id index to save a sort and look up every row at random, several times
        slower on a tenant's whole history."""
        connection = await self.session.connection()
        compiled = query.compile(
            dialect=connection.dialect, compile_kwargs={"render_postcompile": True}
        )
        params = compiled.params
        async with driver_of(self.session) as (postgres, driver):
            if postgres:
                return await pg_fetch(driver, compiled.string, params, binary=True)
            sql = compiled.string.replace(
                "FROM applied_interaction ", "FROM applied_interaction NOT INDEXED "
            )
            values = [params[name] for name in compiled.positiontup or ()]
            values = [sqlite_moment(v) if isinstance(v, datetime) else v for v in values]
            rows: list[tuple[Any, ...]] = list(await driver.execute_fetchall(sql, values))
            return rows

    async def analysis_rows(
        self,
        tenant_id: str,
        until: datetime,
        since: datetime | None = None,
        kinds: Sequence[str] | None = None,
        lost_too: bool = False,
    ) -> list[tuple[Any, ...]]:
        """The tenant's interactions up to `until` as rows of (customer_id, seconds, kind,
        channel, direction, revenue, refund, cost, employee, issue_type), in no particular
        order: only those after `since` (and, with `lost_too`, every one of the customers
        that reached the stage "terminating" by `until`), only of `kinds` when given."""
        t = table_of(AppliedInteraction)
        conditions: list[Any] = [t.c.tenant_id == tenant_id, t.c.occurred_at <= until]
        if kinds is not None:
            conditions.append(t.c.kind.in_(list(kinds)))
        if since is not None and lost_too:
            s = table_of(StateChange)
            lost = select(s.c.customer_id).where(
                s.c.tenant_id == tenant_id,
                s.c.dimension == "stage",
                s.c.current == "terminating",
                s.c.at <= until,
            )
            conditions.append(or_(t.c.occurred_at > since, t.c.customer_id.in_(lost)))
        elif since is not None:
            conditions.append(t.c.occurred_at > since)
        query = select(
            t.c.customer_id,
            await self._epoch(t.c.occurred_at),
            t.c.kind,
            t.c.channel,
            t.c.direction,
            t.c.revenue,
            t.c.refund,
            t.c.cost,
            t.c.employee,
            t.c.issue_type,
        ).where(*conditions)
        return await self._analysis_rows(query)

    async def analysis_money(
        self, tenant_id: str, start: datetime | None, end: datetime
    ) -> list[tuple[str, float, float, float]]:
        """Per customer: revenue, cost to serve and refunds with start < occurred_at <= end
        (from the beginning without `start`)."""
        t = table_of(AppliedInteraction)
        conditions = [t.c.tenant_id == tenant_id, t.c.occurred_at <= end]
        if start is not None:
            conditions.append(t.c.occurred_at > start)
        query = (
            select(
                t.c.customer_id,
                func.sum(t.c.revenue),
                func.sum(t.c.cost),
                func.sum(t.c.refund),
            )
            .where(*conditions)
            .group_by(t.c.customer_id)
        )
        return [
            (str(c), float(r or 0), float(k or 0), float(f or 0))
            for c, r, k, f in await self._analysis_rows(query)
        ]

    async def analysis_customers(self, tenant_id: str) -> list[tuple[Any, ...]]:
        """Every customer of the tenant as it stands: (customer_id, relationship_type, stage,
        stage since in seconds, first interaction in seconds)."""
        t = table_of(Relationship)
        query = select(
            t.c.customer_id,
            t.c.relationship_type,
            t.c.stage,
            await self._epoch(t.c.stage_since),
            await self._epoch(t.c.first_interaction_at),
        ).where(t.c.tenant_id == tenant_id)
        return await self._analysis_rows(query)

    async def analysis_states(
        self, tenant_id: str, dimension: str, at: datetime
    ) -> list[tuple[str, str, float]]:
        """Each customer's type or stage (`dimension`) as of `at`: (customer_id, current,
        since in seconds), from the last change at or before `at`: DISTINCT ON in
        PostgreSQL, SQLite's max() whose bare columns come from the row holding the max."""
        s = table_of(StateChange)
        conditions = [s.c.tenant_id == tenant_id, s.c.dimension == dimension, s.c.at <= at]
        connection = await self.session.connection()
        if connection.dialect.name == "postgresql":
            query = (
                select(s.c.customer_id, s.c.current, await self._epoch(s.c.at))
                .where(*conditions)
                .ext(distinct_on(s.c.customer_id))
                .order_by(s.c.customer_id, s.c.at.desc(), s.c.id.desc())
            )
        else:
            # The bare columns still come from the max's row with max() inside julianday().
            query = (
                select(s.c.customer_id, s.c.current, await self._epoch(func.max(s.c.at)))
                .where(*conditions)
                .group_by(s.c.customer_id)
            )
        return [(str(c), str(v), float(w)) for c, v, w in await self._analysis_rows(query)]

    async def analysis_employee_cells(
        self, tenant_id: str, until: datetime, expansion_kinds: Sequence[str]
    ) -> list[tuple[str, str | None, int, float, int]]:
        """Per customer and employee (None or "" where none was named), over the
        interactions up to `until`: how many, their revenue, and how many were of
        `expansion_kinds`; one scan for what the stars lens needs."""
        t = table_of(AppliedInteraction)
        query = (
            select(
                t.c.customer_id,
                t.c.employee,
                func.count(),
                func.sum(t.c.revenue),
                func.count().filter(t.c.kind.in_(list(expansion_kinds))),
            )
            .where(t.c.tenant_id == tenant_id, t.c.occurred_at <= until)
            .group_by(t.c.customer_id, t.c.employee)
        )
        # The driver's rows are already (str, str | None, int, float, int).
        return await self._analysis_rows(query)

    async def analysis_kind_counts(
        self,
        tenant_id: str,
        kinds: Sequence[str],
        until: datetime,
        since: datetime | None = None,
    ) -> list[tuple[str, str, int]]:
        """Per customer and kind (of `kinds`), its interactions with since < at <= until."""
        t = table_of(AppliedInteraction)
        conditions = [
            t.c.tenant_id == tenant_id,
            t.c.occurred_at <= until,
            t.c.kind.in_(list(kinds)),
        ]
        if since is not None:
            conditions.append(t.c.occurred_at > since)
        query = (
            select(t.c.customer_id, t.c.kind, func.count())
            .where(*conditions)
            .group_by(t.c.customer_id, t.c.kind)
        )
        return [(str(c), str(k), int(n)) for c, k, n in await self._analysis_rows(query)]

    async def _month(self, column: Any, start: datetime, month_seconds: float) -> Any:
        """The whole number of `month_seconds` from `start` to `column` (>= 0 where used)."""
        offset = (await self._epoch(column) - start.timestamp()) / month_seconds
        connection = await self.session.connection()
        if connection.dialect.name == "postgresql":
            return func.floor(offset).cast(Integer)
        return offset.cast(Integer)  # SQLite's CAST truncates: the floor of a positive number

    async def analysis_monthly(
        self,
        tenant_id: str,
        start: datetime,
        until: datetime,
        month_seconds: float,
        revenue_kinds: Sequence[str],
    ) -> list[tuple[str, str, int, float, int]]:
        """With start < occurred_at <= until, in months of `month_seconds` from `start`, per
        customer, channel and month: its revenue, and its engagement (inbound interactions
        carrying no revenue, of no `revenue_kinds`); one scan, cells with either."""
        t = table_of(AppliedInteraction)
        month = (await self._month(t.c.occurred_at, start, month_seconds)).label("month")
        engaging = and_(
            t.c.direction == "inbound",
            t.c.revenue == 0,
            t.c.kind.not_in(list(revenue_kinds)),
        )
        query = (
            select(
                t.c.customer_id,
                t.c.channel,
                month,
                func.sum(t.c.revenue),
                func.count().filter(engaging),
            )
            .where(
                t.c.tenant_id == tenant_id,
                t.c.occurred_at > start,
                t.c.occurred_at <= until,
                or_(t.c.revenue != 0, engaging),
            )
            .group_by(t.c.customer_id, t.c.channel, month)
        )
        # The driver's rows are already (str, str, int, float, int).
        return await self._analysis_rows(query)

    async def analysis_profiles(
        self,
        tenant_id: str,
        start: datetime,
        until: datetime,
        channels: Sequence[str],
        kinds: Sequence[str],
    ) -> tuple[list[tuple[Any, ...]], list[tuple[str, str]]]:
        """For lookalikes, with start < occurred_at <= until, one row per customer from one
        scan: (customer_id, its interactions on each of `channels`, of each of `kinds`,
        revenue, cost to serve, refunds, the sum and the count of its sentiments); and each
        customer's own words (the texts of its inbound interactions, joined by spaces).
        Counting by filtered aggregates per customer, not grouping by customer and channel,
        makes a tenth of the rows and halves SQLite's sort."""
        t = table_of(AppliedInteraction)
        window = [t.c.tenant_id == tenant_id, t.c.occurred_at > start, t.c.occurred_at <= until]
        cells = (
            select(
                t.c.customer_id,
                *(func.count().filter(t.c.channel == channel) for channel in channels),
                *(func.count().filter(t.c.kind == kind) for kind in kinds),
                func.coalesce(func.sum(t.c.revenue), 0.0),
                func.coalesce(func.sum(t.c.cost), 0.0),
                func.coalesce(func.sum(t.c.refund), 0.0),
                func.coalesce(func.sum(t.c.sentiment), 0.0),
                func.count(t.c.sentiment),
            )
            .where(*window)
            .group_by(t.c.customer_id)
        )
        connection = await self.session.connection()
        joined = (
            func.string_agg(t.c.text, " ")
            if connection.dialect.name == "postgresql"
            else func.group_concat(t.c.text, " ")
        )
        words = (
            select(t.c.customer_id, joined)
            .where(*window, t.c.direction == "inbound", t.c.text.is_not(None))
            .group_by(t.c.customer_id)
        )
        # The driver's rows are already of the types named.
        return (
            await self._analysis_rows(cells),
            [(str(c), str(w or "")) for c, w in await self._analysis_rows(words)],
        )

    async def prepare_analysis(self) -> None:
        """Gives this read transaction room to group a million rows by hashing in memory
        (PostgreSQL's default work_mem of 4 MB sorts them on disk instead)."""
        connection = await self.session.connection()
        if connection.dialect.name == "postgresql":
            await self.session.execute(text(f"SET LOCAL work_mem = '{ANALYSIS_WORK_MEM}'"))


# How much memory one analysis read may use per sort or hash on PostgreSQL.
ANALYSIS_WORK_MEM = "64MB"


def _chunks(items: Sequence[_Item], size: int) -> Iterable[Sequence[_Item]]:
    return (items[i : i + size] for i in range(0, len(items), size))


def _marks(count: int) -> str:
    return ", ".join("?" * count)


# Some customers' rows, customer by customer through the (tenant, customer, ...) index
# (LATERAL; OFFSET 0 keeps the planner from flattening it into a join), the columns named
# in the models' order.
_PG_RELATIONSHIPS_OF = f"""
SELECT {", ".join("found." + c.name for c in table_of(Relationship).c)}
FROM unnest(CAST(:ids AS varchar[])) AS w(customer_id)
CROSS JOIN LATERAL (SELECT * FROM relationship
    WHERE tenant_id = :tenant AND customer_id = w.customer_id OFFSET 0) AS found
"""  # noqa: S608 (column names, no input)
# What judging a customer (its stage, risk, outlook, pattern, or its relationship as of a
# moment) reads of each applied interaction: not its words, reason or employee. A stage pass
# over 200 customers of the demo company reads 37,000 rows: 0.13 s instead of 0.37 s.
JUDGING_COLUMNS = (
    "customer_id",
    "interaction_id",
    "occurred_at",
    "channel",
    "kind",
    "direction",
    "revenue",
    "refund",
    "contribution",
)
# {columns}: the columns read, each as found.<name>.
_PG_HISTORY = """
SELECT {columns}
FROM unnest(CAST(:ids AS varchar[])) AS w(customer_id)
CROSS JOIN LATERAL (SELECT * FROM applied_interaction
    WHERE tenant_id = :tenant AND customer_id = w.customer_id
        AND (CAST(:until AS timestamptz) IS NULL OR occurred_at <= :until) OFFSET 0) AS found
ORDER BY found.customer_id, found.occurred_at, found.interaction_id
"""
_PG_STAGES_BEFORE = f"""
SELECT {", ".join("found." + c.name for c in table_of(StateChange).c)}
FROM unnest(CAST(:ids AS varchar[]), CAST(:moments AS timestamptz[])) AS w(customer_id, moment)
CROSS JOIN LATERAL (SELECT * FROM state_change
    WHERE tenant_id = :tenant AND customer_id = w.customer_id AND dimension = 'stage'
        AND at < w.moment
    ORDER BY at DESC, id DESC LIMIT 1) AS found
"""  # noqa: S608 (column names, no input)
# SQLite has no LATERAL: each customer's last change's id from a correlated subquery, which
# SQLite runs once a customer down the same index.
_SQLITE_STAGES_BEFORE = """
WITH w(customer_id, moment) AS (VALUES <pairs>)
SELECT * FROM state_change WHERE id IN (
    SELECT (SELECT prior.id FROM state_change AS prior
        WHERE prior.tenant_id = :tenant AND prior.customer_id = w.customer_id
            AND prior.dimension = 'stage' AND prior.at < w.moment
        ORDER BY prior.at DESC, prior.id DESC LIMIT 1)
    FROM w)
"""
_PG_CONTRIBUTIONS_SINCE = """
SELECT found.customer_id, found.interaction_id, found.occurred_at, found.contribution
FROM unnest(CAST(:ids AS varchar[])) AS w(customer_id)
CROSS JOIN LATERAL (SELECT customer_id, interaction_id, occurred_at, contribution
    FROM applied_interaction
    WHERE tenant_id = :tenant AND customer_id = w.customer_id AND occurred_at > :since
    OFFSET 0) AS found
"""
