"""`relint.db.bulk_insert`: COPY on PostgreSQL for large batches, INSERT otherwise — the same
rows read back either way, and nothing of a failed batch is kept."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import JSON, BigInteger, Column, DateTime, Float, MetaData, String, Table, select
from sqlalchemy.exc import IntegrityError

from relint.db import COPY_FROM_ROWS, Database, bulk_insert

metadata = MetaData()
things = Table(
    "thing",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("amount", BigInteger),
    Column("score", Float),
    Column("note", String),
    Column("attributes", JSON),
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
            "note": "tab\there, newline\nthere, back\\slash, 'quote' ünïcode" if n % 5 else None,
            "attributes": {"n": n, "nested": {"list": [1, "two", None]}} if n % 4 else None,
        }
        for n in range(count)
    ]


@pytest.mark.parametrize("count", [3, COPY_FROM_ROWS, 1_500])
async def test_bulk_insert_reads_back_the_same_rows(
    database_url_factory: Callable[[str], str], count: int
) -> None:
    db = Database(database_url_factory("bulk"))
    try:
        async with db.engine.begin() as connection:
            await connection.run_sync(metadata.create_all)
        wanted = rows(count)
        async with db.transaction() as session:
            await bulk_insert(session, things, wanted)
        async with db.read() as session:
            stored = [
                dict(r._mapping)
                for r in await session.execute(select(things).order_by(things.c.id))
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
    finally:
        await db.dispose()
