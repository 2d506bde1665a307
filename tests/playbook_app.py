"""The playbook service in process on SQLite, its gRPC server on a free port, for tests that
talk to it through real channels."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from playbook.main import MIGRATIONS, create_app
from playbook.settings import PlaybookSettings
from relint.db import migrate


@asynccontextmanager
async def served_playbook(directory: Path) -> AsyncIterator[FastAPI]:
    """The app, started (`app.state.grpc_port` its gRPC port), on a new database in
    `directory`."""
    url = f"sqlite+aiosqlite:///{directory / 'playbook.db'}"
    await asyncio.to_thread(migrate, MIGRATIONS, url)
    application = create_app(PlaybookSettings(database_url=url, grpc_port=0))
    async with application.router.lifespan_context(application):
        yield application
