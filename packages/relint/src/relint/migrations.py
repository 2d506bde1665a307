"""The body of every service's Alembic env.py: online and offline runs over an async engine."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import MetaData, pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from relint.db import is_sqlite


def run_env(metadata: MetaData) -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("sqlalchemy.url is not set; run migrations through `<service> migrate`")
    # SQLite cannot ALTER most things in place; batch mode rebuilds the table.
    batch = is_sqlite(url)
    if context.is_offline_mode():
        context.configure(
            url=url,
            literal_binds=True,
            target_metadata=metadata,
            render_as_batch=batch,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        return

    def run(connection: Connection) -> None:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=batch,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def run_online() -> None:
        engine = create_async_engine(url, poolclass=pool.NullPool)
        async with engine.connect() as connection:
            await connection.run_sync(run)
            await connection.commit()
        await engine.dispose()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(run_online())
    else:  # pragma: no cover - migrations are run from the CLI, never inside a loop
        raise RuntimeError("run migrations outside a running event loop")
