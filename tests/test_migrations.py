"""Every service's migrations build exactly the schema its models describe, on SQLite and
on PostgreSQL: a model change without its migration fails here."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
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
from relint.db import migrate
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


async def test_applied_interactions_leave_room_for_in_page_updates_on_postgresql(
    postgres_databases: PostgresDatabases,
) -> None:
    """A new weight table rewrites every applied row's contribution: with free space on the
    page PostgreSQL updates in place (HOT), without touching the three indexes."""
    url = postgres_databases.create("scoring_fillfactor")
    await asyncio.to_thread(migrate, scoring.main.MIGRATIONS, url)
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            options = await connection.scalar(
                text("SELECT reloptions FROM pg_class WHERE relname = 'applied_interaction'")
            )
        assert options == ["fillfactor=70"]
    finally:
        await engine.dispose()
