"""Playbook's migrations build exactly the schema its models describe."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from playbook.main import MIGRATIONS
from playbook.models import PlaybookTable
from relint.db import migrate


async def test_the_migrated_schema_matches_the_models(
    database_url_factory: Callable[[str], str],
) -> None:
    url = database_url_factory("playbook_schema")
    await asyncio.to_thread(migrate, MIGRATIONS, url)

    def differences(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, PlaybookTable.metadata))

    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            assert await connection.run_sync(differences) == []
    finally:
        await engine.dispose()
