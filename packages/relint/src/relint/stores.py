"""A service's own stores: its database and, when configured, Redis — opened, checked by
/readyz, and closed in one place."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from redis.asyncio import Redis

from relint.app import Readiness
from relint.cache import connect_redis, ping
from relint.db import Database
from relint.settings import DatabaseSettings, ServiceSettings


@dataclass(frozen=True)
class Stores:
    redis: Redis | None
    _db: Database | None = None

    @property
    def db(self) -> Database:
        if self._db is None:
            raise RuntimeError("this service has no database")
        return self._db


@asynccontextmanager
async def open_stores(settings: ServiceSettings, readiness: Readiness) -> AsyncIterator[Stores]:
    """Opens what the settings name and registers a readiness check for each. A database
    must answer before the service starts; Redis may come later (readiness reports it)."""
    db: Database | None = None
    if isinstance(settings, DatabaseSettings):
        db = Database(settings.database_url, pool_size=settings.database_pool_size)
        readiness.add("database", db.ping)
    redis = connect_redis(settings.redis_url) if settings.redis_url else None
    if redis is not None:
        client = redis
        readiness.add("redis", lambda: ping(client))
    try:
        if db is not None:
            await db.ping()
        yield Stores(redis=redis, _db=db)
    finally:
        if redis is not None:
            await redis.aclose()
        if db is not None:
            await db.dispose()
