"""Playbook's wiring: the lifespan builds the database, the key verifier and gRPC servicer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from playbook import api, grpc_server
from playbook.service import PlaybookService
from playbook.settings import PlaybookSettings
from relint.app import Readiness, create_service_app
from relint.auth import RemoteKeyVerifier
from relint.cache import connect_redis, ping
from relint.db import Database
from relint.grpc_client import open_channel
from relint.grpc_server import GrpcServer
from relint.limits import BodySizeLimitMiddleware

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: PlaybookSettings | None = None) -> FastAPI:
    settings = settings or PlaybookSettings()

    @asynccontextmanager
    async def lifespan(
        app: FastAPI, server: GrpcServer, readiness: Readiness
    ) -> AsyncIterator[None]:
        db = Database(settings.database_url, pool_size=settings.database_pool_size)
        readiness.add("database", db.ping)
        redis = connect_redis(settings.redis_url) if settings.redis_url else None
        if redis is not None:
            readiness.add("redis", lambda: ping(redis))
        ingest = open_channel(settings.ingest_target)
        service = PlaybookService(db)
        app.state.playbook = service
        app.state.key_verifier = RemoteKeyVerifier(ingest)
        grpc_server.register(server, service)
        await db.ping()
        try:
            yield
        finally:
            await ingest.close()
            if redis is not None:
                await redis.aclose()
            await db.dispose()

    app = create_service_app(
        name="playbook",
        description="Owns each tenant's playbook: versioned, machine-checkable service "
        "standards per relationship type and stage.",
        settings=settings,
        lifespan=lifespan,
        routers=[api.router],
    )
    app.add_middleware(BodySizeLimitMiddleware, default=api.MAX_DRAFT_BYTES)
    return app
