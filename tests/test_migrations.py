"""Every service's migrations build exactly the schema its models describe, on SQLite and
on PostgreSQL: a model change without its migration fails here."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

import ingest.main
import ingest.models
import playbook.main
import playbook.models
import scoring.main
import scoring.models
from relint.db import Database, alembic_config, migrate
from scoring.repository import ScoringRepository
from tests.conftest import PostgresDatabases

SERVICES: dict[str, tuple[Path, MetaData]] = {
    "ingest": (ingest.main.MIGRATIONS, ingest.models.IngestTable.metadata),
    "scoring": (scoring.main.MIGRATIONS, scoring.models.ScoringTable.metadata),
    "playbook": (playbook.main.MIGRATIONS, playbook.models.PlaybookTable.metadata),
}


@pytest.mark.parametrize("service", sorted(SERVICES))
async def test_the_migrated_schema_matches_the_models(
    service: str, database_url_factory: Callable[[str], str]
) -> None:
    migrations, metadata = SERVICES[service]
    url = database_url_factory(f"{service}_schema")
    await asyncio.to_thread(migrate, migrations, url)

    def differences(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))

    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            assert await connection.run_sync(differences) == []
    finally:
        await engine.dispose()


async def test_a_weight_change_rewrites_applied_interactions_in_their_pages_on_postgresql(
    postgres_databases: PostgresDatabases,
) -> None:
    """A new weight table rewrites every applied row's contribution and reason. With half of
    each page left free (fillfactor 50) PostgreSQL keeps nearly every new version on its
    page (a HOT update, written into no index), and the table has two indexes to write
    when it cannot: the primary key and (tenant, customer, occurred_at)."""
    url = postgres_databases.create("scoring_fillfactor")
    await asyncio.to_thread(migrate, scoring.main.MIGRATIONS, url)
    db = Database(url)
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [
        {
            "interaction_id": f"i{n:05d}",
            "tenant_id": "t1",
            "customer_id": f"c{n % 50}",
            "occurred_at": moment + timedelta(hours=n),
            "channel": "service",
            "kind": "complaint",
            "contribution": -1.0,
            "reason": "a complaint",
        }
        for n in range(3000)
    ]
    try:
        async with db.transaction() as session:
            await ScoringRepository(session).insert_applied(rows)
        async with db.transaction() as session:
            await ScoringRepository(session).update_contributions(
                [(r["interaction_id"], -1.5, "a complaint, weighed anew") for r in rows]
            )
            updated, hot = (
                await session.execute(
                    text(
                        "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables "
                        "WHERE relname = 'applied_interaction'"
                    )
                )
            ).one()
            indexes = (
                await session.execute(
                    text("SELECT indexname FROM pg_indexes WHERE tablename = 'applied_interaction'")
                )
            ).scalars()
            assert sorted(indexes) == ["ix_applied_interaction_customer", "pk_applied_interaction"]
        assert updated == 3000
        assert hot >= 0.9 * updated
    finally:
        await db.dispose()


async def test_the_playbooks_counts_of_touches_start_from_the_touches_it_holds(
    database_url_factory: Callable[[str], str],
) -> None:
    """Migration 0008 counts each customer's touches kept before it."""
    url = database_url_factory("playbook_touches")
    await asyncio.to_thread(migrate, playbook.main.MIGRATIONS, url, "0007")
    db = Database(url)
    try:
        async with db.transaction() as session:
            await session.execute(
                text(
                    "INSERT INTO customer_state (tenant_id, customer_id, relationship_type, "
                    "stage, dirty, revision, playbook_version) VALUES "
                    "('t1', 'c1', '', '', false, 1, 1), ('t1', 'c2', '', '', false, 1, 1)"
                )
            )
            for n, customer in enumerate(["c1", "c1", "c1", "c2"]):
                await session.execute(
                    text(
                        "INSERT INTO touch (id, tenant_id, customer_id, occurred_at, channel, "
                        "kind, direction, employee, reference) VALUES "
                        "(:id, 't1', :c, :at, 'service', 'ticket_opened', 'inbound', '', '')"
                    ),
                    {"id": f"k{n}", "c": customer, "at": datetime(2026, 1, 1, tzinfo=UTC)},
                )
        await asyncio.to_thread(migrate, playbook.main.MIGRATIONS, url)
        async with db.read() as session:
            counts = (
                await session.execute(
                    text("SELECT customer_id, touches FROM customer_state ORDER BY customer_id")
                )
            ).all()
        assert [tuple(row) for row in counts] == [("c1", 3), ("c2", 1)]
    finally:
        await db.dispose()


async def test_scoring_keeps_every_retention_fit_and_a_downgrade_keeps_the_latest(
    database_url_factory: Callable[[str], str],
) -> None:
    """0017 makes a tenant's retention model a row a fit: the existing fit survives the
    upgrade, a second one sits beside it, and going back keeps each tenant's latest."""
    url = database_url_factory("scoring_fits")
    await asyncio.to_thread(migrate, scoring.main.MIGRATIONS, url, "0016")
    engine = create_async_engine(url)
    row = (
        "INSERT INTO retention_model (tenant_id, kind, bgnbd, pareto_nbd, gamma_gamma, "
        "customers, fitted_at) VALUES ('t1', 'bgnbd', '{}', '{}', '{}', :n, :at)"
    )
    first = datetime(2026, 1, 1, tzinfo=UTC)
    try:
        async with engine.begin() as connection:
            await connection.execute(text(row), {"n": 40, "at": first})
        await asyncio.to_thread(migrate, scoring.main.MIGRATIONS, url)
        async with engine.begin() as connection:
            await connection.execute(text(row), {"n": 80, "at": first + timedelta(days=1)})
        db = Database(url)
        try:
            async with db.read() as session:
                repo = ScoringRepository(session)
                assert [m.customers for m in await repo.retention_models("t1")] == [40, 80]
                now = await repo.retention_model("t1")
                then = await repo.retention_model("t1", first + timedelta(hours=1))
                before = await repo.retention_model("t1", first - timedelta(days=30))
            # Now the latest; then the one fitted by then; before any fit the first.
            assert [m and m.customers for m in (now, then, before)] == [80, 40, 40]
        finally:
            await db.dispose()
        config = alembic_config(scoring.main.MIGRATIONS, url)
        await asyncio.to_thread(command.downgrade, config, "0016")
        async with engine.connect() as connection:
            kept = (await connection.execute(text("SELECT customers FROM retention_model"))).all()
        assert [n for (n,) in kept] == [80]
    finally:
        await engine.dispose()
